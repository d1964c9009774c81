
/*
 * ngx_member: the member's rights over their data (member_api).
 *
 *   GET profile      their data, opened; the phone masked
 *   PUT profile      name, birthday, gender, address
 *   DELETE profile   personal data erased, indexes removed; the ledger
 *                    stays under the member id, which names nobody then
 *   GET export       everything stored about them, as JSON (feedback too)
 */


#include <openssl/crypto.h>

#include "ngx_member_member.h"


#define NGX_HTTP_MEMBER_EXPORT_MAX  100000     /* ledger entries */


static ngx_int_t ngx_http_member_profile_get(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_profile_read(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_profile_put(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_profile_put_done(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_profile_delete(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_profile_deleted(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_profile_unindex(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_export_read(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_profile_nocard(ngx_http_request_t *r);


struct ngx_http_member_erase_s {
    ngx_str_t                   index[2];   /* phone:<hmac>, openid:<o> */
    ngx_uint_t                  next;
    ngx_str_t                   id;
};


ngx_int_t
ngx_http_member_profile(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    switch (r->method) {

    case NGX_HTTP_PUT:
        return ngx_http_member_profile_put(r);

    case NGX_HTTP_DELETE:
        return ngx_http_member_profile_delete(r);

    default:
        return ngx_http_member_profile_get(r);
    }
}


static ngx_int_t
ngx_http_member_profile_get(ngx_http_request_t *r)
{
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    if (!(pg->status.len == 6
          && ngx_strncmp(pg->status.data, "active", 6) == 0))
    {
        return ngx_http_member_profile_nocard(r);
    }

    return ngx_http_member_redis_command(r, ngx_http_member_profile_read,
                                         &ngx_http_member_cmd_hgetall,
                                         &pg->member_key);
}


/* what the member sees of their record: no internal fields */

static json_t *
ngx_http_member_profile_object(ngx_http_request_t *r, redisReply *reply,
    ngx_flag_t masked)
{
    u_char                   id[NGX_INT64_LEN];
    json_t                  *record, *v, *out, *consent, *marketing;
    ngx_str_t                phone, mask;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    static const char  *fields[] = { "card_no", "status", "level", "points",
        "balance_fen", "name", "phone", "birthday", "gender", "address",
        "created_at", "activated_at", "registered_at", "deleted_at", NULL };
    const char        **f;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    record = ngx_http_member_reply_object(reply);
    if (record == NULL) {
        return NULL;
    }

    if (ngx_http_member_pii_record(r, pg->id, record) != NGX_OK) {
        json_decref(record);
        return NULL;
    }

    out = json_object();
    if (out == NULL) {
        json_decref(record);
        return NULL;
    }

    json_object_set_new(out, "member_id",
                        json_stringn((char *) id,
                                     ngx_sprintf(id, "%uL", pg->id) - id));

    for (f = fields; *f; f++) {
        v = json_object_get(record, *f);
        if (v) {
            json_object_set(out, *f, v);
        }
    }

    v = json_object_get(record, "consent_privacy");
    marketing = json_object_get(record, "consent_marketing");

    if (json_is_string(v) || json_is_string(marketing)) {
        consent = json_object();

        if (consent && json_is_string(v)) {
            json_object_set(consent, "privacy", v);
            v = json_object_get(record, "consent_at");

            if (v) {
                json_object_set(consent, "at", v);
            }
        }

        if (consent && json_is_string(marketing)) {
            json_object_set_new(consent, "marketing",
                json_boolean(ngx_strcmp(json_string_value(marketing), "1")
                             == 0));
        }

        json_object_set_new(out, "consent", consent);
    }

    v = json_object_get(record, "phone");

    if (masked && json_is_string(v)) {
        phone.data = (u_char *) json_string_value(v);
        phone.len = json_string_length(v);

        if (ngx_http_member_mask_phone(r->pool, &phone, &mask) == NGX_OK) {
            json_object_set_new(out, "phone",
                                json_stringn((char *) mask.data, mask.len));
        }
    }

    json_decref(record);

    return out;
}


static ngx_int_t
ngx_http_member_profile_read(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    json_t  *out;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    out = ngx_http_member_profile_object(r, reply, 1);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK, out);
}


static ngx_int_t
ngx_http_member_profile_put(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_str_t                args[16];
    ngx_uint_t               n;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    if (json_object_get(ctx->json, "phone")) {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "the phone changes only through "
                                     "WeChat's verification");
    }

    rc = ngx_http_member_person_validate(r, ctx->json, 0);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    n = 0;

    if (ngx_http_member_person_fields(r, pg->id, ctx->json, NULL, args, &n)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (n == 0) {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "nothing to change: name, birthday, "
                                     "gender, address or "
                                     "consent.marketing");
    }

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_PROFILE_PUT,
                                        ngx_http_member_profile_put_done,
                                        &pg->member_key,
                                        args,
                                        n - NGX_HTTP_MEMBER_PROFILE_PUT_NARGV);
}


static ngx_int_t
ngx_http_member_profile_put_done(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    if (ngx_http_member_redis_is_error(reply, "NOCARD")) {
        return ngx_http_member_profile_nocard(r);
    }

    if (reply->type != REDIS_REPLY_STATUS && reply->type != REDIS_REPLY_STRING)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    /* answer what is stored now */
    return ngx_http_member_redis_command(r, ngx_http_member_profile_read,
                                         &ngx_http_member_cmd_hgetall,
                                         &pg->member_key);
}


static ngx_int_t
ngx_http_member_profile_delete(ngx_http_request_t *r)
{
    u_char                   *p;
    ngx_str_t                 keys[NGX_HTTP_MEMBER_PROFILE_DELETE_NKEYS], now;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_page_t   *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now.data = p;
    now.len = ngx_sprintf(p, "%T", ngx_time()) - p;

    keys[NGX_HTTP_MEMBER_PROFILE_DELETE_KEY_MEMBER] = pg->member_key;
    keys[NGX_HTTP_MEMBER_PROFILE_DELETE_KEY_SESSION] = ctx->session_key;

    return ngx_http_member_redis_script(r,
                                        NGX_HTTP_MEMBER_SCRIPT_PROFILE_DELETE,
                                        ngx_http_member_profile_deleted, keys,
                                        &now,
                                        0);
}


static ngx_int_t
ngx_http_member_profile_deleted(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                   *p;
    redisReply               *e;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_page_t   *pg;
    ngx_http_member_erase_t  *er;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    er = ngx_pcalloc(r->pool, sizeof(ngx_http_member_erase_t));
    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);

    if (er == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pg->erase = er;

    er->id.data = p;
    er->id.len = ngx_sprintf(p, "%uL", pg->id) - p;

    e = reply->element[0];

    if (e->len) {
        er->index[0].data = ngx_pnalloc(r->pool, e->len);
        if (er->index[0].data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(er->index[0].data, e->str, e->len);
        er->index[0].len = e->len;
    }

    e = reply->element[1];

    if (e->len) {
        pg->openid.data = (u_char *) e->str;
        pg->openid.len = e->len;

        if (ngx_http_member_openid_key(r->pool, &pg->openid, &er->index[1])
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_member_profile_unindex(r, NULL, NULL);
}


/* each index that still names the member goes, one key at a time */

static ngx_int_t
ngx_http_member_profile_unindex(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_str_t                *index;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_page_t   *pg;
    ngx_http_member_erase_t  *er;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;
    er = pg->erase;

    if (reply && reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    while (er->next < 2) {
        index = &er->index[er->next++];

        if (index->len) {
            return ngx_http_member_redis_script(r,
                                            NGX_HTTP_MEMBER_SCRIPT_INDEX_DROP,
                                            ngx_http_member_profile_unindex,
                                            index, &er->id, 0);
        }
    }

    /* the member's feedback too: ngx_http_member_feedback.c */
    if (er->next == 2) {
        er->next++;
        return ngx_http_member_feedback_erase(r, pg->id,
                                              ngx_http_member_profile_unindex);
    }

    return ngx_http_member_send_raw(r, NGX_HTTP_OK, NULL,
                                    (u_char *) "{\"status\":\"deleted\"}",
                                    sizeof("{\"status\":\"deleted\"}") - 1);
}


ngx_int_t
ngx_http_member_export(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    ngx_str_t                keys[NGX_HTTP_MEMBER_EXPORT_NKEYS], max;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    keys[NGX_HTTP_MEMBER_EXPORT_KEY_MEMBER] = pg->member_key;

    if (ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_EXPORT_KEY_LEDGER],
                            pg->id, ":ledger") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&max, "100000");

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_EXPORT,
                                        ngx_http_member_export_read, keys, &max,
                                        0);
}


static ngx_int_t
ngx_http_member_export_read(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    json_t                  *out, *member, *ledger;
    ngx_str_t                next;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    member = ngx_http_member_profile_object(r, reply->element[0], 0);
    ledger = ngx_http_member_reply_entries(reply->element[1],
                                          NGX_HTTP_MEMBER_EXPORT_MAX, &next);

    if (member == NULL || ledger == NULL) {
        json_decref(member);
        json_decref(ledger);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(member, "openid",
                        json_stringn((char *) pg->openid.data,
                                     pg->openid.len));

    out = json_pack("{s:o,s:o,s:I}", "member", member, "ledger", ledger,
                    "exported_at", (json_int_t) ngx_time());
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* and the member's feedback: ngx_http_member_feedback.c */
    return ngx_http_member_feedback_export(r, pg->id, out);
}


static ngx_int_t
ngx_http_member_profile_nocard(ngx_http_request_t *r)
{
    return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                 "no card yet: register first");
}
