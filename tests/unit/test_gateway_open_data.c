/*
 * mgw_open_data.c: spec section 13 vector E, an independent vector
 * (tests/unit/vectors/make_safe_mode.py) and bad keys, IVs and padding.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "member_gateway.h"


#define U(s)     ((const uint8_t *) (s))
#define LEN(s)   (sizeof(s) - 1)
#define STR(s)   { U(s), sizeof(s) - 1 }


static const char  e_appid[] = "wx4f4bc4dec97d474b";
static const char  e_session_key[] = "tiihtNczf5v6AKRyjwEUhQ==";
static const char  e_iv[] = "r7BXXKkLb8qrSNn05n0qiA==";
static const char  e_data[] =
    "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa"
    "0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB"
    "231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInN"
    "lxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs"
    "8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHq"
    "Z9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7Xjf"
    "hQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T"
    "8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
static const char  e_plain[] =
    "{\"openId\":\"oGZUI0egBJY1zhBYw2KhdUfwVJJE\",\"nickName\":\"Band\","
    "\"gender\":1,\"language\":\"zh_CN\",\"city\":\"Guangzhou\","
    "\"province\":\"Guangdong\",\"country\":\"CN\",\"avatarUrl\":"
    "\"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHW"
    "r8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0\","
    "\"unionId\":\"ocMvos6NjeKLIBqg5Mr9QjxrP1FA\",\"watermark\":"
    "{\"timestamp\":1477314187,\"appid\":\"wx4f4bc4dec97d474b\"}}";

/* open data, pad 16 */
static const char  indep_od_session_key[] = "MDEyMzQ1Njc4OTo7PD0+Pw==";
static const char  indep_od_iv[] = "oKGio6SlpqeoqaqrrK2urw==";
static const char  indep_od_data[] =
        "81kjAYXtV0Gx70vqGL/Y/kc7M3gNp78kPv23G+jQ+5CBvQTKLlwzDi4E94LqWA7z"
        "5f6JBfHz6kglm5HsehgTN03dLspPatnX82re3w0nW45aex1zSRi3U1EmSmPk6AFv"
        "a2AhNcb4NgwlN3egrp4JMSU11WV4Cz65gfi41plj0eTlXJROnkn9GgEIsn2CZUso"
        "ywkwu7dnAM8sbAQQEKMXtnMxq3hEioSNhCdfbpGFwFM=";
static const char  indep_od_plain[] =
        "{\"phoneNumber\":\"+8613800138000\",\"purePhoneNumber\":\"138001"
        "38000\",\"countryCode\":\"86\",\"watermark\":{\"timestamp\":1735"
        "800000,\"appid\":\"wxfedcba98765432\"}}             ";

static size_t
encrypt_raw(const uint8_t *key, const uint8_t *iv, const uint8_t *plain,
    size_t len, char *b64, size_t cap)
{
    int              n, fin;
    size_t           out_len;
    uint8_t          buf[256];
    EVP_CIPHER_CTX  *ctx;

    assert_true(len <= sizeof(buf) && len % 16 == 0);

    ctx = EVP_CIPHER_CTX_new();
    assert_non_null(ctx);
    assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, key,
                                        iv), 1);
    assert_int_equal(EVP_CIPHER_CTX_set_padding(ctx, 0), 1);
    assert_int_equal(EVP_EncryptUpdate(ctx, buf, &n, plain, (int) len), 1);
    assert_int_equal(EVP_EncryptFinal_ex(ctx, buf + n, &fin), 1);
    EVP_CIPHER_CTX_free(ctx);

    assert_int_equal(mgw_base64_encode(buf, len, (uint8_t *) b64, cap,
                                       &out_len),
                     MGW_OK);

    return out_len;
}


static void
test_open_data_vector_e(void **state)
{
    size_t      n;
    uint8_t     out[MGW_BASE64_DECODED_MAX(sizeof(e_data))];
    long long   ts;
    mgw_str_t   sk = STR(e_session_key), iv = STR(e_iv), data = STR(e_data);

    (void) state;

    assert_int_equal(mgw_open_data_decrypt(&sk, &iv, &data, out, sizeof(out),
                                           &n),
                     MGW_OK);
    assert_int_equal(n, 393);
    assert_int_equal(n, LEN(e_plain));
    assert_memory_equal(out, e_plain, n);

    ts = 0;
    assert_int_equal(mgw_open_data_check(out, n, U(e_appid), LEN(e_appid),
                                         &ts),
                     MGW_OK);
    assert_int_equal(ts, 1477314187);

    assert_int_equal(mgw_open_data_check(out, n, U("wx4f4bc4dec97d474c"), 18,
                                         &ts),
                     MGW_ERR_APPID);
    assert_int_equal(mgw_open_data_check(out, n, U(e_appid), 17, NULL),
                     MGW_ERR_APPID);

    /* 400 bytes of ciphertext need 400 bytes of room */

    assert_int_equal(mgw_open_data_decrypt(&sk, &iv, &data, out, 399, &n),
                     MGW_ERR_SPACE);
    assert_int_equal(mgw_open_data_decrypt(&sk, &iv, &data, out, 400, &n),
                     MGW_OK);
}


static void
test_open_data_independent(void **state)
{
    size_t      n;
    uint8_t     out[512];
    long long   ts;
    mgw_str_t   sk = STR(indep_od_session_key), iv = STR(indep_od_iv);
    mgw_str_t   data = STR(indep_od_data);

    (void) state;

    /* a full block of padding */

    assert_int_equal(mgw_open_data_decrypt(&sk, &iv, &data, out, sizeof(out),
                                           &n),
                     MGW_OK);
    assert_int_equal(n, LEN(indep_od_plain));
    assert_memory_equal(out, indep_od_plain, n);

    assert_int_equal(mgw_open_data_check(out, n, U("wxfedcba98765432"), 16,
                                         &ts),
                     MGW_OK);
    assert_int_equal(ts, 1735800000);
}


static void
test_open_data_bad_inputs(void **state)
{
    size_t      i, n;
    uint8_t     out[512];
    mgw_str_t   sk = STR(e_session_key), iv = STR(e_iv), data = STR(e_data);
    mgw_str_t   bad;

    static const char  *bad_keys[] = {
        "tiihtNczf5v6AKRyjwEUhQ=",       /* one short */
        "tiihtNczf5v6AKRyjwEUhQ===",     /* one too long */
        "tiihtNczf5v6AKRyjwEUhQ",
        "tiihtNczf5v6AKRyjwEUhQQ=",      /* 17 bytes */
        "tiihtNczf5v6AKRyjwEU====",
        "tiihtNczf5v6AKRyjwEUh-==",
        "",
    };

    (void) state;

    for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
        bad.data = U(bad_keys[i]);
        bad.len = strlen(bad_keys[i]);

        assert_int_equal(mgw_open_data_decrypt(&bad, &iv, &data, out,
                                               sizeof(out), &n),
                         MGW_ERR_FORMAT);
        assert_int_equal(mgw_open_data_decrypt(&sk, &bad, &data, out,
                                               sizeof(out), &n),
                         MGW_ERR_FORMAT);
    }

    /* data: empty, not base64, not a multiple of 16 */

    bad.data = U("");
    bad.len = 0;
    assert_int_equal(mgw_open_data_decrypt(&sk, &iv, &bad, out, sizeof(out),
                                           &n),
                     MGW_ERR_FORMAT);

    bad.data = U(e_data);
    bad.len = LEN(e_data) - 1;
    assert_int_equal(mgw_open_data_decrypt(&sk, &iv, &bad, out, sizeof(out),
                                           &n),
                     MGW_ERR_FORMAT);

    bad.len = LEN(e_data) - 4;
    assert_int_equal(mgw_open_data_decrypt(&sk, &iv, &bad, out, sizeof(out),
                                           &n),
                     MGW_ERR_FORMAT);

    bad.data = U("MDEyMzQ1Njc4OWFiY2RlZjAxMjM=");
    bad.len = 28;
    assert_int_equal(mgw_open_data_decrypt(&sk, &iv, &bad, out, sizeof(out),
                                           &n),
                     MGW_ERR_FORMAT);

    assert_int_equal(mgw_open_data_decrypt(NULL, &iv, &data, out,
                                           sizeof(out), &n),
                     MGW_ERR_ARG);
}


static void
test_open_data_wrong_key(void **state)
{
    size_t      n, i;
    uint8_t     out[512];
    mgw_str_t   sk = STR("HyVFkGl5F5OQWJZZaNzBBg=="), iv = STR(e_iv);
    mgw_str_t   data = STR(e_data);
    mgw_str_t   iv2 = STR("AAAAAAAAAAAAAAAAAAAAAA==");
    mgw_str_t   sk2 = STR(e_session_key);

    (void) state;

    /* a rotated session_key: the padding does not hold, out is wiped */

    assert_int_equal(mgw_open_data_decrypt(&sk, &iv, &data, out, sizeof(out),
                                           &n),
                     MGW_ERR_PADDING);
    assert_int_equal(n, 0);

    for (i = 0; i < 400; i++) {
        assert_int_equal(out[i], 0);
    }

    /* a wrong IV spoils only the first block: the JSON check catches it */

    assert_int_equal(mgw_open_data_decrypt(&sk2, &iv2, &data, out,
                                           sizeof(out), &n),
                     MGW_OK);
    assert_int_equal(mgw_open_data_check(out, n, U(e_appid), LEN(e_appid),
                                         NULL),
                     MGW_ERR_FORMAT);
}


static void
test_open_data_padding(void **state)
{
    char        b64[512];
    size_t      n;
    uint8_t     plain[48], out[64];
    mgw_str_t   sk, iv, data;

    static const uint8_t  key[16] = "0123456789abcdef";
    static const uint8_t  ivb[16] = "fedcba9876543210";

    (void) state;

    sk.data = U("MDEyMzQ1Njc4OWFiY2RlZg==");
    sk.len = 24;
    iv.data = U("ZmVkY2JhOTg3NjU0MzIxMA==");
    iv.len = 24;

    memcpy(plain, "{\"a\":1}", 7);
    memset(plain + 7, 9, 9);

    data.data = U(b64);
    data.len = encrypt_raw(key, ivb, plain, 16, b64, sizeof(b64));
    assert_int_equal(mgw_open_data_decrypt(&sk, &iv, &data, out, sizeof(out),
                                           &n),
                     MGW_OK);
    assert_int_equal(n, 7);
    assert_memory_equal(out, "{\"a\":1}", 7);

    /* pad 0 */

    plain[15] = 0;
    data.len = encrypt_raw(key, ivb, plain, 16, b64, sizeof(b64));
    assert_int_equal(mgw_open_data_decrypt(&sk, &iv, &data, out, sizeof(out),
                                           &n),
                     MGW_ERR_PADDING);

    /* pad 17 over 32 bytes */

    memset(plain + 7, 17, 25);
    data.len = encrypt_raw(key, ivb, plain, 32, b64, sizeof(b64));
    assert_int_equal(mgw_open_data_decrypt(&sk, &iv, &data, out, sizeof(out),
                                           &n),
                     MGW_ERR_PADDING);

    /* pad bytes that disagree */

    memset(plain + 7, 9, 9);
    plain[8] = 8;
    data.len = encrypt_raw(key, ivb, plain, 16, b64, sizeof(b64));
    assert_int_equal(mgw_open_data_decrypt(&sk, &iv, &data, out, sizeof(out),
                                           &n),
                     MGW_ERR_PADDING);

    /* pad 16: an empty plaintext */

    memset(plain, 16, 16);
    data.len = encrypt_raw(key, ivb, plain, 16, b64, sizeof(b64));
    assert_int_equal(mgw_open_data_decrypt(&sk, &iv, &data, out, sizeof(out),
                                           &n),
                     MGW_OK);
    assert_int_equal(n, 0);
}


static void
test_open_data_check_bad(void **state)
{
    size_t      i;
    long long   ts;

    static const char  no_ts[] =
        "{\"watermark\":{\"appid\":\"wx4f4bc4dec97d474b\"}}";

    static const char  *bad[] = {
        "",
        "not json",
        "[]",
        "{}",
        "{\"watermark\":null}",
        "{\"watermark\":\"wx4f4bc4dec97d474b\"}",
        "{\"watermark\":{}}",
        "{\"watermark\":{\"appid\":1}}",
        "{\"watermark\":{\"appid\":\"wx4f4bc4dec97d474b\","
            "\"timestamp\":\"1477314187\"}}",
        "{\"watermark\":{\"appid\":\"wx4f4bc4dec97d474b\","
            "\"appid\":\"wx4f4bc4dec97d474b\"}}",
        "{\"watermark\":{\"appid\":\"wx4f4bc4dec97d474b\"}",
        "{\"watermark\":{\"appid\":\"wx4f4bc4dec97d474b\xff\"}}",
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(mgw_open_data_check(U(bad[i]), strlen(bad[i]),
                                             U(e_appid), LEN(e_appid), &ts),
                         MGW_ERR_FORMAT);
    }

    /* no timestamp is fine, and reads as 0 */

    ts = 5;
    assert_int_equal(mgw_open_data_check(U(no_ts), LEN(no_ts), U(e_appid),
                                         LEN(e_appid), &ts),
                     MGW_OK);
    assert_int_equal(ts, 0);

    assert_int_equal(mgw_open_data_check(U("{}"), 2, U(e_appid), 0, &ts),
                     MGW_ERR_ARG);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_open_data_vector_e),
        cmocka_unit_test(test_open_data_independent),
        cmocka_unit_test(test_open_data_bad_inputs),
        cmocka_unit_test(test_open_data_wrong_key),
        cmocka_unit_test(test_open_data_padding),
        cmocka_unit_test(test_open_data_check_bad),
    };

    return cmocka_run_group_tests_name("gateway_open_data", tests, NULL, NULL);
}
