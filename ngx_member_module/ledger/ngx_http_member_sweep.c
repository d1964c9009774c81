
/*
 * ngx_member: the ledger's sweep of due points lots and tier periods
 * (docs/ledger.md, "Points lots and expiry", "Tiers").
 *
 * A pay or a points adjustment schedules its member in its bucket of the
 * due set, {b:due:<id mod 16>}, at the time its lot expires or its tier
 * period ends; a job of the runner (ngx_http_member_job.c), in the worker
 * that holds the lease of ledger:lease, reads the rules and the clock
 * afresh, takes the members due from each bucket in turn and from the due
 * set of before (ledger:due, drained into the buckets), runs sweep.lua on
 * each, then hands the rest of the slice to the campaigns
 * (ngx_http_member_campaigns.c).
 */


#include "ngx_member_ledger.h"


#define NGX_HTTP_MEMBER_SWEEP_EVERY   1000        /* ms */
#define NGX_HTTP_MEMBER_SWEEP_STUCK   10000       /* ms */
#define NGX_HTTP_MEMBER_SWEEP_BUDGET  300         /* ms: the campaigns' */


static void ngx_http_member_sweep_rescheduled(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t unused);
static void ngx_http_member_sweep_next(ngx_http_member_ledger_t *ledger);
static void ngx_http_member_sweep_source(ngx_http_member_ledger_t *ledger);


/* a member due at "at" (its lot's expiry, its tier period's end), or sooner */

void
ngx_http_member_sweep_schedule(ngx_http_member_ledger_t *ledger, uint64_t id,
    time_t at)
{
    u_char     sc[NGX_TIME_T_LEN], mb[NGX_INT64_LEN];
    u_char     kb[NGX_HTTP_MEMBER_BUCKET_KEY_LEN];
    ngx_str_t  score, member;

    if (at == 0) {
        return;
    }

    score.data = sc;
    score.len = ngx_sprintf(sc, "%T", at) - sc;
    member.data = mb;
    member.len = ngx_sprintf(mb, "%uL", id) - mb;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ledger->redis->log, 0,
                   "member: sweep: member %uL due at %T", id, at);

    /* sent before the script on the same connection: it runs first */
    (void) ngx_http_member_redis_bg_argv(ledger->redis, NULL, NULL,
                         ngx_http_member_args(ngx_string("ZADD"),
                             ngx_http_member_bucket_of(kb,
                                 NGX_HTTP_MEMBER_BUCKET_DUE, id),
                             ngx_string("LT"), score, member));
}


/* the expiry job: due members, one sweep script each, then campaigns */

static void
ngx_http_member_sweep_swept(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t unused)
{
    u_char                     sc[NGX_INT64_LEN], mb[NGX_INT64_LEN];
    u_char                     kb[NGX_HTTP_MEMBER_BUCKET_KEY_LEN];
    uint64_t                   id;
    ngx_str_t                  score, member;
    ngx_http_member_ledger_t  *ledger;

    ledger = job->data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, job->redis->log, 0,
                   "member: sweep of member %uL answered, type %d",
                   ledger->ids[ledger->next], reply ? reply->type : 0);

    /*
     * What expired reaches the brand's numbers and the WeChat card: the
     * Redis layer hinted after an answer; after an error too, as a part
     * of the script may have run.
     */
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_http_member_ledger_hint(job->redis, ledger->ids[ledger->next]);
    }

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        if (reply) {
            ngx_log_error(NGX_LOG_ERR, job->redis->log, 0,
                          "member: ledger sweep of member %uL failed",
                          ledger->ids[ledger->next]);
        }

        ngx_http_member_job_done(job);
        return;
    }

    id = ledger->ids[ledger->next];
    member.data = mb;
    member.len = ngx_sprintf(mb, "%uL", id) - mb;
    score.data = sc;
    score.len = ngx_sprintf(sc, "%L", (int64_t) reply->integer) - sc;

    if ((ledger->start + ledger->visited) % NGX_HTTP_MEMBER_SOURCES
        == NGX_HTTP_MEMBER_BUCKET_LEGACY)
    {
        /* the due set of before: the member moves into its bucket */
        (void) ngx_http_member_job_command(job, NULL, 0,
                           ngx_http_member_args(ngx_string("ZREM"),
                                                ledger->due_key, member));

        if (reply->integer == 0) {
            ledger->next++;
            ngx_http_member_sweep_next(ledger);
            return;
        }

        (void) ngx_http_member_job_command(job,
                           ngx_http_member_sweep_rescheduled, 0,
                           ngx_http_member_args(ngx_string("ZADD"),
                               ngx_http_member_bucket_of(kb,
                                   NGX_HTTP_MEMBER_BUCKET_DUE, id),
                               ngx_string("LT"), score, member));
        return;
    }

    if (reply->integer == 0) {
        (void) ngx_http_member_job_command(job,
                                           ngx_http_member_sweep_rescheduled, 0,
                           ngx_http_member_args(ngx_string("ZREM"),
                                                ledger->due_key, member));
        return;
    }

    (void) ngx_http_member_job_command(job, ngx_http_member_sweep_rescheduled,
                           0,
                           ngx_http_member_args(ngx_string("ZADD"),
                                                ledger->due_key,
                                                score, member));
}


static void
ngx_http_member_sweep_rescheduled(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t unused)
{
    ngx_http_member_ledger_t  *ledger;

    ledger = job->data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_member_job_done(job);
        return;
    }

    ledger->next++;
    ngx_http_member_sweep_next(ledger);
}


static void
ngx_http_member_sweep_next(ngx_http_member_ledger_t *ledger)
{
    u_char                    kb[NGX_HTTP_MEMBER_SWEEP_NKEYS]
                                [NGX_HTTP_MEMBER_KEY_IN_LEN];
    u_char                    nums[4 + NGX_HTTP_MEMBER_MAX_TIERS]
                                  [NGX_INT64_LEN];
    size_t                    i;
    json_t                   *t;
    uint64_t                  id;
    ngx_str_t                 keys[NGX_HTTP_MEMBER_SWEEP_NKEYS];
    ngx_str_t                 args[NGX_HTTP_MEMBER_SWEEP_NARGV
                                   + 2 * NGX_HTTP_MEMBER_MAX_TIERS];
    ngx_uint_t                n;
    ngx_http_member_moment_t  mo;

    static const char        *suffix[NGX_HTTP_MEMBER_SWEEP_NKEYS] = {
        [NGX_HTTP_MEMBER_SWEEP_KEY_MEMBER] = "",
        [NGX_HTTP_MEMBER_SWEEP_KEY_LEDGER] = ":ledger",
        [NGX_HTTP_MEMBER_SWEEP_KEY_LOTS] = ":lots"
    };

    if (ledger->next >= ledger->nids) {
        /* the next source of the tick */
        ledger->used += ledger->nids;
        ledger->visited++;
        ngx_http_member_sweep_source(ledger);
        return;
    }

    ngx_http_member_rules_moment(ledger, &mo);

    id = ledger->ids[ledger->next];

    ngx_http_member_keys_in(keys, suffix, NGX_HTTP_MEMBER_SWEEP_NKEYS, kb[0],
                            id);

    args[NGX_HTTP_MEMBER_SWEEP_ARGV_NOW] =
                                   ngx_http_member_num_in(nums[0], mo.now);
    args[NGX_HTTP_MEMBER_SWEEP_ARGV_PERIOD] =
                                ngx_http_member_num_in(nums[1], mo.period);
    args[NGX_HTTP_MEMBER_SWEEP_ARGV_PERIOD_END] =
                            ngx_http_member_num_in(nums[2], mo.period_end);
    args[NGX_HTTP_MEMBER_SWEEP_ARGV_STEPS] =
                                 ngx_http_member_num_in(nums[3], mo.steps);

    n = NGX_HTTP_MEMBER_SWEEP_ARGV_TIERS;

    json_array_foreach(json_object_get(ledger->rules, "tiers"), i, t) {
        args[n].data = (u_char *) json_string_value(json_object_get(t,
                                                                    "level"));
        args[n].len = ngx_strlen(args[n].data);
        n++;

        args[n++] = ngx_http_member_num_in(nums[4 + i],
                                    (int64_t) json_integer_value(
                                        json_object_get(t, "min_spend_fen")));
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ledger->redis->log, 0,
                   "member: sweep of member %uL sent", id);

    /* sent with its source: a Redis that lost its scripts runs it too */
    (void) ngx_http_member_job_script(&ledger->job,
                                      ngx_http_member_sweep_swept, 0,
                                      NGX_HTTP_MEMBER_SCRIPT_SWEEP,
                                      NGX_HTTP_MEMBER_BG_SOURCE,
                                      keys, 0, args,
                                      n - NGX_HTTP_MEMBER_SWEEP_ARGV_TIERS);
}


static void
ngx_http_member_sweep_due(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t unused)
{
    size_t                     i;
    uint64_t                   id;
    ngx_http_member_ledger_t  *ledger;

    ledger = job->data;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        ngx_http_member_job_done(job);
        return;
    }

    ledger->nids = 0;
    ledger->next = 0;

    for (i = 0; i < reply->elements && i < NGX_HTTP_MEMBER_SWEEP_BATCH; i++) {
        if (reply->element[i]->type == REDIS_REPLY_STRING
            && ngx_http_member_parse_id((u_char *) reply->element[i]->str,
                                        reply->element[i]->len, &id)
               == NGX_OK)
        {
            ledger->ids[ledger->nids++] = id;
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, job->redis->log, 0,
                   "member: sweep: %ui members due", ledger->nids);

    ngx_http_member_sweep_next(ledger);
}


/*
 * The members due in one source: the buckets and the due set of before in
 * turn, from a source that moves on each tick, each taking its share of
 * what is left of the tick's batch; then the campaigns.
 */

static void
ngx_http_member_sweep_source(ngx_http_member_ledger_t *ledger)
{
    u_char      at[NGX_TIME_T_LEN], lb[NGX_INT_T_LEN];
    ngx_str_t   now, limit;
    ngx_uint_t  share;

    if (ledger->visited == NGX_HTTP_MEMBER_SOURCES
        || ledger->used >= NGX_HTTP_MEMBER_SWEEP_BATCH)
    {
        /* the rest of the timer's work, under the same lease */
        ledger->start = (ledger->start + 1) % NGX_HTTP_MEMBER_SOURCES;
        ngx_http_member_campaigns_tick(&ledger->job);
        return;
    }

    share = (NGX_HTTP_MEMBER_SWEEP_BATCH - ledger->used)
            / (NGX_HTTP_MEMBER_SOURCES - ledger->visited);
    if (share == 0) {
        share = 1;
    }

    ledger->due_key = ngx_http_member_bucket_key(ledger->due_buf,
                          NGX_HTTP_MEMBER_BUCKET_DUE,
                          (ledger->start + ledger->visited)
                          % NGX_HTTP_MEMBER_SOURCES);

    now.data = at;
    now.len = ngx_sprintf(at, "%T", ngx_http_member_ledger_now(ledger)) - at;
    limit.data = lb;
    limit.len = ngx_sprintf(lb, "%ui", share) - lb;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ledger->redis->log, 0,
                   "member: sweep: up to %ui members due in \"%V\"",
                   share, &ledger->due_key);

    (void) ngx_http_member_job_command(&ledger->job,
                                       ngx_http_member_sweep_due, 0,
                ngx_http_member_args(ngx_string("ZRANGEBYSCORE"),
                                     ledger->due_key,
                                     ngx_string("-inf"), now,
                                     ngx_string("LIMIT"), ngx_string("0"),
                                     limit));
}


static void
ngx_http_member_sweep_rules(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t unused)
{
    ngx_http_member_ledger_t  *ledger;

    ledger = job->data;

    if (reply == NULL || ngx_http_member_rules_load(ledger, reply) != NGX_OK)
    {
        ngx_http_member_job_done(job);
        return;
    }

    ledger->visited = 0;
    ledger->used = 0;

    ngx_http_member_sweep_source(ledger);
}


/* a slice: the holder reads the rules and the clock afresh */

static void
ngx_http_member_sweep_tick(ngx_http_member_job_t *job)
{
    (void) ngx_http_member_job_command(job, ngx_http_member_sweep_rules, 0,
                           ngx_http_member_args(ngx_string("HGETALL"),
                                                ngx_http_member_rules_key));
}


/* the campaigns go on from the sweep: theirs is the slice's budget */

static const ngx_http_member_job_kind_t  ngx_http_member_sweep_job = {
    "sweep",
    NGX_HTTP_MEMBER_SWEEP_EVERY,
    NGX_HTTP_MEMBER_SWEEP_STUCK,
    NGX_HTTP_MEMBER_SWEEP_BUDGET,
    1,
    ngx_http_member_sweep_tick,
    ngx_http_member_campaigns_settled
};


/* the sweep's job of a worker's ledger (ngx_http_member_rules.c makes it) */

ngx_int_t
ngx_http_member_sweep_init(ngx_cycle_t *cycle, ngx_http_member_ledger_t *ledger)
{
    return ngx_http_member_job_add(cycle, &ledger->job,
                                   &ngx_http_member_sweep_job, ledger->redis,
                                   ledger);
}
