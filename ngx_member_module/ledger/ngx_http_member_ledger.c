
/*
 * ngx_member: the loyalty ledger's glue (docs/ledger.md).
 *
 *   admin:  PUT rules, GET rules[?version=N]     validated, versioned
 *           GET clock, PUT clock {"now"}         with member_test_clock on
 *           PUT members/<id>/level {"level","reason"}
 *           POST members/<id>/points {"delta","reason","idempotency_key"}
 *           POST members/<id>/recharge/refund {"idempotency_key","refund_key"?}
 *   till:   pay and earn (points redeemed, tiers), refund
 *   member: GET points with the lots that expire within 30 days
 *
 * The rules live in Redis under {rules}; the scripts run on one member's
 * slot and never read them: the glue passes what they say, from a copy
 * each worker keeps per Redis for at most a second.  The same copy brings
 * the test clock.  A job of the runner (ngx_http_member_job.c) sweeps due
 * points lots and tier periods, then runs the campaigns, in the worker that
 * holds the lease of ledger:lease.
 */


#include <unistd.h>

#include "ngx_member_ledger.h"


#define NGX_HTTP_MEMBER_RULES_TTL     1000        /* ms */
#define NGX_HTTP_MEMBER_SWEEP_EVERY   1000        /* ms */
#define NGX_HTTP_MEMBER_SWEEP_STUCK   10000       /* ms */
#define NGX_HTTP_MEMBER_SWEEP_BUDGET  300         /* ms: the campaigns' */
#define NGX_HTTP_MEMBER_SWEEP_BATCH   100
#define NGX_HTTP_MEMBER_SWEEP_LIMIT   "100"       /* the same */
#define NGX_HTTP_MEMBER_EXPIRING      (30 * 86400)
#define NGX_HTTP_MEMBER_MAX_TIERS     MRL_TIERS_MAX
#define NGX_HTTP_MEMBER_MAX_POINTS    1000000000


struct ngx_http_member_ledger_s {
    ngx_http_member_redis_t      *redis;
    json_t                       *rules;
    ngx_uint_t                    version;
    time_t                        clock;
    ngx_msec_t                    fetched;
    ngx_flag_t                    test_clock;

    ngx_http_member_job_t         job;        /* the sweep, campaigns */
    uint64_t                      ids[NGX_HTTP_MEMBER_SWEEP_BATCH];
    ngx_uint_t                    nids;
    ngx_uint_t                    next;

    ngx_http_member_campaigns_t  *campaigns;

    unsigned                      loaded:1;
};


typedef ngx_int_t (*ngx_http_member_rules_pt)(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger);


/* per request, in ctx->ledger */
struct ngx_http_member_ledger_req_s {
    ngx_http_member_rules_pt      done;
    ngx_http_member_rules_json_pt json_done;
    uint64_t                      id;
    ngx_str_t                     kind;
    ngx_str_t                     store_id;
    ngx_str_t                     order_id;
    ngx_str_t                     ticket_key;
    ngx_str_t                     ticket_value;
    ngx_str_t                     coupon_id;
    ngx_str_t                     idem;
    ngx_str_t                     text;       /* a level, a reason */
    ngx_str_t                     note;
    ngx_int_t                     amount;
    ngx_int_t                     points;
    json_t                       *json;
    ngx_http_member_clock_pt      clock_done;
    void                        (*settled)(ngx_http_request_t *r,
                                           redisReply *reply);
};


static ngx_str_t  ngx_http_member_rules_key = ngx_string("{rules}");
static ngx_str_t  ngx_http_member_versions_key = ngx_string("{rules}:versions");
static ngx_str_t  ngx_http_member_due_key = ngx_string("ledger:due");
static ngx_str_t  ngx_http_member_hget = ngx_string("HGET");
static ngx_str_t  ngx_http_member_hset = ngx_string("HSET");
static ngx_str_t  ngx_http_member_clock = ngx_string("clock");


static ngx_http_member_ledger_t *ngx_http_member_ledger_of(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_member_ledger_load(ngx_http_member_ledger_t *ledger,
    redisReply *reply);
static ngx_int_t ngx_http_member_rules_get(ngx_http_request_t *r,
    ngx_http_member_rules_pt done);
static ngx_int_t ngx_http_member_rules_fetched(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_http_member_ledger_req_t *ngx_http_member_ledger_req(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_member_order_key(ngx_pool_t *pool, ngx_str_t *key,
    ngx_str_t *member, ngx_http_member_ledger_req_t *lr);
static ngx_http_member_ledger_req_t *ngx_http_member_ledger_req_of(
    ngx_http_request_t *r);


/* time */

time_t
ngx_http_member_ledger_now(ngx_http_member_ledger_t *ledger)
{
    return ngx_time() + (ledger && ledger->test_clock ? ledger->clock : 0);
}


/* the worker's copy of the rules and the clock */

static ngx_http_member_ledger_t *
ngx_http_member_ledger_of(ngx_http_request_t *r)
{
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    return mlcf->redis ? mlcf->redis->ledger : NULL;
}


static ngx_int_t
ngx_http_member_ledger_load(ngx_http_member_ledger_t *ledger,
    redisReply *reply)
{
    size_t         i;
    json_t        *rules;
    ngx_int_t      version;
    redisReply    *k, *v;
    json_error_t   err;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_ERROR;
    }

    version = 0;
    rules = NULL;
    ledger->clock = 0;

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        if (k->len == 7 && ngx_strncmp(k->str, "version", 7) == 0) {
            version = ngx_atoi((u_char *) v->str, v->len);

        } else if (k->len == 5 && ngx_strncmp(k->str, "clock", 5) == 0) {
            ledger->clock = (time_t) strtoll(v->str, NULL, 10);

        } else if (k->len == 4 && ngx_strncmp(k->str, "json", 4) == 0) {
            rules = json_loadb(v->str, v->len, 0, &err);
        }
    }

    if (rules == NULL) {
        rules = json_loads(mrl_rules_defaults(), 0, &err);
        version = 0;

        if (rules == NULL) {
            return NGX_ERROR;
        }
    }

    json_decref(ledger->rules);

    ledger->rules = rules;
    ledger->version = version == NGX_ERROR ? 0 : version;
    ledger->fetched = ngx_current_msec;
    ledger->loaded = 1;

    return NGX_OK;
}


static void
ngx_http_member_rules_release(void *data)
{
    json_decref(data);
}


/*
 * The request keeps a reference to the rules it read until its pool goes:
 * another request's fetch or PUT rules replaces the worker's copy at any
 * time, and every string or object taken from it (a tier's level, a
 * message's template id) stays valid for whatever waits on it.
 */

static ngx_int_t
ngx_http_member_rules_hold(ngx_http_request_t *r, json_t *rules)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_member_rules_release
            && cln->data == rules)
        {
            return NGX_OK;
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_member_rules_release;
    cln->data = json_incref(rules);

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_rules_read(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger, ngx_http_member_rules_pt done)
{
    if (ngx_http_member_rules_hold(r, ledger->rules) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return done(r, ledger);
}


static ngx_int_t
ngx_http_member_rules_get(ngx_http_request_t *r, ngx_http_member_rules_pt done)
{
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_ledger_t      *ledger;
    ngx_http_member_ledger_req_t  *lr;

    ledger = ngx_http_member_ledger_of(r);
    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (ledger == NULL || ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ledger->loaded
        && ngx_current_msec - ledger->fetched < NGX_HTTP_MEMBER_RULES_TTL)
    {
        return ngx_http_member_rules_read(r, ledger, done);
    }

    lr = ctx->ledger;
    lr->done = done;

    return ngx_http_member_redis_command(r, ngx_http_member_rules_fetched, 2,
                                         &ngx_http_member_cmd_hgetall,
                                         &ngx_http_member_rules_key);
}


static ngx_int_t
ngx_http_member_rules_fetched(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_ledger_t      *ledger;
    ngx_http_member_ledger_req_t  *lr;

    ledger = ngx_http_member_ledger_of(r);
    lr = ngx_http_member_ledger_req_of(r);

    if (ngx_http_member_ledger_load(ledger, reply) != NGX_OK) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: rules version %ui fetched", ledger->version);

    return ngx_http_member_rules_read(r, ledger, lr->done);
}


static ngx_int_t
ngx_http_member_ledger_clocked(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);

    return lr->clock_done(r, ngx_http_member_ledger_now(ledger));
}


/* the ledger's time (the test clock's too) for another file's handler */

ngx_int_t
ngx_http_member_ledger_clock(ngx_http_request_t *r,
    ngx_http_member_clock_pt done)
{
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    if (lr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lr->clock_done = done;

    return ngx_http_member_rules_get(r, ngx_http_member_ledger_clocked);
}


static ngx_http_member_ledger_req_t *
ngx_http_member_ledger_req(ngx_http_request_t *r)
{
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_ledger_req_t  *lr;

    ctx = ngx_http_member_get_ctx(r);
    if (ctx == NULL) {
        return NULL;
    }

    if (ctx->ledger) {
        return ctx->ledger;
    }

    lr = ngx_pcalloc(r->pool, sizeof(ngx_http_member_ledger_req_t));
    ctx->ledger = lr;

    return lr;
}


/* the request's ledger state, NULL when it has none */

static ngx_http_member_ledger_req_t *
ngx_http_member_ledger_req_of(ngx_http_request_t *r)
{
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    return ctx ? ctx->ledger : NULL;
}


/* what the rules say for now: the lot, the tier period, the tiers */

typedef struct {
    time_t                        now;
    time_t                        lot;          /* its expiry; 0: never */
    ngx_int_t                     period;
    time_t                        period_end;
    ngx_int_t                     steps;        /* -1: no limit */
    u_char                        today[MRL_DAY_LEN + 1];
} ngx_http_member_moment_t;


static void
ngx_http_member_ledger_moment(ngx_http_member_ledger_t *ledger,
    ngx_http_member_moment_t *mo)
{
    json_t        *v;
    mrl_moment_t   m;

    mo->now = ngx_http_member_ledger_now(ledger);

    /* validated rules and the test clock's range are within mrl_moment's */
    if (mrl_moment(mo->now,
                   json_integer_value(json_object_get(
                       json_object_get(ledger->rules, "points"),
                       "expire_after_months")),
                   json_integer_value(json_object_get(ledger->rules,
                                                      "tier_period_months")),
                   &m)
        != MRL_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "member: the ledger's time %T is out of range",
                      mo->now);
        ngx_memzero(&m, sizeof(mrl_moment_t));
    }

    ngx_memcpy(mo->today, m.today, sizeof(mo->today));
    mo->lot = (time_t) m.lot;
    mo->period = (ngx_int_t) m.period;
    mo->period_end = (time_t) m.period_end;

    v = json_object_get(ledger->rules, "tier_downgrade_steps");
    mo->steps = v ? json_integer_value(v) : -1;
}


static ngx_int_t
ngx_http_member_store_listed(json_t *obj, ngx_str_t *store_id)
{
    size_t   i;
    json_t  *v;

    json_array_foreach(json_object_get(obj, "exclude_stores"), i, v) {
        if (json_string_length(v) == store_id->len
            && ngx_strncmp(json_string_value(v), store_id->data,
                           store_id->len)
               == 0)
        {
            return 1;
        }
    }

    return 0;
}


ngx_str_t *
ngx_http_member_int_arg(ngx_pool_t *pool, ngx_str_t *arg, int64_t n)
{
    arg->data = ngx_pnalloc(pool, NGX_INT64_LEN + 1);
    if (arg->data == NULL) {
        return NULL;
    }

    arg->len = ngx_sprintf(arg->data, "%L", n) - arg->data;

    return arg;
}


/* level, min_spend_fen[, discount_pct, points_pct] of every tier */

static ngx_int_t
ngx_http_member_tier_args(ngx_pool_t *pool, json_t *rules, ngx_str_t *args,
    ngx_uint_t *n, ngx_flag_t full)
{
    size_t   i;
    json_t  *t;

    json_array_foreach(json_object_get(rules, "tiers"), i, t) {
        args[*n].data = (u_char *) json_string_value(json_object_get(t,
                                                                     "level"));
        args[*n].len = ngx_strlen(args[*n].data);
        (*n)++;

        if (ngx_http_member_int_arg(pool, &args[(*n)++], json_integer_value(
                json_object_get(t, "min_spend_fen"))) == NULL)
        {
            return NGX_ERROR;
        }

        if (!full) {
            continue;
        }

        if (ngx_http_member_int_arg(pool, &args[(*n)++], json_integer_value(
                json_object_get(t, "discount_pct"))) == NULL
            || ngx_http_member_int_arg(pool, &args[(*n)++], json_integer_value(
                   json_object_get(t, "points_pct"))) == NULL)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_member_schedule(ngx_http_member_ledger_t *ledger, uint64_t id,
    time_t at)
{
    u_char     sc[NGX_TIME_T_LEN], mb[NGX_INT64_LEN];
    ngx_str_t  score, member;

    if (at == 0) {
        return;
    }

    score.data = sc;
    score.len = ngx_sprintf(sc, "%T", at) - sc;
    member.data = mb;
    member.len = ngx_sprintf(mb, "%uL", id) - mb;

    /* sent before the script on the same connection: it runs first */
    (void) ngx_http_member_redis_bg_argv(ledger->redis, NULL, NULL,
                         ngx_http_member_args(ngx_string("ZADD"),
                                              ngx_http_member_due_key,
                                              ngx_string("LT"), score, member));
}


/* a ledger script's answer (the fold and the outbox had their hint) */

static ngx_int_t
ngx_http_member_ledger_answered(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_ledger_req_t  *lr = ngx_http_member_ledger_req_of(r);

    /* what the caller does with the outcome: the order id's claim */
    if (lr && lr->settled) {
        lr->settled(r, reply);
    }

    return ngx_http_member_reply_answer(r, call, reply);
}


/* pay and earn */

static ngx_int_t
ngx_http_member_ledger_pay_rules(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    json_t                        *points, *c;
    size_t                         i;
    ngx_str_t                     *member, *order;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_PAY_NKEYS];
    ngx_str_t                      args[NGX_HTTP_MEMBER_PAY_NARGV
                                        + 4 * NGX_HTTP_MEMBER_MAX_TIERS];
    ngx_int_t                      per_yuan, campaign;
    ngx_uint_t                     n;
    ngx_http_member_moment_t       mo;
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    ngx_http_member_ledger_moment(ledger, &mo);

    points = json_object_get(ledger->rules, "points");
    per_yuan = json_integer_value(json_object_get(points, "per_yuan"));

    if (ngx_http_member_store_listed(points, &lr->store_id)) {
        per_yuan = 0;
    }

    /* the best campaign of the day at this store */
    campaign = 100;

    json_array_foreach(json_object_get(ledger->rules, "campaigns"), i, c) {
        if (ngx_strcmp(json_string_value(json_object_get(c, "from")),
                       mo.today) <= 0
            && ngx_strcmp(json_string_value(json_object_get(c, "to")),
                          mo.today) >= 0
            && !ngx_http_member_store_listed(c, &lr->store_id)
            && json_integer_value(json_object_get(c, "points_pct"))
               > campaign)
        {
            campaign = json_integer_value(json_object_get(c, "points_pct"));
        }
    }

    member = &keys[NGX_HTTP_MEMBER_PAY_KEY_MEMBER];
    order = &keys[NGX_HTTP_MEMBER_PAY_KEY_ORDER];

    if (ngx_http_member_key(r->pool, member, lr->id, "") != NGX_OK
        || ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_PAY_KEY_LEDGER],
                               lr->id, ":ledger") != NGX_OK
        || ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_PAY_KEY_LOTS],
                               lr->id, ":lots") != NGX_OK
        || ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_PAY_KEY_COUPONS],
                               lr->id, ":coupons") != NGX_OK
        || ngx_http_member_key(r->pool,
                               &keys[NGX_HTTP_MEMBER_PAY_KEY_COUPONS_USED],
                               lr->id, ":coupons:used") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    keys[NGX_HTTP_MEMBER_PAY_KEY_TICKET] = lr->ticket_key;

    if (ngx_http_member_order_key(r->pool, order, member, lr) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_PAY_ARGV_KIND] = lr->kind;
    args[NGX_HTTP_MEMBER_PAY_ARGV_STORE] = lr->store_id;
    args[NGX_HTTP_MEMBER_PAY_ARGV_ORDER] = lr->order_id;

    /* what must be the same when the order id comes again */
    if (ngx_http_member_body_fingerprint(r, ngx_http_member_get_ctx(r)->json,
                                    lr->kind.len == 4
                                    ? NGX_HTTP_MEMBER_BODY_EARN
                                    : NGX_HTTP_MEMBER_BODY_PAY,
                                    lr->id,
                                    &args[NGX_HTTP_MEMBER_PAY_ARGV_FINGERPRINT])
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_PAY_ARGV_COUPON] = lr->coupon_id;
    args[NGX_HTTP_MEMBER_PAY_ARGV_TICKET] = lr->ticket_value;

    if (ngx_http_member_int_arg(r->pool,
                                &args[NGX_HTTP_MEMBER_PAY_ARGV_AMOUNT_FEN],
                                lr->amount) == NULL
        || ngx_http_member_int_arg(r->pool, &args[NGX_HTTP_MEMBER_PAY_ARGV_NOW],
                                   mo.now) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_PAY_ARGV_PER_YUAN],
                                   per_yuan) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_PAY_ARGV_POINTS_PCT],
                                   campaign) == NULL
        || ngx_http_member_int_arg(r->pool, &args[NGX_HTTP_MEMBER_PAY_ARGV_LOT],
                                   mo.lot) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_PAY_ARGV_PERIOD],
                                   mo.period) == NULL
        || ngx_http_member_int_arg(r->pool,
                                  &args[NGX_HTTP_MEMBER_PAY_ARGV_REDEEM_POINTS],
                                   lr->points) == NULL
        || ngx_http_member_int_arg(r->pool,
                                  &args[NGX_HTTP_MEMBER_PAY_ARGV_FEN_PER_POINT],
                                   json_integer_value(json_object_get(points,
                                       "redeem_fen_per_point"))) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_PAY_ARGV_MIN_POINTS],
                                   json_integer_value(json_object_get(points,
                                       "redeem_min_points"))) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_PAY_ARGV_STEPS],
                                   mo.steps) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_PAY_ARGV_VERSION],
                                   ledger->version) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_PAY_ARGV_ORDER_TTL],
                                   NGX_HTTP_MEMBER_ORDER_TTL) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = NGX_HTTP_MEMBER_PAY_ARGV_TIERS;

    if (ngx_http_member_tier_args(r->pool, ledger->rules, args, &n, 1)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_member_schedule(ledger, lr->id,
                             mo.lot && mo.lot < mo.period_end
                             ? mo.lot : mo.period_end);

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_PAY,
                                        ngx_http_member_ledger_answered, keys,
                                        args,
                                        n - NGX_HTTP_MEMBER_PAY_ARGV_TIERS);
}


ngx_int_t
ngx_http_member_ledger_pay(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *kind, ngx_str_t *store_id, ngx_str_t *order_id,
    ngx_str_t *ticket_key, ngx_str_t *ticket_value, ngx_int_t amount,
    ngx_int_t points, ngx_str_t *coupon_id,
    void (*settled)(ngx_http_request_t *r, redisReply *reply))
{
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    if (lr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lr->id = id;
    lr->kind = *kind;
    lr->store_id = *store_id;
    lr->order_id = *order_id;
    lr->ticket_key = *ticket_key;
    lr->ticket_value = *ticket_value;
    lr->amount = amount;
    lr->points = points;
    lr->coupon_id = *coupon_id;
    lr->settled = settled;

    return ngx_http_member_rules_get(r, ngx_http_member_ledger_pay_rules);
}


/* refund of a pay or earn */

static ngx_int_t
ngx_http_member_ledger_refund_rules(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    ngx_str_t                     *member;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_REFUND_NKEYS];
    ngx_str_t                      args[NGX_HTTP_MEMBER_REFUND_NARGV];
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    member = &keys[NGX_HTTP_MEMBER_REFUND_KEY_MEMBER];

    if (ngx_http_member_key(r->pool, member, lr->id, "") != NGX_OK
        || ngx_http_member_key(r->pool,
                               &keys[NGX_HTTP_MEMBER_REFUND_KEY_LEDGER],
                               lr->id, ":ledger") != NGX_OK
        || ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_REFUND_KEY_LOTS],
                               lr->id, ":lots") != NGX_OK
        || ngx_http_member_key(r->pool,
                               &keys[NGX_HTTP_MEMBER_REFUND_KEY_COUPONS_USED],
                               lr->id, ":coupons:used") != NGX_OK
        || ngx_http_member_order_key(r->pool,
                                     &keys[NGX_HTTP_MEMBER_REFUND_KEY_ORDER],
                                     member, lr) != NGX_OK
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_REFUND_ARGV_NOW],
                                   ngx_http_member_ledger_now(ledger))
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_REFUND_ARGV_STORE] = lr->store_id;
    args[NGX_HTTP_MEMBER_REFUND_ARGV_ORDER] = lr->order_id;

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_REFUND,
                                        ngx_http_member_ledger_answered, keys,
                                        args, 0);
}


ngx_int_t
ngx_http_member_ledger_refund(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *store_id, ngx_str_t *order_id)
{
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    if (lr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lr->id = id;
    lr->store_id = *store_id;
    lr->order_id = *order_id;

    return ngx_http_member_rules_get(r, ngx_http_member_ledger_refund_rules);
}


/* a purchase's record: {m:<id>}:order:<store>:<order id> */

static ngx_int_t
ngx_http_member_order_key(ngx_pool_t *pool, ngx_str_t *key, ngx_str_t *member,
    ngx_http_member_ledger_req_t *lr)
{
    key->data = ngx_pnalloc(pool, member->len + sizeof(":order::")
                                  + lr->store_id.len + lr->order_id.len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = ngx_sprintf(key->data, "%V:order:%V:%V", member,
                           &lr->store_id, &lr->order_id)
               - key->data;

    return NGX_OK;
}


/*
 * A recharge's keys: member, ledger, idempotency record, its record; the
 * recharge and its refund take them in places of their own.
 */

static ngx_int_t
ngx_http_member_recharge_keys(ngx_http_request_t *r,
    ngx_http_member_ledger_req_t *lr, ngx_str_t *member, ngx_str_t *ledger,
    ngx_str_t *idem, ngx_str_t *record)
{
    if (ngx_http_member_key(r->pool, member, lr->id, "") != NGX_OK
        || ngx_http_member_key(r->pool, ledger, lr->id, ":ledger") != NGX_OK)
    {
        return NGX_ERROR;
    }

    idem->data = ngx_pnalloc(r->pool, member->len + 6 + lr->idem.len);
    record->data = ngx_pnalloc(r->pool, member->len + 10 + lr->idem.len);

    if (idem->data == NULL || record->data == NULL) {
        return NGX_ERROR;
    }

    idem->len = ngx_sprintf(idem->data, "%V:idem:%V", member, &lr->idem)
                - idem->data;
    record->len = ngx_sprintf(record->data, "%V:recharge:%V", member,
                              &lr->idem)
                  - record->data;

    return NGX_OK;
}


/* recharge: the bonus of the highest step reached */

static ngx_int_t
ngx_http_member_ledger_recharge_rules(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    size_t                         i;
    json_t                        *step;
    ngx_int_t                      bonus;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_RECHARGE_NKEYS];
    ngx_str_t                      args[NGX_HTTP_MEMBER_RECHARGE_NARGV];
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    bonus = 0;

    json_array_foreach(json_object_get(ledger->rules, "recharge_bonus"), i,
                       step)
    {
        if (lr->amount >= json_integer_value(json_object_get(step,
                                                             "min_fen")))
        {
            bonus = json_integer_value(json_object_get(step, "bonus_fen"));
        }
    }

    if (ngx_http_member_recharge_keys(r, lr,
                                 &keys[NGX_HTTP_MEMBER_RECHARGE_KEY_MEMBER],
                                 &keys[NGX_HTTP_MEMBER_RECHARGE_KEY_LEDGER],
                                 &keys[NGX_HTTP_MEMBER_RECHARGE_KEY_IDEM],
                                 &keys[NGX_HTTP_MEMBER_RECHARGE_KEY_RECHARGE])
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* what must be the same when the key is used again */
    if (ngx_http_member_body_fingerprint(r, ngx_http_member_get_ctx(r)->json,
                               NGX_HTTP_MEMBER_BODY_RECHARGE, lr->id,
                               &args[NGX_HTTP_MEMBER_RECHARGE_ARGV_FINGERPRINT])
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_member_int_arg(r->pool,
                                &args[NGX_HTTP_MEMBER_RECHARGE_ARGV_AMOUNT_FEN],
                                lr->amount) == NULL
        || ngx_http_member_int_arg(r->pool,
                                 &args[NGX_HTTP_MEMBER_RECHARGE_ARGV_BONUS_FEN],
                                   bonus) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_RECHARGE_ARGV_NOW],
                                   ngx_http_member_ledger_now(ledger)) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_RECHARGE_ARGV_TTL],
                                   NGX_HTTP_MEMBER_IDEM_TTL) == NULL
        || ngx_http_member_int_arg(r->pool,
                              &args[NGX_HTTP_MEMBER_RECHARGE_ARGV_RECHARGE_TTL],
                              NGX_HTTP_MEMBER_ORDER_TTL) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_RECHARGE_ARGV_IDEM_KEY] = lr->idem;

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_RECHARGE,
                                        ngx_http_member_ledger_answered, keys,
                                        args, 0);
}


ngx_int_t
ngx_http_member_ledger_recharge(ngx_http_request_t *r, uint64_t id,
    ngx_int_t amount, ngx_str_t *idem)
{
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    if (lr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lr->id = id;
    lr->amount = amount;
    lr->idem = *idem;

    return ngx_http_member_rules_get(r,
                                     ngx_http_member_ledger_recharge_rules);
}


/* the refund of a recharge, found by the recharge's idempotency key */

static ngx_int_t
ngx_http_member_recharge_refund_rules(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    ngx_str_t                      keys[NGX_HTTP_MEMBER_RECHARGE_REFUND_NKEYS];
    ngx_str_t                      args[NGX_HTTP_MEMBER_RECHARGE_REFUND_NARGV];
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);

    if (ngx_http_member_recharge_keys(r, lr,
                          &keys[NGX_HTTP_MEMBER_RECHARGE_REFUND_KEY_MEMBER],
                          &keys[NGX_HTTP_MEMBER_RECHARGE_REFUND_KEY_LEDGER],
                          &keys[NGX_HTTP_MEMBER_RECHARGE_REFUND_KEY_IDEM],
                          &keys[NGX_HTTP_MEMBER_RECHARGE_REFUND_KEY_RECHARGE])
           != NGX_OK
        || ngx_http_member_int_arg(r->pool,
                                &args[NGX_HTTP_MEMBER_RECHARGE_REFUND_ARGV_NOW],
                                ngx_http_member_ledger_now(ledger))
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_RECHARGE_REFUND_ARGV_IDEM_KEY] = lr->idem;
    args[NGX_HTTP_MEMBER_RECHARGE_REFUND_ARGV_REFUND_KEY] = lr->note;

    return ngx_http_member_redis_script(r,
                                        NGX_HTTP_MEMBER_SCRIPT_RECHARGE_REFUND,
                                        ngx_http_member_ledger_answered, keys,
                                        args, 0);
}


static void
ngx_http_member_recharge_refund_body(ngx_http_request_t *r)
{
    json_t                        *json;
    ngx_int_t                      rc;
    ngx_http_member_ledger_req_t  *lr;

    json = ngx_http_member_body_call(r, NGX_HTTP_MEMBER_BODY_RECHARGE_REFUND,
                                     &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    lr = ngx_http_member_ledger_req(r);

    if (ngx_http_member_json_str(json, "idempotency_key", 64, 1, &lr->idem, 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r,
                             ngx_http_member_bad_field(r, "idempotency_key"));
        return;
    }

    rc = ngx_http_member_json_str(json, "refund_key", 64, 1, &lr->note, 0);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r,
                                  ngx_http_member_bad_field(r, "refund_key"));
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_str_set(&lr->note, "");
    }

    ngx_http_finalize_request(r,
        ngx_http_member_rules_get(r, ngx_http_member_recharge_refund_rules));
}


/* GET points: the total and the lots that expire within 30 days */

static ngx_int_t
ngx_http_member_ledger_points_page(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t       i;
    json_t      *answer, *expiring, *lot;
    redisReply  *e;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    e = reply->element[0];

    if (e->type != REDIS_REPLY_STRING || e->len == 0
        || (e->len == 7 && ngx_strncmp(e->str, "visitor", 7) == 0)
        || (e->len == 7 && ngx_strncmp(e->str, "deleted", 7) == 0))
    {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no card yet: claim or register first");
    }

    answer = json_object();
    expiring = json_array();

    if (answer == NULL || expiring == NULL) {
        json_decref(answer);
        json_decref(expiring);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    e = reply->element[1];

    json_object_set_new(answer, "points",
                        json_integer(e->type == REDIS_REPLY_STRING
                                     ? strtoll(e->str, NULL, 10) : 0));

    for (i = 2; i + 1 < reply->elements; i += 2) {
        lot = json_object();
        if (lot == NULL) {
            break;
        }

        json_object_set_new(lot, "points",
                            json_integer(strtoll(reply->element[i + 1]->str,
                                                 NULL, 10)));
        json_object_set_new(lot, "expires_at",
                            json_integer(strtoll(reply->element[i]->str,
                                                 NULL, 10)));
        json_array_append_new(expiring, lot);
    }

    json_object_set_new(answer, "expiring", expiring);

    return ngx_http_member_send_json(r, NGX_HTTP_OK, answer);
}


static ngx_int_t
ngx_http_member_ledger_points_rules(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    time_t                         now;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_POINTS_NKEYS];
    ngx_str_t                      args[NGX_HTTP_MEMBER_POINTS_NARGV];
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_ledger_req_t  *lr;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    lr = ngx_http_member_ledger_req(r);
    now = ngx_http_member_ledger_now(ledger);

    keys[NGX_HTTP_MEMBER_POINTS_KEY_SESSION] = ctx->session_key;

    if (ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_POINTS_KEY_MEMBER],
                            lr->id, "") != NGX_OK
        || ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_POINTS_KEY_LOTS],
                               lr->id, ":lots") != NGX_OK
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_POINTS_ARGV_NOW], now)
           == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_POINTS_ARGV_HORIZON],
                                   now + NGX_HTTP_MEMBER_EXPIRING) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_POINTS,
                                        ngx_http_member_ledger_points_page,
                                        keys, args, 0);
}


ngx_int_t
ngx_http_member_ledger_points(ngx_http_request_t *r, uint64_t id)
{
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    if (lr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lr->id = id;

    return ngx_http_member_rules_get(r, ngx_http_member_ledger_points_rules);
}


/* the rules for a reader of another file (GET tiers) */

static ngx_int_t
ngx_http_member_ledger_rules_json(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);

    return lr->json_done(r, ledger->rules);
}


ngx_int_t
ngx_http_member_rules_json(ngx_http_request_t *r,
    ngx_http_member_rules_json_pt done)
{
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    if (lr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lr->json_done = done;

    return ngx_http_member_rules_get(r, ngx_http_member_ledger_rules_json);
}


/* admin: rules, the test clock, a member's level and points */

static ngx_int_t
ngx_http_member_rules_answer(ngx_http_request_t *r, json_t *rules,
    ngx_uint_t version)
{
    json_t  *copy;

    copy = json_deep_copy(rules);
    if (copy == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(copy, "version", json_integer(version));

    return ngx_http_member_send_json(r, NGX_HTTP_OK, copy);
}


static ngx_int_t
ngx_http_member_rules_current(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    return ngx_http_member_rules_answer(r, ledger->rules, ledger->version);
}


static ngx_int_t
ngx_http_member_rules_old(ngx_http_request_t *r, ngx_http_member_call_t *call,
    redisReply *reply)
{
    json_t                        *rules;
    ngx_int_t                      rc;
    json_error_t                   err;
    ngx_http_member_ledger_req_t  *lr;

    if (reply->type == REDIS_REPLY_NIL) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such version of the rules");
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    rules = json_loadb(reply->str, reply->len, 0, &err);
    if (rules == NULL) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    lr = ngx_http_member_ledger_req_of(r);
    rc = ngx_http_member_rules_answer(r, rules, lr->amount);
    json_decref(rules);

    return rc;
}


static ngx_int_t
ngx_http_member_rules_stored(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_int_t                      rc;
    ngx_http_member_ledger_t      *ledger;
    ngx_http_member_ledger_req_t  *lr;

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    lr = ngx_http_member_ledger_req_of(r);
    ledger = ngx_http_member_ledger_of(r);

    /* this worker sees the new rules at once, the others within a second */
    json_decref(ledger->rules);
    ledger->rules = json_incref(lr->json);
    ledger->version = reply->integer;

    rc = ngx_http_member_rules_answer(r, lr->json, reply->integer);

    return rc;
}


static void
ngx_http_member_rules_put_body(ngx_http_request_t *r)
{
    char                           field[MRL_MSG_MAX], *text;
    json_t                        *json;
    ngx_int_t                      rc;
    mrl_status_t                   rv;
    ngx_str_t                     *text_arg;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_RULES_PUT_NKEYS];
    ngx_str_t                      args[NGX_HTTP_MEMBER_RULES_PUT_NARGV];
    ngx_http_member_ledger_req_t  *lr;

    json = ngx_http_member_body_json(r, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    lr = ngx_http_member_ledger_req(r);
    if (lr == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* checked and completed with the defaults (rules/mrl_rules.c) */
    rv = mrl_rules_validate(json, field, sizeof(field), NULL);

    if (rv == MRL_BAD_RULES) {
        ngx_http_finalize_request(r,
            ngx_http_member_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                  "bad_rules", field));
        return;
    }

    if (rv != MRL_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "member: rules not checked: %s", mrl_strerror(rv));
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    text = json_dumps(json, JSON_COMPACT);
    if (text == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    text_arg = &args[NGX_HTTP_MEMBER_RULES_PUT_ARGV_JSON];
    text_arg->len = ngx_strlen(text);
    text_arg->data = ngx_pnalloc(r->pool, text_arg->len);

    if (text_arg->data == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_RULES_PUT_ARGV_NOW],
                                   ngx_http_member_ledger_now(
                                       ngx_http_member_ledger_of(r)))
           == NULL)
    {
        free(text);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(text_arg->data, text, text_arg->len);
    free(text);

    /* ctx->json, freed with the request, keeps the parsed copy alive */
    lr->json = json;

    keys[NGX_HTTP_MEMBER_RULES_PUT_KEY_RULES] = ngx_http_member_rules_key;
    keys[NGX_HTTP_MEMBER_RULES_PUT_KEY_VERSIONS] =
                                                 ngx_http_member_versions_key;

    ngx_http_finalize_request(r,
        ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_RULES_PUT,
                                     ngx_http_member_rules_stored, keys, args,
                                     0));
}


ngx_int_t
ngx_http_member_rules_handler(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    ngx_str_t                      v;
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    if (lr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_PUT) {
        return ngx_http_member_read_json(r, ngx_http_member_rules_put_body);
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_member_method_not_allowed(r);
    }

    if (ngx_http_arg(r, (u_char *) "version", 7, &v) == NGX_OK) {
        lr->amount = ngx_atoi(v.data, v.len);

        if (lr->amount <= 0) {
            return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST,
                                         "bad_request",
                                         "version is a positive integer");
        }

        return ngx_http_member_redis_command(r, ngx_http_member_rules_old, 3,
                                             &ngx_http_member_hget,
                                             &ngx_http_member_versions_key,
                                             &v);
    }

    /* always the stored current version, not the worker's copy */
    ngx_http_member_ledger_of(r)->loaded = 0;

    return ngx_http_member_rules_get(r, ngx_http_member_rules_current);
}


static ngx_int_t
ngx_http_member_clock_answer(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    u_char  *p, *last;

    p = ngx_pnalloc(r->pool, sizeof("{\"now\":,\"offset\":}") + 2
                             * NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_sprintf(p, "{\"now\":%T,\"offset\":%T}",
                       ngx_http_member_ledger_now(ledger), ledger->clock);

    return ngx_http_member_send_raw(r, NGX_HTTP_OK, NULL, p, last - p);
}


static ngx_int_t
ngx_http_member_clock_set(ngx_http_request_t *r, ngx_http_member_call_t *call,
    redisReply *reply)
{
    ngx_http_member_ledger_t      *ledger;
    ngx_http_member_ledger_req_t  *lr;

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    lr = ngx_http_member_ledger_req_of(r);
    ledger = ngx_http_member_ledger_of(r);
    ledger->clock = lr->amount;

    return ngx_http_member_clock_answer(r, ledger);
}


static void
ngx_http_member_clock_body(ngx_http_request_t *r)
{
    json_t                        *json;
    ngx_int_t                      rc, now;
    ngx_str_t                      offset;
    ngx_http_member_ledger_req_t  *lr;

    json = ngx_http_member_body_json(r, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    lr = ngx_http_member_ledger_req(r);

    if (ngx_http_member_json_int(json, "now", 946684800, 32503680000LL, &now,
                                 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "now"));
        return;
    }

    lr->amount = now - ngx_time();

    if (ngx_http_member_int_arg(r->pool, &offset, lr->amount) == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_member_redis_command(r, ngx_http_member_clock_set, 4,
                                      &ngx_http_member_hset,
                                      &ngx_http_member_rules_key,
                                      &ngx_http_member_clock, &offset));
}


ngx_int_t
ngx_http_member_clock_handler(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    ngx_http_member_ledger_t  *ledger;

    ledger = ngx_http_member_ledger_of(r);

    if (ledger == NULL || !ledger->test_clock) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such resource");
    }

    if (ngx_http_member_ledger_req(r) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_PUT) {
        return ngx_http_member_read_json(r, ngx_http_member_clock_body);
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_member_method_not_allowed(r);
    }

    ledger->loaded = 0;

    return ngx_http_member_rules_get(r, ngx_http_member_clock_answer);
}


static ngx_int_t
ngx_http_member_level_rules(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    size_t                         i;
    json_t                        *t;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_LEVEL_NKEYS];
    ngx_str_t                      args[NGX_HTTP_MEMBER_LEVEL_NARGV];
    const char                    *level;
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);

    json_array_foreach(json_object_get(ledger->rules, "tiers"), i, t) {
        level = json_string_value(json_object_get(t, "level"));

        if (ngx_strlen(level) == lr->text.len
            && ngx_strncmp(level, lr->text.data, lr->text.len) == 0)
        {
            break;
        }
    }

    if (i == json_array_size(json_object_get(ledger->rules, "tiers"))) {
        return ngx_http_member_bad_field(r, "level");
    }

    if (ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_LEVEL_KEY_MEMBER],
                            lr->id, "") != NGX_OK
        || ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_LEVEL_KEY_LEDGER],
                               lr->id, ":ledger") != NGX_OK
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_LEVEL_ARGV_NOW],
                                   ngx_http_member_ledger_now(ledger)) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_LEVEL_ARGV_LEVEL] = lr->text;
    args[NGX_HTTP_MEMBER_LEVEL_ARGV_REASON] = lr->note;

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "member: admin sets the level of member %uL to \"%V\"",
                  lr->id, &lr->text);

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_LEVEL,
                                        ngx_http_member_ledger_answered, keys,
                                        args, 0);
}


static void
ngx_http_member_level_body(ngx_http_request_t *r)
{
    json_t                        *json;
    ngx_int_t                      rc;
    ngx_http_member_ledger_req_t  *lr;

    json = ngx_http_member_body_call(r, NGX_HTTP_MEMBER_BODY_LEVEL, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    lr = ngx_http_member_ledger_req(r);

    if (ngx_http_member_json_str(json, "level", 16, 1, &lr->text, 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "level"));
        return;
    }

    if (ngx_http_member_json_str(json, "reason", 200, 0, &lr->note, 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "reason"));
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_member_rules_get(r, ngx_http_member_level_rules));
}


static ngx_int_t
ngx_http_member_adjust_rules(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    ngx_str_t                     *member, *idem;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_ADJUST_NKEYS];
    ngx_str_t                      args[NGX_HTTP_MEMBER_ADJUST_NARGV];
    ngx_http_member_moment_t       mo;
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    ngx_http_member_ledger_moment(ledger, &mo);

    member = &keys[NGX_HTTP_MEMBER_ADJUST_KEY_MEMBER];
    idem = &keys[NGX_HTTP_MEMBER_ADJUST_KEY_IDEM];

    if (ngx_http_member_key(r->pool, member, lr->id, "") != NGX_OK
        || ngx_http_member_key(r->pool,
                               &keys[NGX_HTTP_MEMBER_ADJUST_KEY_LEDGER],
                               lr->id, ":ledger") != NGX_OK
        || ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_ADJUST_KEY_LOTS],
                               lr->id, ":lots") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    idem->data = ngx_pnalloc(r->pool, member->len + 6 + lr->idem.len);

    /* the whole request: the delta and the reason */
    if (idem->data == NULL
        || ngx_http_member_body_fingerprint(r,
                                  ngx_http_member_get_ctx(r)->json,
                                  NGX_HTTP_MEMBER_BODY_POINTS, lr->id,
                                 &args[NGX_HTTP_MEMBER_ADJUST_ARGV_FINGERPRINT])
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    idem->len = ngx_sprintf(idem->data, "%V:idem:%V", member, &lr->idem)
                - idem->data;

    args[NGX_HTTP_MEMBER_ADJUST_ARGV_REASON] = lr->note;
    args[NGX_HTTP_MEMBER_ADJUST_ARGV_IDEM_KEY] = lr->idem;

    if (ngx_http_member_int_arg(r->pool,
                                &args[NGX_HTTP_MEMBER_ADJUST_ARGV_DELTA],
                                lr->points) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_ADJUST_ARGV_NOW],
                                   mo.now) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_ADJUST_ARGV_TTL],
                                   NGX_HTTP_MEMBER_IDEM_TTL) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_ADJUST_ARGV_LOT],
                                   mo.lot) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (lr->points > 0) {
        ngx_http_member_schedule(ledger, lr->id, mo.lot);
    }

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_ADJUST,
                                        ngx_http_member_ledger_answered, keys,
                                        args, 0);
}


static void
ngx_http_member_adjust_body(ngx_http_request_t *r)
{
    json_t                        *json;
    ngx_int_t                      rc;
    ngx_http_member_ledger_req_t  *lr;

    json = ngx_http_member_body_call(r, NGX_HTTP_MEMBER_BODY_POINTS, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    lr = ngx_http_member_ledger_req(r);

    if (ngx_http_member_json_int(json, "delta", -NGX_HTTP_MEMBER_MAX_POINTS,
                                 NGX_HTTP_MEMBER_MAX_POINTS, &lr->points, 1)
        != NGX_OK
        || lr->points == 0)
    {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "delta"));
        return;
    }

    if (ngx_http_member_json_str(json, "reason", 200, 0, &lr->note, 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "reason"));
        return;
    }

    if (ngx_http_member_json_str(json, "idempotency_key", 64, 1, &lr->idem, 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r,
                             ngx_http_member_bad_field(r, "idempotency_key"));
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_member_rules_get(r, ngx_http_member_adjust_rules));
}


/* members/<id>/level, /points and /recharge/refund of the admin API */

static ngx_int_t
ngx_http_member_ledger_admin(ngx_http_request_t *r, uint64_t id,
    ngx_http_client_body_handler_pt body)
{
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    if (lr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lr->id = id;

    return ngx_http_member_read_json(r, body);
}


ngx_int_t
ngx_http_member_admin_level(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_ledger_admin(r, m->id,
                                        ngx_http_member_level_body);
}


ngx_int_t
ngx_http_member_admin_points(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_ledger_admin(r, m->id,
                                        ngx_http_member_adjust_body);
}


ngx_int_t
ngx_http_member_admin_refund(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_ledger_admin(r, m->id,
                                        ngx_http_member_recharge_refund_body);
}


/* the expiry job: due members, one sweep script each, then campaigns */

static void ngx_http_member_sweep_rescheduled(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t unused);
static void ngx_http_member_sweep_next(ngx_http_member_ledger_t *ledger);


static void
ngx_http_member_sweep_swept(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t unused)
{
    u_char                     sc[NGX_INT64_LEN], mb[NGX_INT64_LEN];
    ngx_str_t                  score, member;
    ngx_http_member_ledger_t  *ledger;

    ledger = job->data;

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

    member.data = mb;
    member.len = ngx_sprintf(mb, "%uL", ledger->ids[ledger->next]) - mb;

    if (reply->integer == 0) {
        (void) ngx_http_member_job_command(job,
                                           ngx_http_member_sweep_rescheduled, 0,
                           ngx_http_member_args(ngx_string("ZREM"),
                                                ngx_http_member_due_key,
                                                member));
        return;
    }

    score.data = sc;
    score.len = ngx_sprintf(sc, "%L", (int64_t) reply->integer) - sc;

    (void) ngx_http_member_job_command(job, ngx_http_member_sweep_rescheduled,
                           0,
                           ngx_http_member_args(ngx_string("ZADD"),
                                                ngx_http_member_due_key,
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
        /* the rest of the timer's work, under the same lease */
        ngx_http_member_campaigns_tick(&ledger->job);
        return;
    }

    ngx_http_member_ledger_moment(ledger, &mo);

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

    ngx_http_member_sweep_next(ledger);
}


static void
ngx_http_member_sweep_rules(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t unused)
{
    u_char                     at[NGX_TIME_T_LEN];
    ngx_str_t                  now;
    ngx_http_member_ledger_t  *ledger;

    ledger = job->data;

    if (reply == NULL || ngx_http_member_ledger_load(ledger, reply) != NGX_OK)
    {
        ngx_http_member_job_done(job);
        return;
    }

    now.data = at;
    now.len = ngx_sprintf(at, "%T", ngx_http_member_ledger_now(ledger)) - at;

    (void) ngx_http_member_job_command(job, ngx_http_member_sweep_due, 0,
                ngx_http_member_args(ngx_string("ZRANGEBYSCORE"),
                                     ngx_http_member_due_key,
                                     ngx_string("-inf"), now,
                                     ngx_string("LIMIT"), ngx_string("0"),
                                     ngx_string(NGX_HTTP_MEMBER_SWEEP_LIMIT)));
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


/* per worker: a copy of the rules and a sweep job for every Redis */

ngx_int_t
ngx_http_member_ledger_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                 i;
    json_error_t               err;
    ngx_http_member_redis_t  **redis;
    ngx_http_member_ledger_t  *ledger;

    redis = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        ledger = ngx_pcalloc(cycle->pool, sizeof(ngx_http_member_ledger_t));
        if (ledger == NULL) {
            return NGX_ERROR;
        }

        ledger->redis = redis[i];
        ledger->test_clock = mmcf->test_clock;
        ledger->rules = json_loads(mrl_rules_defaults(), 0, &err);

        if (ledger->rules == NULL) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "member: default rules: %s", err.text);
            return NGX_ERROR;
        }

        redis[i]->ledger = ledger;

        if (ngx_http_member_job_add(cycle, &ledger->job,
                                    &ngx_http_member_sweep_job, redis[i],
                                    ledger)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


void
ngx_http_member_ledger_exit_process(ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                 i;
    ngx_http_member_redis_t  **redis;
    ngx_http_member_ledger_t  *ledger;

    redis = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        ledger = redis[i]->ledger;

        if (ledger == NULL) {
            continue;
        }

        json_decref(ledger->rules);
        ledger->rules = NULL;
    }
}


/* what the job's other work (campaigns) needs of the ledger */

ngx_http_member_campaigns_t **
ngx_http_member_ledger_campaigns(ngx_http_member_ledger_t *ledger)
{
    return &ledger->campaigns;
}


/* the rules, their version and this month's lot, as the sweep has them */

json_t *
ngx_http_member_ledger_rules(ngx_http_member_ledger_t *ledger,
    ngx_uint_t *version, time_t *lot)
{
    ngx_http_member_moment_t  mo;

    ngx_http_member_ledger_moment(ledger, &mo);

    *version = ledger->version;
    *lot = mo.lot;

    return ledger->rules;
}
