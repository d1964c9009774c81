
/*
 * ngx_member: a member's manual tags (docs/analytics.md, "Tags").
 *
 *   admin:  POST members/<id>/tags {"add":[..],"remove":[..]}
 *
 * The automatic tags are the pass's (ngx_http_member_analytics.c); a
 * manual tag may not take their names.
 */


#include "ngx_member_ledger.h"


#define NGX_HTTP_MEMBER_TAGS_MAX          20


/* the automatic tags: no manual tag may take their names */
const char  *ngx_http_member_auto_tags[] = {
    "new", "high_value", "lapsing", "birthday_month", NULL
};


/* POST members/<id>/tags {"add":[..],"remove":[..]} */

static ngx_int_t
ngx_http_member_tag_valid(json_t *v)
{
    size_t       i, len;
    const char  *s, **a;
    u_char       c;

    if (!json_is_string(v)) {
        return 0;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    if (len == 0 || len > NGX_HTTP_MEMBER_TAG_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = s[i];

        /* letters, digits, - _ . and any non-ASCII character */
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'
              || c >= 0x80))
        {
            return 0;
        }
    }

    for (a = ngx_http_member_auto_tags; *a; a++) {
        if (ngx_strlen(*a) == len && ngx_strncmp(*a, s, len) == 0) {
            return 0;
        }
    }

    return !(len >= 7 && ngx_strncmp(s, "segment", 7) == 0);
}


static ngx_int_t
ngx_http_member_analytics_tag_list(ngx_http_request_t *r, json_t *json,
    const char *name, ngx_str_t *args, ngx_uint_t *n)
{
    json_t  *list, *v;
    size_t   i;

    list = json_object_get(json, name);
    if (list == NULL) {
        return NGX_OK;
    }

    if (!json_is_array(list) || json_array_size(list) > NGX_HTTP_MEMBER_TAGS_MAX)
    {
        return NGX_ERROR;
    }

    json_array_foreach(list, i, v) {
        if (!ngx_http_member_tag_valid(v)) {
            return NGX_ERROR;
        }

        args[*n].data = (u_char *) json_string_value(v);
        args[*n].len = json_string_length(v);
        (*n)++;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_analytics_tags_set(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                           *p, *last, *comma;
    json_t                           *tags;
    ngx_http_member_ctx_t            *ctx;
    ngx_http_member_analytics_req_t  *q;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    q = ctx->analytics;

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    tags = json_array();
    if (tags == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = q->tags.data;
    last = p + q->tags.len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        if (comma > p) {
            json_array_append_new(tags, json_stringn((char *) p, comma - p));
        }

        p = comma + 1;
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK,
                                     json_pack("{s:s%,s:o}", "member_id",
                                               q->key.data + 3,
                                               q->key.len - 4, "tags", tags));
}


static ngx_int_t
ngx_http_member_analytics_tagged(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                           *p;
    size_t                            len;
    ngx_str_t                        *keys, *key, *name;
    ngx_str_t                         args[NGX_HTTP_MEMBER_TAG_SETS_NARGV];
    ngx_uint_t                        i, nsets;
    ngx_http_member_ctx_t            *ctx;
    ngx_http_member_analytics_req_t  *q;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    q = ctx->analytics;

    if (ngx_http_member_redis_is_error(reply, "TOO_MANY_TAGS")) {
        return ngx_http_member_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "too_many_tags",
                                     "a member has at most 20 tags");
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    q->tags.len = reply->len;
    q->tags.data = ngx_pnalloc(r->pool, reply->len + 1);
    if (q->tags.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(q->tags.data, reply->str, reply->len);

    /*
     * the brand's sets: {b}:tags, then the set of each added tag and of
     * each removed one; the member id and the added names
     */
    nsets = q->nargs - NGX_HTTP_MEMBER_TAGS_NARGV;

    keys = ngx_palloc(r->pool, (NGX_HTTP_MEMBER_TAG_SETS_NKEYS + nsets)
                               * sizeof(ngx_str_t));
    if (keys == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    keys[NGX_HTTP_MEMBER_TAG_SETS_KEY_TAGS] = ngx_http_member_tags_key;
    len = 0;

    for (i = 0; i < nsets; i++) {
        name = &q->args[NGX_HTTP_MEMBER_TAGS_ARGV_NAMES + i];
        key = &keys[NGX_HTTP_MEMBER_TAG_SETS_KEY_SETS + i];

        key->len = sizeof("{b}:tag:") - 1 + name->len;
        key->data = ngx_pnalloc(r->pool, key->len);
        if (key->data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf(key->data, "{b}:tag:%V", name);

        if (i < q->nadd) {
            len += name->len + 1;
        }
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_TAG_SETS_ARGV_MEMBER_ID].data = q->key.data + 3;
    args[NGX_HTTP_MEMBER_TAG_SETS_ARGV_MEMBER_ID].len = q->key.len - 4;
    args[NGX_HTTP_MEMBER_TAG_SETS_ARGV_ADDED].data = p;

    for (i = 0; i < q->nadd; i++) {
        if (i) {
            *p++ = ',';
        }

        name = &q->args[NGX_HTTP_MEMBER_TAGS_ARGV_NAMES + i];
        p = ngx_cpymem(p, name->data, name->len);
    }

    args[NGX_HTTP_MEMBER_TAG_SETS_ARGV_ADDED].len =
                         p - args[NGX_HTTP_MEMBER_TAG_SETS_ARGV_ADDED].data;

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_TAG_SETS,
                                        ngx_http_member_analytics_tags_set,
                                        keys, args, nsets);
}


static void
ngx_http_member_analytics_tags_body(ngx_http_request_t *r)
{
    json_t                           *json;
    ngx_int_t                         rc;
    ngx_uint_t                        n;
    ngx_http_member_ctx_t            *ctx;
    ngx_http_member_analytics_req_t  *q;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    q = ctx->analytics;

    json = ngx_http_member_body_json(r, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    /* tags.lua's ARGV: how many to add, the adds, the removes */
    q->args = ngx_pcalloc(r->pool,
                          (NGX_HTTP_MEMBER_TAGS_NARGV
                           + 2 * NGX_HTTP_MEMBER_TAGS_MAX)
                          * sizeof(ngx_str_t));
    if (q->args == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    n = NGX_HTTP_MEMBER_TAGS_NARGV;

    if (!json_is_object(json)
        || ngx_http_member_analytics_tag_list(r, json, "add", q->args, &n)
           != NGX_OK)
    {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "add"));
        return;
    }

    q->nadd = n - NGX_HTTP_MEMBER_TAGS_NARGV;

    if (ngx_http_member_analytics_tag_list(r, json, "remove", q->args, &n)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "remove"));
        return;
    }

    if (n == NGX_HTTP_MEMBER_TAGS_NARGV) {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "add"));
        return;
    }

    q->nargs = n;
    if (ngx_http_member_int_arg(r->pool,
                                &q->args[NGX_HTTP_MEMBER_TAGS_ARGV_NADD],
                                q->nadd)
        == NULL)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_TAGS,
                                     ngx_http_member_analytics_tagged, &q->key,
                                     q->args, n - NGX_HTTP_MEMBER_TAGS_NARGV));
}


ngx_int_t
ngx_http_member_analytics_tags(ngx_http_request_t *r, uint64_t id)
{
    ngx_http_member_ctx_t            *ctx;
    ngx_http_member_analytics_req_t  *q;

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_member_method_not_allowed(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    q = ngx_pcalloc(r->pool, sizeof(ngx_http_member_analytics_req_t));
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->analytics = q;
    q->id = id;

    if (ngx_http_member_key(r->pool, &q->key, id, "") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_read_json(r, ngx_http_member_analytics_tags_body);
}
