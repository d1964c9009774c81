
/*
 * ngx_member: the subscribe messages a member accepted (member pages).
 *
 *   GET subscriptions, POST subscriptions {"template_ids": [...]}
 *
 * Only the rules' subscribe templates count (ngx_http_member_messages.c);
 * a card is needed, as WeChat sends to a card's openid.
 */


#include "ngx_member_member.h"


#define NGX_HTTP_MEMBER_MSG_SUBS      10        /* template ids a call */
#define NGX_HTTP_MEMBER_MSG_SUB_MOST  "100"     /* kept per template */


static ngx_int_t ngx_http_member_subscriptions_rules(ngx_http_request_t *r,
    json_t *rules);
static ngx_int_t ngx_http_member_subscriptions_answer(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);


/* GET subscriptions, POST subscriptions {"template_ids": [...]} */

ngx_int_t
ngx_http_member_subscriptions(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    size_t                   i, j;
    json_t                  *ids, *v;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    if (!(pg->status.len == 6
          && ngx_strncmp(pg->status.data, "active", 6) == 0))
    {
        return ngx_http_member_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                     "subscriptions are for members with "
                                     "a card");
    }

    if (r->method == NGX_HTTP_POST) {
        ids = json_object_get(ctx->json, "template_ids");

        if (!json_is_array(ids) || json_array_size(ids) == 0
            || json_array_size(ids) > NGX_HTTP_MEMBER_MSG_SUBS)
        {
            return ngx_http_member_bad_field(r, "template_ids");
        }

        json_array_foreach(ids, i, v) {
            if (ngx_http_member_messages_template_id(v, 64) != NGX_OK) {
                return ngx_http_member_bad_field(r, "template_ids");
            }

            for (j = 0; j < i; j++) {
                if (json_equal(v, json_array_get(ids, j))) {
                    return ngx_http_member_bad_field(r, "template_ids");
                }
            }
        }
    }

    return ngx_http_member_rules_json(r,
                                      ngx_http_member_subscriptions_rules);
}


static ngx_int_t
ngx_http_member_subscriptions_rules(ngx_http_request_t *r, json_t *rules)
{
    size_t                   i, n;
    json_t                  *ids, *v, *ignored;
    ngx_str_t                keys[NGX_HTTP_MEMBER_WX_SUBS_NKEYS], *args;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    args = ngx_pcalloc(r->pool, (1 + NGX_HTTP_MEMBER_MSG_SUBS)
                                * sizeof(ngx_str_t));

    if (args == NULL
        || ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_WX_SUBS_KEY_SUBS],
                               pg->id, ":wx:subs")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    keys[NGX_HTTP_MEMBER_WX_SUBS_KEY_MEMBER] = pg->member_key;
    ngx_str_set(&args[NGX_HTTP_MEMBER_WX_SUBS_ARGV_MOST],
                NGX_HTTP_MEMBER_MSG_SUB_MOST);
    n = NGX_HTTP_MEMBER_WX_SUBS_NARGV;

    if (r->method == NGX_HTTP_POST) {
        /* the answer's "ignored", freed with the body's JSON */
        ignored = json_array();
        if (ignored == NULL
            || json_object_set_new(ctx->json, "ignored", ignored) != 0)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ids = json_object_get(ctx->json, "template_ids");

        json_array_foreach(ids, i, v) {
            if (!ngx_http_member_messages_subscribable(
                     json_object_get(rules, "messages"),
                     json_string_value(v)))
            {
                json_array_append(ignored, v);
                continue;
            }

            args[n].data = (u_char *) json_string_value(v);
            args[n].len = json_string_length(v);
            n++;
        }
    }

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_WX_SUBS,
                                        ngx_http_member_subscriptions_answer,
                                        keys, args,
                                        n - NGX_HTTP_MEMBER_WX_SUBS_NARGV);
}


static ngx_int_t
ngx_http_member_subscriptions_answer(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t                  i;
    json_t                 *out, *subs, *ignored;
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (ngx_http_member_redis_is_error(reply, "NOCARD")) {
        return ngx_http_member_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                     "subscriptions are for members with "
                                     "a card");
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    subs = json_object();
    out = json_pack("{s:o}", "subscriptions", subs);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i + 1 < reply->elements; i += 2) {
        if (reply->element[i]->type == REDIS_REPLY_STRING
            && reply->element[i + 1]->type == REDIS_REPLY_STRING)
        {
            json_object_set_new(subs, reply->element[i]->str,
                json_integer(strtoll(reply->element[i + 1]->str, NULL, 10)));
        }
    }

    ignored = json_object_get(ctx->json, "ignored");

    if (ignored) {
        json_object_set(out, "ignored", ignored);
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK, out);
}
