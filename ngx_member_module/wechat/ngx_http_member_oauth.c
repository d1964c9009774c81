
/*
 * ngx_member: official-account web login for card pages opened inside
 * WeChat (member_wechat_oauth).
 *
 *   GET /?return=<path>   302 to WeChat's OAuth page (snsapi_base) with a
 *                         state bound to this browser
 *   GET callback?code&state
 *                         sns/oauth2/access_token -> the openid's member
 *                         -> a session in the member_session cookie ->
 *                         302 to the return path
 *
 * The state is <expiry><nonce><mac>, all hex: the mac (HMAC under a key
 * derived from member_pii_key) covers the expiry, the nonce, a random
 * binding and the return path, both kept in the browser's member_oauth
 * cookie (<binding><return path in base64url>), so a state is good for
 * that browser and that path only, for 5 minutes.  Nothing is written to
 * Redis before WeChat has accepted the callback's code, so visitors who
 * never come back (or a flood of them) cost no memory there; then the
 * nonce is claimed (SET NX, until the state expires): a state serves one
 * login.
 */


#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ngx_member_wechat.h"
#include "member_gateway.h"


#define NGX_HTTP_MEMBER_OAUTH_TTL      300
#define NGX_HTTP_MEMBER_OAUTH_RETURN   512
#define NGX_HTTP_MEMBER_OAUTH_HEX      32      /* 16 bytes, as hex */
#define NGX_HTTP_MEMBER_OAUTH_STATE    (8 + 2 * NGX_HTTP_MEMBER_OAUTH_HEX)


struct ngx_http_member_oauth_s {
    u_char                      state[NGX_HTTP_MEMBER_OAUTH_STATE];
    u_char                      binding[NGX_HTTP_MEMBER_OAUTH_HEX];
    ngx_str_t                   nonce_key;
    ngx_str_t                   back;       /* the return path */
    ngx_str_t                   code;       /* WeChat's, at the callback */
    time_t                      expiry;
    mgw_oauth_t                 wx;
    u_char                      token[NGX_HTTP_MEMBER_TOKEN_LEN];
    size_t                      token_len;
};


static ngx_int_t ngx_http_member_oauth_start(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_oauth_return(ngx_http_request_t *r,
    ngx_str_t *back);
static ngx_int_t ngx_http_member_oauth_path(ngx_str_t *back);
static ngx_int_t ngx_http_member_oauth_mac(ngx_http_request_t *r,
    u_char *state, u_char *binding, ngx_str_t *back, u_char *mac);
static ngx_int_t ngx_http_member_oauth_browser(ngx_http_request_t *r,
    ngx_http_member_oauth_t *oa);
static ngx_int_t ngx_http_member_oauth_callback(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_oauth_exchanged(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_oauth_claimed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_oauth_session(ngx_http_request_t *r,
    uint64_t id);
static ngx_int_t ngx_http_member_oauth_done(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_oauth_cookie(ngx_http_request_t *r,
    const char *name, ngx_str_t *value, ngx_str_t *path, time_t max_age);
static ngx_int_t ngx_http_member_oauth_redirect(ngx_http_request_t *r,
    ngx_str_t *location);
static ngx_int_t ngx_http_member_oauth_refused(ngx_http_request_t *r,
    const char *why);


static ngx_str_t  ngx_http_member_oauth_cookie_name =
    ngx_string("member_oauth");


/*
 * The web login's routes: the location itself sends the browser to
 * WeChat, callback is where WeChat sends it back.  Both are GET: another
 * method is 405 on any route, before the route is looked for.
 */

#define R  NGX_HTTP_MEMBER_READ

static ngx_http_member_route_t  ngx_http_member_oauth_routes[] = {
    { R, "", ngx_http_member_oauth_start, NGX_HTTP_MEMBER_GRANT_ANYONE,
      NULL },
    { R, "callback", ngx_http_member_oauth_callback,
      NGX_HTTP_MEMBER_GRANT_ANYONE, NULL },

    { NGX_HTTP_MEMBER_ANY, "**", NULL, NGX_HTTP_MEMBER_GRANT_ANYONE, NULL },

    { 0, NULL, NULL, 0, NULL }
};

#undef R


ngx_int_t
ngx_http_member_oauth_handler(ngx_http_request_t *r)
{
    ngx_str_t                 route;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_oauth_t  *oa;
    ngx_http_member_match_t   m;
    ngx_http_member_route_t  *row;

    /* the callback's code and state reach no log */
    if (ngx_http_member_hide_query(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_member_method_not_allowed(r);
    }

    ctx = ngx_http_member_get_ctx(r);
    oa = ngx_pcalloc(r->pool, sizeof(ngx_http_member_oauth_t));

    if (ctx == NULL || oa == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->oauth = oa;

    ngx_http_member_route(r, &route);

    row = ngx_http_member_route_find(r, ngx_http_member_oauth_routes, &route,
                                     &m);

    return ngx_http_member_route_run(r, row, &m);
}


/* the location's own path, with a trailing slash: where callback lives */

static ngx_int_t
ngx_http_member_oauth_base(ngx_http_request_t *r, ngx_str_t *base)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    base->data = ngx_pnalloc(r->pool, clcf->name.len + 1);
    if (base->data == NULL) {
        return NGX_ERROR;
    }

    base->len = ngx_cpymem(base->data, clcf->name.data, clcf->name.len)
                - base->data;

    if (base->len == 0 || base->data[base->len - 1] != '/') {
        base->data[base->len++] = '/';
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_oauth_start(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    u_char                   *p;
    u_char                    rnd[32], mac[NGX_HTTP_MEMBER_OAUTH_HEX];
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_oauth_t  *oa;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    oa = ctx->oauth;

    if (ngx_http_member_oauth_return(r, &oa->back) != NGX_OK) {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "return must be a path on this site");
    }

    if (r->headers_in.server.len == 0) {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "a Host header is required");
    }

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(oa->state, "%08xD",
                    (uint32_t) (ngx_time() + NGX_HTTP_MEMBER_OAUTH_TTL));
    ngx_hex_dump(p, rnd, 16);
    ngx_hex_dump(oa->binding, rnd + 16, 16);

    if (ngx_http_member_oauth_mac(r, oa->state, oa->binding, &oa->back, mac)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(oa->state + 8 + NGX_HTTP_MEMBER_OAUTH_HEX, mac, sizeof(mac));

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member oauth: state made, to WeChat");

    return ngx_http_member_oauth_browser(r, oa);
}


/*
 * ?return=<path>: a path on this site only ("/x", not "//host" or
 * "/\host", which browsers read as another host); "/" when absent.
 */

static ngx_int_t
ngx_http_member_oauth_return(ngx_http_request_t *r, ngx_str_t *back)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) "return", 6, &raw) != NGX_OK) {
        ngx_str_set(back, "/");
        return NGX_OK;
    }

    if (raw.len == 0 || raw.len > 3 * NGX_HTTP_MEMBER_OAUTH_RETURN) {
        return NGX_ERROR;
    }

    dst = ngx_pnalloc(r->pool, raw.len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    back->data = dst;
    src = raw.data;
    ngx_unescape_uri(&dst, &src, raw.len, 0);
    back->len = dst - back->data;

    return ngx_http_member_oauth_path(back);
}


/* checked again at the callback: what the cookie carries back */

static ngx_int_t
ngx_http_member_oauth_path(ngx_str_t *back)
{
    u_char  *p;

    if (back->len == 0 || back->len > NGX_HTTP_MEMBER_OAUTH_RETURN
        || back->data[0] != '/'
        || (back->len > 1 && (back->data[1] == '/' || back->data[1] == '\\')))
    {
        return NGX_ERROR;
    }

    for (p = back->data; p < back->data + back->len; p++) {
        if (*p < 0x21 || *p == 0x7f || *p == '\\') {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * 32 hex digits of HMAC-SHA256(key, expiry | nonce | binding | return
 * path): all but the path are of fixed length
 */

static ngx_int_t
ngx_http_member_oauth_mac(ngx_http_request_t *r, u_char *state,
    u_char *binding, ngx_str_t *back, u_char *mac)
{
    u_char                  k[EVP_MAX_MD_SIZE], d[EVP_MAX_MD_SIZE];
    u_char                  msg[8 + 2 * NGX_HTTP_MEMBER_OAUTH_HEX
                                + NGX_HTTP_MEMBER_OAUTH_RETURN];
    size_t                  len;
    ngx_http_member_key_t  *key;

    if (back->len > NGX_HTTP_MEMBER_OAUTH_RETURN) {
        return NGX_ERROR;
    }

    key = ngx_http_member_key_find(r, NULL);
    if (key == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_member_hmac_sha256(key->key, sizeof(key->key),
                                    (u_char *) "oauth-state", 11, k)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(msg, state, 8 + NGX_HTTP_MEMBER_OAUTH_HEX);
    ngx_memcpy(msg + 8 + NGX_HTTP_MEMBER_OAUTH_HEX, binding,
               NGX_HTTP_MEMBER_OAUTH_HEX);
    len = 8 + 2 * NGX_HTTP_MEMBER_OAUTH_HEX;
    len = ngx_cpymem(msg + len, back->data, back->len) - msg;

    if (ngx_http_member_hmac_sha256(k, 32, msg, len, d) != NGX_OK) {
        OPENSSL_cleanse(k, sizeof(k));
        return NGX_ERROR;
    }

    OPENSSL_cleanse(k, sizeof(k));
    ngx_hex_dump(mac, d, NGX_HTTP_MEMBER_OAUTH_HEX / 2);

    return NGX_OK;
}


/* 302 to WeChat's OAuth page, the binding and the path in the cookie */

static ngx_int_t
ngx_http_member_oauth_browser(ngx_http_request_t *r,
    ngx_http_member_oauth_t *oa)
{
    u_char                      *p;
    size_t                       len;
    ngx_str_t                    base, cookie, location, redirect, path;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (ngx_http_member_oauth_base(r, &base) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* where WeChat sends the visitor back: this site's callback */
    redirect.data = ngx_pnalloc(r->pool, sizeof("https://callback")
                                         + r->headers_in.server.len
                                         + base.len);
    if (redirect.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    redirect.len = ngx_sprintf(redirect.data, "%s://%V%Vcallback",
                               ngx_http_member_https(r) ? "https" : "http",
                               &r->headers_in.server, &base)
                   - redirect.data;

    len = sizeof("https://open.weixin.qq.com/connect/oauth2/authorize"
                 "?appid=&redirect_uri=&response_type=code"
                 "&scope=snsapi_base&state=#wechat_redirect")
          + 3 * mlcf->wechat_appid.len + 3 * redirect.len
          + NGX_HTTP_MEMBER_OAUTH_STATE;

    location.data = ngx_pnalloc(r->pool, len);
    if (location.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(location.data,
                   "https://open.weixin.qq.com/connect/oauth2/authorize"
                   "?appid=", sizeof("https://open.weixin.qq.com/connect/"
                                     "oauth2/authorize?appid=") - 1);
    p = (u_char *) ngx_escape_uri(p, mlcf->wechat_appid.data,
                                  mlcf->wechat_appid.len, NGX_ESCAPE_ARGS);
    p = ngx_cpymem(p, "&redirect_uri=", 14);
    p = (u_char *) ngx_escape_uri(p, redirect.data, redirect.len,
                                  NGX_ESCAPE_URI_COMPONENT);
    p = ngx_sprintf(p, "&response_type=code&scope=snsapi_base&state=%*s"
                    "#wechat_redirect", (size_t) NGX_HTTP_MEMBER_OAUTH_STATE,
                    oa->state);

    location.len = p - location.data;

    cookie.data = ngx_pnalloc(r->pool, NGX_HTTP_MEMBER_OAUTH_HEX
                                       + ngx_base64_encoded_length(
                                             oa->back.len));
    if (cookie.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(cookie.data, oa->binding, NGX_HTTP_MEMBER_OAUTH_HEX);
    path.data = cookie.data + NGX_HTTP_MEMBER_OAUTH_HEX;
    ngx_encode_base64url(&path, &oa->back);
    cookie.len = NGX_HTTP_MEMBER_OAUTH_HEX + path.len;

    if (ngx_http_member_oauth_cookie(r, "member_oauth", &cookie, &base,
                                     NGX_HTTP_MEMBER_OAUTH_TTL)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_oauth_redirect(r, &location);
}


static ngx_int_t
ngx_http_member_oauth_hex(ngx_str_t *s, size_t len)
{
    size_t  i;
    u_char  c;

    if (s->len != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = s->data[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_member_oauth_callback(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    size_t                    i;
    time_t                    expiry;
    u_char                    mac[NGX_HTTP_MEMBER_OAUTH_HEX];
    ngx_str_t                 code, state, cookie, binding, path, nonce;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_oauth_t  *oa;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    oa = ctx->oauth;

    if (ngx_http_arg(r, (u_char *) "code", 4, &code) != NGX_OK
        || code.len == 0 || code.len > 128)
    {
        return ngx_http_member_oauth_refused(r, "no code: the visitor "
                                             "did not allow the login");
    }

    for (i = 0; i < code.len; i++) {
        if (!(isalnum(code.data[i]) || code.data[i] == '_'
              || code.data[i] == '-'))
        {
            return ngx_http_member_oauth_refused(r, "the code is invalid");
        }
    }

    if (ngx_http_arg(r, (u_char *) "state", 5, &state) != NGX_OK
        || !ngx_http_member_oauth_hex(&state, NGX_HTTP_MEMBER_OAUTH_STATE)
        || ngx_http_parse_multi_header_lines(&r->headers_in.cookies,
                                             &ngx_http_member_oauth_cookie_name,
                                             &cookie)
           == NGX_DECLINED
        || cookie.len <= NGX_HTTP_MEMBER_OAUTH_HEX
        || cookie.len > NGX_HTTP_MEMBER_OAUTH_HEX
                        + ngx_base64_encoded_length(
                              NGX_HTTP_MEMBER_OAUTH_RETURN))
    {
        return ngx_http_member_oauth_refused(r, "the state is missing or "
                                             "not this browser's");
    }

    binding.data = cookie.data;
    binding.len = NGX_HTTP_MEMBER_OAUTH_HEX;
    path.data = cookie.data + NGX_HTTP_MEMBER_OAUTH_HEX;
    path.len = cookie.len - NGX_HTTP_MEMBER_OAUTH_HEX;

    oa->back.data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(path.len));
    if (oa->back.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ngx_http_member_oauth_hex(&binding, NGX_HTTP_MEMBER_OAUTH_HEX)
        || ngx_decode_base64url(&oa->back, &path) != NGX_OK
        || ngx_http_member_oauth_path(&oa->back) != NGX_OK)
    {
        return ngx_http_member_oauth_refused(r, "the state is missing or "
                                             "not this browser's");
    }

    if (ngx_http_member_oauth_mac(r, state.data, binding.data, &oa->back,
                                  mac)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (CRYPTO_memcmp(mac, state.data + 8 + NGX_HTTP_MEMBER_OAUTH_HEX,
                      NGX_HTTP_MEMBER_OAUTH_HEX)
        != 0)
    {
        return ngx_http_member_oauth_refused(r, "the state is not this "
                                             "browser's");
    }

    expiry = ngx_hextoi(state.data, 8);

    if (expiry == NGX_ERROR || expiry < ngx_time()) {
        return ngx_http_member_oauth_refused(r, "the login took too long");
    }

    oa->expiry = expiry;

    /* the code and the nonce wait here while WeChat is asked */
    oa->code.data = ngx_pnalloc(r->pool, code.len);
    if (oa->code.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    oa->code.len = code.len;
    ngx_memcpy(oa->code.data, code.data, code.len);

    nonce.data = state.data + 8;
    nonce.len = NGX_HTTP_MEMBER_OAUTH_HEX;

    oa->nonce_key.data = ngx_pnalloc(r->pool, sizeof("oauth:") + nonce.len);
    if (oa->nonce_key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    oa->nonce_key.len = ngx_sprintf(oa->nonce_key.data, "oauth:%V", &nonce)
                        - oa->nonce_key.data;

    ngx_str_set(&path, "sns/oauth2/access_token");

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member oauth: state good, exchanging the code");

    return ngx_http_member_wechat_code(r, &path, "code", &oa->code,
                                       ngx_http_member_oauth_exchanged);
}


static ngx_int_t
ngx_http_member_oauth_exchanged(ngx_http_request_t *r)
{
    u_char                   *p;
    ngx_str_t                 ttl;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_oauth_t  *oa;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    oa = ctx->oauth;

    if (ctx->wechat_failed) {
        return ngx_http_member_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "wechat_unavailable",
                                     "WeChat could not be reached");
    }

    switch (mgw_oauth_parse(ctx->sr_body.data, ctx->sr_body.len, &oa->wx)) {

    case MGW_API_OK:
        break;

    case MGW_API_BAD_CODE:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "member: wechat refused the oauth code, errcode %l",
                      oa->wx.errcode);
        return ngx_http_member_oauth_refused(r, "the code is invalid or "
                                             "used");

    case MGW_API_RATE_LIMITED:
        return ngx_http_member_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                     "rate_limited",
                                     "too many logins, try again later");

    default:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: wechat oauth failed, errcode %l",
                      oa->wx.errcode);
        return ngx_http_member_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "wechat_unavailable",
                                     "WeChat could not log the visitor in");
    }

    /* WeChat vouched for the visitor: now the state is spent, for its life */
    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ttl.data = p;
    ttl.len = ngx_sprintf(p, "%T", ngx_max(oa->expiry - ngx_time(), 0) + 1)
              - p;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member oauth: code exchanged, claiming the state");

    return ngx_http_member_redis_command(r, ngx_http_member_oauth_claimed,
                                         &ngx_http_member_cmd_set,
                                         &oa->nonce_key,
                                         &(ngx_str_t) ngx_string("1"),
                                         &ngx_http_member_cmd_nx,
                                         &(ngx_str_t) ngx_string("EX"), &ttl);
}


static ngx_int_t
ngx_http_member_oauth_claimed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_str_t                 openid;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_oauth_t  *oa;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    oa = ctx->oauth;

    if (reply->type == REDIS_REPLY_NIL) {
        return ngx_http_member_oauth_refused(r, "the state was used");
    }

    if (reply->type != REDIS_REPLY_STATUS) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member oauth: state claimed, finding the member");

    openid.data = (u_char *) oa->wx.openid;
    openid.len = oa->wx.openid_len;

    return ngx_http_member_openid_id(r, &openid,
                                     ngx_http_member_oauth_session);
}


static ngx_int_t
ngx_http_member_oauth_session(ngx_http_request_t *r, uint64_t id)
{
    ngx_int_t                 rc;
    ngx_str_t                 openid, unionid, none, token;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_oauth_t  *oa;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    oa = ctx->oauth;

    openid.data = (u_char *) oa->wx.openid;
    openid.len = oa->wx.openid_len;
    unionid.data = (u_char *) oa->wx.unionid;
    unionid.len = oa->wx.unionid_len;
    ngx_str_null(&none);

    token.data = oa->token;
    token.len = 0;

    rc = ngx_http_member_session_create(r, id, &openid, &unionid, &none,
                                        &token, ngx_http_member_oauth_done);

    oa->token_len = token.len;

    return rc;
}


static ngx_int_t
ngx_http_member_oauth_done(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_str_t                    token, base, none, root;
    ngx_http_member_ctx_t       *ctx;
    ngx_http_member_oauth_t     *oa;
    ngx_http_member_loc_conf_t  *mlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    oa = ctx->oauth;
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    token.data = oa->token;
    token.len = oa->token_len;
    ngx_str_null(&none);
    ngx_str_set(&root, "/");

    if (ngx_http_member_oauth_base(r, &base) != NGX_OK
        || ngx_http_member_oauth_cookie(r, "member_session", &token, &root,
                                        mlcf->session_ttl)
           != NGX_OK
        || ngx_http_member_oauth_cookie(r, "member_oauth", &none, &base, 0)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_oauth_redirect(r, &oa->back);
}


static ngx_int_t
ngx_http_member_oauth_cookie(ngx_http_request_t *r, const char *name,
    ngx_str_t *value, ngx_str_t *path, time_t max_age)
{
    size_t            len;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name) + value->len + path->len
          + sizeof("=; Path=; Max-Age=; HttpOnly; SameSite=Lax; Secure")
          + NGX_TIME_T_LEN;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value.data = ngx_pnalloc(r->pool, len);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Set-Cookie");

    h->value.len = ngx_sprintf(h->value.data,
                               "%s=%V; Path=%V; Max-Age=%T; HttpOnly; "
                               "SameSite=Lax%s", name, value, path, max_age,
                               ngx_http_member_https(r) ? "; Secure" : "")
                    - h->value.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_oauth_redirect(ngx_http_request_t *r, ngx_str_t *location)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Location");
    h->value = *location;

    return ngx_http_member_send_raw(r, NGX_HTTP_MOVED_TEMPORARILY, NULL,
                                    (u_char *) "", 0);
}


static ngx_int_t
ngx_http_member_oauth_refused(ngx_http_request_t *r, const char *why)
{
    return ngx_http_member_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                 why);
}
