/*
 * Mini-program login: the answer of sns/jscode2session (spec section 5).
 */

#include <limits.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "member_gateway.h"
#include "mgw_private.h"


static int mgw_login_is_b64_char(unsigned char c);


mgw_login_result_t
mgw_login_parse(const uint8_t *body, size_t len, mgw_login_t *out)
{
    json_t              *root, *v;
    json_int_t           code;
    json_error_t         err;
    mgw_login_result_t   res;

    if (out == NULL) {
        return MGW_LOGIN_UNAVAILABLE;
    }

    memset(out, 0, sizeof(mgw_login_t));

    if (body == NULL || len == 0) {
        return MGW_LOGIN_UNAVAILABLE;
    }

    root = json_loadb((const char *) body, len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        return MGW_LOGIN_UNAVAILABLE;
    }

    res = MGW_LOGIN_UNAVAILABLE;

    if (!json_is_object(root)) {
        goto done;
    }

    v = json_object_get(root, "errcode");

    if (v != NULL) {
        if (!json_is_integer(v)) {
            goto done;
        }

        code = json_integer_value(v);
        if (code < LONG_MIN || code > LONG_MAX) {
            goto done;
        }

        out->errcode = (long) code;

        switch (code) {

        case 0:
            break;

        case 40029:
        case 40163:
            res = MGW_LOGIN_BAD_CODE;
            goto done;

        case 45011:
            res = MGW_LOGIN_RATE_LIMITED;
            goto done;

        case 40226:
            res = MGW_LOGIN_BLOCKED;
            goto done;

        default:
            goto done;
        }
    }

    if (mgw_json_copy(json_object_get(root, "openid"), out->openid,
                      MGW_OPENID_MAX, &out->openid_len,
                      mgw_is_id_char)
        != 0)
    {
        goto done;
    }

    if (mgw_json_copy(json_object_get(root, "session_key"),
                      out->session_key, MGW_SESSION_KEY_MAX,
                      &out->session_key_len, mgw_login_is_b64_char)
        != 0)
    {
        goto done;
    }

    /* unionid is optional: absent or null leaves it empty */

    v = json_object_get(root, "unionid");

    if (v != NULL && !json_is_null(v)) {
        if (mgw_json_copy(v, out->unionid, MGW_OPENID_MAX,
                          &out->unionid_len, mgw_is_id_char)
            != 0)
        {
            goto done;
        }
    }

    res = MGW_LOGIN_OK;

done:

    json_decref(root);

    if (res != MGW_LOGIN_OK) {
        /* never hand out half of an answer, least of all a session key */
        OPENSSL_cleanse(out->session_key, sizeof(out->session_key));
        memset(out->openid, 0, sizeof(out->openid));
        memset(out->unionid, 0, sizeof(out->unionid));
        out->openid_len = 0;
        out->unionid_len = 0;
        out->session_key_len = 0;
    }

    return res;
}


const char *
mgw_login_result_str(mgw_login_result_t res)
{
    switch (res) {

    case MGW_LOGIN_OK:
        return "ok";

    case MGW_LOGIN_BAD_CODE:
        return "bad_code";

    case MGW_LOGIN_RATE_LIMITED:
        return "rate_limited";

    case MGW_LOGIN_BLOCKED:
        return "blocked";

    case MGW_LOGIN_UNAVAILABLE:
        return "unavailable";
    }

    return "unknown";
}


static int
mgw_login_is_b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}

