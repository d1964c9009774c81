
/*
 * ngx_member: coupons (docs/ledger.md, "Coupons").
 *
 *   admin:  POST coupons/templates {...}      201 {"template_id"}
 *           GET  coupons/templates            the brand's templates
 *           GET  members/<id>/coupons         that member's coupons
 *   member: GET  coupons                      the member's, usable first
 *
 * Templates are brand-wide ({b}:coupon:tpl); an issue copies a template's
 * terms into members' {m:<id>}:coupons (ngx_http_member_coupons_issue.c).
 * The till spends a coupon inside pay.lua and a refund gives it back.
 */


#include "ngx_member_ledger.h"


#define NGX_HTTP_MEMBER_COUPON_DAYS     3650
#define NGX_HTTP_MEMBER_COUPON_MAX_TS   4102444800LL    /* 2100-01-01 */


static void ngx_http_member_coupons_template_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_coupons_template_saved(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_coupons_templates(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_coupons_list_at(ngx_http_request_t *r,
    time_t now);
static ngx_int_t ngx_http_member_coupons_listed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);


ngx_str_t  ngx_http_member_coupons_tpl = ngx_string("{b}:coupon:tpl");
static ngx_str_t  ngx_http_member_coupons_seq = ngx_string("{b}:coupon:seq");


ngx_http_member_coupons_t *
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


void
ngx_http_member_coupons_cleanup(void *data)
{
    ngx_http_member_coupons_t  *cp = data;

    json_decref(cp->tpl);
}


/* the admin API's coupons/templates */

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
                                         &ngx_http_member_cmd_hgetall,
                                         &ngx_http_member_coupons_tpl);
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


ngx_int_t
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
