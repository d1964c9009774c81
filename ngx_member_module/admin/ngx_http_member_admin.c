
/*
 * ngx_member: the brand's admin API (member_admin).
 *
 *   POST members                    a member, or a visitor made a member
 *   GET  members?card_no=           the one member found that way
 *   POST members/lookup {"phone"|"openid"}
 *                                   ... and by phone, through its index,
 *                                   or openid (never in a URL: 400 for
 *                                   GET members?openid=)
 *   GET  members/<id>               the member's record
 *   POST members/<id>/recharge      stored value, idempotent
 *   GET  members/<id>/transactions  the ledger, newest first, filtered
 *   GET  members/<id>/messages      WeChat messages: what became of them
 *   GET  members/<id>/coupons, coupons/...   ngx_http_member_coupons.c
 *   PUT  members/<id>/level, POST .../points, .../recharge/refund: ledger.c
 *   POST stores, GET stores         ngx_http_member_stores.c
 *   the record each role sees       ngx_http_member_admin_record.c
 *   who may do what                 ngx_http_member_admin_auth.c
 *   keys                            ngx_http_member_admin_keys.c
 *   audit                           ngx_http_member_audit.c
 *   feedback                        ngx_http_member_admin_feedback.c
 *
 * Every route is a row of ngx_http_member_admin_routes below, with its
 * grant and its audit.
 */


#include "ngx_member_admin.h"


static ngx_int_t ngx_http_member_admin_lookup(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_admin_new(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_admin_lookup_post(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_admin_get(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_admin_recharge(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_admin_transactions(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_admin_tags(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_admin_messages(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_admin_coupons(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_admin_find(ngx_http_request_t *r,
    ngx_http_member_admin_t *adm);
static ngx_int_t ngx_http_member_admin_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static void ngx_http_member_admin_create_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_admin_create(ngx_http_request_t *r,
    uint64_t id);
static ngx_int_t ngx_http_member_admin_created(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static void ngx_http_member_admin_recharge_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_admin_phone(ngx_http_request_t *r,
    json_t *json, ngx_http_member_admin_t *adm);
static ngx_int_t ngx_http_member_admin_indexed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_admin_write(ngx_http_request_t *r);
static void ngx_http_member_admin_lookup_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_admin_phone_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);


static ngx_str_t  ngx_http_member_levels[] = {
    ngx_string("normal"),
    ngx_string("silver"),
    ngx_string("gold"),
    ngx_string("platinum"),
    ngx_null_string
};


/*
 * The admin API, one row per route: methods, pattern, handler, the roles
 * of admin keys it is granted to (the bootstrap token may do everything)
 * and what its audit keeps of a change that succeeded.  The first row
 * whose methods and pattern match decides; the rows without a handler at
 * the end say who hears that there is no such resource (404, or 405 for a
 * route that is there for another method): whatever no row names is the
 * headquarters' only, so a new route is safe by default.
 */

#define R  NGX_HTTP_MEMBER_READ
#define P  NGX_HTTP_POST
#define A  NGX_HTTP_MEMBER_ANY

static ngx_http_member_route_t  ngx_http_member_admin_routes[] = {

    /* admin keys: the bootstrap token only */
    { P, "keys/?", ngx_http_member_keys_create, NGX_HTTP_MEMBER_GRANT_NONE,
      ngx_http_member_audit_fields },
    { R, "keys/?", ngx_http_member_keys_get, NGX_HTTP_MEMBER_GRANT_NONE,
      NULL },
    { A, "keys/?", NULL, NGX_HTTP_MEMBER_GRANT_NONE, NULL },
    { A, "keys/**", ngx_http_member_keys_revoke, NGX_HTTP_MEMBER_GRANT_NONE,
      ngx_http_member_audit_fields },

    /* what the console may show */
    { R, "whoami", ngx_http_member_whoami, NGX_HTTP_MEMBER_GRANT_DESK, NULL },
    { R, "audit", ngx_http_member_audit_page, NGX_HTTP_MEMBER_GRANT_READ,
      NULL },

    /*
     * the desk of a store: find the member in front of it by card number
     * or phone (ngx_http_member_admin_found refuses a store's openid
     * look-up), and see the till's view of it (ngx_http_member_admin_view);
     * never by id, which is sequential: a store cannot walk the members
     */
    { R, "members", ngx_http_member_admin_lookup,
      NGX_HTTP_MEMBER_GRANT_DESK, NULL },
    { R, "members/?", ngx_http_member_admin_lookup,
      NGX_HTTP_MEMBER_GRANT_READ, NULL },
    { P, "members/?", ngx_http_member_admin_new,
      NGX_HTTP_MEMBER_GRANT_HQ, ngx_http_member_audit_fields },
    { P, "members/lookup", ngx_http_member_admin_lookup_post,
      NGX_HTTP_MEMBER_GRANT_DESK, NULL },

    { R, "members/<id>", ngx_http_member_admin_get,
      NGX_HTTP_MEMBER_GRANT_READ, NULL },
    { P, "members/<id>/recharge", ngx_http_member_admin_recharge,
      NGX_HTTP_MEMBER_GRANT_HQ, ngx_http_member_audit_recharge },
    { R, "members/<id>/transactions", ngx_http_member_admin_transactions,
      NGX_HTTP_MEMBER_GRANT_READ, NULL },
    { P, "members/<id>/tags", ngx_http_member_admin_tags,
      NGX_HTTP_MEMBER_GRANT_HQ, ngx_http_member_audit_fields },
    { R, "members/<id>/messages", ngx_http_member_admin_messages,
      NGX_HTTP_MEMBER_GRANT_READ, NULL },
    { R, "members/<id>/coupons", ngx_http_member_admin_coupons,
      NGX_HTTP_MEMBER_GRANT_READ, NULL },
    { NGX_HTTP_PUT, "members/<id>/level", ngx_http_member_admin_level,
      NGX_HTTP_MEMBER_GRANT_HQ, ngx_http_member_audit_level },
    { P, "members/<id>/points", ngx_http_member_admin_points,
      NGX_HTTP_MEMBER_GRANT_HQ, ngx_http_member_audit_points },
    { P, "members/<id>/recharge/refund", ngx_http_member_admin_refund,
      NGX_HTTP_MEMBER_GRANT_HQ, ngx_http_member_audit_refund },

    /* stores: ngx_http_member_stores.c; a store's own transactions */
    { R, "stores", ngx_http_member_stores_handler,
      NGX_HTTP_MEMBER_GRANT_READ, NULL },
    { P, "stores", ngx_http_member_stores_handler,
      NGX_HTTP_MEMBER_GRANT_HQ, ngx_http_member_audit_fields },
    { P, "stores/<store*>/rotate", ngx_http_member_stores_rotate,
      NGX_HTTP_MEMBER_GRANT_HQ, ngx_http_member_audit_fields },
    { R, "stores/<store*>/transactions", ngx_http_member_fold_store,
      NGX_HTTP_MEMBER_GRANT_STORE, NULL },

    /* the ledger's rules and test clock (404 without member_test_clock) */
    { R, "rules", ngx_http_member_rules_handler, NGX_HTTP_MEMBER_GRANT_READ,
      NULL },
    { NGX_HTTP_PUT, "rules", ngx_http_member_rules_handler,
      NGX_HTTP_MEMBER_GRANT_HQ, ngx_http_member_audit_rules },
    { R, "clock", ngx_http_member_clock_handler, NGX_HTTP_MEMBER_GRANT_READ,
      NULL },
    { A, "clock", ngx_http_member_clock_handler, NGX_HTTP_MEMBER_GRANT_HQ,
      ngx_http_member_audit_fields },

    /* coupons: ngx_http_member_coupons.c; campaigns.c; analytics.c */
    { R, "coupons/templates", ngx_http_member_coupons_template_list,
      NGX_HTTP_MEMBER_GRANT_READ, NULL },
    { P, "coupons/templates", ngx_http_member_coupons_template,
      NGX_HTTP_MEMBER_GRANT_HQ, ngx_http_member_audit_fields },
    { P, "coupons/issue", ngx_http_member_coupons_issue,
      NGX_HTTP_MEMBER_GRANT_HQ, ngx_http_member_audit_fields },
    { R, "campaigns", ngx_http_member_campaigns_list,
      NGX_HTTP_MEMBER_GRANT_READ, NULL },
    { P, "campaigns/run", ngx_http_member_campaigns_run_now,
      NGX_HTTP_MEMBER_GRANT_HQ, ngx_http_member_audit_fields },
    { R, "segments", ngx_http_member_analytics_segments,
      NGX_HTTP_MEMBER_GRANT_READ, NULL },
    { R, "churn", ngx_http_member_analytics_churn,
      NGX_HTTP_MEMBER_GRANT_READ, NULL },
    { R, "tags", ngx_http_member_analytics_tags_all,
      NGX_HTTP_MEMBER_GRANT_READ, NULL },
    { R, "tags/<tag>/members", ngx_http_member_analytics_tag_members,
      NGX_HTTP_MEMBER_GRANT_READ, NULL },
    { R, "analytics", ngx_http_member_analytics_shown,
      NGX_HTTP_MEMBER_GRANT_READ, NULL },

    /* the brand's numbers: ngx_http_member_fold.c */
    { R, "totals", ngx_http_member_fold_totals, NGX_HTTP_MEMBER_GRANT_READ,
      NULL },
    { R, "reports/daily", ngx_http_member_fold_daily,
      NGX_HTTP_MEMBER_GRANT_READ, NULL },
    { P, "fold/rescan", ngx_http_member_fold_rescan_admin,
      NGX_HTTP_MEMBER_GRANT_HQ, ngx_http_member_audit_fields },

    /* ngx_http_member_admin_feedback.c */
    { R, "feedback/?", ngx_http_member_admin_feedback_list,
      NGX_HTTP_MEMBER_GRANT_READ, NULL },
    { P, "feedback/<fid>/answer", ngx_http_member_admin_feedback_answer,
      NGX_HTTP_MEMBER_GRANT_HQ, ngx_http_member_audit_fields },

    /* no such resource: who hears it, and who is refused first */
    { R, "stores/<store>/**", NULL, NGX_HTTP_MEMBER_GRANT_STORE, NULL },
    { R, "**", NULL, NGX_HTTP_MEMBER_GRANT_READ, NULL },
    { A, "**", NULL, NGX_HTTP_MEMBER_GRANT_HQ, NULL },

    { 0, NULL, NULL, 0, NULL }
};

#undef R
#undef P
#undef A


/* the bearer first: the bootstrap token, or a key whose row allows it */

ngx_int_t
ngx_http_member_admin_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    /* the WeChat outbox timer's own call: ngx_http_member_outbox.c */
    rc = ngx_http_member_outbox_admin(r);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_member_admin_auth(r, ngx_http_member_admin_routes);
}


/* the routes of members: the context of a member request first */

static ngx_http_member_admin_t *
ngx_http_member_admin_of(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_admin_t  *adm;

    ctx = ngx_http_member_get_ctx(r);
    adm = ngx_pcalloc(r->pool, sizeof(ngx_http_member_admin_t));

    if (ctx == NULL || adm == NULL) {
        return NULL;
    }

    ctx->admin = adm;
    adm->id = m->id;

    return adm;
}


static ngx_int_t
ngx_http_member_admin_lookup(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    ngx_http_member_admin_t  *adm;

    adm = ngx_http_member_admin_of(r, m);
    if (adm == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_admin_find(r, adm);
}


static ngx_int_t
ngx_http_member_admin_new(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    if (ngx_http_member_admin_of(r, m) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_read_json(r, ngx_http_member_admin_create_body);
}


/* a phone or an openid never travels in a URL: the access log */

static ngx_int_t
ngx_http_member_admin_lookup_post(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    if (ngx_http_member_admin_of(r, m) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_read_json(r, ngx_http_member_admin_lookup_body);
}


static ngx_int_t
ngx_http_member_admin_get(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    if (ngx_http_member_admin_of(r, m) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_admin_read(r, m->id);
}


static ngx_int_t
ngx_http_member_admin_recharge(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    if (ngx_http_member_admin_of(r, m) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_read_json(r, ngx_http_member_admin_recharge_body);
}


static ngx_int_t
ngx_http_member_admin_transactions(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    ngx_str_t  key;

    if (ngx_http_member_admin_of(r, m) == NULL
        || ngx_http_member_key(r->pool, &key, m->id, "") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_transactions(r, &key, m->id, "NOT_FOUND");
}


static ngx_int_t
ngx_http_member_admin_tags(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    if (ngx_http_member_admin_of(r, m) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_analytics_tags(r, m->id);
}


static ngx_int_t
ngx_http_member_admin_messages(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    if (ngx_http_member_admin_of(r, m) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_messages_log(r, m->id);
}


static ngx_int_t
ngx_http_member_admin_coupons(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    ngx_str_t  key;

    if (ngx_http_member_admin_of(r, m) == NULL
        || ngx_http_member_key(r->pool, &key, m->id, "") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_coupons_list(r, m->id, &key, "NOT_FOUND");
}


static ngx_int_t
ngx_http_member_admin_openid_valid(ngx_str_t *openid)
{
    size_t  i;
    u_char  c;

    if (openid->len == 0 || openid->len > 128) {
        return 0;
    }

    for (i = 0; i < openid->len; i++) {
        c = openid->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_member_admin_find(ngx_http_request_t *r,
    ngx_http_member_admin_t *adm)
{
    uint64_t   id;
    ngx_str_t  card_no;

    if (ngx_http_arg(r, (u_char *) "card_no", 7, &card_no) == NGX_OK) {
        if (ngx_http_member_card_to_id(&card_no, &id) != NGX_OK) {
            return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                         "no member has that card number");
        }

        return ngx_http_member_admin_read(r, id);
    }

    /*
     * an openid is personal data: a client that still sends it in the URL
     * is told where it goes, and the logs do not keep it
     */
    if (ngx_http_arg(r, (u_char *) "openid", 6, &adm->openid) == NGX_OK) {
        if (ngx_http_member_hide_query(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "an openid is looked up with POST "
                                     "members/lookup {\"openid\"}, "
                                     "never in a URL");
    }

    return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                 "look members up by card_no, or with POST "
                                 "members/lookup {\"phone\"|\"openid\"}");
}


static ngx_int_t
ngx_http_member_admin_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    uint64_t  id;

    /*
     * every look-up by openid ends here: a till finds the member in front
     * of it by card number or phone, and learns no more, found or not
     */
    if (ngx_http_member_admin_view(r) == NGX_HTTP_MEMBER_VIEW_TILL) {
        return ngx_http_member_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                     "a store finds members by card "
                                     "number or phone");
    }

    if (reply->type == REDIS_REPLY_NIL) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no member has that openid");
    }

    if (reply->type != REDIS_REPLY_STRING
        || ngx_http_member_parse_id((u_char *) reply->str, reply->len, &id)
           != NGX_OK)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    return ngx_http_member_admin_read(r, id);
}


static void
ngx_http_member_admin_create_body(ngx_http_request_t *r)
{
    json_t                   *json;
    ngx_int_t                 rc;
    ngx_str_t                *level;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_admin_t  *adm;

    json = ngx_http_member_body_json(r, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    adm = ctx->admin;

    adm->json = json;

    rc = ngx_http_member_person_validate(r, json, 0);
    if (rc == NGX_DECLINED) {
        rc = ngx_http_member_admin_phone(r, json, adm);
    }

    if (rc != NGX_DECLINED) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    rc = ngx_http_member_json_str(json, "openid", 128, 1, &adm->openid, 0);

    if (rc == NGX_ERROR
        || (rc == NGX_OK && !ngx_http_member_admin_openid_valid(&adm->openid)))
    {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "openid"));
        return;
    }

    rc = ngx_http_member_json_str(json, "level", 16, 1, &adm->level, 0);

    if (rc == NGX_DECLINED) {
        adm->level = ngx_http_member_levels[0];

    } else {
        for (level = ngx_http_member_levels; level->len; level++) {
            if (rc == NGX_OK && level->len == adm->level.len
                && ngx_strncmp(level->data, adm->level.data, level->len) == 0)
            {
                break;
            }
        }

        if (level->len == 0) {
            ngx_http_finalize_request(r,
                                      ngx_http_member_bad_field(r, "level"));
            return;
        }
    }

    /* an openid that logged in before: its visitor record becomes the member */
    ngx_http_finalize_request(r,
                              ngx_http_member_openid_id(r, &adm->openid,
                                                ngx_http_member_admin_create));
}


static ngx_int_t
ngx_http_member_admin_create(ngx_http_request_t *r, uint64_t id)
{
    u_char                   *p;
    ngx_str_t                 value;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_admin_t  *adm;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    adm = ctx->admin;
    adm->id = id;

    if (adm->phone.len == 0) {
        return ngx_http_member_admin_write(r);
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    value.data = p;
    value.len = ngx_sprintf(p, "%uL", id) - p;

    /* the phone's index first: a phone names one member */
    return ngx_http_member_redis_command(r, ngx_http_member_admin_indexed,
                                         &ngx_http_member_cmd_set,
                                         &adm->index[0], &value,
                                         &ngx_http_member_cmd_nx);
}


static ngx_int_t
ngx_http_member_admin_indexed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    if (reply->type == REDIS_REPLY_NIL) {
        return ngx_http_member_error(r, NGX_HTTP_CONFLICT, "conflict",
                                     "a member has that phone");
    }

    if (reply->type != REDIS_REPLY_STATUS) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    return ngx_http_member_admin_write(r);
}


static ngx_int_t
ngx_http_member_admin_write(ngx_http_request_t *r)
{
    ngx_str_t                 key, args[24];
    ngx_uint_t                n;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_admin_t  *adm;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    adm = ctx->admin;

    if (ngx_http_member_key(r->pool, &key, adm->id, "") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_MEMBER_CREATE_ARGV_OPENID] = adm->openid;
    args[NGX_HTTP_MEMBER_MEMBER_CREATE_ARGV_LEVEL] = adm->level;

    if (ngx_http_member_record_args(r->pool, adm->id,
                                   &args[NGX_HTTP_MEMBER_MEMBER_CREATE_ARGV_ID],
                              &args[NGX_HTTP_MEMBER_MEMBER_CREATE_ARGV_CARD_NO],
                                  &args[NGX_HTTP_MEMBER_MEMBER_CREATE_ARGV_NOW])
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = NGX_HTTP_MEMBER_MEMBER_CREATE_NARGV;

    if (adm->phone.len) {
        ngx_str_set(&args[n], "phone_index");
        n++;
        args[n++] = adm->index[0];
    }

    /* personal data is sealed under member_pii_key, bound to the id */
    if (ngx_http_member_person_fields(r, adm->id, adm->json, &adm->phone,
                                      args, &n)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_MEMBER_CREATE,
                                        ngx_http_member_admin_created, &key,
                                        args,
                                       n - NGX_HTTP_MEMBER_MEMBER_CREATE_NARGV);
}


/*
 * {"phone"}: checked, and its index under each key line.  NGX_DECLINED
 * when good (or absent), else the rc of the error answer sent.
 */

static ngx_int_t
ngx_http_member_admin_phone(ngx_http_request_t *r, json_t *json,
    ngx_http_member_admin_t *adm)
{
    size_t                       i;
    ngx_int_t                    rc;
    ngx_http_member_key_t       *key;
    ngx_http_member_loc_conf_t  *mlcf;

    rc = ngx_http_member_json_str(json, "phone", 16, 0, &adm->phone, 0);

    if (rc == NGX_DECLINED) {
        ngx_str_null(&adm->phone);
        return NGX_DECLINED;
    }

    if (rc == NGX_ERROR || adm->phone.len < 5) {
        return ngx_http_member_bad_field(r, "phone");
    }

    for (i = (adm->phone.data[0] == '+'); i < adm->phone.len; i++) {
        if (adm->phone.data[i] < '0' || adm->phone.data[i] > '9') {
            return ngx_http_member_bad_field(r, "phone");
        }
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);
    key = mlcf->keys->elts;

    for (i = 0; i < mlcf->keys->nelts && i < 8; i++) {
        if (ngx_http_member_phone_index(r, &key[i], &adm->phone,
                                        &adm->index[i])
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    adm->nindex = i;

    return NGX_DECLINED;
}


static void
ngx_http_member_admin_lookup_body(ngx_http_request_t *r)
{
    json_t                   *json;
    ngx_int_t                 rc;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_admin_t  *adm;

    json = ngx_http_member_body_json(r, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    adm = ctx->admin;

    rc = ngx_http_member_admin_phone(r, json, adm);

    if (rc != NGX_DECLINED) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    rc = ngx_http_member_json_str(json, "openid", 128, 1, &adm->openid, 0);

    if (rc == NGX_ERROR
        || (rc == NGX_OK && !ngx_http_member_admin_openid_valid(&adm->openid)))
    {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "openid"));
        return;
    }

    if ((rc == NGX_OK) == (adm->phone.len != 0)) {
        ngx_http_finalize_request(r,
            ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "look a member up by \"phone\" or by "
                                  "\"openid\", one of them"));
        return;
    }

    if (rc == NGX_OK) {
        if (ngx_http_member_openid_key(r->pool, &adm->openid,
                                       &adm->openid_key)
            != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_finalize_request(r,
            ngx_http_member_redis_command(r, ngx_http_member_admin_found,
                                          &ngx_http_member_cmd_get,
                                          &adm->openid_key));
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_member_redis_command(r, ngx_http_member_admin_phone_found,
                                      &ngx_http_member_cmd_get,
                                      &adm->index[0]));
}


/* each key line's index in turn: data of older keys is found too */

static ngx_int_t
ngx_http_member_admin_phone_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    uint64_t                  id;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_admin_t  *adm;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    adm = ctx->admin;

    if (reply->type == REDIS_REPLY_NIL) {
        if (++adm->tried < adm->nindex) {
            return ngx_http_member_redis_command(r,
                                            ngx_http_member_admin_phone_found,
                                            &ngx_http_member_cmd_get,
                                            &adm->index[adm->tried]);
        }

        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no member has that phone");
    }

    if (reply->type != REDIS_REPLY_STRING
        || ngx_http_member_parse_id((u_char *) reply->str, reply->len, &id)
           != NGX_OK)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    return ngx_http_member_admin_read(r, id);
}


static ngx_int_t
ngx_http_member_admin_created(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                   *p, *start;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_admin_t  *adm;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    adm = ctx->admin;

    if (reply->type != REDIS_REPLY_STATUS && reply->type != REDIS_REPLY_STRING)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    /* the welcome trigger soon: ngx_http_member_campaigns.c */
    ngx_http_member_campaigns_hint(r, adm->id, NGX_HTTP_MEMBER_HINT_NEW);

    start = ngx_pnalloc(r->pool, 64 + 2 * NGX_INT64_LEN);
    if (start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(start, "{\"member_id\":\"%uL\",\"card_no\":\"", adm->id);
    p = ngx_http_member_card_no(p, adm->id);
    p = ngx_cpymem(p, "\"}", 2);

    return ngx_http_member_send_raw(r, NGX_HTTP_CREATED, NULL, start,
                                    p - start);
}


static void
ngx_http_member_admin_recharge_body(ngx_http_request_t *r)
{
    json_t                   *json;
    ngx_int_t                 rc, amount;
    ngx_str_t                 idem;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_admin_t  *adm;

    json = ngx_http_member_body_call(r, NGX_HTTP_MEMBER_BODY_RECHARGE, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    adm = ctx->admin;

    if (ngx_http_member_json_int(json, "amount_fen", 1,
                                 NGX_HTTP_MEMBER_MAX_AMOUNT, &amount, 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r,
                                  ngx_http_member_bad_field(r, "amount_fen"));
        return;
    }

    if (ngx_http_member_json_str(json, "idempotency_key", 64, 1, &idem, 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r,
                             ngx_http_member_bad_field(r, "idempotency_key"));
        return;
    }

    /* the bonus of the brand's rules: ngx_http_member_ledger.c */
    ngx_http_finalize_request(r,
        ngx_http_member_ledger_recharge(r, adm->id, amount, &idem));
}
