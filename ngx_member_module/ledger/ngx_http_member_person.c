
/*
 * ngx_member: the personal fields of a registration, shared by POST
 * register, PUT profile, the wallet's activation form and the admin API:
 * checked (name, birthday, gender, address, consent.marketing) and sealed
 * into HSET pairs with member_pii_key.
 */


#include "ngx_member_ledger.h"


/* "YYYY-MM-DD", a real day since 1900 (the activation form's too) */

ngx_int_t
ngx_http_member_birthday_valid(ngx_str_t *s)
{
    ngx_int_t   y, m, d, days;
    ngx_uint_t  i;

    static ngx_int_t  mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
                                  30, 31 };

    if (s->len != 10 || s->data[4] != '-' || s->data[7] != '-') {
        return NGX_ERROR;
    }

    for (i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && (s->data[i] < '0' || s->data[i] > '9')) {
            return NGX_ERROR;
        }
    }

    y = ngx_atoi(s->data, 4);
    m = ngx_atoi(s->data + 5, 2);
    d = ngx_atoi(s->data + 8, 2);

    if (y < 1900 || y > 2100 || m < 1 || m > 12 || d < 1) {
        return NGX_ERROR;
    }

    days = mdays[m - 1];

    if (m == 2 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        days = 28;
    }

    return d <= days ? NGX_OK : NGX_ERROR;
}


/*
 * The personal fields of a body, checked: name, birthday, gender, address
 * and consent.marketing (messages, docs/outbox.md); shared with PUT
 * profile and the admin API.  NGX_DECLINED when they are good, else the rc
 * of the error answer sent.
 */

ngx_int_t
ngx_http_member_person_validate(ngx_http_request_t *r, json_t *json,
    ngx_flag_t name_required)
{
    json_t     *consent, *marketing;
    ngx_int_t   rc;
    ngx_str_t   v;

    consent = json_object_get(json, "consent");

    if (consent && !json_is_object(consent)) {
        return ngx_http_member_bad_field(r, "consent");
    }

    marketing = json_object_get(consent, "marketing");

    if (marketing && !json_is_boolean(marketing)) {
        return ngx_http_member_bad_field(r, "consent.marketing");
    }

    rc = ngx_http_member_json_str(json, "name", 64, 0, &v, name_required);

    if (rc == NGX_ERROR) {
        return ngx_http_member_bad_field(r, "name");
    }

    rc = ngx_http_member_json_str(json, "birthday", 10, 0, &v, 0);

    if (rc == NGX_ERROR
        || (rc == NGX_OK && ngx_http_member_birthday_valid(&v) != NGX_OK))
    {
        return ngx_http_member_bad_field(r, "birthday");
    }

    rc = ngx_http_member_json_str(json, "gender", 6, 0, &v, 0);

    if (rc == NGX_ERROR
        || (rc == NGX_OK
            && !(v.len == 4 && ngx_strncmp(v.data, "male", 4) == 0)
            && !(v.len == 6 && ngx_strncmp(v.data, "female", 6) == 0)
            && !(v.len == 5 && ngx_strncmp(v.data, "other", 5) == 0)))
    {
        return ngx_http_member_bad_field(r, "gender");
    }

    if (ngx_http_member_json_str(json, "address", 256, 0, &v, 0) == NGX_ERROR)
    {
        return ngx_http_member_bad_field(r, "address");
    }

    return NGX_DECLINED;
}


/*
 * The sealed fields of a body, as HSET pairs: name (and name_masked),
 * birthday, gender, address; phone when given.  Shared with PUT profile.
 */

ngx_int_t
ngx_http_member_person_fields(ngx_http_request_t *r, uint64_t id,
    json_t *json, ngx_str_t *phone, ngx_str_t *args, ngx_uint_t *n)
{
    json_t     *v;
    ngx_str_t  *f, plain, aad;

    for (f = ngx_http_member_pii_fields; f->len; f++) {

        if (f->len == 5 && ngx_strncmp(f->data, "phone", 5) == 0) {
            if (phone == NULL || phone->len == 0) {
                continue;
            }

            plain = *phone;

        } else {
            v = json_object_get(json, (char *) f->data);

            if (!json_is_string(v)) {
                continue;
            }

            plain.data = (u_char *) json_string_value(v);
            plain.len = json_string_length(v);
        }

        args[(*n)++] = *f;

        if (ngx_http_member_pii_aad(r->pool, id, f, &aad) != NGX_OK
            || ngx_http_member_pii_seal(r, &aad, &plain, &args[(*n)++])
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* month and day alone, for the birthday trigger: docs/keys.md */
        if (f->len == 8 && ngx_strncmp(f->data, "birthday", 8) == 0
            && plain.len == 10)
        {
            ngx_str_set(&args[*n], "birth_md");
            (*n)++;

            args[*n].data = ngx_pnalloc(r->pool, 4);
            if (args[*n].data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(args[*n].data, plain.data + 5, 2);
            ngx_memcpy(args[*n].data + 2, plain.data + 8, 2);
            args[(*n)++].len = 4;
        }

        if (f->len == 4 && ngx_strncmp(f->data, "name", 4) == 0) {
            ngx_str_set(&args[*n], "name_masked");
            (*n)++;

            if (ngx_http_member_mask_name(r->pool, &plain, &args[(*n)++])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    /* given or withdrawn; never asked: no field (docs/outbox.md) */
    v = json_object_get(json_object_get(json, "consent"), "marketing");

    if (json_is_boolean(v)) {
        ngx_str_set(&args[*n], "consent_marketing");
        (*n)++;

        if (json_is_true(v)) {
            ngx_str_set(&args[*n], "1");

        } else {
            ngx_str_set(&args[*n], "0");
        }

        (*n)++;
    }

    return NGX_OK;
}
