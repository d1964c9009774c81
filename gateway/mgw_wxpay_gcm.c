/*
 * WeChat Pay API v3 resources: AEAD_AES_256_GCM with the 32-byte APIv3
 * key, the resource's nonce and associated_data; the base64 ciphertext
 * ends with the 16-byte tag (docs/wxpay.md).
 */

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "member_gateway.h"


mgw_status_t
mgw_wxpay_decrypt(const uint8_t *apiv3_key, size_t key_len,
    const mgw_wxpay_resource_t *res, uint8_t *out, size_t cap,
    size_t *out_len)
{
    int               n, fin;
    size_t            raw_len, len;
    EVP_CIPHER_CTX   *ctx;
    mgw_status_t      rc;

    if (apiv3_key == NULL || key_len != MGW_WXPAY_APIV3_KEY_LEN
        || res == NULL || out == NULL || out_len == NULL
        || (res->associated_data.data == NULL
            && res->associated_data.len != 0))
    {
        return MGW_ERR_ARG;
    }

    *out_len = 0;

    if (res->nonce.data == NULL || res->nonce.len != MGW_WXPAY_GCM_NONCE_LEN
        || res->ciphertext.data == NULL || res->ciphertext.len == 0
        || res->associated_data.len > MGW_WXPAY_BODY_MAX)
    {
        return MGW_ERR_FORMAT;
    }

    if (res->ciphertext.len > MGW_WXPAY_BODY_MAX) {
        return MGW_ERR_LIMIT;
    }

    rc = mgw_base64_decode(res->ciphertext.data, res->ciphertext.len, out,
                           cap, &raw_len);
    if (rc != MGW_OK) {
        return rc;
    }

    if (raw_len < MGW_WXPAY_GCM_TAG_LEN) {
        rc = MGW_ERR_FORMAT;
        goto failed;
    }

    len = raw_len - MGW_WXPAY_GCM_TAG_LEN;

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        rc = MGW_ERR_CRYPTO;
        goto failed;
    }

    rc = MGW_ERR_CRYPTO;
    n = 0;
    fin = 0;

    /* the 12-byte nonce is GCM's default IV length */

    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, apiv3_key,
                           res->nonce.data)
        != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
                               MGW_WXPAY_GCM_TAG_LEN, out + len)
           != 1
        || (res->associated_data.len != 0
            && EVP_DecryptUpdate(ctx, NULL, &n, res->associated_data.data,
                                 (int) res->associated_data.len)
               != 1)
        || EVP_DecryptUpdate(ctx, out, &n, out, (int) len) != 1)
    {
        EVP_CIPHER_CTX_free(ctx);
        goto failed;
    }

    if (EVP_DecryptFinal_ex(ctx, out + n, &fin) != 1
        || (size_t) n + (size_t) fin != len)
    {
        EVP_CIPHER_CTX_free(ctx);
        rc = MGW_ERR_TAG;
        goto failed;
    }

    EVP_CIPHER_CTX_free(ctx);

    OPENSSL_cleanse(out + len, MGW_WXPAY_GCM_TAG_LEN);
    *out_len = len;

    return MGW_OK;

failed:

    ERR_clear_error();
    OPENSSL_cleanse(out, raw_len);

    return rc;
}


mgw_status_t
mgw_wxpay_encrypt(const uint8_t *apiv3_key, size_t key_len,
    const mgw_str_t *associated_data, const mgw_str_t *nonce,
    const uint8_t *plain, size_t len, uint8_t *out, size_t cap,
    size_t *out_len)
{
    int               n, fin;
    size_t            raw_len, blen;
    uint8_t          *p;
    EVP_CIPHER_CTX   *ctx;
    mgw_status_t      rc;

    if (apiv3_key == NULL || key_len != MGW_WXPAY_APIV3_KEY_LEN
        || associated_data == NULL || nonce == NULL || nonce->data == NULL
        || nonce->len != MGW_WXPAY_GCM_NONCE_LEN
        || (associated_data->data == NULL && associated_data->len != 0)
        || (plain == NULL && len != 0) || out == NULL || out_len == NULL)
    {
        return MGW_ERR_ARG;
    }

    *out_len = 0;

    if (len > MGW_WXPAY_BODY_MAX
        || associated_data->len > MGW_WXPAY_BODY_MAX)
    {
        return MGW_ERR_LIMIT;
    }

    raw_len = len + MGW_WXPAY_GCM_TAG_LEN;
    blen = MGW_BASE64_ENCODED_LEN(raw_len);

    if (cap < blen) {
        return MGW_ERR_SPACE;
    }

    /* encrypt at the tail of out, then base64 forward (mgw_msg_encrypt) */

    p = out + (blen - raw_len);

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return MGW_ERR_CRYPTO;
    }

    rc = MGW_ERR_CRYPTO;
    n = 0;
    fin = 0;

    if (len != 0) {
        memmove(p, plain, len);
    }

    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, apiv3_key,
                           nonce->data)
        != 1
        || (associated_data->len != 0
            && EVP_EncryptUpdate(ctx, NULL, &n, associated_data->data,
                                 (int) associated_data->len)
               != 1)
        || EVP_EncryptUpdate(ctx, p, &n, p, (int) len) != 1
        || EVP_EncryptFinal_ex(ctx, p + n, &fin) != 1
        || (size_t) n + (size_t) fin != len
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
                               MGW_WXPAY_GCM_TAG_LEN, p + len)
           != 1)
    {
        EVP_CIPHER_CTX_free(ctx);
        ERR_clear_error();
        OPENSSL_cleanse(out, blen);
        return rc;
    }

    EVP_CIPHER_CTX_free(ctx);

    return mgw_base64_encode(p, raw_len, out, cap, out_len);
}
