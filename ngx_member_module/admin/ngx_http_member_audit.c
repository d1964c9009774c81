
/*
 * ngx_member: the audit of the admin API.
 *
 *   GET    audit?actor=&target=&limit=&before=   newest first
 *
 * A change that succeeds (a 2xx answer to anything but a read, on a row
 * with an audit) is added to the stream {b}:audit in the background: the
 * answer never waits for it, and a failed write is logged.  What an entry
 * keeps of the answer is the row's audit function's: ids, amounts and
 * states, never a secret or personal data.
 */


#include "ngx_member_admin.h"


#define NGX_HTTP_MEMBER_AUDIT_MAXLEN    "1000000"
#define NGX_HTTP_MEMBER_AUDIT_BUDGET    5000


static ngx_int_t ngx_http_member_audit_xadd(ngx_http_member_redis_t *redis,
    ngx_http_member_admin_auth_t *aa, ngx_str_t *method, ngx_str_t *target,
    ngx_str_t *status, ngx_str_t *at, ngx_str_t *before, ngx_str_t *after);
static ngx_int_t ngx_http_member_audit_paged(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static json_t *ngx_http_member_audit_fields_of(json_t *answer);
static void ngx_http_member_audit_written(ngx_http_member_redis_t *redis,
    void *data, redisReply *reply);


/* fields of an answer an audit entry keeps: no secret, no personal data */
static const char  *ngx_http_member_audit_names[] = {
    "points", "level", "status", "version", "delta", "role", "count",
    "issued", "from", "to", NULL
};


static ngx_str_t  ngx_http_member_audit_key = ngx_string("{b}:audit");


/* GET audit: ?actor=<key id|bootstrap>&target=<route>&limit=&before= */

static ngx_int_t
ngx_http_member_audit_arg(ngx_http_request_t *r, char *name, size_t len,
    size_t max, ngx_str_t *out)
{
    u_char  *p, *dst;

    if (ngx_http_arg(r, (u_char *) name, len, out) != NGX_OK) {
        ngx_str_set(out, "");
        return NGX_OK;
    }

    if (out->len == 0 || out->len > 3 * max) {
        return NGX_ERROR;
    }

    p = out->data;
    dst = ngx_pnalloc(r->pool, out->len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    out->data = dst;
    ngx_unescape_uri(&dst, &p, out->len, 0);
    out->len = dst - out->data;

    return (out->len && out->len <= max) ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_member_audit_page(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    u_char                 *p;
    ngx_str_t               args[NGX_HTTP_MEMBER_AUDIT_PAGE_NARGV], cursor;
    ngx_uint_t              limit;
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (ngx_http_member_arg_uint(r, "limit", 5, NGX_HTTP_MEMBER_PAGE_DEFAULT,
                                 NGX_HTTP_MEMBER_PAGE_MAX, &limit)
        != NGX_OK
        || ngx_http_member_arg_cursor(r, &cursor) != NGX_OK
        || ngx_http_member_audit_arg(r, "actor", 5, 64,
                                   &args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_ACTOR])
           != NGX_OK
        || ngx_http_member_audit_arg(r, "target", 6, 200,
                                  &args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_TARGET])
           != NGX_OK)
    {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "limit must be 1 to 100, before an "
                                     "entry id, actor and target short");
    }

    p = ngx_pnalloc(r->pool, cursor.len + 1 + 2 * NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_member_range_start(p, &cursor,
                                  &args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_START]);

    args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_LIMIT].data = p;
    p = ngx_sprintf(p, "%ui", limit);
    args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_LIMIT].len =
                           p - args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_LIMIT].data;

    args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_BUDGET].data = p;
    args[NGX_HTTP_MEMBER_AUDIT_PAGE_ARGV_BUDGET].len =
                         ngx_sprintf(p, "%d", NGX_HTTP_MEMBER_AUDIT_BUDGET) - p;

    ctx->limit = limit;

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_AUDIT_PAGE,
                                        ngx_http_member_audit_paged,
                                        &ngx_http_member_audit_key, args,
                                        0);
}


static json_t *
ngx_http_member_audit_item(redisReply *e)
{
    size_t        i;
    json_t       *item, *v;
    redisReply   *f, *name, *value;
    json_error_t  err;

    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
        || e->element[0]->type != REDIS_REPLY_STRING
        || e->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return NULL;
    }

    item = json_object();
    if (item == NULL) {
        return NULL;
    }

    json_object_set_new(item, "id", json_stringn(e->element[0]->str,
                                                 e->element[0]->len));
    f = e->element[1];

    for (i = 0; i + 1 < f->elements; i += 2) {
        name = f->element[i];
        value = f->element[i + 1];

        if (name->type != REDIS_REPLY_STRING
            || value->type != REDIS_REPLY_STRING)
        {
            continue;
        }

        if ((name->len == 6 && ngx_strncmp(name->str, "before", 6) == 0)
            || (name->len == 5 && ngx_strncmp(name->str, "after", 5) == 0))
        {
            v = value->len ? json_loadb(value->str, value->len, 0, &err)
                           : NULL;
            v = v ? v : json_null();

        } else if ((name->len == 6 && ngx_strncmp(name->str, "status", 6) == 0)
                   || (name->len == 2 && ngx_strncmp(name->str, "at", 2) == 0))
        {
            v = json_integer(ngx_atoi((u_char *) value->str, value->len));

        } else {
            v = json_stringn(value->str, value->len);
        }

        json_object_setn_new(item, name->str, name->len, v);
    }

    return item;
}


static ngx_int_t
ngx_http_member_audit_paged(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t                  i;
    json_t                 *items, *item, *next;
    redisReply             *entries, *e;
    ngx_http_member_ctx_t  *ctx;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member admin: audit page read: %d", reply->type);

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    entries = reply->element[1];
    items = json_array();
    if (items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    next = json_null();

    for (i = 0; i < entries->elements; i++) {
        e = entries->element[i];

        if (i == ctx->limit) {
            /* one more than the page: the page's last id goes on */
            json_decref(next);
            next = json_string(json_string_value(
                       json_object_get(json_array_get(items,
                                                json_array_size(items) - 1),
                                       "id")));
            break;
        }

        item = ngx_http_member_audit_item(e);
        if (item) {
            json_array_append_new(items, item);
        }
    }

    /* the scan stopped before the page filled: go on from there */
    if (json_is_null(next) && reply->element[0]->len) {
        next = json_stringn(reply->element[0]->str, reply->element[0]->len);
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK,
                                     json_pack("{s:o,s:o}", "items", items,
                                               "next", next));
}


/* a handler's own before and after (the references are the audit's) */

void
ngx_http_member_audit_set(ngx_http_request_t *r, json_t *before,
    json_t *after)
{
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_admin_auth_t  *aa;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    aa = ctx ? ctx->auth : NULL;

    if (aa == NULL) {
        json_decref(before);
        json_decref(after);
        return;
    }

    json_decref(aa->before);
    json_decref(aa->after);

    aa->before = before;
    aa->after = after;
}


void
ngx_http_member_audit_level(json_t *answer, json_t **before, json_t **after)
{
    *before = json_pack("{s:O?}", "level", json_object_get(answer, "from"));
    *after = json_pack("{s:O?}", "level", json_object_get(answer, "level"));
}


void
ngx_http_member_audit_points(json_t *answer, json_t **before, json_t **after)
{
    json_int_t  points, delta;

    points = json_integer_value(json_object_get(answer, "points"));
    delta = json_integer_value(json_object_get(answer, "delta"));

    *before = json_pack("{s:I}", "points", points - delta);
    *after = json_pack("{s:I}", "points", points);
}


void
ngx_http_member_audit_recharge(json_t *answer, json_t **before, json_t **after)
{
    json_int_t  balance, amount, bonus;

    balance = json_integer_value(json_object_get(answer, "balance_fen"));
    amount = json_integer_value(json_object_get(answer, "amount_fen"));
    bonus = json_integer_value(json_object_get(answer, "bonus_fen"));

    *before = json_pack("{s:I}", "balance_fen", balance - amount - bonus);
    *after = json_pack("{s:I,s:I,s:I}", "balance_fen", balance,
                       "amount_fen", amount, "bonus_fen", bonus);
}


void
ngx_http_member_audit_refund(json_t *answer, json_t **before,
    json_t **after)
{
    json_int_t  balance, refunded, bonus;

    balance = json_integer_value(json_object_get(answer, "balance_fen"));
    refunded = json_integer_value(json_object_get(answer, "refunded_fen"));
    bonus = json_integer_value(json_object_get(answer, "bonus_fen"));

    *before = json_pack("{s:I}", "balance_fen", balance + refunded + bonus);
    *after = json_pack("{s:I,s:I,s:I}", "balance_fen", balance,
                       "refunded_fen", refunded, "bonus_fen", bonus);
}


void
ngx_http_member_audit_rules(json_t *answer, json_t **before, json_t **after)
{
    json_int_t  version;

    version = json_integer_value(json_object_get(answer, "version"));

    /* GET rules?version=N shows each version whole */
    *before = version > 1 ? json_pack("{s:I}", "version", version - 1)
                          : NULL;
    *after = json_pack("{s:I}", "version", version);
}


/* the answer's ids, amounts and states: never a secret or personal data */

void
ngx_http_member_audit_fields(json_t *answer, json_t **before, json_t **after)
{
    *after = ngx_http_member_audit_fields_of(answer);
}


static json_t *
ngx_http_member_audit_fields_of(json_t *answer)
{
    size_t        len;
    json_t       *out, *v;
    const char   *name, **f;

    out = json_object();

    json_object_foreach(answer, name, v) {
        if (!(json_is_integer(v) || json_is_string(v) || json_is_boolean(v))) {
            continue;
        }

        len = ngx_strlen(name);

        if ((len > 3 && ngx_strcmp(name + len - 3, "_id") == 0)
            || (len > 4 && ngx_strcmp(name + len - 4, "_fen") == 0))
        {
            json_object_set(out, name, v);
            continue;
        }

        for (f = ngx_http_member_audit_names; *f; f++) {
            if (ngx_strcmp(name, *f) == 0) {
                json_object_set(out, name, v);
            }
        }
    }

    if (out && json_object_size(out) == 0) {
        json_decref(out);
        return NULL;
    }

    return out;
}


/* "members/12": the route's first two segments, or what it created */

static void
ngx_http_member_audit_target(ngx_http_request_t *r,
    ngx_http_member_admin_auth_t *aa, json_t *answer, ngx_str_t *target)
{
    u_char      *slash, *last;
    json_t      *v;
    const char  *name;

    last = aa->route.data + aa->route.len;
    slash = ngx_strlchr(aa->route.data, last, '/');

    if (slash) {
        slash = ngx_strlchr(slash + 1, last, '/');
        target->data = aa->route.data;
        target->len = (slash ? slash : last) - aa->route.data;
        return;
    }

    *target = aa->route;

    json_object_foreach(answer, name, v) {
        if (!json_is_string(v) || ngx_strlen(name) <= 3
            || ngx_strcmp(name + ngx_strlen(name) - 3, "_id") != 0
            || ngx_strcmp(name, "transaction_id") == 0)
        {
            continue;
        }

        target->data = ngx_pnalloc(r->pool,
                                   aa->route.len + 1 + json_string_length(v));
        if (target->data == NULL) {
            *target = aa->route;
            return;
        }

        target->len = ngx_sprintf(target->data, "%V/%s", &aa->route,
                                  json_string_value(v))
                      - target->data;
        return;
    }
}


static ngx_int_t
ngx_http_member_audit_dump(ngx_pool_t *pool, json_t *value, ngx_str_t *out)
{
    size_t  len;

    ngx_str_set(out, "");

    if (value == NULL) {
        return NGX_OK;
    }

    len = json_dumpb(value, NULL, 0, JSON_COMPACT);

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = json_dumpb(value, (char *) out->data, len, JSON_COMPACT);

    return NGX_OK;
}


/*
 * Called with every answer of the module (ngx_http_member_send_raw): an
 * admin change that succeeded goes to the audit stream, in the background.
 */

void
ngx_http_member_audit_answer(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len)
{
    u_char                         num[2 * NGX_INT_T_LEN], *p;
    json_t                        *answer, *before, *after;
    ngx_int_t                      rc;
    ngx_str_t                      target, b, a, method, code, at;
    json_error_t                   err;
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_loc_conf_t    *mlcf;
    ngx_http_member_admin_auth_t  *aa;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    aa = ctx ? ctx->auth : NULL;

    if (aa == NULL || !aa->change || aa->recorded
        || status < NGX_HTTP_OK || status >= NGX_HTTP_SPECIAL_RESPONSE)
    {
        return;
    }

    aa->recorded = 1;

    answer = json_loadb((char *) data, len, 0, &err);
    if (answer == NULL) {
        answer = json_object();
    }

    before = aa->before ? json_incref(aa->before) : NULL;
    after = aa->after ? json_incref(aa->after) : NULL;

    if (before == NULL && after == NULL) {
        aa->row->audit(answer, &before, &after);
    }

    ngx_http_member_audit_target(r, aa, answer, &target);

    rc = ngx_http_member_audit_dump(r->pool, before, &b);

    if (rc == NGX_OK) {
        rc = ngx_http_member_audit_dump(r->pool, after, &a);
    }

    json_decref(answer);
    json_decref(before);
    json_decref(after);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: audit of \"%V %V\" not written: no memory",
                      &r->method_name, &aa->route);
        return;
    }

    method = r->method_name;

    p = ngx_sprintf(num, "%ui", status);
    code.data = num;
    code.len = p - num;
    at.data = p;
    at.len = ngx_sprintf(p, "%T", ngx_time()) - p;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    /* the answer goes out whatever becomes of this */
    if (ngx_http_member_audit_xadd(mlcf->redis, aa, &method, &target, &code,
                                   &at, &b, &a)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: audit of \"%V %V\" not written: redis \"%V\" "
                      "not connected", &method, &aa->route,
                      &mlcf->redis->name);
    }
}


/* the audit entry, one XADD: its fields by name */

static ngx_int_t
ngx_http_member_audit_xadd(ngx_http_member_redis_t *redis,
    ngx_http_member_admin_auth_t *aa, ngx_str_t *method, ngx_str_t *target,
    ngx_str_t *status, ngx_str_t *at, ngx_str_t *before, ngx_str_t *after)
{
    ngx_str_t  argv[] = {
        ngx_string("XADD"), ngx_http_member_audit_key,
        ngx_string("MAXLEN"), ngx_string("~"),
        ngx_string(NGX_HTTP_MEMBER_AUDIT_MAXLEN), ngx_string("*"),
        ngx_string("actor"), aa->actor,
        ngx_string("role"), aa->role,
        ngx_string("method"), *method,
        ngx_string("route"), aa->route,
        ngx_string("target"), *target,
        ngx_string("status"), *status,
        ngx_string("at"), *at,
        ngx_string("before"), *before,
        ngx_string("after"), *after
    };

    return ngx_http_member_redis_bg_argv(redis, ngx_http_member_audit_written,
                                         NULL, ngx_http_member_nelts(argv),
                                         argv);
}


static void
ngx_http_member_audit_written(ngx_http_member_redis_t *redis, void *data,
    redisReply *reply)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member admin: audit entry written: %d",
                   reply ? reply->type : 0);

    if (reply == NULL) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "member: audit entry not written: redis \"%V\" went "
                      "away", &redis->name);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "member: audit entry not written: %*s",
                      (size_t) reply->len, reply->str);
    }
}
