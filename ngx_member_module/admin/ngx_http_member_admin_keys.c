
/*
 * ngx_member: the admin API's keys, managed by the bootstrap token only.
 *
 *   POST   keys {"name","role","stores"?}  201 {"key_id","key"}, once
 *   GET    keys                            the keys, never the keys
 *   DELETE keys/<key id>                   revoked at once
 *
 * Redis keeps the SHA-256 of a key's secret, never the secret
 * (ngx_http_member_admin_auth.c checks a bearer against it).
 */


#include <openssl/rand.h>
#include <openssl/sha.h>

#include "ngx_member_admin.h"


#define NGX_HTTP_MEMBER_KEY_STORES_MAX  64


static void ngx_http_member_keys_create_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_keys_created(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_keys_list(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_keys_revoked(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);


static ngx_str_t  ngx_http_member_hsetnx = ngx_string("HSETNX");


/* POST keys, GET keys, DELETE keys/<key id> */

ngx_int_t
ngx_http_member_keys_create(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    return ngx_http_member_read_json(r, ngx_http_member_keys_create_body);
}


ngx_int_t
ngx_http_member_keys_get(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    return ngx_http_member_redis_command(r, ngx_http_member_keys_list,
                                         &ngx_http_member_cmd_hgetall,
                                         &ngx_http_member_keys_key);
}


/* keys/<any rest>: what is no key id is no such key, whatever the method */

ngx_int_t
ngx_http_member_keys_revoke(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    ngx_str_t  route, key_id;

    ngx_http_member_route(r, &route);

    key_id.data = route.data + 5;
    key_id.len = route.len - 5;

    if (key_id.len != NGX_HTTP_MEMBER_KEY_ID_LEN
        || ngx_strlchr(key_id.data, key_id.data + key_id.len, '/'))
    {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such key");
    }

    if (r->method != NGX_HTTP_DELETE) {
        return ngx_http_member_method_not_allowed(r);
    }

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_ADMIN_REVOKE,
                                        ngx_http_member_keys_revoked,
                                        &ngx_http_member_keys_key, &key_id,
                                        0);
}


static void
ngx_http_member_keys_create_body(ngx_http_request_t *r)
{
    u_char                         rnd[8], raw[32];
    u_char                         hash[SHA256_DIGEST_LENGTH], *p;
    char                          *dump;
    size_t                         i;
    json_t                        *json, *stores, *v, *record, *answer;
    ngx_int_t                      rc;
    ngx_str_t                      name, role, args[3], src, dst, *rn;
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_admin_auth_t  *aa;

    json = ngx_http_member_body_json(r, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ngx_http_member_json_str(json, "name", 64, 0, &name, 1) != NGX_OK) {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "name"));
        return;
    }

    rc = ngx_http_member_json_str(json, "role", 16, 1, &role, 1);

    for (rn = ngx_http_member_role_names; rc == NGX_OK && rn->len; rn++) {
        if (rn->len == role.len
            && ngx_strncmp(rn->data, role.data, role.len) == 0)
        {
            break;
        }
    }

    if (rc != NGX_OK || rn->len == 0) {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "role"));
        return;
    }

    /* a store key names its stores; no other role has any */
    stores = json_object_get(json, "stores");

    if (role.len == 5 && ngx_strncmp(role.data, "store", 5) == 0) {
        if (!json_is_array(stores) || json_array_size(stores) == 0
            || json_array_size(stores) > NGX_HTTP_MEMBER_KEY_STORES_MAX)
        {
            ngx_http_finalize_request(r,
                                      ngx_http_member_bad_field(r, "stores"));
            return;
        }

        json_array_foreach(stores, i, v) {
            if (!json_is_string(v) || json_string_length(v) == 0
                || json_string_length(v) > 32
                || ngx_strlchr((u_char *) json_string_value(v),
                               (u_char *) json_string_value(v)
                               + json_string_length(v), '/'))
            {
                ngx_http_finalize_request(r,
                                      ngx_http_member_bad_field(r, "stores"));
                return;
            }
        }

    } else if (stores != NULL && !json_is_null(stores)) {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "stores"));
        return;

    } else {
        stores = NULL;
    }

    args[0].data = ngx_pnalloc(r->pool, NGX_HTTP_MEMBER_ADMIN_KEY_LEN);
    if (args[0].data == NULL
        || RAND_bytes(rnd, sizeof(rnd)) != 1
        || RAND_bytes(raw, sizeof(raw)) != 1)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* the whole key, shown once: "mk_<id>.<secret>" */
    p = ngx_cpymem(args[0].data, "mk_", 3);
    p = ngx_hex_dump(p, rnd, sizeof(rnd));
    *p++ = '.';

    src.data = raw;
    src.len = sizeof(raw);
    dst.data = p;
    ngx_encode_base64url(&dst, &src);
    OPENSSL_cleanse(raw, sizeof(raw));

    args[0].len = p + dst.len - args[0].data;

    if (ngx_http_member_sha256(dst.data, dst.len, NULL, hash) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    args[1].data = args[0].data + 3;
    args[1].len = NGX_HTTP_MEMBER_KEY_ID_LEN;

    p = ngx_pnalloc(r->pool, 2 * SHA256_DIGEST_LENGTH);
    if (p == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_hex_dump(p, hash, sizeof(hash));

    record = json_pack("{s:s%,s:s%,s:O?,s:s%,s:I}",
                       "name", name.data, name.len,
                       "role", role.data, role.len,
                       "stores", stores,
                       "hash", p, (size_t) 2 * SHA256_DIGEST_LENGTH,
                       "created_at", (json_int_t) ngx_time());

    answer = json_pack("{s:s%,s:s%,s:s%,s:O?}",
                       "key_id", args[1].data, args[1].len,
                       "name", name.data, name.len,
                       "role", role.data, role.len,
                       "stores", stores);

    dump = record ? json_dumps(record, JSON_COMPACT) : NULL;
    json_decref(record);

    if (dump == NULL || answer == NULL) {
        free(dump);
        json_decref(answer);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    args[2].len = ngx_strlen(dump);
    args[2].data = ngx_pnalloc(r->pool, args[2].len);

    if (args[2].data == NULL) {
        free(dump);
        json_decref(answer);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(args[2].data, dump, args[2].len);
    free(dump);

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    aa = ctx->auth;

    aa->key = args[0];
    aa->answer = answer;

    /* the audit keeps what the key may do, never the key */
    ngx_http_member_audit_set(r, NULL, json_deep_copy(answer));

    ngx_http_finalize_request(r,
        ngx_http_member_redis_command(r, ngx_http_member_keys_created,
                                      &ngx_http_member_hsetnx,
                                      &ngx_http_member_keys_key,
                                      &args[1], &args[2]));
}


static ngx_int_t
ngx_http_member_keys_created(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    json_t                        *answer;
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_admin_auth_t  *aa;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    aa = ctx->auth;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member admin: key stored: %d", reply->type);

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    if (reply->integer != 1) {
        /* 64 random bits met another key's: try again */
        return ngx_http_member_error(r, NGX_HTTP_CONFLICT, "conflict",
                                     "the new key's id is taken: retry");
    }

    answer = aa->answer;
    aa->answer = NULL;

    json_object_set_new(answer, "key",
                        json_stringn((char *) aa->key.data, aa->key.len));

    return ngx_http_member_send_json(r, NGX_HTTP_CREATED, answer);
}


static ngx_int_t
ngx_http_member_keys_list(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t        i;
    json_t       *keys, *record;
    json_error_t  err;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member admin: keys listed: %d", reply->type);

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    keys = json_array();
    if (keys == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i + 1 < reply->elements; i += 2) {
        record = json_loadb(reply->element[i + 1]->str,
                            reply->element[i + 1]->len, 0, &err);
        if (record == NULL) {
            continue;
        }

        /* what a key may do, never what it is */
        json_object_del(record, "hash");
        json_object_set_new(record, "key_id",
                            json_stringn(reply->element[i]->str,
                                         reply->element[i]->len));
        json_array_append_new(keys, record);
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK,
                                     json_pack("{s:o}", "keys", keys));
}


static ngx_int_t
ngx_http_member_keys_revoked(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    json_t        *record;
    json_error_t   err;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member admin: key revoked: %d", reply->type);

    if (ngx_http_member_redis_is_error(reply, "NOT_FOUND")) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such key");
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    record = json_loadb(reply->str, reply->len, 0, &err);

    if (record) {
        json_object_del(record, "hash");
        json_object_del(record, "created_at");
    }

    ngx_http_member_audit_set(r, record, json_pack("{s:b}", "revoked", 1));

    return ngx_http_member_send_raw(r, NGX_HTTP_OK, NULL,
                                    (u_char *) "{\"revoked\":true}",
                                    sizeof("{\"revoked\":true}") - 1);
}
