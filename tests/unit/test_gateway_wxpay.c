/*
 * mgw_wxpay*.c: WeChat Pay API v3, known answers.  wechatpay-go's
 * published test key, certificate, public key, signature of "source" and
 * signed notification (utils/sign_test.go, core/notify/notify_test.go,
 * core/auth/verifiers/); GCM test case 16 of the GCM specification
 * (AES-256 with associated data) and case 14; and vectors of
 * tests/unit/vectors/make_wxpay.py (openssl dgst -sha256 -sign with the
 * test-only keys of tests/unit/data/wxpay/).  Keys generated at test time,
 * every one-bit change, wrong serial, stale timestamp, tampered resource:
 * test_gateway_wxpay_tamper.c.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "member_gateway.h"


#define U(s)     ((const uint8_t *) (s))
#define LEN(s)   (sizeof(s) - 1)
#define DATA(f)  TEST_SOURCE_ROOT "/tests/unit/data/wxpay/" f
#define STR(s)   ((mgw_str_t) { U(s), LEN(s) })
#define CSTR(s)  ((mgw_str_t) { U(s), strlen(s) })
#define NELTS(a) (sizeof(a) / sizeof((a)[0]))


/* wechatpay-go: SignSHA256WithRSA("source") with its test key */
static const char  go_source_signature[] =
    "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU"
    "9K6q9bLlDhPXuoVz+pp4hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8Fw"
    "UXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLli/K8V29"
    "QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G"
    "4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7D"
    "FD27EpSQEqA8bX9+8m1rLg==";

/* wechatpay-go: the notification of TestHandler_ParseNotifyRequest */
static const char  go_notify_serial[] = "D7CE59D1F522D701";
static const char  go_notify_timestamp[] = "1624523846";
static const char  go_notify_nonce[] = "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz";
static const char  go_notify_signature[] =
    "tJHIiIS9eB2hAYstmAmbbD3ZE5LiIm/Ug5tuL4fC0YOFRWIHV39UFIZXC0e9Wl6l"
    "Bu6sKvkqDkzpqzBsVHyXFlbYZTOQrVdG4b6LfTnK4mikv9++ixJMd3vTf2yCqvBk"
    "h98zs3Ds5zsYQakzbcwhmw4fMJs4nPLws28H0UW9FjDR//rxELLwXvV1VEA1IBLX"
    "70xptjL8hrfUjEE8kkry6yNJTHZRU8CAc7qHli2Ng1V1qb9ARbK8A3ThmFmPQvRG"
    "rapI/jS2laKKgYUmfdEdkNO6B2Cke5e8VTxY406ArAmQ90GAihDwIcb16TQMnzCM"
    "BoutnwZKNiKRACrFmtxw2Q==";

static const char  go_notify_body[] =
    "{\"id\":\"3119dfba-e649-5eec-ab1e-3412bc4d2e17\",\"create_time\""
    ":\"2021-06-24T16:37:26+08:00\",\"resource_type\":\"encrypt-resou"
    "rce\",\"event_type\":\"PAYSCORE.USER_OPEN_SERVICE\",\"summary\":"
    "\"\347\255\276\347\272\246\346\210\220\345\212\237\",\"resource"
    "\":{\"original_type\":\"payscore\",\"algorithm\":\"AEAD_AES_256_"
    "GCM\",\"ciphertext\":\"YDS3lKPaC4Y52Gf3uhft5qUBlIa8b428AWTtTauHQ"
    "fQrRw+X1WpiuHIDy0vo1Vd6VEq67aVyqPdDYMkRVSDaZL3iZttevRMOoPKMifozg"
    "6XPWjIZumks/GpT48lI4NizyeaqLBokNebthah3o1H76qSlO9NkDjp9bzmKLEYYH"
    "9TEklFUpsvPqOTOcgSLgh21YJXYR7dEBXFgRLiNIKRgO5JdXh1hccRUAlyVWxE54"
    "PXpnQ==\",\"associated_data\":\"payscore\",\"nonce\":\"Kj7QIyUiY"
    "x1q\"}}";

/* tests/unit/vectors/make_wxpay.py */

static const char  jsapi_body[] =
    "{\"appid\":\"wx0123456789abcdef\",\"mchid\":\"1900000001\",\"des"
    "cription\":\"\345\205\205\345\200\274 500\",\"out_trade_no\":\"R"
    "20261207000001\",\"notify_url\":\"https://card.example.com/wxpay"
    "/notify\",\"amount\":{\"total\":50000,\"currency\":\"CNY\"},\"pa"
    "yer\":{\"openid\":\"oMember0000000000000000001\"}}";

static const char  jsapi_signature[] =
    "YxVeopkjCijRKRnJLTm2kkHnufLfoMDnUNUAOjrQatXFx+MvEzc9BLDA+SqdECkX"
    "a21Di/A6Y3GJPmPf2w5DzUuOIysWj3Af7Xb9XqgcsJyBeY6rb7es6GwAIGGfPGB8"
    "Rok2x+FHuDxTaDtafrC0RSl4wntT04Q8y2LqmC9fNdkHujlPAkuFWPVcTBs96A4v"
    "hE50vUe7vYv/13rIla4Wo6b0xMQ9qPtm8WUluUX6pILkqXzGmLEUviO8IeUv39t0"
    "ppUJoZr6PPHrwRfsLBqaYZXRf2s4yvFywqNnPDnavuGxTsXjYdjIohq2d6rlYLA2"
    "3jVd6Zd2CCOmvv/iFLlwIg==";

static const char  query_signature[] =
    "ZhTrFP1/hjoADP1+iCLBw99Ahp2yF2KmFk3evffshiS3DeLkR0S12c4acC9GQBqT"
    "bHMdrX3nxPdax4R/Lg4xbbtUKNCA3H4Bk5T6hnwfcCLEbO2fC+Iqgqf/+1wbGQua"
    "pFG2etgPEaZC3sWfHOgbFdFS344WviB+09reT51wWjHDRLwu3wYs3pbuhhS+Tem5"
    "NYO4LwMWTsaykqbNlHo+CP/gw4cTOUMVTPtvLwZVm23mk2StxLBgd7ULtHyHYDEg"
    "VvymOMXjTZDt+h8Tpcp/Ye5ygtZM+se7P41w4sVLKhSfNFCzNQE5KATwqMVFslAa"
    "BRcz8DANc55qprN4TOYXdg==";

static const char  notify_plain[] =
    "{\"mchid\":\"1900000001\",\"appid\":\"wx0123456789abcdef\",\"out"
    "_trade_no\":\"R20261207000001\",\"transaction_id\":\"42000000012"
    "02612070000000001\",\"trade_type\":\"JSAPI\",\"trade_state\":\"S"
    "UCCESS\",\"trade_state_desc\":\"\346\224\257\344\273\230\346\210"
    "\220\345\212\237\",\"bank_type\":\"OTHERS\",\"attach\":\"\",\"su"
    "ccess_time\":\"2026-12-07T20:00:00+08:00\",\"payer\":{\"openid\""
    ":\"oMember0000000000000000001\"},\"amount\":{\"total\":50000,\"p"
    "ayer_total\":50000,\"currency\":\"CNY\",\"payer_currency\":\"CNY"
    "\"}}";

static const char  notify_ciphertext[] =
    "HdnhfRyzhG74m5Py+mnbOpB0m8YxB04sfvX7Sai6O9I9jJ2t2hQWr5dbUMfQHVew"
    "ua2oC60GVi8UZQFsb2b4y7Iuaf9i+Wcl1EYOFC/+xo1O23Tnt1VStD1TJ2LEm5mv"
    "KvVDWDrvI110rd33am9ejgxgNElJG6f2dwS2Ce8aKXQSNJWSYXZqU1DYyJACw+TP"
    "IpTZLKljOCTYvCtM34pv4beiYpucpDGflB3HXgbUSu/v2R2/IC0YaJHcsdT1qeL+"
    "zAFiNxei5rMn2fM8/IF16Pqj3EIDPJgpIbUcjfzeL8VZZbPFYzv9wc9cw/sYcwhT"
    "NoeKF1Rnh/YSisi1gQvn7RUUbD3g0JSmVx06NZE28dCpfhiU7NxINIRccBntg86m"
    "QLcS0l95ukof7yLNNTnKCSUoVT7p2sxofsyDvJCVdokmgY0HjBVhXHRfkQyMxSXk"
    "6/F87Lp7CA5cGOq4qmvCJrYKrS6bYgRNjMr/SBlHh6emeAyJ3MKW6Prs941rewLh"
    "RDZAz7MIFlukktnaS+ByhSJaLCthdiKK0QDjF1lfyIpbV98Rm1PCC1+LXdfRQZoX"
    "nwq1ug==";

static const char  notify_body[] =
    "{\"id\":\"EV-2018022511223320873\",\"create_time\":\"2026-12-07T"
    "20:00:01+08:00\",\"resource_type\":\"encrypt-resource\",\"event_"
    "type\":\"TRANSACTION.SUCCESS\",\"summary\":\"\346\224\257\344"
    "\273\230\346\210\220\345\212\237\",\"resource\":{\"original_type"
    "\":\"transaction\",\"algorithm\":\"AEAD_AES_256_GCM\",\"cipherte"
    "xt\":\"HdnhfRyzhG74m5Py+mnbOpB0m8YxB04sfvX7Sai6O9I9jJ2t2hQWr5dbU"
    "MfQHVewua2oC60GVi8UZQFsb2b4y7Iuaf9i+Wcl1EYOFC/+xo1O23Tnt1VStD1TJ"
    "2LEm5mvKvVDWDrvI110rd33am9ejgxgNElJG6f2dwS2Ce8aKXQSNJWSYXZqU1DYy"
    "JACw+TPIpTZLKljOCTYvCtM34pv4beiYpucpDGflB3HXgbUSu/v2R2/IC0YaJHcs"
    "dT1qeL+zAFiNxei5rMn2fM8/IF16Pqj3EIDPJgpIbUcjfzeL8VZZbPFYzv9wc9cw"
    "/sYcwhTNoeKF1Rnh/YSisi1gQvn7RUUbD3g0JSmVx06NZE28dCpfhiU7NxINIRcc"
    "Bntg86mQLcS0l95ukof7yLNNTnKCSUoVT7p2sxofsyDvJCVdokmgY0HjBVhXHRfk"
    "QyMxSXk6/F87Lp7CA5cGOq4qmvCJrYKrS6bYgRNjMr/SBlHh6emeAyJ3MKW6Prs9"
    "41rewLhRDZAz7MIFlukktnaS+ByhSJaLCthdiKK0QDjF1lfyIpbV98Rm1PCC1+LX"
    "dfRQZoXnwq1ug==\",\"associated_data\":\"transaction\",\"nonce\":"
    "\"fdasflkja484\"}}";

static const char  notify_signature[] =
    "rPWMpN+M9ocEbwqvax04yo4JflKIp9O7EWq31yPvxpWFZRQJr8+AfqY2snhM0z20"
    "QniHCNKPsZvuClBvDKKtq7CvDwe9nJFYO8Md7bN2t5WL4ERTjd7bOLbLPVuEjBhv"
    "OWbznrFnhADI2ec0qXndFjmm2rrIJVfFBsKkKOHkSU+YgnpeM4Bfa2Antvlj2l0Z"
    "nhERx0S9EmmJ8XyeHSsuaNWHnIzn7S6W87hgTL3OwINgj0njX7i+rYK7Vi+N1Vy4"
    "SqejqW8ks83sqinZOSKXVOe/+2eU/9fif6tREgjOTu1JbBwUOsT5jP9R1H+5OLXb"
    "wcEQ5h4Z6fY4qK8W2LndcQ==";

static const char  pay_signature[] =
    "EV89uWTPeOC3zz3bmtkybVBkAQ/2LdCuggbAubodu3ouQFy87SD11gQhK8odwnDh"
    "GNBy/Rj0XknMpgDRfV7zvPDdZo1qNoYOGhsXtHOkF+MTmgR9jxmcjg73/y0Lsd73"
    "cuOP381oFy1sIiulP6e9f7uL9v44kZhjmUbSQ+EOYSZhW+YDZNbVXH5tknVuzxlV"
    "Xbn79P0ocqrRrGoReI8PSoQkWvfDConQcxlT1RA2SQ/RIupCn5+4MFXemFXTXNkf"
    "gQGDDnwecdAh+kuOzR1idxUPgE2K3f3esX0iwlP0v9P5TR+OKi7F0R/wv3GEvW05"
    "X4Hninr0uD4Vw2D4YkLL2Q==";


static const char  apiv3_key[] = "ngxMemberApiV3Key0123456789abcde";
static const char  merchant_serial[] =
    "444F4864EA9B34415A5E1A6DE7B6DFB1D4C1C7B4";
static const char  platform_serial[] =
    "5157F09EFDC096DE15EBE81A47057A7232FE2B21";
static const char  pub_key_id[] =
    "PUB_KEY_ID_0119000000012026120700000000000001";
static const char  notify_timestamp[] = "1765000200";
static const char  notify_nonce[] = "Mq3fKzR8wT1nL6pY9vB2xC5hJ0dG7sEa";


/* GCM specification, test cases 14 and 16 (AES-256, 96-bit IV) */

typedef struct {
    const char  *key;
    const char  *iv;
    const char  *aad;
    const char  *pt;
    const char  *ct;
    const char  *tag;
} gcm_vector_t;

static const gcm_vector_t  gcm_vectors[] = {
    {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000",
        "",
        "00000000000000000000000000000000",
        "cea7403d4d606b6e074ec5d3baf39d18",
        "d0d1c8a799996bf0265b98b5d48ab919"
    },
    {
        "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        "cafebabefacedbaddecaf888",
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b"
    },
};


/* key files refused: too short, encrypted (never a prompt), wrong kind */

static const struct {
    int            private;
    const char    *path;
    mgw_status_t   want;
} refused_files[] = {
    { 1, DATA("weak_key.pem"), MGW_ERR_KEY },
    { 1, DATA("encrypted_key.pem"), MGW_ERR_KEY },
    { 1, DATA("platform_pub.pem"), MGW_ERR_KEY },
    { 1, DATA("platform_cert.pem"), MGW_ERR_KEY },
    { 0, DATA("merchant_key.pem"), MGW_ERR_KEY },
    { 0, DATA("weak_key.pem"), MGW_ERR_KEY },
    { 0, DATA("absent.pem"), MGW_ERR_NOT_FOUND },
};


/* the window: 300 s either side by default, or the caller's */

static const struct {
    long long      late;            /* now - the signed timestamp */
    long           window;
    mgw_status_t   want;
} windows[] = {
    { 300, 0, MGW_OK },
    { -300, 0, MGW_OK },
    { 301, 0, MGW_ERR_STALE },      /* a replay after the window */
    { -301, 0, MGW_ERR_STALE },     /* a clock far ahead */
    { 301, 600, MGW_OK },
    { 61, 60, MGW_ERR_STALE },
};


/* package: only an id's characters, room checked */

static const struct {
    const char    *prepay_id;
    size_t         cap;
    mgw_status_t   want;
} packages[] = {
    { "wx2014&x=1", 160, MGW_ERR_FORMAT },
    { "", 160, MGW_ERR_FORMAT },
    { "wx1", 12, MGW_ERR_SPACE },
    { "wx1", 13, MGW_OK },
};


static size_t
unhex(const char *hex, uint8_t *out)
{
    size_t        i, n;
    unsigned int  b;

    n = strlen(hex) / 2;

    for (i = 0; i < n; i++) {
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
        out[i] = (uint8_t) b;
    }

    return n;
}


/* a key file that must load: the merchant's (private) or a platform's */

static mgw_wxpay_key_t *
load_key(const char *path, int private)
{
    mgw_wxpay_key_t  *key;

    assert_int_equal(private ? mgw_wxpay_key_private_file(path, &key)
                             : mgw_wxpay_key_public_file(path, &key),
                     MGW_OK);
    assert_non_null(key);

    return key;
}


/* a certificate's serial as WeChat Pay writes it; NULL: a PEM key's none */

static void
assert_serial(const char *path, const char *want)
{
    char              serial[MGW_WXPAY_SERIAL_MAX + 1];
    size_t            n;
    mgw_wxpay_key_t  *key;

    key = load_key(path, 0);

    if (want == NULL) {
        assert_int_equal(mgw_wxpay_key_serial(key, serial, sizeof(serial),
                                              &n),
                         MGW_ERR_NOT_FOUND);

    } else {
        assert_int_equal(mgw_wxpay_key_serial(key, serial, sizeof(serial),
                                              &n),
                         MGW_OK);
        assert_int_equal(n, strlen(want));
        assert_string_equal(serial, want);
        assert_int_equal(mgw_wxpay_key_serial(key, serial, n, &n),
                         MGW_ERR_SPACE);
    }

    mgw_wxpay_key_free(key);
}


static void
test_wxpay_keys(void **state)
{
    size_t            i;
    mgw_status_t      rc;
    mgw_wxpay_key_t  *key;

    (void) state;

    /* PKCS#8 (wechatpay-go's) and PKCS#1 (openssl genrsa -traditional) */

    mgw_wxpay_key_free(load_key(DATA("go_merchant_key.pem"), 1));
    mgw_wxpay_key_free(load_key(DATA("merchant_key.pem"), 1));

    /* public-key mode: no serial inside; platform-certificate mode */

    assert_serial(DATA("go_platform_pub.pem"), NULL);
    assert_serial(DATA("go_platform_cert.pem"), go_notify_serial);
    assert_serial(DATA("platform_cert.pem"), platform_serial);

    for (i = 0; i < NELTS(refused_files); i++) {
        key = (mgw_wxpay_key_t *) &key;         /* must become NULL */
        rc = refused_files[i].private
             ? mgw_wxpay_key_private_file(refused_files[i].path, &key)
             : mgw_wxpay_key_public_file(refused_files[i].path, &key);
        assert_int_equal(rc, refused_files[i].want);
        assert_null(key);
    }

    /* junk, nothing, too much, no arguments */

    assert_int_equal(mgw_wxpay_key_public(U("-----BEGIN PUBLIC KEY-----\n"),
                                          27, &key),
                     MGW_ERR_KEY);
    assert_int_equal(mgw_wxpay_key_public(U(""), 0, &key), MGW_ERR_KEY);
    assert_int_equal(mgw_wxpay_key_private(U("x"), MGW_WXPAY_PEM_MAX + 1,
                                           &key),
                     MGW_ERR_KEY);
    assert_int_equal(mgw_wxpay_key_private(NULL, 0, &key), MGW_ERR_ARG);
    assert_int_equal(mgw_wxpay_key_public_file(NULL, &key), MGW_ERR_ARG);

    mgw_wxpay_key_free(NULL);
}


static void
assert_windows(const mgw_wxpay_platform_t *keys, size_t n,
    const mgw_wxpay_signed_t *in, long long ts)
{
    size_t  i;

    for (i = 0; i < NELTS(windows); i++) {
        assert_int_equal(mgw_wxpay_verify(keys, n, in, ts + windows[i].late,
                                          windows[i].window),
                         windows[i].want);
    }
}


static void
test_wxpay_go_vectors(void **state)
{
    size_t                n;
    uint8_t               sig[MGW_WXPAY_SIG_B64_MAX];
    mgw_wxpay_key_t      *priv, *cert, *pub;
    mgw_wxpay_signed_t    in;
    mgw_wxpay_platform_t  keys[2];

    (void) state;

    priv = load_key(DATA("go_merchant_key.pem"), 1);
    cert = load_key(DATA("go_platform_cert.pem"), 0);
    pub = load_key(DATA("go_platform_pub.pem"), 0);

    /* SignSHA256WithRSA("source") */

    assert_int_equal(mgw_wxpay_sign(priv, U("source"), 6, sig, sizeof(sig),
                                    &n),
                     MGW_OK);
    assert_int_equal(n, LEN(go_source_signature));
    assert_memory_equal(sig, go_source_signature, n);

    assert_int_equal(mgw_wxpay_verify_signature(cert, U("source"), 6,
                                                U(go_source_signature),
                                                LEN(go_source_signature)),
                     MGW_OK);
    assert_int_equal(mgw_wxpay_verify_signature(pub, U("source"), 6,
                                                U(go_source_signature),
                                                LEN(go_source_signature)),
                     MGW_OK);
    assert_int_equal(mgw_wxpay_verify_signature(pub, U("wrong source"), 12,
                                                U(go_source_signature),
                                                LEN(go_source_signature)),
                     MGW_ERR_SIGNATURE);
    assert_int_equal(mgw_wxpay_verify_signature(pub, U("source"), 6,
                                                U("not base64"), 10),
                     MGW_ERR_FORMAT);

    /* the signed notification, certificate mode then public-key mode */

    in.serial = STR(go_notify_serial);
    in.signature = STR(go_notify_signature);
    in.timestamp = STR(go_notify_timestamp);
    in.nonce = STR(go_notify_nonce);
    in.body = STR(go_notify_body);

    keys[0].serial = STR("F5765756002FDD77");
    keys[0].key = pub;
    keys[1].serial = STR(go_notify_serial);
    keys[1].key = cert;

    assert_int_equal(mgw_wxpay_verify(keys, 2, &in, 1624523846LL, 0),
                     MGW_OK);
    assert_int_equal(mgw_wxpay_verify(keys, 1, &in, 1624523846LL, 0),
                     MGW_ERR_SERIAL);

    keys[0].serial = STR("PUB_KEY_ID_0114232134912410000000000000");
    in.serial = keys[0].serial;

    assert_int_equal(mgw_wxpay_verify(keys, 2, &in, 1624523846LL, 0),
                     MGW_OK);
    assert_windows(keys, 2, &in, 1624523846LL);

    in.body.len--;
    assert_int_equal(mgw_wxpay_verify(keys, 2, &in, 1624523846LL, 0),
                     MGW_ERR_SIGNATURE);

    mgw_wxpay_key_free(priv);
    mgw_wxpay_key_free(cert);
    mgw_wxpay_key_free(pub);
}


/* mgw_wxpay_authorize() with room for any header: its status */

static mgw_status_t
authorize(const mgw_wxpay_merchant_t *m, const mgw_wxpay_request_t *req)
{
    size_t   n;
    uint8_t  out[MGW_WXPAY_AUTH_MAX];

    return mgw_wxpay_authorize(m, req, NULL, out, sizeof(out), &n);
}


static void
test_wxpay_authorize_known(void **state)
{
    char                  nonce[MGW_WXPAY_NONCE_MAX + 1];
    size_t                i, n, want_len;
    uint8_t               out[MGW_WXPAY_AUTH_MAX];
    char                  want[MGW_WXPAY_AUTH_MAX];
    mgw_wxpay_key_t      *key, *pub;
    mgw_wxpay_request_t   req, bad_req[5];
    mgw_wxpay_merchant_t  m, bad_m[3];

    (void) state;

    key = load_key(DATA("merchant_key.pem"), 1);
    pub = load_key(DATA("platform_pub.pem"), 0);

    m.mchid = STR("1900000001");
    m.serial = STR(merchant_serial);
    m.key = key;

    req.method = STR("POST");
    req.url = STR("/v3/pay/transactions/jsapi");
    req.body = STR(jsapi_body);
    req.timestamp = 1765000000LL;
    req.nonce = STR("593BEC0C930BF1AFEB40B4A08C8FB242");

    want_len = (size_t) snprintf(want, sizeof(want),
        "WECHATPAY2-SHA256-RSA2048 mchid=\"1900000001\","
        "nonce_str=\"593BEC0C930BF1AFEB40B4A08C8FB242\","
        "signature=\"%s\",timestamp=\"1765000000\",serial_no=\"%s\"",
        jsapi_signature, merchant_serial);

    assert_int_equal(mgw_wxpay_authorize(&m, &req, nonce, out, sizeof(out),
                                         &n),
                     MGW_OK);
    assert_int_equal(n, want_len);
    assert_memory_equal(out, want, n);
    assert_string_equal(nonce, "593BEC0C930BF1AFEB40B4A08C8FB242");

    /* exactly enough room, one byte short */

    assert_int_equal(mgw_wxpay_authorize(&m, &req, NULL, out, want_len, &n),
                     MGW_OK);
    assert_int_equal(mgw_wxpay_authorize(&m, &req, NULL, out, want_len - 1,
                                         &n),
                     MGW_ERR_SPACE);
    assert_int_equal(n, 0);

    /* a GET with a query and no body: the last line is empty */

    req.method = STR("GET");
    req.url = STR("/v3/pay/transactions/out-trade-no/R20261207000001"
                  "?mchid=1900000001");
    req.body = STR("");
    req.timestamp = 1765000100LL;
    req.nonce = STR("Q7mZ2kR9xW4pL0vN8cT6yB3hF5jD1sGa");

    assert_int_equal(mgw_wxpay_authorize(&m, &req, NULL, out, sizeof(out),
                                         &n),
                     MGW_OK);
    out[n] = '\0';
    assert_non_null(strstr((char *) out, query_signature));
    assert_non_null(strstr((char *) out, ",timestamp=\"1765000100\","));

    /* what would break the header or the message is refused */

    for (i = 0; i < NELTS(bad_req); i++) {
        bad_req[i] = req;
    }

    bad_req[0].nonce = STR("bad\"nonce");
    bad_req[1].url = STR("v3/no/slash");
    bad_req[2].url = STR("/v3/a b");
    bad_req[3].method = STR("get");
    bad_req[4].timestamp = -1;

    for (i = 0; i < NELTS(bad_req); i++) {
        assert_int_equal(authorize(&m, &bad_req[i]), MGW_ERR_ARG);
    }

    for (i = 0; i < NELTS(bad_m); i++) {
        bad_m[i] = m;
    }

    bad_m[0].mchid = STR("19000\"0001");
    bad_m[1].serial = STR("");
    bad_m[2].key = pub;                         /* a public key cannot sign */

    for (i = 0; i < NELTS(bad_m); i++) {
        assert_int_equal(authorize(&bad_m[i], &req), MGW_ERR_ARG);
    }

    assert_int_equal(authorize(&m, &req), MGW_OK);

    mgw_wxpay_key_free(key);
    mgw_wxpay_key_free(pub);
}


static void
test_wxpay_notify_known(void **state)
{
    size_t                n;
    uint8_t               out[MGW_WXPAY_PLAIN_MAX(sizeof(notify_ciphertext))];
    mgw_wxpay_key_t      *cert, *pub;
    mgw_wxpay_signed_t    in;
    mgw_wxpay_resource_t  res;
    mgw_wxpay_platform_t  keys[2];

    (void) state;

    cert = load_key(DATA("platform_cert.pem"), 0);
    pub = load_key(DATA("platform_pub.pem"), 0);

    keys[0].serial = STR(platform_serial);
    keys[0].key = cert;
    keys[1].serial = STR(pub_key_id);
    keys[1].key = pub;

    in.serial = STR(platform_serial);
    in.signature = STR(notify_signature);
    in.timestamp = STR(notify_timestamp);
    in.nonce = STR(notify_nonce);
    in.body = STR(notify_body);

    assert_int_equal(mgw_wxpay_verify(keys, 2, &in, 1765000200LL, 0),
                     MGW_OK);

    in.serial = STR(pub_key_id);
    assert_int_equal(mgw_wxpay_verify(keys, 2, &in, 1765000200LL, 0),
                     MGW_OK);

    /* the resource inside */

    res.associated_data = STR("transaction");
    res.nonce = STR("fdasflkja484");
    res.ciphertext = STR(notify_ciphertext);

    assert_int_equal(mgw_wxpay_decrypt(U(apiv3_key), LEN(apiv3_key), &res,
                                       out, sizeof(out), &n),
                     MGW_OK);
    assert_int_equal(n, LEN(notify_plain));
    assert_memory_equal(out, notify_plain, n);

    /* room for the plaintext and its tag, and one byte less */

    assert_true(LEN(notify_plain) + 16
                <= MGW_WXPAY_PLAIN_MAX(res.ciphertext.len));
    assert_int_equal(mgw_wxpay_decrypt(U(apiv3_key), LEN(apiv3_key), &res,
                                       out, LEN(notify_plain) + 16, &n),
                     MGW_OK);
    assert_int_equal(mgw_wxpay_decrypt(U(apiv3_key), LEN(apiv3_key), &res,
                                       out, LEN(notify_plain) + 15, &n),
                     MGW_ERR_SPACE);

    mgw_wxpay_key_free(cert);
    mgw_wxpay_key_free(pub);
}


/* requestPayment's fields */

typedef struct {
    mgw_str_t  appid;
    mgw_str_t  timestamp;
    mgw_str_t  nonce;
    mgw_str_t  package;
} pay_fields_t;


static mgw_status_t
pay_sign(const mgw_wxpay_key_t *key, const pay_fields_t *f, uint8_t *sig,
    size_t cap, size_t *n)
{
    return mgw_wxpay_pay_sign(key, &f->appid, &f->timestamp, &f->nonce,
                              &f->package, sig, cap, n);
}


static void
test_wxpay_pay_sign_known(void **state)
{
    size_t            i, n;
    uint8_t           pkg[160], sig[MGW_WXPAY_SIG_B64_MAX];
    pay_fields_t      f, bad[3];
    mgw_wxpay_key_t  *key;

    (void) state;

    key = load_key(DATA("merchant_key.pem"), 1);

    assert_int_equal(mgw_wxpay_package(
                         &STR("wx201410272009395522657a690389285100"), pkg,
                         sizeof(pkg), &n),
                     MGW_OK);
    assert_int_equal(n, LEN("prepay_id=wx201410272009395522657a690389285100"));
    assert_memory_equal(pkg, "prepay_id=wx201410272009395522657a690389285100",
                        n);

    f.appid = STR("wx0123456789abcdef");
    f.timestamp = STR("1765000300");
    f.nonce = STR("5K8264ILTKCH16CQ2502SI8ZNMTM67VS");
    f.package.data = pkg;
    f.package.len = n;

    assert_int_equal(pay_sign(key, &f, sig, sizeof(sig), &n), MGW_OK);
    assert_int_equal(n, LEN(pay_signature));
    assert_memory_equal(sig, pay_signature, n);

    /* room: exactly the signature, one byte short */

    assert_int_equal(pay_sign(key, &f, sig, 344, &n), MGW_OK);
    assert_int_equal(pay_sign(key, &f, sig, 343, &n), MGW_ERR_SPACE);

    /* a '\n' inside a field, a non-digit time, an empty field */

    for (i = 0; i < NELTS(bad); i++) {
        bad[i] = f;
    }

    bad[0].package = STR("prepay_id=a\nb");
    bad[1].timestamp = STR("17650003x0");
    bad[2].appid = STR("");

    for (i = 0; i < NELTS(bad); i++) {
        assert_int_equal(pay_sign(key, &bad[i], sig, sizeof(sig), &n),
                         MGW_ERR_ARG);
    }

    for (i = 0; i < NELTS(packages); i++) {
        assert_int_equal(mgw_wxpay_package(&CSTR(packages[i].prepay_id), pkg,
                                           packages[i].cap, &n),
                         packages[i].want);
    }

    mgw_wxpay_key_free(key);
}


static void
test_wxpay_gcm_vectors(void **state)
{
    size_t                i, n, kl, ivl, al, pl, cl, bl;
    uint8_t               key[32], iv[12], aad[32], pt[64], ct[80];
    uint8_t               b64[128], out[128];
    uint8_t               enc[128];
    mgw_str_t             a, nc;
    mgw_wxpay_resource_t  res;

    (void) state;

    for (i = 0; i < sizeof(gcm_vectors) / sizeof(gcm_vectors[0]); i++) {
        kl = unhex(gcm_vectors[i].key, key);
        ivl = unhex(gcm_vectors[i].iv, iv);
        al = unhex(gcm_vectors[i].aad, aad);
        pl = unhex(gcm_vectors[i].pt, pt);
        cl = unhex(gcm_vectors[i].ct, ct);
        cl += unhex(gcm_vectors[i].tag, ct + cl);

        assert_int_equal(kl, 32);
        assert_int_equal(ivl, 12);
        assert_int_equal(cl, pl + 16);

        assert_int_equal(mgw_base64_encode(ct, cl, b64, sizeof(b64), &bl),
                         MGW_OK);

        a.data = aad;
        a.len = al;
        nc.data = iv;
        nc.len = ivl;

        assert_int_equal(mgw_wxpay_encrypt(key, kl, &a, &nc, pt, pl, enc,
                                           sizeof(enc), &n),
                         MGW_OK);
        assert_int_equal(n, bl);
        assert_memory_equal(enc, b64, n);

        res.associated_data = a;
        res.nonce = nc;
        res.ciphertext.data = b64;
        res.ciphertext.len = bl;

        assert_int_equal(mgw_wxpay_decrypt(key, kl, &res, out, sizeof(out),
                                           &n),
                         MGW_OK);
        assert_int_equal(n, pl);
        assert_memory_equal(out, pt, pl);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_wxpay_keys),
        cmocka_unit_test(test_wxpay_go_vectors),
        cmocka_unit_test(test_wxpay_authorize_known),
        cmocka_unit_test(test_wxpay_notify_known),
        cmocka_unit_test(test_wxpay_pay_sign_known),
        cmocka_unit_test(test_wxpay_gcm_vectors),
    };

    return cmocka_run_group_tests_name("gateway_wxpay", tests, NULL, NULL);
}
