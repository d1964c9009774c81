
/*
 * ngx_member: what the admin reads of the analytics' pass
 * (docs/analytics.md); the pass is ngx_http_member_analytics.c.
 *
 *   admin:  GET segments[?segment=<name>&cursor=&limit=]
 *           GET churn[?limit=]
 *           GET tags, GET tags/<tag>/members[?cursor=&limit=]
 *           GET members/<id> gains rfm, tags and churn_score
 */


#include "ngx_member_ledger.h"


const char  *ngx_http_member_segments[] = {
    "\xe9\x87\x8d\xe8\xa6\x81\xe4\xbb\xb7\xe5\x80\xbc\xe5\xae\xa2\xe6\x88\xb7",
    "\xe9\x87\x8d\xe8\xa6\x81\xe4\xbf\x9d\xe6\x8c\x81\xe5\xae\xa2\xe6\x88\xb7",
    "\xe9\x87\x8d\xe8\xa6\x81\xe5\x8f\x91\xe5\xb1\x95\xe5\xae\xa2\xe6\x88\xb7",
    "\xe9\x87\x8d\xe8\xa6\x81\xe6\x8c\xbd\xe7\x95\x99\xe5\xae\xa2\xe6\x88\xb7",
    "\xe4\xb8\x80\xe8\x88\xac\xe4\xbb\xb7\xe5\x80\xbc\xe5\xae\xa2\xe6\x88\xb7",
    "\xe4\xb8\x80\xe8\x88\xac\xe4\xbf\x9d\xe6\x8c\x81\xe5\xae\xa2\xe6\x88\xb7",
    "\xe4\xb8\x80\xe8\x88\xac\xe5\x8f\x91\xe5\xb1\x95\xe5\xae\xa2\xe6\x88\xb7",
    "\xe4\xb8\x80\xe8\x88\xac\xe6\x8c\xbd\xe7\x95\x99\xe5\xae\xa2\xe6\x88\xb7",
    NULL
};


/* admin: segments, churn, tags */

static ngx_int_t
ngx_http_member_analytics_sets(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    json_t                           *list, *one, *ids;
    size_t                            i, j;
    ngx_str_t                        *name;
    redisReply                       *page;
    ngx_http_member_ctx_t            *ctx;
    ngx_http_member_analytics_req_t  *q;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    q = ctx->analytics;

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 3 * q->nnames)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    list = json_array();
    if (list == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < reply->elements; i += 3) {
        name = &q->names[i / 3];
        page = reply->element[i + 2];

        if (reply->element[i]->type != REDIS_REPLY_INTEGER
            || reply->element[i + 1]->type != REDIS_REPLY_STRING
            || page->type != REDIS_REPLY_ARRAY)
        {
            json_decref(list);
            return ngx_http_member_reply_script_error(r, reply);
        }

        /* segments are the sets segment:<name> */
        one = json_pack("{s:s%,s:I}",
                        q->kind ? "name" : "tag",
                        name->data + (q->kind ? 8 : 0),
                        name->len - (q->kind ? 8 : 0),
                        "count", (json_int_t) reply->element[i]->integer);
        if (one == NULL) {
            json_decref(list);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (q->nargs) {
            ids = json_array();
            for (j = 0; ids && j < page->elements; j++) {
                json_array_append_new(ids,
                    json_stringn(page->element[j]->str,
                                 page->element[j]->len));
            }

            json_object_set_new(one, "members", ids ? ids : json_array());

            if (reply->element[i + 1]->len == 1
                && reply->element[i + 1]->str[0] == '0')
            {
                json_object_set_new(one, "next", json_null());

            } else {
                json_object_set_new(one, "next",
                    json_stringn(reply->element[i + 1]->str,
                                 reply->element[i + 1]->len));
            }
        }

        json_array_append_new(list, one);
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK, list);
}


/* tag_read.lua on the sets of q->names: {b}:tag:<name> each */

static ngx_int_t
ngx_http_member_analytics_read_sets(ngx_http_request_t *r,
    ngx_http_member_analytics_req_t *q)
{
    ngx_str_t   *keys;
    ngx_uint_t   i;

    keys = ngx_palloc(r->pool, (q->nnames + 1) * sizeof(ngx_str_t));
    if (keys == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < q->nnames; i++) {
        keys[i].len = sizeof("{b}:tag:") - 1 + q->names[i].len;
        keys[i].data = ngx_pnalloc(r->pool, keys[i].len);
        if (keys[i].data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf(keys[i].data, "{b}:tag:%V", &q->names[i]);
    }

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_TAG_READ,
                                        ngx_http_member_analytics_sets, keys,
                                        q->args, q->nnames);
}


static int ngx_libc_cdecl
ngx_http_member_analytics_name_cmp(const void *one, const void *two)
{
    ngx_int_t         rc;
    const ngx_str_t  *a = one, *b = two;

    rc = ngx_memcmp(a->data, b->data, ngx_min(a->len, b->len));

    if (rc == 0) {
        return (a->len > b->len) - (a->len < b->len);
    }

    return rc;
}


/*
 * GET tags: the automatic tags, then every manual tag in use ({b}:tags),
 * sorted; tag_read.lua reads the sets the names say
 */

static ngx_int_t
ngx_http_member_analytics_manual(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t                            i;
    ngx_uint_t                        n;
    ngx_http_member_ctx_t            *ctx;
    ngx_http_member_analytics_req_t  *q;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    q = ctx->analytics;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    for (n = 0; ngx_http_member_auto_tags[n]; n++) {
        /* void */
    }

    q->names = ngx_palloc(r->pool, (n + reply->elements) * sizeof(ngx_str_t));
    if (q->names == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (n = 0; ngx_http_member_auto_tags[n]; n++) {
        q->names[n].data = (u_char *) ngx_http_member_auto_tags[n];
        q->names[n].len = ngx_strlen(ngx_http_member_auto_tags[n]);
    }

    q->nnames = n;

    for (i = 0; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            continue;
        }

        q->names[n].len = reply->element[i]->len;
        q->names[n].data = ngx_pnalloc(r->pool, reply->element[i]->len + 1);
        if (q->names[n].data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(q->names[n].data, reply->element[i]->str,
                   reply->element[i]->len);
        n++;
    }

    ngx_qsort(&q->names[q->nnames], n - q->nnames, sizeof(ngx_str_t),
              ngx_http_member_analytics_name_cmp);
    q->nnames = n;

    return ngx_http_member_analytics_read_sets(r, q);
}


/*
 * GET segments (kind 1) and GET tags/<tag>/members: a page of each set;
 * GET tags: sizes only.  ?limit= ids a set (default 100), ?cursor= the
 * "next" of the page before, ?segment=<name> one segment only.
 */

static ngx_int_t
ngx_http_member_analytics_read(ngx_http_request_t *r, ngx_uint_t kind,
    ngx_str_t *tag, ngx_flag_t paged)
{
    u_char                           *p;
    ngx_str_t                         arg, cursor, segment, *args;
    ngx_uint_t                        i, n, limit;
    ngx_http_member_ctx_t            *ctx;
    ngx_http_member_analytics_req_t  *q;

    static ngx_str_t  smembers = ngx_string("SMEMBERS");

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_member_method_not_allowed(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    q = ngx_pcalloc(r->pool, sizeof(ngx_http_member_analytics_req_t));
    args = ngx_pcalloc(r->pool,
                       NGX_HTTP_MEMBER_TAG_READ_NARGV * sizeof(ngx_str_t));
    if (q == NULL || args == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->analytics = q;
    q->kind = kind;
    q->nargs = paged;

    if (ngx_http_member_arg_uint(r, "limit", 5, 100, 1000, &limit)
        != NGX_OK)
    {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "limit must be 1 to 1000");
    }

    ngx_str_set(&cursor, "0");

    if (ngx_http_arg(r, (u_char *) "cursor", 6, &arg) == NGX_OK) {
        if (arg.len == 0 || arg.len > 20
            || ngx_atoi(arg.data, arg.len) == NGX_ERROR)
        {
            return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST,
                                         "bad_request", "invalid cursor");
        }

        cursor = arg;
    }

    args[NGX_HTTP_MEMBER_TAG_READ_ARGV_COUNT].data =
                                            ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (args[NGX_HTTP_MEMBER_TAG_READ_ARGV_COUNT].data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_TAG_READ_ARGV_COUNT].len =
                   ngx_sprintf(args[NGX_HTTP_MEMBER_TAG_READ_ARGV_COUNT].data,
                               "%ui", paged ? limit : 0)
                   - args[NGX_HTTP_MEMBER_TAG_READ_ARGV_COUNT].data;
    args[NGX_HTTP_MEMBER_TAG_READ_ARGV_CURSOR] = cursor;
    q->args = args;

    if (tag) {
        q->names = tag;
        q->nnames = 1;

        return ngx_http_member_analytics_read_sets(r, q);
    }

    if (kind == 0) {
        return ngx_http_member_redis_command(r,
                                             ngx_http_member_analytics_manual,
                                             &smembers,
                                             &ngx_http_member_tags_key);
    }

    if (ngx_http_arg(r, (u_char *) "segment", 7, &arg) == NGX_OK) {
        p = ngx_pnalloc(r->pool, arg.len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        tag = &segment;
        tag->data = p;
        ngx_unescape_uri(&p, &arg.data, arg.len, NGX_UNESCAPE_URI);
        tag->len = p - tag->data;
    }

    q->names = ngx_palloc(r->pool, 8 * sizeof(ngx_str_t));
    if (q->names == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;

    for (i = 0; ngx_http_member_segments[i]; i++) {
        if (tag && (tag->len != ngx_strlen(ngx_http_member_segments[i])
                    || ngx_strncmp(tag->data, ngx_http_member_segments[i],
                                   tag->len) != 0))
        {
            continue;
        }

        q->names[n].len = 8 + ngx_strlen(ngx_http_member_segments[i]);
        q->names[n].data = ngx_pnalloc(r->pool, q->names[n].len);
        if (q->names[n].data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf(q->names[n].data, "segment:%s",
                    ngx_http_member_segments[i]);
        n++;
    }

    if (n == 0) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such segment");
    }

    q->nnames = n;

    return ngx_http_member_analytics_read_sets(r, q);
}


static ngx_int_t
ngx_http_member_analytics_churned(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    json_t  *list, *one;
    size_t   i;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    list = json_array();
    if (list == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < reply->elements; i += 2) {
        if (reply->element[i]->type != REDIS_REPLY_STRING
            || reply->element[i + 1]->type != REDIS_REPLY_STRING)
        {
            continue;
        }

        one = json_pack("{s:s%,s:I}", "member_id", reply->element[i]->str,
                        reply->element[i]->len, "score",
                        (json_int_t) ngx_atoi(
                            (u_char *) reply->element[i + 1]->str,
                            reply->element[i + 1]->len));
        if (one) {
            json_array_append_new(list, one);
        }
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK, list);
}


ngx_int_t
ngx_http_member_analytics_churn(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    ngx_str_t   zero, stop, withscores;
    ngx_uint_t  limit;

    static ngx_str_t  zrevrange = ngx_string("ZREVRANGE");

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_member_method_not_allowed(r);
    }

    if (ngx_http_member_arg_uint(r, "limit", 5, 100, 1000, &limit)
        != NGX_OK)
    {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "limit must be 1 to 1000");
    }

    stop.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (stop.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    stop.len = ngx_sprintf(stop.data, "%ui", limit - 1) - stop.data;
    ngx_str_set(&zero, "0");
    ngx_str_set(&withscores, "WITHSCORES");

    return ngx_http_member_redis_command(r, ngx_http_member_analytics_churned,
                                         &zrevrange,
                                         &ngx_http_member_churn_key, &zero,
                                         &stop, &withscores);
}


/* GET segments, tags, tags/<tag>/members */

ngx_int_t
ngx_http_member_analytics_segments(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_analytics_read(r, 1, NULL, 1);
}


ngx_int_t
ngx_http_member_analytics_tags_all(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_analytics_read(r, 0, NULL, 0);
}


ngx_int_t
ngx_http_member_analytics_tag_members(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_analytics_read(r, 0, &m->capture[0], 1);
}


/* GET members/<id>: rfm, tags and churn_score out of the hash's fields */

static ngx_int_t
ngx_http_member_analytics_field(json_t *record, const char *name,
    ngx_int_t *out)
{
    json_t      *v;
    ngx_int_t    n;
    const char  *s;

    v = json_object_get(record, name);

    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return NGX_OK;
    }

    if (!json_is_string(v)) {
        return NGX_DECLINED;
    }

    s = json_string_value(v);
    n = ngx_atoi((u_char *) s, json_string_length(v));

    if (n == NGX_ERROR) {
        return NGX_DECLINED;
    }

    *out = n;

    return NGX_OK;
}


static void
ngx_http_member_analytics_split(json_t *record, const char *name,
    json_t *tags)
{
    json_t      *v;
    const char  *p, *last, *comma;

    v = json_object_get(record, name);
    if (!json_is_string(v)) {
        return;
    }

    p = json_string_value(v);
    last = p + json_string_length(v);

    while (p < last) {
        comma = (const char *) ngx_strlchr((u_char *) p, (u_char *) last, ',');
        if (comma == NULL) {
            comma = last;
        }

        if (comma > p) {
            json_array_append_new(tags, json_stringn(p, comma - p));
        }

        p = comma + 1;
    }

    json_object_del(record, name);
}


ngx_int_t
ngx_http_member_analytics_record(ngx_http_request_t *r, json_t *record)
{
    time_t                        now;
    json_t                       *rfm, *tags, *v;
    ngx_int_t                     n, orders, last;
    ngx_uint_t                    i;
    ngx_http_member_loc_conf_t   *mlcf;

    static const char  *scores[] = { "rfm_r", "r", "rfm_f", "f",
                                     "rfm_m", "m", NULL };

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);
    now = ngx_http_member_ledger_now(mlcf->redis ? mlcf->redis->ledger
                                                 : NULL);

    tags = json_array();
    if (tags == NULL) {
        return NGX_ERROR;
    }

    ngx_http_member_analytics_split(record, "tags", tags);
    ngx_http_member_analytics_split(record, "tags_auto", tags);
    json_object_set_new(record, "tags", tags);

    v = (ngx_http_member_analytics_field(record, "churn_score", &n) == NGX_OK)
        ? json_integer(n) : json_null();
    json_object_set_new(record, "churn_score", v);

    if (ngx_http_member_analytics_field(record, "orders", &orders) != NGX_OK
        || orders == 0
        || ngx_http_member_analytics_field(record, "last_purchase_ts", &last)
           != NGX_OK)
    {
        json_object_set_new(record, "rfm", json_null());
        goto done;
    }

    if (ngx_http_member_analytics_field(record, "spend_fen", &n) != NGX_OK) {
        n = 0;
    }

    rfm = json_pack("{s:I,s:I,s:I}",
                    "recency_days",
                    (json_int_t) (now > last ? (now - last) / 86400 : 0),
                    "frequency", (json_int_t) orders,
                    "monetary_fen", (json_int_t) n);
    if (rfm == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; scores[i]; i += 2) {
        v = (ngx_http_member_analytics_field(record, scores[i], &n) == NGX_OK)
            ? json_integer(n) : json_null();
        json_object_set_new(rfm, scores[i + 1], v);
    }

    v = json_object_get(record, "rfm_segment");
    json_object_set(rfm, "segment", json_is_string(v) ? v : json_null());

    json_object_set_new(record, "rfm", rfm);

done:

    for (i = 0; scores[i]; i += 2) {
        json_object_del(record, scores[i]);
    }

    json_object_del(record, "rfm_segment");

    return NGX_OK;
}
