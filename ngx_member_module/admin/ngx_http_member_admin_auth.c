
/*
 * ngx_member: who may use the admin API, and the audit of what they did.
 *
 *   POST   keys {"name","role","stores"?}  201 {"key_id","key"}, once
 *   GET    keys                            the keys, never the keys
 *   DELETE keys/<key id>                   revoked at once
 *   GET    audit?actor=&target=&limit=&before=   newest first
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
 * on.
 *
 * A change that succeeds (a 2xx answer to anything but a read, on a row
 * with an audit) is added to the stream {b}:audit in the background: the
 * answer never waits for it, and a failed write is logged.
 */


#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "ngx_member_admin.h"


#define NGX_HTTP_MEMBER_KEY_ID_LEN      16      /* hex of 8 random bytes */
#define NGX_HTTP_MEMBER_ADMIN_KEY_LEN   (3 + NGX_HTTP_MEMBER_KEY_ID_LEN + 1 \
                                         + NGX_HTTP_MEMBER_SECRET_LEN)
#define NGX_HTTP_MEMBER_KEY_STORES_MAX  64

#define NGX_HTTP_MEMBER_AUDIT_MAXLEN    "1000000"
#define NGX_HTTP_MEMBER_AUDIT_BUDGET    5000



struct ngx_http_member_admin_auth_s {
    ngx_str_t                   actor;      /* "bootstrap" or a key id */
    ngx_str_t                   role;
    ngx_uint_t                  roles;
    ngx_str_t                  *stores;     /* of a store key */
    ngx_uint_t                  nstores;
    ngx_str_t                   route;
    ngx_http_member_route_t    *row;        /* the route the request is */
    ngx_http_member_match_t     match;
    u_char                      hash[SHA256_DIGEST_LENGTH];
    json_t                     *before;
    json_t                     *after;
    json_t                     *answer;     /* of POST keys, but the key */
    ngx_str_t                   key;        /* of POST keys */
    unsigned                    change:1;   /* audited when it succeeds */
    unsigned                    recorded:1;
};


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
static void ngx_http_member_keys_create_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_keys_created(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_keys_list(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_keys_revoked(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static json_t *ngx_http_member_audit_fields_of(json_t *answer);
static ngx_int_t ngx_http_member_audit_paged(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_audit_xadd(ngx_http_member_redis_t *redis,
    ngx_http_member_admin_auth_t *aa, ngx_str_t *method, ngx_str_t *target,
    ngx_str_t *status, ngx_str_t *at, ngx_str_t *before, ngx_str_t *after);
static void ngx_http_member_audit_written(ngx_http_member_redis_t *redis,
    void *data, redisReply *reply);


/* fields of an answer an audit entry keeps: no secret, no personal data */
static const char  *ngx_http_member_audit_names[] = {
    "points", "level", "status", "version", "delta", "role", "count",
    "issued", "from", "to", NULL
};


static ngx_str_t  ngx_http_member_keys_key = ngx_string("{b}:admin:keys");
static ngx_str_t  ngx_http_member_audit_key = ngx_string("{b}:audit");
static ngx_str_t  ngx_http_member_bootstrap = ngx_string("bootstrap");
static ngx_str_t  ngx_http_member_hsetnx = ngx_string("HSETNX");

/* failed logins of one client address allowed in a window (seconds) */
static ngx_str_t  ngx_http_member_auth_failures = ngx_string("20");
static ngx_str_t  ngx_http_member_auth_window = ngx_string("60");

static ngx_str_t  ngx_http_member_role_names[] = {
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
                                             2, &ngx_http_member_cmd_get,
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


/* POST keys, GET keys, DELETE keys/<key id> */

ngx_int_t
ngx_http_member_keys_create(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    return ngx_http_member_read_json(r, ngx_http_member_keys_create_body);
}


ngx_int_t
ngx_http_member_keys_get(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    return ngx_http_member_redis_command(r, ngx_http_member_keys_list, 2,
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
        ngx_http_member_redis_command(r, ngx_http_member_keys_created, 4,
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


/* GET audit: ?actor=<key id|bootstrap>&target=<route>&limit=&before= */

static ngx_int_t
ngx_http_member_audit_arg(ngx_http_request_t *r, char *name, size_t len,
    size_t max, ngx_str_t *out)
{
    u_char  *p, *dst;

    if (ngx_http_arg(r, (u_char *) name, len, out) != NGX_OK) {
        ngx_str_set(out, "");
        return NGX_OK;
    }

    if (out->len == 0 || out->len > 3 * max) {
        return NGX_ERROR;
    }

    p = out->data;
    dst = ngx_pnalloc(r->pool, out->len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    out->data = dst;
    ngx_unescape_uri(&dst, &p, out->len, 0);
    out->len = dst - out->data;

    return (out->len && out->len <= max) ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_member_audit_page(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    u_char                 *p;
    ngx_str_t               args[NGX_HTTP_MEMBER_AUDIT_PAGE_NARGV], cursor;
    ngx_uint_t              limit;
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (ngx_http_member_arg_uint(r, "limit", 5, NGX_HTTP_MEMBER_PAGE_DEFAULT,
                                 NGX_HTTP_MEMBER_PAGE_MAX, &limit)
        != NGX_OK
        || ngx_http_member_arg_cursor(r, &cursor) != NGX_OK
        || ngx_http_member_audit_arg(r, "actor", 5, 64,
                                   &args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_ACTOR])
           != NGX_OK
        || ngx_http_member_audit_arg(r, "target", 6, 200,
                                  &args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_TARGET])
           != NGX_OK)
    {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "limit must be 1 to 100, before an "
                                     "entry id, actor and target short");
    }

    p = ngx_pnalloc(r->pool, cursor.len + 1 + 2 * NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_member_range_start(p, &cursor,
                                  &args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_START]);

    args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_LIMIT].data = p;
    p = ngx_sprintf(p, "%ui", limit);
    args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_LIMIT].len =
                           p - args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_LIMIT].data;

    args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_BUDGET].data = p;
    args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_BUDGET].len =
                         ngx_sprintf(p, "%d", NGX_HTTP_MEMBER_AUDIT_BUDGET) - p;

    ctx->limit = limit;

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_AUDIT_PAGE,
                                        ngx_http_member_audit_paged,
                                        &ngx_http_member_audit_key, args,
                                        0);
}


static json_t *
ngx_http_member_audit_item(redisReply *e)
{
    size_t        i;
    json_t       *item, *v;
    redisReply   *f, *name, *value;
    json_error_t  err;

    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
        || e->element[0]->type != REDIS_REPLY_STRING
        || e->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return NULL;
    }

    item = json_object();
    if (item == NULL) {
        return NULL;
    }

    json_object_set_new(item, "id", json_stringn(e->element[0]->str,
                                                 e->element[0]->len));
    f = e->element[1];

    for (i = 0; i + 1 < f->elements; i += 2) {
        name = f->element[i];
        value = f->element[i + 1];

        if (name->type != REDIS_REPLY_STRING
            || value->type != REDIS_REPLY_STRING)
        {
            continue;
        }

        if ((name->len == 6 && ngx_strncmp(name->str, "before", 6) == 0)
            || (name->len == 5 && ngx_strncmp(name->str, "after", 5) == 0))
        {
            v = value->len ? json_loadb(value->str, value->len, 0, &err)
                           : NULL;
            v = v ? v : json_null();

        } else if ((name->len == 6 && ngx_strncmp(name->str, "status", 6) == 0)
                   || (name->len == 2 && ngx_strncmp(name->str, "at", 2) == 0))
        {
            v = json_integer(ngx_atoi((u_char *) value->str, value->len));

        } else {
            v = json_stringn(value->str, value->len);
        }

        json_object_setn_new(item, name->str, name->len, v);
    }

    return item;
}


static ngx_int_t
ngx_http_member_audit_paged(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t                  i;
    json_t                 *items, *item, *next;
    redisReply             *entries, *e;
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    entries = reply->element[1];
    items = json_array();
    if (items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    next = json_null();

    for (i = 0; i < entries->elements; i++) {
        e = entries->element[i];

        if (i == ctx->limit) {
            /* one more than the page: the page's last id goes on */
            json_decref(next);
            next = json_string(json_string_value(
                       json_object_get(json_array_get(items,
                                                json_array_size(items) - 1),
                                       "id")));
            break;
        }

        item = ngx_http_member_audit_item(e);
        if (item) {
            json_array_append_new(items, item);
        }
    }

    /* the scan stopped before the page filled: go on from there */
    if (json_is_null(next) && reply->element[0]->len) {
        next = json_stringn(reply->element[0]->str, reply->element[0]->len);
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK,
                                     json_pack("{s:o,s:o}", "items", items,
                                               "next", next));
}


/* a handler's own before and after (the references are the audit's) */

void
ngx_http_member_audit_set(ngx_http_request_t *r, json_t *before,
    json_t *after)
{
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_admin_auth_t  *aa;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    aa = ctx ? ctx->auth : NULL;

    if (aa == NULL) {
        json_decref(before);
        json_decref(after);
        return;
    }

    json_decref(aa->before);
    json_decref(aa->after);

    aa->before = before;
    aa->after = after;
}


void
ngx_http_member_audit_level(json_t *answer, json_t **before, json_t **after)
{
    *before = json_pack("{s:O?}", "level", json_object_get(answer, "from"));
    *after = json_pack("{s:O?}", "level", json_object_get(answer, "level"));
}


void
ngx_http_member_audit_points(json_t *answer, json_t **before, json_t **after)
{
    json_int_t  points, delta;

    points = json_integer_value(json_object_get(answer, "points"));
    delta = json_integer_value(json_object_get(answer, "delta"));

    *before = json_pack("{s:I}", "points", points - delta);
    *after = json_pack("{s:I}", "points", points);
}


void
ngx_http_member_audit_recharge(json_t *answer, json_t **before, json_t **after)
{
    json_int_t  balance, amount, bonus;

    balance = json_integer_value(json_object_get(answer, "balance_fen"));
    amount = json_integer_value(json_object_get(answer, "amount_fen"));
    bonus = json_integer_value(json_object_get(answer, "bonus_fen"));

    *before = json_pack("{s:I}", "balance_fen", balance - amount - bonus);
    *after = json_pack("{s:I,s:I,s:I}", "balance_fen", balance,
                       "amount_fen", amount, "bonus_fen", bonus);
}


void
ngx_http_member_audit_refund(json_t *answer, json_t **before,
    json_t **after)
{
    json_int_t  balance, refunded, bonus;

    balance = json_integer_value(json_object_get(answer, "balance_fen"));
    refunded = json_integer_value(json_object_get(answer, "refunded_fen"));
    bonus = json_integer_value(json_object_get(answer, "bonus_fen"));

    *before = json_pack("{s:I}", "balance_fen", balance + refunded + bonus);
    *after = json_pack("{s:I,s:I,s:I}", "balance_fen", balance,
                       "refunded_fen", refunded, "bonus_fen", bonus);
}


void
ngx_http_member_audit_rules(json_t *answer, json_t **before, json_t **after)
{
    json_int_t  version;

    version = json_integer_value(json_object_get(answer, "version"));

    /* GET rules?version=N shows each version whole */
    *before = version > 1 ? json_pack("{s:I}", "version", version - 1)
                          : NULL;
    *after = json_pack("{s:I}", "version", version);
}


/* the answer's ids, amounts and states: never a secret or personal data */

void
ngx_http_member_audit_fields(json_t *answer, json_t **before, json_t **after)
{
    *after = ngx_http_member_audit_fields_of(answer);
}


static json_t *
ngx_http_member_audit_fields_of(json_t *answer)
{
    size_t        len;
    json_t       *out, *v;
    const char   *name, **f;

    out = json_object();

    json_object_foreach(answer, name, v) {
        if (!(json_is_integer(v) || json_is_string(v) || json_is_boolean(v))) {
            continue;
        }

        len = ngx_strlen(name);

        if ((len > 3 && ngx_strcmp(name + len - 3, "_id") == 0)
            || (len > 4 && ngx_strcmp(name + len - 4, "_fen") == 0))
        {
            json_object_set(out, name, v);
            continue;
        }

        for (f = ngx_http_member_audit_names; *f; f++) {
            if (ngx_strcmp(name, *f) == 0) {
                json_object_set(out, name, v);
            }
        }
    }

    if (out && json_object_size(out) == 0) {
        json_decref(out);
        return NULL;
    }

    return out;
}


/* "members/12": the route's first two segments, or what it created */

static void
ngx_http_member_audit_target(ngx_http_request_t *r,
    ngx_http_member_admin_auth_t *aa, json_t *answer, ngx_str_t *target)
{
    u_char      *slash, *last;
    json_t      *v;
    const char  *name;

    last = aa->route.data + aa->route.len;
    slash = ngx_strlchr(aa->route.data, last, '/');

    if (slash) {
        slash = ngx_strlchr(slash + 1, last, '/');
        target->data = aa->route.data;
        target->len = (slash ? slash : last) - aa->route.data;
        return;
    }

    *target = aa->route;

    json_object_foreach(answer, name, v) {
        if (!json_is_string(v) || ngx_strlen(name) <= 3
            || ngx_strcmp(name + ngx_strlen(name) - 3, "_id") != 0
            || ngx_strcmp(name, "transaction_id") == 0)
        {
            continue;
        }

        target->data = ngx_pnalloc(r->pool,
                                   aa->route.len + 1 + json_string_length(v));
        if (target->data == NULL) {
            *target = aa->route;
            return;
        }

        target->len = ngx_sprintf(target->data, "%V/%s", &aa->route,
                                  json_string_value(v))
                      - target->data;
        return;
    }
}


static ngx_int_t
ngx_http_member_audit_dump(ngx_pool_t *pool, json_t *value, ngx_str_t *out)
{
    size_t  len;

    ngx_str_set(out, "");

    if (value == NULL) {
        return NGX_OK;
    }

    len = json_dumpb(value, NULL, 0, JSON_COMPACT);

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = json_dumpb(value, (char *) out->data, len, JSON_COMPACT);

    return NGX_OK;
}


/*
 * Called with every answer of the module (ngx_http_member_send_raw): an
 * admin change that succeeded goes to the audit stream, in the background.
 */

void
ngx_http_member_audit_answer(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len)
{
    u_char                         num[2 * NGX_INT_T_LEN], *p;
    json_t                        *answer, *before, *after;
    ngx_int_t                      rc;
    ngx_str_t                      target, b, a, method, code, at;
    json_error_t                   err;
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_loc_conf_t    *mlcf;
    ngx_http_member_admin_auth_t  *aa;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    aa = ctx ? ctx->auth : NULL;

    if (aa == NULL || !aa->change || aa->recorded
        || status < NGX_HTTP_OK || status >= NGX_HTTP_SPECIAL_RESPONSE)
    {
        return;
    }

    aa->recorded = 1;

    answer = json_loadb((char *) data, len, 0, &err);
    if (answer == NULL) {
        answer = json_object();
    }

    before = aa->before ? json_incref(aa->before) : NULL;
    after = aa->after ? json_incref(aa->after) : NULL;

    if (before == NULL && after == NULL) {
        aa->row->audit(answer, &before, &after);
    }

    ngx_http_member_audit_target(r, aa, answer, &target);

    rc = ngx_http_member_audit_dump(r->pool, before, &b);

    if (rc == NGX_OK) {
        rc = ngx_http_member_audit_dump(r->pool, after, &a);
    }

    json_decref(answer);
    json_decref(before);
    json_decref(after);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: audit of \"%V %V\" not written: no memory",
                      &r->method_name, &aa->route);
        return;
    }

    method = r->method_name;

    p = ngx_sprintf(num, "%ui", status);
    code.data = num;
    code.len = p - num;
    at.data = p;
    at.len = ngx_sprintf(p, "%T", ngx_time()) - p;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    /* the answer goes out whatever becomes of this */
    if (ngx_http_member_audit_xadd(mlcf->redis, aa, &method, &target, &code,
                                   &at, &b, &a)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: audit of \"%V %V\" not written: redis \"%V\" "
                      "not connected", &method, &aa->route,
                      &mlcf->redis->name);
    }
}


/* the audit entry, one XADD: its fields by name */

static ngx_int_t
ngx_http_member_audit_xadd(ngx_http_member_redis_t *redis,
    ngx_http_member_admin_auth_t *aa, ngx_str_t *method, ngx_str_t *target,
    ngx_str_t *status, ngx_str_t *at, ngx_str_t *before, ngx_str_t *after)
{
    ngx_str_t  argv[] = {
        ngx_string("XADD"), ngx_http_member_audit_key,
        ngx_string("MAXLEN"), ngx_string("~"),
        ngx_string(NGX_HTTP_MEMBER_AUDIT_MAXLEN), ngx_string("*"),
        ngx_string("actor"), aa->actor,
        ngx_string("role"), aa->role,
        ngx_string("method"), *method,
        ngx_string("route"), aa->route,
        ngx_string("target"), *target,
        ngx_string("status"), *status,
        ngx_string("at"), *at,
        ngx_string("before"), *before,
        ngx_string("after"), *after
    };

    return ngx_http_member_redis_bg_argv(redis, ngx_http_member_audit_written,
                                         NULL, ngx_http_member_nelts(argv),
                                         argv);
}


static void
ngx_http_member_audit_written(ngx_http_member_redis_t *redis, void *data,
    redisReply *reply)
{
    if (reply == NULL) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "member: audit entry not written: redis \"%V\" went "
                      "away", &redis->name);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "member: audit entry not written: %*s",
                      (size_t) reply->len, reply->str);
    }
}
