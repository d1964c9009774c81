
/*
 * ngx_member: brand totals, day reports and store ledgers: the fold
 * (docs/ledger.md, "Brand totals: the fold").
 *
 * A change of a member is one script on the member's slot; the brand's
 * numbers live in the slot {b} and cannot be changed by the same script.
 * After every script that changes a member's ledger or record, the glue
 * hints the member in its bucket, {b:fold:<id mod 16>}
 * (ngx_http_member_fold_hint.c, with the rescan that makes lost hints
 * again).
 *
 * A timer in every worker folds while the worker holds the expiry sweep's
 * lease: the oldest waiting members of a bucket in slices, the buckets and
 * the key of before ({b}:fold) in turn, each member's entries after its
 * cursor: first one script per store among them on the store's slot
 * (store_copy.lua, the entries' copies in the store's ledger, idempotent
 * by the store's own cursor), when they are all in one brand-slot script
 * (fold.lua) per member that is idempotent by construction, then one on
 * the bucket's slot (fold_done.lua) that lets the member go.  What the
 * admin reads of the fold is ngx_http_member_fold_reports.c, and of the
 * stores' ledgers ngx_http_member_fold_stores.c.
 */


#include "ngx_member_ledger.h"


/* the fold: a job of the runner, working while its worker holds the lease */

#define NGX_HTTP_MEMBER_FOLD_EVERY    250         /* ms */
#define NGX_HTTP_MEMBER_FOLD_BUDGET   200         /* ms of one run */
#define NGX_HTTP_MEMBER_FOLD_STUCK    10000       /* ms */
#define NGX_HTTP_MEMBER_FOLD_SLICE    64          /* members */
#define NGX_HTTP_MEMBER_FOLD_LAST     "63"        /* the same, less 1 */
#define NGX_HTTP_MEMBER_FOLD_ENTRIES  "100"       /* of a member, a slice */


typedef struct {
    uint64_t                      id;
    u_char                        gen[NGX_INT64_LEN];
    size_t                        gen_len;
    u_char                        cursor[48];
    size_t                        cursor_len;
    u_char                        status[16];
    size_t                        status_len;
    u_char                        level[16];
    size_t                        level_len;
    u_char                        day[16];
    size_t                        day_len;
    ngx_str_t                    *keys;       /* fold.lua's, in the pool */
    ngx_str_t                    *args;
    ngx_uint_t                    nkeys;
    ngx_uint_t                    nargs;
    ngx_uint_t                    copies;     /* store copies unanswered */
    unsigned                      bad:1;
    unsigned                      more:1;     /* entries left after these */
    unsigned                      copy_failed:1;
} ngx_http_member_fold_member_t;


struct ngx_http_member_fold_s {
    ngx_http_member_job_t         job;
    ngx_uint_t                    n;
    ngx_uint_t                    more;       /* members with entries left */
    ngx_http_member_fold_member_t m[NGX_HTTP_MEMBER_FOLD_SLICE];

    /* what the slice's members keep until their store copies are in */
    ngx_pool_t                   *pool;

    /* the source of the slice: a bucket or the key of before, in turn */
    ngx_uint_t                    source;
    ngx_uint_t                    empty;      /* sources in a row, idle */
    ngx_str_t                     fold_key;
    ngx_str_t                     gen_key;
    u_char                        fold_buf[NGX_HTTP_MEMBER_BUCKET_KEY_LEN];
    u_char                        gen_buf[NGX_HTTP_MEMBER_BUCKET_KEY_LEN];

    unsigned                      loaded:1;
};


static ngx_str_t  ngx_http_member_cursors_key = ngx_string("{b}:cursors");
ngx_str_t  ngx_http_member_totals_key = ngx_string("{b}:totals");
static ngx_str_t  ngx_http_member_members_key = ngx_string("{b}:members");


static void ngx_http_member_fold_slice(ngx_http_member_job_t *job);


/* unix seconds as the China-time day, YYYY-MM-DD: 10 bytes, no NUL */

size_t
ngx_http_member_fold_day(time_t t, u_char *buf)
{
    char  day[MRL_DAY_LEN + 1];

    /* a time of a damaged entry is held to the calendar's range */
    if (t < 0) {
        t = 0;

    } else if (t > MRL_TIME_MAX) {
        t = MRL_TIME_MAX;
    }

    (void) mrl_china_day(t, day, sizeof(day), NULL);

    ngx_memcpy(buf, day, MRL_DAY_LEN);

    return MRL_DAY_LEN;
}


static void
ngx_http_member_fold_copy(redisReply *v, u_char *to, size_t size,
    size_t *len)
{
    if (v->type == REDIS_REPLY_STRING && v->len <= size) {
        ngx_memcpy(to, v->str, v->len);
        *len = v->len;

    } else {
        *len = 0;
    }
}


/*
 * The next source of the round; a run ends (with a rescan step) after a
 * whole round found nobody waiting, or when its time is spent.
 */

static void
ngx_http_member_fold_next(ngx_http_member_job_t *job)
{
    ngx_http_member_fold_t  *fold = job->data;

    fold->source = (fold->source + 1) % NGX_HTTP_MEMBER_SOURCES;

    if (fold->empty < NGX_HTTP_MEMBER_SOURCES
        && ngx_http_member_job_budget(job))
    {
        ngx_http_member_fold_slice(job);
        return;
    }

    ngx_http_member_fold_rescan(job);
}


/* every member of the slice is done: the next source, or a rescan step */

static void
ngx_http_member_fold_settled(ngx_http_member_job_t *job)
{
    ngx_http_member_fold_t  *fold = job->data;

    fold->empty = 0;

    ngx_http_member_fold_next(job);
}


/*
 * An answer of one member's script (a store copy, fold.lua, fold_done.lua):
 * NGX_OK; NGX_DECLINED, an error answer, logged: the member waits, and
 * every script again does nothing twice; NGX_ABORT, no answer: the run
 * is over.
 */

static ngx_int_t
ngx_http_member_fold_answer(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t ix, const char *what)
{
    ngx_http_member_fold_t  *fold = job->data;

    if (reply == NULL) {
        ngx_http_member_job_done(job);
        return NGX_ABORT;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, job->redis->log, 0,
                   "member: fold of member %uL: %s answered, type %d",
                   fold->m[ix].id, what, reply->type);

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, job->redis->log, 0,
                      "member: fold of member %uL: %s failed: %*s",
                      fold->m[ix].id, what,
                      (size_t) ngx_min(reply->len, 200), reply->str);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* fold_done.lua's answer: the member left its bucket, or waits */

static void
ngx_http_member_fold_done(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t ix)
{
    (void) ngx_http_member_fold_answer(job, reply, ix, "let go");
}


/* fold.lua's answer for one member */

static void
ngx_http_member_fold_folded(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t ix)
{
    u_char                          id[NGX_INT64_LEN];
    ngx_int_t                       rc;
    ngx_str_t                       keys[NGX_HTTP_MEMBER_FOLD_DONE_NKEYS];
    ngx_str_t                       args[NGX_HTTP_MEMBER_FOLD_DONE_NARGV];
    ngx_http_member_fold_t         *fold = job->data;
    ngx_http_member_fold_member_t  *m;

    rc = ngx_http_member_fold_answer(job, reply, ix, "fold");

    if (rc != NGX_OK) {
        if (rc == NGX_DECLINED) {
            /* the member waits on; a NOSCRIPT: the next run loads it */
            fold->loaded = 0;
        }

        return;
    }

    /*
     * folded: now the member may leave its bucket, a script on the
     * bucket's slot that checks the generation read before its entries
     */
    m = &fold->m[ix];

    keys[NGX_HTTP_MEMBER_FOLD_DONE_KEY_FOLD] = fold->fold_key;
    keys[NGX_HTTP_MEMBER_FOLD_DONE_KEY_GEN] = fold->gen_key;
    args[NGX_HTTP_MEMBER_FOLD_DONE_ARGV_MEMBER_ID].data = id;
    args[NGX_HTTP_MEMBER_FOLD_DONE_ARGV_MEMBER_ID].len =
                                             ngx_sprintf(id, "%uL", m->id) - id;
    args[NGX_HTTP_MEMBER_FOLD_DONE_ARGV_GEN].data = m->gen;
    args[NGX_HTTP_MEMBER_FOLD_DONE_ARGV_GEN].len = m->gen_len;
    args[NGX_HTTP_MEMBER_FOLD_DONE_ARGV_MORE].data =
                                            (u_char *) (m->more ? "1" : "0");
    args[NGX_HTTP_MEMBER_FOLD_DONE_ARGV_MORE].len = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, job->redis->log, 0,
                   "member: fold lets member %uL go", m->id);

    (void) ngx_http_member_job_script(job, ngx_http_member_fold_done, ix,
                                      NGX_HTTP_MEMBER_SCRIPT_FOLD_DONE,
                                      NGX_HTTP_MEMBER_BG_SOURCE, keys, 0,
                                      args, 0);
}


/* the member's store copies are all in: fold.lua, from the slice's pool */

static void
ngx_http_member_fold_send(ngx_http_member_job_t *job, ngx_uint_t ix)
{
    ngx_http_member_fold_t         *fold = job->data;
    ngx_http_member_fold_member_t  *m;

    m = &fold->m[ix];

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, job->redis->log, 0,
                   "member: fold of member %uL sent", m->id);

    (void) ngx_http_member_job_script(job, ngx_http_member_fold_folded, ix,
                                      NGX_HTTP_MEMBER_SCRIPT_FOLD,
                                      NGX_HTTP_MEMBER_BG_SHA1, m->keys,
                                      m->nkeys - NGX_HTTP_MEMBER_FOLD_NKEYS,
                                      m->args,
                                      m->nargs - NGX_HTTP_MEMBER_FOLD_NARGV);
}


/*
 * store_copy.lua's answer: when the member's last copy is in and none
 * failed, fold.lua; a failed one leaves the member waiting, and its store
 * cursors let the next run copy only what is missing
 */

static void
ngx_http_member_fold_copied(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t ix)
{
    ngx_int_t                       rc;
    ngx_http_member_fold_t         *fold = job->data;
    ngx_http_member_fold_member_t  *m;

    rc = ngx_http_member_fold_answer(job, reply, ix, "store copy");

    if (rc == NGX_ABORT) {
        return;
    }

    m = &fold->m[ix];

    if (rc != NGX_OK) {
        m->copy_failed = 1;
    }

    if (--m->copies || m->copy_failed) {
        return;
    }

    ngx_http_member_fold_send(job, ix);
}


/*
 * A key of fold.lua past its fixed ones, once: its place in KEYS (from 1,
 * as the script counts) goes in ARGV at *place
 */

static ngx_int_t
ngx_http_member_fold_key_add(ngx_str_t *keys, ngx_uint_t *nkeys,
    ngx_pool_t *pool, const char *prefix, u_char *name, size_t len,
    const char *suffix, ngx_uint_t *place)
{
    u_char      *p;
    size_t       size;
    ngx_uint_t   k;

    size = ngx_strlen(prefix) + len + ngx_strlen(suffix);

    p = ngx_pnalloc(pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(p, "%s%*s%s", prefix, len, name, suffix);

    for (k = NGX_HTTP_MEMBER_FOLD_KEY_DAYS; k < *nkeys; k++) {
        if (keys[k].len == size && ngx_memcmp(keys[k].data, p, size) == 0) {
            *place = k + 1;
            return NGX_OK;
        }
    }

    keys[*nkeys].data = p;
    keys[(*nkeys)++].len = size;
    *place = *nkeys;

    return NGX_OK;
}


/* a string of a reply the fold keeps until the member's copies are in */

static ngx_int_t
ngx_http_member_fold_dup(ngx_pool_t *pool, redisReply *v, ngx_str_t *s)
{
    s->data = ngx_pnalloc(pool, v->len ? v->len : 1);
    if (s->data == NULL) {
        return NGX_ERROR;
    }

    s->len = v->len;
    ngx_memcpy(s->data, v->str, v->len);

    return NGX_OK;
}


/*
 * The member's entries after its cursor: first each store's copies
 * (store_copy.lua, one per store, on the stores' slots), and when they
 * are all in, fold.lua with the day of each entry and every key it names.
 * What fold.lua takes is kept in the slice's pool until then.
 */

static void
ngx_http_member_fold_entries(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t ix)
{
    u_char                          *p, day[16];
    size_t                           i, j, k, len;
    time_t                           ts;
    ngx_str_t                       *keys, *args, *a, *stores;
    ngx_uint_t                       nkeys, nargs, place, *at, pairs;
    redisReply                      *e, *f;
    ngx_pool_t                      *pool;
    ngx_http_member_redis_t         *redis = job->redis;
    ngx_http_member_fold_t          *fold = job->data;
    ngx_http_member_fold_member_t   *m;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        if (reply) {
            ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                          "member: fold cannot read a ledger");
        }

        ngx_http_member_job_done(job);
        return;
    }

    m = &fold->m[ix];

    if (m->bad) {
        /* this member waits; the others of the slice go on */
        return;
    }

    if (fold->pool == NULL) {
        fold->pool = ngx_create_pool(4096, redis->log);
        if (fold->pool == NULL) {
            return;
        }
    }

    pool = fold->pool;

    /* keys: fold.lua's, a day per entry, the first day */
    keys = ngx_palloc(pool, (NGX_HTTP_MEMBER_FOLD_NKEYS + 1 + reply->elements)
                            * sizeof(ngx_str_t));
    nargs = NGX_HTTP_MEMBER_FOLD_NARGV;

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || e->element[0]->type != REDIS_REPLY_STRING
            || e->element[1]->type != REDIS_REPLY_ARRAY)
        {
            ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                          "member: fold: a ledger entry of member %uL "
                          "is not understood", m->id);
            return;
        }

        nargs += 3 + e->element[1]->elements;
    }

    args = ngx_palloc(pool, nargs * sizeof(ngx_str_t));
    stores = ngx_pcalloc(pool, (reply->elements + 1) * sizeof(ngx_str_t));
    at = ngx_palloc(pool, (reply->elements + 1) * sizeof(ngx_uint_t));
    p = ngx_pnalloc(pool, NGX_INT64_LEN
                          + 3 * NGX_INT_T_LEN * (reply->elements + 2));

    if (keys == NULL || args == NULL || stores == NULL || at == NULL
        || p == NULL)
    {
        return;
    }

    keys[NGX_HTTP_MEMBER_FOLD_KEY_CURSORS] = ngx_http_member_cursors_key;
    keys[NGX_HTTP_MEMBER_FOLD_KEY_TOTALS] = ngx_http_member_totals_key;
    keys[NGX_HTTP_MEMBER_FOLD_KEY_MEMBERS] = ngx_http_member_members_key;
    nkeys = NGX_HTTP_MEMBER_FOLD_KEY_DAYS;

    place = 0;

    if (m->day_len
        && ngx_http_member_fold_key_add(keys, &nkeys, pool, "{b}:day:",
                                        m->day, m->day_len, "", &place)
           != NGX_OK)
    {
        return;
    }

    a = &args[NGX_HTTP_MEMBER_FOLD_ARGV_MEMBER_ID];
    a->data = p;
    p = ngx_sprintf(p, "%uL", m->id);
    a->len = p - a->data;
    args[NGX_HTTP_MEMBER_FOLD_ARGV_STATUS].data = m->status;
    args[NGX_HTTP_MEMBER_FOLD_ARGV_STATUS].len = m->status_len;
    args[NGX_HTTP_MEMBER_FOLD_ARGV_LEVEL].data = m->level;
    args[NGX_HTTP_MEMBER_FOLD_ARGV_LEVEL].len = m->level_len;
    a = &args[NGX_HTTP_MEMBER_FOLD_ARGV_SINCE];
    a->data = p;
    p = ngx_sprintf(p, "%ui", place);
    a->len = p - a->data;
    a = &args[NGX_HTTP_MEMBER_FOLD_ARGV_ENTRIES];
    a->data = p;
    p = ngx_sprintf(p, "%uz", reply->elements);
    a->len = p - a->data;

    nargs = NGX_HTTP_MEMBER_FOLD_ARGV_ENTRY;

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];
        f = e->element[1];

        /* id, its day's place (below), n, the pairs: copies of the reply */
        at[i] = nargs;

        if (ngx_http_member_fold_dup(pool, e->element[0], &args[nargs])
            != NGX_OK)
        {
            return;
        }

        nargs += 3;

        /* the entry's day: its ts, else the time in its id */
        ts = (time_t) (strtoll(e->element[0]->str, NULL, 10) / 1000);
        pairs = 0;

        for (j = 0; j + 1 < f->elements; j += 2) {
            if (f->element[j]->type != REDIS_REPLY_STRING
                || f->element[j + 1]->type != REDIS_REPLY_STRING)
            {
                ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                              "member: fold: a ledger entry of member %uL "
                              "is not understood", m->id);
                return;
            }

            if (ngx_http_member_fold_dup(pool, f->element[j], &args[nargs])
                != NGX_OK
                || ngx_http_member_fold_dup(pool, f->element[j + 1],
                                            &args[nargs + 1])
                   != NGX_OK)
            {
                return;
            }

            if (f->element[j]->len == 2
                && ngx_strncmp(f->element[j]->str, "ts", 2) == 0)
            {
                ts = (time_t) strtoll(f->element[j + 1]->str, NULL, 10);

            } else if (f->element[j]->len == 8
                       && ngx_strncmp(f->element[j]->str, "store_id", 8) == 0)
            {
                stores[i] = args[nargs + 1];
            }

            nargs += 2;
            pairs++;
        }

        len = ngx_http_member_fold_day(ts, day);

        if (ngx_http_member_fold_key_add(keys, &nkeys, pool, "{b}:day:",
                                         day, len, "", &place)
            != NGX_OK)
        {
            return;
        }

        a = &args[at[i] + 1];
        a->data = p;
        p = ngx_sprintf(p, "%ui", place);
        a->len = p - a->data;

        a = &args[at[i] + 2];
        a->data = p;
        p = ngx_sprintf(p, "%ui", pairs);
        a->len = p - a->data;
    }

    if (reply->elements
        == (size_t) ngx_atoi((u_char *) NGX_HTTP_MEMBER_FOLD_ENTRIES,
                             sizeof(NGX_HTTP_MEMBER_FOLD_ENTRIES) - 1))
    {
        m->more = 1;
        fold->more++;
    }

    m->keys = keys;
    m->nkeys = nkeys;
    m->args = args;
    m->nargs = nargs;
    m->copies = 0;
    m->copy_failed = 0;

    /* each store once, from its first entry: its copies before fold.lua */
    for (i = 0; i < reply->elements; i++) {
        if (stores[i].len == 0) {
            continue;
        }

        for (k = 0; k < i; k++) {
            if (stores[k].len == stores[i].len
                && ngx_memcmp(stores[k].data, stores[i].data, stores[i].len)
                   == 0)
            {
                break;
            }
        }

        if (k < i) {
            continue;
        }

        if (ngx_http_member_fold_copy_store(job, ngx_http_member_fold_copied,
                                            ix, pool, args, at, stores, i,
                                            reply->elements)
            != NGX_OK)
        {
            /* no fold.lua: the member waits for the next run */
            m->copy_failed = 1;
            break;
        }

        m->copies++;
    }

    if (m->copies == 0 && !m->copy_failed) {
        ngx_http_member_fold_send(job, ix);
    }
}


/* the member's status, level and first day, read before its entries */

static void
ngx_http_member_fold_member(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t ix)
{
    time_t                          at;
    redisReply                     *v;
    ngx_http_member_fold_t         *fold = job->data;
    ngx_http_member_fold_member_t  *m;

    m = &fold->m[ix];

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 4)
    {
        /* no guess at the status: the member waits for the next run */
        m->bad = 1;
        return;
    }

    ngx_http_member_fold_copy(reply->element[0], m->status,
                              sizeof(m->status), &m->status_len);
    ngx_http_member_fold_copy(reply->element[1], m->level, sizeof(m->level),
                              &m->level_len);

    m->day_len = 0;
    v = reply->element[2]->type == REDIS_REPLY_STRING ? reply->element[2]
                                                       : reply->element[3];

    if (m->status_len && v->type == REDIS_REPLY_STRING) {
        at = (time_t) strtoll(v->str, NULL, 10);
        m->day_len = ngx_http_member_fold_day(at, m->day);
    }
}


/* the generations and cursors of the slice are in: read each member */

static void
ngx_http_member_fold_cursors(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t unused)
{
    u_char                          kb[NGX_INT64_LEN + 16], sb[64];
    ngx_str_t                       key, start;
    ngx_uint_t                      i;
    ngx_http_member_fold_t         *fold = job->data;
    ngx_http_member_fold_member_t  *m;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != fold->n)
    {
        ngx_http_member_job_done(job);
        return;
    }

    fold->more = 0;

    for (i = 0; i < fold->n; i++) {
        m = &fold->m[i];

        ngx_http_member_fold_copy(reply->element[i], m->cursor,
                                  sizeof(m->cursor), &m->cursor_len);

        key.data = kb;
        key.len = ngx_sprintf(kb, "{m:%uL}", m->id) - kb;

        if (ngx_http_member_job_command(job, ngx_http_member_fold_member, i,
                             ngx_http_member_args(ngx_string("HMGET"), key,
                                                  ngx_string("status"),
                                                  ngx_string("level"),
                                                  ngx_string("activated_at"),
                                                  ngx_string("created_at")))
            != NGX_OK)
        {
            return;
        }

        key.len = ngx_sprintf(kb, "{m:%uL}:ledger", m->id) - kb;
        start.data = sb;

        if (m->cursor_len) {
            start.len = ngx_sprintf(sb, "(%*s", m->cursor_len, m->cursor) - sb;

        } else {
            start.len = ngx_sprintf(sb, "-") - sb;
        }

        if (ngx_http_member_job_command(job, ngx_http_member_fold_entries, i,
                    ngx_http_member_args(ngx_string("XRANGE"), key, start,
                                     ngx_string("+"), ngx_string("COUNT"),
                                     ngx_string(NGX_HTTP_MEMBER_FOLD_ENTRIES)))
            != NGX_OK)
        {
            return;
        }
    }
}


/*
 * The generations are in: then the cursors.  The generations are read
 * before any member's entries (their answer comes first), so a hint that
 * lands after the entries were read moves the generation the fold checks.
 */

static void
ngx_http_member_fold_gens(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t unused)
{
    u_char                  *p, ids[NGX_HTTP_MEMBER_FOLD_SLICE]
                                   [NGX_INT64_LEN];
    ngx_str_t                argv[2 + NGX_HTTP_MEMBER_FOLD_SLICE];
    ngx_uint_t               i;
    ngx_http_member_fold_t  *fold = job->data;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != fold->n)
    {
        ngx_http_member_job_done(job);
        return;
    }

    for (i = 0; i < fold->n; i++) {
        ngx_http_member_fold_copy(reply->element[i], fold->m[i].gen,
                                  sizeof(fold->m[i].gen),
                                  &fold->m[i].gen_len);

        if (fold->m[i].gen_len == 0) {
            fold->m[i].gen[0] = '0';
            fold->m[i].gen_len = 1;
        }

        p = ids[i];
        argv[2 + i].data = p;
        argv[2 + i].len = ngx_sprintf(p, "%uL", fold->m[i].id) - p;
    }

    /* HMGET {b}:cursors <id>... */
    ngx_str_set(&argv[0], "HMGET");
    argv[1] = ngx_http_member_cursors_key;

    (void) ngx_http_member_job_command(job, ngx_http_member_fold_cursors, 0,
                                       2 + fold->n, argv);
}


/* the oldest waiting members: their generations first, then the rest */

static void
ngx_http_member_fold_waiting(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t unused)
{
    u_char                  *p, ids[NGX_HTTP_MEMBER_FOLD_SLICE]
                                   [NGX_INT64_LEN];
    size_t                   i;
    uint64_t                 id;
    ngx_str_t                argv[2 + NGX_HTTP_MEMBER_FOLD_SLICE];
    ngx_http_member_fold_t  *fold = job->data;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        ngx_http_member_job_done(job);
        return;
    }

    fold->n = 0;

    for (i = 0; i < reply->elements && i < NGX_HTTP_MEMBER_FOLD_SLICE; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING
            || ngx_http_member_parse_id((u_char *) reply->element[i]->str,
                                        reply->element[i]->len, &id)
               != NGX_OK)
        {
            continue;
        }

        ngx_memzero(&fold->m[fold->n], sizeof(ngx_http_member_fold_member_t));
        fold->m[fold->n].id = id;

        p = ids[fold->n];
        argv[2 + fold->n].data = p;
        argv[2 + fold->n].len = ngx_sprintf(p, "%uL", id) - p;
        fold->n++;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, job->redis->log, 0,
                   "member: fold: %ui members waiting in source %ui",
                   fold->n, fold->source);

    if (fold->n == 0) {
        if (reply->elements) {
            /* only ids that are not members': a rescan's stray */
            ngx_log_error(NGX_LOG_WARN, job->redis->log, 0,
                          "member: \"%V\" holds a stray member",
                          &fold->fold_key);
        }

        fold->empty++;
        ngx_http_member_fold_next(job);
        return;
    }

    /* HMGET <generations> <id>..., then the cursors */
    ngx_str_set(&argv[0], "HMGET");
    argv[1] = fold->gen_key;

    (void) ngx_http_member_job_command(job, ngx_http_member_fold_gens, 0,
                                       2 + fold->n, argv);
}


/* a slice: the oldest waiting members of the source's turn */

static void
ngx_http_member_fold_slice(ngx_http_member_job_t *job)
{
    ngx_http_member_fold_t  *fold = job->data;

    /* nothing of the last slice waits: its answers are in or dropped */
    if (fold->pool) {
        ngx_destroy_pool(fold->pool);
        fold->pool = NULL;
    }

    fold->fold_key = ngx_http_member_bucket_key(fold->fold_buf,
                                                NGX_HTTP_MEMBER_BUCKET_FOLD,
                                                fold->source);
    fold->gen_key = ngx_http_member_bucket_key(fold->gen_buf,
                                               NGX_HTTP_MEMBER_BUCKET_FOLD_GEN,
                                               fold->source);

    (void) ngx_http_member_job_command(job, ngx_http_member_fold_waiting, 0,
                  ngx_http_member_args(ngx_string("ZRANGE"), fold->fold_key,
                                       ngx_string("0"),
                                       ngx_string(NGX_HTTP_MEMBER_FOLD_LAST)));
}


static void
ngx_http_member_fold_loaded(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t unused)
{
    ngx_http_member_fold_t  *fold = job->data;

    if (reply == NULL || reply->type != REDIS_REPLY_STRING
        || reply->len != 40)
    {
        ngx_http_member_job_done(job);
        return;
    }

    fold->loaded = 1;

    ngx_http_member_fold_slice(job);
}


/* a run: the oldest waiting members, slice after slice within its budget */

static void
ngx_http_member_fold_run(ngx_http_member_job_t *job)
{
    ngx_str_t                source;
    ngx_http_member_fold_t  *fold = job->data;

    /* a run goes round the sources at most once, from where the last left */
    fold->empty = 0;

    if (fold->loaded) {
        ngx_http_member_fold_slice(job);
        return;
    }

    /* the script once per worker, again after a NOSCRIPT */
    source.data = (u_char *)
                  ngx_http_member_script_srcs[NGX_HTTP_MEMBER_SCRIPT_FOLD].text;
    source.len = ngx_http_member_script_srcs[NGX_HTTP_MEMBER_SCRIPT_FOLD].len;

    (void) ngx_http_member_job_command(job, ngx_http_member_fold_loaded, 0,
                        ngx_http_member_args(ngx_string("SCRIPT"),
                                             ngx_string("LOAD"), source));
}


/* the ledger's lease: one worker of one node folds */

static const ngx_http_member_job_kind_t  ngx_http_member_fold_job = {
    "fold",
    NGX_HTTP_MEMBER_FOLD_EVERY,
    NGX_HTTP_MEMBER_FOLD_STUCK,
    NGX_HTTP_MEMBER_FOLD_BUDGET,
    1,
    ngx_http_member_fold_run,
    ngx_http_member_fold_settled
};


static void
ngx_http_member_fold_cleanup(void *data)
{
    ngx_http_member_fold_t  *fold = data;

    if (fold->pool) {
        ngx_destroy_pool(fold->pool);
        fold->pool = NULL;
    }
}


ngx_int_t
ngx_http_member_fold_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                 i;
    ngx_pool_cleanup_t        *cln;
    ngx_http_member_redis_t  **redis;
    ngx_http_member_fold_t    *fold;

    /* after every script that changes a member: the fold and the outbox */
    ngx_http_member_redis_on_change(ngx_http_member_ledger_changed);

    redis = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        fold = ngx_pcalloc(cycle->pool, sizeof(ngx_http_member_fold_t));
        if (fold == NULL) {
            return NGX_ERROR;
        }

        cln = ngx_pool_cleanup_add(cycle->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_member_fold_cleanup;
        cln->data = fold;

        if (ngx_http_member_job_add(cycle, &fold->job,
                                    &ngx_http_member_fold_job, redis[i], fold)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
