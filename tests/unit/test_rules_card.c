/*
 * mrl_card.c: card numbers of known ids, round trips, and every refusal.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "member_rules.h"


static const struct {
    uint64_t     id;
    const char  *card;
} known[] = {
    { 1, "8800000000000013" },
    { 42, "8800000000000427" },
    { 1234567, "8800000012345679" },
    { UINT64_C(9999999999999), "8899999999999998" },
};


static void
test_known(void **state)
{
    char      card[MRL_CARD_LEN + 1];
    size_t    i, len;
    uint64_t  id;

    (void) state;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        assert_int_equal(mrl_card_no(known[i].id, card, sizeof(card), &len),
                         MRL_OK);
        assert_string_equal(card, known[i].card);
        assert_int_equal(len, MRL_CARD_LEN);

        assert_int_equal(mrl_card_to_id(known[i].card, MRL_CARD_LEN, &id),
                         MRL_OK);
        assert_int_equal(id, known[i].id);
    }
}


static void
test_round_trip(void **state)
{
    char      card[MRL_CARD_LEN + 1];
    uint64_t  id, n, back;

    (void) state;

    for (id = 1, n = 0; n < 200000; n++, id = id * 3 + 7) {
        id %= MRL_CARD_ID_MAX;
        if (id == 0) {
            id = 1;
        }

        assert_int_equal(mrl_card_no(id, card, sizeof(card), NULL), MRL_OK);
        assert_int_equal(mrl_card_to_id(card, MRL_CARD_LEN, &back), MRL_OK);
        assert_int_equal(back, id);

        /* any one digit changed is refused: Luhn sees every single error */
        card[3 + n % 12] = (char) ('0' + (card[3 + n % 12] - '0' + 1) % 10);
        assert_int_equal(mrl_card_to_id(card, MRL_CARD_LEN, &back),
                         MRL_MALFORMED);
    }
}


static void
test_refusals(void **state)
{
    char      card[MRL_CARD_LEN + 1];
    uint64_t  id;

    (void) state;

    id = 77;

    /* the check digit, the prefix, the length, the digits, id 0 */
    assert_int_equal(mrl_card_to_id("8800000000000012", 16, &id),
                     MRL_MALFORMED);
    assert_int_equal(mrl_card_to_id("8700000000000013", 16, &id),
                     MRL_MALFORMED);
    assert_int_equal(mrl_card_to_id("9800000000000013", 16, &id),
                     MRL_MALFORMED);
    assert_int_equal(mrl_card_to_id("880000000000013", 15, &id),
                     MRL_MALFORMED);
    assert_int_equal(mrl_card_to_id("88000000000000130", 17, &id),
                     MRL_MALFORMED);
    assert_int_equal(mrl_card_to_id("8800000000000013", 15, &id),
                     MRL_MALFORMED);
    assert_int_equal(mrl_card_to_id("88000000000a0013", 16, &id),
                     MRL_MALFORMED);
    assert_int_equal(mrl_card_to_id("88-0000000000013", 16, &id),
                     MRL_MALFORMED);
    assert_int_equal(mrl_card_to_id("880000000000000a", 16, &id),
                     MRL_MALFORMED);
    assert_int_equal(mrl_card_to_id("8800000000000000", 16, &id),
                     MRL_MALFORMED);         /* Luhn passes, but id 0 */
    assert_int_equal(mrl_card_to_id("", 0, &id), MRL_MALFORMED);
    assert_int_equal(id, 77);

    assert_int_equal(mrl_card_to_id(NULL, 16, &id), MRL_BAD_ARG);
    assert_int_equal(mrl_card_to_id("8800000000000013", 16, NULL),
                     MRL_BAD_ARG);

    assert_int_equal(mrl_card_no(0, card, sizeof(card), NULL), MRL_BAD_ARG);
    assert_int_equal(mrl_card_no(MRL_CARD_ID_MAX + 1, card, sizeof(card),
                                 NULL),
                     MRL_BAD_ARG);
    assert_int_equal(mrl_card_no(1, NULL, 17, NULL), MRL_BAD_ARG);

    memset(card, 'x', sizeof(card));
    assert_int_equal(mrl_card_no(1, card, MRL_CARD_LEN, NULL),
                     MRL_TOO_SMALL);
    assert_int_equal(card[0], 'x');
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_known),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
    };

    return cmocka_run_group_tests_name("rules_card", tests, NULL, NULL);
}
