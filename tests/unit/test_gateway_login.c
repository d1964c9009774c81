/*
 * mgw_login.c: the answer of sns/jscode2session (spec section 5).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "member_gateway.h"


#define S(s)  (const uint8_t *) (s), sizeof(s) - 1


static void
test_login_ok_without_unionid(void **state)
{
    mgw_login_t  out;

    (void) state;

    assert_int_equal(mgw_login_parse(S(
        "{\"openid\":\"o9AgO5Kd5ggOC-bXrbNODIiE3bGY\","
        "\"session_key\":\"tiihtNczf5v6AKRyjwEUhQ==\"}"), &out),
        MGW_LOGIN_OK);

    assert_int_equal(out.errcode, 0);
    assert_string_equal(out.openid, "o9AgO5Kd5ggOC-bXrbNODIiE3bGY");
    assert_int_equal(out.openid_len, 28);
    assert_string_equal(out.session_key, "tiihtNczf5v6AKRyjwEUhQ==");
    assert_int_equal(out.session_key_len, 24);
    assert_string_equal(out.unionid, "");
    assert_int_equal(out.unionid_len, 0);
}


static void
test_login_ok_with_unionid(void **state)
{
    mgw_login_t  out;

    (void) state;

    assert_int_equal(mgw_login_parse(S(
        "{\"session_key\":\"HyVFkGl5F5OQWJZZaNzBBg==\","
        "\"unionid\":\"ocMvos6NjeKLIBqg5Mr9QjxrP1FA\","
        "\"openid\":\"oGZUI0egBJY1zhBYw2KhdUfwVJJE\"}"), &out),
        MGW_LOGIN_OK);

    assert_string_equal(out.openid, "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
    assert_string_equal(out.unionid, "ocMvos6NjeKLIBqg5Mr9QjxrP1FA");
    assert_int_equal(out.unionid_len, 28);
    assert_string_equal(out.session_key, "HyVFkGl5F5OQWJZZaNzBBg==");
}


static void
test_login_ok_with_errcode_zero(void **state)
{
    mgw_login_t  out;

    (void) state;

    assert_int_equal(mgw_login_parse(S(
        "{\"errcode\":0,\"errmsg\":\"ok\",\"openid\":\"o_1\","
        "\"session_key\":\"abc/+=\",\"unionid\":null}"), &out),
        MGW_LOGIN_OK);

    assert_int_equal(out.errcode, 0);
    assert_string_equal(out.openid, "o_1");
    assert_string_equal(out.session_key, "abc/+=");
    assert_string_equal(out.unionid, "");
}


static void
test_login_ok_whitespace_and_extra_fields(void **state)
{
    mgw_login_t  out;

    (void) state;

    assert_int_equal(mgw_login_parse(S(
        " \n{ \"openid\" : \"A\", \"session_key\" : \"B\","
        " \"extra\": {\"x\": [1, 2]} }\n"), &out),
        MGW_LOGIN_OK);

    assert_string_equal(out.openid, "A");
    assert_string_equal(out.session_key, "B");
}


static void
test_login_error_codes(void **state)
{
    size_t       i;
    mgw_login_t  out;
    char         body[128];

    static const struct {
        long                 code;
        mgw_login_result_t   res;
    } cases[] = {
        { 40029, MGW_LOGIN_BAD_CODE },
        { 40163, MGW_LOGIN_BAD_CODE },
        { 45011, MGW_LOGIN_RATE_LIMITED },
        { 40226, MGW_LOGIN_BLOCKED },
        { -1, MGW_LOGIN_UNAVAILABLE },
        { 40013, MGW_LOGIN_UNAVAILABLE },
        { 40125, MGW_LOGIN_UNAVAILABLE },
        { 1, MGW_LOGIN_UNAVAILABLE },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"errcode\":%ld,\"errmsg\":\"x\"}", cases[i].code);

        assert_int_equal(mgw_login_parse((const uint8_t *) body,
                                         strlen(body), &out),
                         cases[i].res);
        assert_int_equal(out.errcode, cases[i].code);
        assert_int_equal(out.openid_len, 0);
        assert_int_equal(out.session_key_len, 0);
    }

    /* an error code wins over fields that look like a success */

    assert_int_equal(mgw_login_parse(S(
        "{\"errcode\":40029,\"openid\":\"o\",\"session_key\":\"k\"}"), &out),
        MGW_LOGIN_BAD_CODE);
    assert_int_equal(out.openid_len, 0);
    assert_string_equal(out.openid, "");
    assert_string_equal(out.session_key, "");
}


static void
test_login_not_json(void **state)
{
    mgw_login_t  out;

    (void) state;

    assert_int_equal(mgw_login_parse(S("<html>502 Bad Gateway</html>"), &out),
                     MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S("{\"openid\":\"o\",}"), &out),
                     MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S("[\"openid\",\"session_key\"]"), &out),
                     MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S("\"openid\""), &out),
                     MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S(
        "{\"openid\":\"o\",\"session_key\":\"k\"} trailing"), &out),
        MGW_LOGIN_UNAVAILABLE);

    /* invalid UTF-8 inside a string */
    assert_int_equal(mgw_login_parse(S(
        "{\"openid\":\"o\",\"session_key\":\"k\",\"errmsg\":\"\xc3\x28\"}"),
        &out), MGW_LOGIN_UNAVAILABLE);
}


static void
test_login_truncated(void **state)
{
    size_t        n;
    mgw_login_t   out;
    const char   *good = "{\"openid\":\"o9AgO5Kd5ggOC\","
                         "\"session_key\":\"tiihtNczf5v6AKRyjwEUhQ==\"}";

    (void) state;

    assert_int_equal(mgw_login_parse((const uint8_t *) good, strlen(good),
                                     &out),
                     MGW_LOGIN_OK);

    for (n = 0; n < strlen(good); n++) {
        assert_int_equal(mgw_login_parse((const uint8_t *) good, n, &out),
                         MGW_LOGIN_UNAVAILABLE);
    }
}


static void
test_login_empty(void **state)
{
    mgw_login_t  out;

    (void) state;

    assert_int_equal(mgw_login_parse((const uint8_t *) "", 0, &out),
                     MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(NULL, 0, &out), MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(NULL, 5, &out), MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S("{}"), &out), MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S("{}"), NULL), MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S("   "), &out), MGW_LOGIN_UNAVAILABLE);
}


static void
test_login_missing_fields(void **state)
{
    mgw_login_t  out;

    (void) state;

    assert_int_equal(mgw_login_parse(S("{\"openid\":\"o\"}"), &out),
                     MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S("{\"session_key\":\"k\"}"), &out),
                     MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S(
        "{\"errcode\":0,\"unionid\":\"u\",\"session_key\":\"k\"}"), &out),
        MGW_LOGIN_UNAVAILABLE);
}


static void
test_login_wrong_types(void **state)
{
    mgw_login_t  out;

    (void) state;

    assert_int_equal(mgw_login_parse(S(
        "{\"openid\":123,\"session_key\":\"k\"}"), &out),
        MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S(
        "{\"openid\":\"o\",\"session_key\":null}"), &out),
        MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S(
        "{\"openid\":[\"o\"],\"session_key\":\"k\"}"), &out),
        MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S(
        "{\"openid\":\"o\",\"session_key\":\"k\",\"unionid\":7}"), &out),
        MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S(
        "{\"openid\":\"o\",\"session_key\":\"k\",\"unionid\":{}}"), &out),
        MGW_LOGIN_UNAVAILABLE);

    /* errcode must be an integer */
    assert_int_equal(mgw_login_parse(S(
        "{\"errcode\":\"0\",\"openid\":\"o\",\"session_key\":\"k\"}"), &out),
        MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S(
        "{\"errcode\":0.0,\"openid\":\"o\",\"session_key\":\"k\"}"), &out),
        MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S(
        "{\"errcode\":null,\"openid\":\"o\",\"session_key\":\"k\"}"), &out),
        MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S(
        "{\"errcode\":\"40029\"}"), &out),
        MGW_LOGIN_UNAVAILABLE);
}


static void
test_login_lengths(void **state)
{
    mgw_login_t  out;
    char         body[512];
    char         id[MGW_OPENID_MAX + 2], key[MGW_SESSION_KEY_MAX + 2];

    (void) state;

    /* openid of exactly 128 chars passes, 129 fails */

    memset(id, 'a', MGW_OPENID_MAX);
    id[MGW_OPENID_MAX] = '\0';
    snprintf(body, sizeof(body),
             "{\"openid\":\"%s\",\"session_key\":\"k\",\"unionid\":\"%s\"}",
             id, id);
    assert_int_equal(mgw_login_parse((const uint8_t *) body, strlen(body),
                                     &out),
                     MGW_LOGIN_OK);
    assert_int_equal(out.openid_len, MGW_OPENID_MAX);
    assert_int_equal(out.unionid_len, MGW_OPENID_MAX);
    assert_int_equal(strlen(out.openid), MGW_OPENID_MAX);

    id[MGW_OPENID_MAX] = 'a';
    id[MGW_OPENID_MAX + 1] = '\0';
    snprintf(body, sizeof(body),
             "{\"openid\":\"%s\",\"session_key\":\"k\"}", id);
    assert_int_equal(mgw_login_parse((const uint8_t *) body, strlen(body),
                                     &out),
                     MGW_LOGIN_UNAVAILABLE);

    snprintf(body, sizeof(body),
             "{\"openid\":\"o\",\"session_key\":\"k\",\"unionid\":\"%s\"}",
             id);
    assert_int_equal(mgw_login_parse((const uint8_t *) body, strlen(body),
                                     &out),
                     MGW_LOGIN_UNAVAILABLE);

    /* session_key of exactly 64 chars passes, 65 fails */

    memset(key, 'K', MGW_SESSION_KEY_MAX);
    key[MGW_SESSION_KEY_MAX] = '\0';
    snprintf(body, sizeof(body),
             "{\"openid\":\"o\",\"session_key\":\"%s\"}", key);
    assert_int_equal(mgw_login_parse((const uint8_t *) body, strlen(body),
                                     &out),
                     MGW_LOGIN_OK);
    assert_int_equal(out.session_key_len, MGW_SESSION_KEY_MAX);

    key[MGW_SESSION_KEY_MAX] = 'K';
    key[MGW_SESSION_KEY_MAX + 1] = '\0';
    snprintf(body, sizeof(body),
             "{\"openid\":\"o\",\"session_key\":\"%s\"}", key);
    assert_int_equal(mgw_login_parse((const uint8_t *) body, strlen(body),
                                     &out),
                     MGW_LOGIN_UNAVAILABLE);

    /* empty strings */

    assert_int_equal(mgw_login_parse(S(
        "{\"openid\":\"\",\"session_key\":\"k\"}"), &out),
        MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S(
        "{\"openid\":\"o\",\"session_key\":\"\"}"), &out),
        MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S(
        "{\"openid\":\"o\",\"session_key\":\"k\",\"unionid\":\"\"}"), &out),
        MGW_LOGIN_UNAVAILABLE);
}


static void
test_login_bad_chars(void **state)
{
    size_t        i;
    mgw_login_t   out;

    static const char  *bodies[] = {
        "{\"openid\":\"o o\",\"session_key\":\"k\"}",
        "{\"openid\":\"o/\",\"session_key\":\"k\"}",
        "{\"openid\":\"o+\",\"session_key\":\"k\"}",
        "{\"openid\":\"o\\u0000x\",\"session_key\":\"k\"}",
        "{\"openid\":\"o\\n\",\"session_key\":\"k\"}",
        "{\"openid\":\"\xe7\xa7\xaf\",\"session_key\":\"k\"}",
        "{\"openid\":\"o\",\"session_key\":\"k-\"}",
        "{\"openid\":\"o\",\"session_key\":\"k_\"}",
        "{\"openid\":\"o\",\"session_key\":\"k\\\"\"}",
        "{\"openid\":\"o\",\"session_key\":\"k \"}",
        "{\"openid\":\"o\",\"session_key\":\"k\",\"unionid\":\"u.u\"}",
        "{\"openid\":\"o\",\"session_key\":\"k\",\"unionid\":\"u\\u00e9\"}",
    };

    (void) state;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        assert_int_equal(mgw_login_parse((const uint8_t *) bodies[i],
                                         strlen(bodies[i]), &out),
                         MGW_LOGIN_UNAVAILABLE);
        assert_int_equal(out.openid_len, 0);
        assert_string_equal(out.session_key, "");
    }
}


static void
test_login_duplicate_keys(void **state)
{
    mgw_login_t  out;

    (void) state;

    assert_int_equal(mgw_login_parse(S(
        "{\"openid\":\"a\",\"openid\":\"b\",\"session_key\":\"k\"}"), &out),
        MGW_LOGIN_UNAVAILABLE);
    assert_int_equal(mgw_login_parse(S(
        "{\"errcode\":40029,\"errcode\":0,\"openid\":\"a\","
        "\"session_key\":\"k\"}"), &out),
        MGW_LOGIN_UNAVAILABLE);
}


static void
test_login_result_str(void **state)
{
    (void) state;

    assert_string_equal(mgw_login_result_str(MGW_LOGIN_OK), "ok");
    assert_string_equal(mgw_login_result_str(MGW_LOGIN_BAD_CODE), "bad_code");
    assert_string_equal(mgw_login_result_str(MGW_LOGIN_RATE_LIMITED),
                        "rate_limited");
    assert_string_equal(mgw_login_result_str(MGW_LOGIN_BLOCKED), "blocked");
    assert_string_equal(mgw_login_result_str(MGW_LOGIN_UNAVAILABLE),
                        "unavailable");
    assert_string_equal(mgw_login_result_str((mgw_login_result_t) 99),
                        "unknown");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_login_ok_without_unionid),
        cmocka_unit_test(test_login_ok_with_unionid),
        cmocka_unit_test(test_login_ok_with_errcode_zero),
        cmocka_unit_test(test_login_ok_whitespace_and_extra_fields),
        cmocka_unit_test(test_login_error_codes),
        cmocka_unit_test(test_login_not_json),
        cmocka_unit_test(test_login_truncated),
        cmocka_unit_test(test_login_empty),
        cmocka_unit_test(test_login_missing_fields),
        cmocka_unit_test(test_login_wrong_types),
        cmocka_unit_test(test_login_lengths),
        cmocka_unit_test(test_login_bad_chars),
        cmocka_unit_test(test_login_duplicate_keys),
        cmocka_unit_test(test_login_result_str),
    };

    return cmocka_run_group_tests_name("gateway_login", tests, NULL, NULL);
}
