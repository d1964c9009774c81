/*
 * HOTP and TOTP: the RFC 4226 Appendix D and RFC 6238 Appendix B vectors,
 * then every bad argument.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "member_qrcode.h"


static const uint8_t  seed20[] = "12345678901234567890";
static const uint8_t  seed32[] = "12345678901234567890123456789012";
static const uint8_t  seed64[] =
    "1234567890123456789012345678901234567890123456789012345678901234";


/* RFC 4226 Appendix D: HOTP and the 31-bit truncated value, counts 0..9 */

static const struct {
    const char  *hotp6;
    const char  *trunc10;
} rfc4226[] = {
    { "755224", "1284755224" },
    { "287082", "1094287082" },
    { "359152", "0137359152" },
    { "969429", "1726969429" },
    { "338314", "1640338314" },
    { "254676", "0868254676" },
    { "287922", "1918287922" },
    { "162583", "0082162583" },
    { "399871", "0673399871" },
    { "520489", "0645520489" },
};


/* RFC 6238 Appendix B: 8 digits, period 30, T0 0 */

static const struct {
    uint64_t     time;
    mqr_hash_t   hash;
    const char  *totp;
} rfc6238[] = {
    { 59, MQR_SHA1, "94287082" },
    { 59, MQR_SHA256, "46119246" },
    { 59, MQR_SHA512, "90693936" },
    { 1111111109, MQR_SHA1, "07081804" },
    { 1111111109, MQR_SHA256, "68084774" },
    { 1111111109, MQR_SHA512, "25091201" },
    { 1111111111, MQR_SHA1, "14050471" },
    { 1111111111, MQR_SHA256, "67062674" },
    { 1111111111, MQR_SHA512, "99943326" },
    { 1234567890, MQR_SHA1, "89005924" },
    { 1234567890, MQR_SHA256, "91819424" },
    { 1234567890, MQR_SHA512, "93441116" },
    { 2000000000, MQR_SHA1, "69279037" },
    { 2000000000, MQR_SHA256, "90698825" },
    { 2000000000, MQR_SHA512, "38618901" },
    { UINT64_C(20000000000), MQR_SHA1, "65353130" },
    { UINT64_C(20000000000), MQR_SHA256, "77737706" },
    { UINT64_C(20000000000), MQR_SHA512, "47863826" },
};


static const uint8_t *
seed_of(mqr_hash_t hash, size_t *len)
{
    switch (hash) {
    case MQR_SHA256:
        *len = 32;
        return seed32;
    case MQR_SHA512:
        *len = 64;
        return seed64;
    default:
        *len = 20;
        return seed20;
    }
}


static void
test_hotp_rfc4226(void **state)
{
    char     out[16];
    size_t   i, len;

    (void) state;

    for (i = 0; i < sizeof(rfc4226) / sizeof(rfc4226[0]); i++) {
        assert_int_equal(mqr_hotp(MQR_SHA1, seed20, 20, i, 6, out,
                                  sizeof(out), &len), MQR_OK);
        assert_int_equal(len, 6);
        assert_string_equal(out, rfc4226[i].hotp6);

        assert_int_equal(mqr_hotp(MQR_SHA1, seed20, 20, i, 10, out,
                                  sizeof(out), &len), MQR_OK);
        assert_int_equal(len, 10);
        assert_string_equal(out, rfc4226[i].trunc10);

        /* the exact capacity: digits and the NUL */

        assert_int_equal(mqr_hotp(MQR_SHA1, seed20, 20, i, 6, out, 7, &len),
                         MQR_OK);
        assert_string_equal(out, rfc4226[i].hotp6);

        assert_int_equal(mqr_hotp(MQR_SHA1, seed20, 20, i, 1, out, 2, &len),
                         MQR_OK);
        assert_int_equal(len, 1);
        assert_int_equal(out[0], rfc4226[i].hotp6[5]);
        assert_int_equal(out[1], '\0');
    }
}


static void
test_totp_rfc6238(void **state)
{
    char            out[16];
    size_t          i, len, seed_len;
    uint64_t        counter;
    const uint8_t  *seed;

    (void) state;

    for (i = 0; i < sizeof(rfc6238) / sizeof(rfc6238[0]); i++) {
        seed = seed_of(rfc6238[i].hash, &seed_len);

        assert_int_equal(mqr_totp(rfc6238[i].hash, seed, seed_len,
                                  rfc6238[i].time, 30, 8, out, sizeof(out),
                                  &len), MQR_OK);
        assert_int_equal(len, 8);
        assert_string_equal(out, rfc6238[i].totp);

        counter = 0;
        assert_int_equal(mqr_totp_check(rfc6238[i].hash, seed, seed_len,
                                        rfc6238[i].totp, 8, 8,
                                        rfc6238[i].time, 30, 0, &counter),
                         MQR_OK);
        assert_int_equal(counter, rfc6238[i].time / 30);
    }
}


static void
test_totp_check_window(void **state)
{
    char      otp[16];
    size_t    len;
    uint64_t  t, counter;

    (void) state;

    t = 1111111109;

    assert_int_equal(mqr_totp(MQR_SHA256, seed32, 32, t, 30, 6, otp,
                              sizeof(otp), &len), MQR_OK);

    /* one step later and earlier with skew 1; not with skew 0 */

    assert_int_equal(mqr_totp_check(MQR_SHA256, seed32, 32, otp, 6, 6,
                                    t + 30, 30, 1, &counter), MQR_OK);
    assert_int_equal(counter, t / 30);
    assert_int_equal(mqr_totp_check(MQR_SHA256, seed32, 32, otp, 6, 6,
                                    t - 30, 30, 1, &counter), MQR_OK);
    assert_int_equal(counter, t / 30);
    assert_int_equal(mqr_totp_check(MQR_SHA256, seed32, 32, otp, 6, 6,
                                    t + 30, 30, 0, NULL), MQR_UNKNOWN);
    assert_int_equal(mqr_totp_check(MQR_SHA256, seed32, 32, otp, 6, 6,
                                    t + 60, 30, 1, NULL), MQR_UNKNOWN);

    /* another hash, another key */

    assert_int_equal(mqr_totp_check(MQR_SHA1, seed32, 32, otp, 6, 6,
                                    t, 30, 1, NULL), MQR_UNKNOWN);
    assert_int_equal(mqr_totp_check(MQR_SHA256, seed32, 31, otp, 6, 6,
                                    t, 30, 1, NULL), MQR_UNKNOWN);

    /* one digit changed */

    otp[3] = (char) (otp[3] == '9' ? '0' : otp[3] + 1);
    assert_int_equal(mqr_totp_check(MQR_SHA256, seed32, 32, otp, 6, 6,
                                    t, 30, 1, NULL), MQR_UNKNOWN);

    /* step 0 has no step before it */

    assert_int_equal(mqr_totp(MQR_SHA1, seed20, 20, 0, 30, 8, otp,
                              sizeof(otp), &len), MQR_OK);
    assert_int_equal(mqr_totp_check(MQR_SHA1, seed20, 20, otp, 8, 8, 10, 30,
                                    MQR_OTP_SKEW_MAX, &counter), MQR_OK);
    assert_int_equal(counter, 0);

    /* nor the last step one after it */

    assert_int_equal(mqr_totp(MQR_SHA1, seed20, 20, UINT64_MAX, 1, 8, otp,
                              sizeof(otp), &len), MQR_OK);
    assert_int_equal(mqr_totp_check(MQR_SHA1, seed20, 20, otp, 8, 8,
                                    UINT64_MAX, 1, 2, &counter), MQR_OK);
    assert_int_equal(counter, UINT64_MAX);
}


static void
test_totp_check_malformed(void **state)
{
    (void) state;

    assert_int_equal(mqr_totp_check(MQR_SHA1, seed20, 20, "9428708", 7, 8,
                                    59, 30, 1, NULL), MQR_MALFORMED);
    assert_int_equal(mqr_totp_check(MQR_SHA1, seed20, 20, "942870822", 9, 8,
                                    59, 30, 1, NULL), MQR_MALFORMED);
    assert_int_equal(mqr_totp_check(MQR_SHA1, seed20, 20, "", 0, 8,
                                    59, 30, 1, NULL), MQR_MALFORMED);
    assert_int_equal(mqr_totp_check(MQR_SHA1, seed20, 20, "9428708a", 8, 8,
                                    59, 30, 1, NULL), MQR_MALFORMED);
    assert_int_equal(mqr_totp_check(MQR_SHA1, seed20, 20, " 4287082", 8, 8,
                                    59, 30, 1, NULL), MQR_MALFORMED);
    assert_int_equal(mqr_totp_check(MQR_SHA1, seed20, 20, "9428\0" "082", 8,
                                    8, 59, 30, 1, NULL), MQR_MALFORMED);

    /* the length given counts, not a NUL */

    assert_int_equal(mqr_totp_check(MQR_SHA1, seed20, 20, "94287082xyz", 8,
                                    8, 59, 30, 1, NULL), MQR_OK);
}


static void
test_otp_bad_args(void **state)
{
    char      out[16];
    size_t    len;

    (void) state;

    assert_int_equal(mqr_hotp(MQR_SHA1, NULL, 20, 0, 6, out, sizeof(out),
                              &len), MQR_BAD_ARG);
    assert_int_equal(mqr_hotp(MQR_SHA1, seed20, 0, 0, 6, out, sizeof(out),
                              &len), MQR_BAD_ARG);
    assert_int_equal(mqr_hotp(MQR_SHA1, seed64, MQR_KEY_MAX + 1, 0, 6, out,
                              sizeof(out), &len), MQR_BAD_ARG);
    assert_int_equal(mqr_hotp(MQR_SHA1, seed20, 20, 0, 0, out, sizeof(out),
                              &len), MQR_BAD_ARG);
    assert_int_equal(mqr_hotp(MQR_SHA1, seed20, 20, 0, 11, out, sizeof(out),
                              &len), MQR_BAD_ARG);
    assert_int_equal(mqr_hotp((mqr_hash_t) 3, seed20, 20, 0, 6, out,
                              sizeof(out), &len), MQR_BAD_ARG);
    assert_int_equal(mqr_hotp(MQR_SHA1, seed20, 20, 0, 6, NULL, sizeof(out),
                              &len), MQR_BAD_ARG);
    assert_int_equal(mqr_hotp(MQR_SHA1, seed20, 20, 0, 6, out, sizeof(out),
                              NULL), MQR_BAD_ARG);

    /* one byte short: no NUL room; nothing written */

    memset(out, 'x', sizeof(out));
    len = 0;
    assert_int_equal(mqr_hotp(MQR_SHA1, seed20, 20, 0, 6, out, 6, &len),
                     MQR_TOO_SMALL);
    assert_int_equal(len, 7);
    assert_int_equal(out[0], 'x');
    assert_int_equal(mqr_hotp(MQR_SHA1, seed20, 20, 0, 10, out, 0, &len),
                     MQR_TOO_SMALL);
    assert_int_equal(len, 11);

    assert_int_equal(mqr_totp(MQR_SHA1, seed20, 20, 59, 0, 8, out,
                              sizeof(out), &len), MQR_BAD_ARG);

    assert_int_equal(mqr_totp_check(MQR_SHA1, NULL, 20, "94287082", 8, 8,
                                    59, 30, 1, NULL), MQR_BAD_ARG);
    assert_int_equal(mqr_totp_check(MQR_SHA1, seed20, 20, NULL, 8, 8,
                                    59, 30, 1, NULL), MQR_BAD_ARG);
    assert_int_equal(mqr_totp_check(MQR_SHA1, seed20, 20, "94287082", 8, 8,
                                    59, 0, 1, NULL), MQR_BAD_ARG);
    assert_int_equal(mqr_totp_check(MQR_SHA1, seed20, 20, "94287082", 8, 8,
                                    59, 30, MQR_OTP_SKEW_MAX + 1, NULL),
                     MQR_BAD_ARG);
    assert_int_equal(mqr_totp_check(MQR_SHA1, seed20, 20, "94287082", 8, 11,
                                    59, 30, 1, NULL), MQR_BAD_ARG);
}


static void
test_strerror(void **state)
{
    (void) state;

    assert_string_equal(mqr_strerror(MQR_OK), "ok");
    assert_string_equal(mqr_strerror(MQR_TOO_SMALL), "too_small");
    assert_string_equal(mqr_strerror(MQR_EXPIRED), "expired");
    assert_string_equal(mqr_strerror(MQR_PNG), "png");
    assert_string_equal(mqr_strerror((mqr_status_t) 99), "invalid_status");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_hotp_rfc4226),
        cmocka_unit_test(test_totp_rfc6238),
        cmocka_unit_test(test_totp_check_window),
        cmocka_unit_test(test_totp_check_malformed),
        cmocka_unit_test(test_otp_bad_args),
        cmocka_unit_test(test_strerror),
    };

    return cmocka_run_group_tests_name("qrcode_otp", tests, NULL, NULL);
}
