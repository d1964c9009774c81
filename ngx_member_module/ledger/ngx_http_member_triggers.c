
/*
 * ngx_member: the campaigns' triggers and referrals on one member
 * (docs/campaigns.md).
 *
 * For each member the campaigns' job (ngx_http_member_campaigns.c) looks
 * at, trigger.lua with the arguments of this tick (the rules' triggers,
 * today's birthdays, the lot), then what its answer asks for: the sweep of
 * the lot the points went into, the recall's coupon (coupon_issue.lua),
 * the referrer's reward (referral.lua).
 */


#include "ngx_member_ledger.h"


#define NGX_HTTP_MEMBER_WELCOME_WINDOW    (7 * 86400)


/* the timer: one tick's work after the ledger's sweep */

static ngx_int_t
ngx_http_member_triggers_points(json_t *triggers, const char *name)
{
    json_t  *v;

    v = json_object_get(triggers, name);

    return v ? (ngx_int_t) json_integer_value(json_object_get(v, "points"))
             : -1;
}


static void
ngx_http_member_triggers_arg(ngx_http_member_campaigns_t *c, ngx_uint_t i,
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
ngx_http_member_triggers_recall_coupon(ngx_http_member_campaigns_t *c,
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

void
ngx_http_member_triggers_prepare(ngx_http_member_campaigns_t *c)
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

    ngx_http_member_triggers_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_NOW, &p,
                                 NULL, c->now);
    ngx_http_member_triggers_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_YEAR, &p,
                                 NULL, b.year);
    ngx_http_member_triggers_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_TODAY, &p,
                                 b.mmdd, 0);

    /* a birthday on 29 February is kept on the 28th of a common year */
    ngx_http_member_triggers_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_ALSO_TODAY,
                                 &p, b.also, 0);
    ngx_http_member_triggers_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_LOT, &p,
                                 NULL, c->lot);
    ngx_http_member_triggers_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_VERSION, &p,
                                 NULL, c->version);
    ngx_http_member_triggers_arg(c,
                   NGX_HTTP_MEMBER_TRIGGER_ARGV_WELCOME_POINTS, &p, NULL,
                   ngx_http_member_triggers_points(triggers, "welcome"));
    ngx_http_member_triggers_arg(c,
                   NGX_HTTP_MEMBER_TRIGGER_ARGV_WELCOME_SINCE, &p, NULL,
                   c->now - NGX_HTTP_MEMBER_WELCOME_WINDOW);
    ngx_http_member_triggers_arg(c,
                   NGX_HTTP_MEMBER_TRIGGER_ARGV_BIRTHDAY_POINTS, &p, NULL,
                   ngx_http_member_triggers_points(triggers, "birthday"));

    v = json_object_get(json_object_get(triggers, "birthday"), "when");
    ngx_http_member_triggers_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_BIRTHDAY_BY,
                                 &p, v ? json_string_value(v) : "month", 0);

    v = json_object_get(triggers, "recall");
    ngx_http_member_triggers_arg(c,
                 NGX_HTTP_MEMBER_TRIGGER_ARGV_RECALL_AFTER, &p, NULL,
                 v ? json_integer_value(json_object_get(v, "silent_days"))
                     * 86400 : 0);
    ngx_http_member_triggers_arg(c,
                 NGX_HTTP_MEMBER_TRIGGER_ARGV_RECALL_POINTS, &p, NULL,
                 v ? json_integer_value(json_object_get(v, "points")) : 0);
    ngx_http_member_triggers_arg(c,
                 NGX_HTTP_MEMBER_TRIGGER_ARGV_ANNIVERSARY_POINTS, &p, NULL,
                 ngx_http_member_triggers_points(triggers, "anniversary"));
    ngx_http_member_triggers_arg(c, NGX_HTTP_MEMBER_TRIGGER_ARGV_REFERRAL,
                                 &p, c->referral ? "1" : "0", 0);
    ngx_http_member_triggers_arg(c,
                 NGX_HTTP_MEMBER_TRIGGER_ARGV_REFEREE_POINTS, &p, NULL,
                 json_integer_value(json_object_get(referral,
                                                    "referee_points")));

    ngx_http_member_triggers_recall_coupon(c,
        json_object_get(json_object_get(triggers, "recall"), "coupon"));

    /* a name is a JSON string: the args buffer holds numbers only */
    c->args[NGX_HTTP_MEMBER_TRIGGER_ARGV_RECALL_COUPON].data =
                                                              c->coupon_name;
    c->args[NGX_HTTP_MEMBER_TRIGGER_ARGV_RECALL_COUPON].len = c->coupon_len;

    ngx_http_member_triggers_arg(c,
                 NGX_HTTP_MEMBER_TRIGGER_ARGV_NOTICE_BEFORE, &p, NULL,
                 ngx_http_member_messages_notice(rules));
}


/* trigger.lua on one member */

static void ngx_http_member_triggers_answered(
    ngx_http_member_job_t *job, redisReply *reply, ngx_uint_t tag);
static void ngx_http_member_triggers_referred(
    ngx_http_member_job_t *job, redisReply *reply, ngx_uint_t tag);
static void ngx_http_member_triggers_issued(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t tag);


void
ngx_http_member_triggers_run(ngx_http_member_campaigns_t *c,
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
                                   ngx_http_member_triggers_answered,
                                   source, NGX_HTTP_MEMBER_SCRIPT_TRIGGER,
                                   NGX_HTTP_MEMBER_BG_SHA1, keys, 0, args, 0)
        == NGX_OK)
    {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->job->redis->log, 0,
                       "member: campaigns: trigger of member %uL sent, "
                       "step %ui", id, source);

        c->visited++;
    }
}


/* the lot the points went into is swept in time: docs/ledger.md */

static void
ngx_http_member_triggers_due(ngx_http_member_campaigns_t *c,
    redisReply *id, long long lot)
{
    u_char     sc[NGX_INT64_LEN], kb[NGX_HTTP_MEMBER_BUCKET_KEY_LEN];
    uint64_t   n;
    ngx_str_t  member;

    if (lot == 0 || id->type != REDIS_REPLY_STRING
        || ngx_http_member_parse_id((u_char *) id->str, id->len, &n)
           != NGX_OK)
    {
        return;
    }

    member.data = (u_char *) id->str;
    member.len = id->len;

    /* the member's bucket of the due set */
    (void) ngx_http_member_job_command(c->job, NULL, 0,
                        ngx_http_member_args(ngx_string("ZADD"),
                                             ngx_http_member_bucket_of(kb,
                                                 NGX_HTTP_MEMBER_BUCKET_DUE,
                                                 n),
                                             ngx_string("LT"),
                                             ngx_http_member_num_in(sc,
                                                 (int64_t) lot),
                                             member));
}


/* the recall's coupon by the coupons' issue script, once per silence */

static void
ngx_http_member_triggers_recall(ngx_http_member_campaigns_t *c, uint64_t id,
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
                                      ngx_http_member_triggers_issued,
                                      source,
                                      NGX_HTTP_MEMBER_SCRIPT_COUPON_ISSUE,
                                      NGX_HTTP_MEMBER_BG_UNHINTED, keys, 0,
                                      args, 0);
}


/* issued now or before: the member's recall is complete */

static void
ngx_http_member_triggers_issued(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t tag)
{
    u_char                       *p, *last, key[NGX_INT64_LEN + 16];
    uint64_t                      id;
    ngx_http_member_campaigns_t  *c;

    c = ngx_http_member_campaigns_current(job, reply, 1);

    if (c == NULL) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, job->redis->log, 0,
                   "member: campaigns: recall coupon answered, type %d",
                   reply->type);

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
ngx_http_member_triggers_answered(ngx_http_member_job_t *job,
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

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, job->redis->log, 0,
                   "member: campaigns: trigger answered, type %d",
                   reply->type);

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
        ngx_http_member_triggers_due(c, reply->element[0],
                                     reply->element[2]->integer);
    }

    if (reply->element[5]->integer > 0 && c->coupon) {
        ngx_http_member_triggers_recall(c, id, reply->element[5]->integer,
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
                                          ngx_http_member_triggers_referred,
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
ngx_http_member_triggers_referred(ngx_http_member_job_t *job,
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

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, job->redis->log, 0,
                   "member: campaigns: referral answered, type %d",
                   reply->type);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[3]->type != REDIS_REPLY_INTEGER
        || reply->element[4]->type != REDIS_REPLY_INTEGER)
    {
        ngx_http_member_campaigns_stop(c);
        return;
    }

    if (reply->element[3]->integer > 0) {
        ngx_http_member_triggers_due(c, reply->element[0],
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
