/*
 * HOTP (RFC 4226) and TOTP (RFC 6238) with HMAC-SHA-1, -256 or -512.
 */

#include <openssl/crypto.h>

#include "mqr_private.h"


static mqr_status_t mqr_otp_args(const uint8_t *key, size_t key_len,
    unsigned digits, char *out, size_t out_cap, size_t *out_len);
static mqr_status_t mqr_hotp_digits(mqr_hmac_t *h, uint64_t counter,
    unsigned digits, char *out);


static const uint64_t  mqr_pow10[] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
    1000000000, UINT64_C(10000000000)
};


mqr_status_t
mqr_hotp(mqr_hash_t hash, const uint8_t *key, size_t key_len,
    uint64_t counter, unsigned digits, char *out, size_t out_cap,
    size_t *out_len)
{
    mqr_hmac_t    h;
    mqr_status_t  rc;

    rc = mqr_otp_args(key, key_len, digits, out, out_cap, out_len);
    if (rc != MQR_OK) {
        return rc;
    }

    rc = mqr_hmac_init(&h, hash, key, key_len);
    if (rc != MQR_OK) {
        return rc;
    }

    rc = mqr_hotp_digits(&h, counter, digits, out);
    mqr_hmac_free(&h);

    if (rc != MQR_OK) {
        return rc;
    }

    *out_len = digits;

    return MQR_OK;
}


mqr_status_t
mqr_totp(mqr_hash_t hash, const uint8_t *key, size_t key_len,
    uint64_t unix_time, unsigned period, unsigned digits, char *out,
    size_t out_cap, size_t *out_len)
{
    if (period == 0) {
        return MQR_BAD_ARG;
    }

    return mqr_hotp(hash, key, key_len, unix_time / period, digits, out,
                    out_cap, out_len);
}


mqr_status_t
mqr_totp_check(mqr_hash_t hash, const uint8_t *key, size_t key_len,
    const char *otp, size_t otp_len, unsigned digits, uint64_t unix_time,
    unsigned period, unsigned skew_steps, uint64_t *counter)
{
    char          expect[MQR_OTP_DIGITS_MAX + 1];
    size_t        i;
    uint64_t      now, step;
    unsigned      k;
    mqr_hmac_t    h;
    mqr_status_t  rc, err;

    if (key == NULL || key_len == 0 || key_len > MQR_KEY_MAX
        || otp == NULL || period == 0 || skew_steps > MQR_OTP_SKEW_MAX
        || digits < MQR_OTP_DIGITS_MIN || digits > MQR_OTP_DIGITS_MAX)
    {
        return MQR_BAD_ARG;
    }

    if (otp_len != digits) {
        return MQR_MALFORMED;
    }

    for (i = 0; i < otp_len; i++) {
        if (otp[i] < '0' || otp[i] > '9') {
            return MQR_MALFORMED;
        }
    }

    rc = mqr_hmac_init(&h, hash, key, key_len);
    if (rc != MQR_OK) {
        return rc;
    }

    now = unix_time / period;
    rc = MQR_UNKNOWN;

    for (k = 0; k <= 2 * skew_steps; k++) {

        if (!mqr_step_nth(now, k, &step)) {
            continue;
        }

        err = mqr_hotp_digits(&h, step, digits, expect);
        if (err != MQR_OK) {
            rc = err;
            break;
        }

        if (CRYPTO_memcmp(expect, otp, digits) == 0) {
            if (counter != NULL) {
                *counter = step;
            }
            rc = MQR_OK;
            break;
        }
    }

    mqr_hmac_free(&h);
    OPENSSL_cleanse(expect, sizeof(expect));

    return rc;
}


/*
 * The k-th step to try around now: now, now - 1, now + 1, now - 2...
 * Returns 0 when that step would be out of the range of uint64_t.
 */

int
mqr_step_nth(uint64_t now, unsigned k, uint64_t *step)
{
    uint64_t  d;

    d = (k + 1) / 2;

    if (k % 2) {
        if (now < d) {
            return 0;
        }
        *step = now - d;

    } else {
        if (now > UINT64_MAX - d) {
            return 0;
        }
        *step = now + d;
    }

    return 1;
}


static mqr_status_t
mqr_otp_args(const uint8_t *key, size_t key_len, unsigned digits, char *out,
    size_t out_cap, size_t *out_len)
{
    if (key == NULL || key_len == 0 || key_len > MQR_KEY_MAX
        || out == NULL || out_len == NULL
        || digits < MQR_OTP_DIGITS_MIN || digits > MQR_OTP_DIGITS_MAX)
    {
        return MQR_BAD_ARG;
    }

    if (out_cap < (size_t) digits + 1) {
        *out_len = (size_t) digits + 1;
        return MQR_TOO_SMALL;
    }

    return MQR_OK;
}


/* writes digits digits and a NUL to out */

static mqr_status_t
mqr_hotp_digits(mqr_hmac_t *h, uint64_t counter, unsigned digits, char *out)
{
    uint8_t       msg[8], md[MQR_HMAC_MAX];
    size_t        off;
    uint64_t      v;
    unsigned      i;
    mqr_status_t  rc;

    mqr_put_be64(msg, counter);

    rc = mqr_hmac(h, msg, sizeof(msg), md);
    if (rc != MQR_OK) {
        return rc;
    }

    /* dynamic truncation, RFC 4226 section 5.3 */

    off = md[h->size - 1] & 0x0f;

    v = ((uint64_t) (md[off] & 0x7f) << 24)
        | ((uint64_t) md[off + 1] << 16)
        | ((uint64_t) md[off + 2] << 8)
        | (uint64_t) md[off + 3];

    v %= mqr_pow10[digits];

    out[digits] = '\0';

    for (i = digits; i > 0; i--) {
        out[i - 1] = (char) ('0' + v % 10);
        v /= 10;
    }

    OPENSSL_cleanse(md, sizeof(md));

    return MQR_OK;
}
