/*
 * Dynamic member codes: a pinned vector, round trips, the grace window,
 * expiry, tampering, and every bad input.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "member_qrcode.h"


#define PERIOD  30
#define NOW     UINT64_C(1764200000)


static const uint8_t  secret[] = "0123456789abcdef0123456789abcdef";
static const uint8_t  other[] = "0123456789abcdef0123456789abcdeF";


static void
test_code_vectors(void **state)
{
    char  code[MQR_CODE_LEN + 1];

    (void) state;

    /*
     * Worked out from member_qrcode.h's description by an independent
     * script: codes in flight must survive a rebuild, so the format may
     * not drift.
     */

    assert_int_equal(mqr_code_make(secret, 32, 12345, NOW, PERIOD, code),
                     MQR_OK);
    assert_string_equal(code, "714673116821348014");

    assert_int_equal(mqr_code_make(secret, 32, 0, 0, PERIOD, code), MQR_OK);
    assert_string_equal(code, "594109138539683488");

    assert_int_equal(mqr_code_make(secret, 32, MQR_CODE_MEMBER_MAX, NOW,
                                   PERIOD, code), MQR_OK);
    assert_string_equal(code, "285813184559744014");
}


static void
test_code_round_trip(void **state)
{
    char      code[MQR_CODE_LEN + 1];
    size_t    i;
    uint64_t  id, counter, t;

    static const uint64_t  ids[] = {
        0, 1, 9, 10, 99999, 100000, 100001, 12345678, 1000000000,
        UINT64_C(4294967296), MQR_CODE_MEMBER_MAX - 1, MQR_CODE_MEMBER_MAX
    };

    (void) state;

    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        for (t = NOW; t < NOW + 5 * PERIOD; t += 7) {
            assert_int_equal(mqr_code_make(secret, 32, ids[i], t, PERIOD,
                                           code), MQR_OK);
            assert_int_equal(strlen(code), MQR_CODE_LEN);
            assert_true(code[0] >= '1' && code[0] <= '9');
            assert_int_equal(strspn(code, "0123456789"), MQR_CODE_LEN);

            id = counter = 12345;
            assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN,
                                            t, PERIOD, 1, &id, &counter),
                             MQR_OK);
            assert_int_equal(id, ids[i]);
            assert_int_equal(counter, t / PERIOD);
        }
    }

    /* many members, random times: both outputs may be left out */

    srand(1);

    for (i = 0; i < 2000; i++) {
        id = ((uint64_t) rand() << 31 | (uint64_t) rand())
             % (MQR_CODE_MEMBER_MAX + 1);
        t = (uint64_t) rand() * 3;

        assert_int_equal(mqr_code_make(secret, 16, id, t, 60, code), MQR_OK);
        assert_int_equal(mqr_code_check(secret, 16, code, MQR_CODE_LEN, t,
                                        60, 0, &counter, NULL), MQR_OK);
        assert_int_equal(counter, id);
        assert_int_equal(mqr_code_check(secret, 16, code, MQR_CODE_LEN, t,
                                        60, 0, NULL, NULL), MQR_OK);
    }
}


static void
test_code_grace_window(void **state)
{
    char      code[MQR_CODE_LEN + 1];
    int       d;
    unsigned  skew;
    uint64_t  id, counter, step;

    (void) state;

    step = NOW / PERIOD;

    assert_int_equal(mqr_code_make(secret, 32, 777, NOW, PERIOD, code),
                     MQR_OK);

    for (skew = 0; skew <= 3; skew++) {
        for (d = -(int) skew; d <= (int) skew; d++) {

            /* the first and the last second of each step */

            id = counter = 0;
            assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN,
                                            (step + d) * PERIOD, PERIOD,
                                            skew, &id, &counter), MQR_OK);
            assert_int_equal(id, 777);
            assert_int_equal(counter, step);

            assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN,
                                            (step + d) * PERIOD + PERIOD - 1,
                                            PERIOD, skew, &id, &counter),
                             MQR_OK);
            assert_int_equal(counter, step);
        }

        /* one step too early: the future is not "expired" */

        assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN,
                                        (step - skew - 1) * PERIOD, PERIOD,
                                        skew, &id, &counter), MQR_UNKNOWN);
    }

    /* the largest window */

    assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN,
                                    (step + MQR_CODE_SKEW_MAX) * PERIOD,
                                    PERIOD, MQR_CODE_SKEW_MAX, &id, &counter),
                     MQR_OK);

    /* step 0 has no step before it */

    assert_int_equal(mqr_code_make(secret, 32, 5, 0, PERIOD, code), MQR_OK);
    assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN, 0,
                                    PERIOD, MQR_CODE_SKEW_MAX, &id, &counter),
                     MQR_OK);
    assert_int_equal(id, 5);
    assert_int_equal(counter, 0);

    /* nor the last step one after it */

    assert_int_equal(mqr_code_make(secret, 32, 5, UINT64_MAX, 1, code),
                     MQR_OK);
    assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN,
                                    UINT64_MAX, 1, 2, &id, &counter), MQR_OK);
    assert_int_equal(counter, UINT64_MAX);
}


static void
test_code_expired(void **state)
{
    char      code[MQR_CODE_LEN + 1];
    unsigned  k;
    uint64_t  id, counter, step;

    (void) state;

    step = NOW / PERIOD;

    assert_int_equal(mqr_code_make(secret, 32, 4242, NOW, PERIOD, code),
                     MQR_OK);

    for (k = 1; k <= MQR_CODE_EXPIRED_STEPS; k++) {
        id = counter = 0;
        assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN,
                                        (step + 1 + k) * PERIOD, PERIOD, 1,
                                        &id, &counter), MQR_EXPIRED);
        assert_int_equal(id, 4242);
        assert_int_equal(counter, step);
    }

    /* beyond the reach of "expired" it cannot be told from a forgery */

    assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN,
                                    (step + 2 + MQR_CODE_EXPIRED_STEPS)
                                    * PERIOD, PERIOD, 1, &id, &counter),
                     MQR_UNKNOWN);
    assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN,
                                    NOW + 86400, PERIOD, 1, &id, &counter),
                     MQR_UNKNOWN);

    /* expired with skew 0, OK with a window that reaches back */

    assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN,
                                    NOW + 3 * PERIOD, PERIOD, 0, NULL, NULL),
                     MQR_EXPIRED);
    assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN,
                                    NOW + 3 * PERIOD, PERIOD, 3, NULL, NULL),
                     MQR_OK);

    /* a wrong secret never says expired */

    assert_int_equal(mqr_code_check(other, 32, code, MQR_CODE_LEN,
                                    NOW + 3 * PERIOD, PERIOD, 0, NULL, NULL),
                     MQR_UNKNOWN);
}


static void
test_code_tampered(void **state)
{
    char      code[MQR_CODE_LEN + 1], bad[MQR_CODE_LEN + 1];
    int       d;
    size_t    i;
    uint64_t  id, counter;

    (void) state;

    assert_int_equal(mqr_code_make(secret, 32, 31337, NOW, PERIOD, code),
                     MQR_OK);

    /* every other value of every digit */

    for (i = 0; i < MQR_CODE_LEN; i++) {
        for (d = 0; d < 10; d++) {
            memcpy(bad, code, sizeof(bad));

            if (bad[i] == '0' + d) {
                continue;
            }

            bad[i] = (char) ('0' + d);

            id = counter = 99;
            assert_int_equal(mqr_code_check(secret, 32, bad, MQR_CODE_LEN,
                                            NOW, PERIOD, 1, &id, &counter),
                             i == 0 && d == 0 ? MQR_MALFORMED : MQR_UNKNOWN);
            assert_int_equal(id, 99);
            assert_int_equal(counter, 99);
        }
    }

    /* two digits swapped */

    memcpy(bad, code, sizeof(bad));
    for (i = 0; i + 1 < MQR_CODE_LEN; i++) {
        if (bad[i] != bad[i + 1]) {
            bad[i] = code[i + 1];
            bad[i + 1] = code[i];
            break;
        }
    }
    assert_int_equal(mqr_code_check(secret, 32, bad, MQR_CODE_LEN, NOW,
                                    PERIOD, 1, NULL, NULL), MQR_UNKNOWN);

    /* another secret, one byte shorter secret */

    assert_int_equal(mqr_code_check(other, 32, code, MQR_CODE_LEN, NOW,
                                    PERIOD, 1, &id, NULL), MQR_UNKNOWN);
    assert_int_equal(mqr_code_check(secret, 31, code, MQR_CODE_LEN, NOW,
                                    PERIOD, 1, &id, NULL), MQR_UNKNOWN);

    /* another period */

    assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN, NOW,
                                    60, 1, &id, NULL), MQR_UNKNOWN);
}


static void
test_code_malformed(void **state)
{
    char      code[MQR_CODE_LEN + 2], bad[MQR_CODE_LEN + 2];
    size_t    i;
    uint64_t  id;

    static const char  *junk = " +-./:aAzZ\x7f\x80\xff";

    (void) state;

    assert_int_equal(mqr_code_make(secret, 32, 1, NOW, PERIOD, code),
                     MQR_OK);

    /* empty, one short, one too long */

    assert_int_equal(mqr_code_check(secret, 32, code, 0, NOW, PERIOD, 1,
                                    &id, NULL), MQR_MALFORMED);
    assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN - 1, NOW,
                                    PERIOD, 1, &id, NULL), MQR_MALFORMED);
    memcpy(bad, code, MQR_CODE_LEN);
    bad[MQR_CODE_LEN] = '0';
    assert_int_equal(mqr_code_check(secret, 32, bad, MQR_CODE_LEN + 1, NOW,
                                    PERIOD, 1, &id, NULL), MQR_MALFORMED);

    /* a non-digit anywhere */

    for (i = 0; i < MQR_CODE_LEN; i++) {
        const char  *j;

        for (j = junk; *j; j++) {
            memcpy(bad, code, sizeof(bad));
            bad[i] = *j;
            assert_int_equal(mqr_code_check(secret, 32, bad, MQR_CODE_LEN,
                                            NOW, PERIOD, 1, &id, NULL),
                             MQR_MALFORMED);
        }

        memcpy(bad, code, sizeof(bad));
        bad[i] = '\0';
        assert_int_equal(mqr_code_check(secret, 32, bad, MQR_CODE_LEN, NOW,
                                        PERIOD, 1, &id, NULL),
                         MQR_MALFORMED);
    }

    /* a leading 0: no locator has it */

    assert_int_equal(mqr_code_check(secret, 32, "012345678901234567",
                                    MQR_CODE_LEN, NOW, PERIOD, 1, &id, NULL),
                     MQR_MALFORMED);
}


static void
test_code_distinct(void **state)
{
    char      codes[200][MQR_CODE_LEN + 1];
    size_t    i, j, same;

    (void) state;

    /* one member over 200 periods: no locator nor authenticator repeats */

    for (i = 0; i < 200; i++) {
        assert_int_equal(mqr_code_make(secret, 32, 1000, NOW + i * PERIOD,
                                       PERIOD, codes[i]), MQR_OK);
    }

    same = 0;

    for (i = 0; i < 200; i++) {
        for (j = i + 1; j < 200; j++) {
            assert_string_not_equal(codes[i], codes[j]);

            if (memcmp(codes[i], codes[j], MQR_CODE_LOCATOR_LEN) == 0) {
                same++;
            }
        }
    }

    /* 19900 pairs out of 9 * 10^9 locators: a repeat would be a bug */

    assert_int_equal(same, 0);

    /* neighbouring members in one period: unrelated codes */

    for (i = 0; i < 200; i++) {
        assert_int_equal(mqr_code_make(secret, 32, 1000 + i, NOW, PERIOD,
                                       codes[i]), MQR_OK);
    }

    for (i = 0; i < 200; i++) {
        for (j = i + 1; j < 200; j++) {
            assert_memory_not_equal(codes[i], codes[j],
                                    MQR_CODE_LOCATOR_LEN);
        }
    }

    /* the same step in the same period: the same code */

    assert_int_equal(mqr_code_make(secret, 32, 1000, NOW - NOW % PERIOD,
                                   PERIOD, codes[0]), MQR_OK);
    assert_int_equal(mqr_code_make(secret, 32, 1000,
                                   NOW - NOW % PERIOD + PERIOD - 1, PERIOD,
                                   codes[1]), MQR_OK);
    assert_string_equal(codes[0], codes[1]);
}


static void
test_code_bad_args(void **state)
{
    char      code[MQR_CODE_LEN + 1];
    uint64_t  id;

    (void) state;

    memset(code, 'x', sizeof(code));

    assert_int_equal(mqr_code_make(NULL, 32, 1, NOW, PERIOD, code),
                     MQR_BAD_ARG);
    assert_int_equal(mqr_code_make(secret, MQR_CODE_SECRET_MIN - 1, 1, NOW,
                                   PERIOD, code), MQR_BAD_ARG);
    assert_int_equal(mqr_code_make(secret, MQR_KEY_MAX + 1, 1, NOW, PERIOD,
                                   code), MQR_BAD_ARG);
    assert_int_equal(mqr_code_make(secret, 32, 1, NOW, 0, code),
                     MQR_BAD_ARG);
    assert_int_equal(mqr_code_make(secret, 32, MQR_CODE_MEMBER_MAX + 1, NOW,
                                   PERIOD, code), MQR_BAD_ARG);
    assert_int_equal(mqr_code_make(secret, 32, UINT64_MAX, NOW, PERIOD,
                                   code), MQR_BAD_ARG);
    assert_int_equal(mqr_code_make(secret, 32, 1, NOW, PERIOD, NULL),
                     MQR_BAD_ARG);
    assert_int_equal(code[0], 'x');

    assert_int_equal(mqr_code_make(secret, 32, 1, NOW, PERIOD, code),
                     MQR_OK);

    assert_int_equal(mqr_code_check(NULL, 32, code, MQR_CODE_LEN, NOW,
                                    PERIOD, 1, &id, NULL), MQR_BAD_ARG);
    assert_int_equal(mqr_code_check(secret, MQR_CODE_SECRET_MIN - 1, code,
                                    MQR_CODE_LEN, NOW, PERIOD, 1, &id, NULL),
                     MQR_BAD_ARG);
    assert_int_equal(mqr_code_check(secret, 32, NULL, MQR_CODE_LEN, NOW,
                                    PERIOD, 1, &id, NULL), MQR_BAD_ARG);
    assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN, NOW, 0,
                                    1, &id, NULL), MQR_BAD_ARG);
    assert_int_equal(mqr_code_check(secret, 32, code, MQR_CODE_LEN, NOW,
                                    PERIOD, MQR_CODE_SKEW_MAX + 1, &id,
                                    NULL), MQR_BAD_ARG);
}


/* A coder keyed once gives the same codes as the one-shot calls, again
 * and again (its HMAC context is reused), and refuses a bad secret. */

static void
test_coder(void **state)
{
    char          code[MQR_CODE_LEN + 1], again[MQR_CODE_LEN + 1];
    unsigned      i;
    uint64_t      id, counter, t;
    mqr_coder_t  *c;

    (void) state;

    assert_null(mqr_coder_new(NULL, 32));
    assert_null(mqr_coder_new(secret, MQR_CODE_SECRET_MIN - 1));

    c = mqr_coder_new(secret, 32);
    assert_non_null(c);

    assert_int_equal(mqr_coder_make(c, 12345, NOW, PERIOD, code), MQR_OK);
    assert_string_equal(code, "714673116821348014");

    for (i = 0; i < 50; i++) {
        t = NOW + i * 7919;

        assert_int_equal(mqr_coder_make(c, i * 104729, t, PERIOD, code),
                         MQR_OK);
        assert_int_equal(mqr_code_make(secret, 32, i * 104729, t, PERIOD,
                                       again), MQR_OK);
        assert_string_equal(code, again);

        assert_int_equal(mqr_coder_check(c, code, MQR_CODE_LEN, t, PERIOD, 1,
                                         &id, &counter), MQR_OK);
        assert_int_equal(id, i * 104729);
        assert_int_equal(counter, t / PERIOD);

        code[17] = (char) (code[17] == '9' ? '0' : code[17] + 1);
        assert_int_equal(mqr_coder_check(c, code, MQR_CODE_LEN, t, PERIOD, 1,
                                         &id, &counter), MQR_UNKNOWN);
    }

    assert_int_equal(mqr_coder_check(c, "12345", 5, NOW, PERIOD, 1, &id,
                                     &counter), MQR_MALFORMED);
    assert_int_equal(mqr_coder_check(NULL, code, MQR_CODE_LEN, NOW, PERIOD,
                                     1, &id, &counter), MQR_BAD_ARG);
    assert_int_equal(mqr_coder_make(c, MQR_CODE_MEMBER_MAX + 1, NOW, PERIOD,
                                    code), MQR_BAD_ARG);

    mqr_coder_free(c);
    mqr_coder_free(NULL);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_code_vectors),
        cmocka_unit_test(test_code_round_trip),
        cmocka_unit_test(test_code_grace_window),
        cmocka_unit_test(test_code_expired),
        cmocka_unit_test(test_code_tampered),
        cmocka_unit_test(test_code_malformed),
        cmocka_unit_test(test_code_distinct),
        cmocka_unit_test(test_code_bad_args),
        cmocka_unit_test(test_coder),
    };

    return cmocka_run_group_tests_name("qrcode_code", tests, NULL, NULL);
}
