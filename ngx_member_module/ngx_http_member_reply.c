
/*
 * ngx_member: JSON answers and errors, and the Redis replies they are
 * made of.  Every error body of the module is written here.
 */


#include "ngx_http_member_module.h"


typedef struct {
    ngx_str_t                   code;       /* first word of the error */
    ngx_uint_t                  status;
    const char                 *error;
    const char                 *message;
} ngx_http_member_script_error_t;


/* errors that the Redis scripts return, as the contract names them */
static ngx_http_member_script_error_t  ngx_http_member_script_errors[] = {
    { ngx_string("NOT_FOUND"), NGX_HTTP_NOT_FOUND, "not_found",
      "no such member" },
    { ngx_string("UNAUTHORIZED"), NGX_HTTP_UNAUTHORIZED, "unauthorized",
      "the session is unknown or expired" },
    { ngx_string("CONFLICT"), NGX_HTTP_CONFLICT, "conflict",
      "the key was used for another request" },
    { ngx_string("EXISTS"), NGX_HTTP_CONFLICT, "conflict",
      "that openid already belongs to a member" },
    { ngx_string("STORE_EXISTS"), NGX_HTTP_CONFLICT, "conflict",
      "a store with that id exists" },
    { ngx_string("INACTIVE"), NGX_HTTP_CONFLICT, "conflict",
      "the member is not active" },
    { ngx_string("INSUFFICIENT_BALANCE"), NGX_HTTP_UNPROCESSABLE_ENTITY,
      "insufficient_balance", "the stored value does not cover it" },
    { ngx_string("REPLAY"), NGX_HTTP_UNAUTHORIZED, "bad_signature",
      "the nonce was used before" },
    { ngx_string("RATE_LIMITED"), NGX_HTTP_TOO_MANY_REQUESTS, "rate_limited",
      "too many verifications: try again in a minute" },
    { ngx_string("UNKNOWN_CODE"), NGX_HTTP_NOT_FOUND, "unknown_code",
      "no member has that code" },
    { ngx_string("CODE_USED"), NGX_HTTP_CONFLICT, "code_used",
      "the code was used before" },
    { ngx_string("TICKET_UNKNOWN"), NGX_HTTP_UNAUTHORIZED, "unauthorized",
      "the ticket is unknown, expired or another store's" },
    { ngx_string("ORDER_UNKNOWN"), NGX_HTTP_NOT_FOUND, "not_found",
      "no such order from this store" },
    { ngx_string("INSUFFICIENT_POINTS"), NGX_HTTP_UNPROCESSABLE_ENTITY,
      "insufficient_points", "not enough points" },
    { ngx_string("BAD_REDEEM"), NGX_HTTP_UNPROCESSABLE_ENTITY, "bad_redeem",
      "points are redeemed from the minimum up to the price, at the rate" },
    { ngx_string("COUPON_UNKNOWN"), NGX_HTTP_UNPROCESSABLE_ENTITY,
      "coupon_unusable", "the member has no such coupon" },
    { ngx_string("COUPON_USED"), NGX_HTTP_UNPROCESSABLE_ENTITY,
      "coupon_unusable", "the coupon was used" },
    { ngx_string("COUPON_NOT_VALID"), NGX_HTTP_UNPROCESSABLE_ENTITY,
      "coupon_unusable", "the coupon is expired or not valid yet" },
    { ngx_string("COUPON_MIN_SPEND"), NGX_HTTP_UNPROCESSABLE_ENTITY,
      "coupon_unusable", "the order is below the coupon's minimum spend" },
    { ngx_string("RECHARGE_UNKNOWN"), NGX_HTTP_NOT_FOUND, "not_found",
      "no recharge of this member has that idempotency key" },
    { ngx_string("LIMIT_EXCEEDED"), NGX_HTTP_UNPROCESSABLE_ENTITY,
      "limit_exceeded",
      "the member's balance, points or spend would pass its maximum "
      "(10^15)" },
    { ngx_null_string, 0, NULL, NULL }
};


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
    ngx_int_t    rc;
    ngx_buf_t   *b;
    ngx_chain_t  out;

    /* an admin's change is written to the audit stream */
    ngx_http_member_audit_answer(r, status, data, len);

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


/* an integer field of a reply, as JSON: nil is 0, anything else refused */

ngx_int_t
ngx_http_member_reply_number(redisReply *e, ngx_str_t *out)
{
    size_t  i;

    if (e->type == REDIS_REPLY_NIL) {
        ngx_str_set(out, "0");
        return NGX_OK;
    }

    if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > 19) {
        return NGX_ERROR;
    }

    for (i = (e->str[0] == '-'); i < e->len; i++) {
        if (e->str[i] < '0' || e->str[i] > '9') {
            return NGX_ERROR;
        }
    }

    out->data = (u_char *) e->str;
    out->len = e->len;

    return NGX_OK;
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

ngx_int_t
ngx_http_member_reply_answer(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char  *p;

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    p = ngx_pnalloc(r->pool, reply->len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, reply->str, reply->len);

    return ngx_http_member_send_raw(r, NGX_HTTP_OK, NULL, p, reply->len);
}


ngx_int_t
ngx_http_member_reply_script_error(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_member_script_error_t  *e;

    if (reply->type == REDIS_REPLY_ERROR) {
        for (e = ngx_http_member_script_errors; e->code.len; e++) {
            if (ngx_http_member_redis_is_error(reply,
                                               (const char *) e->code.data))
            {
                return ngx_http_member_error(r, e->status, e->error,
                                             e->message);
            }
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: redis error: %*s",
                      (size_t) ngx_min(reply->len, 200), reply->str);

    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: unexpected redis reply type %d", reply->type);
    }

    return ngx_http_member_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "redis_unavailable",
                                 "the member store gave an unexpected answer");
}


static ngx_int_t
ngx_http_member_numeric_field(const char *name, size_t len)
{
    static const char  *names[] = { "points", "points_delta", "ts",
                                    "version", "points_debt",
                                    "points_earned", "points_redeemed",
                                    "points_restored", "points_returned",
                                    "lot", "period", "rules_version",
                                    "orders", "last_purchase_ts",
                                    "first_purchase_ts", "year", "years",
                                    "silent_since", NULL };
    const char        **n;

    if ((len > 4 && ngx_strncmp(name + len - 4, "_fen", 4) == 0)
        || (len > 3 && ngx_strncmp(name + len - 3, "_at", 3) == 0))
    {
        return 1;
    }

    for (n = names; *n; n++) {
        if (ngx_strlen(*n) == len && ngx_strncmp(*n, name, len) == 0) {
            return 1;
        }
    }

    return 0;
}


static json_t *
ngx_http_member_field_value(const char *name, size_t nlen, redisReply *v)
{
    char       *end;
    long long   n;

    if (v->type == REDIS_REPLY_INTEGER) {
        return json_integer(v->integer);
    }

    if (v->type != REDIS_REPLY_STRING) {
        return json_null();
    }

    if (ngx_http_member_numeric_field(name, nlen) && v->len > 0
        && v->len < 20)
    {
        n = strtoll(v->str, &end, 10);
        if (end == v->str + v->len) {
            return json_integer(n);
        }
    }

    /* NULL for invalid UTF-8: the caller leaves the field out */
    return json_stringn(v->str, v->len);
}


/* a flat [field, value, ...] reply (HGETALL, XRANGE entry) as an object */

json_t *
ngx_http_member_reply_object(redisReply *reply)
{
    size_t       i;
    json_t      *obj, *v;
    redisReply  *k;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NULL;
    }

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];

        if (k->type != REDIS_REPLY_STRING) {
            continue;
        }

        v = ngx_http_member_field_value(k->str, k->len, reply->element[i + 1]);

        if (v) {
            json_object_setn_new(obj, k->str, k->len, v);
        }
    }

    return obj;
}


/*
 * XREVRANGE entries as {"items":[...],"next":cursor|null}: the script asks
 * for one entry more than the page, so its presence says a next page is
 * there; the cursor is the last entry's id, exclusive.
 */

json_t *
ngx_http_member_ledger_items(redisReply *reply, size_t limit, ngx_str_t *next)
{
    size_t       i;
    json_t      *items, *item;
    redisReply  *e;

    items = json_array();
    if (items == NULL) {
        return NULL;
    }

    ngx_str_null(next);

    for (i = 0; i < reply->elements && i < limit; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || e->element[0]->type != REDIS_REPLY_STRING)
        {
            continue;
        }

        item = ngx_http_member_reply_object(e->element[1]);
        if (item == NULL) {
            json_decref(items);
            return NULL;
        }

        json_object_set_new(item, "id",
                            json_stringn(e->element[0]->str,
                                         e->element[0]->len));
        json_array_append_new(items, item);

        if (i + 1 == limit && reply->elements > limit) {
            next->data = (u_char *) e->element[0]->str;
            next->len = e->element[0]->len;
        }
    }

    return items;
}


/*
 * A page of XREVRANGE entries sent as {"items":[...],"next":...}: next is
 * the script's cursor, or when NULL the page's own (ledger_items).
 */

ngx_int_t
ngx_http_member_ledger_page(ngx_http_request_t *r, redisReply *entries,
    size_t limit, ngx_str_t *next)
{
    json_t     *page, *items;
    ngx_str_t   last;

    items = ngx_http_member_ledger_items(entries, limit, &last);
    page = json_object();

    if (items == NULL || page == NULL) {
        json_decref(items);
        json_decref(page);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (next == NULL) {
        next = &last;
    }

    json_object_set_new(page, "items", items);
    json_object_set_new(page, "next",
                        next->len ? json_stringn((char *) next->data,
                                                 next->len)
                                  : json_null());

    return ngx_http_member_send_json(r, NGX_HTTP_OK, page);
}


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
    ctx->data = page;

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
    page = ctx->data;

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
