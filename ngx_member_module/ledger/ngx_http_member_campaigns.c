
/*
 * ngx_member: campaigns (docs/campaigns.md).
 *
 *   rules:  "triggers" (welcome, birthday, recall, anniversary) and
 *           "referral", checked with the ledger's rules
 *           (rules/mrl_triggers.c)
 *   timer:  after the ledger's sweep, under its lease: the members just
 *           activated, the referees awaiting their reward, and a daily
 *           pass over every member id in slices (cursor in Redis)
 *   admin:  POST campaigns/run (and the analytics' pass), GET campaigns
 *
 * Every award is trigger.lua or referral.lua on one member's slot
 * (ngx_http_member_triggers.c): the marker that makes it once per member
 * and period is set by the script that gives the points, so running a
 * member twice, on two nodes or after a crash, gives nothing twice.
 * Invite codes are ngx_http_member_invite.c.
 */


#include "ngx_member_ledger.h"


#define NGX_HTTP_MEMBER_CAMPAIGN_BATCH    100
#define NGX_HTTP_MEMBER_CAMPAIGN_BATCH_S  "100"
#define NGX_HTTP_MEMBER_CAMPAIGN_TICK     2000      /* members a tick */


static void ngx_http_member_campaigns_step(ngx_http_member_campaigns_t *c);
static void ngx_http_member_campaigns_loaded(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t which);


static ngx_str_t  ngx_http_member_campaigns_key = ngx_string("{b}:campaigns");
static ngx_str_t  ngx_http_member_campaigns_new =
    ngx_string("{b}:campaigns:new");
ngx_str_t  ngx_http_member_campaigns_referees =
    ngx_string("{b}:campaigns:referees");
static ngx_str_t  ngx_http_member_campaigns_hset = ngx_string("HSET");
static ngx_str_t  ngx_http_member_campaigns_run = ngx_string("run");


/* the tick's scripts: the triggers, the referral, the coupons' issue */

static ngx_uint_t  ngx_http_member_campaigns_scripts[] = {
    NGX_HTTP_MEMBER_SCRIPT_TRIGGER,
    NGX_HTTP_MEMBER_SCRIPT_REFERRAL,
    NGX_HTTP_MEMBER_SCRIPT_COUPON_ISSUE     /* ngx_http_member_coupons.c */
};


static ngx_int_t
ngx_http_member_campaigns_load(ngx_http_member_job_t *job, ngx_uint_t which)
{
    ngx_str_t                            source;
    const ngx_http_member_script_src_t  *src;

    src = &ngx_http_member_script_srcs[
                                    ngx_http_member_campaigns_scripts[which]];
    source.data = (u_char *) src->text;
    source.len = src->len;

    return ngx_http_member_job_command(job, ngx_http_member_campaigns_loaded,
                                       which,
                        ngx_http_member_args(ngx_string("SCRIPT"),
                                             ngx_string("LOAD"), source));
}


void
ngx_http_member_campaigns_tick(ngx_http_member_job_t *job)
{
    ngx_uint_t                    i;
    ngx_http_member_campaigns_t  *c, **cp;

    cp = ngx_http_member_ledger_campaigns(job->data);
    c = *cp;

    if (c == NULL) {
        c = ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_http_member_campaigns_t));
        if (c == NULL) {
            ngx_http_member_job_done(job);
            return;
        }

        c->ledger = job->data;
        c->job = job;
        *cp = c;
    }

    c->step = NGX_HTTP_MEMBER_CAMPAIGN_NEW;
    c->visited = 0;

    ngx_http_member_triggers_prepare(c);

    /* the scripts by their SHA1 for this tick (a SCRIPT FLUSH ends it) */
    for (i = 0; i < 3; i++) {
        if (ngx_http_member_campaigns_load(job, i) != NGX_OK) {
            return;
        }
    }
}


/* the campaigns of a reply that goes on, or NULL */

ngx_http_member_campaigns_t *
ngx_http_member_campaigns_current(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t member)
{
    ngx_http_member_campaigns_t  *c;

    c = *ngx_http_member_ledger_campaigns(job->data);

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, job->redis->log, 0,
                      "member: campaigns: %*s", (size_t) reply->len,
                      reply->str);

        /* one member's failure does not hold up the others */
        if (member && !ngx_http_member_redis_is_error(reply, "NOSCRIPT")) {
            return NULL;
        }
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_member_campaigns_stop(c);
        return NULL;
    }

    return c;
}


static void ngx_http_member_campaigns_state(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t tag);
static void ngx_http_member_campaigns_seq(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t tag);


static void
ngx_http_member_campaigns_loaded(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t which)
{
    ngx_http_member_campaigns_t  *c;

    c = ngx_http_member_campaigns_current(job, reply, 0);

    if (c == NULL) {
        return;
    }

    /* the SHA1 that the binding's EVALSHA sends */
    if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
        ngx_http_member_campaigns_stop(c);
        return;
    }

    if (which != 2) {
        return;
    }

    (void) ngx_http_member_job_command(job, ngx_http_member_campaigns_state, 0,
                        ngx_http_member_args(ngx_string("HMGET"),
                                             ngx_http_member_campaigns_key,
                                             ngx_string("day"),
                                             ngx_string("cursor"),
                                             ngx_string("run"),
                                             ngx_string("rcursor")));
}


void
ngx_http_member_campaigns_stop(ngx_http_member_campaigns_t *c)
{
    /* what is in flight is forgotten; its scripts are harmless twice */
    c->step = NGX_HTTP_MEMBER_CAMPAIGN_DONE;
    ngx_http_member_job_done(c->job);
}


ngx_int_t
ngx_http_member_campaigns_str_id(redisReply *e, uint64_t *id)
{
    if (e->type != REDIS_REPLY_STRING) {
        return NGX_ERROR;
    }

    return ngx_http_member_parse_id((u_char *) e->str, e->len, id);
}


static void
ngx_http_member_campaigns_state(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t tag)
{
    redisReply                   *day, *e;
    ngx_uint_t                    fresh;
    ngx_http_member_campaigns_t  *c;

    c = ngx_http_member_campaigns_current(job, reply, 0);

    if (c == NULL) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        ngx_http_member_campaigns_stop(c);
        return;
    }

    /* a new day, or a run asked for: a pass from the first id */
    day = reply->element[0];

    fresh = reply->element[2]->type == REDIS_REPLY_STRING
            || day->type != REDIS_REPLY_STRING || day->len != 10
            || ngx_strncmp(day->str, c->today, 10) != 0;

    if (fresh) {
        c->cursor = c->triggers || c->referral ? 1 : 0;

    } else if (ngx_http_member_campaigns_str_id(reply->element[1], &c->cursor)
               != NGX_OK)
    {
        c->cursor = 0;
    }

    e = reply->element[3];
    c->rcursor_len = 1;
    c->rcursor[0] = '0';

    if (e->type == REDIS_REPLY_STRING && e->len > 0 && e->len < NGX_INT64_LEN)
    {
        c->rcursor_len = ngx_cpymem(c->rcursor, e->str, e->len) - c->rcursor;
    }

    /* the run asked for rides in the second bit */
    (void) ngx_http_member_job_command(job, ngx_http_member_campaigns_seq,
                        fresh | (reply->element[2]->type
                                 == REDIS_REPLY_STRING) << 1,
                        ngx_http_member_args(ngx_string("GET"),
                                             ngx_http_member_seq_key));
}


static void
ngx_http_member_campaigns_seq(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t fresh)
{
    u_char                        now[NGX_TIME_T_LEN];
    ngx_str_t                     today;
    ngx_http_member_campaigns_t  *c;

    c = ngx_http_member_campaigns_current(job, reply, 0);

    if (c == NULL) {
        return;
    }

    c->seq = 0;

    if (reply->type == REDIS_REPLY_STRING
        && ngx_http_member_parse_id((u_char *) reply->str, reply->len,
                                    &c->seq)
           != NGX_OK)
    {
        c->seq = 0;
    }

    if ((fresh & 2) && c->cursor == 0) {
        /* a run asked for with nothing to run: answered */
        (void) ngx_http_member_job_command(c->job, NULL, 0,
                        ngx_http_member_args(ngx_string("HDEL"),
                                             ngx_http_member_campaigns_key,
                                             ngx_http_member_campaigns_run));
    }

    if (fresh && c->cursor) {
        /* the pass of today starts */
        today.data = c->today;
        today.len = 10;

        (void) ngx_http_member_job_command(c->job, NULL, 0,
                        ngx_http_member_args(ngx_string("HSET"),
                                             ngx_http_member_campaigns_key,
                                             ngx_string("day"), today,
                                             ngx_string("cursor"),
                                             ngx_string("1"),
                                             ngx_string("started_at"),
                                             ngx_http_member_num_in(now,
                                                 c->now)));

        /* a run asked for is being served */
        (void) ngx_http_member_job_command(c->job, NULL, 0,
                        ngx_http_member_args(ngx_string("HDEL"),
                                             ngx_http_member_campaigns_key,
                                             ngx_http_member_campaigns_run));
    }

    ngx_http_member_campaigns_step(c);
}


/* the steps: members just activated, referees, a slice of the pass */

static void ngx_http_member_campaigns_listed(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t source);
static void ngx_http_member_campaigns_batch(ngx_http_member_campaigns_t *c);


static void
ngx_http_member_campaigns_step(ngx_http_member_campaigns_t *c)
{
    ngx_str_t  rcursor;

    switch (c->step) {

    case NGX_HTTP_MEMBER_CAMPAIGN_NEW:
        if (!c->triggers && !c->referral) {
            /* nothing configured: nothing written either */
            ngx_http_member_campaigns_stop(c);
            return;
        }

        (void) ngx_http_member_job_command(c->job,
                        ngx_http_member_campaigns_listed, c->step,
                        ngx_http_member_args(ngx_string("SPOP"),
                                 ngx_http_member_campaigns_new,
                                 ngx_string(NGX_HTTP_MEMBER_CAMPAIGN_BATCH_S)));
        return;

    case NGX_HTTP_MEMBER_CAMPAIGN_REFEREES:
        if (!c->referral) {
            c->step++;
            ngx_http_member_campaigns_step(c);
            return;
        }

        rcursor.data = c->rcursor;
        rcursor.len = c->rcursor_len;

        (void) ngx_http_member_job_command(c->job,
                        ngx_http_member_campaigns_listed, c->step,
                        ngx_http_member_args(ngx_string("SSCAN"),
                                 ngx_http_member_campaigns_referees, rcursor,
                                 ngx_string("COUNT"),
                                 ngx_string(NGX_HTTP_MEMBER_CAMPAIGN_BATCH_S)));
        return;

    case NGX_HTTP_MEMBER_CAMPAIGN_PASS:
        if (c->cursor) {
            ngx_http_member_campaigns_batch(c);
            return;
        }

        /* fall through */

    default:
        ngx_http_member_campaigns_stop(c);
        return;
    }
}


static void
ngx_http_member_campaigns_listed(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t source)
{
    size_t                        i;
    uint64_t                      id;
    ngx_str_t                     rcursor;
    redisReply                   *ids, *e;
    ngx_http_member_campaigns_t  *c;

    c = ngx_http_member_campaigns_current(job, reply, 0);

    if (c == NULL) {
        return;
    }

    ids = reply;

    if (source == NGX_HTTP_MEMBER_CAMPAIGN_REFEREES) {
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
            || reply->element[0]->type != REDIS_REPLY_STRING
            || reply->element[0]->len >= NGX_INT64_LEN)
        {
            ngx_http_member_campaigns_stop(c);
            return;
        }

        e = reply->element[0];
        ids = reply->element[1];

        /* where the next tick goes on */
        c->rcursor_len = ngx_cpymem(c->rcursor, e->str, e->len) - c->rcursor;

        rcursor.data = c->rcursor;
        rcursor.len = c->rcursor_len;

        (void) ngx_http_member_job_command(c->job, NULL, 0,
                        ngx_http_member_args(ngx_string("HSET"),
                                             ngx_http_member_campaigns_key,
                                             ngx_string("rcursor"), rcursor));
    }

    if (ids->type != REDIS_REPLY_ARRAY) {
        ngx_http_member_campaigns_stop(c);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, job->redis->log, 0,
                   "member: campaigns: step %ui listed %uz members", source,
                   ids->elements);

    /* the step settles once they have all answered */
    for (i = 0; i < ids->elements && job->busy; i++) {
        if (ngx_http_member_campaigns_str_id(ids->element[i], &id) == NGX_OK) {
            ngx_http_member_triggers_run(c, id, source);
        }
    }
}


static void
ngx_http_member_campaigns_batch(ngx_http_member_campaigns_t *c)
{
    uint64_t  id, last;

    if (c->cursor > c->seq) {
        ngx_http_member_campaigns_settled(c->job);
        return;
    }

    last = c->cursor + NGX_HTTP_MEMBER_CAMPAIGN_BATCH - 1;

    if (last > c->seq) {
        last = c->seq;
    }

    for (id = c->cursor; id <= last && c->job->busy; id++) {
        ngx_http_member_triggers_run(c, id,
                                     NGX_HTTP_MEMBER_CAMPAIGN_PASS);
    }
}


/* everything a step sent has answered: the ledger job's settled() */

void
ngx_http_member_campaigns_settled(ngx_http_member_job_t *job)
{
    u_char                        cursor[NGX_INT64_LEN], now[NGX_TIME_T_LEN];
    ngx_http_member_campaigns_t  *c;

    c = *ngx_http_member_ledger_campaigns(job->data);

    if (c == NULL || c->step == NGX_HTTP_MEMBER_CAMPAIGN_DONE) {
        return;
    }

    if (c->step != NGX_HTTP_MEMBER_CAMPAIGN_PASS) {
        c->step++;
        ngx_http_member_campaigns_step(c);
        return;
    }

    c->cursor += NGX_HTTP_MEMBER_CAMPAIGN_BATCH;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, job->redis->log, 0,
                   "member: campaigns: pass at %uL of %uL", c->cursor,
                   c->seq);

    if (c->cursor > c->seq) {
        /* the pass is over */
        (void) ngx_http_member_job_command(c->job, NULL, 0,
                        ngx_http_member_args(ngx_string("HSET"),
                                             ngx_http_member_campaigns_key,
                                             ngx_string("cursor"),
                                             ngx_string("0"),
                                             ngx_string("finished_at"),
                                             ngx_http_member_num_in(now,
                                                 c->now)));

        (void) ngx_http_member_job_command(c->job, NULL, 0,
                        ngx_http_member_args(ngx_string("HINCRBY"),
                                             ngx_http_member_campaigns_key,
                                             ngx_string("passes"),
                                             ngx_string("1")));

        c->cursor = 0;
        c->step++;
        ngx_http_member_campaigns_step(c);
        return;
    }

    (void) ngx_http_member_job_command(c->job, NULL, 0,
                        ngx_http_member_args(ngx_string("HSET"),
                                             ngx_http_member_campaigns_key,
                                             ngx_string("cursor"),
                                             ngx_http_member_num_in(
                                                 cursor, (int64_t) c->cursor)));

    /* a slice a tick: the worker and Redis serve cards in between */
    if (c->visited < NGX_HTTP_MEMBER_CAMPAIGN_TICK
        && ngx_http_member_job_budget(job))
    {
        ngx_http_member_campaigns_batch(c);
        return;
    }

    ngx_http_member_campaigns_stop(c);
}


/* hints from the request path: a member to look at soon */

void
ngx_http_member_campaigns_hint(ngx_http_request_t *r, uint64_t id,
    ngx_uint_t hints)
{
    u_char                       ids[NGX_INT64_LEN];
    time_t                       lot;
    json_t                      *rules;
    ngx_str_t                    member;
    ngx_uint_t                   version;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    member.data = ids;
    member.len = ngx_sprintf(ids, "%uL", id) - ids;

    if (mlcf->redis == NULL || mlcf->redis->ledger == NULL) {
        return;
    }

    /*
     * Only when the worker's copy of the rules has something to do: a
     * brand without campaigns gets no writes, and a hint missed on a stale
     * copy is made up by the daily pass.
     */
    rules = ngx_http_member_ledger_rules(mlcf->redis->ledger, &version, &lot);

    if (!(hints & NGX_HTTP_MEMBER_HINT_NEW)
        || json_object_size(json_object_get(rules, "triggers")) == 0)
    {
        goto referee;
    }

    (void) ngx_http_member_redis_bg_argv(mlcf->redis, NULL, NULL,
                        ngx_http_member_args(ngx_string("SADD"),
                                             ngx_http_member_campaigns_new,
                                             member));

referee:

    if ((hints & NGX_HTTP_MEMBER_HINT_REFEREE)
        && json_object_get(rules, "referral"))
    {
        (void) ngx_http_member_redis_bg_argv(mlcf->redis, NULL, NULL,
                        ngx_http_member_args(ngx_string("SADD"),
                                             ngx_http_member_campaigns_referees,
                                             member));
    }
}


/* admin: POST campaigns/run, GET campaigns */

static ngx_int_t
ngx_http_member_campaigns_requested(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    return ngx_http_member_send_json(r, NGX_HTTP_ACCEPTED,
                                     json_pack("{s:s,s:s,s:I}", "status",
                                               "started", "analytics",
                                               "requested", "request",
                                               (json_int_t) reply->integer));
}


/* the triggers' pass asked for: the analytics' pass too */

static ngx_int_t
ngx_http_member_campaigns_asked(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    return ngx_http_member_analytics_run(r,
                                         ngx_http_member_campaigns_requested);
}


static ngx_int_t
ngx_http_member_campaigns_shown(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t       i;
    json_t      *answer;
    ngx_int_t    n, cursor, run;
    redisReply  *k, *v;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    answer = json_object();
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cursor = 0;
    run = 0;

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
            || k->len > 32)
        {
            continue;
        }

        n = ngx_atoi((u_char *) v->str, v->len);

        if (k->len == 3 && ngx_strncmp(k->str, "day", 3) == 0) {
            json_object_setn_new(answer, k->str, k->len,
                                 json_stringn(v->str, v->len));
            continue;
        }

        if (n == NGX_ERROR) {
            continue;
        }

        if (k->len == 6 && ngx_strncmp(k->str, "cursor", 6) == 0) {
            cursor = n;
        }

        if (k->len == 3 && ngx_strncmp(k->str, "run", 3) == 0) {
            run = 1;
            json_object_set_new(answer, "requested_at", json_integer(n));
            continue;
        }

        json_object_setn_new(answer, k->str, k->len, json_integer(n));
    }

    json_object_set_new(answer, "running", json_boolean(cursor || run));

    return ngx_http_member_send_json(r, NGX_HTTP_OK, answer);
}


/* GET campaigns */

ngx_int_t
ngx_http_member_campaigns_list(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_redis_command(r, ngx_http_member_campaigns_shown,
                                         &ngx_http_member_cmd_hgetall,
                                         &ngx_http_member_campaigns_key);
}


/* POST campaigns/run */

ngx_int_t
ngx_http_member_campaigns_run_now(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    u_char                      *p;
    ngx_str_t                   *now;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now = ngx_palloc(r->pool, sizeof(ngx_str_t));
    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);

    if (now == NULL || p == NULL || mlcf->redis == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now->data = p;
    now->len = ngx_sprintf(p, "%T",
                           ngx_http_member_ledger_now(mlcf->redis->ledger))
               - p;

    /* the lease holder starts a pass at its next tick (a second at most) */
    return ngx_http_member_redis_command(r, ngx_http_member_campaigns_asked,
                                         &ngx_http_member_campaigns_hset,
                                         &ngx_http_member_campaigns_key,
                                         &ngx_http_member_campaigns_run, now);
}
