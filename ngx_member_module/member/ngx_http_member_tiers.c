
/*
 * ngx_member: GET tiers (member_api), for the card page: the brand's tiers
 * and what each gives, the member's tier and its spend in the current tier
 * period, so that the page can show the progress to the next tier.  The
 * rules are the worker's copy (ngx_http_member_ledger.c); the member's
 * numbers are one HMGET.
 */


#include "ngx_member_member.h"


struct ngx_http_member_tiers_s {
    ngx_str_t                   level;
    int64_t                     spend;
};


static ngx_int_t ngx_http_member_tiers_member(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_tiers_answer(ngx_http_request_t *r,
    json_t *rules);


static ngx_str_t  ngx_http_member_tiers_hmget = ngx_string("HMGET");
static ngx_str_t  ngx_http_member_tiers_level = ngx_string("level");
static ngx_str_t  ngx_http_member_tiers_spend = ngx_string("period_spend_fen");

/* what a tier of the rules shows to its members */
static const char  *ngx_http_member_tiers_fields[] = {
    "level", "name", "min_spend_fen", "discount_pct", "points_pct", NULL
};


ngx_int_t
ngx_http_member_tiers(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    if (pg->status.len == 0
        || (pg->status.len == 7
            && (ngx_strncmp(pg->status.data, "visitor", 7) == 0
                || ngx_strncmp(pg->status.data, "deleted", 7) == 0)))
    {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no card yet: claim or register first");
    }

    return ngx_http_member_redis_command(r, ngx_http_member_tiers_member,
                                         &ngx_http_member_tiers_hmget,
                                         &pg->member_key,
                                         &ngx_http_member_tiers_level,
                                         &ngx_http_member_tiers_spend);
}


static ngx_int_t
ngx_http_member_tiers_member(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    redisReply               *e;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_page_t   *pg;
    ngx_http_member_tiers_t  *ti;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ti = ngx_pcalloc(r->pool, sizeof(ngx_http_member_tiers_t));
    if (ti == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pg->tiers = ti;

    e = reply->element[0];

    if (e->type == REDIS_REPLY_STRING) {
        ti->level.data = ngx_pnalloc(r->pool, e->len);
        if (ti->level.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ti->level.len = e->len;
        ngx_memcpy(ti->level.data, e->str, e->len);
    }

    e = reply->element[1];

    if (e->type == REDIS_REPLY_STRING) {
        ti->spend = strtoll(e->str, NULL, 10);
    }

    return ngx_http_member_rules_json(r, ngx_http_member_tiers_answer);
}


/*
 * {"level", "period_spend_fen", "tier_period_months",
 *  "tiers": [{"level","name","min_spend_fen","discount_pct","points_pct"}]}
 */

static ngx_int_t
ngx_http_member_tiers_answer(ngx_http_request_t *r, json_t *rules)
{
    size_t                    i;
    json_t                   *answer, *tiers, *tier, *out, *v;
    const char              **f;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_page_t   *pg;
    ngx_http_member_tiers_t  *ti;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;
    ti = pg->tiers;

    answer = json_object();
    out = json_array();

    if (answer == NULL || out == NULL) {
        json_decref(answer);
        json_decref(out);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(answer, "level",
                        json_stringn((char *) ti->level.data, ti->level.len));
    json_object_set_new(answer, "period_spend_fen",
                        json_integer(ti->spend < 0 ? 0 : ti->spend));

    v = json_object_get(rules, "tier_period_months");
    if (json_is_integer(v)) {
        json_object_set(answer, "tier_period_months", v);
    }

    tiers = json_object_get(rules, "tiers");

    json_array_foreach(tiers, i, tier) {
        v = json_object();
        if (v == NULL || json_array_append_new(out, v) != 0) {
            json_decref(answer);
            json_decref(out);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        for (f = ngx_http_member_tiers_fields; *f; f++) {
            if (json_object_get(tier, *f)) {
                json_object_set(v, *f, json_object_get(tier, *f));
            }
        }
    }

    json_object_set_new(answer, "tiers", out);

    return ngx_http_member_send_json(r, NGX_HTTP_OK, answer);
}
