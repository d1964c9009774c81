
/*
 * ngx_member: RFM segments, tags and churn warnings (docs/analytics.md):
 * the pass.
 *
 *   admin:  GET analytics                  the pass's state
 *           POST campaigns/run             asks for a pass now
 *
 * The pass runs on a timer in the worker that holds the ledger's lease
 * (ledger:lease), in slices of a few hundred members; its state and cursor
 * live in Redis ({b}:rfm:state), so a restart or another node carries on.
 * First half: each member's values into the brand's sorted sets and the
 * quintile cut points; second half: each member scored by one script on its
 * slot, then the brand's sets by one script on the brand's slot per slice.
 * What the admin reads of it is ngx_http_member_analytics_read.c, the
 * manual tags ngx_http_member_analytics_tags.c.
 */


#include "ngx_member_ledger.h"


#define NGX_HTTP_MEMBER_ANALYTICS_EVERY   1000        /* ms, between passes */
#define NGX_HTTP_MEMBER_ANALYTICS_SLICE   10          /* ms, between slices */
#define NGX_HTTP_MEMBER_ANALYTICS_STUCK   10000       /* ms */
#define NGX_HTTP_MEMBER_ANALYTICS_BATCH   200
#define NGX_HTTP_MEMBER_ANALYTICS_HOUR    4           /* the daily pass */
#define NGX_HTTP_MEMBER_ANALYTICS_ROOM    1024        /* bytes a member */
#define NGX_HTTP_MEMBER_ANALYTICS_ARGS    (3 + 5 * NGX_HTTP_MEMBER_ANALYTICS_BATCH)

#define NGX_HTTP_MEMBER_PASS_IDLE         0
#define NGX_HTTP_MEMBER_PASS_COLLECT      1
#define NGX_HTTP_MEMBER_PASS_SCORE        2


struct ngx_http_member_analytics_s {
    ngx_http_member_job_t         job;
    ngx_http_member_main_conf_t  *mmcf;
    ngx_flag_t                    test_clock;
    time_t                        clock;

    /* the pass, as {b}:rfm:state says */
    ngx_uint_t                    phase;
    uint64_t                      cursor;
    uint64_t                      seq;
    uint64_t                      end;
    uint64_t                      id;
    time_t                        now;
    int64_t                       requests;
    int64_t                       served;
    time_t                        day;        /* of the last pass */
    u_char                        cuts[12][NGX_INT64_LEN];
    size_t                        cut_len[12];

    /* the script of one member */
    u_char                        mnow[NGX_TIME_T_LEN];
    u_char                        mmonth[2];  /* the pass's, "MM" */

    /* the slice's brand script: its ARGV, what the members gave behind */
    ngx_str_t                     args[NGX_HTTP_MEMBER_ANALYTICS_ARGS];
    ngx_uint_t                    nargs;
    u_char                       *buf;
    u_char                       *last;
    unsigned                      source:1;   /* sent as EVAL */
};


static void ngx_http_member_analytics_slice(ngx_http_member_analytics_t *a);
static void ngx_http_member_analytics_members(ngx_http_member_analytics_t *a);
static void ngx_http_member_analytics_flush(ngx_http_member_analytics_t *a);
static void ngx_http_member_analytics_flushed(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t tag);


static ngx_str_t  ngx_http_member_rfm_state = ngx_string("{b}:rfm:state");
ngx_str_t  ngx_http_member_churn_key = ngx_string("{b}:churn");
ngx_str_t  ngx_http_member_tags_key = ngx_string("{b}:tags");


/* the job: state, slices */

/* each member's reply in turn (one connection keeps the order) */

static void
ngx_http_member_analytics_replied(ngx_http_member_analytics_t *a)
{
    a->id++;

    if (a->id >= a->end) {
        ngx_http_member_analytics_flush(a);
    }
}


/* a slice is over: the next one soon, a finished pass waits for the next */

static void
ngx_http_member_analytics_again(ngx_http_member_analytics_t *a,
    redisReply *reply)
{
    if (reply && reply->type == REDIS_REPLY_STRING
        && !(reply->len == 4 && ngx_strncmp(reply->str, "idle", 4) == 0))
    {
        ngx_http_member_job_again(&a->job, NGX_HTTP_MEMBER_ANALYTICS_SLICE);
        return;
    }

    ngx_http_member_job_done(&a->job);
}


/*
 * The slice's brand script by its binding, EVALSHA or, after a NOSCRIPT,
 * EVAL: its keys, the next cursor, "1" after the last slice, (the pass's
 * now,) then what the members gave.  rfm_collect.lua has the more keys.
 */

static ngx_int_t
ngx_http_member_analytics_set(ngx_pool_t *pool, ngx_str_t *key,
    const char *kind, ngx_str_t *name)
{
    key->len = sizeof("{b}:tag:") - 1 + ngx_strlen(kind) + name->len;
    key->data = ngx_pnalloc(pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(key->data, "{b}:tag:%s%V", kind, name);

    return NGX_OK;
}


/*
 * The names of a comma separated list as rfm_apply.lua reads them (empty
 * ones skipped): how many, and with a pool their sets into keys.
 */

static ngx_uint_t
ngx_http_member_analytics_names(ngx_str_t *list, ngx_pool_t *pool,
    ngx_str_t *keys)
{
    u_char      *p, *last, *comma;
    ngx_str_t    name;
    ngx_uint_t   n;

    n = 0;
    p = list->data;
    last = p + list->len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        if (comma > p) {
            if (pool) {
                name.data = p;
                name.len = comma - p;

                if (ngx_http_member_analytics_set(pool, &keys[n], "", &name)
                    != NGX_OK)
                {
                    return (ngx_uint_t) NGX_ERROR;
                }
            }

            n++;
        }

        p = comma + 1;
    }

    return n;
}


static void
ngx_http_member_analytics_send(ngx_http_member_analytics_t *a)
{
    ngx_str_t    keys[NGX_HTTP_MEMBER_RFM_COLLECT_NKEYS], now, name, *set;
    ngx_uint_t   flags, nkeys, n, i;
    ngx_pool_t  *pool;

    flags = a->source ? NGX_HTTP_MEMBER_BG_SOURCE : NGX_HTTP_MEMBER_BG_SHA1;

    if (a->phase == NGX_HTTP_MEMBER_PASS_COLLECT) {
        keys[NGX_HTTP_MEMBER_RFM_COLLECT_KEY_STATE] =
                                                    ngx_http_member_rfm_state;
        ngx_str_set(&keys[NGX_HTTP_MEMBER_RFM_COLLECT_KEY_R], "{b}:rfm:r");
        ngx_str_set(&keys[NGX_HTTP_MEMBER_RFM_COLLECT_KEY_F], "{b}:rfm:f");
        ngx_str_set(&keys[NGX_HTTP_MEMBER_RFM_COLLECT_KEY_M], "{b}:rfm:m");

        (void) ngx_http_member_job_script(&a->job,
                          ngx_http_member_analytics_flushed, 0,
                          NGX_HTTP_MEMBER_SCRIPT_RFM_COLLECT, flags, keys, 0,
                          a->args,
                          a->nargs - NGX_HTTP_MEMBER_RFM_COLLECT_NARGV);
        return;
    }

    now.data = a->mnow;
    now.len = ngx_strlen(a->mnow);
    a->args[NGX_HTTP_MEMBER_RFM_APPLY_ARGV_NOW] = now;

    /* every set the slice touches, in rfm_apply.lua's order */
    pool = ngx_create_pool(4096, a->job.redis->log);
    if (pool == NULL) {
        ngx_http_member_job_done(&a->job);
        return;
    }

    nkeys = NGX_HTTP_MEMBER_RFM_APPLY_NKEYS;

    for (i = NGX_HTTP_MEMBER_RFM_APPLY_ARGV_MEMBERS + 4; i < a->nargs; i += 5) {
        nkeys += ngx_http_member_analytics_names(&a->args[i], NULL, NULL);
    }

    set = ngx_palloc(pool, nkeys * sizeof(ngx_str_t));
    if (set == NULL) {
        goto failed;
    }

    set[NGX_HTTP_MEMBER_RFM_APPLY_KEY_STATE] = ngx_http_member_rfm_state;
    set[NGX_HTTP_MEMBER_RFM_APPLY_KEY_CHURN] = ngx_http_member_churn_key;
    set[NGX_HTTP_MEMBER_RFM_APPLY_KEY_TAGS] = ngx_http_member_tags_key;
    n = NGX_HTTP_MEMBER_RFM_APPLY_KEY_SEGMENT1;

    for (i = 0; ngx_http_member_segments[i]; i++) {
        name.data = (u_char *) ngx_http_member_segments[i];
        name.len = ngx_strlen(ngx_http_member_segments[i]);

        if (ngx_http_member_analytics_set(pool, &set[n++], "segment:", &name)
            != NGX_OK)
        {
            goto failed;
        }
    }

    for (i = 0; ngx_http_member_auto_tags[i]; i++) {
        name.data = (u_char *) ngx_http_member_auto_tags[i];
        name.len = ngx_strlen(ngx_http_member_auto_tags[i]);

        if (ngx_http_member_analytics_set(pool, &set[n++], "", &name)
            != NGX_OK)
        {
            goto failed;
        }
    }

    if (n != NGX_HTTP_MEMBER_RFM_APPLY_KEY_MANUAL) {
        ngx_log_error(NGX_LOG_ALERT, a->job.redis->log, 0,
                      "member: rfm_apply.lua's sets are not the module's");
        goto failed;
    }

    for (i = NGX_HTTP_MEMBER_RFM_APPLY_ARGV_MEMBERS + 4; i < a->nargs; i += 5) {
        if (ngx_http_member_analytics_names(&a->args[i], pool, &set[n])
            == (ngx_uint_t) NGX_ERROR)
        {
            goto failed;
        }

        n += ngx_http_member_analytics_names(&a->args[i], NULL, NULL);
    }

    /* hiredis formats the command at once: the pool may go */
    (void) ngx_http_member_job_script(&a->job,
                          ngx_http_member_analytics_flushed, 0,
                          NGX_HTTP_MEMBER_SCRIPT_RFM_APPLY, flags, set,
                          nkeys - NGX_HTTP_MEMBER_RFM_APPLY_NKEYS,
                          a->args, a->nargs - NGX_HTTP_MEMBER_RFM_APPLY_NARGV);
    ngx_destroy_pool(pool);
    return;

failed:

    ngx_destroy_pool(pool);
    ngx_http_member_job_done(&a->job);
}


static void
ngx_http_member_analytics_flushed(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t tag)
{
    ngx_http_member_analytics_t  *a = job->data;

    /* EVALSHA first; Redis without the script (restarted) gets it once */
    if (reply && !a->source
        && ngx_http_member_redis_is_error(reply, "NOSCRIPT"))
    {
        a->source = 1;
        ngx_http_member_analytics_send(a);
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
        if (reply) {
            ngx_log_error(NGX_LOG_ERR, job->redis->log, 0,
                          "member: analytics slice failed: %*s",
                          (size_t) (reply->type == REDIS_REPLY_ERROR
                                    ? ngx_min(reply->len, 200) : 0),
                          reply->str);
        }

        ngx_http_member_job_done(job);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, job->redis->log, 0,
                   "member: analytics slice of phase %ui answered", a->phase);

    ngx_http_member_analytics_again(a, reply);
}


static u_char *
ngx_http_member_analytics_arg(ngx_http_member_analytics_t *a, u_char *p,
    size_t len)
{
    a->args[a->nargs].data = a->last;
    a->args[a->nargs].len = len;
    a->nargs++;

    a->last = ngx_cpymem(a->last, p, len);

    return a->last;
}


static void
ngx_http_member_analytics_flush(ngx_http_member_analytics_t *a)
{
    /* rfm_collect.lua and rfm_apply.lua begin their ARGV alike */
    a->args[NGX_HTTP_MEMBER_RFM_COLLECT_ARGV_NEXT].data = a->buf;
    a->args[NGX_HTTP_MEMBER_RFM_COLLECT_ARGV_NEXT].len =
                                 ngx_sprintf(a->buf, "%uL", a->end) - a->buf;

    if (a->end > a->seq) {
        ngx_str_set(&a->args[NGX_HTTP_MEMBER_RFM_COLLECT_ARGV_LAST], "1");

    } else {
        ngx_str_set(&a->args[NGX_HTTP_MEMBER_RFM_COLLECT_ARGV_LAST], "0");
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, a->job.redis->log, 0,
                   "member: analytics brand script of phase %ui sent, "
                   "%ui arguments", a->phase, a->nargs);

    a->source = 0;
    ngx_http_member_analytics_send(a);
}


static void
ngx_http_member_analytics_collected(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t tag)
{
    u_char                        n[NGX_INT64_LEN];
    redisReply                   *e;
    ngx_uint_t                    i;
    ngx_http_member_analytics_t  *a = job->data;

    static ngx_uint_t             order[] = { 3, 1, 2 };

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 4)
    {
        ngx_http_member_job_done(job);
        return;
    }

    (void) ngx_http_member_analytics_arg(a, n,
                                         ngx_sprintf(n, "%uL", a->id) - n);

    e = reply->element[0];

    /* visitors and deleted members count as members without purchases */
    if (e->type != REDIS_REPLY_STRING
        || (e->len == 7 && ngx_strncmp(e->str, "visitor", 7) == 0)
        || (e->len == 7 && ngx_strncmp(e->str, "deleted", 7) == 0))
    {
        (void) ngx_http_member_analytics_arg(a, (u_char *) "0", 1);
        (void) ngx_http_member_analytics_arg(a, (u_char *) "0", 1);
        (void) ngx_http_member_analytics_arg(a, (u_char *) "0", 1);

    } else {
        /* last_purchase_ts, orders, spend_fen: the script's order */
        for (i = 0; i < 3; i++) {
            e = reply->element[order[i]];

            if (e->type == REDIS_REPLY_STRING && e->len > 0
                && e->len < NGX_INT64_LEN)
            {
                (void) ngx_http_member_analytics_arg(a, (u_char *) e->str,
                                                     e->len);
            } else {
                (void) ngx_http_member_analytics_arg(a, (u_char *) "0", 1);
            }
        }
    }

    ngx_http_member_analytics_replied(a);
}


static void
ngx_http_member_analytics_scored(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t tag)
{
    u_char                        n[NGX_INT64_LEN];
    size_t                        len;
    redisReply                   *e;
    ngx_uint_t                    i;
    ngx_http_member_analytics_t  *a = job->data;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || (reply->elements != 0 && reply->elements != 4))
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, job->redis->log, 0,
                          "member: analytics of member %uL failed: %*s",
                          a->id, (size_t) ngx_min(reply->len, 200),
                          reply->str);
        }

        ngx_http_member_job_done(job);
        return;
    }

    (void) ngx_http_member_analytics_arg(a, n,
                                         ngx_sprintf(n, "%uL", a->id) - n);

    if (reply->elements == 0) {
        /* no member: in no set */
        (void) ngx_http_member_analytics_arg(a, (u_char *) "", 0);
        (void) ngx_http_member_analytics_arg(a, (u_char *) "-1", 2);
        (void) ngx_http_member_analytics_arg(a, (u_char *) "", 0);
        (void) ngx_http_member_analytics_arg(a, (u_char *) "", 0);

    } else {
        for (i = 0; i < 4; i++) {
            e = reply->element[i];

            if (e->type == REDIS_REPLY_INTEGER) {
                len = ngx_sprintf(n, "%L", (int64_t) e->integer) - n;
                (void) ngx_http_member_analytics_arg(a, n, len);
                continue;
            }

            /* tags past the room of a member are left to the next pass */
            len = (e->type == REDIS_REPLY_STRING) ? e->len : 0;
            if (len > NGX_HTTP_MEMBER_ANALYTICS_ROOM / 2 - 64) {
                len = 0;
            }

            (void) ngx_http_member_analytics_arg(a, (u_char *) e->str, len);
        }
    }

    ngx_http_member_analytics_replied(a);
}


/*
 * The slice's members all at once on the pipelined connection: a few
 * round trips a slice, not one a member.  The first script of a slice goes
 * as EVAL, which loads it for the EVALSHAs behind it.
 */

static void
ngx_http_member_analytics_members(ngx_http_member_analytics_t *a)
{
    u_char                        kb[NGX_INT64_LEN + 8];
    uint64_t                      id;
    ngx_str_t                     keys[NGX_HTTP_MEMBER_RFM_NKEYS], key, now;
    ngx_str_t                     args[NGX_HTTP_MEMBER_RFM_NARGV];
    ngx_int_t                     rc;
    ngx_uint_t                    i;

    if (a->id >= a->end) {
        ngx_http_member_analytics_flush(a);
        return;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, a->job.redis->log, 0,
                   "member: analytics slice of phase %ui: members %uL to %uL",
                   a->phase, a->id, a->end);

    now.data = a->mnow;
    now.len = ngx_strlen(a->mnow);

    for (id = a->id; id < a->end; id++) {
        key = ngx_http_member_key_in(kb, id, "");

        if (a->phase == NGX_HTTP_MEMBER_PASS_COLLECT) {
            rc = ngx_http_member_job_command(&a->job,
                                    ngx_http_member_analytics_collected, 0,
                                    ngx_http_member_args(ngx_string("HMGET"),
                                            key, ngx_string("status"),
                                            ngx_string("orders"),
                                            ngx_string("spend_fen"),
                                            ngx_string("last_purchase_ts")));

        } else {
            keys[NGX_HTTP_MEMBER_RFM_KEY_MEMBER] = key;
            args[NGX_HTTP_MEMBER_RFM_ARGV_NOW] = now;

            /* recency, orders and spend cuts, in the order of a->cuts */
            for (i = 0; i < 12; i++) {
                args[NGX_HTTP_MEMBER_RFM_ARGV_RECENCY1 + i].data = a->cuts[i];
                args[NGX_HTTP_MEMBER_RFM_ARGV_RECENCY1 + i].len = a->cut_len[i];
            }

            args[NGX_HTTP_MEMBER_RFM_ARGV_MONTH].data = a->mmonth;
            args[NGX_HTTP_MEMBER_RFM_ARGV_MONTH].len = 2;

            rc = ngx_http_member_job_script(&a->job,
                                    ngx_http_member_analytics_scored, 0,
                                    NGX_HTTP_MEMBER_SCRIPT_RFM,
                                    (id == a->id) ? NGX_HTTP_MEMBER_BG_SOURCE
                                                  : NGX_HTTP_MEMBER_BG_SHA1,
                                    keys, 0, args, 0);
        }

        if (rc != NGX_OK) {
            /* not sent: the replies of those before are forgotten */
            return;
        }
    }
}


static void
ngx_http_member_analytics_slice(ngx_http_member_analytics_t *a)
{
    a->end = a->cursor + NGX_HTTP_MEMBER_ANALYTICS_BATCH;
    if (a->end > a->seq + 1) {
        a->end = a->seq + 1;
    }

    if (a->end < a->cursor) {
        a->end = a->cursor;
    }

    a->id = a->cursor;
    a->nargs = (a->phase == NGX_HTTP_MEMBER_PASS_COLLECT)
               ? NGX_HTTP_MEMBER_RFM_COLLECT_ARGV_MEMBERS
               : NGX_HTTP_MEMBER_RFM_APPLY_ARGV_MEMBERS;
    a->last = a->buf + NGX_INT64_LEN;

    ngx_sprintf(a->mnow, "%T%Z", a->now);
    ngx_sprintf(a->mmonth, "%02d",
                mrl_day_month(mrl_china_day_number(a->now)));

    ngx_http_member_analytics_members(a);
}


static void
ngx_http_member_analytics_begun(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t tag)
{
    ngx_http_member_analytics_t  *a = job->data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_member_job_done(job);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, job->redis->log, 0,
                  "member: analytics pass over %uL members", a->seq);

    ngx_http_member_analytics_slice(a);
}


static void
ngx_http_member_analytics_counted(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t tag)
{
    u_char                         nums[4][NGX_INT64_LEN];
    ngx_http_member_analytics_t   *a = job->data;

    if (reply == NULL || (reply->type != REDIS_REPLY_NIL
                          && reply->type != REDIS_REPLY_STRING))
    {
        ngx_http_member_job_done(job);
        return;
    }

    a->seq = 0;

    if (reply->type == REDIS_REPLY_STRING
        && ngx_http_member_parse_id((u_char *) reply->str, reply->len,
                                    &a->seq)
           != NGX_OK)
    {
        a->seq = 0;
    }

    a->phase = NGX_HTTP_MEMBER_PASS_COLLECT;
    a->cursor = 1;

    (void) ngx_http_member_job_command(job, ngx_http_member_analytics_begun, 0,
                        ngx_http_member_args(ngx_string("HSET"),
                            ngx_http_member_rfm_state,
                            ngx_string("phase"), ngx_string("collect"),
                            ngx_string("cursor"), ngx_string("1"),
                            ngx_string("seq"),
                            ngx_http_member_num_in(nums[0], (int64_t) a->seq),
                            ngx_string("now"),
                            ngx_http_member_num_in(nums[1], a->now),
                            ngx_string("served"),
                            ngx_http_member_num_in(nums[2], a->requests),
                            ngx_string("day"),
                            ngx_http_member_num_in(nums[3],
                                mrl_china_day_number(a->now))));
}


static int64_t
ngx_http_member_analytics_int(redisReply *v)
{
    int64_t  n;
    size_t   i;

    if (v->type != REDIS_REPLY_STRING) {
        return 0;
    }

    n = 0;

    for (i = 0; i < v->len && v->str[i] >= '0' && v->str[i] <= '9'; i++) {
        n = n * 10 + (v->str[i] - '0');
    }

    return n;
}


static void
ngx_http_member_analytics_state(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t tag)
{
    size_t                        i, len;
    time_t                        today, hour;
    redisReply                   *k, *v;
    ngx_uint_t                    c;
    ngx_http_member_analytics_t  *a = job->data;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        ngx_http_member_job_done(job);
        return;
    }

    a->phase = NGX_HTTP_MEMBER_PASS_IDLE;
    a->cursor = 1;
    a->seq = 0;
    a->requests = 0;
    a->served = 0;
    a->day = 0;

    for (c = 0; c < 12; c++) {
        a->cuts[c][0] = '0';
        a->cut_len[c] = 1;
    }

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        if (k->len == 5 && ngx_strncmp(k->str, "phase", 5) == 0) {
            if (v->len == 7 && ngx_strncmp(v->str, "collect", 7) == 0) {
                a->phase = NGX_HTTP_MEMBER_PASS_COLLECT;

            } else if (v->len == 5 && ngx_strncmp(v->str, "score", 5) == 0) {
                a->phase = NGX_HTTP_MEMBER_PASS_SCORE;
            }

        } else if (k->len == 6 && ngx_strncmp(k->str, "cursor", 6) == 0) {
            a->cursor = ngx_http_member_analytics_int(v);

        } else if (k->len == 3 && ngx_strncmp(k->str, "seq", 3) == 0) {
            a->seq = ngx_http_member_analytics_int(v);

        } else if (k->len == 3 && ngx_strncmp(k->str, "now", 3) == 0) {
            a->now = ngx_http_member_analytics_int(v);

        } else if (k->len == 8 && ngx_strncmp(k->str, "requests", 8) == 0) {
            a->requests = ngx_http_member_analytics_int(v);

        } else if (k->len == 6 && ngx_strncmp(k->str, "served", 6) == 0) {
            a->served = ngx_http_member_analytics_int(v);

        } else if (k->len == 3 && ngx_strncmp(k->str, "day", 3) == 0) {
            a->day = ngx_http_member_analytics_int(v);

        } else if (k->len == 2 && (k->str[0] == 'r' || k->str[0] == 'f'
                                   || k->str[0] == 'm')
                   && k->str[1] >= '1' && k->str[1] <= '4')
        {
            c = (k->str[0] == 'r' ? 0 : k->str[0] == 'f' ? 4 : 8)
                + (k->str[1] - '1');
            len = ngx_min(v->len, NGX_INT64_LEN - 1);
            ngx_memcpy(a->cuts[c], v->str, len);
            a->cut_len[c] = len;
        }
    }

    if (a->cursor == 0) {
        a->cursor = 1;
    }

    if (a->phase != NGX_HTTP_MEMBER_PASS_IDLE) {
        ngx_http_member_analytics_slice(a);
        return;
    }

    /*
     * idle: a pass when asked for, else once a day in the 4 o'clock hour
     * (China time), at once when a whole day was missed, and at once when
     * a month begins (birthday_month changes at midnight); a fresh store
     * waits for 4 o'clock: an idle system writes nothing
     */
    a->now = ngx_time() + (a->test_clock ? a->clock : 0);
    today = mrl_china_day_number(a->now);
    hour = mrl_china_hour(a->now);

    if (a->requests <= a->served
        && !(today > a->day && hour == NGX_HTTP_MEMBER_ANALYTICS_HOUR)
        && !(a->day != 0 && today > a->day + 1)
        && !(a->day != 0 && today > a->day
             && mrl_day_month(today) != mrl_day_month(a->day)))
    {
        ngx_http_member_job_done(job);
        return;
    }

    (void) ngx_http_member_job_command(job, ngx_http_member_analytics_counted,
                        0,
                        ngx_http_member_args(ngx_string("GET"),
                                             ngx_http_member_seq_key));
}


static void
ngx_http_member_analytics_clock(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t tag)
{
    ngx_int_t                     n;
    ngx_http_member_analytics_t  *a = job->data;

    a->clock = 0;

    if (reply && reply->type == REDIS_REPLY_STRING && reply->len > 0) {
        n = ngx_atoi((u_char *) reply->str + (reply->str[0] == '-'),
                     reply->len - (reply->str[0] == '-'));
        if (n != NGX_ERROR) {
            a->clock = reply->str[0] == '-' ? -n : n;
        }
    }
}


/* the test clock, then the state: one connection keeps their order */

static void
ngx_http_member_analytics_tick(ngx_http_member_job_t *job)
{
    if (ngx_http_member_job_command(job, ngx_http_member_analytics_clock, 0,
                        ngx_http_member_args(ngx_string("HGET"),
                                             ngx_string("{rules}"),
                                             ngx_string("clock")))
        != NGX_OK)
    {
        return;
    }

    (void) ngx_http_member_job_command(job, ngx_http_member_analytics_state, 0,
                        ngx_http_member_args(ngx_string("HGETALL"),
                                             ngx_http_member_rfm_state));
}


/* the pass runs in the worker that holds the ledger's lease */

static const ngx_http_member_job_kind_t  ngx_http_member_analytics_job = {
    "analytics",
    NGX_HTTP_MEMBER_ANALYTICS_EVERY,
    NGX_HTTP_MEMBER_ANALYTICS_STUCK,
    0,
    1,
    ngx_http_member_analytics_tick,
    NULL
};


ngx_int_t
ngx_http_member_analytics_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                    i;
    ngx_http_member_redis_t     **redis;
    ngx_http_member_analytics_t  *a;

    redis = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        a = ngx_pcalloc(cycle->pool, sizeof(ngx_http_member_analytics_t));
        if (a == NULL) {
            return NGX_ERROR;
        }

        a->buf = ngx_palloc(cycle->pool, NGX_INT64_LEN
                            + NGX_HTTP_MEMBER_ANALYTICS_BATCH
                              * NGX_HTTP_MEMBER_ANALYTICS_ROOM);
        if (a->buf == NULL) {
            return NGX_ERROR;
        }

        a->mmcf = mmcf;
        a->test_clock = mmcf->test_clock;

        if (ngx_http_member_job_add(cycle, &a->job,
                                    &ngx_http_member_analytics_job, redis[i],
                                    a)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* admin: GET analytics (the pass's state), and a pass asked for */

static ngx_int_t
ngx_http_member_analytics_stated(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    json_t  *state;

    state = ngx_http_member_reply_object(reply);
    if (state == NULL) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK, state);
}


/*
 * Asks for a pass now: the worker that holds the lease starts one within a
 * second (after the pass in progress, if any).  done gets HINCRBY's reply.
 * POST campaigns/run calls it; the campaigns' triggers may chain before.
 */

ngx_int_t
ngx_http_member_analytics_run(ngx_http_request_t *r,
    ngx_http_member_call_pt done)
{
    ngx_str_t  field, one;

    static ngx_str_t  hincrby = ngx_string("HINCRBY");

    ngx_str_set(&field, "requests");
    ngx_str_set(&one, "1");

    return ngx_http_member_redis_command(r, done, &hincrby,
                                         &ngx_http_member_rfm_state, &field,
                                         &one);
}


ngx_int_t
ngx_http_member_analytics_shown(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_redis_command(r, ngx_http_member_analytics_stated,
                                         &ngx_http_member_cmd_hgetall,
                                         &ngx_http_member_rfm_state);
}
