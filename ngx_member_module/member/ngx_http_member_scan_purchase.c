
/*
 * ngx_member: the scanner's purchases and refunds.
 *
 *   POST pay    {"ticket","amount_fen","order_id"}  from stored value
 *   POST earn   {"ticket","amount_fen","order_id"}  paid otherwise: points
 *               (both may carry "points" to redeem and a "coupon_id")
 *   POST refund {"order_id"}                    reverses that order
 *   POST recharge {"ticket","amount_fen","idempotency_key","method"?}
 *               stored value paid at the till ("cash", or "card": the
 *               store's own terminal), the admin's bonus steps
 *
 * The ticket of a verify names the member; the order id is claimed for
 * the purchase and kept only if it succeeds; the call is one script on
 * the member's keys.
 */


#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_member_member.h"


static ngx_int_t ngx_http_member_scan_fields(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json, ngx_http_member_body_e call,
    ngx_int_t *rc);
static ngx_int_t ngx_http_member_scan_claim(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, ngx_str_t *keys, ngx_str_t *args,
    ngx_flag_t background);
static void ngx_http_member_scan_settled(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_member_scan_claim_done(ngx_http_member_redis_t *redis,
    void *data, redisReply *reply);
static ngx_int_t ngx_http_member_scan_indexed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_scan_pay(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_scan_order_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);


/* "<member id>.<time step>.<43 characters of base64url>" -> its key */

static ngx_int_t
ngx_http_member_scan_ticket(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan)
{
    u_char     *p, *dot, *last;
    uint64_t    step;
    ngx_str_t   secret;

    p = scan->ticket.data;
    last = p + scan->ticket.len;
    dot = ngx_strlchr(p, last, '.');

    if (dot == NULL
        || ngx_http_member_parse_id(p, dot - p, &scan->member_id) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    p = dot + 1;
    dot = ngx_strlchr(p, last, '.');

    if (dot == NULL || ngx_http_member_parse_id(p, dot - p, &step) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    secret.data = dot + 1;
    secret.len = last - secret.data;

    if (secret.len != 43) {
        return NGX_DECLINED;
    }

    return ngx_http_member_scan_ticket_key(r, scan, step, &secret);
}


static ngx_int_t
ngx_http_member_scan_order_index(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json)
{
    if (ngx_http_member_json_str(json, "order_id", 64, 1, &scan->order_id, 1)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    /* the store's orders, to find an order's member at refund */
    scan->order_index.data = ngx_pnalloc(r->pool, sizeof("order:{s:}:")
                                                  + scan->store_id.len
                                                  + scan->order_id.len);
    if (scan->order_index.data == NULL) {
        return NGX_ERROR;
    }

    scan->order_index.len = ngx_sprintf(scan->order_index.data,
                                        "order:{s:%V}:%V", &scan->store_id,
                                        &scan->order_id)
                            - scan->order_index.data;

    return NGX_OK;
}


/*
 * What a purchase and a recharge at the till both carry: the call's known
 * fields, the ticket and the amount.  NGX_DECLINED with the answer in rc.
 */

static ngx_int_t
ngx_http_member_scan_fields(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json, ngx_http_member_body_e call,
    ngx_int_t *rc)
{
    if (ngx_http_member_body_known(r, json, call, rc) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (ngx_http_member_json_str(json, "ticket", 80, 1, &scan->ticket, 1)
        != NGX_OK)
    {
        *rc = ngx_http_member_bad_field(r, "ticket");
        return NGX_DECLINED;
    }

    if (ngx_http_member_json_int(json, "amount_fen", 1,
                                 NGX_HTTP_MEMBER_MAX_AMOUNT, &scan->amount, 1)
        != NGX_OK)
    {
        *rc = ngx_http_member_bad_field(r, "amount_fen");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_member_scan_purchase(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json)
{
    u_char     *p;
    ngx_int_t   rc;
    ngx_str_t   keys[NGX_HTTP_MEMBER_ORDER_CLAIM_NKEYS];
    ngx_str_t   args[NGX_HTTP_MEMBER_ORDER_CLAIM_NARGV];

    if (ngx_http_member_scan_fields(r, scan, json,
                                    scan->call == NGX_HTTP_MEMBER_SCAN_EARN
                                    ? NGX_HTTP_MEMBER_BODY_EARN
                                    : NGX_HTTP_MEMBER_BODY_PAY, &rc)
        != NGX_OK)
    {
        return rc;
    }

    /* 抵现: points deducted at the brand's rate */
    if (ngx_http_member_json_int(json, "points", 0, 1000000000,
                                 &scan->points, 0)
        == NGX_ERROR)
    {
        return ngx_http_member_bad_field(r, "points");
    }

    /* the member's coupon: ngx_http_member_coupons.c issues them */
    rc = ngx_http_member_json_str(json, "coupon_id", 64, 1, &scan->coupon_id,
                                  0);
    if (rc == NGX_ERROR) {
        return ngx_http_member_bad_field(r, "coupon_id");
    }

    if (rc == NGX_DECLINED) {
        ngx_str_set(&scan->coupon_id, "");
    }

    rc = ngx_http_member_scan_order_index(r, scan, json);

    if (rc == NGX_DECLINED) {
        return ngx_http_member_bad_field(r, "order_id");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_member_scan_ticket(r, scan);

    if (rc == NGX_DECLINED) {
        return ngx_http_member_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                     "the ticket is unknown, expired or "
                                     "another store's");
    }

    p = ngx_pnalloc(r->pool, 2 * NGX_INT64_LEN);
    if (rc != NGX_OK || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    scan->id_str.data = p;
    scan->id_str.len = ngx_sprintf(p, "%uL", scan->member_id) - p;
    p += scan->id_str.len;

    scan->ttl.data = p;
    scan->ttl.len = ngx_sprintf(p, "%d", NGX_HTTP_MEMBER_ORDER_TTL) - p;

    /*
     * an order id names one member's purchase, first come; claimed for
     * this request (its nonce) and kept only if the purchase succeeds
     */
    ngx_str_set(&args[NGX_HTTP_MEMBER_ORDER_CLAIM_ARGV_ACTION], "claim");

    return ngx_http_member_scan_claim(r, scan, keys, args, 0);
}


/*
 * After the purchase's script: the order id's claim is kept when it
 * succeeded, dropped when it was refused (nothing was written: the id is
 * free for the retry, or for another member), left alone on a conflict
 * (the order exists).  In the background: the answer does not wait.
 */

static void
ngx_http_member_scan_settled(ngx_http_request_t *r, redisReply *reply)
{
    ngx_str_t                     keys[NGX_HTTP_MEMBER_ORDER_CLAIM_NKEYS];
    ngx_str_t                     args[NGX_HTTP_MEMBER_ORDER_CLAIM_NARGV];
    ngx_http_member_ctx_t        *ctx;
    ngx_http_member_scan_t       *scan;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    scan = ctx->scan;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member scan: order \"%V\" settled: %d",
                   &scan->order_id, reply->type);

    if (reply->type == REDIS_REPLY_STRING) {
        ngx_str_set(&args[NGX_HTTP_MEMBER_ORDER_CLAIM_ARGV_ACTION], "keep");

    } else if (reply->type == REDIS_REPLY_ERROR
               && !ngx_http_member_redis_is_error(reply, "CONFLICT"))
    {
        ngx_str_set(&args[NGX_HTTP_MEMBER_ORDER_CLAIM_ARGV_ACTION], "drop");

    } else {
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member scan: order claim %V for member %uL",
                   &args[NGX_HTTP_MEMBER_ORDER_CLAIM_ARGV_ACTION],
                   scan->member_id);

    (void) ngx_http_member_scan_claim(r, scan, keys, args, 1);
}


/*
 * order_claim.lua with the action in args: the request's own call, or in
 * the background once the purchase answered.
 */

static ngx_int_t
ngx_http_member_scan_claim(ngx_http_request_t *r, ngx_http_member_scan_t *scan,
    ngx_str_t *keys, ngx_str_t *args, ngx_flag_t background)
{
    ngx_http_member_loc_conf_t  *mlcf;

    keys[NGX_HTTP_MEMBER_ORDER_CLAIM_KEY_INDEX] = scan->order_index;
    args[NGX_HTTP_MEMBER_ORDER_CLAIM_ARGV_MEMBER] = scan->id_str;
    args[NGX_HTTP_MEMBER_ORDER_CLAIM_ARGV_CLAIM] = scan->nonce;
    args[NGX_HTTP_MEMBER_ORDER_CLAIM_ARGV_TTL] = scan->ttl;

    if (!background) {
        return ngx_http_member_redis_script(r,
                                          NGX_HTTP_MEMBER_SCRIPT_ORDER_CLAIM,
                                          ngx_http_member_scan_indexed, keys,
                                          args, 0);
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    return ngx_http_member_redis_bg_script(mlcf->redis,
                                           NGX_HTTP_MEMBER_SCRIPT_ORDER_CLAIM,
                                           NGX_HTTP_MEMBER_BG_SHA1,
                                           ngx_http_member_scan_claim_done,
                                           NULL, keys, 0, args, 0);
}


static void
ngx_http_member_scan_claim_done(ngx_http_member_redis_t *redis, void *data,
    redisReply *reply)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "member scan: an order id's claim settled: %d",
                   reply ? reply->type : 0);

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "member: an order id's claim was not settled: %*s",
                      (size_t) ngx_min(reply->len, 200), reply->str);
    }
}


static ngx_int_t
ngx_http_member_scan_indexed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member scan: the order id claimed: %d", reply->type);

    if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS)
    {
        /* CLAIMED, or SEEN: this member's retry */
        return ngx_http_member_scan_pay(r);
    }

    if (ngx_http_member_redis_is_error(reply, "CONFLICT")) {
        return ngx_http_member_error(r, NGX_HTTP_CONFLICT, "conflict",
                                     "the order id was used for another "
                                     "member");
    }

    return ngx_http_member_reply_script_error(r, reply);
}


static ngx_int_t
ngx_http_member_scan_pay(ngx_http_request_t *r)
{
    ngx_str_t                kind;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_scan_t  *scan;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    scan = ctx->scan;

    ngx_str_set(&kind, "pay");

    if (scan->call == NGX_HTTP_MEMBER_SCAN_EARN) {
        ngx_str_set(&kind, "earn");
    }

    /* the brand's rules: ngx_http_member_ledger.c */
    return ngx_http_member_ledger_pay(r, scan->member_id, &kind,
                                      &scan->store_id, &scan->order_id,
                                      &scan->ticket_key, &scan->ticket_value,
                                      scan->amount, scan->points,
                                      &scan->coupon_id,
                                      ngx_http_member_scan_settled);
}


/*
 * A recharge at the till: the member of the ticket, its idempotency key
 * as the admin's recharge has it (same key, other request: 409), the
 * ticket checked in the recharge's own script (ngx_http_member_ledger.c).
 */

ngx_int_t
ngx_http_member_scan_recharge(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json)
{
    ngx_int_t  rc;

    if (ngx_http_member_scan_fields(r, scan, json,
                                    NGX_HTTP_MEMBER_BODY_TILL_RECHARGE, &rc)
        != NGX_OK)
    {
        return rc;
    }

    if (ngx_http_member_json_str(json, "idempotency_key", 64, 1, &scan->idem,
                                 1)
        != NGX_OK)
    {
        return ngx_http_member_bad_field(r, "idempotency_key");
    }

    rc = ngx_http_member_json_str(json, "method", 8, 1, &scan->method, 0);

    if (rc == NGX_DECLINED) {
        ngx_str_set(&scan->method, "");

    } else if (rc != NGX_OK
               || !((scan->method.len == 4
                     && ngx_strncmp(scan->method.data, "cash", 4) == 0)
                    || (scan->method.len == 4
                        && ngx_strncmp(scan->method.data, "card", 4) == 0)))
    {
        return ngx_http_member_bad_field(r, "method");
    }

    rc = ngx_http_member_scan_ticket(r, scan);

    if (rc == NGX_DECLINED) {
        return ngx_http_member_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                     "the ticket is unknown, expired or "
                                     "another store's");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member scan: recharge of member %uL at store \"%V\"",
                   scan->member_id, &scan->store_id);

    /* the bonus of the brand's rules: ngx_http_member_ledger.c */
    return ngx_http_member_ledger_recharge_till(r, scan->member_id,
                                                scan->amount, &scan->idem,
                                                &scan->store_id,
                                                &scan->method,
                                                &scan->ticket_key,
                                                &scan->ticket_value);
}


ngx_int_t
ngx_http_member_scan_refund(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json)
{
    ngx_int_t  rc;

    if (ngx_http_member_body_known(r, json, NGX_HTTP_MEMBER_BODY_REFUND, &rc)
        != NGX_OK)
    {
        return rc;
    }

    rc = ngx_http_member_scan_order_index(r, scan, json);

    if (rc == NGX_DECLINED) {
        return ngx_http_member_bad_field(r, "order_id");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_redis_command(r, ngx_http_member_scan_order_found,
                                         &ngx_http_member_cmd_get,
                                         &scan->order_index);
}


static ngx_int_t
ngx_http_member_scan_order_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                  *colon;
    size_t                   len;
    uint64_t                 id;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_scan_t  *scan;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    scan = ctx->scan;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member scan: order \"%V\" looked up: %d",
                   &scan->order_id, reply->type);

    if (reply->type == REDIS_REPLY_NIL) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such order from this store");
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    /* "<member>", or "<member>:<claim>" while its purchase is settled */
    len = reply->len;
    colon = ngx_strlchr((u_char *) reply->str, (u_char *) reply->str + len,
                        ':');
    if (colon) {
        len = colon - (u_char *) reply->str;
    }

    if (ngx_http_member_parse_id((u_char *) reply->str, len, &id) != NGX_OK) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    /* the member's order record decides: 404 if its purchase failed */
    return ngx_http_member_ledger_refund(r, id, &scan->store_id,
                                         &scan->order_id);
}
