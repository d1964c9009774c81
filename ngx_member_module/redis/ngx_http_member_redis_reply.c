
/*
 * ngx_member: the Redis replies that answers are made of: a script's
 * stored answer or its error as the contract names it, a hash as a JSON
 * object, a page of a ledger.
 */


#include "ngx_member_redis.h"


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


json_t *
ngx_http_member_reply_entries(redisReply *reply, size_t limit, ngx_str_t *next)
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


ngx_int_t
ngx_http_member_reply_page(ngx_http_request_t *r, redisReply *entries,
    size_t limit, ngx_str_t *next)
{
    json_t     *page, *items;
    ngx_str_t   last;

    items = ngx_http_member_reply_entries(entries, limit, &last);
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
