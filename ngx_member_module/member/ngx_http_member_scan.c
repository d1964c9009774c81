
/*
 * ngx_member: the store scanner API (member_scan).
 *
 *   POST verify {"code"}                        a ticket, the member's card
 *   POST pay    {"ticket","amount_fen","order_id"}  from stored value
 *   POST earn   {"ticket","amount_fen","order_id"}  paid otherwise: points
 *               (both may carry "points" to redeem and a "coupon_id")
 *   POST refund {"order_id"}                    reverses that order
 *
 * Every request is signed with the store's secret:
 *   X-Member-Signature: hex(HMAC-SHA256(secret, METHOD "\n" PATH_AND_QUERY
 *       "\n" TIMESTAMP "\n" NONCE "\n" hex(SHA256(body))))
 * The signature is checked before anything is counted or spent; then the
 * nonce is spent and verify is rate limited (one pipeline on the store's
 * keys), then the call runs on the member's keys: verify as a pipeline of
 * two commands (the code spent, which makes the ticket; the card read),
 * the others as one script.
 */


#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_member_member.h"


typedef enum {
    NGX_HTTP_MEMBER_SCAN_VERIFY = 0,
    NGX_HTTP_MEMBER_SCAN_PAY,
    NGX_HTTP_MEMBER_SCAN_EARN,
    NGX_HTTP_MEMBER_SCAN_REFUND
} ngx_http_member_scan_call_e;


struct ngx_http_member_scan_s {
    ngx_http_member_scan_call_e   call;
    ngx_str_t                     store_id;
    ngx_str_t                     timestamp;
    ngx_str_t                     nonce;
    ngx_str_t                     signature;

    uint64_t                      member_id;
    ngx_str_t                     ticket;
    ngx_str_t                     ticket_key;     /* the code it spent */
    ngx_str_t                     ticket_value;   /* "<store> <sha256>" */
    time_t                        ticket_ttl;
    ngx_str_t                     order_id;
    ngx_str_t                     order_index;
    ngx_str_t                     ttl;        /* of the order's records */
    ngx_str_t                     id_str;
    ngx_int_t                     amount;
    ngx_int_t                     points;     /* to redeem */
    ngx_str_t                     coupon_id;  /* "" for none */
    ngx_uint_t                    failed;     /* mqr_status_t of a code */
};


static ngx_int_t ngx_http_member_scan_verify_call(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_scan_pay_call(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_scan_earn_call(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_scan_refund_call(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_scan_start(ngx_http_request_t *r,
    ngx_http_member_scan_call_e call);
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
static ngx_int_t ngx_http_member_scan_verify(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json);
static ngx_int_t ngx_http_member_scan_failed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_scan_fail_key(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, ngx_str_t *key);
static ngx_int_t ngx_http_member_scan_verified(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_scan_ticket_key(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, uint64_t step, ngx_str_t *secret);
static ngx_uint_t ngx_http_member_scan_is(redisReply *e, const char *value);
static ngx_int_t ngx_http_member_scan_set_nx(redisReply *e);
static ngx_int_t ngx_http_member_scan_purchase(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json);
static ngx_int_t ngx_http_member_scan_indexed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_scan_pay(ngx_http_request_t *r);
static void ngx_http_member_scan_settled(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_member_scan_claim(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, ngx_str_t *keys, ngx_str_t *args,
    ngx_flag_t background);
static void ngx_http_member_scan_claim_done(ngx_http_member_redis_t *redis,
    void *data, redisReply *reply);
static ngx_int_t ngx_http_member_scan_refund(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json);
static ngx_int_t ngx_http_member_scan_order_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_scan_unauthorized(ngx_http_request_t *r,
    const char *error, const char *message);


/*
 * The scanner's routes: a store's signature for each, checked by the
 * handler once the route and its method matched (no such resource or
 * method is answered first).
 */

static ngx_http_member_route_t  ngx_http_member_scan_routes[] = {
    { NGX_HTTP_POST, "verify", ngx_http_member_scan_verify_call,
      NGX_HTTP_MEMBER_GRANT_SIGNED, NULL },
    { NGX_HTTP_POST, "pay", ngx_http_member_scan_pay_call,
      NGX_HTTP_MEMBER_GRANT_SIGNED, NULL },
    { NGX_HTTP_POST, "earn", ngx_http_member_scan_earn_call,
      NGX_HTTP_MEMBER_GRANT_SIGNED, NULL },
    { NGX_HTTP_POST, "refund", ngx_http_member_scan_refund_call,
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


static ngx_int_t
ngx_http_member_scan_verify_call(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_scan_start(r, NGX_HTTP_MEMBER_SCAN_VERIFY);
}


static ngx_int_t
ngx_http_member_scan_pay_call(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_scan_start(r, NGX_HTTP_MEMBER_SCAN_PAY);
}


static ngx_int_t
ngx_http_member_scan_earn_call(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_scan_start(r, NGX_HTTP_MEMBER_SCAN_EARN);
}


static ngx_int_t
ngx_http_member_scan_refund_call(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_scan_start(r, NGX_HTTP_MEMBER_SCAN_REFUND);
}


/* a call of a store: its signature's headers, then its body */

static ngx_int_t
ngx_http_member_scan_start(ngx_http_request_t *r,
    ngx_http_member_scan_call_e call)
{
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_scan_t  *scan;

    ctx = ngx_http_member_get_ctx(r);
    scan = ngx_pcalloc(r->pool, sizeof(ngx_http_member_scan_t));

    if (ctx == NULL || scan == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->scan = scan;
    scan->call = call;

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
        ngx_http_member_redis_command(r, ngx_http_member_scan_store, 3,
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

    default:
        return ngx_http_member_scan_purchase(r, scan, ctx->json);
    }
}


/*
 * SET NX: NGX_OK stored, NGX_DECLINED there before (nil), NGX_ERROR for
 * anything else: an error reply (OOM, READONLY, a replica) stored nothing
 * and says nothing of what was there.
 */

static ngx_int_t
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


static ngx_int_t
ngx_http_member_scan_verify(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json)
{
    u_char                       rnd[NGX_HTTP_MEMBER_TOKEN_RANDOM], *p;
    uint64_t                     id, step;
    ngx_str_t                    code, member, fail, src, secret, *a;
    mqr_status_t                 rc;
    ngx_http_member_argv_t       cmds[2];
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (ngx_http_member_json_str(json, "code", 32, 1, &code, 1) != NGX_OK) {
        return ngx_http_member_bad_field(r, "code");
    }

    rc = mqr_coder_check(mlcf->coder, (const char *) code.data, code.len,
                         (uint64_t) ngx_time(), (unsigned) mlcf->code_period,
                         1, &id, &step);

    if (rc != MQR_OK) {
        /* counted first: a store that keeps guessing is stopped */
        scan->failed = rc;

        if (ngx_http_member_scan_fail_key(r, scan, &fail) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_member_redis_script(r,
                                            NGX_HTTP_MEMBER_SCRIPT_SCAN_FAIL,
                                            ngx_http_member_scan_failed, &fail,
                                            NULL,
                                            0);
    }

    if (ngx_http_member_random(rnd, sizeof(rnd)) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the ticket: "<member id>.<time step>.<43 characters of base64url>" */
    scan->member_id = id;
    scan->ticket.data = ngx_pnalloc(r->pool, 2 * NGX_INT64_LEN + 2 + 44);
    if (scan->ticket.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(scan->ticket.data, "%uL.%uL.", id, step);
    src.data = rnd;
    src.len = sizeof(rnd);
    secret.data = p;
    ngx_encode_base64url(&secret, &src);
    scan->ticket.len = p + secret.len - scan->ticket.data;

    /* spent for as long as the code could still be accepted, at least */
    scan->ticket_ttl = ngx_max(4 * mlcf->code_period,
                               NGX_HTTP_MEMBER_TICKET_TTL);

    a = ngx_palloc(r->pool, 14 * sizeof(ngx_str_t));
    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);

    if (a == NULL || p == NULL
        || ngx_http_member_key(r->pool, &member, id, "") != NGX_OK
        || ngx_http_member_scan_ticket_key(r, scan, step, &secret) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * SET <code> "<store> <sha256 of the ticket's secret>" NX EX: the code
     * spent and the ticket made, one key; nil when another till spent the
     * code first, and then there is no ticket at all.
     */

    ngx_str_set(&a[0], "SET");
    a[1] = scan->ticket_key;
    a[2] = scan->ticket_value;
    ngx_str_set(&a[3], "NX");
    ngx_str_set(&a[4], "EX");
    a[5].data = p;
    a[5].len = ngx_sprintf(p, "%T", scan->ticket_ttl) - p;
    cmds[0].argc = 6;
    cmds[0].argv = a;

    ngx_str_set(&a[6], "HMGET");
    a[7] = member;
    ngx_str_set(&a[8], "status");
    ngx_str_set(&a[9], "card_no");
    ngx_str_set(&a[10], "level");
    ngx_str_set(&a[11], "points");
    ngx_str_set(&a[12], "balance_fen");
    ngx_str_set(&a[13], "name_masked");
    cmds[1].argc = 8;
    cmds[1].argv = &a[6];

    return ngx_http_member_redis_pipeline(r, ngx_http_member_scan_verified, 2,
                                          cmds);
}


static ngx_int_t
ngx_http_member_scan_failed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_scan_t  *scan;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    scan = ctx->scan;

    /* a failure that was not counted is not answered as one */
    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    if (scan->failed == MQR_EXPIRED) {
        return ngx_http_member_error(r, NGX_HTTP_GONE, "code_expired",
                                     "the code is too old: show a new one");
    }

    return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "unknown_code",
                                 "no member has that code");
}


static ngx_int_t
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


static ngx_int_t
ngx_http_member_scan_verified(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t                   len;
    ngx_int_t                rc;
    ngx_buf_t               *b;
    ngx_str_t                points, balance;
    redisReply              *m, *card_no, *level, *name;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_scan_t  *scan;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[1]->type != REDIS_REPLY_ARRAY
        || reply->element[1]->elements != 6)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    /* no ticket unless the code was spent by this SET */
    rc = ngx_http_member_scan_set_nx(reply->element[0]);

    if (rc == NGX_ERROR) {
        return ngx_http_member_reply_script_error(r, reply->element[0]);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_member_error(r, NGX_HTTP_CONFLICT, "code_used",
                                     "the code was used before");
    }

    m = reply->element[1];

    if (!ngx_http_member_scan_is(m->element[0], "active")) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "unknown_code",
                                     "no member has that code");
    }

    card_no = m->element[1];
    level = m->element[2];
    name = m->element[5];

    if (card_no->type != REDIS_REPLY_STRING
        || level->type != REDIS_REPLY_STRING
        || ngx_http_member_reply_number(m->element[3], &points) != NGX_OK
        || ngx_http_member_reply_number(m->element[4], &balance) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: an active member has a malformed card");
        return ngx_http_member_reply_script_error(r, reply);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    scan = ctx->scan;

    /* the till's hot path: a fixed shape, written into one buffer */

    len = sizeof("{\"ticket\":\"\",\"expires_in\":,\"member\":{\"card_no\":\"\","
                 "\"level\":\"\",\"points\":,\"balance_fen\":,\"name\":null}}")
          + scan->ticket.len + NGX_INT_T_LEN + points.len + balance.len
          + card_no->len
          + ngx_escape_json(NULL, (u_char *) card_no->str, card_no->len)
          + level->len
          + ngx_escape_json(NULL, (u_char *) level->str, level->len);

    if (name->type == REDIS_REPLY_STRING) {
        len += name->len
               + ngx_escape_json(NULL, (u_char *) name->str, name->len);
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the ticket is "<id>.<base64url>": nothing in it to escape */
    b->last = ngx_sprintf(b->last, "{\"ticket\":\"%V\",\"expires_in\":%d,"
                          "\"member\":{\"card_no\":\"", &scan->ticket,
                          scan->ticket_ttl);
    b->last = (u_char *) ngx_escape_json(b->last, (u_char *) card_no->str,
                                         card_no->len);
    b->last = ngx_cpymem(b->last, "\",\"level\":\"", 11);
    b->last = (u_char *) ngx_escape_json(b->last, (u_char *) level->str,
                                         level->len);
    b->last = ngx_sprintf(b->last, "\",\"points\":%V,\"balance_fen\":%V,"
                          "\"name\":", &points, &balance);

    /* the name is kept masked: the till never sees it whole */
    if (name->type == REDIS_REPLY_STRING) {
        *b->last++ = '"';
        b->last = (u_char *) ngx_escape_json(b->last, (u_char *) name->str,
                                             name->len);
        *b->last++ = '"';

    } else {
        b->last = ngx_cpymem(b->last, "null", 4);
    }

    *b->last++ = '}';
    *b->last++ = '}';

    return ngx_http_member_send_buf(r, NGX_HTTP_OK, b);
}


static ngx_uint_t
ngx_http_member_scan_is(redisReply *e, const char *value)
{
    size_t  len;

    len = ngx_strlen(value);

    return e->type == REDIS_REPLY_STRING && e->len == len
           && ngx_strncmp(e->str, value, len) == 0;
}


/* "<member id>.<time step>.<43 characters of base64url>" -> its key */

static ngx_int_t
ngx_http_member_scan_ticket(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan)
{
    u_char     *p, *dot, *last;
    uint64_t    step;
    ngx_str_t   secret;

    p = scan->ticket.data;
    last = p + scan->ticket.len;
    dot = ngx_strlchr(p, last, '.');

    if (dot == NULL
        || ngx_http_member_parse_id(p, dot - p, &scan->member_id) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    p = dot + 1;
    dot = ngx_strlchr(p, last, '.');

    if (dot == NULL || ngx_http_member_parse_id(p, dot - p, &step) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    secret.data = dot + 1;
    secret.len = last - secret.data;

    if (secret.len != 43) {
        return NGX_DECLINED;
    }

    return ngx_http_member_scan_ticket_key(r, scan, step, &secret);
}


/*
 * A ticket is the key of the code it spent, holding the store that spent
 * it and the SHA-256 of the ticket's secret: a Redis dump shows no ticket
 * that could be used.
 */

static ngx_int_t
ngx_http_member_scan_ticket_key(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, uint64_t step, ngx_str_t *secret)
{
    u_char  *p, digest[32];

    if (ngx_http_member_sha256(secret->data, secret->len, NULL, digest)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, sizeof("{m:}:code:") + 2 * NGX_INT64_LEN
                             + scan->store_id.len + 1 + 2 * sizeof(digest));
    if (p == NULL) {
        return NGX_ERROR;
    }

    scan->ticket_key.data = p;
    p = ngx_sprintf(p, "{m:%uL}:code:%uL", scan->member_id, step);
    scan->ticket_key.len = p - scan->ticket_key.data;

    scan->ticket_value.data = p;
    p = ngx_sprintf(p, "%V ", &scan->store_id);
    p = ngx_hex_dump(p, digest, sizeof(digest));
    scan->ticket_value.len = p - scan->ticket_value.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_scan_order_index(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json)
{
    if (ngx_http_member_json_str(json, "order_id", 64, 1, &scan->order_id, 1)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    /* the store's orders, to find an order's member at refund */
    scan->order_index.data = ngx_pnalloc(r->pool, sizeof("order:{s:}:")
                                                  + scan->store_id.len
                                                  + scan->order_id.len);
    if (scan->order_index.data == NULL) {
        return NGX_ERROR;
    }

    scan->order_index.len = ngx_sprintf(scan->order_index.data,
                                        "order:{s:%V}:%V", &scan->store_id,
                                        &scan->order_id)
                            - scan->order_index.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_scan_purchase(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json)
{
    u_char     *p;
    ngx_int_t   rc;
    ngx_str_t   keys[NGX_HTTP_MEMBER_ORDER_CLAIM_NKEYS];
    ngx_str_t   args[NGX_HTTP_MEMBER_ORDER_CLAIM_NARGV];

    if (ngx_http_member_body_known(r, json,
                                   scan->call == NGX_HTTP_MEMBER_SCAN_EARN
                                   ? NGX_HTTP_MEMBER_BODY_EARN
                                   : NGX_HTTP_MEMBER_BODY_PAY, &rc)
        != NGX_OK)
    {
        return rc;
    }

    if (ngx_http_member_json_str(json, "ticket", 80, 1, &scan->ticket, 1)
        != NGX_OK)
    {
        return ngx_http_member_bad_field(r, "ticket");
    }

    if (ngx_http_member_json_int(json, "amount_fen", 1,
                                 NGX_HTTP_MEMBER_MAX_AMOUNT, &scan->amount, 1)
        != NGX_OK)
    {
        return ngx_http_member_bad_field(r, "amount_fen");
    }

    /* 抵现: points deducted at the brand's rate */
    if (ngx_http_member_json_int(json, "points", 0, 1000000000,
                                 &scan->points, 0)
        == NGX_ERROR)
    {
        return ngx_http_member_bad_field(r, "points");
    }

    /* the member's coupon: ngx_http_member_coupons.c issues them */
    rc = ngx_http_member_json_str(json, "coupon_id", 64, 1, &scan->coupon_id,
                                  0);
    if (rc == NGX_ERROR) {
        return ngx_http_member_bad_field(r, "coupon_id");
    }

    if (rc == NGX_DECLINED) {
        ngx_str_set(&scan->coupon_id, "");
    }

    rc = ngx_http_member_scan_order_index(r, scan, json);

    if (rc == NGX_DECLINED) {
        return ngx_http_member_bad_field(r, "order_id");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_member_scan_ticket(r, scan);

    if (rc == NGX_DECLINED) {
        return ngx_http_member_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                     "the ticket is unknown, expired or "
                                     "another store's");
    }

    p = ngx_pnalloc(r->pool, 2 * NGX_INT64_LEN);
    if (rc != NGX_OK || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    scan->id_str.data = p;
    scan->id_str.len = ngx_sprintf(p, "%uL", scan->member_id) - p;
    p += scan->id_str.len;

    scan->ttl.data = p;
    scan->ttl.len = ngx_sprintf(p, "%d", NGX_HTTP_MEMBER_ORDER_TTL) - p;

    /*
     * an order id names one member's purchase, first come; claimed for
     * this request (its nonce) and kept only if the purchase succeeds
     */
    ngx_str_set(&args[NGX_HTTP_MEMBER_ORDER_CLAIM_ARGV_ACTION], "claim");

    return ngx_http_member_scan_claim(r, scan, keys, args, 0);
}


/*
 * After the purchase's script: the order id's claim is kept when it
 * succeeded, dropped when it was refused (nothing was written: the id is
 * free for the retry, or for another member), left alone on a conflict
 * (the order exists).  In the background: the answer does not wait.
 */

static void
ngx_http_member_scan_settled(ngx_http_request_t *r, redisReply *reply)
{
    ngx_str_t                     keys[NGX_HTTP_MEMBER_ORDER_CLAIM_NKEYS];
    ngx_str_t                     args[NGX_HTTP_MEMBER_ORDER_CLAIM_NARGV];
    ngx_http_member_ctx_t        *ctx;
    ngx_http_member_scan_t       *scan;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    scan = ctx->scan;

    if (reply->type == REDIS_REPLY_STRING) {
        ngx_str_set(&args[NGX_HTTP_MEMBER_ORDER_CLAIM_ARGV_ACTION], "keep");

    } else if (reply->type == REDIS_REPLY_ERROR
               && !ngx_http_member_redis_is_error(reply, "CONFLICT"))
    {
        ngx_str_set(&args[NGX_HTTP_MEMBER_ORDER_CLAIM_ARGV_ACTION], "drop");

    } else {
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member scan: order claim %V for member %uL",
                   &args[NGX_HTTP_MEMBER_ORDER_CLAIM_ARGV_ACTION],
                   scan->member_id);

    (void) ngx_http_member_scan_claim(r, scan, keys, args, 1);
}


/*
 * order_claim.lua with the action in args: the request's own call, or in
 * the background once the purchase answered.
 */

static ngx_int_t
ngx_http_member_scan_claim(ngx_http_request_t *r, ngx_http_member_scan_t *scan,
    ngx_str_t *keys, ngx_str_t *args, ngx_flag_t background)
{
    ngx_http_member_loc_conf_t  *mlcf;

    keys[NGX_HTTP_MEMBER_ORDER_CLAIM_KEY_INDEX] = scan->order_index;
    args[NGX_HTTP_MEMBER_ORDER_CLAIM_ARGV_MEMBER] = scan->id_str;
    args[NGX_HTTP_MEMBER_ORDER_CLAIM_ARGV_CLAIM] = scan->nonce;
    args[NGX_HTTP_MEMBER_ORDER_CLAIM_ARGV_TTL] = scan->ttl;

    if (!background) {
        return ngx_http_member_redis_script(r,
                                          NGX_HTTP_MEMBER_SCRIPT_ORDER_CLAIM,
                                          ngx_http_member_scan_indexed, keys,
                                          args, 0);
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    return ngx_http_member_redis_bg_script(mlcf->redis,
                                           NGX_HTTP_MEMBER_SCRIPT_ORDER_CLAIM,
                                           NGX_HTTP_MEMBER_BG_SHA1,
                                           ngx_http_member_scan_claim_done,
                                           NULL, keys, 0, args, 0);
}


static void
ngx_http_member_scan_claim_done(ngx_http_member_redis_t *redis, void *data,
    redisReply *reply)
{
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "member: an order id's claim was not settled: %*s",
                      (size_t) ngx_min(reply->len, 200), reply->str);
    }
}


static ngx_int_t
ngx_http_member_scan_indexed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS)
    {
        /* CLAIMED, or SEEN: this member's retry */
        return ngx_http_member_scan_pay(r);
    }

    if (ngx_http_member_redis_is_error(reply, "CONFLICT")) {
        return ngx_http_member_error(r, NGX_HTTP_CONFLICT, "conflict",
                                     "the order id was used for another "
                                     "member");
    }

    return ngx_http_member_reply_script_error(r, reply);
}


static ngx_int_t
ngx_http_member_scan_pay(ngx_http_request_t *r)
{
    ngx_str_t                kind;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_scan_t  *scan;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    scan = ctx->scan;

    ngx_str_set(&kind, "pay");

    if (scan->call == NGX_HTTP_MEMBER_SCAN_EARN) {
        ngx_str_set(&kind, "earn");
    }

    /* the brand's rules: ngx_http_member_ledger.c */
    return ngx_http_member_ledger_pay(r, scan->member_id, &kind,
                                      &scan->store_id, &scan->order_id,
                                      &scan->ticket_key, &scan->ticket_value,
                                      scan->amount, scan->points,
                                      &scan->coupon_id,
                                      ngx_http_member_scan_settled);
}


static ngx_int_t
ngx_http_member_scan_refund(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json)
{
    ngx_int_t  rc;

    if (ngx_http_member_body_known(r, json, NGX_HTTP_MEMBER_BODY_REFUND, &rc)
        != NGX_OK)
    {
        return rc;
    }

    rc = ngx_http_member_scan_order_index(r, scan, json);

    if (rc == NGX_DECLINED) {
        return ngx_http_member_bad_field(r, "order_id");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_redis_command(r, ngx_http_member_scan_order_found,
                                         2, &ngx_http_member_cmd_get,
                                         &scan->order_index);
}


static ngx_int_t
ngx_http_member_scan_order_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                  *colon;
    size_t                   len;
    uint64_t                 id;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_scan_t  *scan;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    scan = ctx->scan;

    if (reply->type == REDIS_REPLY_NIL) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such order from this store");
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    /* "<member>", or "<member>:<claim>" while its purchase is settled */
    len = reply->len;
    colon = ngx_strlchr((u_char *) reply->str, (u_char *) reply->str + len,
                        ':');
    if (colon) {
        len = colon - (u_char *) reply->str;
    }

    if (ngx_http_member_parse_id((u_char *) reply->str, len, &id) != NGX_OK) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    /* the member's order record decides: 404 if its purchase failed */
    return ngx_http_member_ledger_refund(r, id, &scan->store_id,
                                         &scan->order_id);
}
