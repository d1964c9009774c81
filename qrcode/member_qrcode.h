/*
 * member_qrcode: one-time passwords, dynamic member codes and their QR
 * images, for the member gateway.  Plain C; no nginx header, no global
 * state, no allocation that outlives a call: every output goes into a
 * caller buffer with a capacity and a written length.  Every function is
 * safe to call from any thread.
 *
 * Conventions:
 *
 *   - inputs are (const uint8_t *p, size_t len), or (const char *p,
 *     size_t len) for text read off a scanner; NUL is not needed;
 *   - every function returns an mqr_status_t, MQR_OK (0) on success;
 *   - an output buffer comes with its capacity and a size_t *out_len:
 *     on MQR_OK *out_len is the length written (strings are also
 *     NUL-terminated, not counted); on MQR_TOO_SMALL *out_len is the
 *     capacity that would have sufficed and nothing was written past
 *     the capacity;
 *   - keys are 1 to MQR_KEY_MAX bytes (MQR_CODE_SECRET_MIN for codes).
 *
 * Link with -lqrencode -lpng -lcrypto.
 */

#ifndef _MEMBER_QRCODE_H_INCLUDED_
#define _MEMBER_QRCODE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#ifdef __cplusplus
extern "C" {
#endif


#define MQR_VERSION_MAJOR  1
#define MQR_VERSION_MINOR  0
#define MQR_VERSION        "1.0"


typedef enum {
    MQR_OK = 0,
    MQR_BAD_ARG,        /* NULL pointer, key length, digits, period, skew,
                           module size or member id out of range */
    MQR_TOO_SMALL,      /* output buffer too small, see *out_len */
    MQR_MALFORMED,      /* code or OTP of the wrong length or a non-digit */
    MQR_UNKNOWN,        /* well formed, but authentic for no step tried:
                           forged, mistyped, another secret, or too old */
    MQR_EXPIRED,        /* authentic, but for a step before the grace
                           window (up to MQR_CODE_EXPIRED_STEPS before) */
    MQR_CRYPTO,         /* OpenSSL failed (out of memory) */
    MQR_QR,             /* libqrencode failed: data too long, no memory */
    MQR_PNG             /* libpng failed (out of memory) */
} mqr_status_t;


/* A stable name for a status: "ok", "bad_arg", "too_small", ... */
const char *mqr_strerror(mqr_status_t status);


#define MQR_KEY_MAX  1024


/* HOTP (RFC 4226) and TOTP (RFC 6238) -- mqr_otp.c */

typedef enum {
    MQR_SHA1 = 0,
    MQR_SHA256,
    MQR_SHA512
} mqr_hash_t;

#define MQR_OTP_DIGITS_MIN  1      /* RFC 4226 asks for at least 6 */
#define MQR_OTP_DIGITS_MAX  10     /* the 31-bit truncation has 10 */
#define MQR_OTP_SKEW_MAX    16

/*
 * The HOTP value of counter: digits decimal digits, zero-padded, written
 * with a NUL to out (out_cap >= digits + 1).
 */
mqr_status_t mqr_hotp(mqr_hash_t hash, const uint8_t *key, size_t key_len,
    uint64_t counter, unsigned digits, char *out, size_t out_cap,
    size_t *out_len);

/* The TOTP value at unix_time: HOTP of unix_time / period (T0 = 0). */
mqr_status_t mqr_totp(mqr_hash_t hash, const uint8_t *key, size_t key_len,
    uint64_t unix_time, unsigned period, unsigned digits, char *out,
    size_t out_cap, size_t *out_len);

/*
 * Checks an OTP of exactly digits digits against the steps from
 * skew_steps before to skew_steps after the current one, comparing in
 * constant time.  MQR_OK sets *counter (may be NULL) to the step that
 * matched: a caller that wants one use per OTP remembers it.  Otherwise
 * MQR_MALFORMED or MQR_UNKNOWN.
 */
mqr_status_t mqr_totp_check(mqr_hash_t hash, const uint8_t *key,
    size_t key_len, const char *otp, size_t otp_len, unsigned digits,
    uint64_t unix_time, unsigned period, unsigned skew_steps,
    uint64_t *counter);


/*
 * Dynamic member codes -- mqr_code.c
 *
 * A code is 18 decimal digits (QR numeric mode; Code 128 and other 1D
 * symbologies carry it too), a new one every period seconds:
 *
 *     digits  0..9    locator: 10^9 + E(step, member id), first digit
 *                     never 0 so that a POS that takes the code for a
 *                     number keeps all 18 digits
 *     digits 10..17   authenticator: HMAC-SHA256(secret, "MQR1" "A"
 *                     member id, step) as a 64-bit number mod 10^8
 *
 * E is a format-preserving encryption of the member id over
 * [0, 9 * 10^9): a 10-round alternating Feistel network on the halves
 * [0, 90000) x [0, 100000) with modular addition, whose round function is
 * HMAC-SHA256(secret, "MQR1" "L" step, round, half) mod the half's size.
 * Because the step is in every round, the same member gets unrelated
 * locators in different periods, and a code says nothing about the
 * member id (nor the card number) to whoever lacks the secret.
 *
 * Checking needs no search: for each step in reach, decrypt the locator
 * (one member id per step, O(1)), recompute its authenticator and compare
 * in constant time.  A guess of all 18 digits passes for one step with
 * probability 10^-8, so (2 * skew + 1) * 10^-8 per try: under a limit of
 * 10 tries a second, one success takes about five weeks of guessing with
 * skew 1 (four months with skew 0), and lands on a random member id that
 * may not even exist.  The server marks (member id, step) spent to make
 * each code single-use.  Numbers in the HMAC messages are 8-byte big
 * endian; round is one byte.
 *
 * The per-member key of the first design, HMAC(secret, member id), adds
 * an HMAC per candidate without adding strength: the member id is already
 * in the authenticated message, under the same secret.  Both uses of the
 * secret are domain-separated by their "MQR1" "L" / "MQR1" "A" prefixes.
 *
 * The cost is 11 HMAC-SHA256 per code made and per step tried when
 * checked: about 4 us to make, 4 us to check a fresh code, 40 us to turn
 * down a forged one (skew 1: 3 + MQR_CODE_EXPIRED_STEPS steps tried).
 */

#define MQR_CODE_LEN            18
#define MQR_CODE_LOCATOR_LEN    10
#define MQR_CODE_AUTH_LEN       8
#define MQR_CODE_MEMBER_MAX     UINT64_C(8999999999)
#define MQR_CODE_SECRET_MIN     16
#define MQR_CODE_SKEW_MAX       10
#define MQR_CODE_EXPIRED_STEPS  10   /* how far back "expired" reaches */

/* The code of member_id for the step of unix_time, with its NUL. */
mqr_status_t mqr_code_make(const uint8_t *secret, size_t secret_len,
    uint64_t member_id, uint64_t unix_time, unsigned period,
    char out[MQR_CODE_LEN + 1]);

/*
 * Checks a code at unix_time, trying the current step, then the steps
 * up to skew_steps before and after it (nearest first); then, to tell an
 * old code from a forged one, the MQR_CODE_EXPIRED_STEPS steps before the
 * window.
 *
 * MQR_OK: *member_id and *counter (the step) are set; the step is within
 *         the window.
 * MQR_EXPIRED: *member_id and *counter are set to what the code was for.
 * MQR_MALFORMED: not 18 digits, or a locator that no code can have.
 * MQR_UNKNOWN: no step tried authenticates it.
 */
mqr_status_t mqr_code_check(const uint8_t *secret, size_t secret_len,
    const char *code, size_t code_len, uint64_t unix_time, unsigned period,
    unsigned skew_steps, uint64_t *member_id, uint64_t *counter);

/*
 * The same under a secret keyed once: a server that checks many codes
 * keeps a coder instead of setting up the HMAC for each (about half the
 * cost of a check).  A coder is not safe to share between threads.
 * mqr_coder_new() returns NULL for a bad secret or when OpenSSL fails.
 */
typedef struct mqr_coder_s  mqr_coder_t;

mqr_coder_t *mqr_coder_new(const uint8_t *secret, size_t secret_len);
void mqr_coder_free(mqr_coder_t *c);
mqr_status_t mqr_coder_make(mqr_coder_t *c, uint64_t member_id,
    uint64_t unix_time, unsigned period, char out[MQR_CODE_LEN + 1]);
mqr_status_t mqr_coder_check(mqr_coder_t *c, const char *code,
    size_t code_len, uint64_t unix_time, unsigned period,
    unsigned skew_steps, uint64_t *member_id, uint64_t *counter);


/*
 * QR images -- mqr_png.c, mqr_svg.c
 *
 * The data is encoded in numeric mode when it is all digits, in 8-bit mode
 * otherwise (bytes as given, no ECI header: readers guess the charset of
 * non-ASCII bytes), at error correction level Q (25% of the symbol recoverable):
 * an 18-digit code still fits the smallest symbol, version 1 (21 x 21
 * modules, up to 27 digits at Q) as it would at M, so the extra margin
 * against glare, scratched or cracked phone screens and low-resolution
 * till scanners costs nothing.  The quiet zone is 4 modules, as the
 * standard asks, and is part of the image.
 */

#define MQR_QR_DATA_MAX         1024
#define MQR_QUIET_ZONE          4
#define MQR_PNG_MODULE_PX       8     /* 232 x 232 px for version 1 */
#define MQR_PNG_MODULE_PX_MAX   32
#define MQR_SVG_MODULE_PX_MAX   1024

/*
 * A 1-bit grayscale PNG of data, module_px pixels per module (0: the
 * default MQR_PNG_MODULE_PX).  An 18-digit code at 8 px is about 370
 * bytes (1 KiB is plenty) and takes about 60 us, two thirds of it in
 * libqrencode.  On MQR_TOO_SMALL, *out_len is the exact size needed.
 */
mqr_status_t mqr_png(const uint8_t *data, size_t len, unsigned module_px,
    uint8_t *out, size_t out_cap, size_t *out_len);

/*
 * An SVG of data: one <path> of horizontal runs, in a viewBox that counts
 * modules (quiet zone included), on a white background, crispEdges.
 * module_px 0 leaves width and height out, so the image fills its box;
 * otherwise they are the size in px.  Not NUL-terminated.  An 18-digit
 * code is about 1.8 KB (4 KiB is plenty).  On MQR_TOO_SMALL, *out_len is
 * the exact size needed.
 */
mqr_status_t mqr_svg(const uint8_t *data, size_t len, unsigned module_px,
    char *out, size_t out_cap, size_t *out_len);


#ifdef __cplusplus
}
#endif

#endif /* _MEMBER_QRCODE_H_INCLUDED_ */
