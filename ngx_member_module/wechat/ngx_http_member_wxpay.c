
/*
 * ngx_member: WeChat Pay API v3.  The module's calls to it (signed with
 * the merchant's key, subrequests to the internal location of
 * member_wxpay_api, answers verified with the platform keys), and the
 * notification URL (member_wxpay_notify): a payment verified, decrypted
 * and checked is credited once by wxpay_paid.lua.  Signatures, keys and
 * AES-GCM are gateway/'s (docs/wxpay.md).
 */


#include "ngx_member_wechat.h"


static void ngx_http_member_wxpay_notify_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_wxpay_notify_check(ngx_http_request_t *r,
    ngx_http_member_wxpay_conf_t *wx, ngx_str_t *body);
static ngx_int_t ngx_http_member_wxpay_notify_payment(ngx_http_request_t *r,
    ngx_http_member_wxpay_conf_t *wx, json_t *pay);
static ngx_int_t ngx_http_member_wxpay_notify_paid(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_wxpay_fail(ngx_http_request_t *r,
    ngx_uint_t status, const char *why);
static ngx_int_t ngx_http_member_wxpay_header(ngx_list_t *list, char *name,
    size_t len, ngx_str_t *value);
static ngx_int_t ngx_http_member_wxpay_is(json_t *obj, const char *name,
    ngx_str_t *want);


/* the answer's headers that sign it, in the order of signed_by */
static ngx_str_t  ngx_http_member_wxpay_signed_names[] = {
    ngx_string("Wechatpay-Serial"),
    ngx_string("Wechatpay-Signature"),
    ngx_string("Wechatpay-Timestamp"),
    ngx_string("Wechatpay-Nonce")
};


static ngx_str_t  ngx_http_member_wxpay_json = ngx_string("application/json");


/* the subrequest's answer: its signing headers, into the parent's pool */

ngx_int_t
ngx_http_member_wxpay_keep(ngx_http_request_t *sr,
    ngx_http_member_wxpay_t *wp)
{
    ngx_str_t   v;
    ngx_uint_t  i;

    for (i = 0; i < 4; i++) {
        ngx_str_null(&wp->signed_by[i]);

        if (ngx_http_member_wxpay_header(&sr->headers_out.headers,
                        (char *) ngx_http_member_wxpay_signed_names[i].data,
                        ngx_http_member_wxpay_signed_names[i].len, &v)
            != NGX_OK)
        {
            continue;
        }

        wp->signed_by[i].data = ngx_pstrdup(sr->parent->pool, &v);
        if (wp->signed_by[i].data == NULL) {
            return NGX_ERROR;
        }

        wp->signed_by[i].len = v.len;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_wxpay_header(ngx_list_t *list, char *name, size_t len,
    ngx_str_t *value)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &list->part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash && h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            *value = h[i].value;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * A POST of body (JSON) to WeChat Pay's path, signed: Authorization
 * over the method, path, time, a fresh nonce and the body.
 */

ngx_int_t
ngx_http_member_wxpay_post(ngx_http_request_t *r, ngx_str_t *path,
    ngx_str_t *body, ngx_int_t (*done)(ngx_http_request_t *r))
{
    size_t                         len;
    u_char                        *auth;
    ngx_uint_t                     i;
    ngx_array_t                   *headers;
    mgw_status_t                   rc;
    ngx_table_elt_t               *h;
    mgw_wxpay_request_t            req;
    mgw_wxpay_merchant_t           m;
    ngx_http_member_loc_conf_t    *mlcf;
    ngx_http_member_wxpay_conf_t  *wx;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);
    wx = mlcf->wxpay;

    auth = ngx_pnalloc(r->pool, MGW_WXPAY_AUTH_MAX);
    headers = ngx_array_create(r->pool, 4, sizeof(ngx_table_elt_t));

    if (auth == NULL || headers == NULL) {
        return NGX_ERROR;
    }

    m.mchid.data = wx->mchid.data;
    m.mchid.len = wx->mchid.len;
    m.serial.data = wx->serial.data;
    m.serial.len = wx->serial.len;
    m.key = wx->merchant;

    ngx_memzero(&req, sizeof(mgw_wxpay_request_t));
    req.method.data = (const uint8_t *) "POST";
    req.method.len = 4;
    req.url.data = path->data;
    req.url.len = path->len;
    req.body.data = body->data;
    req.body.len = body->len;
    req.timestamp = ngx_time();

    rc = mgw_wxpay_authorize(&m, &req, NULL, auth, MGW_WXPAY_AUTH_MAX, &len);

    if (rc != MGW_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: wxpay request not signed: %s",
                      mgw_status_str(rc));
        return NGX_ERROR;
    }

    h = ngx_array_push_n(headers, 4);
    if (h == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(h, 4 * sizeof(ngx_table_elt_t));

    ngx_str_set(&h[0].key, "Authorization");
    h[0].value.data = auth;
    h[0].value.len = len;
    ngx_str_set(&h[1].key, "Accept");
    h[1].value = ngx_http_member_wxpay_json;
    ngx_str_set(&h[2].key, "Content-Type");
    h[2].value = ngx_http_member_wxpay_json;
    ngx_str_set(&h[3].key, "User-Agent");
    ngx_str_set(&h[3].value, "ngx_member");

    /* as nginx's own parser leaves them: the proxy looks them up so */
    for (i = 0; i < 4; i++) {
        h[i].lowcase_key = ngx_pnalloc(r->pool, h[i].key.len);
        if (h[i].lowcase_key == NULL) {
            return NGX_ERROR;
        }

        h[i].hash = ngx_hash_strlow(h[i].lowcase_key, h[i].key.data,
                                    h[i].key.len);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: wxpay call \"%V\" signed", path);

    return ngx_http_member_wechat_call(r, &wx->api, path, NULL, body,
                                       headers, done);
}


/* the answer of a call: signed by a platform key, within the window */

ngx_int_t
ngx_http_member_wxpay_answer_verified(ngx_http_request_t *r)
{
    mgw_status_t                   rc;
    mgw_wxpay_signed_t             in;
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_wxpay_t       *wp;
    ngx_http_member_loc_conf_t    *mlcf;
    ngx_http_member_wxpay_conf_t  *wx;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    wx = mlcf->wxpay;
    wp = ctx->wxpay;

    in.serial.data = wp->signed_by[0].data;
    in.serial.len = wp->signed_by[0].len;
    in.signature.data = wp->signed_by[1].data;
    in.signature.len = wp->signed_by[1].len;
    in.timestamp.data = wp->signed_by[2].data;
    in.timestamp.len = wp->signed_by[2].len;
    in.nonce.data = wp->signed_by[3].data;
    in.nonce.len = wp->signed_by[3].len;
    in.body.data = ctx->sr_body.data;
    in.body.len = ctx->sr_body.len;

    rc = mgw_wxpay_verify(wx->platforms.elts, wx->platforms.nelts, &in,
                          ngx_time(), 0);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: wxpay answer verified: %s", mgw_status_str(rc));

    if (rc != MGW_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: a WeChat Pay answer failed its check: %s",
                      mgw_status_str(rc));
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * "<member id>_<random>": the member's slot is found from the order's
 * number alone (no index in the brand's slot)
 */

ngx_int_t
ngx_http_member_wxpay_trade_no_id(ngx_str_t *no, uint64_t *id)
{
    u_char  *p, *end, c;

    if (no->len == 0 || no->len > NGX_HTTP_MEMBER_WXPAY_TRADE_NO_LEN) {
        return NGX_ERROR;
    }

    end = no->data + no->len;
    p = ngx_strlchr(no->data, end, '_');

    if (p == NULL || p + 8 > end) {
        return NGX_ERROR;
    }

    if (ngx_http_member_parse_id(no->data, p - no->data, id) != NGX_OK) {
        return NGX_ERROR;
    }

    for (p++; p < end; p++) {
        c = *p;

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
              || (c >= 'A' && c <= 'Z')))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* {m:<id>}:wxpay:<out_trade_no>, in the member's slot */

ngx_int_t
ngx_http_member_wxpay_order_key(ngx_pool_t *pool, ngx_str_t *key,
    uint64_t id, ngx_str_t *no)
{
    key->data = ngx_pnalloc(pool, sizeof("{m:}:wxpay:") - 1 + NGX_INT64_LEN
                                  + no->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = ngx_sprintf(key->data, "{m:%uL}:wxpay:%V", id, no)
               - key->data;

    return NGX_OK;
}


/*
 * What wxpay_order.lua and wxpay_paid.lua both take: the member's hash,
 * the order's key, the amount and the time, into each script's own places
 */

ngx_int_t
ngx_http_member_wxpay_order_args(ngx_pool_t *pool,
    ngx_http_member_wxpay_t *wp, ngx_str_t *member, ngx_str_t *order,
    ngx_str_t *amount, ngx_str_t *now)
{
    if (ngx_http_member_key(pool, member, wp->id, "") != NGX_OK
        || ngx_http_member_wxpay_order_key(pool, order, wp->id,
                                           &wp->out_trade_no) != NGX_OK
        || ngx_http_member_int_arg(pool, amount, wp->amount) == NULL
        || ngx_http_member_int_arg(pool, now, ngx_time()) == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * member_wxpay_notify: WeChat Pay's notification of a payment.  Success
 * is 204 with no body; any refusal changes nothing and answers WeChat
 * Pay's failure, {"code":"FAIL","message":...} with a 4xx (the
 * notification will not do) or a 5xx (retry later).
 */

ngx_int_t
ngx_http_member_wxpay_notify_handler(ngx_http_request_t *r)
{
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_wxpay_t  *wp;

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_member_wxpay_fail(r, NGX_HTTP_NOT_ALLOWED,
                                          "POST only");
    }

    ctx = ngx_http_member_get_ctx(r);
    wp = ngx_pcalloc(r->pool, sizeof(ngx_http_member_wxpay_t));

    if (ctx == NULL || wp == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->wxpay = wp;

    return ngx_http_member_read_json(r, ngx_http_member_wxpay_notify_body);
}


static void
ngx_http_member_wxpay_notify_body(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_str_t                    body;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    rc = ngx_http_member_body_raw(r, &body);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_member_wxpay_notify_check(r, mlcf->wxpay, &body));
}


static ngx_int_t
ngx_http_member_wxpay_notify_check(ngx_http_request_t *r,
    ngx_http_member_wxpay_conf_t *wx, ngx_str_t *body)
{
    size_t                 len;
    u_char                *plain;
    json_t                *json, *res, *pay;
    ngx_str_t              v[4];
    ngx_int_t              rc;
    ngx_uint_t             i;
    json_error_t           err;
    mgw_status_t           st;
    mgw_wxpay_signed_t     in;
    mgw_wxpay_resource_t   resource;
    ngx_http_member_ctx_t *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    for (i = 0; i < 4; i++) {
        if (ngx_http_member_wxpay_header(&r->headers_in.headers,
                        (char *) ngx_http_member_wxpay_signed_names[i].data,
                        ngx_http_member_wxpay_signed_names[i].len, &v[i])
            != NGX_OK)
        {
            return ngx_http_member_wxpay_fail(r, NGX_HTTP_UNAUTHORIZED,
                                              "not signed");
        }
    }

    in.serial.data = v[0].data;
    in.serial.len = v[0].len;
    in.signature.data = v[1].data;
    in.signature.len = v[1].len;
    in.timestamp.data = v[2].data;
    in.timestamp.len = v[2].len;
    in.nonce.data = v[3].data;
    in.nonce.len = v[3].len;
    in.body.data = body->data;
    in.body.len = body->len;

    st = mgw_wxpay_verify(wx->platforms.elts, wx->platforms.nelts, &in,
                          ngx_time(), 0);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: wxpay notification verified: %s",
                   mgw_status_str(st));

    if (st != MGW_OK) {
        return ngx_http_member_wxpay_fail(r, NGX_HTTP_UNAUTHORIZED,
                                          mgw_status_str(st));
    }

    json = json_loadb((const char *) body->data, body->len, 0, &err);
    if (json == NULL) {
        return ngx_http_member_wxpay_fail(r, NGX_HTTP_BAD_REQUEST,
                                          "not JSON");
    }

    /* freed by the request's cleanup */
    ctx->json = json;

    res = json_object_get(json, "resource");

    if (!json_is_object(res)
        || !json_is_string(json_object_get(res, "ciphertext"))
        || !json_is_string(json_object_get(res, "nonce"))
        || (json_object_get(res, "associated_data")
            && !json_is_string(json_object_get(res, "associated_data"))))
    {
        return ngx_http_member_wxpay_fail(r, NGX_HTTP_BAD_REQUEST,
                                          "no resource");
    }

    resource.ciphertext.data = (const uint8_t *) json_string_value(
                                   json_object_get(res, "ciphertext"));
    resource.ciphertext.len = json_string_length(
                                   json_object_get(res, "ciphertext"));
    resource.nonce.data = (const uint8_t *) json_string_value(
                                   json_object_get(res, "nonce"));
    resource.nonce.len = json_string_length(json_object_get(res, "nonce"));
    resource.associated_data.data = (const uint8_t *) "";
    resource.associated_data.len = 0;

    if (json_object_get(res, "associated_data")) {
        resource.associated_data.data = (const uint8_t *) json_string_value(
                                   json_object_get(res, "associated_data"));
        resource.associated_data.len = json_string_length(
                                   json_object_get(res, "associated_data"));
    }

    plain = ngx_pnalloc(r->pool,
                        MGW_WXPAY_PLAIN_MAX(resource.ciphertext.len) + 1);
    if (plain == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = mgw_wxpay_decrypt(wx->apiv3_key, MGW_WXPAY_APIV3_KEY_LEN, &resource,
                           plain, MGW_WXPAY_PLAIN_MAX(resource.ciphertext.len),
                           &len);

    if (st != MGW_OK) {
        return ngx_http_member_wxpay_fail(r, NGX_HTTP_BAD_REQUEST,
                                          mgw_status_str(st));
    }

    pay = json_loadb((const char *) plain, len, 0, &err);
    ngx_explicit_memzero(plain, len);

    if (pay == NULL) {
        return ngx_http_member_wxpay_fail(r, NGX_HTTP_BAD_REQUEST,
                                          "the resource is not JSON");
    }

    /* the payment lives with the body */
    json_object_set_new(json, "_payment", pay);

    rc = ngx_http_member_wxpay_notify_payment(r, wx, pay);

    return rc;
}


static ngx_int_t
ngx_http_member_wxpay_is(json_t *obj, const char *name, ngx_str_t *want)
{
    json_t  *v;

    v = json_object_get(obj, name);

    return json_is_string(v) && json_string_length(v) == want->len
           && ngx_strncmp(json_string_value(v), want->data, want->len) == 0;
}


static ngx_int_t
ngx_http_member_wxpay_notify_payment(ngx_http_request_t *r,
    ngx_http_member_wxpay_conf_t *wx, json_t *pay)
{
    json_t                      *v;
    ngx_str_t                    keys[NGX_HTTP_MEMBER_WXPAY_PAID_NKEYS];
    ngx_str_t                    args[NGX_HTTP_MEMBER_WXPAY_PAID_NARGV];
    ngx_http_member_ctx_t       *ctx;
    ngx_http_member_wxpay_t     *wp;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    wp = ctx->wxpay;

    if (!ngx_http_member_wxpay_is(pay, "mchid", &wx->mchid)) {
        return ngx_http_member_wxpay_fail(r, NGX_HTTP_BAD_REQUEST,
                                          "another merchant");
    }

    if (!ngx_http_member_wxpay_is(pay, "appid", &mlcf->wechat_appid)) {
        return ngx_http_member_wxpay_fail(r, NGX_HTTP_BAD_REQUEST,
                                          "another app");
    }

    v = json_object_get(pay, "out_trade_no");

    if (!json_is_string(v)) {
        return ngx_http_member_wxpay_fail(r, NGX_HTTP_BAD_REQUEST,
                                          "no out_trade_no");
    }

    wp->out_trade_no.data = (u_char *) json_string_value(v);
    wp->out_trade_no.len = json_string_length(v);

    if (ngx_http_member_wxpay_trade_no_id(&wp->out_trade_no, &wp->id)
        != NGX_OK)
    {
        return ngx_http_member_wxpay_fail(r, NGX_HTTP_BAD_REQUEST,
                                          "no such order");
    }

    if (ngx_http_member_json_str(pay, "transaction_id", 32, 1,
                                 &wp->transaction_id, 1)
        != NGX_OK)
    {
        return ngx_http_member_wxpay_fail(r, NGX_HTTP_BAD_REQUEST,
                                          "no transaction_id");
    }

    v = json_object_get(json_object_get(pay, "amount"), "total");

    if (!json_is_integer(v) || json_integer_value(v) < 1
        || json_integer_value(v) > MRL_AMOUNT_MAX)
    {
        return ngx_http_member_wxpay_fail(r, NGX_HTTP_BAD_REQUEST,
                                          "no amount");
    }

    wp->amount = json_integer_value(v);

    v = json_object_get(pay, "trade_state");

    if (!json_is_string(v)) {
        return ngx_http_member_wxpay_fail(r, NGX_HTTP_BAD_REQUEST,
                                          "no trade_state");
    }

    /* genuine, and nothing to credit: WeChat Pay need not send it again */
    if (ngx_strcmp(json_string_value(v), "SUCCESS") != 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "member: wxpay notification of order \"%V\" in "
                      "state %s: nothing to do", &wp->out_trade_no,
                      json_string_value(v));
        return ngx_http_member_send_raw(r, NGX_HTTP_NO_CONTENT, NULL, NULL,
                                        0);
    }

    if (ngx_http_member_wxpay_order_args(r->pool, wp,
                            &keys[NGX_HTTP_MEMBER_WXPAY_PAID_KEY_MEMBER],
                            &keys[NGX_HTTP_MEMBER_WXPAY_PAID_KEY_ORDER],
                            &args[NGX_HTTP_MEMBER_WXPAY_PAID_ARGV_AMOUNT_FEN],
                            &args[NGX_HTTP_MEMBER_WXPAY_PAID_ARGV_NOW])
        != NGX_OK
        || ngx_http_member_key(r->pool,
                            &keys[NGX_HTTP_MEMBER_WXPAY_PAID_KEY_LEDGER],
                            wp->id, ":ledger") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_WXPAY_PAID_ARGV_WX_TRANSACTION_ID] =
        wp->transaction_id;
    args[NGX_HTTP_MEMBER_WXPAY_PAID_ARGV_OUT_TRADE_NO] = wp->out_trade_no;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: wxpay_paid of order \"%V\" sent",
                   &wp->out_trade_no);

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_WXPAY_PAID,
                                        ngx_http_member_wxpay_notify_paid,
                                        keys, args, 0);
}


static ngx_int_t
ngx_http_member_wxpay_notify_paid(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: wxpay_paid of order \"%V\" answered, type %d",
                   &ctx->wxpay->out_trade_no, reply->type);

    if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS)
    {
        if (reply->len == 4 && ngx_strncmp(reply->str, "paid", 4) == 0) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "member: wxpay order \"%V\" paid",
                          &ctx->wxpay->out_trade_no);
        }

        return ngx_http_member_send_raw(r, NGX_HTTP_NO_CONTENT, NULL, NULL,
                                        0);
    }

    if (ngx_http_member_redis_is_error(reply, "NOT_FOUND")) {
        return ngx_http_member_wxpay_fail(r, NGX_HTTP_BAD_REQUEST,
                                          "no such order");
    }

    if (ngx_http_member_redis_is_error(reply, "MISMATCH")) {
        return ngx_http_member_wxpay_fail(r, NGX_HTTP_BAD_REQUEST,
                                          "the amount is not the order's");
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: wxpay_paid refused order \"%V\": %*s",
                      &ctx->wxpay->out_trade_no,
                      (size_t) ngx_min(reply->len, 200), reply->str);
    }

    return ngx_http_member_wxpay_fail(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                      "not credited, try again");
}


static ngx_int_t
ngx_http_member_wxpay_fail(ngx_http_request_t *r, ngx_uint_t status,
    const char *why)
{
    u_char  *p, *last;
    size_t   len;

    /* why is ours, never the notification's text */
    if (status < NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "member: wxpay notification refused: %s", why);
    }

    len = sizeof("{\"code\":\"FAIL\",\"message\":\"\"}") + ngx_strlen(why);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_sprintf(p, "{\"code\":\"FAIL\",\"message\":\"%s\"}", why);

    return ngx_http_member_send_raw(r, status, NULL, p, last - p);
}
