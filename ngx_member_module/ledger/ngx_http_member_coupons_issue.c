
/*
 * ngx_member: the issue of coupons (docs/ledger.md, "Coupons").
 *
 *   admin:  POST coupons/issue {"template_id","member_ids"|"tag"|"segment",
 *                               "idempotency_key"}  {"issued","skipped"}
 *
 * An issue copies the template's terms (ngx_http_member_coupons.c) into
 * each member's {m:<id>}:coupons with one script on that member's slot,
 * idempotent per member and key; a tag's members are the set
 * {b}:tag:<tag> (a segment's {b}:tag:segment:<name>), kept by the
 * analytics and read a page at a time with SSCAN.
 */


#include "ngx_member_ledger.h"


#define NGX_HTTP_MEMBER_COUPON_IDS      1000    /* member_ids per issue */


static void ngx_http_member_coupons_issue_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_coupons_template_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_coupons_issue_at(ngx_http_request_t *r,
    time_t now);
static ngx_int_t ngx_http_member_coupons_issue_next(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_coupons_scanned(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_coupons_issued(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);


static ngx_str_t  ngx_http_member_coupons_hget = ngx_string("HGET");
static ngx_str_t  ngx_http_member_coupons_sscan = ngx_string("SSCAN");
static ngx_str_t  ngx_http_member_coupons_count = ngx_string("COUNT");
static ngx_str_t  ngx_http_member_coupons_page = ngx_string("500");


ngx_int_t
ngx_http_member_coupons_issue(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_read_json(r, ngx_http_member_coupons_issue_body);
}


/* POST coupons/issue */

/*
 * "member_ids" (ids as numbers or strings), "tag" or "segment" (the sets
 * the analytics keeps): NGX_DECLINED with the field at fault in *field.
 */

static ngx_int_t
ngx_http_member_coupons_targets(ngx_http_request_t *r, json_t *json,
    ngx_http_member_coupons_t *cp, const char **field)
{
    size_t       i;
    json_t      *ids, *v;
    ngx_str_t    tag;
    ngx_int_t    rc;
    const char  *prefix;

    ids = json_object_get(json, "member_ids");
    prefix = "";
    *field = "tag";

    rc = ngx_http_member_json_str(json, "tag", 100, 0, &tag, 0);

    if (rc == NGX_DECLINED) {
        prefix = "segment:";
        *field = "segment";
        rc = ngx_http_member_json_str(json, "segment", 100, 0, &tag, 0);

    } else if (json_object_get(json, "segment")) {
        return NGX_DECLINED;
    }

    if (rc == NGX_ERROR || (ids && rc == NGX_OK)) {
        return NGX_DECLINED;
    }

    if (rc == NGX_OK) {
        cp->tag_key.data = ngx_pnalloc(r->pool, sizeof("{b}:tag:segment:")
                                                + tag.len);
        if (cp->tag_key.data == NULL) {
            return NGX_ERROR;
        }

        cp->tag_key.len = ngx_sprintf(cp->tag_key.data, "{b}:tag:%s%V",
                                      prefix, &tag)
                          - cp->tag_key.data;
        ngx_str_set(&cp->cursor, "0");

        return NGX_OK;
    }

    *field = "member_ids";

    if (!json_is_array(ids) || json_array_size(ids) == 0
        || json_array_size(ids) > NGX_HTTP_MEMBER_COUPON_IDS)
    {
        return NGX_DECLINED;
    }

    cp->ids = ngx_palloc(r->pool, json_array_size(ids) * sizeof(uint64_t));
    if (cp->ids == NULL) {
        return NGX_ERROR;
    }

    json_array_foreach(ids, i, v) {
        if (json_is_integer(v) && json_integer_value(v) > 0
            && json_integer_value(v) <= 9999999999999LL)
        {
            cp->ids[i] = (uint64_t) json_integer_value(v);

        } else if (!json_is_string(v)
                   || ngx_http_member_parse_id((u_char *) json_string_value(v),
                                               json_string_length(v),
                                               &cp->ids[i])
                      != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    cp->nids = json_array_size(ids);

    return NGX_OK;
}


static void
ngx_http_member_coupons_issue_body(ngx_http_request_t *r)
{
    json_t                     *json;
    ngx_int_t                   rc;
    const char                 *field;
    ngx_pool_cleanup_t         *cln;
    ngx_http_member_coupons_t  *cp;

    json = ngx_http_member_body_call(r, NGX_HTTP_MEMBER_BODY_COUPON_ISSUE,
                                     &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    cp = ngx_http_member_coupons_state(r);
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (cp == NULL || cln == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    cln->handler = ngx_http_member_coupons_cleanup;
    cln->data = cp;

    if (ngx_http_member_json_str(json, "template_id", 32, 1,
                                 &cp->template_id, 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r,
                                ngx_http_member_bad_field(r, "template_id"));
        return;
    }

    if (ngx_http_member_json_str(json, "idempotency_key", 64, 1, &cp->idem, 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r,
                             ngx_http_member_bad_field(r, "idempotency_key"));
        return;
    }

    rc = ngx_http_member_coupons_targets(r, json, cp, &field);

    if (rc == NGX_DECLINED) {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, field));
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_member_redis_command(r,
                                      ngx_http_member_coupons_template_found,
                                      &ngx_http_member_coupons_hget,
                                      &ngx_http_member_coupons_tpl,
                                      &cp->template_id));
}


static ngx_int_t
ngx_http_member_coupons_template_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    json_error_t                err;
    ngx_http_member_ctx_t      *ctx;
    ngx_http_member_coupons_t  *cp;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    cp = ctx->coupons;

    if (reply->type == REDIS_REPLY_NIL) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such coupon template");
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    cp->tpl = json_loadb(reply->str, reply->len, 0, &err);

    if (cp->tpl == NULL || !json_is_object(cp->tpl)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: a coupon template is not JSON");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the ledger's clock: the test clock moves coupons' validity too */
    return ngx_http_member_ledger_clock(r, ngx_http_member_coupons_issue_at);
}


/* the coupon every member of this issue gets: the template's terms */

static ngx_int_t
ngx_http_member_coupons_issue_at(ngx_http_request_t *r, time_t now)
{
    u_char                     *p;
    json_t                     *terms, *days;
    time_t                      from, to;
    ngx_int_t                   rc;
    ngx_http_member_ctx_t      *ctx;
    ngx_http_member_coupons_t  *cp;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    cp = ctx->coupons;

    days = json_object_get(cp->tpl, "valid_days");

    if (days) {
        from = now;
        to = now + json_integer_value(days) * 86400;

    } else {
        from = json_integer_value(json_object_get(cp->tpl, "from"));
        to = json_integer_value(json_object_get(cp->tpl, "to"));

        if (to <= now) {
            return ngx_http_member_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                         "template_expired",
                                         "the template's validity has ended");
        }
    }

    terms = json_deep_copy(cp->tpl);
    if (terms == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_del(terms, "valid_days");
    json_object_del(terms, "from");
    json_object_del(terms, "to");
    json_object_set_new(terms, "template_id",
                        json_stringn((char *) cp->template_id.data,
                                     cp->template_id.len));
    json_object_set_new(terms, "valid_from", json_integer(from));
    json_object_set_new(terms, "expires_at", json_integer(to));
    json_object_set_new(terms, "issued_at", json_integer(now));

    rc = ngx_http_member_coupons_dump(r, terms, &cp->terms);
    json_decref(terms);

    p = ngx_pnalloc(r->pool, 3 * NGX_TIME_T_LEN + sizeof("coupon:")
                             + cp->template_id.len);

    if (rc != NGX_OK || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cp->fingerprint.data = p;
    p = ngx_sprintf(p, "coupon:%V", &cp->template_id);
    cp->fingerprint.len = p - cp->fingerprint.data;

    cp->expires.data = p;
    p = ngx_sprintf(p, "%T", to);
    cp->expires.len = p - cp->expires.data;

    cp->now.data = p;
    p = ngx_sprintf(p, "%T", now);
    cp->now.len = p - cp->now.data;

    cp->ttl.data = p;
    cp->ttl.len = ngx_sprintf(p, "%d", NGX_HTTP_MEMBER_IDEM_TTL) - p;

    cp->name.data = (u_char *) json_string_value(json_object_get(cp->tpl,
                                                                 "name"));
    cp->name.len = cp->name.data ? ngx_strlen(cp->name.data) : 0;

    return ngx_http_member_coupons_issue_next(r);
}


static ngx_int_t
ngx_http_member_coupons_issue_next(ngx_http_request_t *r)
{
    u_char                     *p;
    size_t                      len;
    uint64_t                    id;
    ngx_str_t                   keys[NGX_HTTP_MEMBER_COUPON_ISSUE_NKEYS];
    ngx_str_t                   args[NGX_HTTP_MEMBER_COUPON_ISSUE_NARGV];
    ngx_http_member_ctx_t      *ctx;
    ngx_http_member_coupons_t  *cp;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    cp = ctx->coupons;

    if (cp->next == cp->nids) {
        if (cp->tag_key.len) {
            /* the tag's next page of members */
            return ngx_http_member_redis_command(r,
                                             ngx_http_member_coupons_scanned,

                                             &ngx_http_member_coupons_sscan,
                                             &cp->tag_key, &cp->cursor,
                                             &ngx_http_member_coupons_count,
                                             &ngx_http_member_coupons_page);
        }

        goto done;
    }

    id = cp->ids[cp->next++];

    len = sizeof("{m:}:idem:coupon:") + NGX_INT64_LEN + cp->idem.len;
    p = ngx_pnalloc(r->pool, len + NGX_INT64_LEN);

    if (p == NULL
        || ngx_http_member_key(r->pool,
                               &keys[NGX_HTTP_MEMBER_COUPON_ISSUE_KEY_MEMBER],
                               id, "") != NGX_OK
        || ngx_http_member_key(r->pool,
                               &keys[NGX_HTTP_MEMBER_COUPON_ISSUE_KEY_LEDGER],
                               id, ":ledger") != NGX_OK
        || ngx_http_member_key(r->pool,
                               &keys[NGX_HTTP_MEMBER_COUPON_ISSUE_KEY_COUPONS],
                               id, ":coupons") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    keys[NGX_HTTP_MEMBER_COUPON_ISSUE_KEY_IDEM].data = p;
    p = ngx_sprintf(p, "%V:idem:coupon:%V",
                    &keys[NGX_HTTP_MEMBER_COUPON_ISSUE_KEY_MEMBER], &cp->idem);
    keys[NGX_HTTP_MEMBER_COUPON_ISSUE_KEY_IDEM].len =
                           p - keys[NGX_HTTP_MEMBER_COUPON_ISSUE_KEY_IDEM].data;

    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_MEMBER_ID].data = p;
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_MEMBER_ID].len =
                                                  ngx_sprintf(p, "%uL", id) - p;

    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_FINGERPRINT] = cp->fingerprint;
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_TERMS] = cp->terms;
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_NOW] = cp->now;
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_TTL] = cp->ttl;
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_IDEM_KEY] = cp->idem;
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_TEMPLATE] = cp->template_id;
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_EXPIRES_AT] = cp->expires;
    args[NGX_HTTP_MEMBER_COUPON_ISSUE_ARGV_NAME] = cp->name;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: coupon issue to member %uL sent", id);

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_COUPON_ISSUE,
                                        ngx_http_member_coupons_issued, keys,
                                        args,
                                        0);

done:

    p = ngx_pnalloc(r->pool, 32 + 2 * NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_sprintf(p, "{\"issued\":%ui,\"skipped\":%ui}", cp->issued,
                      cp->skipped)
          - p;

    return ngx_http_member_send_raw(r, NGX_HTTP_OK, NULL, p, len);
}


static ngx_int_t
ngx_http_member_coupons_scanned(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t                      i;
    uint64_t                    id;
    redisReply                 *cursor, *page, *v;
    ngx_http_member_ctx_t      *ctx;
    ngx_http_member_coupons_t  *cp;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    cp = ctx->coupons;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    cursor = reply->element[0];
    page = reply->element[1];

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: coupon issue: a page of %uz members",
                   page->elements);

    cp->cursor.data = ngx_pnalloc(r->pool, cursor->len);
    cp->ids = ngx_palloc(r->pool, (page->elements + 1) * sizeof(uint64_t));

    if (cp->cursor.data == NULL || cp->ids == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(cp->cursor.data, cursor->str, cursor->len);
    cp->cursor.len = cursor->len;
    cp->nids = 0;
    cp->next = 0;

    for (i = 0; i < page->elements; i++) {
        v = page->element[i];

        if (v->type != REDIS_REPLY_STRING
            || ngx_http_member_parse_id((u_char *) v->str, v->len, &id)
               != NGX_OK)
        {
            cp->skipped++;
            continue;
        }

        cp->ids[cp->nids++] = id;
    }

    if (cp->cursor.len == 1 && cp->cursor.data[0] == '0') {
        /* the last page: no more SSCAN after its members */
        cp->tag_key.len = 0;
    }

    return ngx_http_member_coupons_issue_next(r);
}


static ngx_int_t
ngx_http_member_coupons_issued(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_ctx_t      *ctx;
    ngx_http_member_coupons_t  *cp;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    cp = ctx->coupons;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: coupon issue answered, type %d", reply->type);

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_STRING)
    {
        if (reply->element[0]->len == 6
            && ngx_strncmp(reply->element[0]->str, "issued", 6) == 0)
        {
            cp->issued++;

        } else {
            cp->skipped++;          /* issued before under this key */
        }

        return ngx_http_member_coupons_issue_next(r);
    }

    /* no such member, not active, or the key used for another template */
    if (ngx_http_member_redis_is_error(reply, "NOT_FOUND")
        || ngx_http_member_redis_is_error(reply, "INACTIVE")
        || ngx_http_member_redis_is_error(reply, "CONFLICT"))
    {
        cp->skipped++;
        return ngx_http_member_coupons_issue_next(r);
    }

    return ngx_http_member_reply_script_error(r, reply);
}
