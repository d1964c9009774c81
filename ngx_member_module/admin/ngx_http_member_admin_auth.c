
/*
 * ngx_member: who may use the admin API.
 *
 *   GET    whoami                          the caller's role and stores
 *
 * The bootstrap member_admin_token may do everything.  An admin key
 * "mk_<key id>.<secret>" has a role; the grant of the admin API's route
 * row the request matched (ngx_http_member_admin.c) says which roles may
 * use it, and a row is not complete without one.  Redis keeps the
 * SHA-256 of a key's secret, never the secret, and every request with a
 * key reads its record: a revoked key is refused by the next request.
 * Wrong bearers are counted per client address; past the limit that
 * address waits, with the right key or token too, and other addresses go
 * on.  The keys are ngx_http_member_admin_keys.c's, the audit of what
 * they did ngx_http_member_audit.c's.
 */


#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "ngx_member_admin.h"


static ngx_int_t ngx_http_member_admin_bootstrap(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static void ngx_http_member_admin_auth_cleanup(void *data);
static ngx_int_t ngx_http_member_admin_key_parse(ngx_str_t *bearer,
    ngx_str_t *key_id, ngx_str_t *secret);
static ngx_int_t ngx_http_member_admin_key_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_admin_key_role(ngx_http_request_t *r,
    ngx_http_member_admin_auth_t *aa, json_t *record);
static ngx_int_t ngx_http_member_admin_failed(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_admin_counted(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_admin_allowed(ngx_http_request_t *r,
    ngx_http_member_admin_auth_t *aa);
static ngx_int_t ngx_http_member_admin_fail_key(ngx_http_request_t *r,
    ngx_str_t *key);


/* the keys' records (ngx_http_member_admin_keys.c writes them) */
ngx_str_t  ngx_http_member_keys_key = ngx_string("{b}:admin:keys");

static ngx_str_t  ngx_http_member_bootstrap = ngx_string("bootstrap");

/* failed logins of one client address allowed in a window (seconds) */
static ngx_str_t  ngx_http_member_auth_failures = ngx_string("20");
static ngx_str_t  ngx_http_member_auth_window = ngx_string("60");

/* the roles of keys, in the order of their NGX_HTTP_MEMBER_ROLE_ bits */
ngx_str_t  ngx_http_member_role_names[] = {
    ngx_string("hq"),
    ngx_string("store"),
    ngx_string("readonly"),
    ngx_null_string
};


ngx_int_t
ngx_http_member_admin_auth(ngx_http_request_t *r,
    ngx_http_member_route_t *routes)
{
    ngx_str_t                      bearer, key_id, secret, *key;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_ADMIN_AUTH_NKEYS];
    ngx_str_t                      args[NGX_HTTP_MEMBER_ADMIN_AUTH_NARGV];
    ngx_pool_cleanup_t            *cln;
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_loc_conf_t    *mlcf;
    ngx_http_member_admin_auth_t  *aa;

    ctx = ngx_http_member_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the audit's JSON values go with the request */
    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_member_admin_auth_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    aa = cln->data;
    ngx_memzero(aa, sizeof(ngx_http_member_admin_auth_t));
    cln->handler = ngx_http_member_admin_auth_cleanup;

    /* the route's row, once: its grant, its audit, then its handler */
    ngx_http_member_route(r, &aa->route);
    aa->row = ngx_http_member_route_find(r, routes, &aa->route, &aa->match);

    aa->change = !(r->method & NGX_HTTP_MEMBER_READ)
                 && aa->row->audit != NULL;

    if (r->headers_in.authorization == NULL) {
        return ngx_http_member_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                     "a valid admin token is required");
    }

    bearer = r->headers_in.authorization->value;

    if (bearer.len < 7
        || ngx_strncasecmp(bearer.data, (u_char *) "Bearer ", 7) != 0)
    {
        return ngx_http_member_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                     "a valid admin token is required");
    }

    bearer.data += 7;
    bearer.len -= 7;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (mlcf->admin_token.len
        && bearer.len == mlcf->admin_token.len
        && CRYPTO_memcmp(bearer.data, mlcf->admin_token.data, bearer.len)
           == 0)
    {
        ctx->auth = aa;
        ctx->answer = ngx_http_member_audit_answer;
        aa->actor = ngx_http_member_bootstrap;
        aa->role = ngx_http_member_bootstrap;
        aa->roles = NGX_HTTP_MEMBER_ROLE_BOOTSTRAP;

        /*
         * the right token from an address that guessed too often waits
         * too, else guessing it would never end; other addresses go on
         */
        key = &keys[NGX_HTTP_MEMBER_ADMIN_AUTH_KEY_KEYS];

        if (ngx_http_member_admin_fail_key(r, key) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_member_redis_command(r,
                                             ngx_http_member_admin_bootstrap,
                                             &ngx_http_member_cmd_get,
                                             key);
    }

    if (ngx_http_member_admin_key_parse(&bearer, &key_id, &secret) != NGX_OK)
    {
        return ngx_http_member_admin_failed(r);
    }

    aa->actor.data = ngx_pnalloc(r->pool, key_id.len);
    if (aa->actor.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    aa->actor.len = key_id.len;
    ngx_memcpy(aa->actor.data, key_id.data, key_id.len);

    if (ngx_http_member_sha256(secret.data, secret.len, NULL, aa->hash)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->auth = aa;
    ctx->answer = ngx_http_member_audit_answer;

    keys[NGX_HTTP_MEMBER_ADMIN_AUTH_KEY_KEYS] = ngx_http_member_keys_key;

    key = &keys[NGX_HTTP_MEMBER_ADMIN_AUTH_KEY_FAIL];

    if (ngx_http_member_admin_fail_key(r, key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_ADMIN_AUTH_ARGV_KEY_ID] = aa->actor;
    args[NGX_HTTP_MEMBER_ADMIN_AUTH_ARGV_ALLOWED] =
                                                  ngx_http_member_auth_failures;

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_ADMIN_AUTH,
                                        ngx_http_member_admin_key_found, keys,
                                        args,
                                        0);
}


static ngx_int_t
ngx_http_member_admin_bootstrap(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_int_t                      failed;
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_admin_auth_t  *aa;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    aa = ctx->auth;

    if (reply->type == REDIS_REPLY_NIL) {
        failed = 0;

    } else if (reply->type == REDIS_REPLY_STRING) {
        failed = ngx_atoi((u_char *) reply->str, reply->len);

    } else {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member admin bootstrap token, %i failures from here",
                   failed);

    if (failed >= ngx_atoi(ngx_http_member_auth_failures.data,
                           ngx_http_member_auth_failures.len))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "member: the admin token refused from this address "
                      "after %i failed logins", failed);

        return ngx_http_member_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                     "rate_limited",
                                     "too many failed logins: try again "
                                     "in a minute");
    }

    return ngx_http_member_route_run(r, aa->row, &aa->match);
}


static void
ngx_http_member_admin_auth_cleanup(void *data)
{
    ngx_http_member_admin_auth_t  *aa = data;

    json_decref(aa->before);
    json_decref(aa->after);
    json_decref(aa->answer);
}


/* "mk_<16 hex>.<43 base64url>" */

static ngx_int_t
ngx_http_member_admin_key_parse(ngx_str_t *bearer, ngx_str_t *key_id,
    ngx_str_t *secret)
{
    size_t  i;
    u_char  c;

    if (bearer->len != NGX_HTTP_MEMBER_ADMIN_KEY_LEN
        || ngx_strncmp(bearer->data, "mk_", 3) != 0
        || bearer->data[3 + NGX_HTTP_MEMBER_KEY_ID_LEN] != '.')
    {
        return NGX_DECLINED;
    }

    key_id->data = bearer->data + 3;
    key_id->len = NGX_HTTP_MEMBER_KEY_ID_LEN;

    for (i = 0; i < key_id->len; i++) {
        c = key_id->data[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return NGX_DECLINED;
        }
    }

    secret->data = key_id->data + key_id->len + 1;
    secret->len = NGX_HTTP_MEMBER_SECRET_LEN;

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_admin_fail_key(ngx_http_request_t *r, ngx_str_t *key)
{
    ngx_str_t  *addr;

    addr = &r->connection->addr_text;

    key->data = ngx_pnalloc(r->pool, sizeof("{b}:admin:fail:") + addr->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = ngx_sprintf(key->data, "{b}:admin:fail:%V", addr) - key->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_admin_key_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                         hex[2 * SHA256_DIGEST_LENGTH];
    json_t                        *record, *hash;
    ngx_int_t                      rc;
    json_error_t                   err;
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_admin_auth_t  *aa;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    aa = ctx->auth;

    if (ngx_http_member_redis_is_error(reply, "RATE_LIMITED")) {
        return ngx_http_member_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                     "rate_limited",
                                     "too many failed logins: try again "
                                     "in a minute");
    }

    if (reply->type == REDIS_REPLY_NIL) {
        return ngx_http_member_admin_failed(r);
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    record = json_loadb(reply->str, reply->len, 0, &err);
    hash = record ? json_object_get(record, "hash") : NULL;

    if (!json_is_string(hash) || json_string_length(hash) != sizeof(hex)) {
        json_decref(record);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: admin key \"%V\" has a bad record", &aa->actor);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_hex_dump(hex, aa->hash, SHA256_DIGEST_LENGTH);

    if (CRYPTO_memcmp(hex, json_string_value(hash), sizeof(hex)) != 0) {
        json_decref(record);
        return ngx_http_member_admin_failed(r);
    }

    rc = ngx_http_member_admin_key_role(r, aa, record);
    json_decref(record);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ngx_http_member_admin_allowed(r, aa)) {
        return ngx_http_member_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                     "the key's role does not allow this");
    }

    return ngx_http_member_route_run(r, aa->row, &aa->match);
}


static ngx_int_t
ngx_http_member_admin_key_role(ngx_http_request_t *r,
    ngx_http_member_admin_auth_t *aa, json_t *record)
{
    size_t       i;
    json_t      *stores, *v;
    ngx_str_t   *name;
    const char  *role;

    role = json_string_value(json_object_get(record, "role"));

    for (i = 0, name = ngx_http_member_role_names; role && name->len;
         i++, name++)
    {
        if (ngx_strlen(role) == name->len
            && ngx_strncmp(role, name->data, name->len) == 0)
        {
            aa->role = *name;
            aa->roles = (ngx_uint_t) 1 << i;
            break;
        }
    }

    stores = json_object_get(record, "stores");

    if (!json_is_array(stores) || json_array_size(stores) == 0) {
        return NGX_OK;
    }

    aa->stores = ngx_palloc(r->pool,
                            json_array_size(stores) * sizeof(ngx_str_t));
    if (aa->stores == NULL) {
        return NGX_ERROR;
    }

    json_array_foreach(stores, i, v) {
        if (!json_is_string(v)) {
            continue;
        }

        name = &aa->stores[aa->nstores++];
        name->len = json_string_length(v);
        name->data = ngx_pnalloc(r->pool, name->len);

        if (name->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(name->data, json_string_value(v), name->len);
    }

    return NGX_OK;
}


/* a wrong bearer: counted per client address, refused for a while after */

static ngx_int_t
ngx_http_member_admin_failed(ngx_http_request_t *r)
{
    ngx_str_t  key;

    if (ngx_http_member_admin_fail_key(r, &key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_ADMIN_FAIL,
                                        ngx_http_member_admin_counted, &key,
                                        &ngx_http_member_auth_window,
                                        0);
}


static ngx_int_t
ngx_http_member_admin_counted(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    if (reply->integer > ngx_atoi(ngx_http_member_auth_failures.data,
                                  ngx_http_member_auth_failures.len))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "member: admin logins from this address refused "
                      "after %i failures", (ngx_int_t) reply->integer);

        return ngx_http_member_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                     "rate_limited",
                                     "too many failed logins: try again "
                                     "in a minute");
    }

    return ngx_http_member_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                 "a valid admin token is required");
}


/*
 * The row's grant: the key's role, and a store key its own stores only
 * (the first segment of the row's first capture).
 */

static ngx_int_t
ngx_http_member_admin_allowed(ngx_http_request_t *r,
    ngx_http_member_admin_auth_t *aa)
{
    u_char      *slash;
    ngx_str_t    store;
    ngx_uint_t   i;

    if (aa->row->grant & aa->roles) {
        return 1;
    }

    if (!(aa->row->grant & NGX_HTTP_MEMBER_ROLE_OWN_STORE)
        || !(aa->roles & NGX_HTTP_MEMBER_ROLE_STORE)
        || aa->match.ncaptures == 0)
    {
        return 0;
    }

    store = aa->match.capture[0];
    slash = ngx_strlchr(store.data, store.data + store.len, '/');

    if (slash) {
        store.len = slash - store.data;
    }

    for (i = 0; i < aa->nstores; i++) {
        if (aa->stores[i].len == store.len
            && ngx_strncmp(aa->stores[i].data, store.data, store.len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


void
ngx_http_member_admin_actor(ngx_http_request_t *r, ngx_str_t *actor)
{
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_admin_auth_t  *aa;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    aa = ctx ? ctx->auth : NULL;

    *actor = aa ? aa->actor : ngx_http_member_bootstrap;
}


/*
 * A member's record as the caller's role sees it: hq and the bootstrap
 * token whole, readonly with its personal data masked or left out, a
 * store what its till needs.  A role nobody knows sees the least.
 */

ngx_uint_t
ngx_http_member_admin_view(ngx_http_request_t *r)
{
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_admin_auth_t  *aa;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    aa = ctx ? ctx->auth : NULL;

    if (aa == NULL) {
        return NGX_HTTP_MEMBER_VIEW_TILL;
    }

    if (aa->roles & (NGX_HTTP_MEMBER_ROLE_BOOTSTRAP|NGX_HTTP_MEMBER_ROLE_HQ))
    {
        return NGX_HTTP_MEMBER_VIEW_FULL;
    }

    if (aa->roles & NGX_HTTP_MEMBER_ROLE_READONLY) {
        return NGX_HTTP_MEMBER_VIEW_MASKED;
    }

    return NGX_HTTP_MEMBER_VIEW_TILL;
}


ngx_int_t
ngx_http_member_whoami(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    json_t                        *answer, *stores;
    ngx_uint_t                     i;
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_admin_auth_t  *aa;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    aa = ctx->auth;

    stores = aa->nstores ? json_array() : json_null();

    for (i = 0; stores && i < aa->nstores; i++) {
        json_array_append_new(stores,
                              json_stringn((char *) aa->stores[i].data,
                                           aa->stores[i].len));
    }

    answer = json_pack("{s:s%,s:s%,s:o?}",
                       "actor", aa->actor.data, aa->actor.len,
                       "role", aa->role.data, aa->role.len,
                       "stores", stores);

    return ngx_http_member_send_json(r, NGX_HTTP_OK, answer);
}