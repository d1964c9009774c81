
/*
 * ngx_member: a slice of the WeChat outbox (docs/outbox.md), the request
 * POST outbox/run that the job's loopback call makes
 * (ngx_http_member_outbox.c): up to 10 due members of the queue that the
 * hint fills, {b:wx:0..15} and the {b}:wx of before, each one's card
 * brought in step with its ledger (card/membercard/updateuser, or activate once WeChat's form registered
 * it: ngx_http_member_form.c) unless WeChat has its last entry, then its
 * messages (ngx_http_member_outbox_msg.c); a refusal settles the member
 * back into the queue with a doubling backoff.
 */


#include "ngx_member_wechat.h"


#define NGX_HTTP_MEMBER_OUTBOX_BACKOFF  "500"       /* ms, doubles */
#define NGX_HTTP_MEMBER_OUTBOX_LONGEST  "300000"    /* ms */


static ngx_int_t ngx_http_member_outbox_next(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_outbox_send(ngx_http_request_t *r,
    ngx_str_t *token);


/* the first source of a slice, moving on: no bucket waits on another */
static ngx_uint_t  ngx_http_member_outbox_start;


/* the hint: the member's card may be behind its ledger */

void
ngx_http_member_outbox_touch(ngx_http_member_redis_t *redis, uint64_t id)
{
    u_char       sc[NGX_INT64_LEN], mb[NGX_INT64_LEN];
    u_char       kb[NGX_HTTP_MEMBER_BUCKET_KEY_LEN];
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
                            ngx_http_member_bucket_of(kb,
                                NGX_HTTP_MEMBER_BUCKET_WX, id),
                            score, member));
}


/* POST outbox/run: one slice */

ngx_http_member_outbox_req_t *
ngx_http_member_outbox_card_req(ngx_http_request_t *r)
{
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    return ctx->outbox;
}


ngx_int_t
ngx_http_member_outbox_card_copy(ngx_http_request_t *r, redisReply *e,
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

    q = ngx_http_member_outbox_card_req(r);

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member outbox: member %V settled", &q->ids[q->i]);

    q->i++;
    q->formed = 0;

    return ngx_http_member_outbox_next(r);
}


ngx_int_t
ngx_http_member_outbox_card_settle(ngx_http_request_t *r, ngx_uint_t done)
{
    u_char                        *p, *k;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_WX_SETTLE_NKEYS], *args;
    ngx_time_t                    *tp;
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_card_req(r);

    args = ngx_pcalloc(r->pool, 6 * sizeof(ngx_str_t));
    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    k = ngx_pnalloc(r->pool, 2 * NGX_HTTP_MEMBER_BUCKET_KEY_LEN);
    if (args == NULL || p == NULL || k == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tp = ngx_timeofday();

    /* the source the member came from: its bucket, or the key of before */
    keys[NGX_HTTP_MEMBER_WX_SETTLE_KEY_WX] =
        ngx_http_member_bucket_key(k, NGX_HTTP_MEMBER_BUCKET_WX,
                                   q->sources[q->i]);
    keys[NGX_HTTP_MEMBER_WX_SETTLE_KEY_TRIES] =
        ngx_http_member_bucket_key(k + NGX_HTTP_MEMBER_BUCKET_KEY_LEN,
                                   NGX_HTTP_MEMBER_BUCKET_WX_TRIES,
                                   q->sources[q->i]);
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

    return ngx_http_member_outbox_msg_next(r);
}


static ngx_int_t
ngx_http_member_outbox_failed(ngx_http_request_t *r)
{
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_card_req(r);
    q->failed++;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "member: wechat card of member %V not updated "
                  "(errcode %i), retried later", &q->ids[q->i], q->errcode);

    return ngx_http_member_outbox_card_settle(r, 0);
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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member outbox: member %V: card call answered, errcode %i",
                   &q->ids[q->i], q->errcode);

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

    q = ngx_http_member_outbox_card_req(r);

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

    q = ngx_http_member_outbox_card_req(r);

    if (rc == NGX_AGAIN) {
        q->failed++;
        return ngx_http_member_outbox_card_settle(r, 0);
    }

    if (rc == NGX_OK
        && ngx_http_member_parse_id(q->ids[q->i].data, q->ids[q->i].len, &id)
           == NGX_OK
        && id == target)
    {
        return ngx_http_member_outbox_next(r);
    }

    return ngx_http_member_outbox_card_settle(r, 1);
}


static ngx_int_t
ngx_http_member_outbox_peeked(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    uint64_t                       id;
    ngx_uint_t                     i;
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_card_req(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 9) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    for (i = 0; i < 9; i++) {
        if (ngx_http_member_outbox_card_copy(r, reply->element[i], &q->field[i])
            != NGX_OK)
        {
            return ngx_http_member_reply_script_error(r, reply);
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member outbox: member %V: card \"%V\"", &q->ids[q->i],
                   &q->field[0]);

    if (q->field[0].len == 4
        && ngx_strncmp(q->field[0].data, "none", 4) == 0)
    {
        /* "none": the card lacks nothing; the messages may */
        return ngx_http_member_outbox_msg_next(r);
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
            return ngx_http_member_outbox_card_settle(r, 1);
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
        return ngx_http_member_outbox_msg_next(r);
    }

    return ngx_http_member_wechat_secret(r, NGX_HTTP_MEMBER_WX_TOKEN, 0,
                                         ngx_http_member_outbox_send);
}


static ngx_int_t
ngx_http_member_outbox_next(ngx_http_request_t *r)
{
    u_char                        *p;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_WX_PEEK_NKEYS];
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_card_req(r);

    if (q->i >= q->n) {
        p = ngx_pnalloc(r->pool, 80 + 3 * NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_member_send_raw(r, NGX_HTTP_OK, NULL, p,
                   ngx_sprintf(p, "{\"sent\":%ui,\"messages\":%ui,"
                               "\"failed\":%ui,\"more\":%s}", q->sent,
                               q->messages_sent, q->failed,
                               q->more ? "true" : "false")
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


/*
 * The members due in every source, a ZRANGEBYSCORE each: taken in turns,
 * the first of each source, then the second, ... from a source that moves
 * on each slice, so that no bucket waits behind another.  A member hinted
 * in two sources (its bucket and the key of before) is looked at once.
 */

static ngx_int_t
ngx_http_member_outbox_due(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t                         k, i;
    uint64_t                       id;
    ngx_uint_t                     s, source, j;
    redisReply                    *due, *e;
    ngx_http_member_outbox_req_t  *q;

    q = ngx_http_member_outbox_card_req(r);

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements != NGX_HTTP_MEMBER_SOURCES)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    for (s = 0; s < NGX_HTTP_MEMBER_SOURCES; s++) {
        if (reply->element[s]->type != REDIS_REPLY_ARRAY) {
            return ngx_http_member_reply_script_error(r, reply->element[s]);
        }
    }

    for (k = 0; k < 2 * NGX_HTTP_MEMBER_OUTBOX_SLICE; k += 2) {
        for (s = 0; s < NGX_HTTP_MEMBER_SOURCES; s++) {
            source = (ngx_http_member_outbox_start + s)
                     % NGX_HTTP_MEMBER_SOURCES;
            due = reply->element[source];

            if (k + 1 >= due->elements) {
                continue;
            }

            if (q->n == NGX_HTTP_MEMBER_OUTBOX_SLICE) {
                q->more = 1;
                goto taken;
            }

            e = due->element[k];

            if (e->type != REDIS_REPLY_STRING
                || ngx_http_member_parse_id((u_char *) e->str, e->len, &id)
                   != NGX_OK)
            {
                continue;
            }

            for (j = 0; j < q->n; j++) {
                if (q->ids[j].len == e->len
                    && ngx_strncmp(q->ids[j].data, e->str, e->len) == 0)
                {
                    break;
                }
            }

            if (j < q->n
                || ngx_http_member_outbox_card_copy(r, e, &q->ids[q->n])
                   != NGX_OK
                || ngx_http_member_outbox_card_copy(r, due->element[k + 1],
                                                    &q->scores[q->n])
                   != NGX_OK)
            {
                continue;
            }

            q->sources[q->n++] = source;
        }
    }

    /* a source that gave a whole slice may hold more */
    for (i = 0; i < NGX_HTTP_MEMBER_SOURCES; i++) {
        if (reply->element[i]->elements >= 2 * NGX_HTTP_MEMBER_OUTBOX_SLICE) {
            q->more = 1;
        }
    }

taken:

    ngx_http_member_outbox_start = (ngx_http_member_outbox_start + 1)
                                   % NGX_HTTP_MEMBER_SOURCES;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member outbox: %ui members due", q->n);

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
    ngx_str_t                      now, *a, *b;
    ngx_uint_t                     i;
    ngx_time_t                    *tp;
    ngx_pool_cleanup_t            *cln;
    ngx_http_member_argv_t        *cmds;
    ngx_http_member_outbox_req_t  *q;

    static const char  ngx_http_member_outbox_slice[] =
                ngx_http_member_literal(NGX_HTTP_MEMBER_OUTBOX_SLICE);

    q = ngx_http_member_outbox_card_req(r);
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

    cmds = ngx_palloc(r->pool, NGX_HTTP_MEMBER_SOURCES
                               * sizeof(ngx_http_member_argv_t));
    a = ngx_palloc(r->pool, 8 * NGX_HTTP_MEMBER_SOURCES * sizeof(ngx_str_t));
    p = ngx_pnalloc(r->pool, NGX_INT64_LEN
                             + NGX_HTTP_MEMBER_SOURCES
                               * NGX_HTTP_MEMBER_BUCKET_KEY_LEN);
    if (cmds == NULL || a == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tp = ngx_timeofday();
    now.data = p;
    now.len = ngx_sprintf(p, "%T%03M", tp->sec, tp->msec) - p;
    p += now.len;

    /* ZRANGEBYSCORE <source> -inf <now> WITHSCORES LIMIT 0 10, each */
    for (i = 0; i < NGX_HTTP_MEMBER_SOURCES; i++) {
        b = &a[8 * i];

        ngx_str_set(&b[0], "ZRANGEBYSCORE");
        b[1] = ngx_http_member_bucket_key(p, NGX_HTTP_MEMBER_BUCKET_WX, i);
        p += NGX_HTTP_MEMBER_BUCKET_KEY_LEN;
        ngx_str_set(&b[2], "-inf");
        b[3] = now;
        ngx_str_set(&b[4], "WITHSCORES");
        ngx_str_set(&b[5], "LIMIT");
        ngx_str_set(&b[6], "0");
        b[7].data = (u_char *) ngx_http_member_outbox_slice;
        b[7].len = sizeof(ngx_http_member_outbox_slice) - 1;

        cmds[i].argc = 8;
        cmds[i].argv = b;
    }

    return ngx_http_member_redis_pipeline(r, ngx_http_member_outbox_due,
                                          NGX_HTTP_MEMBER_SOURCES, cmds);
}


ngx_int_t
ngx_http_member_outbox_card_run(ngx_http_request_t *r)
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
