
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

#include "ngx_http_member_module.h"


#define NGX_HTTP_MEMBER_CAMPAIGN_BATCH    100
#define NGX_HTTP_MEMBER_CAMPAIGN_BATCH_S  "100"
#define NGX_HTTP_MEMBER_CAMPAIGN_TICK     2000      /* members a tick */
#define NGX_HTTP_MEMBER_WELCOME_WINDOW    (7 * 86400)
#define NGX_HTTP_MEMBER_INVITE_MAC        8         /* base32 characters */
#define NGX_HTTP_MEMBER_INVITE_MAX        32

#define NGX_HTTP_MEMBER_TRIGGER_ARGS      17        /* ARGV 2..18 */
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
    u_char                        sha[3][40];
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

    /* trigger.lua's ARGV 2..18 for this tick; 9 is the pass's */
    const char                   *args[NGX_HTTP_MEMBER_TRIGGER_ARGS];
    size_t                        lens[NGX_HTTP_MEMBER_TRIGGER_ARGS];
    u_char                        buf[NGX_HTTP_MEMBER_TRIGGER_ARGS
                                      * (NGX_INT64_LEN + 1)];

    unsigned                      triggers:1;
    unsigned                      referral:1;
};


static void ngx_http_member_campaigns_step(ngx_http_member_campaigns_t *c);
static void ngx_http_member_campaigns_stop(ngx_http_member_campaigns_t *c);
static void ngx_http_member_campaigns_loaded(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t which);


static ngx_str_t  ngx_http_member_campaigns_key = ngx_string("{b}:campaigns");
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
    c->args[i] = (const char *) *p;

    if (s) {
        c->lens[i] = ngx_sprintf(*p, "%s", s) - *p;

    } else {
        c->lens[i] = ngx_sprintf(*p, "%L", n) - *p;
    }

    *p += c->lens[i];
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

    ngx_http_member_campaigns_arg(c, 0, &p, NULL, c->now);
    ngx_http_member_campaigns_arg(c, 1, &p, NULL, b.year);
    ngx_http_member_campaigns_arg(c, 2, &p, b.mmdd, 0);

    /* a birthday on 29 February is kept on the 28th of a common year */
    ngx_http_member_campaigns_arg(c, 3, &p, b.also, 0);
    ngx_http_member_campaigns_arg(c, 4, &p, NULL, c->lot);
    ngx_http_member_campaigns_arg(c, 5, &p, NULL, c->version);
    ngx_http_member_campaigns_arg(c, 6, &p, NULL,
                   ngx_http_member_campaigns_points(triggers, "welcome"));
    ngx_http_member_campaigns_arg(c, 7, &p, NULL,
                                  c->now - NGX_HTTP_MEMBER_WELCOME_WINDOW);
    ngx_http_member_campaigns_arg(c, 8, &p, NULL,
                   ngx_http_member_campaigns_points(triggers, "birthday"));

    v = json_object_get(json_object_get(triggers, "birthday"), "when");
    ngx_http_member_campaigns_arg(c, 9, &p,
                                  v ? json_string_value(v) : "month", 0);

    v = json_object_get(triggers, "recall");
    ngx_http_member_campaigns_arg(c, 10, &p, NULL,
                 v ? json_integer_value(json_object_get(v, "silent_days"))
                     * 86400 : 0);
    ngx_http_member_campaigns_arg(c, 11, &p, NULL,
                 v ? json_integer_value(json_object_get(v, "points")) : 0);
    ngx_http_member_campaigns_arg(c, 12, &p, NULL,
                   ngx_http_member_campaigns_points(triggers, "anniversary"));
    ngx_http_member_campaigns_arg(c, 13, &p, c->referral ? "1" : "0", 0);
    ngx_http_member_campaigns_arg(c, 14, &p, NULL,
                 json_integer_value(json_object_get(referral,
                                                    "referee_points")));

    ngx_http_member_campaigns_recall_coupon(c,
        json_object_get(json_object_get(triggers, "recall"), "coupon"));

    /* a name is a JSON string: the args buffer holds numbers only */
    c->args[15] = c->coupon ? c->coupon : "";
    c->lens[15] = c->coupon_len;

    ngx_http_member_campaigns_arg(c, 16, &p, NULL,
                 ngx_http_member_messages_notice(rules));
}


void
ngx_http_member_campaigns_tick(ngx_http_member_job_t *job)
{
    size_t                        argvlen[3];
    const char                   *argv[3];
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
    argv[0] = "SCRIPT";
    argvlen[0] = 6;
    argv[1] = "LOAD";
    argvlen[1] = 4;
    argv[2] = ngx_http_member_script_srcs[NGX_HTTP_MEMBER_SCRIPT_TRIGGER].text;
    argvlen[2] = ngx_http_member_script_srcs[NGX_HTTP_MEMBER_SCRIPT_TRIGGER].len;

    if (ngx_http_member_job_send(job, ngx_http_member_campaigns_loaded, 0, 3,
                                 argv, argvlen)
        != NGX_OK)
    {
        return;
    }

    argv[2] = ngx_http_member_script_srcs[NGX_HTTP_MEMBER_SCRIPT_REFERRAL].text;
    argvlen[2] =
        ngx_http_member_script_srcs[NGX_HTTP_MEMBER_SCRIPT_REFERRAL].len;

    if (ngx_http_member_job_send(job, ngx_http_member_campaigns_loaded, 1, 3,
                                 argv, argvlen)
        != NGX_OK)
    {
        return;
    }

    /* the coupons' own issue script (ngx_http_member_coupons.c) */
    argv[2] =
        ngx_http_member_script_srcs[NGX_HTTP_MEMBER_SCRIPT_COUPON_ISSUE].text;
    argvlen[2] =
        ngx_http_member_script_srcs[NGX_HTTP_MEMBER_SCRIPT_COUPON_ISSUE].len;

    (void) ngx_http_member_job_send(job, ngx_http_member_campaigns_loaded, 2,
                                    3, argv, argvlen);
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
    size_t                        argvlen[6];
    const char                   *argv[6];
    ngx_http_member_campaigns_t  *c;

    c = ngx_http_member_campaigns_current(job, reply, 0);

    if (c == NULL) {
        return;
    }

    if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
        ngx_http_member_campaigns_stop(c);
        return;
    }

    ngx_memcpy(c->sha[which], reply->str, 40);

    if (which != 2) {
        return;
    }

    argv[0] = "HMGET";
    argvlen[0] = 5;
    argv[1] = (const char *) ngx_http_member_campaigns_key.data;
    argvlen[1] = ngx_http_member_campaigns_key.len;
    argv[2] = "day";
    argvlen[2] = 3;
    argv[3] = "cursor";
    argvlen[3] = 6;
    argv[4] = "run";
    argvlen[4] = 3;
    argv[5] = "rcursor";
    argvlen[5] = 7;

    (void) ngx_http_member_job_send(job, ngx_http_member_campaigns_state, 0,
                                    6, argv, argvlen);
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
    size_t                        argvlen[2];
    redisReply                   *day, *e;
    ngx_uint_t                    fresh;
    const char                   *argv[2];
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

    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = (const char *) ngx_http_member_seq_key.data;
    argvlen[1] = ngx_http_member_seq_key.len;

    /* the run asked for rides in the second bit */
    (void) ngx_http_member_job_send(job, ngx_http_member_campaigns_seq,
                                    fresh | (reply->element[2]->type
                                             == REDIS_REPLY_STRING) << 1,
                                    2, argv, argvlen);
}


static void
ngx_http_member_campaigns_seq(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t fresh)
{
    u_char                        now[NGX_TIME_T_LEN];
    size_t                        argvlen[10];
    const char                   *argv[10];
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
        argv[0] = "HDEL";
        argvlen[0] = 4;
        argv[1] = (const char *) ngx_http_member_campaigns_key.data;
        argvlen[1] = ngx_http_member_campaigns_key.len;
        argv[2] = "run";
        argvlen[2] = 3;

        ngx_http_member_job_fire(c->job, 3, argv, argvlen);
    }

    if (fresh && c->cursor) {
        /* the pass of today starts */
        argv[0] = "HSET";
        argvlen[0] = 4;
        argv[1] = (const char *) ngx_http_member_campaigns_key.data;
        argvlen[1] = ngx_http_member_campaigns_key.len;
        argv[2] = "day";
        argvlen[2] = 3;
        argv[3] = (const char *) c->today;
        argvlen[3] = 10;
        argv[4] = "cursor";
        argvlen[4] = 6;
        argv[5] = "1";
        argvlen[5] = 1;
        argv[6] = "started_at";
        argvlen[6] = 10;
        argv[7] = (const char *) now;
        argvlen[7] = ngx_sprintf(now, "%T", c->now) - now;

        ngx_http_member_job_fire(c->job, 8, argv, argvlen);

        /* a run asked for is being served */
        argv[0] = "HDEL";
        argvlen[0] = 4;
        argv[2] = "run";
        argvlen[2] = 3;

        ngx_http_member_job_fire(c->job, 3, argv, argvlen);
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
    u_char       keys[4][NGX_INT64_LEN + 16], ids[NGX_INT64_LEN];
    size_t       argvlen[8 + NGX_HTTP_MEMBER_TRIGGER_ARGS];
    ngx_uint_t   i;
    const char  *argv[8 + NGX_HTTP_MEMBER_TRIGGER_ARGS];

    argv[0] = "EVALSHA";
    argvlen[0] = 7;
    argv[1] = (const char *) c->sha[0];
    argvlen[1] = 40;
    argv[2] = "4";
    argvlen[2] = 1;

    argv[3] = (const char *) keys[0];
    argvlen[3] = ngx_sprintf(keys[0], "{m:%uL}", id) - keys[0];
    argv[4] = (const char *) keys[1];
    argvlen[4] = ngx_sprintf(keys[1], "{m:%uL}:ledger", id) - keys[1];
    argv[5] = (const char *) keys[2];
    argvlen[5] = ngx_sprintf(keys[2], "{m:%uL}:lots", id) - keys[2];
    argv[6] = (const char *) keys[3];
    argvlen[6] = ngx_sprintf(keys[3], "{m:%uL}:wx:msgs", id) - keys[3];
    argv[7] = (const char *) ids;
    argvlen[7] = ngx_sprintf(ids, "%uL", id) - ids;

    for (i = 0; i < NGX_HTTP_MEMBER_TRIGGER_ARGS; i++) {
        argv[8 + i] = c->args[i];
        argvlen[8 + i] = c->lens[i];
    }

    /* the welcome of a fresh activation is sure; the pass looks back */
    if (source == NGX_HTTP_MEMBER_CAMPAIGN_NEW) {
        argv[8 + 7] = "0";
        argvlen[8 + 7] = 1;
    }

    if (ngx_http_member_job_send(c->job, ngx_http_member_campaigns_triggered,
                                 source, 8 + i, argv, argvlen)
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
    u_char       score[NGX_INT64_LEN];
    size_t       argvlen[5];
    const char  *argv[5];

    if (lot == 0 || id->type != REDIS_REPLY_STRING) {
        return;
    }

    argv[0] = "ZADD";
    argvlen[0] = 4;
    argv[1] = "ledger:due";
    argvlen[1] = sizeof("ledger:due") - 1;
    argv[2] = "LT";
    argvlen[2] = 2;
    argv[3] = (const char *) score;
    argvlen[3] = ngx_sprintf(score, "%L", (int64_t) lot) - score;
    argv[4] = id->str;
    argvlen[4] = id->len;

    ngx_http_member_job_fire(c->job, 5, argv, argvlen);
}


/* the recall's coupon by the coupons' issue script, once per silence */

static void
ngx_http_member_campaigns_recall(ngx_http_member_campaigns_t *c, uint64_t id,
    int64_t since, ngx_uint_t source)
{
    u_char       keys[4][NGX_INT64_LEN + 48], nums[3][NGX_INT64_LEN + 8];
    size_t       argvlen[16];
    const char  *argv[16];

    argv[0] = "EVALSHA";
    argvlen[0] = 7;
    argv[1] = (const char *) c->sha[2];
    argvlen[1] = 40;
    argv[2] = "4";
    argvlen[2] = 1;
    argv[3] = (const char *) keys[0];
    argvlen[3] = ngx_sprintf(keys[0], "{m:%uL}", id) - keys[0];
    argv[4] = (const char *) keys[1];
    argvlen[4] = ngx_sprintf(keys[1], "{m:%uL}:ledger", id) - keys[1];
    argv[5] = (const char *) keys[2];
    argvlen[5] = ngx_sprintf(keys[2], "{m:%uL}:idem:coupon:recall:%L", id,
                             since)
                 - keys[2];
    argv[6] = (const char *) keys[3];
    argvlen[6] = ngx_sprintf(keys[3], "{m:%uL}:coupons", id) - keys[3];

    /* fingerprint, terms, now, ttl, key, template, expires, name, id */
    argv[7] = "coupon:recall";
    argvlen[7] = sizeof("coupon:recall") - 1;
    argv[8] = (const char *) c->terms;
    argvlen[8] = c->terms_len;
    argv[9] = c->args[0];
    argvlen[9] = c->lens[0];
    argv[10] = (const char *) nums[0];
    argvlen[10] = ngx_sprintf(nums[0], "%d", NGX_HTTP_MEMBER_IDEM_TTL)
                  - nums[0];
    argv[11] = (const char *) nums[1];
    argvlen[11] = ngx_sprintf(nums[1], "recall:%L", since) - nums[1];
    argv[12] = "recall";
    argvlen[12] = 6;
    argv[13] = (const char *) c->expires;
    argvlen[13] = c->expires_len;
    argv[14] = c->coupon;
    argvlen[14] = c->coupon_len;
    argv[15] = (const char *) nums[2];
    argvlen[15] = ngx_sprintf(nums[2], "%uL", id) - nums[2];

    (void) ngx_http_member_job_send(c->job, ngx_http_member_campaigns_issued,
                                    source, 16, argv, argvlen);
}


/* issued now or before: the member's recall is complete */

static void
ngx_http_member_campaigns_issued(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t tag)
{
    u_char                       *p, *last, key[NGX_INT64_LEN + 16];
    size_t                        argvlen[3];
    uint64_t                      id;
    const char                   *argv[3];
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
            argv[0] = "HDEL";
            argvlen[0] = 4;
            argv[1] = (const char *) key;
            argvlen[1] = ngx_sprintf(key, "{m:%uL}", id) - key;
            argv[2] = "recall_coupon";
            argvlen[2] = sizeof("recall_coupon") - 1;

            ngx_http_member_job_fire(c->job, 3, argv, argvlen);
        }
    }
}


static void
ngx_http_member_campaigns_triggered(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t source)
{
    u_char                        keys[4][NGX_INT64_LEN + 16];
    u_char                        nums[4][NGX_INT64_LEN];
    size_t                        argvlen[14];
    uint64_t                      referrer, id;
    redisReply                   *state;
    const char                   *argv[14];
    ngx_http_member_campaigns_t  *c;

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
        argv[0] = "EVALSHA";
        argvlen[0] = 7;
        argv[1] = (const char *) c->sha[1];
        argvlen[1] = 40;
        argv[2] = "4";
        argvlen[2] = 1;
        argv[3] = (const char *) keys[0];
        argvlen[3] = ngx_sprintf(keys[0], "{m:%uL}", referrer) - keys[0];
        argv[4] = (const char *) keys[1];
        argvlen[4] = ngx_sprintf(keys[1], "{m:%uL}:ledger", referrer)
                     - keys[1];
        argv[5] = (const char *) keys[2];
        argvlen[5] = ngx_sprintf(keys[2], "{m:%uL}:lots", referrer) - keys[2];
        argv[6] = (const char *) keys[3];
        argvlen[6] = ngx_sprintf(keys[3], "{m:%uL}:referrals", referrer)
                     - keys[3];
        argv[7] = reply->element[3]->str;
        argvlen[7] = reply->element[3]->len;
        argv[8] = reply->element[0]->str;
        argvlen[8] = reply->element[0]->len;
        argv[9] = (const char *) nums[0];
        argvlen[9] = ngx_sprintf(nums[0], "%i", c->referrer_points) - nums[0];
        argv[10] = (const char *) nums[1];
        argvlen[10] = ngx_sprintf(nums[1], "%i", c->max_per_referrer)
                      - nums[1];
        argv[11] = c->args[0];
        argvlen[11] = c->lens[0];
        argv[12] = c->args[4];
        argvlen[12] = c->lens[4];
        argv[13] = c->args[5];
        argvlen[13] = c->lens[5];

        (void) ngx_http_member_job_send(job,
                                        ngx_http_member_campaigns_referred,
                                        source, 14, argv, argvlen);

    } else if (source == NGX_HTTP_MEMBER_CAMPAIGN_REFEREES
               && ((state->len == 4 && ngx_strncmp(state->str, "none", 4) == 0)
                   || (state->len == 4
                       && ngx_strncmp(state->str, "done", 4) == 0)))
    {
        argv[0] = "SREM";
        argvlen[0] = 4;
        argv[1] = "{b}:campaigns:referees";
        argvlen[1] = sizeof("{b}:campaigns:referees") - 1;
        argv[2] = reply->element[0]->str;
        argvlen[2] = reply->element[0]->len;

        ngx_http_member_job_fire(c->job, 3, argv, argvlen);
    }
}


/* the referrer's side is done (or capped, or moot): the referee's is too */

static void
ngx_http_member_campaigns_referred(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t tag)
{
    u_char                        key[NGX_INT64_LEN + 16];
    size_t                        argvlen[4];
    uint64_t                      referrer;
    const char                   *argv[4];
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

    argv[0] = "HSET";
    argvlen[0] = 4;
    argv[1] = (const char *) key;
    argvlen[1] = ngx_snprintf(key, sizeof(key), "{m:%*s}",
                              (size_t) reply->element[1]->len,
                              reply->element[1]->str)
                 - key;
    argv[2] = "referral_done";
    argvlen[2] = sizeof("referral_done") - 1;
    argv[3] = c->args[0];
    argvlen[3] = c->lens[0];

    ngx_http_member_job_fire(c->job, 4, argv, argvlen);

    argv[0] = "SREM";
    argv[1] = "{b}:campaigns:referees";
    argvlen[1] = sizeof("{b}:campaigns:referees") - 1;
    argv[2] = reply->element[1]->str;
    argvlen[2] = reply->element[1]->len;

    ngx_http_member_job_fire(c->job, 3, argv, argvlen);
}


/* the steps: members just activated, referees, a slice of the pass */

static void ngx_http_member_campaigns_listed(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t source);
static void ngx_http_member_campaigns_batch(ngx_http_member_campaigns_t *c);


static void
ngx_http_member_campaigns_step(ngx_http_member_campaigns_t *c)
{
    size_t       argvlen[6];
    const char  *argv[6];

    switch (c->step) {

    case NGX_HTTP_MEMBER_CAMPAIGN_NEW:
        if (!c->triggers && !c->referral) {
            /* nothing configured: nothing written either */
            ngx_http_member_campaigns_stop(c);
            return;
        }

        argv[0] = "SPOP";
        argvlen[0] = 4;
        argv[1] = "{b}:campaigns:new";
        argvlen[1] = sizeof("{b}:campaigns:new") - 1;
        argv[2] = NGX_HTTP_MEMBER_CAMPAIGN_BATCH_S;
        argvlen[2] = sizeof(NGX_HTTP_MEMBER_CAMPAIGN_BATCH_S) - 1;

        (void) ngx_http_member_job_send(c->job,
                                        ngx_http_member_campaigns_listed,
                                        c->step, 3, argv, argvlen);
        return;

    case NGX_HTTP_MEMBER_CAMPAIGN_REFEREES:
        if (!c->referral) {
            c->step++;
            ngx_http_member_campaigns_step(c);
            return;
        }

        argv[0] = "SSCAN";
        argvlen[0] = 5;
        argv[1] = "{b}:campaigns:referees";
        argvlen[1] = sizeof("{b}:campaigns:referees") - 1;
        argv[2] = (const char *) c->rcursor;
        argvlen[2] = c->rcursor_len;
        argv[3] = "COUNT";
        argvlen[3] = 5;
        argv[4] = NGX_HTTP_MEMBER_CAMPAIGN_BATCH_S;
        argvlen[4] = sizeof(NGX_HTTP_MEMBER_CAMPAIGN_BATCH_S) - 1;

        (void) ngx_http_member_job_send(c->job,
                                        ngx_http_member_campaigns_listed,
                                        c->step, 5, argv, argvlen);
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
    size_t                        i, argvlen[4];
    uint64_t                      id;
    redisReply                   *ids, *e;
    const char                   *argv[4];
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

        argv[0] = "HSET";
        argvlen[0] = 4;
        argv[1] = (const char *) ngx_http_member_campaigns_key.data;
        argvlen[1] = ngx_http_member_campaigns_key.len;
        argv[2] = "rcursor";
        argvlen[2] = 7;
        argv[3] = (const char *) c->rcursor;
        argvlen[3] = c->rcursor_len;

        ngx_http_member_job_fire(c->job, 4, argv, argvlen);
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
    size_t                        argvlen[8];
    const char                   *argv[8];
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

    argv[0] = "HSET";
    argvlen[0] = 4;
    argv[1] = (const char *) ngx_http_member_campaigns_key.data;
    argvlen[1] = ngx_http_member_campaigns_key.len;
    argv[2] = "cursor";
    argvlen[2] = 6;
    argv[3] = (const char *) cursor;

    if (c->cursor > c->seq) {
        /* the pass is over */
        argvlen[3] = 1;
        cursor[0] = '0';
        argv[4] = "finished_at";
        argvlen[4] = sizeof("finished_at") - 1;
        argv[5] = (const char *) now;
        argvlen[5] = ngx_sprintf(now, "%T", c->now) - now;

        ngx_http_member_job_fire(c->job, 6, argv, argvlen);

        argv[0] = "HINCRBY";
        argvlen[0] = 7;
        argv[2] = "passes";
        argvlen[2] = 6;
        argv[3] = "1";
        argvlen[3] = 1;

        ngx_http_member_job_fire(c->job, 4, argv, argvlen);

        c->cursor = 0;
        c->step++;
        ngx_http_member_campaigns_step(c);
        return;
    }

    argvlen[3] = ngx_sprintf(cursor, "%uL", c->cursor) - cursor;
    ngx_http_member_job_fire(c->job, 4, argv, argvlen);

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

static ngx_str_t  ngx_http_member_campaigns_new =
    ngx_string("{b}:campaigns:new");
static ngx_str_t  ngx_http_member_campaigns_referees =
    ngx_string("{b}:campaigns:referees");


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


/* GET referral: the member's code and the card page's link with it */

ngx_int_t
ngx_http_member_referral(ngx_http_request_t *r)
{
    u_char                  *p, *code, *link, mac[NGX_HTTP_MEMBER_INVITE_MAC];
    json_t                  *answer;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_key_t   *key;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->data;

    if (!(pg->status.len == 6
          && ngx_strncmp(pg->status.data, "active", 6) == 0))
    {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no card yet: claim or register first");
    }

    key = ngx_http_member_key_find(r, NULL);

    if (key == NULL
        || ngx_http_member_invite_mac(key, pg->id, mac) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    code = ngx_pnalloc(r->pool, NGX_HTTP_MEMBER_INVITE_MAC + NGX_INT64_LEN
                                + 1);
    link = ngx_pnalloc(r->pool, sizeof("https:///card/?invite=")
                                + r->headers_in.server.len
                                + NGX_HTTP_MEMBER_INVITE_MAC
                                + NGX_INT64_LEN);
    answer = json_object();

    if (code == NULL || link == NULL || answer == NULL) {
        json_decref(answer);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(code, "%*s%uL", (size_t) NGX_HTTP_MEMBER_INVITE_MAC, mac,
                    pg->id);
    *p = '\0';

    p = ngx_sprintf(link, "%s://%V/card/?invite=%s",
                    ngx_http_member_https(r) ? "https" : "http",
                    &r->headers_in.server, code);

    json_object_set_new(answer, "code", json_string((char *) code));
    json_object_set_new(answer, "link",
                        json_stringn((char *) link, p - link));

    /* cardExt's outer_str: a wallet card claimed with it links the two */
    json_object_set_new(answer, "outer_str", json_string((char *) code));

    return ngx_http_member_send_json(r, NGX_HTTP_OK, answer);
}
