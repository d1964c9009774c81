/*
 * mgw_reply.c: the text reply of spec section 4.1 (vector F2's plaintext)
 * and the safe-mode envelope of section 2 (vectors B and F2).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "member_gateway.h"


#define U(s)     ((const uint8_t *) (s))
#define LEN(s)   (sizeof(s) - 1)
#define STR(s)   { U(s), sizeof(s) - 1 }


static const char  f2_msg[] =
    "<xml><ToUserName><![CDATA[oMember0000000000000000001]]></ToUserName>"
    "<FromUserName><![CDATA[gh_0123456789ab]]></FromUserName>"
    "<CreateTime>1735700001</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[\xe7\xa7\xaf\xe5\x88\x86 1280\xef\xbc\x8c"
    "\xe4\xbd\x99\xe9\xa2\x9d \xc2\xa5" "35.00]]></Content></xml>";

static const char  f2_content[] =
    "\xe7\xa7\xaf\xe5\x88\x86 1280\xef\xbc\x8c\xe4\xbd\x99\xe9\xa2\x9d "
    "\xc2\xa5" "35.00";

static const char  f2_sealed[] =
    "<xml><Encrypt><![CDATA["
    "0PpMB23hLuqPBfQI38hPj5YGvvO/Weh7gkEiLPSkO04CKLxqIsgm+NRKewHMkpqOVnF0HoQo"
    "5vB+gEWuMo8Di64ADBbaNqiarLAdhbCN73S/5UOJMPN1nKm7by+QNky4uRx/ZxtiMb2SOSDc"
    "ZHq0r1d09KryXO3k/f2Sy6Of5hYxDQ8BawhcGT6kY8yX+xXo9qeqe2t8TUaYwOZspFZlLxYw"
    "hek/TvAzVr2bOjYJoCLGJZrf3hSJUcEYh6IgGAbeOpOPMK9Yn7pKZN7GNhQoOvjYTkxojaMI"
    "bHZvUKTLLcOrVetV5wFmMR13IyMdlLZl3EmpbGAHpm5uBCRQS7da8/JckiFrvspBLJg+NO86"
    "D+D6eNYfxoj2Y5BOyF+/l2/TDjyGSRNAl44uwNH11oErJu5mO258M9h4epVsm+n+vhw="
    "]]></Encrypt><MsgSignature><![CDATA["
    "74963ba72d5f2204da65c47cf77c8920ac935229"
    "]]></MsgSignature><TimeStamp>1735700001</TimeStamp>"
    "<Nonce><![CDATA[987654321]]></Nonce></xml>";

static const char  b_sealed[] =
    "<xml><Encrypt><![CDATA["
    "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyR"
    "btzve1L32tmxSQ=="
    "]]></Encrypt><MsgSignature><![CDATA["
    "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"
    "]]></MsgSignature><TimeStamp>1713424427</TimeStamp>"
    "<Nonce><![CDATA[415670741]]></Nonce></xml>";


static void
test_reply_text_f2(void **state)
{
    size_t     n;
    uint8_t    out[512];
    mgw_str_t  to = STR("oMember0000000000000000001");
    mgw_str_t  from = STR("gh_0123456789ab");
    mgw_str_t  ct = STR("1735700001");
    mgw_str_t  content = STR(f2_content);

    (void) state;

    assert_int_equal(mgw_reply_text(&to, &from, &ct, &content, out,
                                    sizeof(out), &n),
                     MGW_OK);
    assert_int_equal(n, 259);
    assert_int_equal(n, LEN(f2_msg));
    assert_memory_equal(out, f2_msg, n);

    /* exact room, one byte short */

    assert_int_equal(mgw_reply_text(&to, &from, &ct, &content, out, 259, &n),
                     MGW_OK);
    assert_int_equal(mgw_reply_text(&to, &from, &ct, &content, out, 258, &n),
                     MGW_ERR_SPACE);
    assert_int_equal(n, 0);
}


static void
test_reply_text_cdata_split(void **state)
{
    size_t       n, vlen;
    uint8_t      out[512], store[MGW_XML_STORE_SIZE(512)];
    mgw_xml_t    x;
    const char  *v;
    mgw_str_t    to = STR("o]]>1"), from = STR("gh_1"), ct = STR("1");
    mgw_str_t    content = STR("]]>a]]]>b]]>>]]");

    static const char  expect[] =
        "<xml><ToUserName><![CDATA[o]]]]><![CDATA[>1]]></ToUserName>"
        "<FromUserName><![CDATA[gh_1]]></FromUserName>"
        "<CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[]]]]><![CDATA[>a]]]]]><![CDATA[>b]]]]><![CDATA[>>]]"
        "]]></Content></xml>";

    (void) state;

    assert_int_equal(mgw_reply_text(&to, &from, &ct, &content, out,
                                    sizeof(out), &n),
                     MGW_OK);
    assert_int_equal(n, LEN(expect));
    assert_memory_equal(out, expect, n);

    /* and it reads back as written */

    mgw_xml_init(&x, store, sizeof(store));
    assert_int_equal(mgw_xml_parse(&x, out, n), MGW_OK);
    assert_int_equal(mgw_xml_get(&x, "Content", 7, &v, &vlen), MGW_OK);
    assert_int_equal(vlen, content.len);
    assert_memory_equal(v, content.data, vlen);
    assert_int_equal(mgw_xml_get(&x, "ToUserName", 10, &v, &vlen), MGW_OK);
    assert_memory_equal(v, "o]]>1", 5);
}


static void
test_reply_text_bad(void **state)
{
    size_t     i, n;
    uint8_t    out[512];
    mgw_str_t  to = STR("o1"), from = STR("gh_1"), ct = STR("1735700001");
    mgw_str_t  content, bad;

    static const char  *bad_text[] = {
        "\xc3\x28",              /* bad continuation */
        "\xc3",                  /* truncated */
        "\xe7\xa7",
        "\xc0\xaf",              /* overlong '/' */
        "\xe0\x80\xaf",
        "\xed\xa0\x80",          /* surrogate */
        "\xf4\x90\x80\x80",      /* above U+10FFFF */
        "\xef\xbf\xbe",          /* U+FFFE */
        "\xff",
        "\x01",
        "a\x1f",
        "\x7f\x0b",
    };

    static const char  *good_text[] = {
        "tab\there\r\nnewline",
        "\xf0\x9f\x8e\x81",      /* U+1F381 */
        "\xef\xbf\xbd",          /* U+FFFD */
        "\x7f",
        "",
    };

    (void) state;

    for (i = 0; i < sizeof(bad_text) / sizeof(bad_text[0]); i++) {
        content.data = U(bad_text[i]);
        content.len = strlen(bad_text[i]);
        assert_int_equal(mgw_reply_text(&to, &from, &ct, &content, out,
                                        sizeof(out), &n),
                         MGW_ERR_FORMAT);
        assert_int_equal(mgw_reply_text(&content, &from, &ct, &to, out,
                                        sizeof(out), &n),
                         MGW_ERR_FORMAT);
    }

    for (i = 0; i < sizeof(good_text) / sizeof(good_text[0]); i++) {
        content.data = U(good_text[i]);
        content.len = strlen(good_text[i]);
        assert_int_equal(mgw_reply_text(&to, &from, &ct, &content, out,
                                        sizeof(out), &n),
                         MGW_OK);
    }

    /* a sequence cut by the length, not by a NUL */

    content.data = U("ab\xc3\xa9");
    content.len = 3;
    assert_int_equal(mgw_reply_text(&to, &from, &ct, &content, out,
                                    sizeof(out), &n),
                     MGW_ERR_FORMAT);
    content.len = 4;
    assert_int_equal(mgw_reply_text(&to, &from, &ct, &content, out,
                                    sizeof(out), &n),
                     MGW_OK);

    /* NUL inside */

    content.data = U("a\0b");
    content.len = 3;
    assert_int_equal(mgw_reply_text(&to, &from, &ct, &content, out,
                                    sizeof(out), &n),
                     MGW_ERR_FORMAT);

    /* CreateTime: digits only */

    bad.data = U("17357 0001");
    bad.len = 10;
    assert_int_equal(mgw_reply_text(&to, &from, &bad, &to, out, sizeof(out),
                                    &n),
                     MGW_ERR_ARG);
    bad.len = 0;
    assert_int_equal(mgw_reply_text(&to, &from, &bad, &to, out, sizeof(out),
                                    &n),
                     MGW_ERR_ARG);

    /* empty To/From */

    bad.data = U("");
    assert_int_equal(mgw_reply_text(&bad, &from, &ct, &to, out, sizeof(out),
                                    &n),
                     MGW_ERR_ARG);
    assert_int_equal(mgw_reply_text(&to, &bad, &ct, &to, out, sizeof(out),
                                    &n),
                     MGW_ERR_ARG);
    assert_int_equal(mgw_reply_text(&to, &from, &ct, NULL, out, sizeof(out),
                                    &n),
                     MGW_ERR_ARG);
}


static void
test_reply_seal_vectors(void **state)
{
    size_t         n;
    uint8_t        out[MGW_REPLY_SEAL_LEN(LEN(f2_msg), 18)];
    mgw_str_t      token = STR("ngxMemberSpec");
    mgw_str_t      appid = STR("wx0123456789abcdef");
    mgw_str_t      ts = STR("1735700001"), nonce = STR("987654321");
    mgw_str_t      btoken = STR("AAAAA"), bappid = STR("wxba5fad812f8e6fb9");
    mgw_str_t      bts = STR("1713424427"), bnonce = STR("415670741");
    mgw_aes_key_t  key;

    (void) state;

    assert_int_equal(mgw_aes_key_init(&key,
                         U("NR9pzMJuW0BeWDpqzmwZesPBlRTPTCDm76zwa1i34qs"), 43),
                     MGW_OK);

    assert_int_equal(mgw_reply_seal(&key, &token, &appid, &ts, &nonce,
                                    U(f2_msg), LEN(f2_msg),
                                    U("fedcba9876543210"), out, sizeof(out),
                                    &n),
                     MGW_OK);
    assert_int_equal(n, LEN(f2_sealed));
    assert_memory_equal(out, f2_sealed, n);

    /* exact room, one byte short */

    assert_int_equal(mgw_reply_seal(&key, &token, &appid, &ts, &nonce,
                                    U(f2_msg), LEN(f2_msg),
                                    U("fedcba9876543210"), out,
                                    LEN(f2_sealed), &n),
                     MGW_OK);
    assert_int_equal(mgw_reply_seal(&key, &token, &appid, &ts, &nonce,
                                    U(f2_msg), LEN(f2_msg),
                                    U("fedcba9876543210"), out,
                                    LEN(f2_sealed) - 1, &n),
                     MGW_ERR_SPACE);
    assert_int_equal(mgw_reply_seal(&key, &token, &appid, &ts, &nonce,
                                    U(f2_msg), LEN(f2_msg),
                                    U("fedcba9876543210"), out, 10, &n),
                     MGW_ERR_SPACE);

    /* B's reply */

    assert_int_equal(mgw_aes_key_init(&key,
                         U("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 43),
                     MGW_OK);
    assert_int_equal(mgw_reply_seal(&key, &btoken, &bappid, &bts, &bnonce,
                                    U("{\"demo_resp\":\"good luck\"}"), 25,
                                    U("707722b803182950"), out, sizeof(out),
                                    &n),
                     MGW_OK);
    assert_int_equal(n, LEN(b_sealed));
    assert_memory_equal(out, b_sealed, n);
}


static void
test_reply_seal_roundtrip(void **state)
{
    size_t         n, m;
    uint8_t        out[1024], plain[1024], store[MGW_XML_STORE_SIZE(1024)];
    mgw_xml_t      x;
    mgw_str_t      token = STR("ngxMemberSpec");
    mgw_str_t      appid = STR("wx0123456789abcdef");
    mgw_str_t      ts = STR("1735700001"), nonce;
    mgw_msg_in_t   in;
    mgw_aes_key_t  key;
    char           nbuf[16];
    const char    *v;

    (void) state;

    assert_int_equal(mgw_random_nonce(nbuf, sizeof(nbuf)), MGW_OK);
    nonce.data = U(nbuf);
    nonce.len = sizeof(nbuf);

    assert_int_equal(mgw_aes_key_init(&key,
                         U("NR9pzMJuW0BeWDpqzmwZesPBlRTPTCDm76zwa1i34qs"), 43),
                     MGW_OK);

    assert_int_equal(mgw_reply_seal(&key, &token, &appid, &ts, &nonce,
                                    U(f2_msg), LEN(f2_msg), NULL, out,
                                    sizeof(out), &n),
                     MGW_OK);

    /* read the envelope back as WeChat would */

    mgw_xml_init(&x, store, sizeof(store));
    assert_int_equal(mgw_xml_parse(&x, out, n), MGW_OK);
    assert_int_equal(x.nfields, 4);

    assert_int_equal(mgw_xml_get(&x, "Encrypt", 7, &v, &m), MGW_OK);
    in.encrypt.data = U(v);
    in.encrypt.len = m;
    assert_int_equal(mgw_xml_get(&x, "MsgSignature", 12, &v, &m), MGW_OK);
    in.msg_signature.data = U(v);
    in.msg_signature.len = m;
    assert_int_equal(mgw_xml_get(&x, "TimeStamp", 9, &v, &m), MGW_OK);
    in.timestamp.data = U(v);
    in.timestamp.len = m;
    assert_int_equal(mgw_xml_get(&x, "Nonce", 5, &v, &m), MGW_OK);
    in.nonce.data = U(v);
    in.nonce.len = m;
    assert_memory_equal(v, nbuf, sizeof(nbuf));

    assert_int_equal(mgw_msg_open(&key, &token, &appid, &in, plain,
                                  sizeof(plain), &m),
                     MGW_OK);
    assert_int_equal(m, LEN(f2_msg));
    assert_memory_equal(plain, f2_msg, m);
}


static void
test_reply_seal_bad(void **state)
{
    size_t         n;
    uint8_t        out[1024];
    mgw_str_t      token = STR("t"), appid = STR("wx0123456789abcdef");
    mgw_str_t      ts = STR("1735700001"), nonce = STR("abc");
    mgw_str_t      bad;
    mgw_aes_key_t  key;

    (void) state;

    memset(&key, 0, sizeof(key));

    bad.data = U("12a");
    bad.len = 3;
    assert_int_equal(mgw_reply_seal(&key, &token, &appid, &bad, &nonce,
                                    U("x"), 1, NULL, out, sizeof(out), &n),
                     MGW_ERR_ARG);

    bad.data = U("a]]>");
    bad.len = 4;
    assert_int_equal(mgw_reply_seal(&key, &token, &appid, &ts, &bad,
                                    U("x"), 1, NULL, out, sizeof(out), &n),
                     MGW_ERR_ARG);

    bad.data = U("123456789012345678901234567890123");
    bad.len = 33;
    assert_int_equal(mgw_reply_seal(&key, &token, &appid, &bad, &nonce,
                                    U("x"), 1, NULL, out, sizeof(out), &n),
                     MGW_ERR_ARG);
    bad.len = 32;
    assert_int_equal(mgw_reply_seal(&key, &token, &appid, &bad, &nonce,
                                    U("x"), 1, NULL, out, sizeof(out), &n),
                     MGW_OK);

    bad.data = U("");
    bad.len = 0;
    assert_int_equal(mgw_reply_seal(&key, &bad, &appid, &ts, &nonce,
                                    U("x"), 1, NULL, out, sizeof(out), &n),
                     MGW_ERR_ARG);
    assert_int_equal(mgw_reply_seal(&key, &token, &bad, &ts, &nonce,
                                    U("x"), 1, NULL, out, sizeof(out), &n),
                     MGW_ERR_ARG);
    assert_int_equal(mgw_reply_seal(NULL, &token, &appid, &ts, &nonce,
                                    U("x"), 1, NULL, out, sizeof(out), &n),
                     MGW_ERR_ARG);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_reply_text_f2),
        cmocka_unit_test(test_reply_text_cdata_split),
        cmocka_unit_test(test_reply_text_bad),
        cmocka_unit_test(test_reply_seal_vectors),
        cmocka_unit_test(test_reply_seal_roundtrip),
        cmocka_unit_test(test_reply_seal_bad),
    };

    return cmocka_run_group_tests_name("gateway_reply", tests, NULL, NULL);
}
