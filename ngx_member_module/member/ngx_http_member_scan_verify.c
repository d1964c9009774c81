
/*
 * ngx_member: the scanner's POST verify {"code"}: the member's dynamic
 * code spent once, which makes the ticket a purchase names, and the card
 * read, as a pipeline of two commands on the member's keys.  A code that
 * is no member's counts against the store (ngx_http_member_scan.c stops a
 * store that keeps failing).
 */


#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_member_member.h"


static ngx_int_t ngx_http_member_scan_failed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_scan_verified(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_uint_t ngx_http_member_scan_is(redisReply *e, const char *value);


ngx_int_t
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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member scan: store \"%V\"'s failure counted: %d",
                   &scan->store_id, reply->type);

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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member scan: verify's pipeline answered: %d, %uz",
                   reply->type, reply->elements);

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


/*
 * A ticket is the key of the code it spent, holding the store that spent
 * it and the SHA-256 of the ticket's secret: a Redis dump shows no ticket
 * that could be used.
 */

ngx_int_t
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
