
/*
 * ngx_member: request bodies and arguments.  Bodies are read
 * asynchronously, bounded by client_max_body_size, kept in memory and
 * parsed with jansson; every field is checked before it is used.
 */


#include "ngx_member_core.h"


ngx_int_t
ngx_http_member_read_json(ngx_http_request_t *r,
    void (*post_handler)(ngx_http_request_t *r))
{
    ngx_int_t                  rc;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* answered here, in JSON, before a byte of it is read */
    if (clcf->client_max_body_size
        && r->headers_in.content_length_n > clcf->client_max_body_size)
    {
        r->keepalive = 0;
        return ngx_http_member_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                     "too_large", "the body is too large");
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, post_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* NULL when an error answer went out: *rc is what to finalize with */

static json_t *
ngx_http_member_body_fail(ngx_http_request_t *r, ngx_int_t *rc,
    ngx_uint_t status, const char *code, const char *message)
{
    *rc = ngx_http_member_error(r, status, code, message);
    return NULL;
}


/*
 * The body read by ngx_http_member_read_json(), in memory, as one piece:
 * NGX_OK with *body set (possibly empty), or the rc of an error answer.
 */

ngx_int_t
ngx_http_member_body_raw(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            /* client_body_buffer_size is smaller than the limit */
            return ngx_http_member_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         "too_large", "the body is too large");
        }

        len += cl->buf->last - cl->buf->pos;
    }

    cl = r->request_body->bufs;

    if (cl == NULL || cl->next == NULL) {
        body->data = cl ? cl->buf->pos : NULL;
        body->len = len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body->data = p;
    body->len = len;

    for ( /* void */ ; cl; cl = cl->next) {
        b = cl->buf;
        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    return NGX_OK;
}


json_t *
ngx_http_member_body_json(ngx_http_request_t *r, ngx_int_t *rc)
{
    json_t                 *json;
    ngx_str_t               body;
    json_error_t            err;
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_member_get_ctx(r);

    if (ctx == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NULL;
    }

    *rc = ngx_http_member_body_raw(r, &body);

    if (*rc != NGX_OK) {
        return NULL;
    }

    if (body.len == 0) {
        return ngx_http_member_body_fail(r, rc, NGX_HTTP_BAD_REQUEST,
                                         "bad_request",
                                         "a JSON object is expected");
    }

    json = json_loadb((const char *) body.data, body.len,
                      JSON_REJECT_DUPLICATES, &err);

    if (json == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "member: bad JSON body at byte %d", err.position);
        return ngx_http_member_body_fail(r, rc, NGX_HTTP_BAD_REQUEST,
                                         "bad_request",
                                         "the body is not valid JSON");
    }

    ctx->json = json;

    if (!json_is_object(json)) {
        return ngx_http_member_body_fail(r, rc, NGX_HTTP_BAD_REQUEST,
                                         "bad_request",
                                         "a JSON object is expected");
    }

    return json;
}


/*
 * The fields of every money and points call, declared once: a field not
 * listed is refused (a till that sends "amount_fen" to a refund must not
 * get the whole order refunded), and those marked are the request's
 * fingerprint, what must be the same when its idempotency key or order
 * id comes again.  The key itself and the ticket (the member stands for
 * it) are not.
 */

typedef struct {
    const char                   *name;
    ngx_uint_t                    fingerprint;
} ngx_http_member_field_t;


typedef struct {
    const char                   *call;
    ngx_http_member_field_t      *fields;
} ngx_http_member_body_call_t;


static ngx_http_member_field_t  ngx_http_member_purchase_fields[] = {
    { "ticket", 0 },
    { "order_id", 0 },
    { "amount_fen", 1 },
    { "points", 1 },
    { "coupon_id", 1 },
    { NULL, 0 }
};

static ngx_http_member_field_t  ngx_http_member_refund_fields[] = {
    { "order_id", 0 },
    { NULL, 0 }
};

static ngx_http_member_field_t  ngx_http_member_recharge_fields[] = {
    { "idempotency_key", 0 },
    { "amount_fen", 1 },
    { NULL, 0 }
};

/* a till's recharge: the store is added to its fingerprint (ledger.c) */
static ngx_http_member_field_t  ngx_http_member_till_recharge_fields[] = {
    { "ticket", 0 },
    { "idempotency_key", 0 },
    { "amount_fen", 1 },
    { "method", 1 },
    { NULL, 0 }
};

static ngx_http_member_field_t  ngx_http_member_recharge_refund_fields[] = {
    { "idempotency_key", 0 },
    { "refund_key", 0 },
    { NULL, 0 }
};

static ngx_http_member_field_t  ngx_http_member_points_fields[] = {
    { "idempotency_key", 0 },
    { "delta", 1 },
    { "reason", 1 },
    { NULL, 0 }
};

static ngx_http_member_field_t  ngx_http_member_level_fields[] = {
    { "level", 0 },
    { "reason", 0 },
    { NULL, 0 }
};

static ngx_http_member_field_t  ngx_http_member_coupon_issue_fields[] = {
    { "idempotency_key", 0 },
    { "template_id", 1 },
    { "member_ids", 0 },
    { "tag", 0 },
    { "segment", 0 },
    { NULL, 0 }
};

static ngx_http_member_field_t  ngx_http_member_wxpay_order_fields[] = {
    { "amount_fen", 1 },
    { NULL, 0 }
};


/* in the order of ngx_http_member_body_e */
static ngx_http_member_body_call_t  ngx_http_member_body_calls[] = {
    { "pay", ngx_http_member_purchase_fields },
    { "earn", ngx_http_member_purchase_fields },
    { "refund", ngx_http_member_refund_fields },
    { "recharge", ngx_http_member_recharge_fields },
    { "recharge_refund", ngx_http_member_recharge_refund_fields },
    { "points", ngx_http_member_points_fields },
    { "level", ngx_http_member_level_fields },
    { "coupon_issue", ngx_http_member_coupon_issue_fields },
    { "till_recharge", ngx_http_member_till_recharge_fields },
    { "recharge by WeChat Pay", ngx_http_member_wxpay_order_fields }
};


/*
 * NGX_OK when every field is known; NGX_DECLINED when a 400 naming the
 * first field not known went out, *rc what to finalize with
 */

ngx_int_t
ngx_http_member_body_known(ngx_http_request_t *r, json_t *json,
    ngx_http_member_body_e call, ngx_int_t *rc)
{
    u_char                   *p;
    void                     *it;
    size_t                    len;
    const char               *key;
    ngx_http_member_field_t  *f;

    for (it = json_object_iter(json); it;
         it = json_object_iter_next(json, it))
    {
        key = json_object_iter_key(it);

        for (f = ngx_http_member_body_calls[call].fields; f->name; f++) {
            if (ngx_strcmp(f->name, key) == 0) {
                break;
            }
        }

        if (f->name) {
            continue;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "member: a field not known to %s",
                      ngx_http_member_body_calls[call].call);

        /* the name, cut to a readable length on a character's boundary */
        len = ngx_strlen(key);

        if (len > 64) {
            len = 64;

            while (len && ((u_char) key[len] & 0xc0) == 0x80) {
                len--;
            }
        }

        p = ngx_pnalloc(r->pool, len + 64);
        if (p == NULL) {
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_DECLINED;
        }

        (void) ngx_sprintf(p, "field %*s is not known to this call%Z", len,
                           key);

        *rc = ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                    (const char *) p);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the body of a money call, its fields checked against its table */

json_t *
ngx_http_member_body_call(ngx_http_request_t *r, ngx_http_member_body_e call,
    ngx_int_t *rc)
{
    json_t  *json;

    json = ngx_http_member_body_json(r, rc);
    if (json == NULL) {
        return NULL;
    }

    if (ngx_http_member_body_known(r, json, call, rc) != NGX_OK) {
        return NULL;
    }

    return json;
}


/*
 * "<call>:<member id>:" and the hex SHA-256 of the marked fields in the
 * table's order, each "name=<its compact JSON>\n" ("null" when absent):
 * the same request always makes the same fingerprint, whatever the order
 * or spacing of its body, and a change of any field that decides the
 * outcome makes another.
 */

ngx_int_t
ngx_http_member_body_fingerprint(ngx_http_request_t *r, json_t *json,
    ngx_http_member_body_e call, uint64_t id, ngx_str_t *fp)
{
    u_char                   *p, digest[32];
    char                     *value;
    json_t                   *v;
    size_t                    len;
    ngx_buf_t                *b;
    ngx_chain_t              *cl, **last, *in;
    ngx_http_member_field_t  *f;

    in = NULL;
    last = &in;

    for (f = ngx_http_member_body_calls[call].fields; f->name; f++) {
        if (!f->fingerprint) {
            continue;
        }

        v = json_object_get(json, f->name);
        value = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS
                                  | JSON_ENCODE_ANY)
                  : NULL;

        len = ngx_strlen(f->name) + 2 + (value ? ngx_strlen(value) : 4);

        b = ngx_create_temp_buf(r->pool, len);
        cl = ngx_alloc_chain_link(r->pool);

        if (b == NULL || cl == NULL || (v && value == NULL)) {
            free(value);
            return NGX_ERROR;
        }

        b->last = ngx_sprintf(b->last, "%s=%s\n", f->name,
                              value ? value : "null");
        free(value);

        cl->buf = b;
        cl->next = NULL;
        *last = cl;
        last = &cl->next;
    }

    p = ngx_pnalloc(r->pool, ngx_strlen(ngx_http_member_body_calls[call].call)
                             + NGX_INT64_LEN + 2 + 2 * sizeof(digest));

    if (p == NULL || ngx_http_member_sha256(NULL, 0, in, digest) != NGX_OK) {
        return NGX_ERROR;
    }

    fp->data = p;
    p = ngx_sprintf(p, "%s:%uL:", ngx_http_member_body_calls[call].call, id);
    p = ngx_hex_dump(p, digest, sizeof(digest));
    fp->len = p - fp->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_member_bad_field(ngx_http_request_t *r, const char *name)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, 64 + ngx_strlen(name));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_sprintf(p, "field %s is missing or invalid%Z", name);

    return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                 (const char *) p);
}


/*
 * NGX_OK: *out is set; NGX_DECLINED: absent and optional;
 * NGX_ERROR: present but invalid, or absent and required.
 */

ngx_int_t
ngx_http_member_json_int(json_t *obj, const char *name, ngx_int_t min,
    ngx_int_t max, ngx_int_t *out, ngx_flag_t required)
{
    json_t     *v;
    json_int_t  n;

    v = json_object_get(obj, name);

    if (v == NULL || json_is_null(v)) {
        return required ? NGX_ERROR : NGX_DECLINED;
    }

    if (!json_is_integer(v)) {
        return NGX_ERROR;
    }

    n = json_integer_value(v);

    if (n < min || n > max) {
        return NGX_ERROR;
    }

    *out = (ngx_int_t) n;

    return NGX_OK;
}


ngx_int_t
ngx_http_member_id_char(u_char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'
           || c == ':';
}


/* a string of 1..max bytes; "id" strings are [A-Za-z0-9_.:-] only */

ngx_int_t
ngx_http_member_json_str(json_t *obj, const char *name, size_t max,
    ngx_flag_t id, ngx_str_t *out, ngx_flag_t required)
{
    size_t   i;
    json_t  *v;

    v = json_object_get(obj, name);

    if (v == NULL || json_is_null(v)) {
        return required ? NGX_ERROR : NGX_DECLINED;
    }

    if (!json_is_string(v)) {
        return NGX_ERROR;
    }

    out->data = (u_char *) json_string_value(v);
    out->len = json_string_length(v);

    if (out->len == 0 || out->len > max) {
        return NGX_ERROR;
    }

    if (id) {
        for (i = 0; i < out->len; i++) {
            if (!ngx_http_member_id_char(out->data[i])) {
                return NGX_ERROR;
            }
        }

    } else if (ngx_strlen(out->data) != out->len) {
        return NGX_ERROR;                   /* an embedded NUL */
    }

    return NGX_OK;
}


/* ?name=N with 1 <= N <= max, def when absent; NGX_ERROR when invalid */

ngx_int_t
ngx_http_member_arg_uint(ngx_http_request_t *r, char *name, size_t len,
    ngx_uint_t def, ngx_uint_t max, ngx_uint_t *out)
{
    ngx_int_t  n;
    ngx_str_t  value;

    if (ngx_http_arg(r, (u_char *) name, len, &value) != NGX_OK) {
        *out = def;
        return NGX_OK;
    }

    n = ngx_atoi(value.data, value.len);

    if (n < 1 || (ngx_uint_t) n > max) {
        return NGX_ERROR;
    }

    *out = n;

    return NGX_OK;
}


/* a stream id "<ms>-<seq>", the ledger's page cursor */

ngx_int_t
ngx_http_member_arg_cursor(ngx_http_request_t *r, ngx_str_t *cursor)
{
    size_t  i, dash;

    if (ngx_http_arg(r, (u_char *) "before", 6, cursor) != NGX_OK) {
        ngx_str_null(cursor);
        return NGX_OK;
    }

    if (cursor->len == 0 || cursor->len > 41) {
        return NGX_ERROR;
    }

    dash = 0;

    for (i = 0; i < cursor->len; i++) {
        if (cursor->data[i] == '-' && i > 0 && dash == 0) {
            dash = i;
            continue;
        }

        if (cursor->data[i] < '0' || cursor->data[i] > '9') {
            return NGX_ERROR;
        }
    }

    return (dash && dash + 1 < cursor->len) ? NGX_OK : NGX_ERROR;
}


/*
 * Where a newest-first range starts: "(<cursor>" (exclusive) written at p,
 * or "+" without a cursor; returns what follows at p.
 */

u_char *
ngx_http_member_range_start(u_char *p, ngx_str_t *cursor, ngx_str_t *start)
{
    if (cursor->len == 0) {
        ngx_str_set(start, "+");
        return p;
    }

    start->data = p;
    *p++ = '(';
    p = ngx_cpymem(p, cursor->data, cursor->len);
    start->len = p - start->data;

    return p;
}
