
/*
 * ngx_member: members' feedback.
 *
 *   member_api:  POST feedback {"text","rating","order_id"?}  201
 *                GET  feedback                  the member's own, answered
 *   member_admin: GET feedback?status=open|answered   with the member
 *                POST feedback/<id>/answer {"answer"}
 *                (ngx_http_member_admin_feedback.c)
 *
 * A feedback is a JSON record in the brand's hash {b}:feedback, listed in
 * sorted sets of one score whose members, the feedback ids, sort by time
 * ("<ms on 13 digits><8 hex>"): all, open, answered and the member's own.
 * The text and the answer are the member's personal data: sealed with
 * member_pii_key, bound to the member and the feedback.
 */


#include "ngx_member_member.h"


#define NGX_HTTP_MEMBER_FEEDBACK_TEXT     1000      /* characters */

/* feedback a member may give in a window (seconds) */
static ngx_str_t  ngx_http_member_feedback_limit = ngx_string("10");
static ngx_str_t  ngx_http_member_feedback_window = ngx_string("86400");

/* this worker's newest feedback id, its milliseconds */
static uint64_t   ngx_http_member_feedback_last;

/* the records and the lists (the admin API's answers too) */
ngx_str_t  ngx_http_member_feedback_key = ngx_string("{b}:feedback");
ngx_str_t  ngx_http_member_feedback_all = ngx_string("{b}:feedback:all");
ngx_str_t  ngx_http_member_feedback_open = ngx_string("{b}:feedback:open");
ngx_str_t  ngx_http_member_feedback_answered =
    ngx_string("{b}:feedback:answered");


#define NGX_HTTP_MEMBER_FEEDBACK_EXPORT   "100000"


struct ngx_http_member_feedback_s {
    ngx_uint_t                  limit;
    ngx_flag_t                  admin;
    json_t                     *export;     /* GET export's answer */
};


static ngx_int_t ngx_http_member_feedback_post(ngx_http_request_t *r,
    ngx_http_member_page_t *pg);
static ngx_int_t ngx_http_member_feedback_posted(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_feedback_page(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_feedback_member_keys(ngx_http_request_t *r,
    uint64_t id, ngx_str_t *mine, ngx_str_t *quota);
static void ngx_http_member_feedback_export_cleanup(void *data);
static ngx_int_t ngx_http_member_feedback_exported(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);


/* the member API's feedback, after its session (ngx_http_member_pages.c) */

ngx_int_t
ngx_http_member_feedback(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    ngx_str_t                list;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    if (!(pg->status.len == 6
          && ngx_strncmp(pg->status.data, "active", 6) == 0))
    {
        return ngx_http_member_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                     "feedback is for members with a card");
    }

    if (r->method == NGX_HTTP_POST) {
        return ngx_http_member_feedback_post(r, pg);
    }

    list.data = ngx_pnalloc(r->pool, sizeof("{b}:feedback:m:") - 1
                                     + NGX_INT64_LEN);
    if (list.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    list.len = ngx_sprintf(list.data, "{b}:feedback:m:%uL", pg->id)
               - list.data;

    return ngx_http_member_feedback_list(r, &list, 0);
}


/* 1 to max characters of UTF-8 (jansson checked it), not only blanks */

ngx_int_t
ngx_http_member_feedback_text(json_t *json, const char *name, size_t max,
    ngx_str_t *text)
{
    size_t      i, chars;
    ngx_uint_t  blank;

    if (ngx_http_member_json_str(json, name, 4 * max, 0, text, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    chars = 0;
    blank = 1;

    for (i = 0; i < text->len; i++) {
        if ((text->data[i] & 0xc0) != 0x80) {
            chars++;
        }

        if (text->data[i] != ' ' && text->data[i] != '\t'
            && text->data[i] != '\r' && text->data[i] != '\n')
        {
            blank = 0;
        }
    }

    return (chars <= max && !blank) ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_member_feedback_aad(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *fid, const char *what, ngx_str_t *aad)
{
    ngx_str_t  field;

    field.data = ngx_pnalloc(r->pool, sizeof("feedback::answer") + fid->len);
    if (field.data == NULL) {
        return NGX_ERROR;
    }

    field.len = ngx_sprintf(field.data, "feedback:%V%s", fid, what)
                - field.data;

    return ngx_http_member_pii_aad(r->pool, id, &field, aad);
}


static ngx_int_t
ngx_http_member_feedback_post(ngx_http_request_t *r,
    ngx_http_member_page_t *pg)
{
    u_char                  rnd[4], *p;
    char                   *dump;
    json_t                 *json, *record;
    uint64_t                ms;
    ngx_int_t               rc, rating;
    ngx_str_t               text, order, fid, aad, sealed, *arg;
    ngx_str_t               keys[NGX_HTTP_MEMBER_FEEDBACK_POST_NKEYS];
    ngx_str_t               args[NGX_HTTP_MEMBER_FEEDBACK_POST_NARGV];
    ngx_time_t             *tp;
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    json = ctx->json;

    if (!json_is_object(json)) {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "the body must be a JSON object");
    }

    if (ngx_http_member_feedback_text(json, "text",
                                      NGX_HTTP_MEMBER_FEEDBACK_TEXT, &text)
        != NGX_OK)
    {
        return ngx_http_member_bad_field(r, "text");
    }

    if (ngx_http_member_json_int(json, "rating", 1, 5, &rating, 1) != NGX_OK)
    {
        return ngx_http_member_bad_field(r, "rating");
    }

    rc = ngx_http_member_json_str(json, "order_id", 64, 1, &order, 0);

    if (rc == NGX_ERROR) {
        return ngx_http_member_bad_field(r, "order_id");
    }

    if (rc == NGX_DECLINED) {
        ngx_str_null(&order);
    }

    /* "<ms><random>": ids sort by time in the lists */
    fid.data = ngx_pnalloc(r->pool, NGX_HTTP_MEMBER_FEEDBACK_ID_LEN);
    if (fid.data == NULL || ngx_http_member_random(rnd, sizeof(rnd)) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tp = ngx_timeofday();
    ms = (uint64_t) tp->sec * 1000 + tp->msec;

    /* two posts a worker takes in one millisecond still list in order */
    if (ms <= ngx_http_member_feedback_last) {
        ms = ngx_http_member_feedback_last + 1;
    }

    ngx_http_member_feedback_last = ms;

    p = ngx_sprintf(fid.data, "%013uL", ms);
    p = ngx_hex_dump(p, rnd, sizeof(rnd));
    fid.len = p - fid.data;

    if (ngx_http_member_feedback_aad(r, pg->id, &fid, "", &aad) != NGX_OK
        || ngx_http_member_pii_seal(r, &aad, &text, &sealed) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    record = json_pack("{s:s%,s:I,s:s%,s:I,s:s%,s:s%,s:s,s:I}",
                       "feedback_id", fid.data, fid.len,
                       "member_id", (json_int_t) pg->id,
                       "card_no", pg->card_no.data, pg->card_no.len,
                       "rating", (json_int_t) rating,
                       "order_id", order.len ? (char *) order.data : "",
                       order.len,
                       "text", sealed.data, sealed.len,
                       "status", "open",
                       "created_at", (json_int_t) tp->sec);

    if (record && order.len == 0) {
        json_object_set_new(record, "order_id", json_null());
    }

    dump = record ? json_dumps(record, JSON_COMPACT) : NULL;
    json_decref(record);

    if (dump == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    arg = &args[NGX_HTTP_MEMBER_FEEDBACK_POST_ARGV_RECORD];
    arg->len = ngx_strlen(dump);
    arg->data = ngx_pnalloc(r->pool, arg->len);

    if (arg->data == NULL) {
        free(dump);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(arg->data, dump, arg->len);
    free(dump);

    p = ngx_pnalloc(r->pool, 2 * (sizeof("{b}:feedback:quota:")
                                  + NGX_INT64_LEN));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    keys[NGX_HTTP_MEMBER_FEEDBACK_POST_KEY_FEEDBACK] =
                                                   ngx_http_member_feedback_key;
    keys[NGX_HTTP_MEMBER_FEEDBACK_POST_KEY_ALL] = ngx_http_member_feedback_all;
    keys[NGX_HTTP_MEMBER_FEEDBACK_POST_KEY_OPEN] =
                                                  ngx_http_member_feedback_open;

    keys[NGX_HTTP_MEMBER_FEEDBACK_POST_KEY_MINE].data = p;
    p = ngx_sprintf(p, "{b}:feedback:m:%uL", pg->id);
    keys[NGX_HTTP_MEMBER_FEEDBACK_POST_KEY_MINE].len =
                          p - keys[NGX_HTTP_MEMBER_FEEDBACK_POST_KEY_MINE].data;

    keys[NGX_HTTP_MEMBER_FEEDBACK_POST_KEY_QUOTA].data = p;
    p = ngx_sprintf(p, "{b}:feedback:quota:%uL", pg->id);
    keys[NGX_HTTP_MEMBER_FEEDBACK_POST_KEY_QUOTA].len =
                         p - keys[NGX_HTTP_MEMBER_FEEDBACK_POST_KEY_QUOTA].data;

    args[NGX_HTTP_MEMBER_FEEDBACK_POST_ARGV_ID] = fid;
    args[NGX_HTTP_MEMBER_FEEDBACK_POST_ARGV_LIMIT] =
                                                 ngx_http_member_feedback_limit;
    args[NGX_HTTP_MEMBER_FEEDBACK_POST_ARGV_WINDOW] =
                                                ngx_http_member_feedback_window;

    return ngx_http_member_redis_script(r,
                                        NGX_HTTP_MEMBER_SCRIPT_FEEDBACK_POST,
                                        ngx_http_member_feedback_posted,
                                        keys, args, 0);
}


static ngx_int_t
ngx_http_member_feedback_posted(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char  *p, *last;

    if (ngx_http_member_redis_is_error(reply, "RATE_LIMITED")) {
        return ngx_http_member_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                     "rate_limited",
                                     "that is enough feedback for today");
    }

    if (reply->type != REDIS_REPLY_STRING
        || reply->len != NGX_HTTP_MEMBER_FEEDBACK_ID_LEN)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    p = ngx_pnalloc(r->pool, sizeof("{\"feedback_id\":\"\"}") + reply->len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_sprintf(p, "{\"feedback_id\":\"%*s\"}", (size_t) reply->len,
                       reply->str);

    return ngx_http_member_send_raw(r, NGX_HTTP_CREATED, NULL, p, last - p);
}


/* a page of a list, newest first: ?limit=&before=<feedback id> */

ngx_int_t
ngx_http_member_feedback_list(ngx_http_request_t *r, ngx_str_t *list,
    ngx_flag_t admin)
{
    u_char                      *p;
    ngx_str_t                    before;
    ngx_str_t                    keys[NGX_HTTP_MEMBER_FEEDBACK_LIST_NKEYS];
    ngx_str_t                    args[NGX_HTTP_MEMBER_FEEDBACK_LIST_NARGV];
    ngx_http_member_ctx_t       *ctx;
    ngx_http_member_feedback_t  *fb;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    fb = ngx_pcalloc(r->pool, sizeof(ngx_http_member_feedback_t));
    if (fb == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    fb->admin = admin;

    if (ngx_http_arg(r, (u_char *) "before", 6, &before) != NGX_OK) {
        ngx_str_null(&before);
    }

    if (ngx_http_member_arg_uint(r, "limit", 5, NGX_HTTP_MEMBER_PAGE_DEFAULT,
                                 NGX_HTTP_MEMBER_PAGE_MAX, &fb->limit)
        != NGX_OK
        || (before.data && !ngx_http_member_route_fid_valid(&before)))
    {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "limit must be 1 to 100 and before a "
                                     "feedback id");
    }

    p = ngx_pnalloc(r->pool, 1 + before.len + NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_member_range_start(p, &before,
                               &args[NGX_HTTP_MEMBER_FEEDBACK_LIST_ARGV_START]);

    args[NGX_HTTP_MEMBER_FEEDBACK_LIST_ARGV_COUNT].data = p;
    args[NGX_HTTP_MEMBER_FEEDBACK_LIST_ARGV_COUNT].len =
                                       ngx_sprintf(p, "%ui", fb->limit + 1) - p;

    keys[NGX_HTTP_MEMBER_FEEDBACK_LIST_KEY_LIST] = *list;
    keys[NGX_HTTP_MEMBER_FEEDBACK_LIST_KEY_FEEDBACK] =
                                                   ngx_http_member_feedback_key;

    ctx->feedback = fb;

    return ngx_http_member_redis_script(r,
                                        NGX_HTTP_MEMBER_SCRIPT_FEEDBACK_LIST,
                                        ngx_http_member_feedback_page,
                                        keys, args, 0);
}


/* a sealed field of a record, opened: null when it does not open */

static json_t *
ngx_http_member_feedback_opened(ngx_http_request_t *r, json_t *record,
    const char *name, uint64_t id, ngx_str_t *fid, const char *what)
{
    json_t     *v;
    ngx_int_t   rc;
    ngx_str_t   sealed, aad, plain;

    v = json_object_get(record, name);

    if (!json_is_string(v) || json_string_length(v) == 0) {
        return json_null();
    }

    sealed.data = (u_char *) json_string_value(v);
    sealed.len = json_string_length(v);

    if (ngx_http_member_feedback_aad(r, id, fid, what, &aad) != NGX_OK) {
        return NULL;
    }

    rc = ngx_http_member_pii_open(r, &aad, &sealed, &plain);

    if (rc == NGX_ERROR) {
        return NULL;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: feedback %V of member %uL does not open",
                      fid, id);
        return json_null();
    }

    return json_stringn((char *) plain.data, plain.len);
}


static json_t *
ngx_http_member_feedback_item(ngx_http_request_t *r, redisReply *e,
    ngx_flag_t admin)
{
    json_t        *record, *text, *answer;
    uint64_t       id;
    ngx_str_t      fid;
    json_error_t   err;

    if (e->type != REDIS_REPLY_STRING) {
        return json_null();             /* listed, its record gone */
    }

    record = json_loadb(e->str, e->len, 0, &err);
    if (record == NULL) {
        return json_null();
    }

    fid.data = (u_char *) json_string_value(json_object_get(record,
                                                            "feedback_id"));
    fid.len = fid.data ? ngx_strlen(fid.data) : 0;
    id = json_integer_value(json_object_get(record, "member_id"));

    text = ngx_http_member_feedback_opened(r, record, "text", id, &fid, "");
    answer = ngx_http_member_feedback_opened(r, record, "answer", id, &fid,
                                             ":answer");

    if (text == NULL || answer == NULL) {
        json_decref(text);
        json_decref(answer);
        json_decref(record);
        return NULL;
    }

    json_object_set_new(record, "text", text);
    json_object_set_new(record, "answer", answer);

    if (!json_object_get(record, "answered_at")) {
        json_object_set_new(record, "answered_at", json_null());
    }

    if (admin) {
        json_object_set_new(record, "member_id",
                            json_sprintf("%" JSON_INTEGER_FORMAT,
                                         (json_int_t) id));

    } else {
        /* the member knows who they are; who answered is the brand's */
        json_object_del(record, "member_id");
        json_object_del(record, "card_no");
        json_object_del(record, "answered_by");
    }

    return record;
}


static ngx_int_t
ngx_http_member_feedback_page(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t                       i;
    json_t                      *items, *item, *next;
    ngx_http_member_ctx_t       *ctx;
    ngx_http_member_feedback_t  *fb;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    fb = ctx->feedback;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    items = json_array();
    if (items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    next = json_null();

    for (i = 0; i < reply->elements && i < fb->limit; i++) {
        item = ngx_http_member_feedback_item(r, reply->element[i],
                                             fb->admin);
        if (item == NULL) {
            json_decref(items);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (json_is_null(item)) {
            continue;
        }

        if (i + 1 == fb->limit && reply->elements > fb->limit) {
            json_decref(next);
            next = json_incref(json_object_get(item, "feedback_id"));
        }

        json_array_append_new(items, item);
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK,
                                     json_pack("{s:o,s:o}", "items", items,
                                               "next", next));
}


static ngx_int_t
ngx_http_member_feedback_member_keys(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *mine, ngx_str_t *quota)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, 2 * (sizeof("{b}:feedback:quota:")
                                  + NGX_INT64_LEN));
    if (p == NULL) {
        return NGX_ERROR;
    }

    mine->data = p;
    p = ngx_sprintf(p, "{b}:feedback:m:%uL", id);
    mine->len = p - mine->data;

    quota->data = p;
    p = ngx_sprintf(p, "{b}:feedback:quota:%uL", id);
    quota->len = p - quota->data;

    return NGX_OK;
}


/* DELETE profile (ngx_http_member_profile.c): the member's feedback goes */

ngx_int_t
ngx_http_member_feedback_erase(ngx_http_request_t *r, uint64_t id,
    ngx_http_member_call_pt done)
{
    ngx_str_t  keys[NGX_HTTP_MEMBER_FEEDBACK_ERASE_NKEYS];

    keys[NGX_HTTP_MEMBER_FEEDBACK_ERASE_KEY_FEEDBACK] =
                                                   ngx_http_member_feedback_key;
    keys[NGX_HTTP_MEMBER_FEEDBACK_ERASE_KEY_ALL] = ngx_http_member_feedback_all;
    keys[NGX_HTTP_MEMBER_FEEDBACK_ERASE_KEY_OPEN] =
                                                  ngx_http_member_feedback_open;
    keys[NGX_HTTP_MEMBER_FEEDBACK_ERASE_KEY_ANSWERED] =
                                              ngx_http_member_feedback_answered;

    if (ngx_http_member_feedback_member_keys(r, id,
                                 &keys[NGX_HTTP_MEMBER_FEEDBACK_ERASE_KEY_MINE],
                                &keys[NGX_HTTP_MEMBER_FEEDBACK_ERASE_KEY_QUOTA])
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_redis_script(r,
                                        NGX_HTTP_MEMBER_SCRIPT_FEEDBACK_ERASE,
                                        done, keys, NULL, 0);
}


/* GET export (ngx_http_member_profile.c): out gains the member's feedback */

ngx_int_t
ngx_http_member_feedback_export(ngx_http_request_t *r, uint64_t id,
    json_t *out)
{
    ngx_str_t                    quota;
    ngx_str_t                    keys[NGX_HTTP_MEMBER_FEEDBACK_LIST_NKEYS];
    ngx_str_t                    args[NGX_HTTP_MEMBER_FEEDBACK_LIST_NARGV];
    ngx_pool_cleanup_t          *cln;
    ngx_http_member_call_t      *call;
    ngx_http_member_feedback_t  *fb;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_member_feedback_t));
    if (cln == NULL) {
        json_decref(out);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    fb = cln->data;
    ngx_memzero(fb, sizeof(ngx_http_member_feedback_t));
    fb->export = out;
    cln->handler = ngx_http_member_feedback_export_cleanup;

    if (ngx_http_member_feedback_member_keys(r, id,
                                  &keys[NGX_HTTP_MEMBER_FEEDBACK_LIST_KEY_LIST],
                                  &quota)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    keys[NGX_HTTP_MEMBER_FEEDBACK_LIST_KEY_FEEDBACK] =
                                                   ngx_http_member_feedback_key;
    ngx_str_set(&args[NGX_HTTP_MEMBER_FEEDBACK_LIST_ARGV_START], "+");
    ngx_str_set(&args[NGX_HTTP_MEMBER_FEEDBACK_LIST_ARGV_COUNT],
                NGX_HTTP_MEMBER_FEEDBACK_EXPORT);

    call = ngx_http_member_redis_request_call(r);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call->data = fb;

    return ngx_http_member_redis_script(r,
                                        NGX_HTTP_MEMBER_SCRIPT_FEEDBACK_LIST,
                                        ngx_http_member_feedback_exported,
                                        keys, args, 0);
}


static void
ngx_http_member_feedback_export_cleanup(void *data)
{
    ngx_http_member_feedback_t  *fb = data;

    json_decref(fb->export);
}


static ngx_int_t
ngx_http_member_feedback_exported(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t                       i;
    json_t                      *items, *item, *out;
    ngx_http_member_feedback_t  *fb;

    fb = call->data;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    items = json_array();
    if (items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < reply->elements; i++) {
        item = ngx_http_member_feedback_item(r, reply->element[i], 0);
        if (item == NULL) {
            json_decref(items);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (json_is_null(item)) {
            continue;
        }

        json_array_append_new(items, item);
    }

    out = fb->export;
    fb->export = NULL;

    json_object_set_new(out, "feedback", items);

    return ngx_http_member_send_json(r, NGX_HTTP_OK, out);
}
