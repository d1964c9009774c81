
/*
 * ngx_member: the member of a phone, for POST register and the card's
 * activation form alike.
 *
 * GET phone:<HMAC> under each key line's index in turn; when none names a
 * member, SET the first NX to the claimer's id; when another request took
 * it meanwhile, look again, and a second claim is refused (the phone is
 * being registered).  Single-key commands only; the member's keys are
 * written by a script afterwards, which answers STALE when the index
 * named a member without that phone any more: the caller claims again,
 * by force.
 */


#include "ngx_member_ledger.h"


static ngx_int_t ngx_http_member_phone_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_phone_claimed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);


/* the phone's index under each key line (at most 8): none without keys */

ngx_int_t
ngx_http_member_phone_indexes(ngx_http_request_t *r,
    ngx_http_member_phone_t *ph, ngx_str_t *phone)
{
    ngx_uint_t                   i;
    ngx_http_member_key_t       *key;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    key = mlcf->keys ? mlcf->keys->elts : NULL;

    for (i = 0; key && i < mlcf->keys->nelts && i < 8; i++) {
        if (ngx_http_member_phone_index(r, &key[i], phone, &ph->index[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ph->nindex = i;
    ph->tried = 0;

    return NGX_OK;
}


/* ph->done(r, ph, reply) follows, with ph->rc and ph->member */

ngx_int_t
ngx_http_member_phone_lookup(ngx_http_request_t *r,
    ngx_http_member_phone_t *ph)
{
    ngx_http_member_call_t  *call;

    call = ngx_http_member_redis_request_call(r);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call->data = ph;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member phone: looking up index %ui", ph->tried);

    return ngx_http_member_redis_command(r, ngx_http_member_phone_found,
                                         &ngx_http_member_cmd_get,
                                         &ph->index[ph->tried]);
}


static ngx_int_t
ngx_http_member_phone_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    uint64_t                  id;
    ngx_http_member_phone_t  *ph;

    ph = call->data;

    if (reply->type == REDIS_REPLY_NIL) {
        if (++ph->tried < ph->nindex) {
            return ngx_http_member_phone_lookup(r, ph);
        }

        return ngx_http_member_phone_claim(r, ph, 0);
    }

    if (reply->type != REDIS_REPLY_STRING
        || ngx_http_member_parse_id((u_char *) reply->str, reply->len, &id)
           != NGX_OK)
    {
        ph->rc = NGX_ERROR;
        return ph->done(r, ph, reply);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member phone: member %uL has it", id);

    ph->rc = NGX_OK;
    ph->member = id;

    return ph->done(r, ph, reply);
}


/* the phone is nobody's (or its index is stale): the claimer takes it */

ngx_int_t
ngx_http_member_phone_claim(ngx_http_request_t *r,
    ngx_http_member_phone_t *ph, ngx_uint_t force)
{
    ngx_str_t               *id;
    ngx_http_member_call_t  *call;

    static ngx_str_t  set = ngx_string("SET");

    if (ph->claimed) {
        ph->rc = NGX_BUSY;
        return ph->done(r, ph, NULL);
    }

    ph->claimed = 1;
    ph->tried = 0;

    id = ngx_palloc(r->pool, sizeof(ngx_str_t));

    if (id == NULL
        || ngx_http_member_int_arg(r->pool, id, ph->claimer) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call = ngx_http_member_redis_request_call(r);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call->data = ph;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member phone: member %uL claims it%s", ph->claimer,
                   force ? ", by force" : "");

    if (force) {
        return ngx_http_member_redis_command(r, ngx_http_member_phone_claimed,
                                             &set, &ph->index[0], id);
    }

    return ngx_http_member_redis_command(r, ngx_http_member_phone_claimed,
                                         &set, &ph->index[0], id,
                                         &ngx_http_member_cmd_nx);
}


static ngx_int_t
ngx_http_member_phone_claimed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_phone_t  *ph;

    ph = call->data;

    if (reply->type == REDIS_REPLY_NIL) {
        /* another registration took it meanwhile: look again */
        return ngx_http_member_phone_lookup(r, ph);
    }

    if (reply->type != REDIS_REPLY_STATUS) {
        ph->rc = NGX_ERROR;
        return ph->done(r, ph, reply);
    }

    ph->rc = NGX_OK;
    ph->member = ph->claimer;

    return ph->done(r, ph, reply);
}
