
/*
 * ngx_member: the store scanner API (member_scan).
 *
 *   POST verify {"code"}                        a ticket, the member's card
 *   POST pay    {"ticket","amount_fen","order_id"}  from stored value
 *   POST earn   {"ticket","amount_fen","order_id"}  paid otherwise: points
 *               (both may carry "points" to redeem and a "coupon_id")
 *   POST refund {"order_id"}                    reverses that order
 *   POST recharge {"ticket","amount_fen","idempotency_key","method"?}
 *               stored value paid at the till: cash or the store's card
 *
 * Every request is signed with the store's secret:
 *   X-Member-Signature: hex(HMAC-SHA256(secret, METHOD "\n" PATH_AND_QUERY
 *       "\n" TIMESTAMP "\n" NONCE "\n" hex(SHA256(body))))
 * The signature is checked before anything is counted or spent; then the
 * nonce is spent and verify is rate limited (one pipeline on the store's
 * keys), then the call runs on the member's keys: verify as a pipeline of
 * two commands (the code spent, which makes the ticket; the card read),
 * the others as one script.  This file is the route table, the signature
 * and the gate; verify is ngx_http_member_scan_verify.c, pay, earn,
 * refund and recharge ngx_http_member_scan_purchase.c.
 */


#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_member_member.h"


static ngx_int_t ngx_http_member_scan_start(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_scan_headers(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan);
static void ngx_http_member_scan_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_scan_store(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_scan_check(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, u_char *secret);
static ngx_int_t ngx_http_member_scan_signed(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, ngx_str_t *secret);
static u_char *ngx_http_member_scan_cache_get(ngx_http_request_t *r,
    ngx_str_t *store_id);
static void ngx_http_member_scan_cache_put(ngx_http_request_t *r,
    ngx_str_t *store_id, u_char *secret);
static ngx_int_t ngx_http_member_scan_gated(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_scan_limited(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_member_scan_unauthorized(ngx_http_request_t *r,
    const char *error, const char *message);


/*
 * The scanner's routes: a store's signature for each, checked by the
 * handler once the route and its method matched (no such resource or
 * method is answered first).  A row's place is its call: the order of
 * ngx_http_member_scan_call_e.
 */

static ngx_http_member_route_t  ngx_http_member_scan_routes[] = {
    { NGX_HTTP_POST, "verify", ngx_http_member_scan_start,
      NGX_HTTP_MEMBER_GRANT_SIGNED, NULL },
    { NGX_HTTP_POST, "pay", ngx_http_member_scan_start,
      NGX_HTTP_MEMBER_GRANT_SIGNED, NULL },
    { NGX_HTTP_POST, "earn", ngx_http_member_scan_start,
      NGX_HTTP_MEMBER_GRANT_SIGNED, NULL },
    { NGX_HTTP_POST, "refund", ngx_http_member_scan_start,
      NGX_HTTP_MEMBER_GRANT_SIGNED, NULL },
    { NGX_HTTP_POST, "recharge", ngx_http_member_scan_start,
      NGX_HTTP_MEMBER_GRANT_SIGNED, NULL },

    { NGX_HTTP_MEMBER_ANY, "**", NULL, NGX_HTTP_MEMBER_GRANT_ANYONE, NULL },

    { 0, NULL, NULL, 0, NULL }
};


static ngx_str_t  ngx_http_member_hget = ngx_string("HGET");
static ngx_str_t  ngx_http_member_stores = ngx_string("stores");


ngx_int_t
ngx_http_member_scan_handler(ngx_http_request_t *r)
{
    ngx_str_t                 route;
    ngx_http_member_match_t   m;
    ngx_http_member_route_t  *row;

    ngx_http_member_route(r, &route);

    row = ngx_http_member_route_find(r, ngx_http_member_scan_routes, &route,
                                     &m);

    return ngx_http_member_route_run(r, row, &m);
}


/* a call of a store: its signature's headers, then its body */

static ngx_int_t
ngx_http_member_scan_start(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_scan_t  *scan;

    ctx = ngx_http_member_get_ctx(r);
    scan = ngx_pcalloc(r->pool, sizeof(ngx_http_member_scan_t));

    if (ctx == NULL || scan == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->scan = scan;
    scan->call = m->row - ngx_http_member_scan_routes;

    /* the cheap checks before the body is read */
    if (ngx_http_member_scan_headers(r, scan) != NGX_OK) {
        return ngx_http_member_scan_unauthorized(r, "unauthorized",
                                   "the request is not signed as a store's");
    }

    return ngx_http_member_read_json(r, ngx_http_member_scan_body);
}


static ngx_int_t
ngx_http_member_scan_unauthorized(ngx_http_request_t *r, const char *error,
    const char *message)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "member: scanner request refused: %s", message);

    return ngx_http_member_error(r, NGX_HTTP_UNAUTHORIZED, error, message);
}


static ngx_int_t
ngx_http_member_scan_chars(ngx_str_t *s, size_t min, size_t max,
    ngx_flag_t hex)
{
    size_t  i;
    u_char  c;

    if (s->len < min || s->len > max) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (hex) {
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                  || (c >= 'A' && c <= 'F')))
            {
                return NGX_ERROR;
            }

        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                     || (c >= '0' && c <= '9')))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_scan_headers(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan)
{
    size_t            i, j;
    time_t            ts, now;
    ngx_str_t        *want[4];
    ngx_uint_t        n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    static ngx_str_t  names[] = {
        ngx_string("x-member-store"),
        ngx_string("x-member-timestamp"),
        ngx_string("x-member-nonce"),
        ngx_string("x-member-signature")
    };

    want[0] = &scan->store_id;
    want[1] = &scan->timestamp;
    want[2] = &scan->nonce;
    want[3] = &scan->signature;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0, n = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        for (j = 0; j < 4; j++) {
            if (h[i].key.len == names[j].len
                && ngx_strncasecmp(h[i].lowcase_key, names[j].data,
                                   names[j].len) == 0)
            {
                if (want[j]->data) {
                    return NGX_ERROR;           /* twice */
                }

                *want[j] = h[i].value;
                n++;
            }
        }
    }

    if (n != 4) {
        return NGX_ERROR;
    }

    /* a store id as the admin API takes it; the contract's nonce */
    for (i = 0; i < scan->store_id.len; i++) {
        if (scan->store_id.data[i] == '_' || scan->store_id.data[i] == '-') {
            continue;
        }

        if (!isalnum(scan->store_id.data[i])) {
            return NGX_ERROR;
        }
    }

    if (scan->store_id.len == 0 || scan->store_id.len > 32
        || ngx_http_member_scan_chars(&scan->nonce, 8, 64, 0) != NGX_OK
        || ngx_http_member_scan_chars(&scan->signature, 64, 64, 1) != NGX_OK
        || scan->timestamp.len == 0 || scan->timestamp.len > 12)
    {
        return NGX_ERROR;
    }

    ts = ngx_atotm(scan->timestamp.data, scan->timestamp.len);
    now = ngx_time();

    if (ts == NGX_ERROR || ts < now - NGX_HTTP_MEMBER_SIGNATURE_WINDOW
        || ts > now + NGX_HTTP_MEMBER_SIGNATURE_WINDOW)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_member_scan_body(ngx_http_request_t *r)
{
    u_char                  *secret;
    json_t                  *json;
    ngx_int_t                rc;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_scan_t  *scan;

    json = ngx_http_member_body_json(r, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    scan = ctx->scan;

    secret = ngx_http_member_scan_cache_get(r, &scan->store_id);

    if (secret) {
        ngx_http_finalize_request(r,
                                  ngx_http_member_scan_check(r, scan, secret));
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_member_redis_command(r, ngx_http_member_scan_store,
                                      &ngx_http_member_hget,
                                      &ngx_http_member_stores,
                                      &scan->store_id));
}


static ngx_int_t
ngx_http_member_scan_store(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                   secret[NGX_HTTP_MEMBER_SECRET_LEN];
    json_t                  *record;
    ngx_int_t                rc;
    ngx_str_t                key_id, nonce;
    const char              *status;
    json_error_t             err;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_key_t   *key;
    ngx_http_member_scan_t  *scan;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    scan = ctx->scan;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member scan: store \"%V\" read: %d",
                   &scan->store_id, reply->type);

    if (reply->type == REDIS_REPLY_NIL) {
        return ngx_http_member_scan_unauthorized(r, "unauthorized",
                                                 "no such store");
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    record = json_loadb(reply->str, reply->len, 0, &err);
    if (record == NULL) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    key_id.data = (u_char *) json_string_value(json_object_get(record, "key"));
    nonce.data = (u_char *) json_string_value(json_object_get(record,
                                                               "nonce"));
    status = json_string_value(json_object_get(record, "status"));

    key_id.len = key_id.data ? ngx_strlen(key_id.data) : 0;
    nonce.len = nonce.data ? ngx_strlen(nonce.data) : 0;

    key = key_id.len ? ngx_http_member_key_find(r, &key_id) : NULL;

    if (key == NULL || nonce.len == 0 || status == NULL
        || ngx_strcmp(status, "active") != 0
        || ngx_http_member_store_secret(r, key, &scan->store_id, &nonce,
                                        secret)
           != NGX_OK)
    {
        json_decref(record);
        return ngx_http_member_scan_unauthorized(r, "unauthorized",
                                         "the store is closed or its key "
                                         "is gone");
    }

    json_decref(record);

    ngx_http_member_scan_cache_put(r, &scan->store_id, secret);

    rc = ngx_http_member_scan_check(r, scan, secret);

    OPENSSL_cleanse(secret, sizeof(secret));

    return rc;
}


/* the signature, then the door: the nonce spent, a verify counted */

static ngx_int_t
ngx_http_member_scan_check(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, u_char *secret)
{
    u_char                      *p;
    ngx_str_t                    keys[4], s, *a;
    ngx_http_member_argv_t       cmds[6];
    ngx_http_member_loc_conf_t  *mlcf;

    s.data = secret;
    s.len = NGX_HTTP_MEMBER_SECRET_LEN;

    if (ngx_http_member_scan_signed(r, scan, &s) != NGX_OK) {
        return ngx_http_member_scan_unauthorized(r, "bad_signature",
                                                 "the signature is wrong");
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    keys[0].len = scan->store_id.len + scan->nonce.len + sizeof("{s:}:n:");
    keys[1].len = scan->store_id.len + NGX_TIME_T_LEN + sizeof("{s:}:rl:");
    keys[2].len = scan->store_id.len + NGX_TIME_T_LEN + NGX_SOCKADDR_STRLEN
                  + sizeof("{s:}:rla::");

    p = ngx_pnalloc(r->pool, keys[0].len + keys[1].len + keys[2].len);
    a = ngx_palloc(r->pool, 20 * sizeof(ngx_str_t));

    if (p == NULL || a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    keys[0].data = p;
    keys[0].len = ngx_sprintf(p, "{s:%V}:n:%V", &scan->store_id, &scan->nonce)
                  - p;

    /* SET <nonce> 1 NX EX <ttl>: spent, or nil when it was before */
    ngx_str_set(&a[0], "SET");
    a[1] = keys[0];
    ngx_str_set(&a[2], "1");
    ngx_str_set(&a[3], "NX");
    ngx_str_set(&a[4], "EX");
    ngx_str_set(&a[5], ngx_http_member_literal(NGX_HTTP_MEMBER_NONCE_TTL));

    cmds[0].argc = 6;
    cmds[0].argv = a;

    if (scan->call != NGX_HTTP_MEMBER_SCAN_VERIFY
        || mlcf->scan_store_limit == 0)
    {
        return ngx_http_member_redis_pipeline(r, ngx_http_member_scan_gated,
                                              1, cmds);
    }

    /*
     * A verify also counts against the store's and the address' limits of
     * this minute, and reads the store's failures: plain commands in one
     * pipeline cost Redis less than half of what one script does, and the
     * verdict needs none of them to wait for another.
     */

    if (ngx_http_member_scan_fail_key(r, scan, &keys[3]) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p += keys[0].len;
    keys[1].data = p;
    keys[1].len = ngx_sprintf(p, "{s:%V}:rl:%T", &scan->store_id,
                              ngx_time() / 60)
                  - p;
    p += keys[1].len;
    keys[2].data = p;
    keys[2].len = ngx_sprintf(p, "{s:%V}:rla:%V:%T", &scan->store_id,
                              &r->connection->addr_text, ngx_time() / 60)
                  - p;

    ngx_str_set(&a[6], "GET");
    a[7] = keys[3];
    cmds[1].argc = 2;
    cmds[1].argv = &a[6];

    ngx_str_set(&a[8], "INCR");
    a[9] = keys[1];
    ngx_str_set(&a[10], "EXPIRE");
    a[11] = keys[1];
    ngx_str_set(&a[12], "120");
    ngx_str_set(&a[13], "NX");
    cmds[2].argc = 2;
    cmds[2].argv = &a[8];
    cmds[3].argc = 4;
    cmds[3].argv = &a[10];

    ngx_str_set(&a[14], "INCR");
    a[15] = keys[2];
    cmds[4].argc = 2;
    cmds[4].argv = &a[14];

    a[16] = a[10];
    a[17] = keys[2];
    a[18] = a[12];
    a[19] = a[13];
    cmds[5].argc = 4;
    cmds[5].argv = &a[16];

    return ngx_http_member_redis_pipeline(r, ngx_http_member_scan_gated, 6,
                                          cmds);
}


/*
 * A worker keeps the stores' derived secrets for a few seconds, so that a
 * busy till costs no Redis round trip and no HMAC to find its secret; a
 * store closed or rotated is refused everywhere within that time.
 */

static ngx_uint_t
ngx_http_member_scan_cache_slot(ngx_str_t *store_id)
{
    return ngx_hash_key(store_id->data, store_id->len)
           % NGX_HTTP_MEMBER_STORE_CACHE;
}


static u_char *
ngx_http_member_scan_cache_get(ngx_http_request_t *r, ngx_str_t *store_id)
{
    ngx_http_member_store_cache_t  *e;
    ngx_http_member_loc_conf_t     *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (mlcf->redis->stores == NULL) {
        return NULL;
    }

    e = &mlcf->redis->stores[ngx_http_member_scan_cache_slot(store_id)];

    if (e->id_len != store_id->len
        || ngx_strncmp(e->id, store_id->data, store_id->len) != 0
        || (ngx_msec_int_t) (e->expires - ngx_current_msec) <= 0)
    {
        return NULL;
    }

    return e->secret;
}


static void
ngx_http_member_scan_cache_put(ngx_http_request_t *r, ngx_str_t *store_id,
    u_char *secret)
{
    ngx_http_member_redis_t        *redis;
    ngx_http_member_store_cache_t  *e;
    ngx_http_member_loc_conf_t     *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);
    redis = mlcf->redis;

    if (store_id->len > sizeof(e->id)) {
        return;
    }

    if (redis->stores == NULL) {
        redis->stores = ngx_calloc(NGX_HTTP_MEMBER_STORE_CACHE
                                   * sizeof(ngx_http_member_store_cache_t),
                                   redis->log);
        if (redis->stores == NULL) {
            return;
        }
    }

    e = &redis->stores[ngx_http_member_scan_cache_slot(store_id)];

    ngx_memcpy(e->id, store_id->data, store_id->len);
    e->id_len = store_id->len;
    ngx_memcpy(e->secret, secret, NGX_HTTP_MEMBER_SECRET_LEN);
    e->expires = ngx_current_msec + NGX_HTTP_MEMBER_STORE_CACHE_TTL;
}


static ngx_int_t
ngx_http_member_scan_signed(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, ngx_str_t *secret)
{
    u_char  *msg, *p;
    u_char   digest[32], hex[64], mac[32], want[64];
    size_t   i, len;

    /* hex(SHA256(body)), the body as it came, in one or more buffers */
    if (ngx_http_member_sha256(NULL, 0,
                               r->request_body ? r->request_body->bufs : NULL,
                               digest)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_hex_dump(hex, digest, 32);

    len = r->method_name.len + r->unparsed_uri.len + scan->timestamp.len
          + scan->nonce.len + sizeof(hex) + 4;

    msg = ngx_pnalloc(r->pool, len);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(msg, "%V\n%V\n%V\n%V\n", &r->method_name,
                    &r->unparsed_uri, &scan->timestamp, &scan->nonce);
    p = ngx_cpymem(p, hex, sizeof(hex));

    if (ngx_http_member_hmac_sha256(secret->data, secret->len, msg, p - msg,
                                    mac)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_hex_dump(want, mac, 32);

    /* hex either case, compared in constant time */
    for (i = 0; i < 64; i++) {
        hex[i] = ngx_tolower(scan->signature.data[i]);
    }

    return CRYPTO_memcmp(hex, want, 64) == 0 ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_member_scan_gated(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_int_t                rc;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_scan_t  *scan;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member scan: the gate answered: %d, %uz",
                   reply->type, reply->elements);

    if (reply->type != REDIS_REPLY_ARRAY
        || (reply->elements != 1 && reply->elements != 6))
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    /* an error reply (OOM, READONLY) stored nothing and is no "used" */
    rc = ngx_http_member_scan_set_nx(reply->element[0]);

    if (rc == NGX_ERROR) {
        return ngx_http_member_reply_script_error(r, reply->element[0]);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_member_scan_unauthorized(r, "bad_signature",
                                                 "the nonce was used before");
    }

    if (reply->elements == 6) {
        rc = ngx_http_member_scan_limited(r, reply);

        if (rc == NGX_ERROR) {
            return ngx_http_member_reply_script_error(r, reply);
        }

        if (rc == NGX_DECLINED) {
            return ngx_http_member_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                         "rate_limited",
                                         "too many verifications: try again "
                                         "in a minute");
        }
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    scan = ctx->scan;

    switch (scan->call) {

    case NGX_HTTP_MEMBER_SCAN_VERIFY:
        return ngx_http_member_scan_verify(r, scan, ctx->json);

    case NGX_HTTP_MEMBER_SCAN_REFUND:
        return ngx_http_member_scan_refund(r, scan, ctx->json);

    case NGX_HTTP_MEMBER_SCAN_RECHARGE:
        return ngx_http_member_scan_recharge(r, scan, ctx->json);

    default:
        return ngx_http_member_scan_purchase(r, scan, ctx->json);
    }
}


/*
 * SET NX: NGX_OK stored, NGX_DECLINED there before (nil), NGX_ERROR for
 * anything else: an error reply (OOM, READONLY, a replica) stored nothing
 * and says nothing of what was there.
 */

ngx_int_t
ngx_http_member_scan_set_nx(redisReply *e)
{
    if (e->type == REDIS_REPLY_NIL) {
        return NGX_DECLINED;
    }

    if (e->type == REDIS_REPLY_STATUS && e->len == 2
        && ngx_strncmp(e->str, "OK", 2) == 0)
    {
        return NGX_OK;
    }

    return NGX_ERROR;
}


/*
 * The gate's pipeline answered: the nonce, the store's failures this minute
 * (GET), the store's and the address' verifications (INCR), two EXPIREs.
 * NGX_OK: within the limits; NGX_DECLINED: over one; NGX_ERROR: a reply
 * that is not what its command answers (an error reply counted nothing).
 */

static ngx_int_t
ngx_http_member_scan_limited(ngx_http_request_t *r, redisReply *reply)
{
    long long                    failures;
    redisReply                  **e;
    ngx_http_member_loc_conf_t   *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);
    e = reply->element;

    if ((e[1]->type != REDIS_REPLY_STRING && e[1]->type != REDIS_REPLY_NIL)
        || e[2]->type != REDIS_REPLY_INTEGER
        || e[3]->type != REDIS_REPLY_INTEGER
        || e[4]->type != REDIS_REPLY_INTEGER
        || e[5]->type != REDIS_REPLY_INTEGER)
    {
        return NGX_ERROR;
    }

    failures = (e[1]->type == REDIS_REPLY_STRING)
               ? strtoll(e[1]->str, NULL, 10) : 0;

    if (failures >= (long long) mlcf->scan_failure_limit) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "member: store stopped after %L failed verifications",
                      failures);
        return NGX_DECLINED;
    }

    if (e[2]->integer > (long long) mlcf->scan_store_limit
        || e[4]->integer > (long long) mlcf->scan_address_limit)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_member_scan_fail_key(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, ngx_str_t *key)
{
    key->data = ngx_pnalloc(r->pool, sizeof("{s:}:fail:") + NGX_TIME_T_LEN
                                     + scan->store_id.len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = ngx_sprintf(key->data, "{s:%V}:fail:%T", &scan->store_id,
                           ngx_time() / 60)
               - key->data;

    return NGX_OK;
}