/*
 * WeChat Pay API v3 signatures: the Authorization of a request, the
 * Wechatpay-* signature of an answer or a notification and
 * requestPayment's paySign (docs/wxpay.md).  Each is RSA-SHA256 with
 * PKCS#1 v1.5 padding over lines each ended by '\n', fed to the digest
 * one by one: a body is never copied.
 */

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "member_gateway.h"
#include "mgw_private.h"


#define MGW_WXPAY_TS_MAX     12

#define MGW_WXPAY_SCHEMA     "WECHATPAY2-SHA256-RSA2048 "


typedef struct {
    uint8_t  *p;
    size_t    cap;
    size_t    len;
    int       full;
} mgw_wxpay_buf_t;


static mgw_status_t mgw_wxpay_sign_parts(const mgw_wxpay_key_t *key,
    const mgw_str_t *lines, size_t n, int nl, uint8_t *out, size_t cap,
    size_t *out_len);
static mgw_status_t mgw_wxpay_verify_parts(const mgw_wxpay_key_t *key,
    const mgw_str_t *lines, size_t n, int nl, const uint8_t *sig,
    size_t sig_len);
static mgw_status_t mgw_wxpay_digest_lines(EVP_MD_CTX *md,
    const mgw_str_t *lines, size_t n, int nl, int sign);
static void mgw_wxpay_put(mgw_wxpay_buf_t *b, const void *p, size_t len);
static int mgw_wxpay_check(const mgw_str_t *s, size_t max, int (*ok)(int c));
static int mgw_wxpay_is_nonce_char(int c);
static int mgw_wxpay_is_serial_char(int c);
static int mgw_wxpay_is_digit(int c);
static int mgw_wxpay_is_upper(int c);
static int mgw_wxpay_is_url_char(int c);
static int mgw_wxpay_is_line_char(int c);
static int mgw_wxpay_is_id_char(int c);


mgw_status_t
mgw_wxpay_sign(const mgw_wxpay_key_t *key, const uint8_t *msg, size_t len,
    uint8_t *out, size_t cap, size_t *out_len)
{
    mgw_str_t  part;

    part.data = msg;
    part.len = len;

    if (msg == NULL && len != 0) {
        return MGW_ERR_ARG;
    }

    return mgw_wxpay_sign_parts(key, &part, 1, 0, out, cap, out_len);
}


mgw_status_t
mgw_wxpay_verify_signature(const mgw_wxpay_key_t *key, const uint8_t *msg,
    size_t len, const uint8_t *sig, size_t sig_len)
{
    mgw_str_t  part;

    part.data = msg;
    part.len = len;

    if (msg == NULL && len != 0) {
        return MGW_ERR_ARG;
    }

    return mgw_wxpay_verify_parts(key, &part, 1, 0, sig, sig_len);
}


static mgw_status_t
mgw_wxpay_sign_parts(const mgw_wxpay_key_t *key, const mgw_str_t *lines,
    size_t n, int nl, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t         siglen;
    uint8_t        sig[MGW_WXPAY_SIG_MAX];
    EVP_PKEY      *pkey;
    EVP_MD_CTX    *md;
    mgw_status_t   rc;

    if (out == NULL || out_len == NULL) {
        return MGW_ERR_ARG;
    }

    *out_len = 0;

    pkey = mgw_wxpay_key_pkey(key, 1);
    if (pkey == NULL) {
        return MGW_ERR_ARG;
    }

    if (cap < MGW_BASE64_ENCODED_LEN((size_t) EVP_PKEY_get_size(pkey))) {
        return MGW_ERR_SPACE;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return MGW_ERR_CRYPTO;
    }

    rc = MGW_ERR_CRYPTO;

    /* RSA keys sign with PKCS#1 v1.5 unless told otherwise */

    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1) {
        goto done;
    }

    rc = mgw_wxpay_digest_lines(md, lines, n, nl, 1);
    if (rc != MGW_OK) {
        goto done;
    }

    siglen = sizeof(sig);

    if (EVP_DigestSignFinal(md, sig, &siglen) != 1) {
        rc = MGW_ERR_CRYPTO;
        goto done;
    }

    rc = mgw_base64_encode(sig, siglen, out, cap, out_len);

done:

    EVP_MD_CTX_free(md);
    ERR_clear_error();

    return rc;
}


static mgw_status_t
mgw_wxpay_verify_parts(const mgw_wxpay_key_t *key, const mgw_str_t *lines,
    size_t n, int nl, const uint8_t *sig, size_t sig_len)
{
    size_t         raw_len;
    uint8_t        raw[MGW_WXPAY_SIG_MAX];
    EVP_PKEY      *pkey;
    EVP_MD_CTX    *md;
    mgw_status_t   rc;

    if (sig == NULL) {
        return MGW_ERR_ARG;
    }

    pkey = mgw_wxpay_key_pkey(key, 0);
    if (pkey == NULL) {
        return MGW_ERR_ARG;
    }

    if (sig_len == 0 || sig_len > MGW_WXPAY_SIG_B64_MAX
        || mgw_base64_decode(sig, sig_len, raw, sizeof(raw), &raw_len)
           != MGW_OK
        || raw_len == 0)
    {
        return MGW_ERR_FORMAT;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return MGW_ERR_CRYPTO;
    }

    rc = MGW_ERR_CRYPTO;

    if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) != 1) {
        goto done;
    }

    rc = mgw_wxpay_digest_lines(md, lines, n, nl, 0);
    if (rc != MGW_OK) {
        goto done;
    }

    /* 0 and -1 alike: a signature of the wrong length is no signature */

    rc = (EVP_DigestVerifyFinal(md, raw, raw_len) == 1) ? MGW_OK
                                                         : MGW_ERR_SIGNATURE;

done:

    EVP_MD_CTX_free(md);
    ERR_clear_error();

    return rc;
}


mgw_status_t
mgw_wxpay_authorize(const mgw_wxpay_merchant_t *m,
    const mgw_wxpay_request_t *req, char *nonce, uint8_t *out, size_t cap,
    size_t *out_len)
{
    int               tn;
    char              ts[24];
    char              made[MGW_WXPAY_NONCE_LEN];
    size_t            sig_len;
    uint8_t           sig[MGW_WXPAY_SIG_B64_MAX];
    mgw_str_t         lines[5], nc;
    mgw_status_t      rc;
    mgw_wxpay_buf_t   b;

    if (m == NULL || req == NULL || out == NULL || out_len == NULL
        || m->key == NULL)
    {
        return MGW_ERR_ARG;
    }

    *out_len = 0;

    /* what goes between quotes of the header cannot hold a quote */

    if (!mgw_wxpay_check(&m->mchid, MGW_WXPAY_MCHID_MAX, mgw_wxpay_is_digit)
        || !mgw_wxpay_check(&m->serial, MGW_WXPAY_SERIAL_MAX,
                            mgw_wxpay_is_serial_char)
        || !mgw_wxpay_check(&req->method, 16, mgw_wxpay_is_upper)
        || !mgw_wxpay_check(&req->url, 8192, mgw_wxpay_is_url_char)
        || req->url.data[0] != '/'
        || (req->body.data == NULL && req->body.len != 0)
        || req->timestamp < 0 || req->timestamp > 999999999999LL)
    {
        return MGW_ERR_ARG;
    }

    if (req->body.len > MGW_WXPAY_BODY_MAX) {
        return MGW_ERR_LIMIT;
    }

    if (req->nonce.len == 0) {
        rc = mgw_random_nonce(made, sizeof(made));
        if (rc != MGW_OK) {
            return rc;
        }

        nc.data = (const uint8_t *) made;
        nc.len = sizeof(made);

    } else if (mgw_wxpay_check(&req->nonce, MGW_WXPAY_NONCE_MAX,
                               mgw_wxpay_is_nonce_char))
    {
        nc = req->nonce;

    } else {
        return MGW_ERR_ARG;
    }

    tn = snprintf(ts, sizeof(ts), "%lld", req->timestamp);
    if (tn <= 0 || (size_t) tn >= sizeof(ts)) {
        return MGW_ERR_ARG;
    }

    lines[0] = req->method;
    lines[1] = req->url;
    lines[2].data = (const uint8_t *) ts;
    lines[2].len = (size_t) tn;
    lines[3] = nc;
    lines[4] = req->body;

    rc = mgw_wxpay_sign_parts(m->key, lines, 5, 1, sig, sizeof(sig),
                              &sig_len);
    if (rc != MGW_OK) {
        return rc;
    }

    b.p = out;
    b.cap = cap;
    b.len = 0;
    b.full = 0;

    mgw_wxpay_put(&b, MGW_WXPAY_SCHEMA "mchid=\"",
                  sizeof(MGW_WXPAY_SCHEMA "mchid=\"") - 1);
    mgw_wxpay_put(&b, m->mchid.data, m->mchid.len);
    mgw_wxpay_put(&b, "\",nonce_str=\"", 13);
    mgw_wxpay_put(&b, nc.data, nc.len);
    mgw_wxpay_put(&b, "\",signature=\"", 13);
    mgw_wxpay_put(&b, sig, sig_len);
    mgw_wxpay_put(&b, "\",timestamp=\"", 13);
    mgw_wxpay_put(&b, ts, (size_t) tn);
    mgw_wxpay_put(&b, "\",serial_no=\"", 13);
    mgw_wxpay_put(&b, m->serial.data, m->serial.len);
    mgw_wxpay_put(&b, "\"", 1);

    if (b.full) {
        OPENSSL_cleanse(out, cap);
        return MGW_ERR_SPACE;
    }

    if (nonce != NULL) {
        memcpy(nonce, nc.data, nc.len);
        nonce[nc.len] = '\0';
    }

    *out_len = b.len;

    return MGW_OK;
}


mgw_status_t
mgw_wxpay_verify(const mgw_wxpay_platform_t *keys, size_t n,
    const mgw_wxpay_signed_t *in, long long now, long window)
{
    size_t                  i;
    mgw_str_t               lines[3];
    long long               ts, d;
    const mgw_wxpay_key_t  *key;

    if ((keys == NULL && n != 0) || in == NULL || window < 0) {
        return MGW_ERR_ARG;
    }

    if (!mgw_wxpay_check(&in->serial, MGW_WXPAY_SERIAL_MAX,
                         mgw_wxpay_is_serial_char)
        || !mgw_wxpay_check(&in->timestamp, MGW_WXPAY_TS_MAX,
                            mgw_wxpay_is_digit)
        || !mgw_wxpay_check(&in->nonce, MGW_WXPAY_NONCE_MAX,
                            mgw_wxpay_is_line_char)
        || in->signature.data == NULL || in->signature.len == 0
        || in->signature.len > MGW_WXPAY_SIG_B64_MAX
        || (in->body.data == NULL && in->body.len != 0)
        || in->body.len > MGW_WXPAY_BODY_MAX)
    {
        return MGW_ERR_FORMAT;
    }

    key = NULL;

    for (i = 0; i < n; i++) {
        if (keys[i].serial.len == in->serial.len && keys[i].key != NULL
            && memcmp(keys[i].serial.data, in->serial.data, in->serial.len)
               == 0)
        {
            key = keys[i].key;
            break;
        }
    }

    if (key == NULL) {
        return MGW_ERR_SERIAL;
    }

    /* the cheap refusal before the RSA work: at most 12 digits, no overflow */

    ts = 0;

    for (i = 0; i < in->timestamp.len; i++) {
        ts = ts * 10 + (in->timestamp.data[i] - '0');
    }

    d = (now > ts) ? now - ts : ts - now;

    if (d > (window ? window : MGW_WXPAY_WINDOW)) {
        return MGW_ERR_STALE;
    }

    lines[0] = in->timestamp;
    lines[1] = in->nonce;
    lines[2] = in->body;

    return mgw_wxpay_verify_parts(key, lines, 3, 1, in->signature.data,
                                  in->signature.len);
}


mgw_status_t
mgw_wxpay_package(const mgw_str_t *prepay_id, uint8_t *out, size_t cap,
    size_t *out_len)
{
    if (prepay_id == NULL || out == NULL || out_len == NULL) {
        return MGW_ERR_ARG;
    }

    *out_len = 0;

    if (!mgw_wxpay_check(prepay_id, 128, mgw_wxpay_is_id_char)) {
        return MGW_ERR_FORMAT;
    }

    if (cap < sizeof("prepay_id=") - 1 + prepay_id->len) {
        return MGW_ERR_SPACE;
    }

    memcpy(out, "prepay_id=", sizeof("prepay_id=") - 1);
    memcpy(out + sizeof("prepay_id=") - 1, prepay_id->data, prepay_id->len);

    *out_len = sizeof("prepay_id=") - 1 + prepay_id->len;

    return MGW_OK;
}


mgw_status_t
mgw_wxpay_pay_sign(const mgw_wxpay_key_t *key, const mgw_str_t *appid,
    const mgw_str_t *timestamp, const mgw_str_t *nonce,
    const mgw_str_t *package, uint8_t *out, size_t cap, size_t *out_len)
{
    mgw_str_t  lines[4];

    if (appid == NULL || timestamp == NULL || nonce == NULL
        || package == NULL || out_len == NULL)
    {
        return MGW_ERR_ARG;
    }

    *out_len = 0;

    /* a '\n' inside a field would let one message pass for another */

    if (!mgw_wxpay_check(appid, MGW_APPID_MAX, mgw_wxpay_is_id_char)
        || !mgw_wxpay_check(timestamp, MGW_WXPAY_TS_MAX, mgw_wxpay_is_digit)
        || !mgw_wxpay_check(nonce, MGW_WXPAY_NONCE_MAX,
                            mgw_wxpay_is_nonce_char)
        || !mgw_wxpay_check(package, 256, mgw_wxpay_is_line_char))
    {
        return MGW_ERR_ARG;
    }

    lines[0] = *appid;
    lines[1] = *timestamp;
    lines[2] = *nonce;
    lines[3] = *package;

    return mgw_wxpay_sign_parts(key, lines, 4, 1, out, cap, out_len);
}


static mgw_status_t
mgw_wxpay_digest_lines(EVP_MD_CTX *md, const mgw_str_t *lines, size_t n,
    int nl, int sign)
{
    int     ok;
    size_t  i;

    for (i = 0; i < n; i++) {
        if (lines[i].data == NULL && lines[i].len != 0) {
            return MGW_ERR_ARG;
        }

        if (sign) {
            ok = (lines[i].len == 0
                  || EVP_DigestSignUpdate(md, lines[i].data, lines[i].len)
                     == 1)
                 && (!nl || EVP_DigestSignUpdate(md, "\n", 1) == 1);

        } else {
            ok = (lines[i].len == 0
                  || EVP_DigestVerifyUpdate(md, lines[i].data, lines[i].len)
                     == 1)
                 && (!nl || EVP_DigestVerifyUpdate(md, "\n", 1) == 1);
        }

        if (!ok) {
            return MGW_ERR_CRYPTO;
        }
    }

    return MGW_OK;
}


static void
mgw_wxpay_put(mgw_wxpay_buf_t *b, const void *p, size_t len)
{
    if (b->full || b->cap - b->len < len) {
        b->full = 1;
        return;
    }

    memcpy(b->p + b->len, p, len);
    b->len += len;
}


/* 1..max bytes, each accepted by ok */

static int
mgw_wxpay_check(const mgw_str_t *s, size_t max, int (*ok)(int c))
{
    size_t  i;

    if (s->data == NULL || s->len == 0 || s->len > max) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        if (!ok(s->data[i])) {
            return 0;
        }
    }

    return 1;
}


static int
mgw_wxpay_is_digit(int c)
{
    return c >= '0' && c <= '9';
}


static int
mgw_wxpay_is_upper(int c)
{
    return c >= 'A' && c <= 'Z';
}


static int
mgw_wxpay_is_nonce_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9');
}


static int
mgw_wxpay_is_id_char(int c)
{
    return mgw_wxpay_is_nonce_char(c) || c == '_' || c == '-';
}


/* hex of a certificate serial, PUB_KEY_ID_<digits> of a public key */

static int
mgw_wxpay_is_serial_char(int c)
{
    return mgw_wxpay_is_nonce_char(c) || c == '_';
}


/* printable ASCII but '"': safe in the header and on one line */

static int
mgw_wxpay_is_url_char(int c)
{
    return c > ' ' && c < 0x7f && c != '"';
}


/* no control character: a line of the signed message stays one line */

static int
mgw_wxpay_is_line_char(int c)
{
    return c >= ' ' && c != 0x7f;
}
