
/*
 * ngx_member: the admin's changes of a member's tier and points
 * (docs/ledger.md).
 *
 *   admin:  PUT members/<id>/level {"level","reason"}
 *           POST members/<id>/points {"delta","reason","idempotency_key"}
 *
 * Each is one script on the member's slot (level.lua, adjust.lua), with
 * the worker's rules (ngx_http_member_rules.c) for the tiers and the lot.
 */


#include "ngx_member_ledger.h"


#define NGX_HTTP_MEMBER_MAX_POINTS    1000000000


static ngx_int_t
ngx_http_member_level_rules(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    size_t                         i;
    json_t                        *t;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_LEVEL_NKEYS];
    ngx_str_t                      args[NGX_HTTP_MEMBER_LEVEL_NARGV];
    const char                    *level;
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);

    json_array_foreach(json_object_get(ledger->rules, "tiers"), i, t) {
        level = json_string_value(json_object_get(t, "level"));

        if (ngx_strlen(level) == lr->text.len
            && ngx_strncmp(level, lr->text.data, lr->text.len) == 0)
        {
            break;
        }
    }

    if (i == json_array_size(json_object_get(ledger->rules, "tiers"))) {
        return ngx_http_member_bad_field(r, "level");
    }

    if (ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_LEVEL_KEY_MEMBER],
                            lr->id, "") != NGX_OK
        || ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_LEVEL_KEY_LEDGER],
                               lr->id, ":ledger") != NGX_OK
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_LEVEL_ARGV_NOW],
                                   ngx_http_member_ledger_now(ledger)) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_LEVEL_ARGV_LEVEL] = lr->text;
    args[NGX_HTTP_MEMBER_LEVEL_ARGV_REASON] = lr->note;

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "member: admin sets the level of member %uL to \"%V\"",
                  lr->id, &lr->text);

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_LEVEL,
                                        ngx_http_member_ledger_answered, keys,
                                        args, 0);
}


static void
ngx_http_member_level_body(ngx_http_request_t *r)
{
    json_t                        *json;
    ngx_int_t                      rc;
    ngx_http_member_ledger_req_t  *lr;

    json = ngx_http_member_body_call(r, NGX_HTTP_MEMBER_BODY_LEVEL, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    lr = ngx_http_member_ledger_req(r);

    if (ngx_http_member_json_str(json, "level", 16, 1, &lr->text, 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "level"));
        return;
    }

    if (ngx_http_member_json_str(json, "reason", 200, 0, &lr->note, 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "reason"));
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_member_rules_get(r, ngx_http_member_level_rules));
}


static ngx_int_t
ngx_http_member_adjust_rules(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    ngx_str_t                     *member, *idem;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_ADJUST_NKEYS];
    ngx_str_t                      args[NGX_HTTP_MEMBER_ADJUST_NARGV];
    ngx_http_member_moment_t       mo;
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    ngx_http_member_rules_moment(ledger, &mo);

    member = &keys[NGX_HTTP_MEMBER_ADJUST_KEY_MEMBER];
    idem = &keys[NGX_HTTP_MEMBER_ADJUST_KEY_IDEM];

    if (ngx_http_member_key(r->pool, member, lr->id, "") != NGX_OK
        || ngx_http_member_key(r->pool,
                               &keys[NGX_HTTP_MEMBER_ADJUST_KEY_LEDGER],
                               lr->id, ":ledger") != NGX_OK
        || ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_ADJUST_KEY_LOTS],
                               lr->id, ":lots") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    idem->data = ngx_pnalloc(r->pool, member->len + 6 + lr->idem.len);

    /* the whole request: the delta and the reason */
    if (idem->data == NULL
        || ngx_http_member_body_fingerprint(r,
                                  ngx_http_member_get_ctx(r)->json,
                                  NGX_HTTP_MEMBER_BODY_POINTS, lr->id,
                                 &args[NGX_HTTP_MEMBER_ADJUST_ARGV_FINGERPRINT])
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    idem->len = ngx_sprintf(idem->data, "%V:idem:%V", member, &lr->idem)
                - idem->data;

    args[NGX_HTTP_MEMBER_ADJUST_ARGV_REASON] = lr->note;
    args[NGX_HTTP_MEMBER_ADJUST_ARGV_IDEM_KEY] = lr->idem;

    if (ngx_http_member_int_arg(r->pool,
                                &args[NGX_HTTP_MEMBER_ADJUST_ARGV_DELTA],
                                lr->points) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_ADJUST_ARGV_NOW],
                                   mo.now) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_ADJUST_ARGV_TTL],
                                   NGX_HTTP_MEMBER_IDEM_TTL) == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_ADJUST_ARGV_LOT],
                                   mo.lot) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: points adjustment of member %uL sent", lr->id);

    if (lr->points > 0) {
        ngx_http_member_sweep_schedule(ledger, lr->id, mo.lot);
    }

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_ADJUST,
                                        ngx_http_member_ledger_answered, keys,
                                        args, 0);
}


static void
ngx_http_member_adjust_body(ngx_http_request_t *r)
{
    json_t                        *json;
    ngx_int_t                      rc;
    ngx_http_member_ledger_req_t  *lr;

    json = ngx_http_member_body_call(r, NGX_HTTP_MEMBER_BODY_POINTS, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    lr = ngx_http_member_ledger_req(r);

    if (ngx_http_member_json_int(json, "delta", -NGX_HTTP_MEMBER_MAX_POINTS,
                                 NGX_HTTP_MEMBER_MAX_POINTS, &lr->points, 1)
        != NGX_OK
        || lr->points == 0)
    {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "delta"));
        return;
    }

    if (ngx_http_member_json_str(json, "reason", 200, 0, &lr->note, 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "reason"));
        return;
    }

    if (ngx_http_member_json_str(json, "idempotency_key", 64, 1, &lr->idem, 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r,
                             ngx_http_member_bad_field(r, "idempotency_key"));
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_member_rules_get(r, ngx_http_member_adjust_rules));
}


ngx_int_t
ngx_http_member_admin_level(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_ledger_admin(r, m->id,
                                        ngx_http_member_level_body);
}


ngx_int_t
ngx_http_member_admin_points(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_ledger_admin(r, m->id,
                                        ngx_http_member_adjust_body);
}
