
/*
 * ngx_member: JSON answers and errors.  Every error body of the module
 * is written here, but the scripts' (ngx_http_member_redis_reply.c).
 */


#include "ngx_member_core.h"


static ngx_str_t  ngx_http_member_json_type = ngx_string("application/json");


/* nginx's own error pages in member locations, as the contract's JSON */
static ngx_str_t  ngx_http_member_error_pages[] = {
    ngx_string("{\"error\":\"bad_request\","
               "\"message\":\"the request is malformed\"}"),          /* 400 */
    ngx_string("{\"error\":\"too_large\","
               "\"message\":\"the body is too large\"}"),             /* 413 */
    ngx_string("{\"error\":\"timeout\","
               "\"message\":\"the request was not sent in time\"}"),  /* 408 */
    ngx_string("{\"error\":\"method_not_allowed\","
               "\"message\":\"method not allowed\"}"),                /* 405 */
    ngx_string("{\"error\":\"rate_limited\","
               "\"message\":\"too many requests: try again later\"}"), /* 429 */
    ngx_string("{\"error\":\"internal_error\","
               "\"message\":\"the gateway failed\"}")                 /* 5xx */
};

#define NGX_HTTP_MEMBER_PAGE_429  4
#define NGX_HTTP_MEMBER_PAGE_5XX  5


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static ngx_int_t
ngx_http_member_send_headers(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, size_t len)
{
    ngx_table_elt_t        *h;
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_member_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->answered = 1;

    r->headers_out.status = status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_length_n = len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    /* answers are personal: no cache may keep them */
    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    if (status == NGX_HTTP_NOT_ALLOWED) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, POST");
    }

    return ngx_http_send_header(r);
}


ngx_int_t
ngx_http_member_send_buf(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *b)
{
    return ngx_http_member_send_raw(r, status, NULL, b->pos, b->last - b->pos);
}


ngx_int_t
ngx_http_member_send_raw(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len)
{
    ngx_int_t               rc;
    ngx_buf_t              *b;
    ngx_chain_t             out;
    ngx_http_member_ctx_t  *ctx;

    /* the answer's observer: an admin's change goes to the audit stream */
    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (ctx && ctx->answer) {
        ctx->answer(r, status, data, len);
    }

    /* the body of a request nobody read must not stay on the wire */
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    rc = ngx_http_member_send_headers(r, status,
                                      type ? type : &ngx_http_member_json_type,
                                      len);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = len ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_member_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *value)
{
    size_t   len;
    u_char  *p;

    len = json_dumpb(value, NULL, 0, JSON_COMPACT);

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL || len == 0) {
        json_decref(value);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = json_dumpb(value, (char *) p, len, JSON_COMPACT);
    json_decref(value);

    return ngx_http_member_send_raw(r, status, NULL, p, len);
}


ngx_int_t
ngx_http_member_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    size_t   len, mlen;
    u_char  *p, *last;

    /* a message may quote the input (a field's name): escaped */
    mlen = ngx_strlen(message);
    len = sizeof("{\"error\":\"\",\"message\":\"\"}") - 1
          + ngx_strlen(code) + mlen
          + ngx_escape_json(NULL, (u_char *) message, mlen);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_sprintf(p, "{\"error\":\"%s\",\"message\":\"", code);
    last = (u_char *) ngx_escape_json(last, (u_char *) message, mlen);
    last = ngx_cpymem(last, "\"}", 2);

    return ngx_http_member_send_raw(r, status, NULL, p, last - p);
}


/* a script's answer, a JSON text it stored for retries, sent as it is */


/* a flat [field, value, ...] reply (HGETALL, XRANGE entry) as an object */


/*
 * XREVRANGE entries as {"items":[...],"next":cursor|null}: the script asks
 * for one entry more than the page, so its presence says a next page is
 * there; the cursor is the last entry's id, exclusive.
 */


/*
 * A page of XREVRANGE entries sent as {"items":[...],"next":...}: next is
 * the script's cursor, or when NULL the page's own (ledger_items).
 */


static ngx_int_t
ngx_http_member_error_header_filter(ngx_http_request_t *r)
{
    ngx_str_t                   *page;
    ngx_table_elt_t             *h;
    ngx_http_member_ctx_t       *ctx;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (r != r->main || mlcf->handler == NGX_HTTP_MEMBER_NONE) {
        return ngx_http_next_header_filter(r);
    }

    /*
     * every answer of a member location, nginx's own pages too: a browser
     * must not read JSON, a code image or an echostr as something else
     */
    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Content-Type-Options");
    ngx_str_set(&h->value, "nosniff");

    if (r->headers_out.status < NGX_HTTP_BAD_REQUEST) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (ctx && ctx->answered) {
        return ngx_http_next_header_filter(r);
    }

    switch (r->headers_out.status) {

    case NGX_HTTP_BAD_REQUEST:
        page = &ngx_http_member_error_pages[0];
        break;

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        page = &ngx_http_member_error_pages[1];
        break;

    case NGX_HTTP_REQUEST_TIME_OUT:
        page = &ngx_http_member_error_pages[2];
        break;

    case NGX_HTTP_NOT_ALLOWED:
        page = &ngx_http_member_error_pages[3];
        break;

    /* limit_req with limit_req_status 429 (conf/production.conf) */
    case NGX_HTTP_TOO_MANY_REQUESTS:
        page = &ngx_http_member_error_pages[NGX_HTTP_MEMBER_PAGE_429];
        break;

    default:
        if (r->headers_out.status < NGX_HTTP_INTERNAL_SERVER_ERROR) {
            return ngx_http_next_header_filter(r);
        }

        page = &ngx_http_member_error_pages[NGX_HTTP_MEMBER_PAGE_5XX];
        break;
    }

    ctx = ngx_http_member_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->error_page = 1;
    ctx->nginx_page = page;

    r->headers_out.content_type = ngx_http_member_json_type;
    r->headers_out.content_type_len = ngx_http_member_json_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = page->len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_member_error_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t              *b;
    ngx_str_t              *page;
    ngx_uint_t              last;
    ngx_chain_t            *cl, out;
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (ctx == NULL || !ctx->error_page) {
        return ngx_http_next_body_filter(r, in);
    }

    /* nginx's HTML is consumed; the JSON goes with its last buffer */
    last = 0;

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;

        if (cl->buf->last_buf) {
            last = 1;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    ctx->error_page = 0;
    page = ctx->nginx_page;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = page->data;
    b->last = page->data + page->len;
    b->memory = 1;
    b->last_buf = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


ngx_int_t
ngx_http_member_error_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_member_error_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_member_error_body_filter;

    return NGX_OK;
}
