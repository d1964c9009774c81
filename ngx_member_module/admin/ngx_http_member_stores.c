
/*
 * ngx_member: the brand's stores in the admin API.
 *
 *   POST stores {"store_id","name"}  201 {"store_id","secret"}, once
 *   GET  stores                      the stores, never their secrets
 *   POST stores/<id>/rotate          200 {"store_id","secret"}: a new
 *                                    secret, once; the old one stops
 *                                    working within the scanners' cache
 *
 * All stores are one Redis hash, "stores": store id -> JSON record with
 * the name, the key id and nonce its secret is derived from, and times.
 */


#include "ngx_member_admin.h"


static void ngx_http_member_stores_create_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_stores_secret(ngx_http_request_t *r,
    ngx_str_t *store_id, ngx_http_member_key_t **key, ngx_str_t *nonce);
static ngx_int_t ngx_http_member_stores_created(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_stores_list(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static int ngx_http_member_stores_cmp(const void *one, const void *two);


static ngx_str_t  ngx_http_member_stores_key = ngx_string("stores");


ngx_int_t
ngx_http_member_stores_handler(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    if (r->method == NGX_HTTP_POST) {
        return ngx_http_member_read_json(r,
                                         ngx_http_member_stores_create_body);
    }

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        return ngx_http_member_redis_command(r, ngx_http_member_stores_list,
                                             &ngx_http_member_cmd_hgetall,
                                             &ngx_http_member_stores_key);
    }

    return ngx_http_member_method_not_allowed(r);
}


static void
ngx_http_member_stores_create_body(ngx_http_request_t *r)
{
    char                   *dump;
    json_t                 *json, *record;
    ngx_int_t               rc;
    ngx_str_t               store_id, name, nonce, *arg;
    ngx_str_t               args[NGX_HTTP_MEMBER_STORE_CREATE_NARGV];
    ngx_http_member_key_t  *key;

    json = ngx_http_member_body_json(r, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ngx_http_member_json_str(json, "store_id", 32, 1, &store_id, 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r,
                                  ngx_http_member_bad_field(r, "store_id"));
        return;
    }

    if (ngx_http_member_json_str(json, "name", 96, 0, &name, 1) != NGX_OK) {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "name"));
        return;
    }

    if (ngx_http_member_stores_secret(r, &store_id, &key, &nonce) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    record = json_pack("{s:s%,s:s%,s:s%,s:s%,s:I,s:s}",
                       "store_id", store_id.data, store_id.len,
                       "name", name.data, name.len,
                       "key", key->id.data, key->id.len,
                       "nonce", nonce.data, nonce.len,
                       "created_at", (json_int_t) ngx_time(),
                       "status", "active");

    dump = record ? json_dumps(record, JSON_COMPACT) : NULL;
    json_decref(record);

    if (dump == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    args[NGX_HTTP_MEMBER_STORE_CREATE_ARGV_ID] = store_id;
    arg = &args[NGX_HTTP_MEMBER_STORE_CREATE_ARGV_RECORD];
    arg->len = ngx_strlen(dump);
    arg->data = ngx_pnalloc(r->pool, arg->len);

    if (arg->data == NULL) {
        free(dump);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(arg->data, dump, arg->len);
    free(dump);

    ngx_http_finalize_request(r,
        ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_STORE_CREATE,
                                     ngx_http_member_stores_created,
                                     &ngx_http_member_stores_key, args,
                                     0));
}


/* POST stores/<store>/rotate */

ngx_int_t
ngx_http_member_stores_rotate(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    u_char                 *p;
    ngx_str_t               store_id, nonce;
    ngx_str_t               args[NGX_HTTP_MEMBER_STORE_ROTATE_NARGV];
    ngx_http_member_key_t  *key;

    store_id = m->capture[0];

    if (store_id.len > 32
        || ngx_strlchr(store_id.data, store_id.data + store_id.len, '/'))
    {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such store");
    }

    if (ngx_http_member_stores_secret(r, &store_id, &key, &nonce) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_STORE_ROTATE_ARGV_ID] = store_id;
    args[NGX_HTTP_MEMBER_STORE_ROTATE_ARGV_KEY_ID] = key->id;
    args[NGX_HTTP_MEMBER_STORE_ROTATE_ARGV_NONCE] = nonce;
    args[NGX_HTTP_MEMBER_STORE_ROTATE_ARGV_NOW].data = p;
    args[NGX_HTTP_MEMBER_STORE_ROTATE_ARGV_NOW].len =
                                           ngx_sprintf(p, "%T", ngx_time()) - p;

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_STORE_ROTATE,
                                        ngx_http_member_stores_created,
                                        &ngx_http_member_stores_key, args,
                                        0);
}


/*
 * A new secret for a store: a random nonce, and the secret derived from
 * it under the current key, kept in the request's context for the answer.
 */

static ngx_int_t
ngx_http_member_stores_secret(ngx_http_request_t *r, ngx_str_t *store_id,
    ngx_http_member_key_t **key, ngx_str_t *nonce)
{
    u_char                 rnd[16];
    ngx_str_t             *secret;
    ngx_http_member_ctx_t *ctx;

    *key = ngx_http_member_key_find(r, NULL);
    ctx = ngx_http_member_get_ctx(r);
    secret = ngx_palloc(r->pool, sizeof(ngx_str_t));
    nonce->data = ngx_pnalloc(r->pool, 2 * sizeof(rnd));

    if (*key == NULL || ctx == NULL || secret == NULL || nonce->data == NULL
        || ngx_http_member_random(rnd, sizeof(rnd)) != NGX_OK)
    {
        return NGX_ERROR;
    }

    nonce->len = ngx_hex_dump(nonce->data, rnd, sizeof(rnd)) - nonce->data;

    secret->len = NGX_HTTP_MEMBER_SECRET_LEN;
    secret->data = ngx_pnalloc(r->pool, NGX_HTTP_MEMBER_SECRET_LEN);

    if (secret->data == NULL
        || ngx_http_member_store_secret(r, *key, store_id, nonce,
                                        secret->data)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->store_secret = secret;
    ctx->session_key = *store_id;

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_stores_created(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                 *p, *start;
    ngx_str_t              *secret, *store_id;
    ngx_http_member_ctx_t  *ctx;

    if (reply->type != REDIS_REPLY_STATUS && reply->type != REDIS_REPLY_STRING)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    /* the only time the secret is shown: 201 for a new store */
    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    secret = ctx->store_secret;
    store_id = &ctx->session_key;

    start = ngx_pnalloc(r->pool, 64 + store_id->len + secret->len);
    if (start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(start, "{\"store_id\":\"%V\",\"secret\":\"%V\"}",
                    store_id, secret);

    return ngx_http_member_send_raw(r, call->script
                                       == NGX_HTTP_MEMBER_SCRIPT_STORE_CREATE
                                       ? NGX_HTTP_CREATED : NGX_HTTP_OK,
                                    NULL, start, p - start);
}


static ngx_int_t
ngx_http_member_stores_list(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t        i, n;
    json_t      **items, *list, *record, *store;
    redisReply   *v;
    json_error_t  err;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    items = ngx_palloc(r->pool, (reply->elements / 2 + 1) * sizeof(json_t *));
    if (items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 1, n = 0; i < reply->elements; i += 2) {
        v = reply->element[i];

        if (v->type != REDIS_REPLY_STRING) {
            continue;
        }

        record = json_loadb(v->str, v->len, 0, &err);
        if (record == NULL) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "member: a store record is not JSON");
            continue;
        }

        /* what a store list may show: never the key id or the nonce */
        store = json_pack("{s:O*,s:O*,s:O*,s:O*}",
                          "store_id", json_object_get(record, "store_id"),
                          "name", json_object_get(record, "name"),
                          "status", json_object_get(record, "status"),
                          "created_at", json_object_get(record, "created_at"));
        json_decref(record);

        if (store) {
            items[n++] = store;
        }
    }

    ngx_qsort(items, n, sizeof(json_t *), ngx_http_member_stores_cmp);

    list = json_array();

    for (i = 0; i < n; i++) {
        if (list) {
            json_array_append(list, items[i]);
        }

        json_decref(items[i]);
    }

    if (list == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK, list);
}


static int
ngx_http_member_stores_cmp(const void *one, const void *two)
{
    const char  *a, *b;

    a = json_string_value(json_object_get(*(json_t **) one, "store_id"));
    b = json_string_value(json_object_get(*(json_t **) two, "store_id"));

    return ngx_strcmp(a ? a : "", b ? b : "");
}
