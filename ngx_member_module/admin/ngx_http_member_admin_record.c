
/*
 * ngx_member: a member's record as the admin API shows it (GET
 * members/<id>, the look-ups, a member created): the member hash read
 * once, its personal data opened, and only the fields the caller's role
 * may see (ngx_http_member_admin_view).
 *
 * The admin record is a whitelist: what each view shows of the member
 * hash (docs/keys.md).  Sessions ("s:<hash>"), the outbox's and the
 * triggers' markers, indexes and sealed values are never in it; name and
 * phone are shown masked where the view is not the full one.
 */


#include "ngx_member_admin.h"


static ngx_int_t ngx_http_member_admin_record(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static json_t *ngx_http_member_admin_view_of(ngx_http_request_t *r,
    json_t *record, ngx_uint_t view);


#define NGX_HTTP_MEMBER_VIEW_ALL   (NGX_HTTP_MEMBER_VIEW_FULL               \
                                    |NGX_HTTP_MEMBER_VIEW_MASKED            \
                                    |NGX_HTTP_MEMBER_VIEW_TILL)
#define NGX_HTTP_MEMBER_VIEW_HQ    (NGX_HTTP_MEMBER_VIEW_FULL               \
                                    |NGX_HTTP_MEMBER_VIEW_MASKED)

typedef struct {
    const char             *name;
    const char             *from;       /* the hash's field, if another */
    ngx_uint_t              views;
} ngx_http_member_record_field_t;


static ngx_http_member_record_field_t  ngx_http_member_record_fields[] = {
    { "card_no", NULL, NGX_HTTP_MEMBER_VIEW_ALL },
    { "status", NULL, NGX_HTTP_MEMBER_VIEW_ALL },
    { "level", NULL, NGX_HTTP_MEMBER_VIEW_ALL },
    { "points", NULL, NGX_HTTP_MEMBER_VIEW_ALL },
    { "balance_fen", NULL, NGX_HTTP_MEMBER_VIEW_ALL },

    { "member_id", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "principal_fen", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "bonus_fen", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "points_debt", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "period", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "period_spend_fen", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "spend_fen", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "orders", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "first_purchase_ts", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "last_purchase_ts", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "created_at", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "activated_at", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "registered_at", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "deleted_at", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "consent_privacy", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "consent_at", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "consent_marketing", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "channel", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "referred_by", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "referred_via", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "referred_at", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "tags", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "churn_score", NULL, NGX_HTTP_MEMBER_VIEW_HQ },
    { "rfm", NULL, NGX_HTTP_MEMBER_VIEW_HQ },

    { "openid", NULL, NGX_HTTP_MEMBER_VIEW_FULL },
    { "unionid", NULL, NGX_HTTP_MEMBER_VIEW_FULL },
    { "name", NULL, NGX_HTTP_MEMBER_VIEW_FULL },
    { "phone", NULL, NGX_HTTP_MEMBER_VIEW_FULL },
    { "birthday", NULL, NGX_HTTP_MEMBER_VIEW_FULL },
    { "gender", NULL, NGX_HTTP_MEMBER_VIEW_FULL },
    { "address", NULL, NGX_HTTP_MEMBER_VIEW_FULL },

    { NULL, NULL, 0 }
};


/* the WeChat wallet card the member holds, as "wallet_card" */
static ngx_http_member_record_field_t  ngx_http_member_record_card[] = {
    { "card_id", "wx_card_id", NGX_HTTP_MEMBER_VIEW_HQ },
    { "code", "wx_card_code", NGX_HTTP_MEMBER_VIEW_HQ },
    { "status", "wx_card_status", NGX_HTTP_MEMBER_VIEW_HQ },
    { "gifted", "wx_card_gifted", NGX_HTTP_MEMBER_VIEW_HQ },
    { "claimed_at", "wx_card_claimed_at", NGX_HTTP_MEMBER_VIEW_HQ },
    { "activated_at", "wx_card_activated_at", NGX_HTTP_MEMBER_VIEW_HQ },
    { "removed_at", "wx_card_removed_at", NGX_HTTP_MEMBER_VIEW_HQ },
    { NULL, NULL, 0 }
};


ngx_int_t
ngx_http_member_admin_read(ngx_http_request_t *r, uint64_t id)
{
    ngx_str_t                 key;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_admin_t  *adm;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    adm = ctx->admin;
    adm->id = id;

    if (ngx_http_member_key(r->pool, &key, id, "") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member admin: the record of member %uL asked", id);

    return ngx_http_member_redis_command(r, ngx_http_member_admin_record,
                                         &ngx_http_member_cmd_hgetall, &key);
}


static ngx_int_t
ngx_http_member_admin_record(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                    id[NGX_INT64_LEN];
    json_t                   *record, *status, *view;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_admin_t  *adm;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    adm = ctx->admin;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member admin: the record of member %uL read: %d",
                   adm->id, reply->type);

    record = ngx_http_member_reply_object(reply);
    if (record == NULL) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    status = json_object_get(record, "status");

    /* a visitor logged in once but is no member */
    if (status == NULL
        || ngx_strcmp(json_string_value(status) ? json_string_value(status)
                                                : "", "visitor") == 0)
    {
        json_decref(record);
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such member");
    }

    if (ngx_http_member_pii_record(r, adm->id, record) != NGX_OK) {
        json_decref(record);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* found by phone: an index left behind by a change names nobody */
    if (adm->phone.len
        && (!json_is_string(json_object_get(record, "phone"))
            || json_string_length(json_object_get(record, "phone"))
               != adm->phone.len
            || ngx_strncmp(json_string_value(json_object_get(record, "phone")),
                           adm->phone.data, adm->phone.len) != 0))
    {
        json_decref(record);
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no member has that phone");
    }

    if (ngx_http_member_analytics_record(r, record) != NGX_OK) {
        json_decref(record);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(record, "member_id",
                        json_stringn((char *) id,
                                     ngx_sprintf(id, "%uL", adm->id) - id));

    view = ngx_http_member_admin_view_of(r, record,
                                         ngx_http_member_admin_view(r));
    json_decref(record);

    if (view == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK, view);
}


/* the record's whitelisted fields for a view: a new object */

static json_t *
ngx_http_member_admin_view_of(ngx_http_request_t *r, json_t *record,
    ngx_uint_t view)
{
    json_t                          *out, *card, *v;
    ngx_str_t                        plain, mask;
    ngx_http_member_record_field_t  *f;

    out = json_object();
    card = json_object();

    if (out == NULL || card == NULL) {
        goto failed;
    }

    for (f = ngx_http_member_record_fields; f->name; f++) {
        v = json_object_get(record, f->from ? f->from : f->name);

        if (v != NULL && (f->views & view)) {
            if (json_object_set(out, f->name, v) != 0) {
                goto failed;
            }
        }
    }

    for (f = ngx_http_member_record_card; f->name; f++) {
        v = json_object_get(record, f->from);

        if (v != NULL && (f->views & view)) {
            if (json_object_set(card, f->name, v) != 0) {
                goto failed;
            }
        }
    }

    if (json_object_size(card)) {
        if (json_object_set(out, "wallet_card", card) != 0) {
            goto failed;
        }
    }

    json_decref(card);
    card = NULL;

    if (view == NGX_HTTP_MEMBER_VIEW_FULL) {
        return out;
    }

    /* the others see "张*" and "138****0000" */

    v = json_object_get(record, "name_masked");

    if (json_is_string(v)) {
        if (json_object_set(out, "name", v) != 0) {
            goto failed;
        }

    } else {
        v = json_object_get(record, "name");

        if (json_is_string(v) && json_string_length(v)) {
            plain.data = (u_char *) json_string_value(v);
            plain.len = json_string_length(v);

            if (ngx_http_member_mask_name(r->pool, &plain, &mask) == NGX_OK
                && json_object_set_new(out, "name",
                                       json_stringn((char *) mask.data,
                                                    mask.len))
                   != 0)
            {
                goto failed;
            }
        }
    }

    v = json_object_get(record, "phone");

    if (json_is_string(v)) {
        plain.data = (u_char *) json_string_value(v);
        plain.len = json_string_length(v);

        if (ngx_http_member_mask_phone(r->pool, &plain, &mask) != NGX_OK
            || json_object_set_new(out, "phone",
                                   json_stringn((char *) mask.data, mask.len))
               != 0)
        {
            goto failed;
        }
    }

    return out;

failed:

    json_decref(out);
    json_decref(card);

    return NULL;
}
