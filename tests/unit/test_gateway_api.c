/*
 * mgw_api.c: answers of sns/oauth2/access_token, cgi-bin/token,
 * stable_token, ticket/getticket and getuserphonenumber (spec 6, 7, 10).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "member_gateway.h"


#define S(s)      (const uint8_t *) (s), sizeof(s) - 1
#define APPID     (const uint8_t *) "wx4f4bc4dec97d474b", 18


static void
test_oauth_ok(void **state)
{
    mgw_oauth_t  out;

    (void) state;

    assert_int_equal(mgw_oauth_parse(S(
        "{\"access_token\":\"ACCESS_TOKEN\",\"expires_in\":7200,"
        "\"refresh_token\":\"REFRESH\",\"openid\":\"oGZUI0egBJY1zhBYw2KhdUfwVJJE\","
        "\"scope\":\"snsapi_base\",\"is_snapshotuser\":1}"), &out),
        MGW_API_OK);
    assert_string_equal(out.openid, "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
    assert_int_equal(out.openid_len, 28);
    assert_string_equal(out.unionid, "");

    assert_int_equal(mgw_oauth_parse(S(
        "{\"openid\":\"o_1\",\"unionid\":\"u-2\",\"errcode\":0}"), &out),
        MGW_API_OK);
    assert_string_equal(out.unionid, "u-2");
    assert_int_equal(out.unionid_len, 3);
}


static void
test_oauth_errors(void **state)
{
    size_t        i;
    mgw_oauth_t   out;

    static const struct {
        const char        *body;
        mgw_api_result_t   res;
        long               errcode;
    } cases[] = {
        { "{\"errcode\":40029,\"errmsg\":\"invalid code\"}",
          MGW_API_BAD_CODE, 40029 },
        { "{\"errcode\":40163,\"errmsg\":\"code been used\"}",
          MGW_API_BAD_CODE, 40163 },
        { "{\"errcode\":45011,\"errmsg\":\"limit\"}",
          MGW_API_RATE_LIMITED, 45011 },
        { "{\"errcode\":-1,\"errmsg\":\"busy\"}", MGW_API_UNAVAILABLE, -1 },
        { "{\"errcode\":\"0\",\"openid\":\"o\"}", MGW_API_UNAVAILABLE, 0 },
        { "{\"openid\":\"\"}", MGW_API_UNAVAILABLE, 0 },
        { "{\"openid\":\"a b\"}", MGW_API_UNAVAILABLE, 0 },
        { "{\"openid\":5}", MGW_API_UNAVAILABLE, 0 },
        { "{\"openid\":\"o\",\"unionid\":\"x y\"}", MGW_API_UNAVAILABLE, 0 },
        { "{\"openid\":\"o\",\"openid\":\"p\"}", MGW_API_UNAVAILABLE, 0 },
        { "[]", MGW_API_UNAVAILABLE, 0 },
        { "<html>", MGW_API_UNAVAILABLE, 0 },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(mgw_oauth_parse((const uint8_t *) cases[i].body,
                                         strlen(cases[i].body), &out),
                         cases[i].res);
        assert_int_equal(out.errcode, cases[i].errcode);
        assert_int_equal(out.openid_len, 0);
        assert_string_equal(out.openid, "");
    }

    assert_int_equal(mgw_oauth_parse(NULL, 0, &out), MGW_API_UNAVAILABLE);
    assert_int_equal(mgw_oauth_parse(S("{}"), NULL), MGW_API_UNAVAILABLE);
}


static void
test_token_and_ticket(void **state)
{
    mgw_secret_t  out;

    (void) state;

    assert_int_equal(mgw_token_parse(S(
        "{\"access_token\":\"ACCESS_TOKEN-_.x\",\"expires_in\":7200}"), &out),
        MGW_API_OK);
    assert_string_equal(out.value, "ACCESS_TOKEN-_.x");
    assert_int_equal(out.len, 16);
    assert_int_equal(out.expires_in, 7200);

    /* the ticket answer carries errcode 0 */
    assert_int_equal(mgw_ticket_parse(S(
        "{\"errcode\":0,\"errmsg\":\"ok\",\"ticket\":\"bxLdikRXVbTPdHSM05e5u5s"
        "UoXNKd8-41ZO3MhKoyN5OfkWITDGgnr2fwJ0m9E8NYzWKVZvdVtaUgWvsdshFKA\","
        "\"expires_in\":7200}"), &out),
        MGW_API_OK);
    assert_int_equal(out.len, 86);

    /* a ticket is not a token */
    assert_int_equal(mgw_token_parse(S(
        "{\"errcode\":0,\"ticket\":\"T\",\"expires_in\":7200}"), &out),
        MGW_API_UNAVAILABLE);
}


static void
test_token_errors(void **state)
{
    size_t         i;
    char           big[MGW_SECRET_MAX + 64];
    mgw_secret_t   out;

    static const struct {
        const char        *body;
        mgw_api_result_t   res;
    } cases[] = {
        { "{\"errcode\":40001,\"errmsg\":\"invalid credential\"}",
          MGW_API_TOKEN_INVALID },
        { "{\"errcode\":40014,\"errmsg\":\"invalid access_token\"}",
          MGW_API_TOKEN_INVALID },
        { "{\"errcode\":42001,\"errmsg\":\"access_token expired\"}",
          MGW_API_TOKEN_INVALID },
        { "{\"errcode\":40013,\"errmsg\":\"invalid appid\"}",
          MGW_API_UNAVAILABLE },
        { "{\"errcode\":40125,\"errmsg\":\"invalid appsecret\"}",
          MGW_API_UNAVAILABLE },
        { "{\"errcode\":45009,\"errmsg\":\"reach max api daily quota\"}",
          MGW_API_UNAVAILABLE },
        { "{\"access_token\":\"T\"}", MGW_API_UNAVAILABLE },
        { "{\"access_token\":\"T\",\"expires_in\":0}", MGW_API_UNAVAILABLE },
        { "{\"access_token\":\"T\",\"expires_in\":\"7200\"}",
          MGW_API_UNAVAILABLE },
        { "{\"access_token\":\"T&x=1\",\"expires_in\":7200}",
          MGW_API_UNAVAILABLE },
        { "{\"access_token\":\"T\\n\",\"expires_in\":7200}",
          MGW_API_UNAVAILABLE },
        { "{\"access_token\":\"\",\"expires_in\":7200}",
          MGW_API_UNAVAILABLE },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(mgw_token_parse((const uint8_t *) cases[i].body,
                                         strlen(cases[i].body), &out),
                         cases[i].res);
        assert_int_equal(out.len, 0);
        assert_string_equal(out.value, "");
    }

    /* one byte over the limit */
    memset(big, 'A', sizeof(big));
    i = snprintf(big, sizeof(big), "{\"access_token\":\"");
    memset(big + i, 'A', MGW_SECRET_MAX + 1);
    i += MGW_SECRET_MAX + 1;
    i += snprintf(big + i, sizeof(big) - i, "\",\"expires_in\":7200}");
    assert_int_equal(mgw_token_parse((const uint8_t *) big, i, &out),
                     MGW_API_UNAVAILABLE);
}


static void
test_phone_ok(void **state)
{
    mgw_phone_t  out;

    (void) state;

    assert_int_equal(mgw_phone_parse(S(
        "{\"errcode\":0,\"errmsg\":\"ok\",\"phone_info\":{"
        "\"phoneNumber\":\"13800000000\",\"purePhoneNumber\":\"13800000000\","
        "\"countryCode\":86,\"watermark\":{\"timestamp\":1637744274,"
        "\"appid\":\"wx4f4bc4dec97d474b\"}}}"), APPID, &out),
        MGW_API_OK);
    assert_string_equal(out.phone, "13800000000");
    assert_int_equal(out.len, 11);
    assert_int_equal(out.timestamp, 1637744274);

    assert_int_equal(mgw_phone_parse(S(
        "{\"errcode\":0,\"phone_info\":{"
        "\"phoneNumber\":\"+85261234567\",\"purePhoneNumber\":\"61234567\","
        "\"countryCode\":\"852\",\"watermark\":{\"timestamp\":1,"
        "\"appid\":\"wx4f4bc4dec97d474b\"}}}"), APPID, &out),
        MGW_API_OK);
    assert_string_equal(out.phone, "+85261234567");

    assert_int_equal(mgw_open_data_phone(S(
        "{\"phoneNumber\":\"13800000000\",\"purePhoneNumber\":\"13800000000\","
        "\"countryCode\":\"86\",\"watermark\":{\"timestamp\":1477314187,"
        "\"appid\":\"wx4f4bc4dec97d474b\"}}"), APPID, &out),
        MGW_OK);
    assert_string_equal(out.phone, "13800000000");
    assert_int_equal(out.timestamp, 1477314187);
}


static void
test_phone_errors(void **state)
{
    mgw_phone_t  out;

    (void) state;

    assert_int_equal(mgw_phone_parse(S(
        "{\"errcode\":40029,\"errmsg\":\"invalid code\"}"), APPID, &out),
        MGW_API_BAD_CODE);
    assert_int_equal(mgw_phone_parse(S(
        "{\"errcode\":40013,\"errmsg\":\"invalid appid\"}"), APPID, &out),
        MGW_API_BAD_CODE);
    assert_int_equal(mgw_phone_parse(S(
        "{\"errcode\":40001,\"errmsg\":\"invalid credential\"}"), APPID, &out),
        MGW_API_TOKEN_INVALID);
    assert_int_equal(mgw_phone_parse(S(
        "{\"errcode\":45011,\"errmsg\":\"limit\"}"), APPID, &out),
        MGW_API_RATE_LIMITED);
    assert_int_equal(mgw_phone_parse(S(
        "{\"errcode\":-1,\"errmsg\":\"busy\"}"), APPID, &out),
        MGW_API_UNAVAILABLE);

    /* the watermark names another mini-program */
    assert_int_equal(mgw_phone_parse(S(
        "{\"errcode\":0,\"phone_info\":{\"purePhoneNumber\":\"13800000000\","
        "\"countryCode\":\"86\",\"watermark\":{\"timestamp\":1,"
        "\"appid\":\"wx4f4bc4dec97d474c\"}}}"), APPID, &out),
        MGW_API_MISMATCH);
    assert_int_equal(out.len, 0);

    assert_int_equal(mgw_open_data_phone(S(
        "{\"purePhoneNumber\":\"13800000000\",\"countryCode\":\"86\","
        "\"watermark\":{\"appid\":\"wx4f4bc4dec97d474\"}}"), APPID, &out),
        MGW_ERR_APPID);
    assert_int_equal(mgw_open_data_phone(S(
        "{\"purePhoneNumber\":\"13800000000\",\"countryCode\":\"86\"}"),
        APPID, &out),
        MGW_ERR_FORMAT);
    assert_int_equal(mgw_open_data_phone(S(
        "{\"purePhoneNumber\":\"1380000000a\",\"countryCode\":\"86\","
        "\"watermark\":{\"appid\":\"wx4f4bc4dec97d474b\"}}"), APPID, &out),
        MGW_ERR_FORMAT);
    assert_int_equal(mgw_open_data_phone(S(
        "{\"purePhoneNumber\":\"1234567890123456\",\"countryCode\":\"86\","
        "\"watermark\":{\"appid\":\"wx4f4bc4dec97d474b\"}}"), APPID, &out),
        MGW_ERR_FORMAT);
    assert_int_equal(mgw_open_data_phone(S(
        "{\"purePhoneNumber\":\"13800000000\",\"countryCode\":\"x\","
        "\"watermark\":{\"appid\":\"wx4f4bc4dec97d474b\"}}"), APPID, &out),
        MGW_ERR_FORMAT);
    assert_int_equal(mgw_open_data_phone(S(
        "{\"purePhoneNumber\":\"13800000000\",\"countryCode\":\"86\","
        "\"watermark\":{\"appid\":\"wx4f4bc4dec97d474b\","
        "\"timestamp\":\"1\"}}"), APPID, &out),
        MGW_ERR_FORMAT);
    assert_int_equal(mgw_open_data_phone(S("not json"), APPID, &out),
                     MGW_ERR_FORMAT);
}


static void
test_api_result_str(void **state)
{
    (void) state;

    assert_string_equal(mgw_api_result_str(MGW_API_OK), "ok");
    assert_string_equal(mgw_api_result_str(MGW_API_TOKEN_INVALID),
                        "token_invalid");
    assert_string_equal(mgw_api_result_str((mgw_api_result_t) 99), "unknown");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_oauth_ok),
        cmocka_unit_test(test_oauth_errors),
        cmocka_unit_test(test_token_and_ticket),
        cmocka_unit_test(test_token_errors),
        cmocka_unit_test(test_phone_ok),
        cmocka_unit_test(test_phone_errors),
        cmocka_unit_test(test_api_result_str),
    };

    return cmocka_run_group_tests_name("gateway_api", tests, NULL, NULL);
}
