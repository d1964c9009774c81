/*
 * mgw_base64.c: RFC 4648 vectors, strictness, the lenient last character.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "member_gateway.h"


#define U(s)  ((const uint8_t *) (s))


static const struct {
    const char  *raw;
    const char  *b64;
} rfc4648[] = {
    { "", "" },
    { "f", "Zg==" },
    { "fo", "Zm8=" },
    { "foo", "Zm9v" },
    { "foob", "Zm9vYg==" },
    { "fooba", "Zm9vYmE=" },
    { "foobar", "Zm9vYmFy" },
};


static void
test_base64_rfc4648_encode(void **state)
{
    size_t   i, n;
    uint8_t  out[16];

    (void) state;

    for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        n = 99;
        assert_int_equal(mgw_base64_encode(U(rfc4648[i].raw),
                                           strlen(rfc4648[i].raw), out,
                                           sizeof(out), &n),
                         MGW_OK);
        assert_int_equal(n, strlen(rfc4648[i].b64));
        assert_int_equal(n, MGW_BASE64_ENCODED_LEN(strlen(rfc4648[i].raw)));
        assert_memory_equal(out, rfc4648[i].b64, n);
    }
}


static void
test_base64_rfc4648_decode(void **state)
{
    size_t   i, n;
    uint8_t  out[16];

    (void) state;

    for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        n = 99;
        assert_int_equal(mgw_base64_decode(U(rfc4648[i].b64),
                                           strlen(rfc4648[i].b64), out,
                                           sizeof(out), &n),
                         MGW_OK);
        assert_int_equal(n, strlen(rfc4648[i].raw));
        assert_memory_equal(out, rfc4648[i].raw, n);
        assert_true(n <= MGW_BASE64_DECODED_MAX(strlen(rfc4648[i].b64)));
    }
}


static void
test_base64_binary_roundtrip(void **state)
{
    size_t   i, len, n, m;
    uint8_t  raw[256], b64[MGW_BASE64_ENCODED_LEN(256)], back[256];

    (void) state;

    for (i = 0; i < sizeof(raw); i++) {
        raw[i] = (uint8_t) (255 - i);
    }

    for (len = 0; len <= sizeof(raw); len++) {
        assert_int_equal(mgw_base64_encode(raw, len, b64, sizeof(b64), &n),
                         MGW_OK);
        assert_int_equal(mgw_base64_decode(b64, n, back, sizeof(back), &m),
                         MGW_OK);
        assert_int_equal(m, len);
        assert_memory_equal(back, raw, len);
    }

    /* all 64 characters */

    assert_int_equal(mgw_base64_decode(U("+/+/"), 4, back, 3, &m), MGW_OK);
    assert_int_equal(m, 3);
    assert_memory_equal(back, "\xfb\xff\xbf", 3);
}


static void
test_base64_encode_in_place_tail(void **state)
{
    size_t   n;
    uint8_t  buf[MGW_BASE64_ENCODED_LEN(32)];

    (void) state;

    /* 32 bytes at the tail of a 44-byte buffer, encoded onto its head */

    memcpy(buf + sizeof(buf) - 32, "0123456789abcdef0123456789abcdef", 32);

    assert_int_equal(mgw_base64_encode(buf + sizeof(buf) - 32, 32, buf,
                                       sizeof(buf), &n),
                     MGW_OK);
    assert_int_equal(n, 44);
    assert_memory_equal(buf, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                        44);
}


static void
test_base64_space(void **state)
{
    size_t   n;
    uint8_t  out[8];

    (void) state;

    assert_int_equal(mgw_base64_encode(U("foo"), 3, out, 3, &n),
                     MGW_ERR_SPACE);
    assert_int_equal(mgw_base64_encode(U("foo"), 3, out, 4, &n), MGW_OK);
    assert_int_equal(mgw_base64_encode(U("fo"), 2, out, 3, &n),
                     MGW_ERR_SPACE);

    assert_int_equal(mgw_base64_decode(U("Zm9vYmFy"), 8, out, 5, &n),
                     MGW_ERR_SPACE);
    assert_int_equal(mgw_base64_decode(U("Zm9vYmFy"), 8, out, 6, &n), MGW_OK);
    assert_int_equal(mgw_base64_decode(U("Zm9vYg=="), 8, out, 4, &n), MGW_OK);
    assert_int_equal(mgw_base64_decode(U("Zm9vYg=="), 8, out, 3, &n),
                     MGW_ERR_SPACE);

    assert_int_equal(mgw_base64_encode(NULL, 1, out, 8, &n), MGW_ERR_ARG);
    assert_int_equal(mgw_base64_decode(NULL, 4, out, 8, &n), MGW_ERR_ARG);
    assert_int_equal(mgw_base64_decode(U("Zg=="), 4, out, 8, NULL),
                     MGW_ERR_ARG);
}


static void
test_base64_decode_bad(void **state)
{
    size_t   i, n;
    uint8_t  out[16];

    static const char  *bad[] = {
        "Zg=",          /* one short */
        "Zg",           /* unpadded */
        "Zm9vY",        /* one too long */
        "Zm9v\n",
        "Zm 9",
        "Zm9-",         /* base64url */
        "Zm9_",
        "Z===",
        "====",
        "Zg==Zg==",     /* padding in the middle */
        "Zm=v",
        "=m9v",
        "Zm9v\0\0\0\0",
        "Zm9\xc3",
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = 99;
        assert_int_equal(mgw_base64_decode(U(bad[i]),
                                           (i == 12) ? 8 : strlen(bad[i]),
                                           out, sizeof(out), &n),
                         MGW_ERR_FORMAT);
    }
}


static void
test_base64_decode_lenient_bits(void **state)
{
    size_t   n;
    uint8_t  out[4];

    (void) state;

    /* "Zh==" and "Zm9=" set unused low bits: read as "Zg==" and "Zm8=" */

    assert_int_equal(mgw_base64_decode(U("Zh=="), 4, out, sizeof(out), &n),
                     MGW_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(out, "f", 1);

    assert_int_equal(mgw_base64_decode(U("Zm9="), 4, out, sizeof(out), &n),
                     MGW_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "fo", 2);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_base64_rfc4648_encode),
        cmocka_unit_test(test_base64_rfc4648_decode),
        cmocka_unit_test(test_base64_binary_roundtrip),
        cmocka_unit_test(test_base64_encode_in_place_tail),
        cmocka_unit_test(test_base64_space),
        cmocka_unit_test(test_base64_decode_bad),
        cmocka_unit_test(test_base64_decode_lenient_bits),
    };

    return cmocka_run_group_tests_name("gateway_base64", tests, NULL, NULL);
}
