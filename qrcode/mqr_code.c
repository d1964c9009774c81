/*
 * Dynamic member codes: 18 digits, a locator (the member id, encrypted
 * with a format-preserving Feistel network keyed by the step) and an
 * authenticator.  The design and its digit budget are in member_qrcode.h.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mqr_private.h"


#define MQR_CODE_ROUNDS      10
#define MQR_CODE_HALF_A      UINT64_C(90000)     /* high half, first */
#define MQR_CODE_HALF_B      UINT64_C(100000)    /* low half, 5 digits */
#define MQR_CODE_LOCATOR_MIN UINT64_C(1000000000)
#define MQR_CODE_AUTH_MOD    UINT64_C(100000000)


static mqr_status_t mqr_code_round(mqr_hmac_t *h, uint64_t step,
    unsigned round, uint64_t half, uint64_t mod, uint64_t *out);
static mqr_status_t mqr_code_locate(mqr_hmac_t *h, uint64_t step,
    uint64_t x, int decrypt, uint64_t *out);
static mqr_status_t mqr_code_auth(mqr_hmac_t *h, uint64_t member_id,
    uint64_t step, uint64_t *out);
static mqr_status_t mqr_code_try(mqr_hmac_t *h, uint64_t step,
    uint64_t locator, uint64_t auth, uint64_t *member_id);
static void mqr_code_put_digits(char *p, size_t n, uint64_t v);


struct mqr_coder_s {
    mqr_hmac_t  h;
};


mqr_coder_t *
mqr_coder_new(const uint8_t *secret, size_t secret_len)
{
    mqr_coder_t  *c;

    if (secret == NULL || secret_len < MQR_CODE_SECRET_MIN
        || secret_len > MQR_KEY_MAX)
    {
        return NULL;
    }

    c = malloc(sizeof(mqr_coder_t));
    if (c == NULL) {
        return NULL;
    }

    if (mqr_hmac_init(&c->h, MQR_SHA256, secret, secret_len) != MQR_OK) {
        free(c);
        return NULL;
    }

    return c;
}


void
mqr_coder_free(mqr_coder_t *c)
{
    if (c != NULL) {
        mqr_hmac_free(&c->h);
        free(c);
    }
}


mqr_status_t
mqr_code_make(const uint8_t *secret, size_t secret_len, uint64_t member_id,
    uint64_t unix_time, unsigned period, char out[MQR_CODE_LEN + 1])
{
    mqr_coder_t   c;
    mqr_status_t  rc;

    if (secret == NULL || secret_len < MQR_CODE_SECRET_MIN
        || secret_len > MQR_KEY_MAX)
    {
        return MQR_BAD_ARG;
    }

    rc = mqr_hmac_init(&c.h, MQR_SHA256, secret, secret_len);
    if (rc != MQR_OK) {
        return rc;
    }

    rc = mqr_coder_make(&c, member_id, unix_time, period, out);

    mqr_hmac_free(&c.h);

    return rc;
}


mqr_status_t
mqr_code_check(const uint8_t *secret, size_t secret_len, const char *code,
    size_t code_len, uint64_t unix_time, unsigned period,
    unsigned skew_steps, uint64_t *member_id, uint64_t *counter)
{
    mqr_coder_t   c;
    mqr_status_t  rc;

    if (secret == NULL || secret_len < MQR_CODE_SECRET_MIN
        || secret_len > MQR_KEY_MAX)
    {
        return MQR_BAD_ARG;
    }

    rc = mqr_hmac_init(&c.h, MQR_SHA256, secret, secret_len);
    if (rc != MQR_OK) {
        return rc;
    }

    rc = mqr_coder_check(&c, code, code_len, unix_time, period, skew_steps,
                         member_id, counter);

    mqr_hmac_free(&c.h);

    return rc;
}


mqr_status_t
mqr_coder_make(mqr_coder_t *c, uint64_t member_id, uint64_t unix_time,
    unsigned period, char out[MQR_CODE_LEN + 1])
{
    uint64_t      step, locator, auth;
    mqr_status_t  rc;

    if (c == NULL || out == NULL || period == 0
        || member_id > MQR_CODE_MEMBER_MAX)
    {
        return MQR_BAD_ARG;
    }

    step = unix_time / period;

    rc = mqr_code_locate(&c->h, step, member_id, 0, &locator);

    if (rc == MQR_OK) {
        rc = mqr_code_auth(&c->h, member_id, step, &auth);
    }

    if (rc != MQR_OK) {
        return rc;
    }

    mqr_code_put_digits(out, MQR_CODE_LOCATOR_LEN,
                        MQR_CODE_LOCATOR_MIN + locator);
    mqr_code_put_digits(out + MQR_CODE_LOCATOR_LEN, MQR_CODE_AUTH_LEN, auth);
    out[MQR_CODE_LEN] = '\0';

    return MQR_OK;
}


mqr_status_t
mqr_coder_check(mqr_coder_t *c, const char *code, size_t code_len,
    uint64_t unix_time, unsigned period, unsigned skew_steps,
    uint64_t *member_id, uint64_t *counter)
{
    size_t        i;
    uint64_t      now, step, locator, auth, id;
    unsigned      k;
    mqr_status_t  rc;

    if (c == NULL || code == NULL || period == 0
        || skew_steps > MQR_CODE_SKEW_MAX)
    {
        return MQR_BAD_ARG;
    }

    if (code_len != MQR_CODE_LEN) {
        return MQR_MALFORMED;
    }

    locator = 0;
    auth = 0;

    for (i = 0; i < MQR_CODE_LEN; i++) {
        if (code[i] < '0' || code[i] > '9') {
            return MQR_MALFORMED;
        }

        if (i < MQR_CODE_LOCATOR_LEN) {
            locator = locator * 10 + (uint64_t) (code[i] - '0');

        } else {
            auth = auth * 10 + (uint64_t) (code[i] - '0');
        }
    }

    if (locator < MQR_CODE_LOCATOR_MIN) {
        return MQR_MALFORMED;
    }

    locator -= MQR_CODE_LOCATOR_MIN;

    now = unix_time / period;

    /* the grace window, nearest step first */

    for (k = 0; k <= 2 * skew_steps; k++) {

        if (!mqr_step_nth(now, k, &step)) {
            continue;
        }

        rc = mqr_code_try(&c->h, step, locator, auth, &id);
        if (rc != MQR_UNKNOWN) {
            goto done;
        }
    }

    /* older steps, only to answer "expired" rather than "unknown" */

    for (k = 1; k <= MQR_CODE_EXPIRED_STEPS; k++) {

        if (now < (uint64_t) skew_steps + k) {
            break;
        }

        step = now - skew_steps - k;

        rc = mqr_code_try(&c->h, step, locator, auth, &id);
        if (rc == MQR_OK) {
            rc = MQR_EXPIRED;
        }

        if (rc != MQR_UNKNOWN) {
            goto done;
        }
    }

    return MQR_UNKNOWN;

done:

    if (rc == MQR_OK || rc == MQR_EXPIRED) {
        if (member_id != NULL) {
            *member_id = id;
        }

        if (counter != NULL) {
            *counter = step;
        }
    }

    return rc;
}


/*
 * MQR_OK and the member id if the code authenticates for step,
 * MQR_UNKNOWN if not.
 */

static mqr_status_t
mqr_code_try(mqr_hmac_t *h, uint64_t step, uint64_t locator, uint64_t auth,
    uint64_t *member_id)
{
    uint8_t       got[8], want[8];
    uint64_t      id, expect;
    mqr_status_t  rc;

    rc = mqr_code_locate(h, step, locator, 1, &id);
    if (rc != MQR_OK) {
        return rc;
    }

    rc = mqr_code_auth(h, id, step, &expect);
    if (rc != MQR_OK) {
        return rc;
    }

    mqr_put_be64(got, auth);
    mqr_put_be64(want, expect);

    if (CRYPTO_memcmp(got, want, sizeof(got)) != 0) {
        return MQR_UNKNOWN;
    }

    *member_id = id;

    return MQR_OK;
}


/*
 * The Feistel network over [0, HALF_A) x [0, HALF_B), x = a * HALF_B + b:
 * even rounds add F(b) to a mod HALF_A, odd rounds add F(a) to b mod
 * HALF_B; each round undoes by subtracting.  This is FF1's alternating
 * shape with HMAC-SHA256 as its round function.
 */

static mqr_status_t
mqr_code_locate(mqr_hmac_t *h, uint64_t step, uint64_t x, int decrypt,
    uint64_t *out)
{
    uint64_t      a, b, f;
    unsigned      i, r;
    mqr_status_t  rc;

    a = x / MQR_CODE_HALF_B;
    b = x % MQR_CODE_HALF_B;

    for (i = 0; i < MQR_CODE_ROUNDS; i++) {
        r = decrypt ? MQR_CODE_ROUNDS - 1 - i : i;

        if (r % 2 == 0) {
            rc = mqr_code_round(h, step, r, b, MQR_CODE_HALF_A, &f);
            if (rc != MQR_OK) {
                return rc;
            }

            a = decrypt ? (a + MQR_CODE_HALF_A - f) % MQR_CODE_HALF_A
                        : (a + f) % MQR_CODE_HALF_A;

        } else {
            rc = mqr_code_round(h, step, r, a, MQR_CODE_HALF_B, &f);
            if (rc != MQR_OK) {
                return rc;
            }

            b = decrypt ? (b + MQR_CODE_HALF_B - f) % MQR_CODE_HALF_B
                        : (b + f) % MQR_CODE_HALF_B;
        }
    }

    *out = a * MQR_CODE_HALF_B + b;

    return MQR_OK;
}


/* HMAC-SHA256(secret, "MQR1" "L" step round half) mod mod */

static mqr_status_t
mqr_code_round(mqr_hmac_t *h, uint64_t step, unsigned round, uint64_t half,
    uint64_t mod, uint64_t *out)
{
    uint8_t       msg[4 + 1 + 8 + 1 + 8], md[MQR_HMAC_MAX];
    mqr_status_t  rc;

    memcpy(msg, "MQR1L", 5);
    mqr_put_be64(msg + 5, step);
    msg[13] = (uint8_t) round;
    mqr_put_be64(msg + 14, half);

    rc = mqr_hmac(h, msg, sizeof(msg), md);
    if (rc != MQR_OK) {
        return rc;
    }

    /* 64 bits mod 10^5: the bias is below 2^-47 */

    *out = mqr_get_be64(md) % mod;

    OPENSSL_cleanse(md, sizeof(md));

    return MQR_OK;
}


/* HMAC-SHA256(secret, "MQR1" "A" member_id step) mod 10^8 */

static mqr_status_t
mqr_code_auth(mqr_hmac_t *h, uint64_t member_id, uint64_t step,
    uint64_t *out)
{
    uint8_t       msg[4 + 1 + 8 + 8], md[MQR_HMAC_MAX];
    mqr_status_t  rc;

    memcpy(msg, "MQR1A", 5);
    mqr_put_be64(msg + 5, member_id);
    mqr_put_be64(msg + 13, step);

    rc = mqr_hmac(h, msg, sizeof(msg), md);
    if (rc != MQR_OK) {
        return rc;
    }

    *out = mqr_get_be64(md) % MQR_CODE_AUTH_MOD;

    OPENSSL_cleanse(md, sizeof(md));

    return MQR_OK;
}


static void
mqr_code_put_digits(char *p, size_t n, uint64_t v)
{
    while (n > 0) {
        p[--n] = (char) ('0' + v % 10);
        v /= 10;
    }
}
