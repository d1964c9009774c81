/*
 * mrl_route.c: literal segments, captures of one segment and of several,
 * "**", the optional trailing "/", and every way a path fails to match.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "member_rules.h"


static int
match(const char *pattern, const char *path, mrl_route_match_t *m)
{
    return mrl_route_match(pattern, path, strlen(path), m);
}


static void
assert_capture(mrl_route_match_t *m, size_t i, const char *s)
{
    assert_true(i < m->ncaptures);
    assert_int_equal(m->capture[i].len, strlen(s));
    assert_memory_equal(m->capture[i].data, s, strlen(s));
}


static void
test_literal(void **state)
{
    mrl_route_match_t  m;

    (void) state;

    assert_true(match("stores", "stores", &m));
    assert_int_equal(m.ncaptures, 0);
    assert_true(match("reports/daily", "reports/daily", NULL));

    assert_false(match("stores", "store", NULL));
    assert_false(match("stores", "storesx", NULL));
    assert_false(match("stores", "Stores", NULL));
    assert_false(match("reports/daily", "reports", NULL));
    assert_false(match("reports/daily", "reports/dail", NULL));
    assert_false(match("stores", "", NULL));
}


static void
test_captures(void **state)
{
    mrl_route_match_t  m;

    (void) state;

    assert_true(match("members/<id>/transactions",
                      "members/42/transactions", &m));
    assert_int_equal(m.ncaptures, 1);
    assert_capture(&m, 0, "42");

    assert_true(match("stores/<id>/rotate", "stores/S-1/rotate", &m));
    assert_capture(&m, 0, "S-1");

    assert_true(match("tags/<tag>/members", "tags/\xe4\xbc\x9a/members", &m));
    assert_capture(&m, 0, "\xe4\xbc\x9a");

    assert_true(match("a/<x>/b/<y>/<z>/<w>", "a/1/b/2/3/4", &m));
    assert_int_equal(m.ncaptures, 4);
    assert_capture(&m, 0, "1");
    assert_capture(&m, 3, "4");

    /* a capture is one segment, never a "/" */
    assert_false(match("stores/<id>/rotate", "stores/a/b/rotate", NULL));
    assert_true(match("members/<id>", "members/lookup", &m));
    assert_capture(&m, 0, "lookup");
}


static void
test_empty_capture(void **state)
{
    (void) state;

    assert_false(match("stores/<id>/rotate", "stores//rotate", NULL));
    assert_false(match("members/<id>", "members/", NULL));
    assert_false(match("<id>", "", NULL));
    assert_false(match("members/<id>/transactions", "members//transactions",
                       NULL));
}


static void
test_trailing_slash(void **state)
{
    (void) state;

    /* without "/?" a trailing "/" is one more (empty) segment */
    assert_false(match("stores", "stores/", NULL));
    assert_false(match("members/<id>", "members/1/", NULL));

    assert_true(match("keys/?", "keys", NULL));
    assert_true(match("keys/?", "keys/", NULL));
    assert_false(match("keys/?", "keys//", NULL));
    assert_false(match("keys/?", "keys/x", NULL));
    assert_false(match("keys/?", "key", NULL));
}


static void
test_segments(void **state)
{
    mrl_route_match_t  m;

    (void) state;

    /* too many segments, too few */
    assert_false(match("members/<id>", "members/1/transactions", NULL));
    assert_false(match("members/<id>/transactions", "members/1", NULL));
    assert_false(match("whoami", "whoami/x", NULL));
    assert_false(match("a//b", "a/b", NULL));

    /* "**": any rest, none included */
    assert_true(match("keys/**", "keys", NULL));
    assert_true(match("keys/**", "keys/", NULL));
    assert_true(match("keys/**", "keys/a/b/c", NULL));
    assert_false(match("keys/**", "keysx", NULL));
    assert_true(match("**", "", NULL));
    assert_true(match("**", "anything/at/all", NULL));
    assert_true(match("stores/<s>/**", "stores/S1/transactions", &m));
    assert_capture(&m, 0, "S1");
    assert_false(match("stores/<s>/**", "stores", NULL));
}


static void
test_rest_capture(void **state)
{
    mrl_route_match_t  m;

    (void) state;

    assert_true(match("stores/<id*>/rotate", "stores/S1/rotate", &m));
    assert_int_equal(m.ncaptures, 1);
    assert_capture(&m, 0, "S1");

    /* one or more segments, as many as the literal ones after it leave */
    assert_true(match("stores/<id*>/rotate", "stores/a/b/rotate", &m));
    assert_capture(&m, 0, "a/b");
    assert_true(match("stores/<id*>/rotate", "stores/a/rotate/rotate", &m));
    assert_capture(&m, 0, "a/rotate");
    assert_true(match("stores/<id*>/rotate", "stores///rotate", &m));
    assert_capture(&m, 0, "/");
    assert_true(match("a/<x*>/b/c", "a/1/2/b/c", &m));
    assert_capture(&m, 0, "1/2");
    assert_true(match("a/<x*>", "a/1/2/", &m));
    assert_capture(&m, 0, "1/2/");

    /* never empty as a whole */
    assert_false(match("stores/<id*>/rotate", "stores//rotate", NULL));
    assert_false(match("stores/<id*>/rotate", "stores/rotate", NULL));
    assert_false(match("stores/<id*>/rotate", "stores/a/b/rotatex", NULL));
    assert_false(match("a/<x*>", "a/", NULL));
    assert_false(match("a/<x*>", "a", NULL));
    assert_false(match("a/<x*>/b/c", "a/b/c", NULL));
}


static void
test_long(void **state)
{
    char               *path;
    mrl_route_match_t   m;

    (void) state;

    path = malloc(MRL_ROUTE_MAX + 2);
    assert_non_null(path);

    memset(path, 'a', MRL_ROUTE_MAX + 1);
    memcpy(path, "tags/", 5);
    memcpy(path + MRL_ROUTE_MAX - 8, "/members", 8);

    assert_true(mrl_route_match("tags/<tag>/members", path, MRL_ROUTE_MAX,
                                &m));
    assert_int_equal(m.capture[0].len, MRL_ROUTE_MAX - 13);

    memcpy(path + MRL_ROUTE_MAX - 7, "/members", 8);
    assert_false(mrl_route_match("tags/<tag>/members", path,
                                 MRL_ROUTE_MAX + 1, &m));
    assert_false(mrl_route_match("**", path, MRL_ROUTE_MAX + 1, &m));

    free(path);

    /* not NUL-terminated: only len bytes are read */
    assert_true(mrl_route_match("whoami", "whoamiXYZ", 6, NULL));
    assert_false(mrl_route_match("whoami", NULL, 6, NULL));
    assert_true(mrl_route_match("**", NULL, 0, NULL));
    assert_false(mrl_route_match(NULL, "x", 1, NULL));
}


static void
test_valid(void **state)
{
    (void) state;

    assert_int_equal(mrl_route_valid("members/<id>/transactions"), MRL_OK);
    assert_int_equal(mrl_route_valid("keys/?"), MRL_OK);
    assert_int_equal(mrl_route_valid("stores/<s>/**"), MRL_OK);
    assert_int_equal(mrl_route_valid("**"), MRL_OK);

    assert_int_equal(mrl_route_valid(NULL), MRL_BAD_ARG);
    assert_int_equal(mrl_route_valid(""), MRL_BAD_ARG);
    assert_int_equal(mrl_route_valid("a//b"), MRL_MALFORMED);
    assert_int_equal(mrl_route_valid("a/"), MRL_MALFORMED);
    assert_int_equal(mrl_route_valid("/a"), MRL_MALFORMED);
    assert_int_equal(mrl_route_valid("**/a"), MRL_MALFORMED);
    assert_int_equal(mrl_route_valid("a/<>"), MRL_MALFORMED);
    assert_int_equal(mrl_route_valid("a/<b"), MRL_MALFORMED);
    assert_int_equal(mrl_route_valid("a/*"), MRL_MALFORMED);
    assert_int_equal(mrl_route_valid("<a>/<b>/<c>/<d>"), MRL_OK);
    assert_int_equal(mrl_route_valid("<a>/<b>/<c>/<d>/<e>"), MRL_MALFORMED);
    assert_int_equal(mrl_route_valid("stores/<s*>/rotate"), MRL_OK);
    assert_int_equal(mrl_route_valid("a/<s*>"), MRL_OK);
    assert_int_equal(mrl_route_valid("a/<*>"), MRL_MALFORMED);
    assert_int_equal(mrl_route_valid("a/<s*x>"), MRL_MALFORMED);
    assert_int_equal(mrl_route_valid("a/<s*>/<t>"), MRL_MALFORMED);
    assert_int_equal(mrl_route_valid("a/<s*>/**"), MRL_MALFORMED);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_literal),
        cmocka_unit_test(test_captures),
        cmocka_unit_test(test_empty_capture),
        cmocka_unit_test(test_trailing_slash),
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_rest_capture),
        cmocka_unit_test(test_long),
        cmocka_unit_test(test_valid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
