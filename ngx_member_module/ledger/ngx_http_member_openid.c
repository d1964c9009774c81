
/*
 * ngx_member: the member id of a WeChat openid, made on first sight.
 *
 * GET openid:<openid>; when absent, INCR member:seq and SET openid:<openid>
 * NX to that id; when another request claimed the openid meanwhile, take
 * its id.  Single-key commands only, so they run on Redis Cluster as they
 * are; the member's own keys are written by a script afterwards.
 */


#include "ngx_member_ledger.h"


static ngx_int_t ngx_http_member_openid_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_openid_allocated(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_openid_claimed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);


ngx_int_t
ngx_http_member_openid_key(ngx_pool_t *pool, ngx_str_t *openid,
    ngx_str_t *key)
{
    key->len = sizeof("openid:") - 1 + openid->len;
    key->data = ngx_pnalloc(pool, key->len);

    if (key->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(key->data, "openid:", 7), openid->data,
               openid->len);

    return NGX_OK;
}


/*
 * Calls done(r, id) with the member id of the openid, a new one when the
 * openid has none; with no openid, a new id.  Returns what a Redis call
 * returns: NGX_DONE while waiting, or an answer's rc.
 */

ngx_int_t
ngx_http_member_openid_id(ngx_http_request_t *r, ngx_str_t *openid,
    ngx_http_member_id_pt done)
{
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_member_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->id_done = done;

    if (openid->len == 0) {
        ngx_str_null(&ctx->openid_key);

        return ngx_http_member_redis_command(r,
                                             ngx_http_member_openid_allocated,
                                             &ngx_http_member_cmd_incr,
                                             &ngx_http_member_seq_key);
    }

    if (ngx_http_member_openid_key(r->pool, openid, &ctx->openid_key)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_redis_command(r, ngx_http_member_openid_found,
                                         &ngx_http_member_cmd_get,
                                         &ctx->openid_key);
}


static ngx_int_t
ngx_http_member_openid_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    uint64_t                id;
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (reply->type == REDIS_REPLY_NIL) {
        return ngx_http_member_redis_command(r,
                                             ngx_http_member_openid_allocated,
                                             &ngx_http_member_cmd_incr,
                                             &ngx_http_member_seq_key);
    }

    if (reply->type != REDIS_REPLY_STRING
        || ngx_http_member_parse_id((u_char *) reply->str, reply->len, &id)
           != NGX_OK)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    return ctx->id_done(r, id);
}


static ngx_int_t
ngx_http_member_openid_allocated(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                 *p;
    ngx_str_t              *id;
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (reply->type != REDIS_REPLY_INTEGER || reply->integer <= 0) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ctx->member_id = reply->integer;

    if (ctx->openid_key.len == 0) {
        return ctx->id_done(r, ctx->member_id);
    }

    id = ngx_palloc(r->pool, sizeof(ngx_str_t));
    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);

    if (id == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    id->data = p;
    id->len = ngx_sprintf(p, "%uL", ctx->member_id) - p;

    return ngx_http_member_redis_command(r, ngx_http_member_openid_claimed,
                                         &ngx_http_member_cmd_set,
                                         &ctx->openid_key, id,
                                         &ngx_http_member_cmd_nx);
}


static ngx_int_t
ngx_http_member_openid_claimed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    /* claimed meanwhile by another request: its id wins */
    if (reply->type == REDIS_REPLY_NIL) {
        return ngx_http_member_redis_command(r, ngx_http_member_openid_found,
                                             &ngx_http_member_cmd_get,
                                             &ctx->openid_key);
    }

    if (reply->type != REDIS_REPLY_STATUS) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    return ctx->id_done(r, ctx->member_id);
}
