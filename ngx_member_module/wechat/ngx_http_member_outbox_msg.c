
/*
 * ngx_member: the WeChat messages of the outbox (docs/outbox.md), sent
 * for each due member of a slice after its card
 * (ngx_http_member_outbox_card.c): wx_msg.lua turns the ledger's new
 * entries into template or subscribe messages and claims the oldest, whose
 * body the rules' messages make (ngx_http_member_messages.c); WeChat's
 * answer ends it (wx_msg_done.lua: sent, dropped) or leaves it first in
 * line for the member's backoff.
 */


#include "ngx_member_wechat.h"


#define NGX_HTTP_MEMBER_OUTBOX_FRESH    "86400"     /* s: older, no message */
#define NGX_HTTP_MEMBER_OUTBOX_FLIGHT   "60000"     /* ms: its answer lost */


static ngx_int_t ngx_http_member_outbox_msg_send(ngx_http_request_t *r,
    ngx_str_t *token);


/*
 * The member's messages, after its card: wx_msg.lua turns the ledger's
 * new entries into messages and claims the oldest one; its call's answer
 * ends it (sent, dropped) or leaves it first in line (retry, with the
 * member's backoff).  A claim whose answer was lost is never sent again.
 */

static ngx_int_t
ngx_http_member_outbox_msg_ended(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_card_req(r);

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    if (q->outcome[0] == 'r') {
        q->failed++;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "member: wechat message %V of member %V not sent "
                      "(errcode %i), retried later", &q->msg[0],
                      &q->ids[q->i], q->errcode);

        return ngx_http_member_outbox_card_settle(r, 0);
    }

    if (q->outcome[0] == 's') {
        q->messages_sent++;

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "member: wechat message %V of member %V dropped "
                      "(errcode %i)", &q->msg[0], &q->ids[q->i], q->errcode);
    }

    return ngx_http_member_outbox_msg_next(r);
}


static ngx_int_t
ngx_http_member_outbox_msg_end(ngx_http_request_t *r, const char *outcome)
{
    ngx_str_t                      *args;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_WX_MSG_DONE_NKEYS];
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_card_req(r);
    q->outcome = outcome;

    args = ngx_pcalloc(r->pool,
                       NGX_HTTP_MEMBER_WX_MSG_DONE_NARGV * sizeof(ngx_str_t));
    if (args == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    keys[NGX_HTTP_MEMBER_WX_MSG_DONE_KEY_MEMBER] =
                                    q->mkeys[NGX_HTTP_MEMBER_WX_MSG_KEY_MEMBER];
    keys[NGX_HTTP_MEMBER_WX_MSG_DONE_KEY_MSGS] =
                                      q->mkeys[NGX_HTTP_MEMBER_WX_MSG_KEY_MSGS];
    keys[NGX_HTTP_MEMBER_WX_MSG_DONE_KEY_SUBS] =
                                      q->mkeys[NGX_HTTP_MEMBER_WX_MSG_KEY_SUBS];
    keys[NGX_HTTP_MEMBER_WX_MSG_DONE_KEY_MSGLOG] =
                                    q->mkeys[NGX_HTTP_MEMBER_WX_MSG_KEY_MSGLOG];

    args[NGX_HTTP_MEMBER_WX_MSG_DONE_ARGV_MSG_ID] = q->msg[0];
    args[NGX_HTTP_MEMBER_WX_MSG_DONE_ARGV_OUTCOME].data = (u_char *) outcome;
    args[NGX_HTTP_MEMBER_WX_MSG_DONE_ARGV_OUTCOME].len = ngx_strlen(outcome);
    args[NGX_HTTP_MEMBER_WX_MSG_DONE_ARGV_KIND] = q->msg[1];
    args[NGX_HTTP_MEMBER_WX_MSG_DONE_ARGV_CHANNEL] = q->msg[2];
    args[NGX_HTTP_MEMBER_WX_MSG_DONE_ARGV_TEMPLATE] = q->msg[3];
    args[NGX_HTTP_MEMBER_WX_MSG_DONE_ARGV_MSGID] = q->msgid;

    if (ngx_http_member_int_arg(r->pool,
                                &args[NGX_HTTP_MEMBER_WX_MSG_DONE_ARGV_ERRCODE],
                                q->errcode) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_WX_MSG_DONE_ARGV_NOW],
                                   ngx_time()) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_WX_MSG_DONE,
                                        ngx_http_member_outbox_msg_ended, keys,
                                        args, 0);
}


/* WeChat's answers that no retry changes: the message is dropped */

static ngx_uint_t
ngx_http_member_outbox_msg_final(ngx_int_t errcode)
{
    switch (errcode) {

    case 40003:     /* invalid openid */
    case 40037:     /* invalid template_id */
    case 41030:     /* invalid page */
    case 43004:     /* the user does not follow the account */
    case 43101:     /* the user refused: no subscription */
    case 47003:     /* the data do not fit the template */
        return 1;

    default:
        return 0;
    }
}


static ngx_int_t
ngx_http_member_outbox_msg_answered(ngx_http_request_t *r)
{
    json_t                        *json, *v;
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_outbox_req_t  *q;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    q = ctx->outbox;
    q->errcode = -2;
    ngx_str_set(&q->msgid, "");

    if (ctx->wechat_failed) {
        return ngx_http_member_outbox_msg_end(r, "retry");
    }

    json = json_loadb((char *) ctx->sr_body.data, ctx->sr_body.len, 0, NULL);
    v = json_object_get(json, "errcode");
    q->errcode = (json && (v == NULL || json_is_integer(v)))
                 ? (v ? (ngx_int_t) json_integer_value(v) : 0) : -2;

    v = json_object_get(json, "msgid");

    if (json_is_integer(v)) {
        q->msgid.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (q->msgid.data == NULL) {
            json_decref(json);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        q->msgid.len = ngx_sprintf(q->msgid.data, "%L",
                                   (int64_t) json_integer_value(v))
                       - q->msgid.data;
    }

    json_decref(json);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member outbox: message %V of member %V answered, "
                   "errcode %i", &q->msg[0], &q->ids[q->i], q->errcode);

    if ((q->errcode == 40001 || q->errcode == 40014 || q->errcode == 42001)
        && !q->renewed)
    {
        /* the token went stale: a fresh one, once */
        q->renewed = 1;
        return ngx_http_member_wechat_secret(r, NGX_HTTP_MEMBER_WX_TOKEN, 1,
                                             ngx_http_member_outbox_msg_send);
    }

    if (q->errcode == 0) {
        return ngx_http_member_outbox_msg_end(r, "sent");
    }

    if (ngx_http_member_outbox_msg_final(q->errcode)) {
        return ngx_http_member_outbox_msg_end(r, "dropped");
    }

    return ngx_http_member_outbox_msg_end(r, "retry");
}


static ngx_int_t
ngx_http_member_outbox_msg_send(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_card_req(r);

    return ngx_http_member_wechat_post_token(r, &q->path, token, &q->body,
                                        ngx_http_member_outbox_msg_answered);
}


static ngx_int_t
ngx_http_member_outbox_msg(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_int_t                      rc;
    ngx_uint_t                     i;
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_card_req(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    for (i = 0; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            return ngx_http_member_reply_script_error(r, reply);
        }
    }

    if (reply->element[0]->len == 4
        && ngx_strncmp(reply->element[0]->str, "none", 4) == 0)
    {
        return ngx_http_member_outbox_card_settle(r, 1);
    }

    if (reply->elements < 8) {
        /* "busy": another call of this member is in flight */
        return ngx_http_member_outbox_card_settle(r, 0);
    }

    for (i = 0; i < 4; i++) {
        if (ngx_http_member_outbox_card_copy(r, reply->element[1 + i],
                                             &q->msg[i])
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member outbox: member %V: message %V claimed",
                   &q->ids[q->i], &q->msg[0]);

    q->errcode = 0;
    ngx_str_set(&q->msgid, "");

    rc = ngx_http_member_messages_body(r, q->messages, reply, &q->path,
                                       &q->body);

    if (rc == NGX_DECLINED) {
        /* its kind left the rules after the claim */
        return ngx_http_member_outbox_msg_end(r, "dropped");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q->renewed = 0;

    return ngx_http_member_wechat_secret(r, NGX_HTTP_MEMBER_WX_TOKEN, 0,
                                         ngx_http_member_outbox_msg_send);
}


ngx_int_t
ngx_http_member_outbox_msg_next(ngx_http_request_t *r)
{
    u_char                        *p;
    ngx_str_t                     *member, *arg;
    ngx_uint_t                     i;
    ngx_time_t                    *tp;
    ngx_http_member_loc_conf_t    *mlcf;
    ngx_http_member_outbox_req_t  *q;

    static const char  *suffix[] = { "", ":ledger", ":wx:msgs", ":wx:subs",
                                     ":wx:msglog" };

    q = ngx_http_member_outbox_card_req(r);

    if (q->messages == NULL) {
        return ngx_http_member_outbox_card_settle(r, 1);
    }

    member = &q->mkeys[NGX_HTTP_MEMBER_WX_MSG_KEY_MEMBER];

    if (member->data == NULL
        || member->len != q->ids[q->i].len + sizeof("{m:}") - 1
        || ngx_strncmp(member->data + 3, q->ids[q->i].data,
                       q->ids[q->i].len) != 0)
    {
        for (i = 0; i < NGX_HTTP_MEMBER_WX_MSG_NKEYS; i++) {
            p = ngx_pnalloc(r->pool, q->ids[q->i].len + 16);
            if (p == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            q->mkeys[i].data = p;
            q->mkeys[i].len = ngx_sprintf(p, "{m:%V}%s", &q->ids[q->i],
                                          suffix[i])
                              - p;
        }
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);
    tp = ngx_timeofday();

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN + NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    arg = &q->margs[NGX_HTTP_MEMBER_WX_MSG_ARGV_NOW_MS];
    arg->data = p;
    arg->len = ngx_sprintf(p, "%T%03M", tp->sec, tp->msec) - p;
    p += arg->len;

    arg = &q->margs[NGX_HTTP_MEMBER_WX_MSG_ARGV_NOW];
    arg->data = p;
    arg->len = ngx_sprintf(p, "%T",
                           ngx_http_member_ledger_now(mlcf->redis->ledger))
               - p;

    ngx_str_set(&q->margs[NGX_HTTP_MEMBER_WX_MSG_ARGV_SINCE],
                NGX_HTTP_MEMBER_OUTBOX_FRESH);
    ngx_str_set(&q->margs[NGX_HTTP_MEMBER_WX_MSG_ARGV_FLIGHT],
                NGX_HTTP_MEMBER_OUTBOX_FLIGHT);

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_WX_MSG,
                                        ngx_http_member_outbox_msg, q->mkeys,
                                        q->margs,
                                        0);
}
