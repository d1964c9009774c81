/*
 * libFuzzer target: what a WeChat Pay notification hands the library, as
 * the notification handler will.  The input is split at its first four
 * '\n' into Wechatpay-Serial, -Timestamp, -Nonce, -Signature and the body;
 * mgw_wxpay_verify() checks them against a key made once here.  The body
 * then goes through mgw_wxpay_decrypt() as a resource (first byte: aad
 * length; then the aad, 12 bytes of nonce, the base64 ciphertext), and
 * through an encrypt/decrypt round trip that must give it back.
 *
 * A fuzzed signature never verifies; a resource that opens encrypts back
 * to the same text.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "member_gateway.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static const uint8_t  apiv3_key[] = "ngxMemberApiV3Key0123456789abcde";
static const uint8_t  gcm_nonce[] = "fdasflkja484";

static mgw_wxpay_key_t  *platform;


static void
fuzz_key(void)
{
    BIO       *bio;
    char      *pem;
    long       n;
    EVP_PKEY  *pkey;

    pkey = EVP_RSA_gen(2048);
    bio = BIO_new(BIO_s_mem());

    if (pkey == NULL || bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1) {
        abort();
    }

    n = BIO_get_mem_data(bio, &pem);

    if (mgw_wxpay_key_public((const uint8_t *) pem, (size_t) n, &platform)
        != MGW_OK)
    {
        abort();
    }

    BIO_free(bio);
    EVP_PKEY_free(pkey);
}


static void
fuzz_round_trip(const uint8_t *p, size_t len)
{
    size_t     cap, enc_len, out_len;
    uint8_t   *enc, *out;
    mgw_str_t  aad, nonce;
    mgw_wxpay_resource_t  res;

    aad.data = p;
    aad.len = len < 16 ? len : 16;
    nonce.data = gcm_nonce;
    nonce.len = 12;

    cap = MGW_BASE64_ENCODED_LEN(len + 16);
    enc = malloc(cap);
    out = malloc(MGW_WXPAY_PLAIN_MAX(cap));

    if (enc == NULL || out == NULL) {
        abort();
    }

    res.associated_data = aad;
    res.nonce = nonce;
    res.ciphertext.data = enc;

    if (mgw_wxpay_encrypt(apiv3_key, 32, &aad, &nonce, p, len, enc, cap,
                          &enc_len)
        != MGW_OK
        || enc_len != cap)
    {
        abort();
    }

    res.ciphertext.len = enc_len;

    if (mgw_wxpay_decrypt(apiv3_key, 32, &res, out, MGW_WXPAY_PLAIN_MAX(cap),
                          &out_len)
        != MGW_OK
        || out_len != len || (len != 0 && memcmp(out, p, len) != 0))
    {
        abort();
    }

    /* the same with the first character changed: refused */

    enc[0] = (enc[0] == 'A') ? 'B' : 'A';

    if (mgw_wxpay_decrypt(apiv3_key, 32, &res, out, MGW_WXPAY_PLAIN_MAX(cap),
                          &out_len)
        == MGW_OK)
    {
        abort();
    }

    free(enc);
    free(out);
}


/*
 * what opened must be what was sealed: encrypting it again gives the same
 * bytes (the decoder ignores the unused low bits of the last character,
 * so compare bytes, not texts)
 */

static void
fuzz_same(const mgw_wxpay_resource_t *res, const uint8_t *plain, size_t len)
{
    size_t    cap, n, a, b;
    uint8_t  *enc, *x, *y;

    cap = MGW_BASE64_ENCODED_LEN(len + 16);
    enc = malloc(cap);
    x = malloc(len + 16);
    y = malloc(MGW_BASE64_DECODED_MAX(res->ciphertext.len));

    if (enc == NULL || x == NULL || y == NULL
        || mgw_wxpay_encrypt(apiv3_key, 32, &res->associated_data,
                             &res->nonce, plain, len, enc, cap, &n)
           != MGW_OK
        || mgw_base64_decode(enc, n, x, len + 16, &a) != MGW_OK
        || mgw_base64_decode(res->ciphertext.data, res->ciphertext.len, y,
                             MGW_BASE64_DECODED_MAX(res->ciphertext.len), &b)
           != MGW_OK
        || a != b || memcmp(x, y, a) != 0)
    {
        abort();
    }

    free(enc);
    free(x);
    free(y);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                i, k, start, cap, out_len, al;
    uint8_t              *out;
    mgw_str_t             f[5];
    mgw_status_t          rc;
    mgw_wxpay_signed_t    in;
    mgw_wxpay_resource_t  res;
    mgw_wxpay_platform_t  keys[1];

    if (size > 64 * 1024) {
        return 0;
    }

    if (platform == NULL) {
        fuzz_key();
    }

    memset(f, 0, sizeof(f));
    k = 0;
    start = 0;

    for (i = 0; i < size && k < 4; i++) {
        if (data[i] == '\n') {
            f[k].data = data + start;
            f[k].len = i - start;
            k++;
            start = i + 1;
        }
    }

    f[k].data = data + start;
    f[k].len = size - start;

    in.serial = f[0];
    in.timestamp = f[1];
    in.nonce = f[2];
    in.signature = f[3];
    in.body = f[4];

    keys[0].serial = f[0];
    keys[0].key = platform;

    rc = mgw_wxpay_verify(keys, 1, &in, 1765000000LL, 0);

    if (rc == MGW_OK || rc == MGW_ERR_ARG) {
        abort();
    }

    /* the body as a resource */

    if (f[4].len >= 1 + 12) {
        al = f[4].data[0];
        if (al > f[4].len - 1 - 12) {
            al = f[4].len - 1 - 12;
        }

        res.associated_data.data = f[4].data + 1;
        res.associated_data.len = al;
        res.nonce.data = f[4].data + 1 + al;
        res.nonce.len = 12;
        res.ciphertext.data = f[4].data + 1 + al + 12;
        res.ciphertext.len = f[4].len - 1 - al - 12;

        cap = MGW_WXPAY_PLAIN_MAX(res.ciphertext.len);
        out = malloc(cap + 1);
        if (out == NULL) {
            abort();
        }

        rc = mgw_wxpay_decrypt(apiv3_key, 32, &res, out, cap, &out_len);

        if (rc == MGW_OK) {
            fuzz_same(&res, out, out_len);

        } else if (rc != MGW_ERR_FORMAT && rc != MGW_ERR_TAG) {
            abort();
        }

        free(out);
    }

    fuzz_round_trip(data, size);

    return 0;
}
