
/*
 * ngx_member: what card pages and the mini-program need beside the card
 * (member_api): wx.config and cardExt signatures, registration, the
 * member's own data.  Each call reads its session first (session.lua),
 * then goes to its page.
 */


#include "ngx_member_member.h"
#include "member_gateway.h"


#define NGX_HTTP_MEMBER_URL_MAX     2048
#define NGX_HTTP_MEMBER_NONCE_LEN   16
#define NGX_HTTP_MEMBER_OUTER_MAX   64


static void ngx_http_member_pages_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_pages_session(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_pages_sessioned(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_jssdk_url(ngx_http_request_t *r,
    ngx_str_t *url);
static ngx_int_t ngx_http_member_jssdk_sign(ngx_http_request_t *r,
    ngx_str_t *ticket);
static ngx_int_t ngx_http_member_card_ext_sign(ngx_http_request_t *r,
    ngx_str_t *ticket);


/*
 * A page of the member API (its row's grant NGX_HTTP_MEMBER_GRANT_PAGE,
 * ngx_http_member_api.c), its session token checked: the body read, then
 * the session (session.lua), then the row's handler.
 */

ngx_int_t
ngx_http_member_pages_handler(ngx_http_request_t *r,
    ngx_http_member_route_t *row, ngx_http_member_match_t *m)
{
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    pg = ngx_pcalloc(r->pool, sizeof(ngx_http_member_page_t));
    if (pg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pg->row = row;
    pg->match = *m;
    pg->id = ctx->member_id;
    ctx->page = pg;

    if (ngx_http_member_key_find(r, NULL) == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: the pages need \"member_pii_key\"");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method & (NGX_HTTP_POST|NGX_HTTP_PUT)) {
        return ngx_http_member_read_json(r, ngx_http_member_pages_body);
    }

    return ngx_http_member_pages_session(r);
}


static void
ngx_http_member_pages_body(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (ngx_http_member_body_json(r, &rc) == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    ngx_http_finalize_request(r, ngx_http_member_pages_session(r));
}


static ngx_int_t
ngx_http_member_pages_session(ngx_http_request_t *r)
{
    ngx_str_t                keys[NGX_HTTP_MEMBER_SESSION_NKEYS];
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    if (ngx_http_member_key(r->pool, &pg->member_key, pg->id, "") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    keys[NGX_HTTP_MEMBER_SESSION_KEY_SESSION] = ctx->session_key;
    keys[NGX_HTTP_MEMBER_SESSION_KEY_MEMBER] = pg->member_key;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member page: the session of member %uL asked", pg->id);

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_SESSION,
                                        ngx_http_member_pages_sessioned, keys,
                                        NULL,
                                        0);
}


static ngx_int_t
ngx_http_member_pages_copy(ngx_pool_t *pool, redisReply *e, ngx_str_t *out)
{
    out->len = e->len;
    out->data = ngx_pnalloc(pool, e->len + 1);

    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, e->str, e->len);
    out->data[e->len] = '\0';

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_pages_sessioned(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t                   i;
    ngx_str_t               *out[5];
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    out[0] = &pg->openid;
    out[1] = &pg->session_key;
    out[2] = &pg->status;
    out[3] = &pg->card_no;
    out[4] = &pg->phone_index;

    for (i = 0; i < 5; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            return ngx_http_member_reply_script_error(r, reply);
        }

        if (ngx_http_member_pages_copy(r->pool, reply->element[i], out[i])
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member page \"%s\": member %uL's session read",
                   pg->row->pattern, pg->id);

    return ngx_http_member_route_run(r, pg->row, &pg->match);
}


ngx_int_t
ngx_http_member_jssdk(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    ngx_str_t               *url;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    url = ngx_palloc(r->pool, sizeof(ngx_str_t));
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (ngx_http_member_jssdk_url(r, url)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        return ngx_http_member_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                     "the page is not on the brand's "
                                     "domains");

    case NGX_ERROR:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;

    default:
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "url must be the page's http(s) URL");
    }

    pg->args = url;

    return ngx_http_member_wechat_secret(r, NGX_HTTP_MEMBER_WX_JSAPI, 0,
                                         ngx_http_member_jssdk_sign);
}


static ngx_int_t
ngx_http_member_page_domain_allowed(ngx_http_request_t *r, u_char *host, size_t len)
{
    size_t                       i;
    ngx_str_t                   *d;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (mlcf->page_domains == NULL || len == 0) {
        return 0;
    }

    d = mlcf->page_domains->elts;

    for (i = 0; i < mlcf->page_domains->nelts; i++) {

        if (d[i].len == len && ngx_strncasecmp(d[i].data, host, len) == 0) {
            return 1;
        }

        /* ".example.com": example.com and every name under it */
        if (d[i].data[0] == '.'
            && ((len == d[i].len - 1
                 && ngx_strncasecmp(d[i].data + 1, host, len) == 0)
                || (len > d[i].len
                    && ngx_strncasecmp(d[i].data, host + len - d[i].len,
                                       d[i].len) == 0)))
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The page's URL, decoded and cut at '#': NGX_OK, NGX_DECLINED for a
 * foreign host, NGX_ABORT when it is no http(s) URL at all.
 */

static ngx_int_t
ngx_http_member_jssdk_url(ngx_http_request_t *r, ngx_str_t *url)
{
    u_char     *p, *last, *host, *end, *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) "url", 3, &raw) != NGX_OK
        || raw.len == 0 || raw.len > 3 * NGX_HTTP_MEMBER_URL_MAX)
    {
        return NGX_ABORT;
    }

    dst = ngx_pnalloc(r->pool, raw.len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    url->data = dst;
    src = raw.data;
    ngx_unescape_uri(&dst, &src, raw.len, 0);
    url->len = dst - url->data;

    p = url->data;
    last = ngx_strlchr(p, p + url->len, '#');
    last = last ? last : p + url->len;
    url->len = last - p;

    if (url->len > NGX_HTTP_MEMBER_URL_MAX) {
        return NGX_ABORT;
    }

    for (p = url->data; p < last; p++) {
        if (*p <= ' ' || *p == 0x7f || *p == '\\') {
            return NGX_ABORT;
        }
    }

    p = url->data;

    if (last - p > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0) {
        p += 8;

    } else if (last - p > 7
               && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0)
    {
        p += 7;

    } else {
        return NGX_ABORT;
    }

    host = p;

    while (p < last && *p != '/' && *p != '?') {
        if (*p == '@') {
            return NGX_DECLINED;        /* user info hides the host */
        }

        p++;
    }

    end = ngx_strlchr(host, p, ':');
    end = end ? end : p;

    return ngx_http_member_page_domain_allowed(r, host, end - host) ? NGX_OK
                                                            : NGX_DECLINED;
}


static ngx_int_t
ngx_http_member_jssdk_sign(ngx_http_request_t *r, ngx_str_t *ticket)
{
    time_t                       now;
    u_char                       ts[NGX_TIME_T_LEN];
    char                         nonce[NGX_HTTP_MEMBER_NONCE_LEN];
    char                         sig[MGW_SHA1_HEX_SIZE];
    json_t                      *answer;
    ngx_str_t                   *url;
    mgw_str_t                    t, n, s, u;
    ngx_http_member_ctx_t       *ctx;
    ngx_http_member_page_t      *pg;
    ngx_http_member_loc_conf_t  *mlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;
    url = pg->args;
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (mgw_random_nonce(nonce, sizeof(nonce)) != MGW_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    t.data = ticket->data;
    t.len = ticket->len;
    n.data = (uint8_t *) nonce;
    n.len = sizeof(nonce);
    s.data = ts;
    now = ngx_time();
    s.len = ngx_sprintf(ts, "%T", now) - ts;
    u.data = url->data;
    u.len = url->len;

    if (mgw_sign_jssdk(&t, &n, &s, &u, sig, sizeof(sig)) != MGW_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    answer = json_pack("{s:s%,s:I,s:s%,s:s}",
                       "appId", mlcf->wechat_appid.data,
                       mlcf->wechat_appid.len,
                       "timestamp", (json_int_t) now,
                       "nonceStr", nonce, sizeof(nonce),
                       "signature", sig);
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK, answer);
}


/* 1 to max of [A-Za-z0-9_-] */

static ngx_int_t
ngx_http_member_card_ext_word(ngx_str_t *s, size_t max)
{
    size_t  i;

    if (s->len == 0 || s->len > max) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->len; i++) {
        if (!(isalnum(s->data[i]) || s->data[i] == '_'
              || s->data[i] == '-'))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * GET card-ext?card_id=[&outer_str=]: outer_str, the claim's channel or a
 * member's invite code (GET referral), is passed on unsigned, as WeChat
 * wants it, and comes back as OuterStr in the user_get_card event.
 */

ngx_int_t
ngx_http_member_card_ext(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    ngx_str_t               *arg;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    /* the card id, then outer_str */
    arg = ngx_pcalloc(r->pool, 2 * sizeof(ngx_str_t));
    if (arg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_arg(r, (u_char *) "card_id", 7, &arg[0]) != NGX_OK
        || ngx_http_member_card_ext_word(&arg[0], 64) != NGX_OK)
    {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "card_id is missing or invalid");
    }

    if (ngx_http_arg(r, (u_char *) "outer_str", 9, &arg[1]) == NGX_OK
        && ngx_http_member_card_ext_word(&arg[1], NGX_HTTP_MEMBER_OUTER_MAX)
           != NGX_OK)
    {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "outer_str: 1 to 64 of A-Z a-z 0-9 _ -");
    }

    pg->args = arg;

    return ngx_http_member_wechat_secret(r, NGX_HTTP_MEMBER_WX_CARD, 0,
                                         ngx_http_member_card_ext_sign);
}


/*
 * cardExt binds the card to the session's openid and, for a member, to
 * the card number as the card's code; the timestamp goes unquoted, the
 * form that WeChat's clients are reported to accept.
 */

static ngx_int_t
ngx_http_member_card_ext_sign(ngx_http_request_t *r, ngx_str_t *ticket)
{
    char                     nonce[NGX_HTTP_MEMBER_NONCE_LEN];
    char                     sig[MGW_SHA1_HEX_SIZE];
    char                    *ext;
    time_t                   now;
    u_char                   ts[NGX_TIME_T_LEN];
    json_t                  *inner, *answer;
    ngx_str_t               *card_id, *outer, code;
    mgw_card_ext_t           e;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;
    card_id = pg->args;
    outer = &card_id[1];

    if (mgw_random_nonce(nonce, sizeof(nonce)) != MGW_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (pg->status.len == 6
        && ngx_strncmp(pg->status.data, "active", 6) == 0)
    {
        code = pg->card_no;

    } else {
        ngx_str_null(&code);
    }

    e.api_ticket.data = ticket->data;
    e.api_ticket.len = ticket->len;
    e.timestamp.data = ts;
    now = ngx_time();
    e.timestamp.len = ngx_sprintf(ts, "%T", now) - ts;
    e.card_id.data = card_id->data;
    e.card_id.len = card_id->len;
    e.code.data = code.data;
    e.code.len = code.len;
    e.openid.data = pg->openid.data;
    e.openid.len = pg->openid.len;
    e.nonce_str.data = (uint8_t *) nonce;
    e.nonce_str.len = sizeof(nonce);

    if (mgw_sign_card_ext(&e, sig, sizeof(sig)) != MGW_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    inner = json_pack("{s:s%,s:s%,s:I,s:s%,s:s}",
                      "code", code.len ? (char *) code.data : "", code.len,
                      "openid", pg->openid.data, pg->openid.len,
                      "timestamp", (json_int_t) now,
                      "nonce_str", nonce, sizeof(nonce),
                      "signature", sig);
    if (inner == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* not signed: WeChat leaves outer_str out of the signature */
    if (outer->len
        && json_object_set_new(inner, "outer_str",
                               json_stringn((char *) outer->data, outer->len))
           != 0)
    {
        json_decref(inner);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ext = json_dumps(inner, JSON_COMPACT|JSON_PRESERVE_ORDER);
    json_decref(inner);

    if (ext == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    answer = json_pack("{s:s%,s:s}", "cardId", card_id->data, card_id->len,
                       "cardExt", ext);
    free(ext);

    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK, answer);
}
