/*
 * Message crypto of official-account pushes and replies, WXBizMsgCrypt
 * (spec sections 2, 3): AES-256-CBC, IV = first 16 bytes of the key,
 * plaintext random|len|msg|appid padded PKCS#7-style to 32 bytes.
 */

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "member_gateway.h"


#define MGW_MSG_HEADER_LEN  (MGW_MSG_RANDOM_LEN + 4)


static int mgw_crypt_is_key_char(uint8_t c);
static mgw_status_t mgw_crypt_cbc(const mgw_aes_key_t *key, uint8_t *buf,
    size_t len, int enc);


mgw_status_t
mgw_aes_key_init(mgw_aes_key_t *key, const uint8_t *encoding, size_t len)
{
    size_t        i, n;
    uint8_t       b64[MGW_ENCODING_AES_KEY_LEN + 1];
    uint8_t       raw[MGW_AES_KEY_LEN + 1];
    mgw_status_t  rc;

    if (key == NULL || encoding == NULL) {
        return MGW_ERR_ARG;
    }

    if (len != MGW_ENCODING_AES_KEY_LEN) {
        return MGW_ERR_FORMAT;
    }

    for (i = 0; i < len; i++) {
        if (!mgw_crypt_is_key_char(encoding[i])) {
            return MGW_ERR_FORMAT;
        }
    }

    /* base64_decode(EncodingAESKey + "="), the last 2 bits ignored */

    memcpy(b64, encoding, len);
    b64[len] = '=';

    rc = mgw_base64_decode(b64, sizeof(b64), raw, sizeof(raw), &n);

    if (rc == MGW_OK && n == MGW_AES_KEY_LEN) {
        memcpy(key->key, raw, MGW_AES_KEY_LEN);

    } else {
        rc = MGW_ERR_FORMAT;
    }

    OPENSSL_cleanse(b64, sizeof(b64));
    OPENSSL_cleanse(raw, sizeof(raw));

    return rc;
}


void
mgw_aes_key_wipe(mgw_aes_key_t *key)
{
    if (key != NULL) {
        OPENSSL_cleanse(key->key, sizeof(key->key));
    }
}


mgw_status_t
mgw_msg_encrypt(const mgw_aes_key_t *key, const uint8_t *msg, size_t msg_len,
    const uint8_t *appid, size_t appid_len, const uint8_t *random,
    uint8_t *out, size_t cap, size_t *out_len)
{
    size_t        plen, blen, used, pad;
    uint8_t      *p;
    mgw_status_t  rc;

    if (key == NULL || (msg == NULL && msg_len != 0) || appid == NULL
        || out == NULL || out_len == NULL)
    {
        return MGW_ERR_ARG;
    }

    if (appid_len == 0 || appid_len > MGW_APPID_MAX) {
        return MGW_ERR_ARG;
    }

    if (msg_len > MGW_MSG_MAX) {
        return MGW_ERR_LIMIT;
    }

    plen = MGW_MSG_CIPHER_LEN(msg_len, appid_len);
    blen = MGW_BASE64_ENCODED_LEN(plen);

    if (cap < blen) {
        return MGW_ERR_SPACE;
    }

    /*
     * build and encrypt the plaintext at the tail of out, then base64 it
     * forward onto the head: the encoder stays behind what it reads
     */

    p = out + (blen - plen);

    if (random == NULL) {
        if (RAND_bytes(p, MGW_MSG_RANDOM_LEN) != 1) {
            return MGW_ERR_RANDOM;
        }

    } else {
        memmove(p, random, MGW_MSG_RANDOM_LEN);
    }

    p[16] = (uint8_t) (msg_len >> 24);
    p[17] = (uint8_t) (msg_len >> 16);
    p[18] = (uint8_t) (msg_len >> 8);
    p[19] = (uint8_t) msg_len;

    used = MGW_MSG_HEADER_LEN;

    if (msg_len != 0) {
        memmove(p + used, msg, msg_len);
        used += msg_len;
    }

    memmove(p + used, appid, appid_len);
    used += appid_len;

    pad = plen - used;
    memset(p + used, (int) pad, pad);

    rc = mgw_crypt_cbc(key, p, plen, 1);
    if (rc != MGW_OK) {
        OPENSSL_cleanse(out, blen);
        return rc;
    }

    return mgw_base64_encode(p, plen, out, cap, out_len);
}


mgw_status_t
mgw_msg_decrypt(const mgw_aes_key_t *key, const uint8_t *enc, size_t enc_len,
    const uint8_t *appid, size_t appid_len, uint8_t *out, size_t cap,
    size_t *msg_len)
{
    size_t        i, n, pad, body, ml;
    mgw_status_t  rc;

    if (key == NULL || enc == NULL || appid == NULL || out == NULL
        || msg_len == NULL)
    {
        return MGW_ERR_ARG;
    }

    *msg_len = 0;

    if (enc_len == 0 || enc_len / 4 * 3 > MGW_MSG_MAX + 1024) {
        return MGW_ERR_FORMAT;
    }

    rc = mgw_base64_decode(enc, enc_len, out, cap, &n);
    if (rc != MGW_OK) {
        return rc;
    }

    if (n == 0 || n % 16 != 0) {
        rc = MGW_ERR_FORMAT;
        goto failed;
    }

    rc = mgw_crypt_cbc(key, out, n, 0);
    if (rc != MGW_OK) {
        goto failed;
    }

    rc = MGW_ERR_PADDING;

    pad = out[n - 1];

    if (pad < 1 || pad > MGW_MSG_PAD_UNIT || pad > n) {
        goto failed;
    }

    for (i = n - pad; i < n; i++) {
        if (out[i] != pad) {
            goto failed;
        }
    }

    body = n - pad;

    if (body < MGW_MSG_HEADER_LEN) {
        goto failed;
    }

    ml = (size_t) out[16] << 24 | (size_t) out[17] << 16
         | (size_t) out[18] << 8 | out[19];

    if (ml > body - MGW_MSG_HEADER_LEN) {
        goto failed;
    }

    rc = MGW_ERR_APPID;

    if (body - MGW_MSG_HEADER_LEN - ml != appid_len
        || CRYPTO_memcmp(out + MGW_MSG_HEADER_LEN + ml, appid, appid_len) != 0)
    {
        goto failed;
    }

    memmove(out, out + MGW_MSG_HEADER_LEN, ml);
    OPENSSL_cleanse(out + ml, n - ml);

    *msg_len = ml;

    return MGW_OK;

failed:

    OPENSSL_cleanse(out, n);

    return rc;
}


mgw_status_t
mgw_msg_open(const mgw_aes_key_t *key, const mgw_str_t *token,
    const mgw_str_t *appid, const mgw_msg_in_t *in, uint8_t *out, size_t cap,
    size_t *msg_len)
{
    mgw_str_t     parts[4];
    mgw_status_t  rc;

    if (key == NULL || token == NULL || appid == NULL || in == NULL
        || msg_len == NULL)
    {
        return MGW_ERR_ARG;
    }

    *msg_len = 0;

    if (token->len == 0 || in->encrypt.len == 0) {
        return MGW_ERR_ARG;
    }

    /* the signature first: an unsigned Encrypt is never decrypted */

    parts[0] = *token;
    parts[1] = in->timestamp;
    parts[2] = in->nonce;
    parts[3] = in->encrypt;

    rc = mgw_signature_verify(parts, 4, in->msg_signature.data,
                              in->msg_signature.len);
    if (rc != MGW_OK) {
        return rc;
    }

    return mgw_msg_decrypt(key, in->encrypt.data, in->encrypt.len,
                           appid->data, appid->len, out, cap, msg_len);
}


static int
mgw_crypt_is_key_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '+' || c == '/';
}


static mgw_status_t
mgw_crypt_cbc(const mgw_aes_key_t *key, uint8_t *buf, size_t len, int enc)
{
    int              n, fin;
    EVP_CIPHER_CTX  *ctx;
    mgw_status_t     rc;

    if (len > MGW_MSG_MAX + 1024) {
        return MGW_ERR_LIMIT;
    }

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return MGW_ERR_CRYPTO;
    }

    rc = MGW_ERR_CRYPTO;

    /* the scheme pads to 32 bytes itself, so the library must not pad */

    if (EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, key->key, key->key,
                          enc)
        != 1
        || EVP_CIPHER_CTX_set_padding(ctx, 0) != 1)
    {
        goto done;
    }

    n = 0;
    fin = 0;

    if (EVP_CipherUpdate(ctx, buf, &n, buf, (int) len) != 1
        || EVP_CipherFinal_ex(ctx, buf + n, &fin) != 1
        || (size_t) n + (size_t) fin != len)
    {
        goto done;
    }

    rc = MGW_OK;

done:

    EVP_CIPHER_CTX_free(ctx);

    return rc;
}
