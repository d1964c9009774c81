
/*
 * ngx_member: WeChat template and subscribe messages (docs/outbox.md).
 *
 * The rules' "messages" section says, per kind (balance, points_expiring,
 * birthday), the channel, the template and which of the message's fields
 * fills which of the template's data keys; a kind left out sends nothing.
 * The member tells which subscribe templates it accepted (POST
 * subscriptions, ngx_http_member_subscriptions.c); the outbox
 * (ngx_http_member_outbox.c) sends, with the body made here.
 *
 *   admin:  GET members/<id>/messages   what became of the last ~100
 */


#include "ngx_member_ledger.h"




static ngx_int_t ngx_http_member_messages_logged(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static json_t *ngx_http_member_messages_entry(redisReply *entry);


static const char  *ngx_http_member_msg_kinds[] = {
    "balance", "points_expiring", "birthday", NULL
};


/*
 * A template id: 1 to max of [A-Za-z0-9_.:-].  The rules' "messages"
 * section is checked by rules/mrl_messages.c.
 */

ngx_int_t
ngx_http_member_messages_template_id(json_t *v, size_t max)
{
    size_t       i, len;
    const char  *s;

    if (!json_is_string(v)) {
        return NGX_ERROR;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    if (len == 0 || len > max) {
        return NGX_ERROR;
    }

    for (i = 0; i < len; i++) {
        if (!ngx_http_member_id_char((u_char) s[i])) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* seconds before a lot's expiry its notice is due; 0: off */

time_t
ngx_http_member_messages_notice(json_t *rules)
{
    json_t  *v;

    v = json_object_get(json_object_get(rules, "messages"),
                        "points_expiring");

    return v ? (time_t) json_integer_value(json_object_get(v, "days"))
               * 86400 : 0;
}


/* wx_msg.lua's ARGV 5..10: channel and template id of each kind */

void
ngx_http_member_messages_args(json_t *messages, ngx_str_t *args)
{
    json_t      *v;
    ngx_uint_t   i;

    for (i = 0; ngx_http_member_msg_kinds[i]; i++) {
        v = json_object_get(messages, ngx_http_member_msg_kinds[i]);

        args[2 * i].data = (u_char *) json_string_value(
                                          json_object_get(v, "channel"));
        args[2 * i + 1].data = (u_char *) json_string_value(
                                          json_object_get(v, "template_id"));

        if (args[2 * i].data == NULL || args[2 * i + 1].data == NULL) {
            ngx_str_set(&args[2 * i], "");
            ngx_str_set(&args[2 * i + 1], "");
            continue;
        }

        args[2 * i].len = ngx_strlen(args[2 * i].data);
        args[2 * i + 1].len = ngx_strlen(args[2 * i + 1].data);
    }
}


/* the message's fields as the template shows them */

static const char *
ngx_http_member_msg_str(redisReply *reply, const char *name)
{
    size_t  i, len;

    len = ngx_strlen(name);

    for (i = 8; i + 1 < reply->elements; i += 2) {
        if (reply->element[i]->len == len
            && ngx_strncmp(reply->element[i]->str, name, len) == 0)
        {
            return reply->element[i + 1]->str;
        }
    }

    return "0";
}


static int64_t
ngx_http_member_msg_int(redisReply *reply, const char *name)
{
    return strtoll(ngx_http_member_msg_str(reply, name), NULL, 10);
}


static json_t *
ngx_http_member_msg_value(redisReply *reply, const char *name)
{
    u_char      buf[64], *p;
    int64_t     n;
    mrl_tm_t    tm;
    const char  *type;

    if (name[0] == '=') {
        return json_string(name + 1);
    }

    p = buf;

    if (ngx_strcmp(name, "amount") == 0 || ngx_strcmp(name, "balance") == 0
        || ngx_strcmp(name, "change") == 0)
    {
        n = ngx_http_member_msg_int(reply, name[0] == 'b' ? "balance_fen"
                                                         : "amount_fen");
        if (name[0] == 'c') {
            *p++ = n < 0 ? '-' : '+';
        }

        n = n < 0 ? -n : n;
        p = ngx_sprintf(p, "%L.%02L", n / 100, n % 100);

        if (name[0] != 'c') {
            p = ngx_cpymem(p, "\xe5\x85\x83", 3);       /* 元 */
        }

    } else if (ngx_strcmp(name, "type") == 0) {
        type = ngx_http_member_msg_str(reply, "type");

        if (ngx_strcmp(type, "recharge") == 0) {
            type = "\xe5\x85\x85\xe5\x80\xbc";          /* 充值 */

        } else if (ngx_strcmp(type, "refund") == 0) {
            type = "\xe9\x80\x80\xe6\xac\xbe";          /* 退款 */

        } else {
            type = "\xe6\xb6\x88\xe8\xb4\xb9";          /* 消费 */
        }

        p = ngx_cpymem(p, type, 6);

    } else if (ngx_strcmp(name, "points") == 0) {
        p = ngx_sprintf(p, "%L", ngx_http_member_msg_int(reply, "points"));

    } else if (ngx_strcmp(name, "gift_points") == 0) {
        p = ngx_sprintf(p, "%L", ngx_http_member_msg_int(reply,
                                                         "points_delta"));

    } else if (ngx_strcmp(name, "expiring_points") == 0) {
        p = ngx_sprintf(p, "%L", ngx_http_member_msg_int(reply,
                                                         "expiring_points"));

    } else if (ngx_strcmp(name, "card_no") == 0) {
        return json_stringn(reply->element[6]->str, reply->element[6]->len);

    } else {
        /* date: the entry's time; expire_date: the lot's last day */
        n = ngx_strcmp(name, "date") == 0
            ? ngx_http_member_msg_int(reply, "ts")
            : ngx_http_member_msg_int(reply, "expire_at") - 1;

        if (mrl_utc_tm(n + MRL_TZ, &tm) != MRL_OK) {
            ngx_memzero(&tm, sizeof(mrl_tm_t));
        }

        /* 2026年11月27日 15:04: what both channels' date keys take */
        p = ngx_sprintf(p, "%d\xe5\xb9\xb4%d\xe6\x9c\x88%d\xe6\x97\xa5",
                        tm.year, tm.mon, tm.mday);

        if (name[0] == 'd') {
            p = ngx_sprintf(p, " %02d:%02d", tm.hour, tm.min);
        }
    }

    return json_stringn((char *) buf, p - buf);
}


/*
 * The call for wx_msg.lua's "send" answer: {"send", msg id, kind, channel,
 * template id, openid, card_no, points, field/value pairs...}.
 */

ngx_int_t
ngx_http_member_messages_body(ngx_http_request_t *r, json_t *messages,
    redisReply *reply, ngx_str_t *path, ngx_str_t *body)
{
    char        *s;
    json_t      *out, *data, *conf, *v;
    ngx_int_t    rc;
    const char  *key;

    conf = json_object_get(messages, reply->element[2]->str);

    if (conf == NULL) {
        return NGX_DECLINED;
    }

    if (reply->element[3]->str[0] == 's') {
        ngx_str_set(path, "cgi-bin/message/subscribe/send");

    } else {
        ngx_str_set(path, "cgi-bin/message/template/send");
    }

    out = json_pack("{s:s%,s:s%}", "touser", reply->element[5]->str,
                    (size_t) reply->element[5]->len, "template_id",
                    reply->element[4]->str, (size_t) reply->element[4]->len);
    data = json_object();

    if (out == NULL || data == NULL) {
        json_decref(out);
        json_decref(data);
        return NGX_ERROR;
    }

    json_object_set_new(out, "data", data);

    v = json_object_get(conf, reply->element[3]->str[0] == 's' ? "page"
                                                               : "url");
    if (v) {
        json_object_set(out, reply->element[3]->str[0] == 's' ? "page"
                                                              : "url", v);
    }

    json_object_foreach(json_object_get(conf, "data"), key, v) {
        json_object_set_new(data, key,
            json_pack("{s:o}", "value",
                      ngx_http_member_msg_value(reply,
                                                json_string_value(v))));
    }

    s = json_dumps(out, JSON_COMPACT);
    json_decref(out);

    rc = NGX_ERROR;

    if (s) {
        body->len = ngx_strlen(s);
        body->data = ngx_pnalloc(r->pool, body->len);

        if (body->data) {
            ngx_memcpy(body->data, s, body->len);
            rc = NGX_OK;
        }

        free(s);
    }

    return rc;
}


/* only the rules' subscribe templates count; the others are ignored */

ngx_uint_t
ngx_http_member_messages_subscribable(json_t *messages, const char *tid)
{
    json_t      *conf;
    ngx_uint_t   k;
    const char  *channel, *id;

    for (k = 0; ngx_http_member_msg_kinds[k]; k++) {
        conf = json_object_get(messages, ngx_http_member_msg_kinds[k]);
        channel = json_string_value(json_object_get(conf, "channel"));
        id = json_string_value(json_object_get(conf, "template_id"));

        if (channel && id && ngx_strcmp(channel, "subscribe") == 0
            && ngx_strcmp(id, tid) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* admin: a member's message log, newest first (wx_msg*.lua write it) */

ngx_int_t
ngx_http_member_messages_log(ngx_http_request_t *r, uint64_t id)
{
    ngx_str_t                member, log;
    ngx_http_member_argv_t   cmds[2];

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_member_method_not_allowed(r);
    }

    if (ngx_http_member_key(r->pool, &member, id, "") != NGX_OK
        || ngx_http_member_key(r->pool, &log, id, ":wx:msglog") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cmds[0] = (ngx_http_member_argv_t) {
                  ngx_http_member_args(ngx_string("EXISTS"), member) };
    cmds[1] = (ngx_http_member_argv_t) {
                  ngx_http_member_args(ngx_string("XREVRANGE"), log,
                                       ngx_string("+"), ngx_string("-"),
                                       ngx_string("COUNT"), ngx_string("100"))
              };

    return ngx_http_member_redis_pipeline(r, ngx_http_member_messages_logged,
                                          ngx_http_member_nelts(cmds), cmds);
}


static ngx_int_t
ngx_http_member_messages_logged(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t       i;
    json_t      *items, *item;
    redisReply  *found, *log;

    found = reply->element[0];
    log = reply->element[1];

    if (found->type != REDIS_REPLY_INTEGER || log->type != REDIS_REPLY_ARRAY)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    if (found->integer == 0) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such member");
    }

    items = json_array();
    if (items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < log->elements; i++) {
        item = ngx_http_member_messages_entry(log->element[i]);

        if (item == NULL || json_array_append_new(items, item) != 0) {
            json_decref(items);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK,
                                     json_pack("{s:o}", "items", items));
}


/* [id, [field, value, ...]] -> {"id": ..., field: value, ...} */

static json_t *
ngx_http_member_messages_entry(redisReply *entry)
{
    char        *end;
    size_t       i;
    json_t      *item, *v;
    long long    n;
    redisReply  *f, *k, *val;

    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2
        || entry->element[0]->type != REDIS_REPLY_STRING
        || entry->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return NULL;
    }

    item = json_pack("{s:s%}", "id", entry->element[0]->str,
                     entry->element[0]->len);
    if (item == NULL) {
        return NULL;
    }

    f = entry->element[1];

    for (i = 0; i + 1 < f->elements; i += 2) {
        k = f->element[i];
        val = f->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING
            || k->len == 0)
        {
            continue;
        }

        if (val->len == 0) {
            continue;
        }

        /* numbers stay numbers: the time, WeChat's errcode (-1 too) */
        v = NULL;

        if (ngx_strcmp(k->str, "ts") == 0
            || ngx_strcmp(k->str, "errcode") == 0)
        {
            n = strtoll(val->str, &end, 10);

            if (end == val->str + val->len) {
                v = json_integer(n);
            }
        }

        if (v == NULL) {
            v = json_stringn(val->str, val->len);
        }

        if (v == NULL || json_object_set_new(item, k->str, v) != 0) {
            json_decref(item);
            return NULL;
        }
    }

    return item;
}
