
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
 *   member: GET referral; POST register takes invite_code
 *
 * Every award is trigger.lua or referral.lua on one member's slot: the
 * marker that makes it once per member and period is set by the script
 * that gives the points, so running a member twice, on two nodes or after
 * a crash, gives nothing twice.
 */


#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_member_ledger.h"


#define NGX_HTTP_MEMBER_CAMPAIGN_BATCH    100
#define NGX_HTTP_MEMBER_CAMPAIGN_BATCH_S  "100"
#define NGX_HTTP_MEMBER_CAMPAIGN_TICK     2000      /* members a tick */
#define NGX_HTTP_MEMBER_WELCOME_WINDOW    (7 * 86400)
#define NGX_HTTP_MEMBER_INVITE_MAX        32

#define NGX_HTTP_MEMBER_COUPON_TERMS      512


/* where a member to look at came from: the tick's steps, in order */
enum {
    NGX_HTTP_MEMBER_CAMPAIGN_NEW = 0,
    NGX_HTTP_MEMBER_CAMPAIGN_REFEREES,
    NGX_HTTP_MEMBER_CAMPAIGN_PASS,
    NGX_HTTP_MEMBER_CAMPAIGN_DONE
};


struct ngx_http_member_campaigns_s {
    ngx_http_member_ledger_t     *ledger;
    ngx_http_member_job_t        *job;        /* the ledger's, after sweep */
    ngx_uint_t                    step;
    ngx_uint_t                    visited;
    uint64_t                      cursor;     /* pass: next id, 0: none */
    uint64_t                      seq;
    time_t                        now;
    time_t                        lot;
    ngx_uint_t                    version;
    ngx_int_t                     referrer_points;
    ngx_int_t                     max_per_referrer;
    u_char                        today[11];  /* YYYY-MM-DD */
    u_char                        rcursor[NGX_INT64_LEN];
    size_t                        rcursor_len;

    /* the recall's coupon as coupon_issue.lua takes it, for this tick */
    u_char                        terms[NGX_HTTP_MEMBER_COUPON_TERMS];
    size_t                        terms_len;
    u_char                        expires[NGX_TIME_T_LEN];
    size_t                        expires_len;
    const char                   *coupon;   /* coupon_name, or NULL */
    size_t                        coupon_len;
    /* a copy: the worker's rules may be replaced during the tick */
    u_char                        coupon_name[64];

    /* trigger.lua's ARGV for this tick but the member's id */
    ngx_str_t                     args[NGX_HTTP_MEMBER_TRIGGER_NARGV];
    u_char                        buf[NGX_HTTP_MEMBER_TRIGGER_NARGV
                                      * (NGX_INT64_LEN + 1)];

    unsigned                      triggers:1;
    unsigned                      referral:1;
};


static void ngx_http_member_campaigns_step(ngx_http_member_campaigns_t *c);
static void ngx_http_member_campaigns_stop(ngx_http_member_campaigns_t *c);
static void ngx_http_member_campaigns_loaded(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t which);


static ngx_str_t  ngx_http_member_campaigns_key = ngx_string("{b}:campaigns");
static ngx_str_t  ngx_http_member_campaigns_new =
    ngx_string("{b}:campaigns:new");
static ngx_str_t  ngx_http_member_campaigns_referees =
    ngx_string("{b}:campaigns:referees");
static ngx_str_t  ngx_http_member_campaigns_hset = ngx_string("HSET");
static ngx_str_t  ngx_http_member_campaigns_run = ngx_string("run");

static const char  ngx_http_member_base32[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";


/* the timer: one tick's work after the ledger's sweep */

static ngx_int_t
ngx_http_member_campaigns_points(json_t *triggers, const char *name)
{
    json_t  *v;

    v = json_object_get(triggers, name);

    return v ? (ngx_int_t) json_integer_value(json_object_get(v, "points"))
             : -1;
}


static void
ngx_http_member_campaigns_arg(ngx_http_member_campaigns_t *c, ngx_uint_t i,
    u_char **p, const char *s, int64_t n)
{
    c->args[i].data = *p;

    if (s) {
        c->args[i].len = ngx_sprintf(*p, "%s", s) - *p;

    } else {
        c->args[i].len = ngx_sprintf(*p, "%L", n) - *p;
    }

    *p += c->args[i].len;
}


/*
 * The terms of the recall's coupon (docs/ledger.md, Coupons): cash off,
 * valid for valid_days from its issue, as a template's would be.
 */

static void
ngx_http_member_campaigns_recall_coupon(ngx_http_member_campaigns_t *c,
    json_t *coupon)
{
    char    *text;
    json_t  *terms, *v;
    time_t   to;

    c->coupon = NULL;
    c->coupon_len = 0;

    if (coupon == NULL) {
        return;
    }

    to = c->now + json_integer_value(json_object_get(coupon, "valid_days"))
                  * 86400;

    terms = json_pack("{s:O,s:s,s:O,s:s,s:I,s:I,s:I}",
                      "name", json_object_get(coupon, "name"),
                      "type", "cash",
                      "value_fen", json_object_get(coupon, "value_fen"),
                      "template_id", "recall",
                      "valid_from", (json_int_t) c->now,
                      "expires_at", (json_int_t) to,
                      "issued_at", (json_int_t) c->now);
    text = terms ? json_dumps(terms, JSON_COMPACT) : NULL;
    json_decref(terms);

    if (text == NULL || ngx_strlen(text) > NGX_HTTP_MEMBER_COUPON_TERMS) {
        free(text);
        return;
    }

    c->terms_len = ngx_cpymem(c->terms, text, ngx_strlen(text)) - c->terms;
    c->expires_len = ngx_sprintf(c->expires, "%T", to) - c->expires;
    free(text);

    v = json_object_get(coupon, "name");

    if (json_string_length(v) > sizeof(c->coupon_name)) {
        return;
    }

    c->coupon_len = ngx_cpymem(c->coupon_name, json_string_value(v),
                               json_string_length(v))
                    - c->coupon_name;
    c->coupon = (const char *) c->coupon_name;
}


/* trigger.lua's arguments from the rules and the clock of this tick */

static void
ngx_http_member_campaigns_prepare(ngx_http_member_campaigns_t *c)
{
    u_char          *p;
    json_t          *rules, *triggers, *v, *referral;
    mrl_birthday_t   b;

    rules = ngx_http_member_ledger_rules(c->ledger, &c->version, &c->lot);
    c->now = ngx_http_member_ledger_now(c->ledger);

    /* today's birthdays, China time (rules/mrl_calendar.c) */
    if (mrl_birthday(c->now, &b) != MRL_OK) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "member: the campaigns' time %T is out of range",
                      c->now);
        ngx_memzero(&b, sizeof(mrl_birthday_t));
    }

    ngx_memcpy(c->today, b.today, sizeof(b.today));

    triggers = json_object_get(rules, "triggers");
    referral = json_object_get(rules, "referral");

    /* the notice of expiring points (docs/outbox.md) rides the pass */
    v = json_object_get(json_object_get(rules, "messages"),
                        "points_expiring");
    c->triggers = json_object_size(triggers) != 0 || v != NULL;
    c->referral = referral != NULL;
    c->referrer_points = json_integer_value(json_object_get(referral,
                                                        "referrer_points"));
    c->max_per_referrer = json_integer_value(json_object_get(referral,
                                                       "max_per_referrer"));

    p = c->buf;

    ngx_http_member_campaigns_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_NOW, &p,
                                  NULL, c->now);
    ngx_http_member_campaigns_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_YEAR, &p,
                                  NULL, b.year);
    ngx_http_member_campaigns_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_TODAY, &p,
                                  b.mmdd, 0);

    /* a birthday on 29 February is kept on the 28th of a common year */
    ngx_http_member_campaigns_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_ALSO_TODAY,
                                  &p, b.also, 0);
    ngx_http_member_campaigns_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_LOT, &p,
                                  NULL, c->lot);
    ngx_http_member_campaigns_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_VERSION, &p,
                                  NULL, c->version);
    ngx_http_member_campaigns_arg(c,
                   NGX_HTTP_MEMBER_TRIGGER_ARGV_WELCOME_POINTS, &p, NULL,
                   ngx_http_member_campaigns_points(triggers, "welcome"));
    ngx_http_member_campaigns_arg(c,
                   NGX_HTTP_MEMBER_TRIGGER_ARGV_WELCOME_SINCE, &p, NULL,
                   c->now - NGX_HTTP_MEMBER_WELCOME_WINDOW);
    ngx_http_member_campaigns_arg(c,
                   NGX_HTTP_MEMBER_TRIGGER_ARGV_BIRTHDAY_POINTS, &p, NULL,
                   ngx_http_member_campaigns_points(triggers, "birthday"));

    v = json_object_get(json_object_get(triggers, "birthday"), "when");
    ngx_http_member_campaigns_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_BIRTHDAY_BY,
                                  &p, v ? json_string_value(v) : "month", 0);

    v = json_object_get(triggers, "recall");
    ngx_http_member_campaigns_arg(c,
                 NGX_HTTP_MEMBER_TRIGGER_ARGV_RECALL_AFTER, &p, NULL,
                 v ? json_integer_value(json_object_get(v, "silent_days"))
                     * 86400 : 0);
    ngx_http_member_campaigns_arg(c,
                 NGX_HTTP_MEMBER_TRIGGER_ARGV_RECALL_POINTS, &p, NULL,
                 v ? json_integer_value(json_object_get(v, "points")) : 0);
    ngx_http_member_campaigns_arg(c,
                 NGX_HTTP_MEMBER_TRIGGER_ARGV_ANNIVERSARY_POINTS, &p, NULL,
                 ngx_http_member_campaigns_points(triggers, "anniversary"));
    ngx_http_member_campaigns_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_REFERRAL,
                                  &p, c->referral ? "1" : "0", 0);
    ngx_http_member_campaigns_arg(c,
                 NGX_HTTP_MEMBER_TRIGGER_ARGV_REFEREE_POINTS, &p, NULL,
                 json_integer_value(json_object_get(referral,
                                                    "referee_points")));

    ngx_http_member_campaigns_recall_coupon(c,
        json_object_get(json_object_get(triggers, "recall"), "coupon"));

    /* a name is a JSON string: the args buffer holds numbers only */
    c->args[NGX_HTTP_MEMBER_TRIGGER_ARGV_RECALL_COUPON].data =
                                                              c->coupon_name;
    c->args[NGX_HTTP_MEMBER_TRIGGER_ARGV_RECALL_COUPON].len = c->coupon_len;

    ngx_http_member_campaigns_arg(c,
                 NGX_HTTP_MEMBER_TRIGGER_ARGV_NOTICE_BEFORE, &p, NULL,
                 ngx_http_member_messages_notice(rules));
}


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

    ngx_http_member_campaigns_prepare(c);

    /* the scripts by their SHA1 for this tick (a SCRIPT FLUSH ends it) */
    for (i = 0; i < 3; i++) {
        if (ngx_http_member_campaigns_load(job, i) != NGX_OK) {
            return;
        }
    }
}


/* the campaigns of a reply that goes on, or NULL */

static ngx_http_member_campaigns_t *
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


static void
ngx_http_member_campaigns_stop(ngx_http_member_campaigns_t *c)
{
    /* what is in flight is forgotten; its scripts are harmless twice */
    c->step = NGX_HTTP_MEMBER_CAMPAIGN_DONE;
    ngx_http_member_job_done(c->job);
}


static ngx_int_t
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


/* trigger.lua on one member */

static void ngx_http_member_campaigns_triggered(
    ngx_http_member_job_t *job, redisReply *reply, ngx_uint_t tag);
static void ngx_http_member_campaigns_referred(
    ngx_http_member_job_t *job, redisReply *reply, ngx_uint_t tag);
static void ngx_http_member_campaigns_issued(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t tag);


static void
ngx_http_member_campaigns_trigger(ngx_http_member_campaigns_t *c,
    uint64_t id, ngx_uint_t source)
{
    u_char      kb[NGX_HTTP_MEMBER_TRIGGER_NKEYS]
                  [NGX_HTTP_MEMBER_KEY_IN_LEN];
    u_char      ids[NGX_INT64_LEN];
    ngx_str_t   keys[NGX_HTTP_MEMBER_TRIGGER_NKEYS];
    ngx_str_t   args[NGX_HTTP_MEMBER_TRIGGER_NARGV];

    static const char  *suffix[NGX_HTTP_MEMBER_TRIGGER_NKEYS] = {
        [NGX_HTTP_MEMBER_TRIGGER_KEY_MEMBER] = "",
        [NGX_HTTP_MEMBER_TRIGGER_KEY_LEDGER] = ":ledger",
        [NGX_HTTP_MEMBER_TRIGGER_KEY_LOTS] = ":lots",
        [NGX_HTTP_MEMBER_TRIGGER_KEY_MSGS] = ":wx:msgs"
    };

    ngx_http_member_keys_in(keys, suffix, NGX_HTTP_MEMBER_TRIGGER_NKEYS,
                            kb[0], id);

    ngx_memcpy(args, c->args, sizeof(args));
    args[NGX_HTTP_MEMBER_TRIGGER_ARGV_MEMBER_ID] =
                               ngx_http_member_num_in(ids, (int64_t) id);

    /* the welcome of a fresh activation is sure; the pass looks back */
    if (source == NGX_HTTP_MEMBER_CAMPAIGN_NEW) {
        ngx_str_set(&args[NGX_HTTP_MEMBER_TRIGGER_ARGV_WELCOME_SINCE], "0");
    }

    if (ngx_http_member_job_script(c->job,
                                   ngx_http_member_campaigns_triggered,
                                   source, NGX_HTTP_MEMBER_SCRIPT_TRIGGER,
                                   NGX_HTTP_MEMBER_BG_SHA1, keys, 0, args, 0)
        == NGX_OK)
    {
        c->visited++;
    }
}


/* the lot the points went into is swept in time: docs/ledger.md */

static void
ngx_http_member_campaigns_due(ngx_http_member_campaigns_t *c,
    redisReply *id, long long lot)
{
    u_char     sc[NGX_INT64_LEN];
    ngx_str_t  member;

    if (lot == 0 || id->type != REDIS_REPLY_STRING) {
        return;
    }

    member.data = (u_char *) id->str;
    member.len = id->len;

    (void) ngx_http_member_job_command(c->job, NULL, 0,
                        ngx_http_member_args(ngx_string("ZADD"),
                                             ngx_string("ledger:due"),
                                             ngx_string("LT"),
                                             ngx_http_member_num_in(sc,
                                                 (int64_t) lot),
                                             member));
}


/* the recall's coupon by the coupons' issue script, once per silence */

static void
ngx_http_member_campaigns_recall(ngx_http_member_campaigns_t *c, uint64_t id,
    int64_t since, ngx_uint_t source)
{
    u_char      kb[NGX_HTTP_MEMBER_COUPON_ISSUE_NKEYS]
                  [NGX_HTTP_MEMBER_KEY_IN_LEN];
    u_char      nums[3][NGX_INT64_LEN + 8];
    ngx_str_t   keys[NGX_HTTP_MEMBER_COUPON_ISSUE_NKEYS];
    ngx_str_t   args[NGX_HTTP_MEMBER_COUPON_ISSUE_NARGV], *a;

    static const char  *suffix[NGX_HTTP_MEMBER_COUPON_ISSUE_NKEYS] = {
        [NGX_HTTP_MEMBER_COUPON_ISSUE_KEY_MEMBER] = "",
        [NGX_HTTP_MEMBER_COUPON_ISSUE_KEY_LEDGER] = ":ledger",
        [NGX_HTTP_MEMBER_COUPON_ISSUE_KEY_IDEM] = NULL,
        [NGX_HTTP_MEMBER_COUPON_ISSUE_KEY_COUPONS] = ":coupons"
    };

    ngx_http_member_keys_in(keys, suffix, NGX_HTTP_MEMBER_COUPON_ISSUE_NKEYS,
                            kb[0], id);

    a = &keys[NGX_HTTP_MEMBER_COUPON_ISSUE_KEY_IDEM];
    a->data = kb[NGX_HTTP_MEMBER_COUPON_ISSUE_KEY_IDEM];
    a->len = ngx_sprintf(a->data, "{m:%uL}:idem:coupon:recall:%L", id, since)
             - a->data;

    ngx_str_set(&args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_FINGERPRINT],
                "coupon:recall");
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_TERMS].data = c->terms;
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_TERMS].len = c->terms_len;
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_NOW] =
                                  c->args[NGX_HTTP_MEMBER_TRIGGER_ARGV_NOW];
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_TTL] =
               ngx_http_member_num_in(nums[0], NGX_HTTP_MEMBER_IDEM_TTL);

    a = &args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_IDEM_KEY];
    a->data = nums[1];
    a->len = ngx_sprintf(nums[1], "recall:%L", since) - nums[1];

    ngx_str_set(&args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_TEMPLATE], "recall");
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_EXPIRES_AT].data = c->expires;
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_EXPIRES_AT].len = c->expires_len;
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_NAME].data = c->coupon_name;
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_NAME].len = c->coupon_len;
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_MEMBER_ID] =
                           ngx_http_member_num_in(nums[2], (int64_t) id);

    /* the trigger's answer hinted the member: no second hint */
    (void) ngx_http_member_job_script(c->job,
                                      ngx_http_member_campaigns_issued,
                                      source,
                                      NGX_HTTP_MEMBER_SCRIPT_COUPON_ISSUE,
                                      NGX_HTTP_MEMBER_BG_UNHINTED, keys, 0,
                                      args, 0);
}


/* issued now or before: the member's recall is complete */

static void
ngx_http_member_campaigns_issued(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t tag)
{
    u_char                       *p, *last, key[NGX_INT64_LEN + 16];
    uint64_t                      id;
    ngx_http_member_campaigns_t  *c;

    c = ngx_http_member_campaigns_current(job, reply, 1);

    if (c == NULL) {
        return;
    }

    /* {"issued"|"seen", "c<member id>-<n>"} */
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[1]->type == REDIS_REPLY_STRING
        && reply->element[1]->len > 1)
    {
        p = (u_char *) reply->element[1]->str + 1;
        last = ngx_strlchr(p, p + reply->element[1]->len - 1, '-');

        if (last && ngx_http_member_parse_id(p, last - p, &id) == NGX_OK) {
            (void) ngx_http_member_job_command(c->job, NULL, 0,
                        ngx_http_member_args(ngx_string("HDEL"),
                                             ngx_http_member_key_in(
                                                 key, id, ""),
                                             ngx_string("recall_coupon")));
        }
    }
}


static void
ngx_http_member_campaigns_triggered(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t source)
{
    u_char                        kb[NGX_HTTP_MEMBER_REFERRAL_NKEYS]
                                    [NGX_HTTP_MEMBER_KEY_IN_LEN];
    u_char                        nums[2][NGX_INT64_LEN];
    uint64_t                      referrer, id;
    ngx_str_t                     keys[NGX_HTTP_MEMBER_REFERRAL_NKEYS];
    ngx_str_t                     args[NGX_HTTP_MEMBER_REFERRAL_NARGV];
    ngx_str_t                     member;
    redisReply                   *state;
    ngx_http_member_campaigns_t  *c;

    static const char  *suffix[NGX_HTTP_MEMBER_REFERRAL_NKEYS] = {
        [NGX_HTTP_MEMBER_REFERRAL_KEY_MEMBER] = "",
        [NGX_HTTP_MEMBER_REFERRAL_KEY_LEDGER] = ":ledger",
        [NGX_HTTP_MEMBER_REFERRAL_KEY_LOTS] = ":lots",
        [NGX_HTTP_MEMBER_REFERRAL_KEY_REFERRALS] = ":referrals"
    };

    c = ngx_http_member_campaigns_current(job, reply, 1);

    if (c == NULL) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 7
        || reply->element[1]->type != REDIS_REPLY_INTEGER
        || reply->element[2]->type != REDIS_REPLY_INTEGER
        || reply->element[4]->type != REDIS_REPLY_STRING
        || reply->element[5]->type != REDIS_REPLY_INTEGER
        || reply->element[6]->type != REDIS_REPLY_INTEGER
        || ngx_http_member_campaigns_str_id(reply->element[0], &id) != NGX_OK)
    {
        ngx_http_member_campaigns_stop(c);
        return;
    }

    /*
     * a trigger's entries (points, a coupon) reach the brand's numbers,
     * and those it wrote (or a message) the WeChat outbox: docs/outbox.md
     */
    if (reply->element[6]->integer) {
        ngx_http_member_ledger_hint(job->redis, id);

    } else {
        ngx_http_member_fold_hint(job->redis, id);
    }

    if (reply->element[1]->integer > 0) {
        ngx_http_member_campaigns_due(c, reply->element[0],
                                      reply->element[2]->integer);
    }

    if (reply->element[5]->integer > 0 && c->coupon) {
        ngx_http_member_campaigns_recall(c, id, reply->element[5]->integer,
                                         source);
    }

    state = reply->element[4];

    if (state->len == 7 && ngx_strncmp(state->str, "pending", 7) == 0
        && c->referral
        && ngx_http_member_campaigns_str_id(reply->element[3], &referrer)
           == NGX_OK)
    {
        ngx_http_member_keys_in(keys, suffix, NGX_HTTP_MEMBER_REFERRAL_NKEYS,
                                kb[0], referrer);

        args[NGX_HTTP_MEMBER_REFERRAL_ARGV_REFERRER].data =
                                             (u_char *) reply->element[3]->str;
        args[NGX_HTTP_MEMBER_REFERRAL_ARGV_REFERRER].len =
                                                       reply->element[3]->len;
        args[NGX_HTTP_MEMBER_REFERRAL_ARGV_REFEREE].data =
                                             (u_char *) reply->element[0]->str;
        args[NGX_HTTP_MEMBER_REFERRAL_ARGV_REFEREE].len =
                                                       reply->element[0]->len;
        args[NGX_HTTP_MEMBER_REFERRAL_ARGV_POINTS] =
                 ngx_http_member_num_in(nums[0], c->referrer_points);
        args[NGX_HTTP_MEMBER_REFERRAL_ARGV_MAX_PER_REFERRER] =
                ngx_http_member_num_in(nums[1], c->max_per_referrer);
        args[NGX_HTTP_MEMBER_REFERRAL_ARGV_NOW] =
                                  c->args[NGX_HTTP_MEMBER_TRIGGER_ARGV_NOW];
        args[NGX_HTTP_MEMBER_REFERRAL_ARGV_LOT] =
                                  c->args[NGX_HTTP_MEMBER_TRIGGER_ARGV_LOT];
        args[NGX_HTTP_MEMBER_REFERRAL_ARGV_VERSION] =
                              c->args[NGX_HTTP_MEMBER_TRIGGER_ARGV_VERSION];

        (void) ngx_http_member_job_script(job,
                                          ngx_http_member_campaigns_referred,
                                          source,
                                          NGX_HTTP_MEMBER_SCRIPT_REFERRAL,
                                          NGX_HTTP_MEMBER_BG_SHA1, keys, 0,
                                          args, 0);

    } else if (source == NGX_HTTP_MEMBER_CAMPAIGN_REFEREES
               && ((state->len == 4 && ngx_strncmp(state->str, "none", 4) == 0)
                   || (state->len == 4
                       && ngx_strncmp(state->str, "done", 4) == 0)))
    {
        member.data = (u_char *) reply->element[0]->str;
        member.len = reply->element[0]->len;

        (void) ngx_http_member_job_command(c->job, NULL, 0,
                        ngx_http_member_args(ngx_string("SREM"),
                                         ngx_http_member_campaigns_referees,
                                         member));
    }
}


/* the referrer's side is done (or capped, or moot): the referee's is too */

static void
ngx_http_member_campaigns_referred(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t tag)
{
    u_char                        kb[NGX_INT64_LEN + 16];
    uint64_t                      referrer;
    ngx_str_t                     key, referee;
    ngx_http_member_campaigns_t  *c;

    c = ngx_http_member_campaigns_current(job, reply, 1);

    if (c == NULL) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[3]->type != REDIS_REPLY_INTEGER
        || reply->element[4]->type != REDIS_REPLY_INTEGER)
    {
        ngx_http_member_campaigns_stop(c);
        return;
    }

    if (reply->element[3]->integer > 0) {
        ngx_http_member_campaigns_due(c, reply->element[0],
                                      reply->element[4]->integer);

        if (ngx_http_member_campaigns_str_id(reply->element[0], &referrer)
            == NGX_OK)
        {
            ngx_http_member_ledger_hint(job->redis, referrer);
        }
    }

    referee.data = (u_char *) reply->element[1]->str;
    referee.len = reply->element[1]->len;
    key.data = kb;
    key.len = ngx_snprintf(kb, sizeof(kb), "{m:%V}", &referee) - kb;

    (void) ngx_http_member_job_command(c->job, NULL, 0,
                        ngx_http_member_args(ngx_string("HSET"), key,
                                 ngx_string("referral_done"),
                                 c->args[NGX_HTTP_MEMBER_TRIGGER_ARGV_NOW]));

    (void) ngx_http_member_job_command(c->job, NULL, 0,
                        ngx_http_member_args(ngx_string("SREM"),
                                         ngx_http_member_campaigns_referees,
                                         referee));
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

    /* the step settles once they have all answered */
    for (i = 0; i < ids->elements && job->busy; i++) {
        if (ngx_http_member_campaigns_str_id(ids->element[i], &id) == NGX_OK) {
            ngx_http_member_campaigns_trigger(c, id, source);
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
        ngx_http_member_campaigns_trigger(c, id,
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
                                         2, &ngx_http_member_cmd_hgetall,
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
                                         4, &ngx_http_member_campaigns_hset,
                                         &ngx_http_member_campaigns_key,
                                         &ngx_http_member_campaigns_run, now);
}


/*
 * Invite codes: 8 base32 characters of HMAC-SHA256 under a key derived
 * from member_pii_key ("referral-code"), then the member id.  The code
 * names its member without an index, and nobody can make one for an id.
 */

static ngx_int_t
ngx_http_member_invite_mac(ngx_http_member_key_t *key, uint64_t id,
    u_char *out)
{
    u_char        k[32], msg[NGX_INT64_LEN], mac[EVP_MAX_MD_SIZE];
    uint64_t      bits;
    ngx_uint_t    i;
    unsigned int  len;

    if (ngx_http_member_pii_derive(key, "referral-code", k) != NGX_OK) {
        return NGX_ERROR;
    }

    if (HMAC(EVP_sha256(), k, sizeof(k), msg,
             ngx_sprintf(msg, "%uL", id) - msg, mac, &len)
        == NULL)
    {
        OPENSSL_cleanse(k, sizeof(k));
        return NGX_ERROR;
    }

    OPENSSL_cleanse(k, sizeof(k));

    bits = 0;

    for (i = 0; i < 5; i++) {
        bits = (bits << 8) | mac[i];
    }

    for (i = 0; i < NGX_HTTP_MEMBER_INVITE_MAC; i++) {
        out[i] = ngx_http_member_base32[(bits >> (35 - 5 * i)) & 31];
    }

    return NGX_OK;
}


/*
 * The member an invite code names: NGX_OK and *id for a code of any key
 * line (codes outlive a key rotation), NGX_DECLINED for anything else,
 * NGX_ERROR when the MAC cannot be made.
 */

ngx_int_t
ngx_http_member_invite_id(ngx_http_request_t *r, u_char *s, size_t len,
    uint64_t *id)
{
    u_char                       code[NGX_HTTP_MEMBER_INVITE_MAX];
    u_char                       mac[NGX_HTTP_MEMBER_INVITE_MAC];
    size_t                       i;
    ngx_uint_t                   ok;
    ngx_http_member_key_t       *key;
    ngx_http_member_loc_conf_t  *mlcf;

    if (s == NULL || len <= NGX_HTTP_MEMBER_INVITE_MAC
        || len > NGX_HTTP_MEMBER_INVITE_MAX)
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < len; i++) {
        code[i] = ngx_toupper(s[i]);
    }

    if (ngx_http_member_parse_id(code + NGX_HTTP_MEMBER_INVITE_MAC,
                                 len - NGX_HTTP_MEMBER_INVITE_MAC, id)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);
    ok = 0;

    if (mlcf->keys) {
        key = mlcf->keys->elts;

        for (i = 0; i < mlcf->keys->nelts; i++) {
            if (ngx_http_member_invite_mac(&key[i], *id, mac) != NGX_OK) {
                return NGX_ERROR;
            }

            ok |= CRYPTO_memcmp(mac, code, NGX_HTTP_MEMBER_INVITE_MAC) == 0;
        }
    }

    return ok ? NGX_OK : NGX_DECLINED;
}


/* POST register's invite_code: 400 for a code unknown or one's own */

ngx_int_t
ngx_http_member_invite(ngx_http_request_t *r, json_t *json, uint64_t self,
    uint64_t *referrer)
{
    json_t     *v;
    uint64_t    id;
    ngx_int_t   rc;

    *referrer = 0;
    v = json_object_get(json, "invite_code");

    if (v == NULL || json_is_null(v)) {
        return NGX_DECLINED;
    }

    rc = ngx_http_member_invite_id(r, (u_char *) json_string_value(v),
                                   json_is_string(v) ? json_string_length(v)
                                                     : 0,
                                   &id);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "invite_code: no such invite code");
    }

    if (id == self) {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "invite_code: one's own code");
    }

    *referrer = id;

    return NGX_DECLINED;
}


/* a member's invite code: the MAC, then the id, NUL-terminated */

u_char *
ngx_http_member_invite_code(ngx_http_request_t *r, uint64_t id)
{
    u_char                 *code, *p, mac[NGX_HTTP_MEMBER_INVITE_MAC];
    ngx_http_member_key_t  *key;

    key = ngx_http_member_key_find(r, NULL);

    if (key == NULL || ngx_http_member_invite_mac(key, id, mac) != NGX_OK) {
        return NULL;
    }

    code = ngx_pnalloc(r->pool, NGX_HTTP_MEMBER_INVITE_CODE_LEN + 1);
    if (code == NULL) {
        return NULL;
    }

    p = ngx_sprintf(code, "%*s%uL", (size_t) NGX_HTTP_MEMBER_INVITE_MAC, mac,
                    id);
    *p = '\0';

    return code;
}
