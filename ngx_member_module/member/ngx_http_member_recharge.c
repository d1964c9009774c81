
/*
 * ngx_member: a member's recharge by WeChat Pay (member_api).
 *
 *   POST recharge {"amount_fen"}   a JSAPI order: stored pending first
 *                                  (wxpay_order.lua), then asked of WeChat
 *                                  Pay; answers wx.requestPayment's
 *                                  parameters
 *   GET  recharge/<out_trade_no>   the member's own order: its state
 *
 * The payment itself is credited by the notification
 * (wechat/ngx_http_member_wxpay.c, wxpay_paid.lua).
 */


#include "ngx_member_member.h"


#define NGX_HTTP_MEMBER_WXPAY_EXPIRE   (2 * 3600)  /* time_expire, after */
#define NGX_HTTP_MEMBER_WXPAY_NONCE    32

static ngx_int_t ngx_http_member_recharge_rules(ngx_http_request_t *r,
    json_t *rules);
static ngx_int_t ngx_http_member_recharge_stored(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_recharge_ordered(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_recharge_pay(ngx_http_request_t *r,
    json_t *prepay_id);
static ngx_int_t ngx_http_member_recharge_close(ngx_http_request_t *r,
    const char *reason, const char *error, const char *message);
static ngx_int_t ngx_http_member_recharge_closed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_recharge_script(ngx_http_request_t *r,
    const char *what, ngx_http_member_call_pt done);
static ngx_int_t ngx_http_member_recharge_read(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static void ngx_http_member_recharge_random(u_char *p, u_char *rnd,
    size_t n);


static ngx_str_t  ngx_http_member_recharge_path =
    ngx_string("/v3/pay/transactions/jsapi");
static ngx_str_t  ngx_http_member_recharge_hmget = ngx_string("HMGET");
static ngx_str_t  ngx_http_member_recharge_fields[] = {
    ngx_string("state"),
    ngx_string("amount_fen"),
    ngx_string("bonus_fen")
};


/* POST recharge, its session read (a page of ngx_http_member_api.c) */

ngx_int_t
ngx_http_member_recharge(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    json_t                      *v;
    ngx_int_t                    rc;
    ngx_http_member_ctx_t       *ctx;
    ngx_http_member_page_t      *pg;
    ngx_http_member_wxpay_t     *wp;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    if (mlcf->wxpay == NULL || mlcf->wxpay->api.len == 0) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "recharge by WeChat Pay is not set up");
    }

    if (ngx_http_member_body_known(r, ctx->json,
                                   NGX_HTTP_MEMBER_BODY_WXPAY_ORDER, &rc)
        != NGX_OK)
    {
        return rc;
    }

    v = json_object_get(ctx->json, "amount_fen");

    if (!json_is_integer(v) || json_integer_value(v) < 1
        || json_integer_value(v) > MRL_AMOUNT_MAX)
    {
        return ngx_http_member_bad_field(r, "amount_fen");
    }

    if (pg->status.len == 0 || ngx_strcmp(pg->status.data, "visitor") == 0) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no card yet: claim or register first");
    }

    if (ngx_strcmp(pg->status.data, "active") != 0) {
        return ngx_http_member_error(r, NGX_HTTP_CONFLICT, "conflict",
                                     "the member is not active");
    }

    if (pg->openid.len == 0) {
        return ngx_http_member_error(r, NGX_HTTP_CONFLICT, "no_openid",
                                     "WeChat Pay needs a session opened in "
                                     "WeChat");
    }

    wp = ngx_pcalloc(r->pool, sizeof(ngx_http_member_wxpay_t));
    if (wp == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wp->id = pg->id;
    wp->amount = json_integer_value(v);
    wp->openid = pg->openid;
    ctx->wxpay = wp;

    return ngx_http_member_rules_json(r, ngx_http_member_recharge_rules);
}


/* the amount is one the rules allow; its bonus is fixed now */

static ngx_int_t
ngx_http_member_recharge_rules(ngx_http_request_t *r, json_t *rules)
{
    u_char                    rnd[NGX_HTTP_MEMBER_WXPAY_TRADE_NO_LEN], *p;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_wxpay_t  *wp;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    wp = ctx->wxpay;

    if (!mrl_recharge_allowed(rules, wp->amount)) {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "amount_fen is not one of the "
                                     "recharge options");
    }

    wp->bonus = mrl_recharge_bonus(rules, wp->amount);

    /* "<member id>_<random>", 32 characters: at least 11 random */
    p = ngx_pnalloc(r->pool, NGX_HTTP_MEMBER_WXPAY_TRADE_NO_LEN);
    if (p == NULL || ngx_http_member_random(rnd, sizeof(rnd)) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wp->out_trade_no.data = p;
    p = ngx_sprintf(p, "%uL_", wp->id);
    ngx_http_member_recharge_random(p, rnd,
                                    NGX_HTTP_MEMBER_WXPAY_TRADE_NO_LEN
                                    - (p - wp->out_trade_no.data));
    wp->out_trade_no.len = NGX_HTTP_MEMBER_WXPAY_TRADE_NO_LEN;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: wxpay order \"%V\" of member %uL stored",
                   &wp->out_trade_no, wp->id);

    return ngx_http_member_recharge_script(r, "order",
                                           ngx_http_member_recharge_stored);
}


static void
ngx_http_member_recharge_random(u_char *p, u_char *rnd, size_t n)
{
    size_t                   i;
    static const u_char      alnum[] = "0123456789ABCDEFGHIJKLM"
                                       "NOPQRSTUVWXYZabcdefghijklm"
                                       "nopqrstuvwxyz";

    for (i = 0; i < n; i++) {
        p[i] = alnum[rnd[i] % 62];
    }
}


static ngx_int_t
ngx_http_member_recharge_script(ngx_http_request_t *r, const char *what,
    ngx_http_member_call_pt done)
{
    ngx_str_t                 keys[NGX_HTTP_MEMBER_WXPAY_ORDER_NKEYS];
    ngx_str_t                 args[NGX_HTTP_MEMBER_WXPAY_ORDER_NARGV];
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_wxpay_t  *wp;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    wp = ctx->wxpay;

    if (ngx_http_member_wxpay_order_args(r->pool, wp,
                            &keys[NGX_HTTP_MEMBER_WXPAY_ORDER_KEY_MEMBER],
                            &keys[NGX_HTTP_MEMBER_WXPAY_ORDER_KEY_ORDER],
                            &args[NGX_HTTP_MEMBER_WXPAY_ORDER_ARGV_AMOUNT_FEN],
                            &args[NGX_HTTP_MEMBER_WXPAY_ORDER_ARGV_NOW])
        != NGX_OK
        || ngx_http_member_int_arg(r->pool,
                            &args[NGX_HTTP_MEMBER_WXPAY_ORDER_ARGV_BONUS_FEN],
                            wp->bonus) == NULL
        || ngx_http_member_int_arg(r->pool,
                            &args[NGX_HTTP_MEMBER_WXPAY_ORDER_ARGV_TTL],
                            NGX_HTTP_MEMBER_WXPAY_ORDER_TTL) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_WXPAY_ORDER_ARGV_WHAT].data = (u_char *) what;
    args[NGX_HTTP_MEMBER_WXPAY_ORDER_ARGV_WHAT].len = ngx_strlen(what);
    args[NGX_HTTP_MEMBER_WXPAY_ORDER_ARGV_OPENID] = wp->openid;
    args[NGX_HTTP_MEMBER_WXPAY_ORDER_ARGV_REASON] = wp->reason;

    if (wp->reason.data == NULL) {
        ngx_str_set(&args[NGX_HTTP_MEMBER_WXPAY_ORDER_ARGV_REASON], "");
    }

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_WXPAY_ORDER,
                                        done, keys, args, 0);
}


/* the order is stored: now WeChat Pay is asked for it */

static ngx_int_t
ngx_http_member_recharge_stored(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                        *p;
    json_t                        *o, *amount, *payer;
    ngx_tm_t                       tm;
    ngx_int_t                      rc;
    ngx_str_t                      body;
    u_char                         expire[sizeof("2026-01-01T00:00:00+08:00")];
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_wxpay_t       *wp;
    ngx_http_member_loc_conf_t    *mlcf;
    ngx_http_member_wxpay_conf_t  *wx;

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    wp = ctx->wxpay;
    wx = mlcf->wxpay;

    /* China time: WeChat Pay's time_expire is RFC 3339 at +08:00 */
    ngx_gmtime(ngx_time() + NGX_HTTP_MEMBER_WXPAY_EXPIRE + 8 * 3600, &tm);
    (void) ngx_sprintf(expire, "%4d-%02d-%02dT%02d:%02d:%02d+08:00%Z",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

    amount = json_pack("{s:I,s:s}", "total", (json_int_t) wp->amount,
                       "currency", "CNY");
    payer = json_pack("{s:s%}", "openid", wp->openid.data, wp->openid.len);

    o = json_pack("{s:s%,s:s%,s:s,s:s%,s:s,s:s%,s:o,s:o}",
                  "appid", mlcf->wechat_appid.data, mlcf->wechat_appid.len,
                  "mchid", wx->mchid.data, wx->mchid.len,
                  "description", "\xe4\xbc\x9a\xe5\x91\x98\xe5\x85\x85\xe5"
                                 "\x80\xbc",        /* 会员充值 */
                  "out_trade_no", wp->out_trade_no.data, wp->out_trade_no.len,
                  "time_expire", (char *) expire,
                  "notify_url", wx->notify_url.data, wx->notify_url.len,
                  "amount", amount, "payer", payer);
    if (o == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = (u_char *) json_dumps(o, JSON_COMPACT);
    json_decref(o);

    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len = ngx_strlen(p);
    body.data = ngx_pnalloc(r->pool, body.len);

    if (body.data == NULL) {
        free(p);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(body.data, p, body.len);
    free(p);

    rc = ngx_http_member_wxpay_post(r, &ngx_http_member_recharge_path, &body,
                                    ngx_http_member_recharge_ordered);

    if (rc == NGX_ERROR) {
        return ngx_http_member_recharge_close(r, "not sent",
                                              "wxpay_unavailable",
                                              "WeChat Pay could not be "
                                              "asked: try again");
    }

    return rc;
}


/* WeChat Pay's answer: a verified prepay_id, or the order is closed */

static ngx_int_t
ngx_http_member_recharge_ordered(ngx_http_request_t *r)
{
    json_t                 *json;
    ngx_int_t               rc;
    json_error_t            err;
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: wxpay order \"%V\" answered, status %i",
                   &ctx->wxpay->out_trade_no, ctx->sr_status);

    if (ctx->wechat_failed) {
        return ngx_http_member_recharge_close(r, "refused", "wxpay_refused",
                                              "WeChat Pay refused the "
                                              "order");
    }

    if (ngx_http_member_wxpay_answer_verified(r) != NGX_OK) {
        return ngx_http_member_recharge_close(r, "unverified",
                                              "wxpay_refused",
                                              "WeChat Pay's answer failed "
                                              "its signature check");
    }

    json = json_loadb((const char *) ctx->sr_body.data, ctx->sr_body.len, 0,
                      &err);

    rc = ngx_http_member_recharge_pay(r,
                                      json_object_get(json, "prepay_id"));
    json_decref(json);

    return rc;
}


static ngx_int_t
ngx_http_member_recharge_pay(ngx_http_request_t *r, json_t *prepay_id)
{
    size_t                         len;
    u_char                         rnd[NGX_HTTP_MEMBER_WXPAY_NONCE];
    u_char                        *package, *sign, *stamp, *nonce;
    json_t                        *answer;
    mgw_str_t                      id, appid, ts, ns, pk;
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_wxpay_t       *wp;
    ngx_http_member_loc_conf_t    *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    wp = ctx->wxpay;

    if (!json_is_string(prepay_id)) {
        return ngx_http_member_recharge_close(r, "no prepay_id",
                                              "wxpay_refused",
                                              "WeChat Pay gave no prepay_id");
    }

    package = ngx_pnalloc(r->pool, 160);
    sign = ngx_pnalloc(r->pool, MGW_WXPAY_SIG_B64_MAX + 1);
    stamp = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 1);
    nonce = ngx_pnalloc(r->pool, NGX_HTTP_MEMBER_WXPAY_NONCE + 1);

    if (package == NULL || sign == NULL || stamp == NULL || nonce == NULL
        || ngx_http_member_random(rnd, sizeof(rnd)) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    id.data = (const uint8_t *) json_string_value(prepay_id);
    id.len = json_string_length(prepay_id);

    if (mgw_wxpay_package(&id, package, 159, &len) != MGW_OK) {
        return ngx_http_member_recharge_close(r, "bad prepay_id",
                                              "wxpay_refused",
                                              "WeChat Pay gave no prepay_id");
    }

    package[len] = '\0';
    pk.data = package;
    pk.len = len;

    (void) ngx_sprintf(stamp, "%T%Z", ngx_time());
    ngx_http_member_recharge_random(nonce, rnd, NGX_HTTP_MEMBER_WXPAY_NONCE);
    nonce[NGX_HTTP_MEMBER_WXPAY_NONCE] = '\0';

    appid.data = mlcf->wechat_appid.data;
    appid.len = mlcf->wechat_appid.len;
    ts.data = stamp;
    ts.len = ngx_strlen(stamp);
    ns.data = nonce;
    ns.len = NGX_HTTP_MEMBER_WXPAY_NONCE;

    if (mgw_wxpay_pay_sign(mlcf->wxpay->merchant, &appid, &ts, &ns, &pk,
                           sign, MGW_WXPAY_SIG_B64_MAX, &len)
        != MGW_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sign[len] = '\0';

    answer = json_pack("{s:s%,s:{s:s%,s:s,s:s,s:s,s:s,s:s}}",
                       "out_trade_no", wp->out_trade_no.data,
                       wp->out_trade_no.len,
                       "pay",
                       "appId", mlcf->wechat_appid.data,
                       mlcf->wechat_appid.len,
                       "timeStamp", (char *) stamp,
                       "nonceStr", (char *) nonce,
                       "package", (char *) package,
                       "signType", "RSA",
                       "paySign", (char *) sign);
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: wxpay order \"%V\" prepared",
                   &wp->out_trade_no);

    return ngx_http_member_send_json(r, NGX_HTTP_OK, answer);
}


/* WeChat Pay refused the order, or could not be asked: it is closed */

static ngx_int_t
ngx_http_member_recharge_close(ngx_http_request_t *r, const char *reason,
    const char *error, const char *message)
{
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_wxpay_t  *wp;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    wp = ctx->wxpay;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "member: wxpay order \"%V\" closed: %s",
                  &wp->out_trade_no, reason);

    wp->reason.data = (u_char *) reason;
    wp->reason.len = ngx_strlen(reason);
    wp->error = error;
    wp->message = message;

    return ngx_http_member_recharge_script(r, "close",
                                           ngx_http_member_recharge_closed);
}


static ngx_int_t
ngx_http_member_recharge_closed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: wxpay order \"%V\" close answered",
                   &ctx->wxpay->out_trade_no);

    return ngx_http_member_error(r, NGX_HTTP_BAD_GATEWAY, ctx->wxpay->error,
                                 ctx->wxpay->message);
}


/* GET recharge/<out_trade_no>: the member's own orders only */

ngx_int_t
ngx_http_member_recharge_state(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    uint64_t                 id;
    ngx_str_t               *key;
    ngx_http_member_ctx_t   *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (ngx_http_member_wxpay_trade_no_id(&m->capture[0], &id) != NGX_OK) {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "not an out_trade_no of this API");
    }

    /* another member's order is as good as none */
    if (id != ctx->member_id) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such order");
    }

    key = ngx_palloc(r->pool, sizeof(ngx_str_t));
    if (key == NULL
        || ngx_http_member_wxpay_order_key(r->pool, key, id, &m->capture[0])
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: wxpay order \"%V\" asked", &m->capture[0]);

    return ngx_http_member_redis_command(r, ngx_http_member_recharge_read,
                                         &ngx_http_member_recharge_hmget, key,
                                         &ngx_http_member_recharge_fields[0],
                                         &ngx_http_member_recharge_fields[1],
                                         &ngx_http_member_recharge_fields[2]);
}


static ngx_int_t
ngx_http_member_recharge_read(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    json_t      *answer;
    redisReply  *e;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    e = reply->element[0];

    if (e->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[2]->type != REDIS_REPLY_STRING)
    {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such order");
    }

    answer = json_pack("{s:s%,s:I,s:I}", "state", e->str, (size_t) e->len,
                       "amount_fen",
                       (json_int_t) ngx_atoof((u_char *)
                                              reply->element[1]->str,
                                              reply->element[1]->len),
                       "bonus_fen",
                       (json_int_t) ngx_atoof((u_char *)
                                              reply->element[2]->str,
                                              reply->element[2]->len));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK, answer);
}
