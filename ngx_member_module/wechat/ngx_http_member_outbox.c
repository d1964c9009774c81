
/*
 * ngx_member: the WeChat wallet card in step with the ledger through an
 * outbox (docs/outbox.md).
 *
 * Every script that changes a member's points or balance is followed by a
 * hint, ZADD {b}:wx <ms> <id>.  For every brand (a member_redis of a
 * server block with member_wechat_outbox), the worker that holds that
 * brand's ledger lease calls its own nginx once a second (the URL of the
 * admin location, the server's name as Host, POST outbox/run with the
 * brand's key made at configuration time), and
 * that request, a real one, does the work with the module's token cache and
 * WeChat subrequests: for up to 10 due members, the full current points
 * and balance go to card/membercard/updateuser (or card/membercard/activate
 * for a registered member whose card is only claimed, after WeChat's
 * activation form registered it: ngx_http_member_form.c) unless WeChat
 * already has the member's last ledger entry (wx_synced).  Then the member's
 * messages (template or subscribe, ngx_http_member_messages.c), oldest
 * first, each claimed before its call and ended by WeChat's answer
 * (wx_msg.lua, wx_msg_done.lua).  A refusal puts the member back with a
 * doubling backoff.  Timers have no request: the loopback call gives the
 * subrequests one.
 */


#include <openssl/rand.h>

#include "ngx_member_wechat.h"


#define NGX_HTTP_MEMBER_OUTBOX_EVERY    1000        /* ms */
#define NGX_HTTP_MEMBER_OUTBOX_SOON     50          /* ms, more is due */
#define NGX_HTTP_MEMBER_OUTBOX_TIMEOUT  30000       /* ms */
#define NGX_HTTP_MEMBER_OUTBOX_SLICE    10          /* members a call */
#define NGX_HTTP_MEMBER_OUTBOX_BACKOFF  "500"       /* ms, doubles */
#define NGX_HTTP_MEMBER_OUTBOX_LONGEST  "300000"    /* ms */
#define NGX_HTTP_MEMBER_OUTBOX_KEY      32          /* hex characters */
#define NGX_HTTP_MEMBER_OUTBOX_FRESH    "86400"     /* s: older, no message */
#define NGX_HTTP_MEMBER_OUTBOX_FLIGHT   "60000"     /* ms: its answer lost */


/* member_wechat_outbox, at http level or in a server block */
struct ngx_http_member_outbox_conf_s {
    ngx_url_t                     url;
};


/*
 * One brand's outbox: its Redis, the call that reaches its admin location
 * with its key; per worker, its job (a slice is one loopback call).
 */
typedef struct {
    ngx_http_member_outbox_conf_t  *conf;
    ngx_http_member_redis_t        *redis;
    ngx_str_t                       host;
    ngx_str_t                       request;
    u_char                          key[NGX_HTTP_MEMBER_OUTBOX_KEY];
    ngx_http_member_job_t           job;
    ngx_peer_connection_t           peer;
    size_t                          sent;
    u_char                          answer[256];
    size_t                          answer_len;
} ngx_http_member_outbox_t;


/* per request: one slice of due members */
struct ngx_http_member_outbox_req_s {
    ngx_str_t                     ids[NGX_HTTP_MEMBER_OUTBOX_SLICE];
    ngx_str_t                     scores[NGX_HTTP_MEMBER_OUTBOX_SLICE];
    ngx_uint_t                    n;
    ngx_uint_t                    i;
    ngx_uint_t                    sent;
    ngx_uint_t                    failed;
    ngx_uint_t                    activate;
    ngx_str_t                     field[9];     /* what wx_peek.lua says */
    ngx_str_t                     key;
    ngx_str_t                     body;
    ngx_int_t                     errcode;

    /* messages: the rules' section, wx_msg.lua's ARGV, the one in hand */
    json_t                       *messages;
    ngx_str_t                     margs[NGX_HTTP_MEMBER_WX_MSG_NARGV];
    ngx_str_t                     mkeys[NGX_HTTP_MEMBER_WX_MSG_NKEYS];
    ngx_str_t                     msg[4];       /* id, kind, channel, tpl */
    ngx_str_t                     path;
    ngx_str_t                     msgid;
    const char                   *outcome;
    ngx_uint_t                    messages_sent;
    unsigned                      renewed:1;
    unsigned                      formed:1;     /* the form was read */
};


static ngx_str_t  ngx_http_member_wx_key = ngx_string("{b}:wx");
static ngx_str_t  ngx_http_member_wx_tries = ngx_string("{b}:wx:tries");


static ngx_int_t ngx_http_member_outbox_next(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_outbox_settle(ngx_http_request_t *r,
    ngx_uint_t done);
static ngx_int_t ngx_http_member_outbox_send(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_http_member_outbox_messages(ngx_http_request_t *r);
static void ngx_http_member_outbox_close(ngx_http_member_outbox_t *o);


/* the hint: the member's card may be behind its ledger */

void
ngx_http_member_outbox_touch(ngx_http_member_redis_t *redis, uint64_t id)
{
    u_char       sc[NGX_INT64_LEN], mb[NGX_INT64_LEN];
    ngx_str_t    score, member;
    ngx_time_t  *tp;

    if (redis == NULL) {
        return;
    }

    tp = ngx_timeofday();

    score.data = sc;
    score.len = ngx_sprintf(sc, "%T%03M", tp->sec, tp->msec) - sc;
    member.data = mb;
    member.len = ngx_sprintf(mb, "%uL", id) - mb;

    (void) ngx_http_member_redis_bg_argv(redis, NULL, NULL,
                        ngx_http_member_args(ngx_string("ZADD"),
                                             ngx_http_member_wx_key, score,
                                             member));
}


/* POST outbox/run: one slice */

static ngx_http_member_outbox_req_t *
ngx_http_member_outbox_req(ngx_http_request_t *r)
{
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    return ctx->outbox;
}


static ngx_int_t
ngx_http_member_outbox_copy(ngx_http_request_t *r, redisReply *e,
    ngx_str_t *out)
{
    if (e->type != REDIS_REPLY_STRING) {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(r->pool, e->len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, e->str, e->len);
    out->data[e->len] = '\0';
    out->len = e->len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_outbox_settled(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_req(r);

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    q->i++;
    q->formed = 0;

    return ngx_http_member_outbox_next(r);
}


static ngx_int_t
ngx_http_member_outbox_settle(ngx_http_request_t *r, ngx_uint_t done)
{
    u_char                        *p;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_WX_SETTLE_NKEYS], *args;
    ngx_time_t                    *tp;
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_req(r);

    args = ngx_pcalloc(r->pool, 6 * sizeof(ngx_str_t));
    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (args == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tp = ngx_timeofday();

    keys[NGX_HTTP_MEMBER_WX_SETTLE_KEY_WX] = ngx_http_member_wx_key;
    keys[NGX_HTTP_MEMBER_WX_SETTLE_KEY_TRIES] = ngx_http_member_wx_tries;
    args[NGX_HTTP_MEMBER_WX_SETTLE_ARGV_MEMBER_ID] = q->ids[q->i];
    args[NGX_HTTP_MEMBER_WX_SETTLE_ARGV_SCORE] = q->scores[q->i];
    ngx_str_set(&args[NGX_HTTP_MEMBER_WX_SETTLE_ARGV_DONE], "0");
    args[NGX_HTTP_MEMBER_WX_SETTLE_ARGV_DONE].data =
                                                  (u_char *) (done ? "1" : "0");
    args[NGX_HTTP_MEMBER_WX_SETTLE_ARGV_NOW].data = p;
    args[NGX_HTTP_MEMBER_WX_SETTLE_ARGV_NOW].len =
                                ngx_sprintf(p, "%T%03M", tp->sec, tp->msec) - p;
    ngx_str_set(&args[NGX_HTTP_MEMBER_WX_SETTLE_ARGV_BACKOFF_MIN],
                NGX_HTTP_MEMBER_OUTBOX_BACKOFF);
    ngx_str_set(&args[NGX_HTTP_MEMBER_WX_SETTLE_ARGV_BACKOFF_MAX],
                NGX_HTTP_MEMBER_OUTBOX_LONGEST);

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_WX_SETTLE,
                                        ngx_http_member_outbox_settled, keys,
                                        args,
                                        0);
}


static ngx_int_t
ngx_http_member_outbox_synced(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    return ngx_http_member_outbox_messages(r);
}


static ngx_int_t
ngx_http_member_outbox_failed(ngx_http_request_t *r)
{
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_req(r);
    q->failed++;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "member: wechat card of member %V not updated "
                  "(errcode %i), retried later", &q->ids[q->i], q->errcode);

    return ngx_http_member_outbox_settle(r, 0);
}


static ngx_int_t
ngx_http_member_outbox_answered(ngx_http_request_t *r)
{
    u_char                        *p;
    json_t                        *json, *v;
    ngx_str_t                      args[NGX_HTTP_MEMBER_WX_SYNCED_NARGV];
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_outbox_req_t  *q;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    q = ctx->outbox;
    q->errcode = -2;

    if (ctx->wechat_failed) {
        return ngx_http_member_outbox_failed(r);
    }

    json = json_loadb((char *) ctx->sr_body.data, ctx->sr_body.len, 0, NULL);
    v = json_object_get(json, "errcode");
    q->errcode = (json && (v == NULL || json_is_integer(v)))
                 ? (v ? (ngx_int_t) json_integer_value(v) : 0) : -2;
    json_decref(json);

    if ((q->errcode == 40001 || q->errcode == 40014 || q->errcode == 42001)
        && !q->renewed)
    {
        /* the token went stale: a fresh one, once */
        q->renewed = 1;
        return ngx_http_member_wechat_secret(r, NGX_HTTP_MEMBER_WX_TOKEN, 1,
                                             ngx_http_member_outbox_send);
    }

    if (q->errcode != 0) {
        return ngx_http_member_outbox_failed(r);
    }

    q->sent++;

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_WX_SYNCED_ARGV_ENTRY] = q->field[5];
    ngx_str_set(&args[NGX_HTTP_MEMBER_WX_SYNCED_ARGV_ACTIVATED], "0");
    args[NGX_HTTP_MEMBER_WX_SYNCED_ARGV_ACTIVATED].data =
                                           (u_char *) (q->activate ? "1" : "0");
    args[NGX_HTTP_MEMBER_WX_SYNCED_ARGV_NOW].data = p;
    args[NGX_HTTP_MEMBER_WX_SYNCED_ARGV_NOW].len =
                                           ngx_sprintf(p, "%T", ngx_time()) - p;

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_WX_SYNCED,
                                        ngx_http_member_outbox_synced, &q->key,
                                        args,
                                        0);
}


static ngx_int_t
ngx_http_member_outbox_send(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_str_t                      path;
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_req(r);

    if (q->activate) {
        ngx_str_set(&path, "card/membercard/activate");

    } else {
        ngx_str_set(&path, "card/membercard/updateuser");
    }

    return ngx_http_member_wechat_post_token(r, &path, token, &q->body,
                                             ngx_http_member_outbox_answered);
}


/* the full current values, never a delta: a repeat is harmless */

static ngx_int_t
ngx_http_member_outbox_body(ngx_http_request_t *r,
    ngx_http_member_outbox_req_t *q)
{
    char       *s;
    json_t     *body;
    ngx_int_t   points, balance;

    points = ngx_atoi(q->field[3].data + (q->field[3].data[0] == '-'),
                      q->field[3].len - (q->field[3].data[0] == '-'));
    balance = ngx_atoi(q->field[4].data, q->field[4].len);

    if (points == NGX_ERROR || balance == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (q->field[3].data[0] == '-') {
        /* a points debt shows as none on the card */
        points = 0;
    }

    if (q->activate) {
        body = json_pack("{s:s%,s:s%,s:s%,s:I,s:s,s:I}",
                         "code", q->field[1].data, q->field[1].len,
                         "card_id", q->field[2].data, q->field[2].len,
                         "membership_number", q->field[7].data,
                         q->field[7].len,
                         "init_bonus", (json_int_t) points,
                         "init_bonus_record", "开卡",
                         "init_balance", (json_int_t) balance);

    } else {
        body = json_pack("{s:s%,s:s%,s:I,s:s%,s:I,s:s%}",
                         "code", q->field[1].data, q->field[1].len,
                         "card_id", q->field[2].data, q->field[2].len,
                         "bonus", (json_int_t) points,
                         "record_bonus", q->field[6].data, q->field[6].len,
                         "balance", (json_int_t) balance,
                         "record_balance", q->field[6].data, q->field[6].len);
    }

    if (body == NULL) {
        return NGX_ERROR;
    }

    s = json_dumps(body, JSON_COMPACT);
    json_decref(body);

    if (s == NULL) {
        return NGX_ERROR;
    }

    q->body.len = ngx_strlen(s);
    q->body.data = ngx_pnalloc(r->pool, q->body.len);

    if (q->body.data != NULL) {
        ngx_memcpy(q->body.data, s, q->body.len);
    }

    free(s);

    return q->body.data ? NGX_OK : NGX_ERROR;
}


/*
 * The activation form was read (ngx_http_member_form.c): registered here,
 * the member is looked at again at once and its card activated; linked to
 * the member who has the form's phone, that one's hint does it; WeChat
 * failing puts the member back with the backoff.
 */

static ngx_int_t
ngx_http_member_outbox_formed(ngx_http_request_t *r, ngx_int_t rc,
    uint64_t target)
{
    uint64_t                       id;
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_req(r);

    if (rc == NGX_AGAIN) {
        q->failed++;
        return ngx_http_member_outbox_settle(r, 0);
    }

    if (rc == NGX_OK
        && ngx_http_member_parse_id(q->ids[q->i].data, q->ids[q->i].len, &id)
           == NGX_OK
        && id == target)
    {
        return ngx_http_member_outbox_next(r);
    }

    return ngx_http_member_outbox_settle(r, 1);
}


static ngx_int_t
ngx_http_member_outbox_peeked(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    uint64_t                       id;
    ngx_uint_t                     i;
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_req(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 9) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    for (i = 0; i < 9; i++) {
        if (ngx_http_member_outbox_copy(r, reply->element[i], &q->field[i])
            != NGX_OK)
        {
            return ngx_http_member_reply_script_error(r, reply);
        }
    }

    if (q->field[0].len == 4
        && ngx_strncmp(q->field[0].data, "none", 4) == 0)
    {
        /* "none": the card lacks nothing; the messages may */
        return ngx_http_member_outbox_messages(r);
    }

    if (q->field[0].len == 4) {
        /* "form": WeChat's activation form registers the member first */
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "member outbox: member %V: activation form",
                       &q->ids[q->i]);

        if (q->formed
            || ngx_http_member_parse_id(q->ids[q->i].data, q->ids[q->i].len,
                                        &id)
               != NGX_OK)
        {
            /* read once a turn: the next hint tries again */
            return ngx_http_member_outbox_settle(r, 1);
        }

        q->formed = 1;

        return ngx_http_member_form_read(r, id, &q->field[2], &q->field[1],
                                         &q->field[8],
                                         ngx_http_member_outbox_formed);
    }

    q->activate = (q->field[0].len == 8);
    q->renewed = 0;

    if (q->field[3].len == 0 || q->field[4].len == 0
        || ngx_http_member_outbox_body(r, q) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: outbox: member %V has no card values",
                      &q->ids[q->i]);
        return ngx_http_member_outbox_messages(r);
    }

    return ngx_http_member_wechat_secret(r, NGX_HTTP_MEMBER_WX_TOKEN, 0,
                                         ngx_http_member_outbox_send);
}


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

    q = ngx_http_member_outbox_req(r);

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    if (q->outcome[0] == 'r') {
        q->failed++;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "member: wechat message %V of member %V not sent "
                      "(errcode %i), retried later", &q->msg[0],
                      &q->ids[q->i], q->errcode);

        return ngx_http_member_outbox_settle(r, 0);
    }

    if (q->outcome[0] == 's') {
        q->messages_sent++;

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "member: wechat message %V of member %V dropped "
                      "(errcode %i)", &q->msg[0], &q->ids[q->i], q->errcode);
    }

    return ngx_http_member_outbox_messages(r);
}


static ngx_int_t
ngx_http_member_outbox_msg_end(ngx_http_request_t *r, const char *outcome)
{
    ngx_str_t                      *args;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_WX_MSG_DONE_NKEYS];
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_req(r);
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


static ngx_int_t ngx_http_member_outbox_msg_send(ngx_http_request_t *r,
    ngx_str_t *token);


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

    q = ngx_http_member_outbox_req(r);

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

    q = ngx_http_member_outbox_req(r);

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
        return ngx_http_member_outbox_settle(r, 1);
    }

    if (reply->elements < 8) {
        /* "busy": another call of this member is in flight */
        return ngx_http_member_outbox_settle(r, 0);
    }

    for (i = 0; i < 4; i++) {
        if (ngx_http_member_outbox_copy(r, reply->element[1 + i], &q->msg[i])
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

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


static ngx_int_t
ngx_http_member_outbox_messages(ngx_http_request_t *r)
{
    u_char                        *p;
    ngx_str_t                     *member, *arg;
    ngx_uint_t                     i;
    ngx_time_t                    *tp;
    ngx_http_member_loc_conf_t    *mlcf;
    ngx_http_member_outbox_req_t  *q;

    static const char  *suffix[] = { "", ":ledger", ":wx:msgs", ":wx:subs",
                                     ":wx:msglog" };

    q = ngx_http_member_outbox_req(r);

    if (q->messages == NULL) {
        return ngx_http_member_outbox_settle(r, 1);
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


static ngx_int_t
ngx_http_member_outbox_next(ngx_http_request_t *r)
{
    u_char                        *p;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_WX_PEEK_NKEYS];
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_req(r);

    if (q->i >= q->n) {
        p = ngx_pnalloc(r->pool, 80 + 3 * NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_member_send_raw(r, NGX_HTTP_OK, NULL, p,
                   ngx_sprintf(p, "{\"sent\":%ui,\"messages\":%ui,"
                               "\"failed\":%ui,\"more\":%s}", q->sent,
                               q->messages_sent, q->failed,
                               q->n == NGX_HTTP_MEMBER_OUTBOX_SLICE
                               ? "true" : "false")
                   - p);
    }

    q->key.len = sizeof("{m:}") - 1 + q->ids[q->i].len;
    q->key.data = ngx_pnalloc(r->pool, q->key.len + sizeof(":ledger"));
    if (q->key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(q->key.data, "{m:%V}:ledger", &q->ids[q->i]);

    keys[NGX_HTTP_MEMBER_WX_PEEK_KEY_MEMBER] = q->key;
    keys[NGX_HTTP_MEMBER_WX_PEEK_KEY_LEDGER].data = q->key.data;
    keys[NGX_HTTP_MEMBER_WX_PEEK_KEY_LEDGER].len =
                                             q->key.len + sizeof(":ledger") - 1;

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_WX_PEEK,
                                        ngx_http_member_outbox_peeked, keys,
                                        NULL,
                                        0);
}


static ngx_int_t
ngx_http_member_outbox_due(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t                         i;
    uint64_t                       id;
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_req(r);

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    for (i = 0; i + 1 < reply->elements
                && q->n < NGX_HTTP_MEMBER_OUTBOX_SLICE; i += 2)
    {
        if (reply->element[i]->type != REDIS_REPLY_STRING
            || ngx_http_member_parse_id((u_char *) reply->element[i]->str,
                                        reply->element[i]->len, &id)
               != NGX_OK
            || ngx_http_member_outbox_copy(r, reply->element[i],
                                           &q->ids[q->n])
               != NGX_OK
            || ngx_http_member_outbox_copy(r, reply->element[i + 1],
                                           &q->scores[q->n])
               != NGX_OK)
        {
            continue;
        }

        q->n++;
    }

    return ngx_http_member_outbox_next(r);
}


static void
ngx_http_member_outbox_cleanup(void *data)
{
    json_decref(data);
}


static ngx_int_t
ngx_http_member_outbox_rules(ngx_http_request_t *r, json_t *rules)
{
    u_char                        *p;
    json_t                        *messages;
    ngx_str_t                      ninf, now, withscores, limit, zero, count;
    ngx_time_t                    *tp;
    ngx_pool_cleanup_t            *cln;
    ngx_http_member_outbox_req_t  *q;

    static ngx_str_t  zrangebyscore = ngx_string("ZRANGEBYSCORE");

    q = ngx_http_member_outbox_req(r);
    messages = json_object_get(rules, "messages");

    if (messages) {
        /* kept whole while the worker's copy of the rules may change */
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        q->messages = json_incref(messages);
        cln->handler = ngx_http_member_outbox_cleanup;
        cln->data = q->messages;

        /* the channels and templates, one after another */
        ngx_http_member_messages_args(q->messages,
                        &q->margs[NGX_HTTP_MEMBER_WX_MSG_ARGV_BALANCE_CHANNEL]);
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tp = ngx_timeofday();
    now.data = p;
    now.len = ngx_sprintf(p, "%T%03M", tp->sec, tp->msec) - p;

    ngx_str_set(&ninf, "-inf");
    ngx_str_set(&withscores, "WITHSCORES");
    ngx_str_set(&limit, "LIMIT");
    ngx_str_set(&zero, "0");
    ngx_str_set(&count, "10");

    return ngx_http_member_redis_command(r, ngx_http_member_outbox_due, 8,
                                         &zrangebyscore,
                                         &ngx_http_member_wx_key, &ninf, &now,
                                         &withscores, &limit, &zero, &count);
}


static ngx_int_t
ngx_http_member_outbox_run(ngx_http_request_t *r)
{
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_outbox_req_t  *q;

    ctx = ngx_http_member_get_ctx(r);
    q = ngx_pcalloc(r->pool, sizeof(ngx_http_member_outbox_req_t));

    if (ctx == NULL || q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->outbox = q;

    /* the messages the rules configure, for this slice */
    return ngx_http_member_rules_json(r, ngx_http_member_outbox_rules);
}


/*
 * The admin location serves the timer's call: POST outbox/run with the
 * key of the brand whose Redis this location uses (any other caller, and
 * another brand's call, is declined and then meets the admin token check).
 */

ngx_int_t
ngx_http_member_outbox_admin(ngx_http_request_t *r)
{
    ngx_str_t                      route;
    ngx_uint_t                     i;
    ngx_list_part_t               *part;
    ngx_table_elt_t               *h;
    ngx_http_member_outbox_t     **op, *o;
    ngx_http_member_loc_conf_t    *mlcf;
    ngx_http_member_main_conf_t   *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_member_module);
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (mmcf->outboxes == NULL || r->method != NGX_HTTP_POST) {
        return NGX_DECLINED;
    }

    op = mmcf->outboxes->elts;
    o = NULL;

    for (i = 0; i < mmcf->outboxes->nelts; i++) {
        if (op[i]->redis == mlcf->redis) {
            o = op[i];
            break;
        }
    }

    if (o == NULL) {
        return NGX_DECLINED;
    }

    ngx_http_member_route(r, &route);

    if (route.len != 10 || ngx_strncmp(route.data, "outbox/run", 10) != 0) {
        return NGX_DECLINED;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_DECLINED;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == 15
            && ngx_strncasecmp(h[i].key.data, (u_char *) "X-Member-Outbox",
                               15) == 0)
        {
            break;
        }
    }

    if (h[i].value.len != NGX_HTTP_MEMBER_OUTBOX_KEY
        || CRYPTO_memcmp(h[i].value.data, o->key, NGX_HTTP_MEMBER_OUTBOX_KEY)
           != 0)
    {
        return NGX_DECLINED;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member outbox: a slice of \"%V\" db=%ui",
                   &o->redis->name, o->redis->db);

    ngx_http_discard_request_body(r);

    return ngx_http_member_outbox_run(r);
}


/* the job: a loopback call to this nginx while this worker leads */

static void
ngx_http_member_outbox_close(ngx_http_member_outbox_t *o)
{
    if (o->peer.connection) {
        ngx_close_connection(o->peer.connection);
        o->peer.connection = NULL;
    }

    ngx_http_member_job_done(&o->job);
}


static void
ngx_http_member_outbox_read(ngx_event_t *rev)
{
    u_char                     buf[1024];
    size_t                     len;
    ssize_t                    n;
    ngx_msec_t                 next;
    ngx_connection_t          *c;
    ngx_http_member_outbox_t  *o;

    c = rev->data;
    o = c->data;

    if (rev->timedout) {
        ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT,
                      "member: outbox call timed out");
        ngx_http_member_outbox_close(o);
        return;
    }

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_member_outbox_close(o);
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_member_outbox_close(o);
            return;
        }

        if (n == 0) {
            break;
        }

        len = ngx_min((size_t) n, sizeof(o->answer) - o->answer_len);
        o->answer_len += ngx_cpymem(o->answer + o->answer_len, buf, len)
                         - (o->answer + o->answer_len);
    }

    /* the answer is whole: a full slice means more is due at once */
    next = NGX_HTTP_MEMBER_OUTBOX_EVERY;

    if (o->answer_len > 12 && ngx_strncmp(o->answer + 9, "200", 3) == 0
        && ngx_strlcasestrn(o->answer, o->answer + o->answer_len,
                            (u_char *) "\"more\":true", 11 - 1))
    {
        next = NGX_HTTP_MEMBER_OUTBOX_SOON;

    } else if (o->answer_len < 12 || ngx_strncmp(o->answer + 9, "200", 3)) {
        /* a 401: the URL or the Host reached another brand's server */
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "member: outbox call of \"%V\" db=%ui as \"%V\" "
                      "answered \"%*s\"", &o->redis->name, o->redis->db,
                      &o->host, ngx_min(o->answer_len, (size_t) 12),
                      o->answer);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "member outbox: \"%V\" db=%ui answered, next in %M ms",
                   &o->redis->name, o->redis->db, next);

    ngx_http_member_outbox_close(o);
    ngx_http_member_job_again(&o->job, next);
}


static void
ngx_http_member_outbox_write(ngx_event_t *wev)
{
    ssize_t                    n;
    ngx_connection_t          *c;
    ngx_http_member_outbox_t  *o;

    c = wev->data;
    o = c->data;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT,
                      "member: outbox call timed out connecting");
        ngx_http_member_outbox_close(o);
        return;
    }

    if (o->sent == o->request.len) {
        return;
    }

    n = c->send(c, o->request.data + o->sent,
                o->request.len - o->sent);

    if (n == NGX_ERROR) {
        ngx_http_member_outbox_close(o);
        return;
    }

    if (n > 0) {
        o->sent += n;
    }

    if (o->sent < o->request.len) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_member_outbox_close(o);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    ngx_add_timer(c->read, NGX_HTTP_MEMBER_OUTBOX_TIMEOUT);

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_member_outbox_close(o);
    }
}


static void
ngx_http_member_outbox_call(ngx_http_member_job_t *job)
{
    ngx_int_t                  rc;
    ngx_log_t                 *log;
    ngx_connection_t          *c;
    ngx_http_member_outbox_t  *o = job->data;

    log = job->timer.log;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "member outbox: calling for \"%V\" db=%ui as \"%V\"",
                   &o->redis->name, o->redis->db, &o->host);

    ngx_memzero(&o->peer, sizeof(ngx_peer_connection_t));
    o->peer.sockaddr = o->conf->url.addrs[0].sockaddr;
    o->peer.socklen = o->conf->url.addrs[0].socklen;
    o->peer.name = &o->conf->url.addrs[0].name;
    o->peer.get = ngx_event_get_peer;
    o->peer.log = log;
    o->peer.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&o->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_http_member_outbox_close(o);
        return;
    }

    c = o->peer.connection;
    c->data = o;
    c->read->handler = ngx_http_member_outbox_read;
    c->write->handler = ngx_http_member_outbox_write;

    o->sent = 0;
    o->answer_len = 0;

    ngx_add_timer(c->write, NGX_HTTP_MEMBER_OUTBOX_TIMEOUT);

    if (rc == NGX_OK) {
        ngx_http_member_outbox_write(c->write);
    }
}


/* the call's own timeouts are its watchdog */

static const ngx_http_member_job_kind_t  ngx_http_member_outbox_job = {
    "outbox",
    NGX_HTTP_MEMBER_OUTBOX_EVERY,
    0,
    0,
    1,
    ngx_http_member_outbox_call,
    NULL
};


ngx_int_t
ngx_http_member_outbox_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                  i;
    ngx_http_member_outbox_t  **op, *o;

    /* a member's change may need its card or a message sent */
    ngx_http_member_ledger_follow(ngx_http_member_outbox_touch);

    if (mmcf->outboxes == NULL) {
        return NGX_OK;
    }

    op = mmcf->outboxes->elts;

    for (i = 0; i < mmcf->outboxes->nelts; i++) {
        o = op[i];

        if (ngx_http_member_job_add(cycle, &o->job,
                                    &ngx_http_member_outbox_job, o->redis, o)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


void
ngx_http_member_outbox_exit_process(ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                  i;
    ngx_http_member_outbox_t  **op;

    if (mmcf->outboxes == NULL) {
        return;
    }

    op = mmcf->outboxes->elts;

    for (i = 0; i < mmcf->outboxes->nelts; i++) {
        ngx_http_member_outbox_close(op[i]);
    }
}


/*
 * member_wechat_outbox http://127.0.0.1:8080/admin/; at http level (every
 * server block inherits it) or in a server block (its brand only).
 */

char *
ngx_http_member_outbox_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_member_loc_conf_t *mlcf = conf;

    ngx_str_t                      *value;
    ngx_http_member_outbox_conf_t  *oc;

    if (mlcf->outbox != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    oc = ngx_pcalloc(cf->pool, sizeof(ngx_http_member_outbox_conf_t));
    if (oc == NULL) {
        return NGX_CONF_ERROR;
    }

    if (value[1].len < 8 || ngx_strncmp(value[1].data, "http://", 7) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive: "
                           "an http:// URL of the admin location",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    oc->url.url.data = value[1].data + 7;
    oc->url.url.len = value[1].len - 7;
    oc->url.default_port = 80;
    oc->url.uri_part = 1;
    oc->url.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &oc->url) != NGX_OK || oc->url.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive: %s",
                           &value[1], &cmd->name,
                           oc->url.err ? oc->url.err : "a numeric address "
                                                      "is needed");
        return NGX_CONF_ERROR;
    }

    mlcf->outbox = oc;

    return NGX_CONF_OK;
}


/*
 * The Host of a brand's call: its server's first name, so that brands
 * sharing the URL's port are told apart; "localhost" (the port's default
 * server) for a server without a plain name ("", "_", a regex, *.name).
 */

static void
ngx_http_member_outbox_host(ngx_str_t *name, ngx_str_t *host)
{
    u_char      c;
    ngx_uint_t  i;

    ngx_str_set(host, "localhost");

    if (name->len == 0 || name->len > 253 || name->data[0] == '.') {
        return;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '.'))
        {
            return;
        }
    }

    *host = *name;
}


static ngx_http_member_outbox_t *
ngx_http_member_outbox_brand(ngx_conf_t *cf,
    ngx_http_member_outbox_conf_t *oc, ngx_http_member_redis_t *redis,
    ngx_str_t *server_name)
{
    u_char                    *p, rnd[NGX_HTTP_MEMBER_OUTBOX_KEY / 2];
    ngx_http_member_outbox_t  *o;

    o = ngx_pcalloc(cf->pool, sizeof(ngx_http_member_outbox_t));
    if (o == NULL) {
        return NULL;
    }

    o->conf = oc;
    o->redis = redis;
    ngx_http_member_outbox_host(server_name, &o->host);

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NULL;
    }

    ngx_hex_dump(o->key, rnd, sizeof(rnd));

    o->request.len = sizeof("POST /outbox/run HTTP/1.0" CRLF
                            "Host: " CRLF
                            "X-Member-Outbox: " CRLF
                            "Content-Length: 0" CRLF CRLF)
                     + oc->url.uri.len + o->host.len
                     + NGX_HTTP_MEMBER_OUTBOX_KEY;
    o->request.data = ngx_pnalloc(cf->pool, o->request.len);
    if (o->request.data == NULL) {
        return NULL;
    }

    p = ngx_sprintf(o->request.data,
                    "POST %V%soutbox/run HTTP/1.0" CRLF
                    "Host: %V" CRLF
                    "X-Member-Outbox: %*s" CRLF
                    "Content-Length: 0" CRLF CRLF,
                    &oc->url.uri,
                    (oc->url.uri.len
                     && oc->url.uri.data[oc->url.uri.len - 1] == '/')
                    ? "" : "/",
                    &o->host,
                    (size_t) NGX_HTTP_MEMBER_OUTBOX_KEY, o->key);
    o->request.len = p - o->request.data;

    return o;
}


/*
 * After the merge: an outbox for every brand, i.e. every Redis of a server
 * block that has (or inherits) member_wechat_outbox.  Server blocks on one
 * Redis are one brand with one timer (the first block's name); two URLs
 * for one Redis would run its outbox twice and are refused.
 */

ngx_int_t
ngx_http_member_outbox_init(ngx_conf_t *cf, ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                   s, i;
    ngx_http_core_srv_conf_t   **cscfp;
    ngx_http_core_main_conf_t   *cmcf;
    ngx_http_member_outbox_t   **op, *o;
    ngx_http_member_loc_conf_t  *mlcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    cscfp = cmcf->servers.elts;

    for (s = 0; s < cmcf->servers.nelts; s++) {
        mlcf = cscfp[s]->ctx->loc_conf[ngx_http_member_module.ctx_index];

        if (mlcf->outbox == NULL || mlcf->redis == NULL) {
            continue;
        }

        if (mmcf->outboxes == NULL) {
            mmcf->outboxes = ngx_array_create(cf->pool, 2,
                                          sizeof(ngx_http_member_outbox_t *));
            if (mmcf->outboxes == NULL) {
                return NGX_ERROR;
            }
        }

        op = mmcf->outboxes->elts;

        for (i = 0; i < mmcf->outboxes->nelts; i++) {
            if (op[i]->redis == mlcf->redis) {
                break;
            }
        }

        if (i < mmcf->outboxes->nelts) {
            if (op[i]->conf == mlcf->outbox) {
                continue;
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"member_wechat_outbox\" is duplicate for "
                               "\"member_redis %V\" db=%ui (server \"%V\"):"
                               " one brand, one outbox",
                               &mlcf->redis->name, mlcf->redis->db,
                               &cscfp[s]->server_name);
            return NGX_ERROR;
        }

        o = ngx_http_member_outbox_brand(cf, mlcf->outbox, mlcf->redis,
                                         &cscfp[s]->server_name);
        if (o == NULL) {
            return NGX_ERROR;
        }

        op = ngx_array_push(mmcf->outboxes);
        if (op == NULL) {
            return NGX_ERROR;
        }

        *op = o;
    }

    return NGX_OK;
}
