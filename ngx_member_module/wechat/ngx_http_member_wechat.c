
/*
 * ngx_member: outgoing WeChat calls.  Each one is an in-memory subrequest
 * to the internal location named by member_wechat_api, so that nginx's own
 * proxy does the connection, TLS and keepalive.
 */


#include "ngx_member_wechat.h"


static ngx_int_t ngx_http_member_wechat_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_member_wechat_resume(ngx_http_request_t *r);
static u_char *ngx_http_member_wechat_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);


ngx_int_t
ngx_http_member_wechat_get(ngx_http_request_t *r, ngx_str_t *path,
    ngx_str_t *args, ngx_int_t (*done)(ngx_http_request_t *r))
{
    return ngx_http_member_wechat_post(r, path, args, NULL, done);
}


/* a call of WeChat's API that takes the access_token in its query */

ngx_int_t
ngx_http_member_wechat_post_token(ngx_http_request_t *r, ngx_str_t *path,
    ngx_str_t *token, ngx_str_t *body, ngx_int_t (*done)(ngx_http_request_t *r))
{
    u_char     *p;
    ngx_str_t   args;

    p = ngx_pnalloc(r->pool, sizeof("access_token=") - 1 + 3 * token->len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args.data = p;
    p = ngx_cpymem(p, "access_token=", sizeof("access_token=") - 1);
    p = (u_char *) ngx_escape_uri(p, token->data, token->len,
                                  NGX_ESCAPE_ARGS);
    args.len = p - args.data;

    return ngx_http_member_wechat_post(r, path, &args, body, done);
}


/*
 * A code exchanged for the user's openid (sns/jscode2session's js_code,
 * sns/oauth2/access_token's code): the app's appid and secret, the code
 * under name, grant_type authorization_code.
 */

ngx_int_t
ngx_http_member_wechat_code(ngx_http_request_t *r, ngx_str_t *path,
    const char *name, ngx_str_t *code, ngx_int_t (*done)(ngx_http_request_t *r))
{
    u_char                      *p;
    size_t                       len;
    ngx_str_t                    args;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    len = ngx_strlen(name);

    args.len = sizeof("appid=&secret=&=&grant_type=authorization_code") - 1
               + len + 3 * mlcf->wechat_appid.len
               + 3 * mlcf->wechat_secret.len + 3 * code->len;

    args.data = ngx_pnalloc(r->pool, args.len);
    if (args.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(args.data, "appid=", 6);
    p = (u_char *) ngx_escape_uri(p, mlcf->wechat_appid.data,
                                  mlcf->wechat_appid.len, NGX_ESCAPE_ARGS);
    p = ngx_cpymem(p, "&secret=", 8);
    p = (u_char *) ngx_escape_uri(p, mlcf->wechat_secret.data,
                                  mlcf->wechat_secret.len, NGX_ESCAPE_ARGS);
    *p++ = '&';
    p = ngx_cpymem(p, name, len);
    *p++ = '=';
    p = (u_char *) ngx_escape_uri(p, code->data, code->len, NGX_ESCAPE_ARGS);
    p = ngx_cpymem(p, "&grant_type=authorization_code",
                   sizeof("&grant_type=authorization_code") - 1);

    args.len = p - args.data;

    return ngx_http_member_wechat_get(r, path, &args, done);
}


/*
 * A POST of body (JSON) when body is not NULL, a GET otherwise.  The
 * internal location must pass the body: no proxy_pass_request_body off.
 */

ngx_int_t
ngx_http_member_wechat_post(ngx_http_request_t *r, ngx_str_t *path,
    ngx_str_t *args, ngx_str_t *body, ngx_int_t (*done)(ngx_http_request_t *r))
{
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    return ngx_http_member_wechat_call(r, &mlcf->wechat_api, path, args,
                                       body, NULL, done);
}


/*
 * The subrequest to api's location.  With headers (WeChat Pay's signed
 * calls) it carries those request headers only, none of the client's,
 * and the answer's Wechatpay-* headers are kept (ctx->wxpay).
 */

ngx_int_t
ngx_http_member_wechat_call(ngx_http_request_t *r, ngx_str_t *api,
    ngx_str_t *path, ngx_str_t *args, ngx_str_t *body, ngx_array_t *headers,
    ngx_int_t (*done)(ngx_http_request_t *r))
{
    ngx_buf_t                    *b;
    ngx_str_t                     uri;
    ngx_uint_t                    i;
    ngx_chain_t                  *cl;
    ngx_table_elt_t              *h, *src;
    ngx_http_request_t           *sr;
    ngx_http_member_ctx_t        *ctx;
    ngx_http_post_subrequest_t   *ps;

    ctx = ngx_http_member_get_ctx(r);

    if (ctx == NULL) {
        return NGX_ERROR;
    }

    uri.len = api->len + path->len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(uri.data, api->data, api->len), path->data,
               path->len);

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_member_wechat_done;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &uri, args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* neither the client's body nor its length may travel */
    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    sr->method = NGX_HTTP_GET;
    ngx_str_set(&sr->method_name, "GET");
    sr->headers_in.content_length_n = -1;
    sr->headers_in.content_length = NULL;
    sr->headers_in.chunked = 0;
    sr->header_only = 0;

    if (headers) {
        /* a list of its own: the parent's is shared with the copy */
        if (ngx_list_init(&sr->headers_in.headers, r->pool,
                          headers->nelts + 1, sizeof(ngx_table_elt_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        src = headers->elts;

        for (i = 0; i < headers->nelts; i++) {
            h = ngx_list_push(&sr->headers_in.headers);
            if (h == NULL) {
                return NGX_ERROR;
            }

            *h = src[i];
        }

        sr->headers_in.content_type = NULL;
    }

    if (body) {
        b = ngx_calloc_buf(r->pool);
        cl = ngx_alloc_chain_link(r->pool);

        if (b == NULL || cl == NULL) {
            return NGX_ERROR;
        }

        b->pos = body->data;
        b->last = body->data + body->len;
        b->memory = 1;
        b->last_buf = 1;

        cl->buf = b;
        cl->next = NULL;

        sr->request_body->bufs = cl;
        sr->method = NGX_HTTP_POST;
        ngx_str_set(&sr->method_name, "POST");
        sr->headers_in.content_length_n = body->len;
    }

    /*
     * The app secret travels in the query, and nginx's error line for a
     * failed upstream quotes the upstream URL: cut the query from it.
     */
    if (r->log_handler != ngx_http_member_wechat_log_error) {
        ctx->log_handler = r->log_handler;
        r->log_handler = ngx_http_member_wechat_log_error;
    }

    ctx->sr = sr;
    ctx->sr_status = 0;
    ngx_str_null(&ctx->sr_body);
    ctx->wechat_done = done;
    ctx->wechat_waiting = 1;
    ctx->wechat_failed = 0;

    r->write_event_handler = ngx_http_member_wechat_resume;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: wechat subrequest %s \"%V\" started for \"%V\"",
                   body ? "POST" : "GET", &uri, &r->uri);

    /* the subrequest's own reference ends with it: hold one for us */
    r->main->count++;

    return NGX_DONE;
}


static ngx_int_t
ngx_http_member_wechat_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    size_t                  len;
    ngx_buf_t              *b;
    ngx_http_member_ctx_t  *ctx = data;

    /* on upstream errors this runs twice: the first answer counts */
    if (!ctx->wechat_waiting || ctx->sr != sr) {
        return rc;
    }

    ctx->wechat_waiting = 0;
    ctx->sr_status = sr->headers_out.status;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "member: wechat subrequest \"%V\" done: rc %i, "
                   "status %ui", &sr->uri, rc, sr->headers_out.status);

    if (rc != NGX_OK || sr->headers_out.status != NGX_HTTP_OK
        || sr->out == NULL)
    {
        ctx->wechat_failed = 1;
        return rc;
    }

    if (ctx->wxpay && ngx_http_member_wxpay_keep(sr, ctx->wxpay) != NGX_OK) {
        ctx->wechat_failed = 1;
        return rc;
    }

    b = sr->out->buf;
    len = b->last - b->pos;

    ctx->sr_body.data = ngx_pnalloc(sr->parent->pool, len + 1);
    if (ctx->sr_body.data == NULL) {
        ctx->wechat_failed = 1;
        return rc;
    }

    ngx_memcpy(ctx->sr_body.data, b->pos, len);
    ctx->sr_body.data[len] = '\0';
    ctx->sr_body.len = len;

    return rc;
}


static void
ngx_http_member_wechat_resume(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (ctx == NULL || ctx->sr == NULL || !ctx->sr->done) {
        return;
    }

    ctx->sr = NULL;
    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_member_stats_wechat(ctx->wechat_failed);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: wechat answer resumes \"%V\"%s", &r->uri,
                   ctx->wechat_failed ? ", the call failed" : "");

    if (ctx->wechat_failed) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: wechat call failed with status %i",
                      ctx->sr_status);
    }

    rc = ctx->wechat_done(r);

    ngx_http_finalize_request(r, rc);
}


static u_char *
ngx_http_member_wechat_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len)
{
    u_char                 *p, *q, *end;
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (ctx == NULL || ctx->log_handler == NULL) {
        return buf;
    }

    end = ctx->log_handler(r, sr, buf, len);

    p = ngx_strlcasestrn(buf, end, (u_char *) ", upstream: \"", 13 - 1);
    if (p == NULL) {
        return end;
    }

    p += 13;

    for (q = p; q < end && *q != '"'; q++) {
        if (*q == '?') {
            break;
        }
    }

    if (q == end || *q != '?') {
        return end;
    }

    for (p = q; p < end && *p != '"'; p++) { /* void */ }

    ngx_memmove(q, p, end - p);

    return q + (end - p);
}


/*
 * What WeChat sends or is configured with is 1 to max characters: digits
 * only (also is NULL), or letters, digits and the characters of also
 * (openids, nonces, events: "_-"; WeChat Pay's serials: "_")
 */

ngx_int_t
ngx_http_member_wechat_chars(ngx_str_t *s, size_t max, const char *also)
{
    size_t  i;
    u_char  c;

    if (s->len == 0 || s->len > max) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (c >= '0' && c <= '9') {
            continue;
        }

        if (also == NULL) {
            return NGX_ERROR;
        }

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c != '\0' && ngx_strchr(also, c) != NULL))
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}
