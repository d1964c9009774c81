/*
 * Answers of WeChat's server APIs beside the login (spec sections 6, 7,
 * 10): sns/oauth2/access_token, cgi-bin/token and stable_token,
 * ticket/getticket, wxa/business/getuserphonenumber, and the phone number
 * inside mini-program open data.
 */

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "member_gateway.h"
#include "mgw_private.h"


static json_t *mgw_api_load(const uint8_t *body, size_t len, long *errcode,
    mgw_api_result_t *res);
static mgw_api_result_t mgw_api_errcode(long code);
static int mgw_api_is_token_char(unsigned char c);
static mgw_api_result_t mgw_api_secret(const uint8_t *body, size_t len,
    const char *name, mgw_secret_t *out);
static mgw_status_t mgw_api_phone_info(json_t *info, const uint8_t *appid,
    size_t appid_len, mgw_phone_t *out);


/*
 * The JSON object of an answer, or NULL with *res set: WeChat's errcode
 * (absent counts as 0) decides.
 */

static json_t *
mgw_api_load(const uint8_t *body, size_t len, long *errcode,
    mgw_api_result_t *res)
{
    json_t        *root, *v;
    json_int_t     code;
    json_error_t   err;

    *res = MGW_API_UNAVAILABLE;
    *errcode = 0;

    if (body == NULL || len == 0) {
        return NULL;
    }

    root = json_loadb((const char *) body, len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        return NULL;
    }

    if (!json_is_object(root)) {
        json_decref(root);
        return NULL;
    }

    v = json_object_get(root, "errcode");

    if (v == NULL) {
        *res = MGW_API_OK;
        return root;
    }

    if (!json_is_integer(v)) {
        json_decref(root);
        return NULL;
    }

    code = json_integer_value(v);

    if (code < LONG_MIN || code > LONG_MAX) {
        json_decref(root);
        return NULL;
    }

    *errcode = (long) code;
    *res = mgw_api_errcode(*errcode);

    if (*res != MGW_API_OK) {
        json_decref(root);
        return NULL;
    }

    return root;
}


static mgw_api_result_t
mgw_api_errcode(long code)
{
    switch (code) {

    case 0:
        return MGW_API_OK;

    case 40029:
    case 40163:
        return MGW_API_BAD_CODE;

    case 40001:
    case 40014:
    case 42001:
        return MGW_API_TOKEN_INVALID;

    case 45011:
        return MGW_API_RATE_LIMITED;

    default:
        return MGW_API_UNAVAILABLE;
    }
}


const char *
mgw_api_result_str(mgw_api_result_t res)
{
    switch (res) {

    case MGW_API_OK:
        return "ok";

    case MGW_API_BAD_CODE:
        return "bad_code";

    case MGW_API_TOKEN_INVALID:
        return "token_invalid";

    case MGW_API_RATE_LIMITED:
        return "rate_limited";

    case MGW_API_MISMATCH:
        return "mismatch";

    case MGW_API_UNAVAILABLE:
        return "unavailable";
    }

    return "unknown";
}


mgw_api_result_t
mgw_oauth_parse(const uint8_t *body, size_t len, mgw_oauth_t *out)
{
    json_t            *root, *v;
    mgw_api_result_t   res;

    if (out == NULL) {
        return MGW_API_UNAVAILABLE;
    }

    memset(out, 0, sizeof(mgw_oauth_t));

    root = mgw_api_load(body, len, &out->errcode, &res);
    if (root == NULL) {
        return res;
    }

    res = MGW_API_UNAVAILABLE;

    if (mgw_json_copy(json_object_get(root, "openid"), out->openid,
                      MGW_OPENID_MAX, &out->openid_len, mgw_is_id_char)
        != 0)
    {
        goto done;
    }

    v = json_object_get(root, "unionid");

    if (v != NULL && !json_is_null(v)
        && mgw_json_copy(v, out->unionid, MGW_OPENID_MAX, &out->unionid_len,
                         mgw_is_id_char)
           != 0)
    {
        goto done;
    }

    /* the per-user access_token of this answer is of no use: not kept */

    res = MGW_API_OK;

done:

    json_decref(root);

    if (res != MGW_API_OK) {
        out->openid[0] = '\0';
        out->unionid[0] = '\0';
        out->openid_len = 0;
        out->unionid_len = 0;
    }

    return res;
}


mgw_api_result_t
mgw_token_parse(const uint8_t *body, size_t len, mgw_secret_t *out)
{
    return mgw_api_secret(body, len, "access_token", out);
}


mgw_api_result_t
mgw_ticket_parse(const uint8_t *body, size_t len, mgw_secret_t *out)
{
    return mgw_api_secret(body, len, "ticket", out);
}


static mgw_api_result_t
mgw_api_secret(const uint8_t *body, size_t len, const char *name,
    mgw_secret_t *out)
{
    json_t            *root, *v;
    json_int_t         n;
    mgw_api_result_t   res;

    if (out == NULL) {
        return MGW_API_UNAVAILABLE;
    }

    memset(out, 0, sizeof(mgw_secret_t));

    root = mgw_api_load(body, len, &out->errcode, &res);
    if (root == NULL) {
        return res;
    }

    res = MGW_API_UNAVAILABLE;

    if (mgw_json_copy(json_object_get(root, name), out->value,
                      MGW_SECRET_MAX, &out->len, mgw_api_is_token_char)
        != 0)
    {
        goto done;
    }

    v = json_object_get(root, "expires_in");

    if (!json_is_integer(v)) {
        goto done;
    }

    n = json_integer_value(v);

    if (n < 1 || n > 86400) {
        goto done;
    }

    out->expires_in = (long) n;
    res = MGW_API_OK;

done:

    json_decref(root);

    if (res != MGW_API_OK) {
        OPENSSL_cleanse(out->value, sizeof(out->value));
        out->len = 0;
        out->expires_in = 0;
    }

    return res;
}


mgw_api_result_t
mgw_phone_parse(const uint8_t *body, size_t len, const uint8_t *appid,
    size_t appid_len, mgw_phone_t *out)
{
    json_t            *root;
    mgw_status_t       rc;
    mgw_api_result_t   res;

    if (out == NULL) {
        return MGW_API_UNAVAILABLE;
    }

    memset(out, 0, sizeof(mgw_phone_t));

    root = mgw_api_load(body, len, &out->errcode, &res);

    if (root == NULL) {
        /* here 40013 means the code belongs to another appid */
        return out->errcode == 40013 ? MGW_API_BAD_CODE : res;
    }

    rc = mgw_api_phone_info(json_object_get(root, "phone_info"), appid,
                            appid_len, out);

    json_decref(root);

    if (rc == MGW_OK) {
        return MGW_API_OK;
    }

    return rc == MGW_ERR_APPID ? MGW_API_MISMATCH : MGW_API_UNAVAILABLE;
}


mgw_status_t
mgw_open_data_phone(const uint8_t *json, size_t len, const uint8_t *appid,
    size_t appid_len, mgw_phone_t *out)
{
    json_t        *root;
    json_error_t   err;
    mgw_status_t   rc;

    if (out == NULL || json == NULL) {
        return MGW_ERR_ARG;
    }

    memset(out, 0, sizeof(mgw_phone_t));

    root = json_loadb((const char *) json, len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        return MGW_ERR_FORMAT;
    }

    rc = mgw_api_phone_info(root, appid, appid_len, out);

    json_decref(root);

    return rc;
}


static int
mgw_api_digits(const char *s, size_t n, size_t min, size_t max)
{
    size_t  i;

    if (n < min || n > max) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }

    return 1;
}


/*
 * {"phoneNumber","purePhoneNumber","countryCode","watermark":{...}}: the
 * number as "<11 digits>" for China (+86), "+<country><number>" otherwise,
 * so that one person's number always reads the same.
 */

static mgw_status_t
mgw_api_phone_info(json_t *info, const uint8_t *appid, size_t appid_len,
    mgw_phone_t *out)
{
    char         cc[8];
    json_t      *wm, *v, *pure;
    size_t       cc_len, n;
    const char  *s;

    if (!json_is_object(info) || appid == NULL || appid_len == 0) {
        return MGW_ERR_FORMAT;
    }

    wm = json_object_get(info, "watermark");
    v = json_object_get(wm, "appid");

    if (!json_is_object(wm) || !json_is_string(v)) {
        return MGW_ERR_FORMAT;
    }

    if (json_string_length(v) != appid_len
        || CRYPTO_memcmp(json_string_value(v), appid, appid_len) != 0)
    {
        return MGW_ERR_APPID;
    }

    v = json_object_get(wm, "timestamp");

    if (v != NULL && !json_is_integer(v)) {
        return MGW_ERR_FORMAT;
    }

    out->timestamp = v ? (long long) json_integer_value(v) : 0;

    /* countryCode is a string in WeChat's table, a number in its example */
    v = json_object_get(info, "countryCode");

    if (json_is_string(v)) {
        s = json_string_value(v);
        cc_len = json_string_length(v);

        if (cc_len > 0 && s[0] == '+') {
            s++;
            cc_len--;
        }

        if (!mgw_api_digits(s, cc_len, 1, 4)) {
            return MGW_ERR_FORMAT;
        }

        memcpy(cc, s, cc_len);

    } else if (json_is_integer(v) && json_integer_value(v) > 0
               && json_integer_value(v) < 10000)
    {
        cc_len = snprintf(cc, sizeof(cc), "%d", (int) json_integer_value(v));

    } else {
        return MGW_ERR_FORMAT;
    }

    pure = json_object_get(info, "purePhoneNumber");

    if (!json_is_string(pure)) {
        return MGW_ERR_FORMAT;
    }

    s = json_string_value(pure);
    n = json_string_length(pure);

    if (!mgw_api_digits(s, n, 4, 15)) {
        return MGW_ERR_FORMAT;
    }

    if (cc_len == 2 && cc[0] == '8' && cc[1] == '6') {
        memcpy(out->phone, s, n);
        out->len = n;

    } else {
        out->phone[0] = '+';
        memcpy(out->phone + 1, cc, cc_len);
        memcpy(out->phone + 1 + cc_len, s, n);
        out->len = 1 + cc_len + n;
    }

    out->phone[out->len] = '\0';

    return MGW_OK;
}


/* tokens and tickets: URL-safe printable ASCII, no space, '&' or '=' */

static int
mgw_api_is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '&' && c != '=' && c != '"'
           && c != '\\' && c != '#' && c != '?' && c != '%';
}
