/*
 * mks_slot.c: CRC16 of the Redis Cluster specification, the hash tag rule
 * and slots checked against redis-server 7.0's CLUSTER KEYSLOT.
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


static unsigned
slot(const char *key)
{
    return mks_slot((const uint8_t *) key, strlen(key));
}


static void
test_crc16(void **state)
{
    (void) state;

    /* the specification's check value */
    assert_int_equal(mks_crc16((const uint8_t *) "123456789", 9), 0x31c3);
    assert_int_equal(mks_crc16((const uint8_t *) "", 0), 0);
    assert_int_equal(mks_crc16(NULL, 0), 0);
}


/* CLUSTER KEYSLOT of a redis-server 7.0.15 with cluster-enabled yes */
static const struct {
    const char  *key;
    unsigned     slot;
} vectors[] = {
    { "foo", 12182 },
    { "bar", 5061 },
    { "123456789", 12739 },
    { "{user1000}.following", 3443 },
    { "{user1000}.followers", 3443 },
    { "foo{}{bar}", 8363 },
    { "foo{{bar}}zap", 4015 },
    { "{bar", 4015 },
    { "foo{bar}{zap}", 5061 },
    { "{m:1}", 5398 },
    { "{m:1}:ledger", 5398 },
    { "{m:a:1}", 7315 },
    { "{m:12345}", 9458 },
    { "{m:a:12345}", 1839 },
    { "{b}", 3300 },
    { "a{b}c", 3300 },
    { "{b:a}", 9170 },
    { "{b:a:fold:3}", 15702 },
    { "member:seq", 7823 },
    { "a:member:seq", 4960 },
    { "{rules}", 13076 },
    { "{s:S1}:n:x", 9811 },
    { "order:{s:S1}:O1", 9811 },
    { "ledger:due", 1617 },
    { "stores", 7811 },
    { "openid:o1", 6394 },
    { "a:openid:o1", 5958 },
    { "", 0 },
    { "{", 4092 },
    { "}", 12090 },
    { "{}", 15257 },
    { "{}x", 10595 },
    { "x{y", 2740 },
};


static void
test_redis_vectors(void **state)
{
    size_t  i;

    (void) state;

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        if (slot(vectors[i].key) != vectors[i].slot) {
            fail_msg("slot of \"%s\": %u, Redis says %u", vectors[i].key,
                     slot(vectors[i].key), vectors[i].slot);
        }
    }
}


static void
assert_part(const char *key, const char *part)
{
    size_t  off, n;

    mks_hash_part((const uint8_t *) key, strlen(key), &off, &n);
    assert_int_equal(n, strlen(part));
    assert_memory_equal(key + off, part, n);
}


static void
test_hash_tag(void **state)
{
    (void) state;

    assert_part("{user1000}.following", "user1000");
    assert_part("foo{}{bar}", "foo{}{bar}");
    assert_part("foo{{bar}}zap", "{bar");
    assert_part("foo{bar}{zap}", "bar");
    assert_part("{m:5}:ledger", "m:5");
    assert_part("order:{s:S1}:O1", "s:S1");
    assert_part("member:seq", "member:seq");
    assert_part("{", "{");
    assert_part("x}{", "x}{");
    assert_part("{}", "{}");
    assert_part("{x}", "x");
    assert_part("", "");

    assert_int_equal(slot("{user1000}.following"),
                     slot("{user1000}.followers"));
    assert_int_equal(slot("foo{bar}{zap}"), slot("bar"));
    assert_int_equal(slot("foo{{bar}}zap"), slot("{bar"));
    assert_int_not_equal(slot("foo{}{bar}"), slot("bar"));

    /* a key of binary bytes, a NUL inside */
    assert_int_equal(mks_slot((const uint8_t *) "{a\0b}x", 6),
                     mks_slot((const uint8_t *) "a\0b", 3));
}


static void
test_range(void **state)
{
    unsigned  i, s;
    char      key[16];

    (void) state;

    for (i = 0; i < 100000; i++) {
        s = mks_slot((const uint8_t *) key,
                     (size_t) snprintf(key, sizeof(key), "{m:%u}", i));
        assert_true(s < MKS_SLOTS);
    }

    assert_int_equal(mks_slot(NULL, 0), 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_crc16),
        cmocka_unit_test(test_redis_vectors),
        cmocka_unit_test(test_hash_tag),
        cmocka_unit_test(test_range),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
