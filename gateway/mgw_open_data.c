/*
 * Mini-program encrypted data, WXBizDataCrypt (spec section 10):
 * AES-128-CBC keyed by the session_key, PKCS#7 with a 16-byte unit.
 */

#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "member_gateway.h"


#define MGW_OPEN_DATA_KEY_LEN  16
#define MGW_OPEN_DATA_MAX      (1024 * 1024)


static mgw_status_t mgw_open_data_b64_16(const mgw_str_t *s, uint8_t *out);


mgw_status_t
mgw_open_data_decrypt(const mgw_str_t *session_key, const mgw_str_t *iv,
    const mgw_str_t *data, uint8_t *out, size_t cap, size_t *out_len)
{
    int               n, fin;
    size_t            i, len, pad;
    uint8_t           key[MGW_OPEN_DATA_KEY_LEN], ivb[MGW_OPEN_DATA_KEY_LEN];
    mgw_status_t      rc;
    EVP_CIPHER_CTX   *ctx;

    if (session_key == NULL || iv == NULL || data == NULL || out == NULL
        || out_len == NULL)
    {
        return MGW_ERR_ARG;
    }

    *out_len = 0;

    if (data->len == 0 || data->len > MGW_BASE64_ENCODED_LEN(MGW_OPEN_DATA_MAX))
    {
        return MGW_ERR_FORMAT;
    }

    rc = mgw_open_data_b64_16(iv, ivb);
    if (rc != MGW_OK) {
        return rc;
    }

    rc = mgw_base64_decode(data->data, data->len, out, cap, &len);
    if (rc != MGW_OK) {
        return rc;
    }

    if (len == 0 || len % 16 != 0) {
        return MGW_ERR_FORMAT;
    }

    rc = mgw_open_data_b64_16(session_key, key);
    if (rc != MGW_OK) {
        return rc;
    }

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        OPENSSL_cleanse(key, sizeof(key));
        return MGW_ERR_CRYPTO;
    }

    rc = MGW_ERR_CRYPTO;

    /* library padding off: checked below, and in place needs no spare block */

    n = 0;
    fin = 0;

    if (EVP_DecryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, key, ivb) != 1
        || EVP_CIPHER_CTX_set_padding(ctx, 0) != 1
        || EVP_DecryptUpdate(ctx, out, &n, out, (int) len) != 1
        || EVP_DecryptFinal_ex(ctx, out + n, &fin) != 1
        || (size_t) n + (size_t) fin != len)
    {
        goto done;
    }

    rc = MGW_ERR_PADDING;

    pad = out[len - 1];

    if (pad < 1 || pad > 16) {
        goto done;
    }

    for (i = len - pad; i < len; i++) {
        if (out[i] != pad) {
            goto done;
        }
    }

    OPENSSL_cleanse(out + len - pad, pad);

    *out_len = len - pad;
    rc = MGW_OK;

done:

    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(key, sizeof(key));

    if (rc != MGW_OK) {
        OPENSSL_cleanse(out, len);
    }

    return rc;
}


mgw_status_t
mgw_open_data_check(const uint8_t *json, size_t len, const uint8_t *appid,
    size_t appid_len, long long *timestamp)
{
    json_t        *root, *wm, *v;
    json_error_t   err;
    mgw_status_t   rc;

    if (timestamp != NULL) {
        *timestamp = 0;
    }

    if (json == NULL || appid == NULL || appid_len == 0) {
        return MGW_ERR_ARG;
    }

    root = json_loadb((const char *) json, len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        return MGW_ERR_FORMAT;
    }

    rc = MGW_ERR_FORMAT;

    wm = json_object_get(root, "watermark");

    if (!json_is_object(wm)) {
        goto done;
    }

    v = json_object_get(wm, "appid");

    if (!json_is_string(v)) {
        goto done;
    }

    if (json_string_length(v) != appid_len
        || CRYPTO_memcmp(json_string_value(v), appid, appid_len) != 0)
    {
        rc = MGW_ERR_APPID;
        goto done;
    }

    v = json_object_get(wm, "timestamp");

    if (v != NULL && !json_is_integer(v)) {
        goto done;
    }

    if (v != NULL && timestamp != NULL) {
        *timestamp = json_integer_value(v);
    }

    rc = MGW_OK;

done:

    json_decref(root);

    return rc;
}


static mgw_status_t
mgw_open_data_b64_16(const mgw_str_t *s, uint8_t *out)
{
    size_t        n;
    uint8_t       buf[MGW_BASE64_DECODED_MAX(24)];
    mgw_status_t  rc;

    /* 16 bytes are exactly 24 base64 characters */

    if (s->data == NULL || s->len != 24) {
        return MGW_ERR_FORMAT;
    }

    rc = mgw_base64_decode(s->data, s->len, buf, sizeof(buf), &n);

    if (rc == MGW_OK && n == MGW_OPEN_DATA_KEY_LEN) {
        memcpy(out, buf, MGW_OPEN_DATA_KEY_LEN);

    } else {
        rc = MGW_ERR_FORMAT;
    }

    OPENSSL_cleanse(buf, sizeof(buf));

    return rc;
}
