/*
 * mks_brand.c: brand ids, a key's brand in its hash tag or in front, the
 * inverse for keys read back, MATCH patterns, and every bad input: a bad
 * brand, a buffer one byte short, a key of another brand.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "member_keyspace.h"


#define U(s)  (const uint8_t *) (s), strlen(s)


static void
assert_brand(const char *brand, const char *key, const char *want)
{
    size_t   n, m;
    uint8_t  out[256], back[256];

    assert_int_equal(mks_brand_key(U(brand), U(key), out, sizeof(out), &n),
                     MKS_OK);

    if (n != strlen(want) || memcmp(out, want, n) != 0) {
        fail_msg("brand %s of \"%s\": \"%.*s\", want \"%s\"", brand, key,
                 (int) n, out, want);
    }

    assert_int_equal(n, mks_branded_len(strlen(key), strlen(brand)));

    /* the way back */
    assert_int_equal(mks_unbrand_key(U(brand), out, n, back, sizeof(back),
                                     &m), MKS_OK);
    assert_int_equal(m, strlen(key));
    assert_memory_equal(back, key, m);

    /* and in place */
    assert_int_equal(mks_unbrand_key(U(brand), out, n, out, n, &m), MKS_OK);
    assert_int_equal(m, strlen(key));
    assert_memory_equal(out, key, m);
}


static void
test_valid(void **state)
{
    (void) state;

    assert_int_equal(mks_brand_valid(U("a")), MKS_OK);
    assert_int_equal(mks_brand_valid(U("brand_1-x")), MKS_OK);
    assert_int_equal(mks_brand_valid(U("0123456789abcdefghijklmnopqrstuv")),
                     MKS_OK);
    assert_int_equal(mks_brand_valid(U("0123456789abcdefghijklmnopqrstuvw")),
                     MKS_BAD_ARG);
    assert_int_equal(mks_brand_valid(U("")), MKS_BAD_ARG);
    assert_int_equal(mks_brand_valid(U("A")), MKS_BAD_ARG);
    assert_int_equal(mks_brand_valid(U("a:b")), MKS_BAD_ARG);
    assert_int_equal(mks_brand_valid(U("a}")), MKS_BAD_ARG);
    assert_int_equal(mks_brand_valid(U("a{")), MKS_BAD_ARG);
    assert_int_equal(mks_brand_valid(U("a b")), MKS_BAD_ARG);
    assert_int_equal(mks_brand_valid(U("a*")), MKS_BAD_ARG);
    assert_int_equal(mks_brand_valid(U("\xe5\x93\x81")), MKS_BAD_ARG);
    assert_int_equal(mks_brand_valid((const uint8_t *) "a\0b", 3),
                     MKS_BAD_ARG);
    assert_int_equal(mks_brand_valid(NULL, 1), MKS_BAD_ARG);
}


static void
test_keys(void **state)
{
    (void) state;

    assert_brand("id", "{b}", "{b:id}");
    assert_brand("id", "{m:5}:ledger", "{m:id:5}:ledger");
    assert_brand("id", "{m:5}", "{m:id:5}");
    assert_brand("id", "{s:S1}:n:x", "{s:id:S1}:n:x");
    assert_brand("id", "{rules}", "{rules:id}");
    assert_brand("id", "{rules}:versions", "{rules:id}:versions");
    assert_brand("id", "{b:fold:3}", "{b:id:fold:3}");
    assert_brand("id", "order:{s:S1}:O1", "order:{s:id:S1}:O1");
    assert_brand("id", "{wx:appid:token}", "{wx:id:appid:token}");
    assert_brand("id", "{wx:appid:kind}:lock", "{wx:id:appid:kind}:lock");
    assert_brand("id", "member:seq", "id:member:seq");
    assert_brand("id", "openid:o1", "id:openid:o1");
    assert_brand("id", "ledger:lease", "id:ledger:lease");
    assert_brand("id", "stores", "id:stores");
    assert_brand("a", "{b}:admin:fail:::1", "{b:a}:admin:fail:::1");
    assert_brand("a", "{m:1}:s:0f", "{m:a:1}:s:0f");
    assert_brand("brand-7", "{b}:tag:\xe4\xbc\x9a",
                 "{b:brand-7}:tag:\xe4\xbc\x9a");

    /* the Redis rule decides what is a tag: none, empty, unclosed */
    assert_brand("a", "", "a:");
    assert_brand("a", "foo{}{bar}", "a:foo{}{bar}");
    assert_brand("a", "x{y", "a:x{y");
    assert_brand("a", "}{", "a:}{");
    assert_brand("a", "{:x}", "{:a:x}");
    assert_brand("a", "foo{{bar}}zap", "foo{{bar:a}}zap");
    assert_brand("a", "foo{bar}{zap}", "foo{bar:a}{zap}");
}


static void
test_slots(void **state)
{
    size_t   n1, n2;
    uint8_t  k1[64], k2[64];

    (void) state;

    /* a member's keys stay one slot; the brands' differ */
    assert_int_equal(mks_brand_key(U("a"), U("{m:1}"), k1, sizeof(k1), &n1),
                     MKS_OK);
    assert_int_equal(mks_brand_key(U("a"), U("{m:1}:ledger"), k2,
                                   sizeof(k2), &n2), MKS_OK);
    assert_int_equal(mks_slot(k1, n1), mks_slot(k2, n2));
    assert_int_equal(mks_slot(k1, n1), 7315);

    assert_int_equal(mks_brand_key(U("b"), U("{m:1}"), k2, sizeof(k2), &n2),
                     MKS_OK);
    assert_memory_not_equal(k1, k2, n1);

    /* the untagged keys of a brand are not all in one slot */
    assert_int_equal(mks_brand_key(U("a"), U("member:seq"), k1, sizeof(k1),
                                   &n1), MKS_OK);
    assert_int_equal(mks_slot(k1, n1), 4960);
    assert_int_equal(mks_brand_key(U("a"), U("openid:o1"), k2, sizeof(k2),
                                   &n2), MKS_OK);
    assert_int_equal(mks_slot(k2, n2), 5958);
}


static void
test_sizes(void **state)
{
    size_t   n;
    uint8_t  out[32];

    (void) state;

    n = 99;

    /* "{m:ab:5}" is 8 bytes: 7 is one short */
    assert_int_equal(mks_brand_key(U("ab"), U("{m:5}"), out, 7, &n),
                     MKS_TOO_SMALL);
    assert_int_equal(n, 99);
    assert_int_equal(mks_brand_key(U("ab"), U("{m:5}"), out, 8, &n), MKS_OK);
    assert_int_equal(n, 8);
    assert_int_equal(mks_brand_key(U("ab"), U("{m:5}"), NULL, 8, &n),
                     MKS_TOO_SMALL);
    assert_int_equal(mks_brand_key(U("ab"), U("{m:5}"), out, 8, NULL),
                     MKS_OK);

    assert_int_equal(mks_unbrand_key(U("ab"), U("{m:ab:5}"), out, 4, &n),
                     MKS_TOO_SMALL);
    assert_int_equal(mks_unbrand_key(U("ab"), U("{m:ab:5}"), out, 5, &n),
                     MKS_OK);
    assert_int_equal(n, 5);

    assert_int_equal(mks_brand_pattern(U("ab"), U("{m:*}"), out, 7, &n),
                     MKS_TOO_SMALL);

    /* a bad brand, a NULL key */
    assert_int_equal(mks_brand_key(U("A"), U("{m:5}"), out, sizeof(out), &n),
                     MKS_BAD_ARG);
    assert_int_equal(mks_brand_key(U(""), U("{m:5}"), out, sizeof(out), &n),
                     MKS_BAD_ARG);
    assert_int_equal(mks_brand_key(U("a"), NULL, 3, out, sizeof(out), &n),
                     MKS_BAD_ARG);
    assert_int_equal(mks_unbrand_key(U("a:"), U("{m:a::5}"), out,
                                     sizeof(out), &n), MKS_BAD_ARG);
    assert_int_equal(mks_brand_pattern(U("a}"), U("*"), out, sizeof(out),
                                       &n), MKS_BAD_ARG);
}


static void
assert_foreign(const char *brand, const char *key)
{
    size_t   n;
    uint8_t  out[64];

    if (mks_unbrand_key(U(brand), U(key), out, sizeof(out), &n)
        != MKS_FOREIGN)
    {
        fail_msg("\"%s\" read as a key of brand %s", key, brand);
    }
}


static void
test_foreign(void **state)
{
    (void) state;

    assert_foreign("a", "{m:b:1}");
    assert_foreign("a", "{m:ab:1}");
    assert_foreign("ab", "{m:a:1}");
    assert_foreign("a", "{m:1}");
    assert_foreign("a", "{b}");
    assert_foreign("a", "{b:aa}");
    assert_foreign("a", "{ba}");
    assert_foreign("a", "{m}");
    assert_foreign("a", "b:member:seq");
    assert_foreign("a", "ab:member:seq");
    assert_foreign("a", "member:seq");
    assert_foreign("a", "amember:seq");
    assert_foreign("a", "a");
    assert_foreign("a", "");
    assert_foreign("a", "a{x}");
    assert_foreign("a", "{m:a");
}


static void
assert_pattern(const char *brand, const char *pattern, const char *want)
{
    size_t   n;
    uint8_t  out[128];

    assert_int_equal(mks_brand_pattern(U(brand), U(pattern), out,
                                       sizeof(out), &n), MKS_OK);

    if (n != strlen(want) || memcmp(out, want, n) != 0) {
        fail_msg("pattern %s of \"%s\": \"%.*s\", want \"%s\"", brand,
                 pattern, (int) n, out, want);
    }
}


static void
test_pattern(void **state)
{
    size_t   n;
    uint8_t  out[64];

    (void) state;

    assert_pattern("a", "{m:*}", "{m:a:*}");
    assert_pattern("a", "{m:*}:ledger", "{m:a:*}:ledger");
    assert_pattern("a", "{b}:tag:*", "{b:a}:tag:*");
    assert_pattern("a", "order:{s:*}:*", "order:{s:a:*}:*");
    assert_pattern("a", "openid:*", "a:openid:*");
    assert_pattern("a", "*", "a:*");
    assert_pattern("a", "{m:[0-9]*}", "{m:a:[0-9]*}");

    /* what the tag and its first word are must be literal */
    assert_int_equal(mks_brand_pattern(U("a"), U("{*}"), out, sizeof(out),
                                       &n), MKS_PATTERN);
    assert_int_equal(mks_brand_pattern(U("a"), U("*{m:*}"), out, sizeof(out),
                                       &n), MKS_PATTERN);
    assert_int_equal(mks_brand_pattern(U("a"), U("{m?:1}"), out, sizeof(out),
                                       &n), MKS_PATTERN);
    assert_int_equal(mks_brand_pattern(U("a"), U("{[m]:1}"), out,
                                       sizeof(out), &n), MKS_PATTERN);
    assert_int_equal(mks_brand_pattern(U("a"), U("\\{m:1}"), out,
                                       sizeof(out), &n), MKS_PATTERN);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_foreign),
        cmocka_unit_test(test_pattern),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
