
/*
 * ngx_member: the stores' ledgers (docs/ledger.md, "Brand totals: the
 * fold"): a copy of every ledger entry made at a store, in the store's own
 * slot, {s:<store>}:ledger.  The fold writes them (store_copy.lua, before
 * fold.lua: ngx_http_member_fold.c); the admin reads them, with the copies
 * the fold made in the brand's slot before, {b}:store:<store>:ledger.
 *
 *   admin:  GET stores/<id>/transactions     the store's ledger, paged
 */


#include "ngx_member_ledger.h"


/*
 * The fold's copies: a member's entries at the store of entry "first",
 * store_copy.lua on the store's slot, answered to handler.  An entry's id
 * in fold.lua's ARGV at at[i] is followed by its day, its count of pairs
 * and the pairs; the copy takes all but the day.
 */

ngx_int_t
ngx_http_member_fold_copy_store(ngx_http_member_job_t *job,
    ngx_http_member_job_reply_pt handler, ngx_uint_t ix, ngx_pool_t *pool,
    ngx_str_t *fargs, ngx_uint_t *at, ngx_str_t *stores, ngx_uint_t first,
    ngx_uint_t n)
{
    u_char      *p;
    ngx_str_t   *store, *args, *e, *k;
    ngx_str_t    keys[NGX_HTTP_MEMBER_STORE_COPY_NKEYS];
    ngx_uint_t   i, nargs, count, pairs;

    store = &stores[first];
    nargs = NGX_HTTP_MEMBER_STORE_COPY_NARGV;
    count = 0;

    for (i = first; i < n; i++) {
        if (stores[i].len == store->len
            && ngx_memcmp(stores[i].data, store->data, store->len) == 0)
        {
            nargs += 2 + 2 * ngx_atoi(fargs[at[i] + 2].data,
                                      fargs[at[i] + 2].len);
            count++;
        }
    }

    args = ngx_palloc(pool, nargs * sizeof(ngx_str_t));
    p = ngx_pnalloc(pool, 2 * (sizeof("{s:}:copied") + store->len)
                          + NGX_INT_T_LEN);

    if (args == NULL || p == NULL) {
        return NGX_ERROR;
    }

    k = &keys[NGX_HTTP_MEMBER_STORE_COPY_KEY_LEDGER];
    k->data = p;
    p = ngx_sprintf(p, "{s:%V}:ledger", store);
    k->len = p - k->data;

    k = &keys[NGX_HTTP_MEMBER_STORE_COPY_KEY_COPIED];
    k->data = p;
    p = ngx_sprintf(p, "{s:%V}:copied", store);
    k->len = p - k->data;

    args[NGX_HTTP_MEMBER_STORE_COPY_ARGV_MEMBER_ID] =
                                   fargs[NGX_HTTP_MEMBER_FOLD_ARGV_MEMBER_ID];
    args[NGX_HTTP_MEMBER_STORE_COPY_ARGV_ENTRIES].data = p;
    args[NGX_HTTP_MEMBER_STORE_COPY_ARGV_ENTRIES].len =
                                           ngx_sprintf(p, "%ui", count) - p;

    nargs = NGX_HTTP_MEMBER_STORE_COPY_ARGV_ENTRY;

    for (i = first; i < n; i++) {
        if (stores[i].len != store->len
            || ngx_memcmp(stores[i].data, store->data, store->len) != 0)
        {
            continue;
        }

        /* id, n, the pairs: fold.lua's entry without its day */
        e = &fargs[at[i]];
        pairs = ngx_atoi(e[2].data, e[2].len);

        args[nargs++] = e[0];
        ngx_memcpy(&args[nargs], &e[2], (1 + 2 * pairs) * sizeof(ngx_str_t));
        nargs += 1 + 2 * pairs;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, job->redis->log, 0,
                   "member: fold copies %ui entries of member %V "
                   "to store \"%V\"", count,
                   &fargs[NGX_HTTP_MEMBER_FOLD_ARGV_MEMBER_ID], store);

    return ngx_http_member_job_script(job, handler, ix,
                                      NGX_HTTP_MEMBER_SCRIPT_STORE_COPY,
                                      NGX_HTTP_MEMBER_BG_SOURCE, keys, 0,
                                      args,
                                      nargs - NGX_HTTP_MEMBER_STORE_COPY_NARGV);
}


/*
 * GET stores/<id>/transactions: the store's ledger in its own slot,
 * {s:<id>}:ledger, newest first, then the copies the fold made before in
 * the brand's slot, {b}:store:<id>:ledger, every one older: a page the
 * first does not fill goes on in the second, and the cursor (an entry id
 * of either) pages on in both, so existing data needs no migration
 */

typedef struct {
    ngx_str_t    args[6];       /* XREVRANGE <key> <start> - COUNT <n> */
    ngx_str_t    before;        /* {b}:store:<id>:ledger */
    json_t      *items;         /* the page's entries of the first */
    ngx_str_t    last;          /* the id of the first's last entry */
    size_t       got;
} ngx_http_member_fold_store_t;


static void
ngx_http_member_fold_store_cleanup(void *data)
{
    ngx_http_member_fold_store_t  *st = data;

    json_decref(st->items);
}


static ngx_int_t
ngx_http_member_fold_store_before(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t                         rest;
    json_t                        *page, *older;
    ngx_str_t                      next;
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_fold_store_t  *st = call->data;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    rest = ctx->limit - st->got;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: store ledger of before: %uz entries for %uz",
                   reply->elements, rest);

    older = ngx_http_member_reply_entries(reply, rest, &next);
    page = json_object();

    if (older == NULL || page == NULL
        || json_array_extend(st->items, older) != 0)
    {
        json_decref(older);
        json_decref(page);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_decref(older);

    /* the page ends on the first's last entry: more wait in the second */
    if (rest == 0 && reply->elements) {
        next = st->last;
    }

    json_object_set_new(page, "items", st->items);
    st->items = NULL;
    json_object_set_new(page, "next",
                        next.len ? json_stringn((char *) next.data, next.len)
                                 : json_null());

    return ngx_http_member_send_json(r, NGX_HTTP_OK, page);
}


static ngx_int_t
ngx_http_member_fold_store_items(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                        *p;
    ngx_str_t                      next;
    redisReply                    *e;
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_fold_store_t  *st = call->data;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: store ledger: %uz entries for %ui",
                   reply->elements, ctx->limit);

    if (reply->elements > ctx->limit) {
        return ngx_http_member_reply_page(r, reply, ctx->limit, NULL);
    }

    /* the page goes on in the store's ledger of before */
    st->items = ngx_http_member_reply_entries(reply, ctx->limit, &next);
    if (st->items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->got = reply->elements;

    if (st->got) {
        e = reply->element[st->got - 1];

        if (e->type == REDIS_REPLY_ARRAY && e->elements == 2
            && e->element[0]->type == REDIS_REPLY_STRING)
        {
            st->last.data = ngx_pnalloc(r->pool, e->element[0]->len + 1);
            if (st->last.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            st->last.len = e->element[0]->len;
            ngx_memcpy(st->last.data, e->element[0]->str, st->last.len);
        }
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->args[1] = st->before;
    st->args[5].data = p;
    st->args[5].len = ngx_sprintf(p, "%uz", ctx->limit + 1 - st->got) - p;

    return ngx_http_member_redis_command(r, ngx_http_member_fold_store_before,
                                         &st->args[0], &st->args[1],
                                         &st->args[2], &st->args[3],
                                         &st->args[4], &st->args[5]);
}


static ngx_int_t
ngx_http_member_fold_store_page(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_str_t                     *args;
    ngx_http_member_fold_store_t  *st = call->data;

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    if (reply->integer == 0) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such store");
    }

    args = st->args;

    return ngx_http_member_redis_command(r,
                                         ngx_http_member_fold_store_items,
                                         &args[0], &args[1], &args[2],
                                         &args[3], &args[4], &args[5]);
}


/* GET stores/<store>/transactions */

ngx_int_t
ngx_http_member_fold_store(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    u_char                        *p;
    ngx_str_t                     *args, cursor, *store_id;
    ngx_uint_t                     limit, i;
    ngx_pool_cleanup_t            *cln;
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_call_t        *call;
    ngx_http_member_fold_store_t  *st;

    static ngx_str_t  hexists = ngx_string("HEXISTS");
    static ngx_str_t  stores = ngx_string("stores");

    store_id = &m->capture[0];

    for (i = 0; i < store_id->len; i++) {
        if (!(isalnum(store_id->data[i]) || store_id->data[i] == '_'
              || store_id->data[i] == '-'))
        {
            break;
        }
    }

    if (store_id->len == 0 || store_id->len > 32 || i < store_id->len) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such store");
    }

    if (ngx_http_member_arg_uint(r, "limit", 5, NGX_HTTP_MEMBER_PAGE_DEFAULT,
                                 NGX_HTTP_MEMBER_PAGE_MAX, &limit)
        != NGX_OK
        || ngx_http_member_arg_cursor(r, &cursor) != NGX_OK)
    {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "limit must be 1 to 100 and before a "
                                     "transaction id");
    }

    ctx = ngx_http_member_get_ctx(r);
    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_member_fold_store_t));
    p = ngx_pnalloc(r->pool, sizeof("{s:}:ledger{b}:store::ledger")
                             + 2 * store_id->len + cursor.len + 1
                             + NGX_INT_T_LEN);

    if (ctx == NULL || cln == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = cln->data;
    ngx_memzero(st, sizeof(ngx_http_member_fold_store_t));
    cln->handler = ngx_http_member_fold_store_cleanup;
    args = st->args;

    /* XREVRANGE {s:<id>}:ledger (<before>|+ - COUNT limit+1 */
    ngx_str_set(&args[0], "XREVRANGE");

    args[1].data = p;
    p = ngx_sprintf(p, "{s:%V}:ledger", store_id);
    args[1].len = p - args[1].data;

    st->before.data = p;
    p = ngx_sprintf(p, "{b}:store:%V:ledger", store_id);
    st->before.len = p - st->before.data;

    p = ngx_http_member_range_start(p, &cursor, &args[2]);

    ngx_str_set(&args[3], "-");
    ngx_str_set(&args[4], "COUNT");

    args[5].data = p;
    args[5].len = ngx_sprintf(p, "%ui", limit + 1) - p;

    call = ngx_http_member_redis_request_call(r);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->limit = limit;
    call->data = st;

    return ngx_http_member_redis_command(r, ngx_http_member_fold_store_page,
                                         &hexists, &stores, store_id);
}
