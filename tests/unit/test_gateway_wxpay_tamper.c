/*
 * mgw_wxpay*.c: WeChat Pay API v3 with keys generated at test time (group
 * setup) and tampered input: the Authorization's nonce and signature,
 * every one-bit change of a notification's body, nonce, timestamp and
 * signature, a wrong serial, a stale timestamp, malformed headers; a
 * resource's ciphertext, tag, AAD, nonce and key.  The known answers:
 * test_gateway_wxpay.c.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "member_gateway.h"


#define U(s)     ((const uint8_t *) (s))
#define LEN(s)   (sizeof(s) - 1)
#define STR(s)   ((mgw_str_t) { U(s), LEN(s) })
#define CSTR(s)  ((mgw_str_t) { U(s), strlen(s) })
#define NELTS(a) (sizeof(a) / sizeof((a)[0]))

/* a resource the size of a payment's (~400 bytes), and its base64 */
#define RESOURCE_PLAIN_LEN  400
#define RESOURCE_B64_MAX                                                      \
    MGW_BASE64_ENCODED_LEN(RESOURCE_PLAIN_LEN + MGW_WXPAY_GCM_TAG_LEN)


static const char  apiv3_key[] = "ngxMemberApiV3Key0123456789abcde";


/* a signed field replaced: refused before any key is used, or after */

static const struct {
    size_t         field;           /* in mgw_wxpay_signed_t */
    const char    *value;
    mgw_status_t   want;
} malformed[] = {
    { offsetof(mgw_wxpay_signed_t, timestamp), "17650000x0", MGW_ERR_FORMAT },
    { offsetof(mgw_wxpay_signed_t, timestamp), "", MGW_ERR_FORMAT },
    { offsetof(mgw_wxpay_signed_t, timestamp), "-1765000000", MGW_ERR_FORMAT },
    { offsetof(mgw_wxpay_signed_t, timestamp), "9999999999999",
      MGW_ERR_FORMAT },
    { offsetof(mgw_wxpay_signed_t, nonce), "", MGW_ERR_FORMAT },
    { offsetof(mgw_wxpay_signed_t, nonce), "abc\ndef", MGW_ERR_FORMAT },
    { offsetof(mgw_wxpay_signed_t, serial), "", MGW_ERR_FORMAT },
    { offsetof(mgw_wxpay_signed_t, serial), "PUB KEY", MGW_ERR_FORMAT },
    { offsetof(mgw_wxpay_signed_t, signature), "", MGW_ERR_FORMAT },
    { offsetof(mgw_wxpay_signed_t, signature), "abc", MGW_ERR_FORMAT },
    { offsetof(mgw_wxpay_signed_t, signature), "QUJD",       /* 3 bytes */
      MGW_ERR_SIGNATURE },
};


/* the right serial with another key; serials nobody has; no keys */

static const struct {
    const char    *serial;
    size_t         keys;
    mgw_status_t   want;
} serials[] = {
    { "PUB_KEY_ID_0002", 2, MGW_ERR_SIGNATURE },
    { "PUB_KEY_ID_0003", 2, MGW_ERR_SERIAL },
    { "PUB_KEY_ID_0003", 0, MGW_ERR_SERIAL },
    { "PUB_KEY_ID_000", 2, MGW_ERR_SERIAL },
};


/* a resource changed: another AAD, none, another nonce; malformed ones */

static const struct {
    const char    *associated_data;     /* NULL: the resource's own */
    const char    *nonce;
    const char    *ciphertext;
    mgw_status_t   want;
} bad_resources[] = {
    { "transactioN", NULL, NULL, MGW_ERR_TAG },
    { "", NULL, NULL, MGW_ERR_TAG },
    { NULL, "fdasflkja485", NULL, MGW_ERR_TAG },
    { NULL, "fdasflkja48", NULL, MGW_ERR_FORMAT },
    { NULL, NULL, "not base64!", MGW_ERR_FORMAT },
    { NULL, NULL, "AAAAAAAAAAAAAAAAAAAA", MGW_ERR_FORMAT },  /* 15 bytes */
    { NULL, NULL, "", MGW_ERR_FORMAT },
};


/* keys made at test time (group setup) */

typedef struct {
    mgw_wxpay_key_t  *merchant;         /* private */
    mgw_wxpay_key_t  *platform;         /* private, signs notifications */
    mgw_wxpay_key_t  *platform_pub;     /* its public key */
    mgw_wxpay_key_t  *other_pub;        /* another platform's */

    /* {"PUB_KEY_ID_0002", other_pub}, {"PUB_KEY_ID_0001", platform_pub} */
    mgw_wxpay_platform_t  platforms[2];
} gen_keys_t;

static gen_keys_t  gen;


/* an RSA key of bits made by OpenSSL, as a PEM (private or public) */

static size_t
gen_pem(EVP_PKEY *pkey, int private, char *pem, size_t cap)
{
    BIO     *bio;
    char    *p;
    long     n;

    bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);

    if (private) {
        assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0,
                                                  NULL, NULL),
                         1);

    } else {
        assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
    }

    n = BIO_get_mem_data(bio, &p);
    assert_true(n > 0 && (size_t) n < cap);
    memcpy(pem, p, (size_t) n);
    BIO_free(bio);

    return (size_t) n;
}


static int
gen_setup(void **state)
{
    int        i;
    char       pem[4096];
    size_t     n;
    EVP_PKEY  *pkey;

    mgw_wxpay_key_t  **priv[] = { &gen.merchant, &gen.platform, NULL };
    mgw_wxpay_key_t  **pub[] = { NULL, &gen.platform_pub, &gen.other_pub };

    (void) state;

    for (i = 0; i < 3; i++) {
        pkey = EVP_RSA_gen(2048);
        if (pkey == NULL) {
            return -1;
        }

        if (priv[i] != NULL) {
            n = gen_pem(pkey, 1, pem, sizeof(pem));
            if (mgw_wxpay_key_private(U(pem), n, priv[i]) != MGW_OK) {
                return -1;
            }
        }

        if (pub[i] != NULL) {
            n = gen_pem(pkey, 0, pem, sizeof(pem));
            if (mgw_wxpay_key_public(U(pem), n, pub[i]) != MGW_OK) {
                return -1;
            }
        }

        EVP_PKEY_free(pkey);
    }

    gen.platforms[0].serial = STR("PUB_KEY_ID_0002");
    gen.platforms[0].key = gen.other_pub;
    gen.platforms[1].serial = STR("PUB_KEY_ID_0001");
    gen.platforms[1].key = gen.platform_pub;

    return 0;
}


static int
gen_teardown(void **state)
{
    (void) state;

    mgw_wxpay_key_free(gen.merchant);
    mgw_wxpay_key_free(gen.platform);
    mgw_wxpay_key_free(gen.platform_pub);
    mgw_wxpay_key_free(gen.other_pub);

    return 0;
}


static void
test_wxpay_authorize_random(void **state)
{
    char                  nonce1[MGW_WXPAY_NONCE_MAX + 1];
    char                  nonce2[MGW_WXPAY_NONCE_MAX + 1];
    char                  msg[256];
    size_t                i, n, ml;
    uint8_t               out[MGW_WXPAY_AUTH_MAX + 1];
    const char           *sig, *end;
    mgw_wxpay_request_t   req;
    mgw_wxpay_merchant_t  m;

    (void) state;

    m.mchid = STR("1900000001");
    m.serial = STR("ABC123");
    m.key = gen.merchant;

    memset(&req, 0, sizeof(req));
    req.method = STR("POST");
    req.url = STR("/v3/refund/domestic/refunds");
    req.body = STR("{\"out_refund_no\":\"F1\"}");
    req.timestamp = 1765000000LL;

    assert_int_equal(mgw_wxpay_authorize(&m, &req, nonce1, out,
                                         sizeof(out) - 1, &n),
                     MGW_OK);
    assert_int_equal(strlen(nonce1), MGW_WXPAY_NONCE_LEN);

    for (i = 0; i < MGW_WXPAY_NONCE_LEN; i++) {
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "abcdefghijklmnopqrstuvwxyz0123456789",
                               nonce1[i]));
    }

    /* the signature in the header verifies over the message it names */

    out[n] = '\0';
    sig = strstr((char *) out, "signature=\"");
    assert_non_null(sig);
    sig += LEN("signature=\"");
    end = strchr(sig, '"');
    assert_non_null(end);

    ml = (size_t) snprintf(msg, sizeof(msg),
                           "POST\n/v3/refund/domestic/refunds\n1765000000\n"
                           "%s\n{\"out_refund_no\":\"F1\"}\n", nonce1);

    assert_int_equal(mgw_wxpay_verify_signature(gen.merchant, U(msg), ml,
                                                U(sig),
                                                (size_t) (end - sig)),
                     MGW_OK);

    assert_int_equal(mgw_wxpay_authorize(&m, &req, nonce2, out,
                                         sizeof(out) - 1, &n),
                     MGW_OK);
    assert_string_not_equal(nonce1, nonce2);
}


/* a notification signed at test time by gen.platform */

typedef struct {
    char                  ts[16];
    char                  nonce[40];
    char                  body[1200];
    uint8_t               sig[MGW_WXPAY_SIG_B64_MAX];
    mgw_wxpay_signed_t    in;
} gen_notify_t;


static void
gen_notify(gen_notify_t *g, long long ts)
{
    char    msg[1400];
    size_t  n, ml;

    snprintf(g->ts, sizeof(g->ts), "%lld", ts);
    snprintf(g->nonce, sizeof(g->nonce), "%s", "0123456789abcdefABCDEF");
    snprintf(g->body, sizeof(g->body),
             "{\"id\":\"EV-1\",\"event_type\":\"REFUND.SUCCESS\"}");

    ml = (size_t) snprintf(msg, sizeof(msg), "%s\n%s\n%s\n", g->ts, g->nonce,
                           g->body);

    assert_int_equal(mgw_wxpay_sign(gen.platform, U(msg), ml, g->sig,
                                    sizeof(g->sig), &n),
                     MGW_OK);

    g->in.serial = STR("PUB_KEY_ID_0001");
    g->in.signature.data = g->sig;
    g->in.signature.len = n;
    g->in.timestamp.data = U(g->ts);
    g->in.timestamp.len = strlen(g->ts);
    g->in.nonce.data = U(g->nonce);
    g->in.nonce.len = strlen(g->nonce);
    g->in.body.data = U(g->body);
    g->in.body.len = strlen(g->body);
}


static void
flip(const mgw_str_t *s, size_t byte, unsigned bit)
{
    ((uint8_t *) s->data)[byte] ^= (uint8_t) (1u << bit);
}


/* one bit of s changed: the signature no longer holds; then changed back */

static void
assert_flip_refused(const mgw_wxpay_platform_t *keys, gen_notify_t *g,
    const mgw_str_t *s, size_t byte, unsigned bit, long long now)
{
    flip(s, byte, bit);
    assert_int_equal(mgw_wxpay_verify(keys, 2, &g->in, now, 0),
                     MGW_ERR_SIGNATURE);
    flip(s, byte, bit);
}


static void
test_wxpay_verify_tamper(void **state)
{
    size_t                       i, n, bl;
    uint8_t                      raw[MGW_WXPAY_SIG_MAX];
    uint8_t                      b64[MGW_WXPAY_SIG_B64_MAX + 8];
    long long                    now;
    gen_notify_t                 g;
    const mgw_wxpay_platform_t  *keys;

    (void) state;

    now = 1765000000LL;
    keys = gen.platforms;
    gen_notify(&g, now);
    assert_int_equal(mgw_wxpay_verify(keys, 2, &g.in, now, 0), MGW_OK);

    /* one bit anywhere in body, nonce, timestamp: a bad signature */

    for (i = 0; i < g.in.body.len; i += 7) {
        assert_flip_refused(keys, &g, &g.in.body, i, i % 7, now);
    }

    assert_flip_refused(keys, &g, &g.in.nonce, 3, 0, now);
    assert_flip_refused(keys, &g, &g.in.timestamp,            /* 1 second */
                        g.in.timestamp.len - 1, 0, now);

    /* one bit of the signature itself, at its start, middle and end */

    assert_int_equal(mgw_base64_decode(g.in.signature.data,
                                       g.in.signature.len, raw, sizeof(raw),
                                       &n),
                     MGW_OK);
    assert_int_equal(n, 256);

    for (i = 0; i < n; i += 85) {
        raw[i] ^= 0x10;
        assert_int_equal(mgw_base64_encode(raw, n, b64, sizeof(b64), &bl),
                         MGW_OK);
        g.in.signature.data = b64;
        assert_int_equal(mgw_wxpay_verify(keys, 2, &g.in, now, 0),
                         MGW_ERR_SIGNATURE);
        raw[i] ^= 0x10;
    }

    g.in.signature.data = g.sig;
    assert_int_equal(mgw_wxpay_verify(keys, 2, &g.in, now, 0), MGW_OK);

    for (i = 0; i < NELTS(serials); i++) {
        g.in.serial = CSTR(serials[i].serial);
        assert_int_equal(mgw_wxpay_verify(keys, serials[i].keys, &g.in, now,
                                          0),
                         serials[i].want);
    }

    g.in.serial = STR("PUB_KEY_ID_0001");

    /* stale: a replay after the window, or a clock far ahead */

    assert_int_equal(mgw_wxpay_verify(keys, 2, &g.in, now + 301, 0),
                     MGW_ERR_STALE);
    assert_int_equal(mgw_wxpay_verify(keys, 2, &g.in, now - 301, 0),
                     MGW_ERR_STALE);
    assert_int_equal(mgw_wxpay_verify(keys, 2, &g.in, now - 300, 0),
                     MGW_OK);
}


static void
test_wxpay_verify_malformed(void **state)
{
    char                         probe[400];
    size_t                       i;
    uint8_t                      big[MGW_WXPAY_SIG_B64_MAX + 4];
    long long                    now;
    gen_notify_t                 g;
    mgw_wxpay_signed_t           in;
    const mgw_wxpay_platform_t  *keys;

    (void) state;

    now = 1765000000LL;
    keys = &gen.platforms[1];                   /* PUB_KEY_ID_0001 only */
    gen_notify(&g, now);

    for (i = 0; i < NELTS(malformed); i++) {
        in = g.in;
        *(mgw_str_t *) ((char *) &in + malformed[i].field) =
            CSTR(malformed[i].value);
        assert_int_equal(mgw_wxpay_verify(keys, 1, &in, now, 0),
                         malformed[i].want);
    }

    /* WeChat Pay's signature probe, and a signature too long */

    in = g.in;
    snprintf(probe, sizeof(probe), "WECHATPAY/SIGNTEST/%.*s",
             (int) (g.in.signature.len - 20), g.in.signature.data);
    in.signature.data = U(probe);
    in.signature.len = strlen(probe);
    assert_int_not_equal(mgw_wxpay_verify(keys, 1, &in, now, 0), MGW_OK);

    memset(big, 'A', sizeof(big));
    in.signature.data = big;
    in.signature.len = MGW_WXPAY_SIG_B64_MAX + 4;
    assert_int_equal(mgw_wxpay_verify(keys, 1, &in, now, 0), MGW_ERR_FORMAT);

    in = g.in;
    in.body.data = NULL;
    assert_int_equal(mgw_wxpay_verify(keys, 1, &in, now, 0), MGW_ERR_FORMAT);

    assert_int_equal(mgw_wxpay_verify(keys, 1, NULL, now, 0), MGW_ERR_ARG);
    assert_int_equal(mgw_wxpay_verify(NULL, 1, &g.in, now, 0), MGW_ERR_ARG);
    assert_int_equal(mgw_wxpay_verify(keys, 1, &g.in, now, -1), MGW_ERR_ARG);
}


static void
assert_wiped(const uint8_t *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        assert_int_equal(p[i], 0);
    }
}


/* mgw_wxpay_decrypt() with room for the resource: its status */

static mgw_status_t
decrypt(const uint8_t *key, size_t key_len, const mgw_wxpay_resource_t *res)
{
    size_t   n;
    uint8_t  out[MGW_WXPAY_PLAIN_MAX(RESOURCE_B64_MAX)];

    return mgw_wxpay_decrypt(key, key_len, res, out, sizeof(out), &n);
}


static void
test_wxpay_gcm_tamper(void **state)
{
    char                  bad_key[33];
    size_t                i, n, cl, bl;
    uint8_t               plain[RESOURCE_PLAIN_LEN];
    uint8_t               raw[MGW_WXPAY_PLAIN_MAX(RESOURCE_B64_MAX)];
    uint8_t               b64[RESOURCE_B64_MAX + 4];
    uint8_t               ct[RESOURCE_B64_MAX + 4];
    uint8_t               out[MGW_WXPAY_PLAIN_MAX(RESOURCE_B64_MAX)];
    mgw_wxpay_resource_t  res, r;

    (void) state;

    /* a payment's size of resource, encrypted here */

    for (i = 0; i < sizeof(plain); i++) {
        plain[i] = (uint8_t) ('a' + i % 26);
    }

    res.associated_data = STR("transaction");
    res.nonce = STR("fdasflkja484");

    assert_int_equal(mgw_wxpay_encrypt(U(apiv3_key), LEN(apiv3_key),
                                       &res.associated_data, &res.nonce,
                                       plain, sizeof(plain), ct, sizeof(ct),
                                       &bl),
                     MGW_OK);

    res.ciphertext.data = ct;
    res.ciphertext.len = bl;

    assert_int_equal(decrypt(U(apiv3_key), LEN(apiv3_key), &res), MGW_OK);
    assert_int_equal(mgw_base64_decode(ct, bl, raw, sizeof(raw), &cl),
                     MGW_OK);
    assert_int_equal(cl, sizeof(plain) + MGW_WXPAY_GCM_TAG_LEN);

    /* one bit in the ciphertext, in the tag (its first and last byte) */

    for (i = 0; i < cl; i += (i + 17 < cl) ? 17 : 1) {
        raw[i] ^= 0x01;
        assert_int_equal(mgw_base64_encode(raw, cl, b64, sizeof(b64), &bl),
                         MGW_OK);
        raw[i] ^= 0x01;

        r = res;
        r.ciphertext.data = b64;
        r.ciphertext.len = bl;

        memset(out, 0xaa, sizeof(out));
        assert_int_equal(mgw_wxpay_decrypt(U(apiv3_key), LEN(apiv3_key), &r,
                                           out, sizeof(out), &n),
                         MGW_ERR_TAG);
        assert_int_equal(n, 0);
        assert_wiped(out, cl);
    }

    for (i = 0; i < NELTS(bad_resources); i++) {
        r = res;

        if (bad_resources[i].associated_data) {
            r.associated_data = CSTR(bad_resources[i].associated_data);
        }

        if (bad_resources[i].nonce) {
            r.nonce = CSTR(bad_resources[i].nonce);
        }

        if (bad_resources[i].ciphertext) {
            r.ciphertext = CSTR(bad_resources[i].ciphertext);
        }

        assert_int_equal(decrypt(U(apiv3_key), LEN(apiv3_key), &r),
                         bad_resources[i].want);
    }

    /* another key; a key not 32 bytes */

    memcpy(bad_key, apiv3_key, sizeof(bad_key));
    bad_key[31] ^= 0x01;
    assert_int_equal(decrypt(U(bad_key), 32, &res), MGW_ERR_TAG);
    assert_int_equal(decrypt(U(apiv3_key), 31, &res), MGW_ERR_ARG);
    assert_int_equal(decrypt(U(apiv3_key), 33, &res), MGW_ERR_ARG);

    /* an empty plaintext is only a tag, and still authenticated */

    assert_int_equal(mgw_wxpay_encrypt(U(apiv3_key), LEN(apiv3_key),
                                       &STR("x"), &STR("fdasflkja484"),
                                       NULL, 0, b64, 24, &bl),
                     MGW_OK);
    assert_int_equal(bl, 24);

    r.associated_data = STR("x");
    r.nonce = STR("fdasflkja484");
    r.ciphertext.data = b64;
    r.ciphertext.len = bl;
    assert_int_equal(mgw_wxpay_decrypt(U(apiv3_key), LEN(apiv3_key), &r, out,
                                       sizeof(out), &n),
                     MGW_OK);
    assert_int_equal(n, 0);

    r.associated_data = STR("y");
    assert_int_equal(decrypt(U(apiv3_key), LEN(apiv3_key), &r), MGW_ERR_TAG);

    assert_int_equal(mgw_wxpay_encrypt(U(apiv3_key), LEN(apiv3_key),
                                       &STR("x"), &STR("fdasflkja484"),
                                       NULL, 0, b64, 23, &bl),
                     MGW_ERR_SPACE);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_wxpay_authorize_random),
        cmocka_unit_test(test_wxpay_verify_tamper),
        cmocka_unit_test(test_wxpay_verify_malformed),
        cmocka_unit_test(test_wxpay_gcm_tamper),
    };

    return cmocka_run_group_tests_name("gateway_wxpay_tamper", tests,
                                       gen_setup, gen_teardown);
}
