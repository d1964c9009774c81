/*
 * Card numbers: "88", the member id on 13 digits and a Luhn check digit.
 */

#include <stdio.h>

#include "member_rules.h"


static unsigned mrl_luhn(const char *p, size_t len);


/* the check digit that makes p + digit pass Luhn */

static unsigned
mrl_luhn(const char *p, size_t len)
{
    unsigned  sum, d, dbl;

    sum = 0;
    dbl = 1;

    while (len--) {
        d = (unsigned) (p[len] - '0');

        if (dbl) {
            d *= 2;
            if (d > 9) {
                d -= 9;
            }
        }

        sum += d;
        dbl = !dbl;
    }

    return (10 - sum % 10) % 10;
}


mrl_status_t
mrl_card_no(uint64_t id, char *out, size_t cap, size_t *out_len)
{
    if (out == NULL || id == 0 || id > MRL_CARD_ID_MAX) {
        return MRL_BAD_ARG;
    }

    if (cap < MRL_CARD_LEN + 1) {
        return MRL_TOO_SMALL;
    }

    snprintf(out, cap, "88%013llu", (unsigned long long) id);
    out[MRL_CARD_LEN - 1] = (char) ('0' + mrl_luhn(out, MRL_CARD_LEN - 1));
    out[MRL_CARD_LEN] = '\0';

    if (out_len) {
        *out_len = MRL_CARD_LEN;
    }

    return MRL_OK;
}


mrl_status_t
mrl_card_to_id(const char *s, size_t len, uint64_t *id)
{
    size_t    i;
    uint64_t  n;

    if (s == NULL || id == NULL) {
        return MRL_BAD_ARG;
    }

    if (len != MRL_CARD_LEN || s[0] != '8' || s[1] != '8') {
        return MRL_MALFORMED;
    }

    for (n = 0, i = 2; i < MRL_CARD_LEN - 1; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return MRL_MALFORMED;
        }

        n = n * 10 + (uint64_t) (s[i] - '0');
    }

    if (n == 0 || s[i] != (char) ('0' + mrl_luhn(s, MRL_CARD_LEN - 1))) {
        return MRL_MALFORMED;
    }

    *id = n;

    return MRL_OK;
}
