/*
 * SHA-1 signatures: server URL, msg_signature, JS-SDK and cardExt
 * (spec sections 1, 2, 8, 9, 12).
 */

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "member_gateway.h"


#define MGW_SHA1_LEN  20


static mgw_status_t mgw_sign_sorted_digest(const mgw_str_t *parts,
    size_t n, uint8_t *md);
static mgw_status_t mgw_sign_digest(const mgw_str_t *parts,
    const size_t *order, size_t n, uint8_t *md);
static int mgw_sign_cmp(const mgw_str_t *a, const mgw_str_t *b);
static mgw_status_t mgw_sign_hex(const uint8_t *md, char *hex, size_t cap);
static int mgw_sign_hex_value(uint8_t c);


mgw_status_t
mgw_sign_sha1_sorted(const mgw_str_t *parts, size_t n, char *hex, size_t cap)
{
    uint8_t       md[MGW_SHA1_LEN];
    mgw_status_t  rc;

    if (hex == NULL || cap < MGW_SHA1_HEX_SIZE) {
        return MGW_ERR_SPACE;
    }

    rc = mgw_sign_sorted_digest(parts, n, md);
    if (rc != MGW_OK) {
        return rc;
    }

    return mgw_sign_hex(md, hex, cap);
}


mgw_status_t
mgw_sign_sha1_concat(const mgw_str_t *parts, size_t n, char *hex, size_t cap)
{
    uint8_t       md[MGW_SHA1_LEN];
    mgw_status_t  rc;

    if (hex == NULL || cap < MGW_SHA1_HEX_SIZE) {
        return MGW_ERR_SPACE;
    }

    if (parts == NULL && n != 0) {
        return MGW_ERR_ARG;
    }

    rc = mgw_sign_digest(parts, NULL, n, md);
    if (rc != MGW_OK) {
        return rc;
    }

    return mgw_sign_hex(md, hex, cap);
}


mgw_status_t
mgw_signature_verify(const mgw_str_t *parts, size_t n, const uint8_t *sig,
    size_t sig_len)
{
    int           hi, lo;
    size_t        i;
    uint8_t       md[MGW_SHA1_LEN], got[MGW_SHA1_LEN];
    mgw_status_t  rc;

    if (sig == NULL || sig_len != MGW_SHA1_HEX_LEN) {
        return MGW_ERR_FORMAT;
    }

    for (i = 0; i < MGW_SHA1_LEN; i++) {
        hi = mgw_sign_hex_value(sig[2 * i]);
        lo = mgw_sign_hex_value(sig[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return MGW_ERR_FORMAT;
        }

        got[i] = (uint8_t) (hi << 4 | lo);
    }

    rc = mgw_sign_sorted_digest(parts, n, md);
    if (rc != MGW_OK) {
        return rc;
    }

    if (CRYPTO_memcmp(md, got, MGW_SHA1_LEN) != 0) {
        return MGW_ERR_SIGNATURE;
    }

    return MGW_OK;
}


mgw_status_t
mgw_sign_jssdk(const mgw_str_t *ticket, const mgw_str_t *noncestr,
    const mgw_str_t *timestamp, const mgw_str_t *url, char *hex, size_t cap)
{
    size_t      i;
    mgw_str_t   parts[8];

    if (ticket == NULL || noncestr == NULL || timestamp == NULL
        || url == NULL)
    {
        return MGW_ERR_ARG;
    }

    parts[0].data = (const uint8_t *) "jsapi_ticket=";
    parts[0].len = sizeof("jsapi_ticket=") - 1;
    parts[1] = *ticket;
    parts[2].data = (const uint8_t *) "&noncestr=";
    parts[2].len = sizeof("&noncestr=") - 1;
    parts[3] = *noncestr;
    parts[4].data = (const uint8_t *) "&timestamp=";
    parts[4].len = sizeof("&timestamp=") - 1;
    parts[5] = *timestamp;
    parts[6].data = (const uint8_t *) "&url=";
    parts[6].len = sizeof("&url=") - 1;
    parts[7] = *url;

    /* location.href.split('#')[0] */

    for (i = 0; i < url->len; i++) {
        if (url->data[i] == '#') {
            parts[7].len = i;
            break;
        }
    }

    return mgw_sign_sha1_concat(parts, 8, hex, cap);
}


mgw_status_t
mgw_sign_card_ext(const mgw_card_ext_t *ext, char *hex, size_t cap)
{
    mgw_str_t  parts[6];

    if (ext == NULL) {
        return MGW_ERR_ARG;
    }

    parts[0] = ext->api_ticket;
    parts[1] = ext->timestamp;
    parts[2] = ext->card_id;
    parts[3] = ext->code;
    parts[4] = ext->openid;
    parts[5] = ext->nonce_str;

    return mgw_sign_sha1_sorted(parts, 6, hex, cap);
}


mgw_status_t
mgw_random_nonce(char *out, size_t len)
{
    size_t   i, n;
    uint8_t  rnd[64];

    static const char  chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    if (out == NULL && len != 0) {
        return MGW_ERR_ARG;
    }

    n = 0;

    while (n < len) {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            return MGW_ERR_RANDOM;
        }

        /* 248 = 4 * 62: drop the bytes above it to keep the draw uniform */

        for (i = 0; i < sizeof(rnd) && n < len; i++) {
            if (rnd[i] < 248) {
                out[n++] = chars[rnd[i] % 62];
            }
        }
    }

    OPENSSL_cleanse(rnd, sizeof(rnd));

    return MGW_OK;
}


static mgw_status_t
mgw_sign_sorted_digest(const mgw_str_t *parts, size_t n, uint8_t *md)
{
    size_t  i, j;
    size_t  order[MGW_SIGN_PARTS_MAX];

    if ((parts == NULL && n != 0) || n > MGW_SIGN_PARTS_MAX) {
        return MGW_ERR_ARG;
    }

    for (i = 0; i < n; i++) {
        if (parts[i].data == NULL && parts[i].len != 0) {
            return MGW_ERR_ARG;
        }
    }

    /* insertion sort of at most MGW_SIGN_PARTS_MAX indices */

    for (i = 0; i < n; i++) {
        for (j = i; j > 0 && mgw_sign_cmp(&parts[order[j - 1]], &parts[i]) > 0;
             j--)
        {
            order[j] = order[j - 1];
        }

        order[j] = i;
    }

    return mgw_sign_digest(parts, order, n, md);
}


static mgw_status_t
mgw_sign_digest(const mgw_str_t *parts, const size_t *order, size_t n,
    uint8_t *md)
{
    size_t               i;
    unsigned int         md_len;
    EVP_MD_CTX          *ctx;
    const mgw_str_t     *p;
    mgw_status_t         rc;

    for (i = 0; i < n; i++) {
        if (parts[i].data == NULL && parts[i].len != 0) {
            return MGW_ERR_ARG;
        }
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return MGW_ERR_CRYPTO;
    }

    rc = MGW_ERR_CRYPTO;

    if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1) {
        goto done;
    }

    for (i = 0; i < n; i++) {
        p = &parts[order ? order[i] : i];

        if (p->len == 0) {
            continue;
        }

        if (EVP_DigestUpdate(ctx, p->data, p->len) != 1) {
            goto done;
        }
    }

    md_len = 0;

    if (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != MGW_SHA1_LEN)
    {
        goto done;
    }

    rc = MGW_OK;

done:

    EVP_MD_CTX_free(ctx);

    return rc;
}


static int
mgw_sign_cmp(const mgw_str_t *a, const mgw_str_t *b)
{
    int     r;
    size_t  n;

    n = (a->len < b->len) ? a->len : b->len;

    if (n != 0) {
        r = memcmp(a->data, b->data, n);
        if (r != 0) {
            return r;
        }
    }

    return (a->len > b->len) - (a->len < b->len);
}


static mgw_status_t
mgw_sign_hex(const uint8_t *md, char *hex, size_t cap)
{
    size_t  i;

    static const char  digits[] = "0123456789abcdef";

    if (cap < MGW_SHA1_HEX_SIZE) {
        return MGW_ERR_SPACE;
    }

    for (i = 0; i < MGW_SHA1_LEN; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0x0f];
    }

    hex[MGW_SHA1_HEX_LEN] = '\0';

    return MGW_OK;
}


static int
mgw_sign_hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}
