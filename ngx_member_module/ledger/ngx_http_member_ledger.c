
/*
 * ngx_member: the loyalty ledger's money and points (docs/ledger.md).
 *
 *   till:   pay and earn (points redeemed, tiers), refund
 *   admin:  POST members/<id>/recharge (channel "admin"),
 *   till:   POST recharge of the scanner (channel "till", its store),
 *           POST members/<id>/recharge/refund {"idempotency_key","refund_key"?}
 *   member: GET points with the lots that expire within 30 days
 *
 * Every change is one script on the member's slot, sent with what the
 * worker's copy of the rules says (ngx_http_member_rules.c); the request's
 * state is ctx->ledger.  After every change of a member the fold and
 * whoever follows members from above (the outbox) are hinted here.  The
 * admin's level and points changes are ngx_http_member_adjust.c, the sweep
 * of due lots ngx_http_member_sweep.c.
 */


#include "ngx_member_ledger.h"


#define NGX_HTTP_MEMBER_EXPIRING      (30 * 86400)


static ngx_int_t ngx_http_member_order_key(ngx_pool_t *pool, ngx_str_t *key,
    ngx_str_t *member, ngx_http_member_ledger_req_t *lr);


/* the outbox (ngx_http_member_outbox.c), set at its init */
static ngx_http_member_hint_pt  ngx_http_member_ledger_follower;


ngx_http_member_ledger_req_t *
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

ngx_http_member_ledger_req_t *
ngx_http_member_ledger_req_of(ngx_http_request_t *r)
{
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    return ctx ? ctx->ledger : NULL;
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


/* a ledger script's answer (the fold and the outbox had their hint) */

ngx_int_t
ngx_http_member_ledger_answered(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_ledger_req_t  *lr = ngx_http_member_ledger_req_of(r);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: ledger script answered, type %d", reply->type);

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
    ngx_http_member_rules_moment(ledger, &mo);

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

    ngx_http_member_sweep_schedule(ledger, lr->id,
                                   mo.lot && mo.lot < mo.period_end
                                   ? mo.lot : mo.period_end);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: ledger %V of member %uL sent", &lr->kind, lr->id);

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

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: ledger refund of member %uL sent", lr->id);

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
    u_char                        *p;
    json_t                        *step;
    ngx_int_t                      bonus;
    ngx_str_t                     *fp;
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

    /*
     * what must be the same when the key is used again; at a till also
     * the store (another store's request is another request)
     */
    fp = &args[NGX_HTTP_MEMBER_RECHARGE_ARGV_FINGERPRINT];

    if (ngx_http_member_body_fingerprint(r, ngx_http_member_get_ctx(r)->json,
                                         lr->store_id.len
                                         ? NGX_HTTP_MEMBER_BODY_TILL_RECHARGE
                                         : NGX_HTTP_MEMBER_BODY_RECHARGE,
                                         lr->id, fp)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (lr->store_id.len) {
        p = ngx_pnalloc(r->pool, fp->len + 1 + lr->store_id.len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        fp->len = ngx_sprintf(p, "%V:%V", fp, &lr->store_id) - p;
        fp->data = p;
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

    /* the channel: the admin's, or a till's with its store and ticket */
    if (lr->store_id.len == 0) {
        ngx_str_set(&lr->store_id, "");
        ngx_str_set(&lr->text, "");
        ngx_str_set(&lr->ticket_value, "");
    }

    args[NGX_HTTP_MEMBER_RECHARGE_ARGV_STORE] = lr->store_id;
    args[NGX_HTTP_MEMBER_RECHARGE_ARGV_METHOD] = lr->text;
    args[NGX_HTTP_MEMBER_RECHARGE_ARGV_TICKET] = lr->ticket_value;

    if (lr->store_id.len) {
        if (lr->text.data == NULL) {
            ngx_str_set(&lr->text, "");
        }

        args[NGX_HTTP_MEMBER_RECHARGE_ARGV_METHOD] = lr->text;
        ngx_str_set(&args[NGX_HTTP_MEMBER_RECHARGE_ARGV_CHANNEL], "till");
        keys[NGX_HTTP_MEMBER_RECHARGE_KEY_TICKET] = lr->ticket_key;

    } else {
        ngx_str_set(&args[NGX_HTTP_MEMBER_RECHARGE_ARGV_CHANNEL], "admin");
        keys[NGX_HTTP_MEMBER_RECHARGE_KEY_TICKET] =
                                  keys[NGX_HTTP_MEMBER_RECHARGE_KEY_IDEM];
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: ledger recharge of member %uL sent, "
                   "channel %V", lr->id,
                   &args[NGX_HTTP_MEMBER_RECHARGE_ARGV_CHANNEL]);

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


/*
 * A till's recharge: the same steps, on a ticket of this store that the
 * script checks, recorded with the store and the till's method ("" for
 * none); the store's ledger gets it from the fold (its store_id).
 */

ngx_int_t
ngx_http_member_ledger_recharge_till(ngx_http_request_t *r, uint64_t id,
    ngx_int_t amount, ngx_str_t *idem, ngx_str_t *store_id,
    ngx_str_t *method, ngx_str_t *ticket_key, ngx_str_t *ticket_value)
{
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    if (lr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lr->store_id = *store_id;
    lr->text = *method;
    lr->ticket_key = *ticket_key;
    lr->ticket_value = *ticket_value;

    return ngx_http_member_ledger_recharge(r, id, amount, idem);
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

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: ledger recharge refund of member %uL sent",
                   lr->id);

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


/* members/<id>/level, /points and /recharge/refund of the admin API */

ngx_int_t
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
ngx_http_member_admin_refund(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_ledger_admin(r, m->id,
                                        ngx_http_member_recharge_refund_body);
}


/*
 * Every change of a member's ledger or record: the fold, and whoever
 * follows members from above the ledger (the WeChat outbox: its card and
 * its messages, docs/outbox.md), hinted in one place.
 */

void
ngx_http_member_ledger_hint(ngx_http_member_redis_t *redis, uint64_t id)
{
    ngx_http_member_fold_hint(redis, id);

    if (ngx_http_member_ledger_follower) {
        ngx_http_member_ledger_follower(redis, id);
    }
}


void
ngx_http_member_ledger_follow(ngx_http_member_hint_pt follower)
{
    ngx_http_member_ledger_follower = follower;
}


void
ngx_http_member_ledger_touched(ngx_http_request_t *r, uint64_t id)
{
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    ngx_http_member_ledger_hint(mlcf->redis, id);
}


/*
 * The Redis layer's hook (ngx_http_member_redis_on_change): a script whose
 * binding says "CHANGES member" answered; its member key is {m:<id>}.
 */

void
ngx_http_member_ledger_changed(ngx_http_member_redis_t *redis,
    ngx_str_t *key)
{
    u_char    *end;
    uint64_t   id;

    end = (key->len > 3 && ngx_strncmp(key->data, "{m:", 3) == 0)
          ? ngx_strlchr(key->data + 3, key->data + key->len, '}') : NULL;

    if (end == NULL
        || ngx_http_member_parse_id(key->data + 3, end - key->data - 3, &id)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, redis->log, 0,
                      "member: a script changed \"%V\", not a member key",
                      key);
        return;
    }

    ngx_http_member_ledger_hint(redis, id);
}
