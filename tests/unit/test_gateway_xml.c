/*
 * mgw_xml.c: WeChat's XML samples (spec sections 4, 13.C, 13.F) and the
 * limits of section 12: DTD, entities, depth, fields, sizes, UTF-8.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "member_gateway.h"


#define U(s)     ((const uint8_t *) (s))
#define LEN(s)   (sizeof(s) - 1)
#define S(s)     s, sizeof(s) - 1


static const char  c_msg[] =
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n"
    "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n"
    "<CreateTime>1409735668</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[abcdteT]]></Content>\n"
    "<MsgId>6054768590064713728</MsgId>\n"
    "</xml>";

static const char  f1_msg[] =
    "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>"
    "<FromUserName><![CDATA[oMember0000000000000000001]]></FromUserName>"
    "<CreateTime>1735700000</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[user_get_card]]></Event>"
    "<CardId><![CDATA[pCard000000000000000000001]]></CardId>"
    "<IsGiveByFriend>0</IsGiveByFriend>"
    "<UserCardCode><![CDATA[123456789012]]></UserCardCode>"
    "<OuterStr><![CDATA[mp_home]]></OuterStr>"
    "<IsRestoreMemberCard>0</IsRestoreMemberCard></xml>";


typedef struct {
    mgw_xml_t  x;
    uint8_t    store[MGW_XML_STORE_SIZE(4096)];
} doc_t;


static doc_t  doc;


static int
setup(void **state)
{
    (void) state;

    mgw_xml_init(&doc.x, doc.store, sizeof(doc.store));

    return 0;
}


static mgw_status_t
parse(const char *s, size_t len)
{
    return mgw_xml_parse(&doc.x, U(s), len);
}


static void
expect(const char *name, const char *value)
{
    size_t       n;
    const char  *v;

    assert_int_equal(mgw_xml_get(&doc.x, name, strlen(name), &v, &n),
                     MGW_OK);
    assert_int_equal(n, strlen(value));
    assert_memory_equal(v, value, n);
    assert_int_equal(v[n], '\0');
}


static void
expect_none(const char *name)
{
    assert_int_equal(mgw_xml_get(&doc.x, name, strlen(name), NULL, NULL),
                     MGW_ERR_NOT_FOUND);
}


static void
test_xml_sample_c(void **state)
{
    (void) state;

    assert_int_equal(parse(c_msg, LEN(c_msg)), MGW_OK);
    assert_int_equal(doc.x.nfields, 6);

    expect("ToUserName", "gh_10f6c3c3ac5a");
    expect("FromUserName", "oyORnuP8q7ou2gfYjqLzSIWZf0rs");
    expect("CreateTime", "1409735668");
    expect("MsgType", "text");
    expect("Content", "abcdteT");
    expect("MsgId", "6054768590064713728");
    expect_none("Event");
    expect_none("ToUser");
    expect_none("xml");
}


static void
test_xml_user_get_card(void **state)
{
    (void) state;

    assert_int_equal(parse(f1_msg, LEN(f1_msg)), MGW_OK);
    assert_int_equal(doc.x.nfields, 10);

    expect("ToUserName", "gh_0123456789ab");
    expect("FromUserName", "oMember0000000000000000001");
    expect("CreateTime", "1735700000");
    expect("MsgType", "event");
    expect("Event", "user_get_card");
    expect("CardId", "pCard000000000000000000001");
    expect("IsGiveByFriend", "0");
    expect("UserCardCode", "123456789012");
    expect("OuterStr", "mp_home");
    expect("IsRestoreMemberCard", "0");
    expect_none("UnionId");

    /* the same store fits MGW_XML_STORE_SIZE() exactly for this document */

    {
        mgw_xml_t  x;
        uint8_t    store[MGW_XML_STORE_SIZE(LEN(f1_msg))];

        mgw_xml_init(&x, store, sizeof(store));
        assert_int_equal(mgw_xml_parse(&x, U(f1_msg), LEN(f1_msg)), MGW_OK);
        assert_int_equal(x.nfields, 10);
    }
}


static void
test_xml_safe_mode_body(void **state)
{
    static const char  body[] =
        "<xml>\r\n  <ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>\r\n"
        "  <Encrypt><![CDATA[1y646VXU/YQKd3dAY8Q1m9wOtJlAQ+==]]></Encrypt>\r\n"
        "</xml>\r\n";

    (void) state;

    assert_int_equal(parse(body, LEN(body)), MGW_OK);
    assert_int_equal(doc.x.nfields, 2);
    expect("Encrypt", "1y646VXU/YQKd3dAY8Q1m9wOtJlAQ+==");
    expect("ToUserName", "gh_0123456789ab");
}


static void
test_xml_values(void **state)
{
    static const char  body[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<!-- a comment --><xml>"
        "<A> <![CDATA[v]]> </A>"
        "<B>\n   123\n</B>"
        "<C><![CDATA[ keep  spaces ]]></C>"
        "<D><![CDATA[a]]]]><![CDATA[>b]]></D>"
        "<E>&lt;&amp;&gt;&quot;&apos;</E>"
        "<F>&#x79EF;&#20998;</F>"
        "<G/>"
        "<H></H>"
        "<I>   </I>"
        "<J attr=\"x\">with attr</J>"
        "<K>one <![CDATA[two]]> three</K>"
        "<L><![CDATA[]]></L>"
        "<M>\xe7\xa7\xaf\xe5\x88\x86 1280</M>"
        "<?pi ignored?>"
        "</xml>\n";

    (void) state;

    assert_int_equal(parse(body, LEN(body)), MGW_OK);
    assert_int_equal(doc.x.nfields, 13);

    expect("A", "v");
    expect("B", "123");
    expect("C", " keep  spaces ");
    expect("D", "a]]>b");
    expect("E", "<&>\"'");
    expect("F", "\xe7\xa7\xaf\xe5\x88\x86");
    expect("G", "");
    expect("H", "");
    expect("I", "");
    expect("J", "with attr");
    expect("K", "one two three");
    expect("L", "");
    expect("M", "\xe7\xa7\xaf\xe5\x88\x86 1280");
}


static void
test_xml_nested(void **state)
{
    static const char  body[] =
        "<xml><Event><![CDATA[scancode_push]]></Event>"
        "<ScanCodeInfo> <ScanType><![CDATA[qrcode]]></ScanType>\n"
        "<ScanResult><![CDATA[1]]></ScanResult> </ScanCodeInfo>"
        "<After>x</After></xml>";

    static const char  deep[] =
        "<xml><SendPicsInfo><PicList><item><PicMd5Sum>x</PicMd5Sum></item>"
        "</PicList></SendPicsInfo></xml>";

    (void) state;

    assert_int_equal(parse(body, LEN(body)), MGW_OK);
    assert_int_equal(doc.x.nfields, 5);
    expect("Event", "scancode_push");
    expect("ScanCodeInfo", "");
    expect("ScanCodeInfo/ScanType", "qrcode");
    expect("ScanCodeInfo/ScanResult", "1");
    expect("After", "x");
    expect_none("ScanType");

    /* flat only */

    doc.x.max_depth = 2;
    assert_int_equal(parse(body, LEN(body)), MGW_ERR_LIMIT);
    assert_int_equal(doc.x.nfields, 0);

    /* too deep */

    doc.x.max_depth = 3;
    assert_int_equal(parse(deep, LEN(deep)), MGW_ERR_LIMIT);

    doc.x.max_depth = 100;
    assert_int_equal(parse(deep, LEN(deep)), MGW_ERR_LIMIT);

    /* text beside children */

    assert_int_equal(parse(S("<xml><P>t<C>1</C></P></xml>")), MGW_OK);
    expect("P", "t");
    expect("P/C", "1");
    assert_int_equal(parse(S("<xml><P><C>1</C>t</P></xml>")), MGW_ERR_XML);
}


static void
test_xml_forbidden(void **state)
{
    size_t  i;

    static const char  *bodies[] = {
        /* billion laughs */
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE lolz [\n"
        " <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
        "]>\n"
        "<xml><Content>&lol2;</Content></xml>",

        /* external entity (XXE) */
        "<!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
        "<xml><Content>&xxe;</Content></xml>",

        /* external DTD */
        "<!DOCTYPE xml SYSTEM \"http://127.0.0.1/evil.dtd\"><xml/>",

        /* parameter entity */
        "<!DOCTYPE xml [<!ENTITY % p SYSTEM \"http://127.0.0.1/p\"> %p;]>"
        "<xml/>",

        /* a harmless DOCTYPE is still a DOCTYPE */
        "<!DOCTYPE xml><xml><A>1</A></xml>",

        /* a DOCTYPE after a field is not possible, but after a comment */
        "<!-- c --><!DOCTYPE xml []><xml/>",
    };

    (void) state;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        assert_int_equal(parse(bodies[i], strlen(bodies[i])),
                         MGW_ERR_XML_FORBIDDEN);
        assert_int_equal(doc.x.nfields, 0);
        assert_true(doc.x.errstr[0] != '\0');
    }

    /* an entity without a DTD is undefined */

    assert_int_equal(parse(S("<xml><A>&lol;</A></xml>")), MGW_ERR_XML);
}


static void
test_xml_field_limits(void **state)
{
    char    body[4096], *p;
    size_t  i;

    (void) state;

    /* exactly MGW_XML_FIELDS_MAX fields, then one more */

    p = body;
    p += sprintf(p, "<xml>");
    for (i = 0; i < MGW_XML_FIELDS_MAX; i++) {
        p += sprintf(p, "<F%zu>%zu</F%zu>", i, i, i);
    }
    sprintf(p, "</xml>");

    assert_int_equal(parse(body, strlen(body)), MGW_OK);
    assert_int_equal(doc.x.nfields, MGW_XML_FIELDS_MAX);
    expect("F63", "63");

    sprintf(p, "<X>1</X></xml>");
    assert_int_equal(parse(body, strlen(body)), MGW_ERR_LIMIT);
    assert_int_equal(doc.x.nfields, 0);

    /* a lower limit of the caller's */

    doc.x.max_fields = 3;
    assert_int_equal(parse(S("<xml><A/><B/><C/></xml>")), MGW_OK);
    assert_int_equal(parse(S("<xml><A/><B/><C/><D/></xml>")), MGW_ERR_LIMIT);
    doc.x.max_fields = 1000;
    assert_int_equal(parse(body, strlen(body)), MGW_ERR_LIMIT);

    /* duplicates */

    assert_int_equal(parse(S("<xml><A>1</A><A>2</A></xml>")), MGW_ERR_XML);
    assert_int_equal(parse(S("<xml><P><A>1</A><A>2</A></P></xml>")),
                     MGW_ERR_XML);
    assert_int_equal(parse(S("<xml><A>1</A><P><A>2</A></P></xml>")),
                     MGW_OK);
}


static void
test_xml_size_limits(void **state)
{
    char    body[MGW_XML_SIZE_MAX + 64];
    char    name[MGW_XML_NAME_MAX + 2];
    size_t  len;

    (void) state;

    /* the whole document */

    doc.x.max_size = 30;
    assert_int_equal(parse(S("<xml><A>12345678901</A></xml>")), MGW_OK);
    assert_int_equal(parse(S("<xml><A>123456789012</A></xml>")), MGW_OK);
    assert_int_equal(parse(S("<xml><A>1234567890123</A></xml>")),
                     MGW_ERR_LIMIT);

    doc.x.max_size = (size_t) -1;
    memset(body, ' ', sizeof(body));
    memcpy(body, "<xml>", 5);
    memcpy(body + MGW_XML_SIZE_MAX + 1 - 6, "</xml>", 6);
    assert_int_equal(parse(body, MGW_XML_SIZE_MAX + 1), MGW_ERR_LIMIT);
    memcpy(body + MGW_XML_SIZE_MAX + 1 - 6, " ", 1);
    memcpy(body + MGW_XML_SIZE_MAX - 6, "</xml>", 6);
    assert_int_equal(parse(body, MGW_XML_SIZE_MAX), MGW_OK);
    doc.x.max_size = MGW_XML_SIZE_MAX;

    /* one value */

    doc.x.max_value = 8;
    assert_int_equal(parse(S("<xml><A>12345678</A></xml>")), MGW_OK);
    assert_int_equal(parse(S("<xml><A>  12345678  </A></xml>")), MGW_OK);
    expect("A", "12345678");
    assert_int_equal(parse(S("<xml><A>123456789</A></xml>")), MGW_ERR_LIMIT);
    assert_int_equal(parse(S("<xml><A><![CDATA[1234]]>56789</A></xml>")),
                     MGW_ERR_LIMIT);
    doc.x.max_value = MGW_XML_SIZE_MAX;

    /* names */

    memset(name, 'N', sizeof(name));
    name[MGW_XML_NAME_MAX] = '\0';
    len = (size_t) sprintf(body, "<xml><%s>1</%s></xml>", name, name);
    assert_int_equal(parse(body, len), MGW_OK);

    name[MGW_XML_NAME_MAX] = 'N';
    name[MGW_XML_NAME_MAX + 1] = '\0';
    len = (size_t) sprintf(body, "<xml><%s>1</%s></xml>", name, name);
    assert_int_equal(parse(body, len), MGW_ERR_LIMIT);
}


static void
test_xml_store(void **state)
{
    mgw_xml_t  x;
    uint8_t    store[32];

    static const char  ten[] = "<xml><A>1234567890</A></xml>";

    (void) state;

    mgw_xml_init(&x, store, sizeof(store));
    assert_int_equal(mgw_xml_parse(&x, U(f1_msg), LEN(f1_msg)),
                     MGW_ERR_SPACE);
    assert_int_equal(x.nfields, 0);

    /* "A\0" + "1234567890\0" ... exactly full */

    mgw_xml_init(&x, store, 13);
    assert_int_equal(mgw_xml_parse(&x, U(ten), LEN(ten)), MGW_OK);
    mgw_xml_init(&x, store, 12);
    assert_int_equal(mgw_xml_parse(&x, U(ten), LEN(ten)), MGW_ERR_SPACE);

    mgw_xml_init(&x, NULL, 0);
    assert_int_equal(mgw_xml_parse(&x, U("<xml/>"), 6), MGW_ERR_ARG);
    assert_int_equal(mgw_xml_parse(NULL, U("<xml/>"), 6), MGW_ERR_ARG);
}


static void
test_xml_malformed(void **state)
{
    size_t  i;

    static const struct {
        const char  *body;
        size_t       len;
    } bad[] = {
        { S("") },
        { S("   ") },
        { S("success") },
        { S("{\"ToUserName\":\"gh\"}") },
        { S("<Xml><A>1</A></Xml>") },
        { S("<root><A>1</A></root>") },
        { S("<xml><A>1</B></xml>") },
        { S("<xml><A>1</A></xml><xml/>") },
        { S("<xml>text<A>1</A></xml>") },
        { S("<xml><A>1</A></xml>junk") },
        { S("<xml><A>\xc3\x28</A></xml>") },                /* bad UTF-8 */
        { S("<xml><A>\xed\xa0\x80</A></xml>") },             /* surrogate */
        { S("<xml><A>\xc0\xaf</A></xml>") },                /* overlong */
        { S("<xml><A>\xff</A></xml>") },
        { S("<xml><A>a\0b</A></xml>") },                    /* NUL */
        { S("<xml><A>\x01</A></xml>") },
        { S("<xml><A><![CDATA[x]></A></xml>") },
        { S("<xml><A a=1>1</A></xml>") },
        /* the declared encoding does not change the rules */
        { S("<?xml version=\"1.0\" encoding=\"GBK\"?>"
            "<xml><A>\xbb\xfd</A></xml>") },
        { S("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
            "<xml><A>\xe9</A></xml>") },
        { S("\xff\xfe<\0x\0m\0l\0/\0>\0") },                 /* UTF-16 */
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i].body, bad[i].len), MGW_ERR_XML);
        assert_int_equal(doc.x.nfields, 0);
    }

    assert_int_equal(mgw_xml_parse(&doc.x, NULL, 1), MGW_ERR_ARG);
}


static void
test_xml_truncated(void **state)
{
    size_t  n;

    (void) state;

    for (n = 0; n < LEN(f1_msg); n++) {
        assert_int_not_equal(parse(f1_msg, n), MGW_OK);
        assert_int_equal(doc.x.nfields, 0);
    }

    assert_int_equal(parse(f1_msg, LEN(f1_msg)), MGW_OK);
}


static void
test_xml_reparse(void **state)
{
    (void) state;

    assert_int_equal(parse(f1_msg, LEN(f1_msg)), MGW_OK);
    assert_int_equal(parse(S("<xml><A>1</A></xml>")), MGW_OK);
    assert_int_equal(doc.x.nfields, 1);
    expect_none("Event");
    expect("A", "1");

    assert_int_equal(mgw_xml_get(NULL, "A", 1, NULL, NULL), MGW_ERR_ARG);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup(test_xml_sample_c, setup),
        cmocka_unit_test_setup(test_xml_user_get_card, setup),
        cmocka_unit_test_setup(test_xml_safe_mode_body, setup),
        cmocka_unit_test_setup(test_xml_values, setup),
        cmocka_unit_test_setup(test_xml_nested, setup),
        cmocka_unit_test_setup(test_xml_forbidden, setup),
        cmocka_unit_test_setup(test_xml_field_limits, setup),
        cmocka_unit_test_setup(test_xml_size_limits, setup),
        cmocka_unit_test_setup(test_xml_store, setup),
        cmocka_unit_test_setup(test_xml_malformed, setup),
        cmocka_unit_test_setup(test_xml_truncated, setup),
        cmocka_unit_test_setup(test_xml_reparse, setup),
    };

    return cmocka_run_group_tests_name("gateway_xml", tests, NULL, NULL);
}
