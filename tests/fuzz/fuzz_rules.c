/*
 * libFuzzer target: the rules' validation (rules/mrl_rules.c and the
 * triggers and messages sections) on any bytes read as JSON; and the same
 * bytes as a card number and as a day.  The message buffer is malloc'ed
 * at the capacity the first byte picks, so that AddressSanitizer sees any
 * write past it.  Invariants:
 *
 *   - a refusal's message is NUL-terminated within the capacity and its
 *     path no longer than the message;
 *   - an accepted document is accepted again, unchanged;
 *   - a card number read back is written again the same, and a day read
 *     is one mrl_day_parse reads the same.
 */

#include <stdlib.h>
#include <string.h>

#include "member_rules.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
fuzz_card(const uint8_t *data, size_t size)
{
    char      card[MRL_CARD_LEN + 1];
    uint64_t  id;

    if (mrl_card_to_id((const char *) data, size, &id) != MRL_OK) {
        return;
    }

    if (mrl_card_no(id, card, sizeof(card), NULL) != MRL_OK
        || size != MRL_CARD_LEN || memcmp(card, data, MRL_CARD_LEN) != 0)
    {
        abort();
    }
}


static void
fuzz_day(const uint8_t *data, size_t size)
{
    char      day[MRL_DAY_LEN + 1];
    int64_t   t, back;
    mrl_tm_t  tm;

    if (mrl_day_parse((const char *) data, size, &t) != MRL_OK) {
        return;
    }

    /* 00:00 UTC is 08:00 China time, the same day */
    if (mrl_china_day(t, day, sizeof(day), NULL) != MRL_OK
        || memcmp(day, data, MRL_DAY_LEN) != 0
        || mrl_day_parse(day, MRL_DAY_LEN, &back) != MRL_OK || back != t
        || mrl_utc_tm(t, &tm) != MRL_OK || tm.hour != 0
        || mrl_month_start(mrl_month_index(t)) > t)
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char          *msg;
    size_t         cap, len, path_len;
    json_t        *rules, *again;
    mrl_status_t   rc;
    json_error_t   error;

    fuzz_card(data, size);
    fuzz_day(data, size);

    if (size < 1) {
        return 0;
    }

    /* 1..MRL_MSG_MAX bytes for the message */
    cap = data[0] % MRL_MSG_MAX + 1;
    data++;
    size--;

    rules = json_loadb((const char *) data, size, JSON_ALLOW_NUL, &error);
    if (rules == NULL) {
        return 0;
    }

    msg = malloc(cap);
    if (msg == NULL) {
        json_decref(rules);
        return 0;
    }

    path_len = (size_t) -1;
    rc = mrl_rules_validate(rules, msg, cap, &path_len);

    if (rc == MRL_BAD_RULES) {
        len = strnlen(msg, cap);

        if (len == cap || path_len > len) {
            abort();
        }

    } else if (rc == MRL_OK) {
        again = json_deep_copy(rules);

        if (again == NULL) {
            abort();
        }

        if (path_len != 0
            || mrl_rules_validate(again, msg, cap, NULL) != MRL_OK
            || !json_equal(again, rules))
        {
            abort();
        }

        json_decref(again);

    } else if (rc != MRL_NO_MEMORY) {
        abort();
    }

    free(msg);
    json_decref(rules);

    return 0;
}
