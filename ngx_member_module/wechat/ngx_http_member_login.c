
/*
 * ngx_member: mini-program login (member_wechat_login).
 *
 * POST {"code"} -> sns/jscode2session -> the openid's member id (a new
 * visitor record on first login) -> a session in Redis under a random
 * 256-bit token.  The session_key stays in Redis; the client only ever
 * sees the token.
 */


#include <openssl/sha.h>

#include "ngx_member_wechat.h"
#include "member_gateway.h"


struct ngx_http_member_login_s {
    mgw_login_t            wx;
    uint64_t               id;
    u_char                 token[NGX_HTTP_MEMBER_TOKEN_LEN];
    size_t                 token_len;
};


static void ngx_http_member_login_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_login_exchanged(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_login_session(ngx_http_request_t *r,
    uint64_t id);
static ngx_int_t ngx_http_member_login_done(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);


ngx_int_t
ngx_http_member_login_handler(ngx_http_request_t *r)
{
    if (r->method != NGX_HTTP_POST) {
        return ngx_http_member_method_not_allowed(r);
    }

    return ngx_http_member_read_json(r, ngx_http_member_login_body);
}


static void
ngx_http_member_login_body(ngx_http_request_t *r)
{
    json_t     *json;
    ngx_int_t   rc;
    ngx_str_t   code, path;

    json = ngx_http_member_body_json(r, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    /* wx.login codes are short [A-Za-z0-9_-] strings */
    if (ngx_http_member_json_str(json, "code", 128, 1, &code, 1) != NGX_OK) {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "code"));
        return;
    }

    ngx_str_set(&path, "sns/jscode2session");

    rc = ngx_http_member_wechat_code(r, &path, "js_code", &code,
                                     ngx_http_member_login_exchanged);

    if (rc == NGX_ERROR) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_member_login_exchanged(ngx_http_request_t *r)
{
    ngx_str_t                 openid;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_login_t  *login;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (ctx->wechat_failed) {
        return ngx_http_member_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "wechat_unavailable",
                                     "WeChat could not be reached");
    }

    login = ngx_pcalloc(r->pool, sizeof(ngx_http_member_login_t));
    if (login == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->login = login;

    switch (mgw_login_parse(ctx->sr_body.data, ctx->sr_body.len,
                            &login->wx))
    {
    case MGW_LOGIN_OK:
        break;

    case MGW_LOGIN_BAD_CODE:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "member: wechat refused the login code, errcode %l",
                      login->wx.errcode);
        return ngx_http_member_error(r, NGX_HTTP_UNAUTHORIZED,
                                     "unauthorized",
                                     "the login code is invalid or used");

    case MGW_LOGIN_RATE_LIMITED:
        return ngx_http_member_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                     "rate_limited",
                                     "too many logins, try again later");

    case MGW_LOGIN_BLOCKED:
        return ngx_http_member_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                     "WeChat refused this user");

    default:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: wechat login failed, errcode %l",
                      login->wx.errcode);
        return ngx_http_member_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "wechat_unavailable",
                                     "WeChat could not log the user in");
    }

    openid.data = (u_char *) login->wx.openid;
    openid.len = login->wx.openid_len;

    return ngx_http_member_openid_id(r, &openid,
                                     ngx_http_member_login_session);
}


static ngx_int_t
ngx_http_member_login_session(ngx_http_request_t *r, uint64_t id)
{
    ngx_int_t                  rc;
    ngx_str_t                  openid, unionid, session_key, token;
    ngx_http_member_ctx_t     *ctx;
    ngx_http_member_login_t   *login;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    login = ctx->login;
    login->id = id;

    openid.data = (u_char *) login->wx.openid;
    openid.len = login->wx.openid_len;
    unionid.data = (u_char *) login->wx.unionid;
    unionid.len = login->wx.unionid_len;
    session_key.data = (u_char *) login->wx.session_key;
    session_key.len = login->wx.session_key_len;

    token.data = login->token;
    token.len = 0;

    rc = ngx_http_member_session_create(r, id, &openid, &unionid,
                                        &session_key, &token,
                                        ngx_http_member_login_done);

    /* the token is written before the script can answer */
    login->token_len = token.len;

    return rc;
}


/*
 * Opens a session of member id for a WeChat openid: writes the token
 * "<member id>.<43 characters of base64url>" into token->data (room for
 * NGX_HTTP_MEMBER_TOKEN_LEN) and runs login.lua, whose reply (the
 * member's status) goes to done.  The session_key, if any, is stored
 * sealed under member_pii_key (nginx -t refuses a login without one).
 */

ngx_int_t
ngx_http_member_session_create(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *openid, ngx_str_t *unionid, ngx_str_t *session_key,
    ngx_str_t *token, ngx_http_member_call_pt done)
{
    u_char                       *p;
    u_char                        rnd[NGX_HTTP_MEMBER_TOKEN_RANDOM];
    ngx_str_t                     src, dst, aad, field;
    ngx_str_t                     keys[NGX_HTTP_MEMBER_LOGIN_NKEYS];
    ngx_str_t                     args[NGX_HTTP_MEMBER_LOGIN_NARGV];
    ngx_http_member_loc_conf_t   *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (ngx_http_member_random(rnd, sizeof(rnd)) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "member: RAND_bytes() failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(token->data, "%uL.", id);

    src.data = rnd;
    src.len = sizeof(rnd);
    dst.data = p;
    ngx_encode_base64url(&dst, &src);

    token->len = p - token->data + dst.len;

    if (ngx_http_member_session_key(r, id, &dst,
                             &keys[NGX_HTTP_MEMBER_LOGIN_KEY_SESSION]) != NGX_OK
        || ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_LOGIN_KEY_MEMBER],
                               id, "") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_LOGIN_ARGV_ID].data =
                       ngx_pnalloc(r->pool, 2 * NGX_INT64_LEN + NGX_TIME_T_LEN);
    if (args[NGX_HTTP_MEMBER_LOGIN_ARGV_ID].data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = args[NGX_HTTP_MEMBER_LOGIN_ARGV_ID].data;
    args[NGX_HTTP_MEMBER_LOGIN_ARGV_ID].len = ngx_sprintf(p, "%uL", id) - p;
    p += args[NGX_HTTP_MEMBER_LOGIN_ARGV_ID].len;

    args[NGX_HTTP_MEMBER_LOGIN_ARGV_OPENID] = *openid;
    args[NGX_HTTP_MEMBER_LOGIN_ARGV_UNIONID] = *unionid;
    args[NGX_HTTP_MEMBER_LOGIN_ARGV_SESSION_KEY] = *session_key;

    /* sealed or not stored: without a key the seal fails (logged) */
    if (session_key->len) {
        ngx_str_set(&field, "session_key");

        if (ngx_http_member_pii_aad(r->pool, id, &field, &aad) != NGX_OK
            || ngx_http_member_pii_seal(r, &aad, session_key,
                                  &args[NGX_HTTP_MEMBER_LOGIN_ARGV_SESSION_KEY])
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    args[NGX_HTTP_MEMBER_LOGIN_ARGV_TTL].data = p;
    args[NGX_HTTP_MEMBER_LOGIN_ARGV_TTL].len =
                                    ngx_sprintf(p, "%T", mlcf->session_ttl) - p;
    p += args[NGX_HTTP_MEMBER_LOGIN_ARGV_TTL].len;

    args[NGX_HTTP_MEMBER_LOGIN_ARGV_NOW].data = p;
    args[NGX_HTTP_MEMBER_LOGIN_ARGV_NOW].len =
                                           ngx_sprintf(p, "%T", ngx_time()) - p;

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_LOGIN,
                                        done, keys, args, 0);
}


static ngx_int_t
ngx_http_member_login_done(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                      *p, *start;
    ngx_http_member_ctx_t       *ctx;
    ngx_http_member_login_t     *login;
    ngx_http_member_loc_conf_t  *mlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    login = ctx->login;
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (reply->type != REDIS_REPLY_STRING) {
        if (ngx_http_member_redis_is_error(reply, "CONFLICT")) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "member: openid index of member %uL is "
                          "inconsistent", login->id);
            return ngx_http_member_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "redis_unavailable",
                                         "the member store is inconsistent");
        }

        return ngx_http_member_reply_script_error(r, reply);
    }

    start = ngx_pnalloc(r->pool, 128 + login->token_len);
    if (start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(start, "{\"token\":\"%*s\",\"expires_in\":%T,"
                    "\"member_id\":", login->token_len, login->token,
                    mlcf->session_ttl);

    /* a visitor has no card yet: no member to name */
    if (reply->len == 7 && ngx_strncmp(reply->str, "visitor", 7) == 0) {
        p = ngx_sprintf(p, "null}");

    } else {
        p = ngx_sprintf(p, "\"%uL\"}", login->id);
    }

    return ngx_http_member_send_raw(r, NGX_HTTP_OK, NULL, start, p - start);
}
