
/*
 * ngx_member: coupons (docs/ledger.md, "Coupons").
 *
 *   admin:  POST coupons/templates {...}      201 {"template_id"}
 *           GET  coupons/templates            the brand's templates
 *           POST coupons/issue {"template_id","member_ids"|"tag"|"segment",
 *                               "idempotency_key"}  {"issued","skipped"}
 *           GET  members/<id>/coupons         that member's coupons
 *   member: GET  coupons                      the member's, usable first
 *
 * Templates are brand-wide ({b}:coupon:tpl).  An issue copies the
 * template's terms into each member's {m:<id>}:coupons with one script on
 * that member's slot, idempotent per member and key; a tag's members are
 * the set {b}:tag:<tag> (a segment's {b}:tag:segment:<name>), kept by the
 * analytics and read a page at a time with SSCAN.  The till
 * spends a coupon inside pay.lua and a refund gives it back.
 */


#include "ngx_member_ledger.h"


#define NGX_HTTP_MEMBER_COUPON_IDS      1000    /* member_ids per issue */
#define NGX_HTTP_MEMBER_COUPON_DAYS     3650
#define NGX_HTTP_MEMBER_COUPON_MAX_TS   4102444800LL    /* 2100-01-01 */


struct ngx_http_member_coupons_s {
    ngx_str_t                   template_id;
    ngx_str_t                   idem;
    ngx_str_t                   tag_key;        /* {b}:tag:<tag>, or "" */
    ngx_str_t                   cursor;         /* SSCAN's; "0": done */
    json_t                     *tpl;
    ngx_str_t                   terms;          /* the coupon, as JSON */
    ngx_str_t                   fingerprint;
    ngx_str_t                   expires;
    ngx_str_t                   name;
    ngx_str_t                   now;
    ngx_str_t                   ttl;
    time_t                      time;
    uint64_t                   *ids;
    ngx_uint_t                  nids;
    ngx_uint_t                  next;
    ngx_uint_t                  issued;
    ngx_uint_t                  skipped;
    ngx_str_t                   must_exist;     /* a list: the key, error */
    const char                 *missing;
    uint64_t                    member;
};


static void ngx_http_member_coupons_template_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_coupons_template_saved(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_coupons_templates(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
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
static ngx_int_t ngx_http_member_coupons_list_at(ngx_http_request_t *r,
    time_t now);
static ngx_int_t ngx_http_member_coupons_listed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);


static ngx_str_t  ngx_http_member_coupons_seq = ngx_string("{b}:coupon:seq");
static ngx_str_t  ngx_http_member_coupons_tpl = ngx_string("{b}:coupon:tpl");
static ngx_str_t  ngx_http_member_coupons_hget = ngx_string("HGET");
static ngx_str_t  ngx_http_member_coupons_sscan = ngx_string("SSCAN");
static ngx_str_t  ngx_http_member_coupons_count = ngx_string("COUNT");
static ngx_str_t  ngx_http_member_coupons_page = ngx_string("500");


static ngx_http_member_coupons_t *
ngx_http_member_coupons_state(ngx_http_request_t *r)
{
    ngx_http_member_ctx_t      *ctx;
    ngx_http_member_coupons_t  *cp;

    ctx = ngx_http_member_get_ctx(r);
    if (ctx == NULL) {
        return NULL;
    }

    cp = ngx_pcalloc(r->pool, sizeof(ngx_http_member_coupons_t));
    ctx->coupons = cp;

    return cp;
}


static void
ngx_http_member_coupons_cleanup(void *data)
{
    ngx_http_member_coupons_t  *cp = data;

    json_decref(cp->tpl);
}


/* the admin API's coupons/templates and coupons/issue */

ngx_int_t
ngx_http_member_coupons_template(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_read_json(r, ngx_http_member_coupons_template_body);
}


ngx_int_t
ngx_http_member_coupons_template_list(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_redis_command(r, ngx_http_member_coupons_templates,
                                         2, &ngx_http_member_cmd_hgetall,
                                         &ngx_http_member_coupons_tpl);
}


ngx_int_t
ngx_http_member_coupons_issue(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_read_json(r, ngx_http_member_coupons_issue_body);
}


/*
 * A template: "name"; exactly one of "value_fen" (cash off), "pct" (percent
 * off, with an optional "cap_fen") or "gift" (a text); "min_spend_fen";
 * "valid_days" after issue, or a fixed "from".."to" (unix seconds).
 * NULL when it is valid, else the field at fault.
 */

static const char *
ngx_http_member_coupons_validate(json_t *json, json_t *tpl)
{
    void        *it;
    json_t      *v;
    ngx_str_t    s;
    ngx_int_t    n, from, to;
    const char  *key, **a;
    ngx_uint_t   kinds;

    static const char  *allowed[] = { "name", "value_fen", "pct", "cap_fen",
                                      "gift", "min_spend_fen", "valid_days",
                                      "from", "to", NULL };

    json_object_foreach_safe(json, it, key, v) {
        for (a = allowed; *a; a++) {
            if (ngx_strcmp(*a, key) == 0) {
                break;
            }
        }

        if (*a == NULL) {
            return key;
        }
    }

    if (ngx_http_member_json_str(json, "name", 64, 0, &s, 1) != NGX_OK) {
        return "name";
    }

    json_object_set(tpl, "name", json_object_get(json, "name"));
    kinds = 0;

    switch (ngx_http_member_json_int(json, "value_fen", 1,
                                     NGX_HTTP_MEMBER_MAX_AMOUNT, &n, 0))
    {
    case NGX_OK:
        json_object_set_new(tpl, "type", json_string("cash"));
        json_object_set_new(tpl, "value_fen", json_integer(n));
        kinds++;
        break;
    case NGX_ERROR:
        return "value_fen";
    }

    switch (ngx_http_member_json_int(json, "pct", 1, 100, &n, 0)) {
    case NGX_OK:
        json_object_set_new(tpl, "type", json_string("percent"));
        json_object_set_new(tpl, "pct", json_integer(n));
        kinds++;
        break;
    case NGX_ERROR:
        return "pct";
    }

    switch (ngx_http_member_json_str(json, "gift", 128, 0, &s, 0)) {
    case NGX_OK:
        json_object_set_new(tpl, "type", json_string("gift"));
        json_object_set(tpl, "gift", json_object_get(json, "gift"));
        kinds++;
        break;
    case NGX_ERROR:
        return "gift";
    }

    if (kinds != 1) {
        return "value_fen";         /* none, or more than one */
    }

    switch (ngx_http_member_json_int(json, "cap_fen", 1,
                                     NGX_HTTP_MEMBER_MAX_AMOUNT, &n, 0))
    {
    case NGX_OK:
        if (json_object_get(tpl, "pct") == NULL) {
            return "cap_fen";       /* a cap of a percent only */
        }

        json_object_set_new(tpl, "cap_fen", json_integer(n));
        break;
    case NGX_ERROR:
        return "cap_fen";
    }

    n = 0;

    if (ngx_http_member_json_int(json, "min_spend_fen", 0,
                                 NGX_HTTP_MEMBER_MAX_AMOUNT, &n, 0)
        == NGX_ERROR)
    {
        return "min_spend_fen";
    }

    json_object_set_new(tpl, "min_spend_fen", json_integer(n));

    switch (ngx_http_member_json_int(json, "valid_days", 1,
                                     NGX_HTTP_MEMBER_COUPON_DAYS, &n, 0))
    {
    case NGX_OK:
        if (json_object_get(json, "from") || json_object_get(json, "to")) {
            return "valid_days";    /* one way of validity, not both */
        }

        json_object_set_new(tpl, "valid_days", json_integer(n));
        return NULL;

    case NGX_ERROR:
        return "valid_days";
    }

    if (ngx_http_member_json_int(json, "from", 0,
                                 NGX_HTTP_MEMBER_COUPON_MAX_TS, &from, 1)
        != NGX_OK)
    {
        return "from";
    }

    if (ngx_http_member_json_int(json, "to", 0,
                                 NGX_HTTP_MEMBER_COUPON_MAX_TS, &to, 1)
        != NGX_OK
        || to <= from)
    {
        return "to";
    }

    json_object_set_new(tpl, "from", json_integer(from));
    json_object_set_new(tpl, "to", json_integer(to));

    return NULL;
}


static ngx_int_t
ngx_http_member_coupons_dump(ngx_http_request_t *r, json_t *value,
    ngx_str_t *out)
{
    char  *dump;

    dump = json_dumps(value, JSON_COMPACT);
    if (dump == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_strlen(dump);
    out->data = ngx_pnalloc(r->pool, out->len);

    if (out->data == NULL) {
        free(dump);
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, dump, out->len);
    free(dump);

    return NGX_OK;
}


static void
ngx_http_member_coupons_template_body(ngx_http_request_t *r)
{
    json_t       *json, *tpl;
    ngx_int_t     rc;
    ngx_str_t     keys[NGX_HTTP_MEMBER_COUPON_TEMPLATE_NKEYS];
    ngx_str_t     args[NGX_HTTP_MEMBER_COUPON_TEMPLATE_NARGV];
    const char   *field;

    json = ngx_http_member_body_json(r, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    tpl = json_object();
    if (tpl == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    field = ngx_http_member_coupons_validate(json, tpl);

    if (field) {
        json_decref(tpl);
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, field));
        return;
    }

    rc = ngx_http_member_coupons_dump(r, tpl,
                          &args[NGX_HTTP_MEMBER_COUPON_TEMPLATE_ARGV_TEMPLATE]);
    json_decref(tpl);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    keys[NGX_HTTP_MEMBER_COUPON_TEMPLATE_KEY_SEQ] = ngx_http_member_coupons_seq;
    keys[NGX_HTTP_MEMBER_COUPON_TEMPLATE_KEY_TEMPLATES] =
                                                    ngx_http_member_coupons_tpl;

    ngx_http_finalize_request(r,
        ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_COUPON_TEMPLATE,
                                     ngx_http_member_coupons_template_saved,
                                     keys, args, 0));
}


static ngx_int_t
ngx_http_member_coupons_template_saved(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char  *p, *start;

    if (reply->type != REDIS_REPLY_STRING || reply->len > 32) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    start = ngx_pnalloc(r->pool, 32 + reply->len);
    if (start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(start, "{\"template_id\":\"%*s\"}", (size_t) reply->len,
                    reply->str);

    return ngx_http_member_send_raw(r, NGX_HTTP_CREATED, NULL, start,
                                    p - start);
}


static int
ngx_http_member_coupons_id_cmp(const void *one, const void *two)
{
    const char  *a, *b;
    size_t       la, lb;

    a = json_string_value(json_object_get(*(json_t **) one, "template_id"));
    b = json_string_value(json_object_get(*(json_t **) two, "template_id"));
    la = a ? ngx_strlen(a) : 0;
    lb = b ? ngx_strlen(b) : 0;

    /* "t<n>": the shorter is the older */
    if (la != lb) {
        return la < lb ? -1 : 1;
    }

    return ngx_strcmp(a ? a : "", b ? b : "");
}


/*
 * An HGETALL's records as JSON objects, each with its field as id_name; a
 * record that is not JSON is logged and left out.
 */

static json_t **
ngx_http_member_coupons_records(ngx_http_request_t *r, redisReply *all,
    const char *id_name, const char *what, size_t *n)
{
    size_t         i;
    json_t       **items, *record;
    redisReply    *k, *v;
    json_error_t   err;

    items = ngx_palloc(r->pool, (all->elements / 2 + 1) * sizeof(json_t *));
    if (items == NULL) {
        return NULL;
    }

    for (i = 0, *n = 0; i + 1 < all->elements; i += 2) {
        k = all->element[i];
        v = all->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        record = json_loadb(v->str, v->len, 0, &err);
        if (record == NULL || !json_is_object(record)) {
            json_decref(record);
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "member: a %s is not JSON", what);
            continue;
        }

        json_object_set_new(record, id_name, json_stringn(k->str, k->len));
        items[(*n)++] = record;
    }

    return items;
}


/* {"items":[...]}: the records in their order, each reference dropped */

static ngx_int_t
ngx_http_member_coupons_items(ngx_http_request_t *r, json_t **items,
    size_t n)
{
    size_t   i;
    json_t  *list, *page;

    list = json_array();

    for (i = 0; i < n; i++) {
        if (list) {
            json_array_append(list, items[i]);
        }

        json_decref(items[i]);
    }

    page = list ? json_pack("{s:o}", "items", list) : NULL;
    if (page == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK, page);
}


static ngx_int_t
ngx_http_member_coupons_templates(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t    n;
    json_t  **items;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    items = ngx_http_member_coupons_records(r, reply, "template_id",
                                            "coupon template", &n);
    if (items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_qsort(items, n, sizeof(json_t *), ngx_http_member_coupons_id_cmp);

    return ngx_http_member_coupons_items(r, items, n);
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
                                      3, &ngx_http_member_coupons_hget,
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
                                             5,
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


/* the member's coupons: GET coupons, GET members/<id>/coupons */

ngx_int_t
ngx_http_member_coupons_list(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *must_exist, const char *missing)
{
    ngx_http_member_coupons_t  *cp;

    cp = ngx_http_member_coupons_state(r);
    if (cp == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cp->member = id;
    cp->must_exist = *must_exist;
    cp->missing = missing;

    return ngx_http_member_ledger_clock(r, ngx_http_member_coupons_list_at);
}


static ngx_int_t
ngx_http_member_coupons_list_at(ngx_http_request_t *r, time_t now)
{
    ngx_str_t                   keys[NGX_HTTP_MEMBER_COUPONS_NKEYS];
    ngx_str_t                   args[NGX_HTTP_MEMBER_COUPONS_NARGV];
    ngx_http_member_ctx_t      *ctx;
    ngx_http_member_coupons_t  *cp;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    cp = ctx->coupons;

    cp->time = now;
    keys[NGX_HTTP_MEMBER_COUPONS_KEY_MUST_EXIST] = cp->must_exist;

    if (ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_COUPONS_KEY_COUPONS],
                            cp->member, ":coupons")
        != NGX_OK
        || ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_COUPONS_KEY_USED],
                               cp->member, ":coupons:used")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_COUPONS_ARGV_MISSING].data = (u_char *) cp->missing;
    args[NGX_HTTP_MEMBER_COUPONS_ARGV_MISSING].len = ngx_strlen(cp->missing);

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_COUPONS,
                                        ngx_http_member_coupons_listed, keys,
                                        args,
                                        0);
}


/* usable first (soonest expiry first), then not yet valid, used, expired */

static int
ngx_http_member_coupons_cmp(const void *one, const void *two)
{
    json_t      *a, *b;
    json_int_t   ra, rb, ea, eb;

    a = *(json_t **) one;
    b = *(json_t **) two;

    ra = json_integer_value(json_object_get(a, "rank"));
    rb = json_integer_value(json_object_get(b, "rank"));

    if (ra != rb) {
        return ra < rb ? -1 : 1;
    }

    ea = json_integer_value(json_object_get(a, "expires_at"));
    eb = json_integer_value(json_object_get(b, "expires_at"));

    return ea < eb ? -1 : (ea > eb ? 1 : 0);
}


/* 0 usable, 1 not yet valid, 2 used (its order noted), 3 expired */

static json_int_t
ngx_http_member_coupons_rank(json_t *c, redisReply *used, time_t now)
{
    size_t       i, len;
    const char  *id;
    redisReply  *k, *v;

    id = json_string_value(json_object_get(c, "coupon_id"));
    len = json_string_length(json_object_get(c, "coupon_id"));

    for (i = 0; id && i + 1 < used->elements; i += 2) {
        k = used->element[i];
        v = used->element[i + 1];

        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING
            && k->len == len && ngx_strncmp(k->str, id, len) == 0)
        {
            json_object_set_new(c, "used_order", json_stringn(v->str, v->len));
            return 2;
        }
    }

    if (now >= json_integer_value(json_object_get(c, "expires_at"))) {
        return 3;
    }

    if (now < json_integer_value(json_object_get(c, "valid_from"))) {
        return 1;
    }

    return 0;
}


static ngx_int_t
ngx_http_member_coupons_listed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t                      i, n;
    json_t                    **items;
    json_int_t                  rank;
    ngx_http_member_ctx_t      *ctx;
    ngx_http_member_coupons_t  *cp;

    static const char  *statuses[] = { "usable", "pending", "used",
                                       "expired" };

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_ARRAY
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    cp = ctx->coupons;

    items = ngx_http_member_coupons_records(r, reply->element[0], "coupon_id",
                                            "coupon", &n);
    if (items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        rank = ngx_http_member_coupons_rank(items[i], reply->element[1],
                                            cp->time);
        json_object_set_new(items[i], "rank", json_integer(rank));
    }

    ngx_qsort(items, n, sizeof(json_t *), ngx_http_member_coupons_cmp);

    for (i = 0; i < n; i++) {
        rank = json_integer_value(json_object_get(items[i], "rank"));

        json_object_del(items[i], "rank");
        json_object_set_new(items[i], "status", json_string(statuses[rank]));
    }

    return ngx_http_member_coupons_items(r, items, n);
}
