/*
 * A brand's namespace (member_brand): the brand id goes into a key's hash
 * tag after the tag's first word, or in front of a key of no tag, so that
 * brands sharing one Redis or one cluster never meet, and a key keeps the
 * slot of its company ({m:ID:5} and {m:ID:5}:ledger are one slot).
 */

#include <string.h>

#include "member_keyspace.h"


mks_status_t
mks_brand_valid(const uint8_t *brand, size_t len)
{
    size_t   i;
    uint8_t  c;

    if (brand == NULL || len == 0 || len > MKS_BRAND_MAX) {
        return MKS_BAD_ARG;
    }

    for (i = 0; i < len; i++) {
        c = brand[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '_' || c == '-'))
        {
            return MKS_BAD_ARG;
        }
    }

    return MKS_OK;
}


/*
 * Where the brand goes: after the first word of the key's hash tag (its
 * offset, *tagged 1), or at 0 (*tagged 0) for a key of no tag.
 */
static size_t
mks_brand_at(const uint8_t *key, size_t len, int *tagged)
{
    size_t  off, n, i;

    mks_hash_part(key, len, &off, &n);

    if (n == len) {
        /* the whole key is hashed: no tag, or an empty one */
        *tagged = 0;
        return 0;
    }

    *tagged = 1;

    for (i = off; i < off + n; i++) {
        if (key[i] == ':') {
            break;
        }
    }

    return i;
}


static mks_status_t
mks_brand_write(const uint8_t *brand, size_t brand_len, const uint8_t *key,
    size_t key_len, size_t at, int tagged, uint8_t *out, size_t cap,
    size_t *out_len)
{
    uint8_t  *p;

    if (out == NULL || cap < mks_branded_len(key_len, brand_len)) {
        return MKS_TOO_SMALL;
    }

    p = out;

    if (tagged) {
        memcpy(p, key, at);
        p += at;
        *p++ = ':';
        memcpy(p, brand, brand_len);
        p += brand_len;

    } else {
        memcpy(p, brand, brand_len);
        p += brand_len;
        *p++ = ':';
    }

    memcpy(p, key + at, key_len - at);
    p += key_len - at;

    if (out_len != NULL) {
        *out_len = (size_t) (p - out);
    }

    return MKS_OK;
}


mks_status_t
mks_brand_key(const uint8_t *brand, size_t brand_len, const uint8_t *key,
    size_t key_len, uint8_t *out, size_t cap, size_t *out_len)
{
    int     tagged;
    size_t  at;

    if (mks_brand_valid(brand, brand_len) != MKS_OK
        || (key == NULL && key_len != 0))
    {
        return MKS_BAD_ARG;
    }

    at = mks_brand_at(key, key_len, &tagged);

    return mks_brand_write(brand, brand_len, key, key_len, at, tagged, out,
                           cap, out_len);
}


mks_status_t
mks_unbrand_key(const uint8_t *brand, size_t brand_len, const uint8_t *key,
    size_t key_len, uint8_t *out, size_t cap, size_t *out_len)
{
    int     tagged;
    size_t  at, rest;

    if (mks_brand_valid(brand, brand_len) != MKS_OK
        || (key == NULL && key_len != 0))
    {
        return MKS_BAD_ARG;
    }

    if (key_len < brand_len + 1) {
        return MKS_FOREIGN;
    }

    /*
     * the brand never holds ":" or "}": the tag's first word ends where
     * mks_brand_key() put the brand
     */
    at = mks_brand_at(key, key_len, &tagged);

    if (tagged) {
        /* "<word>:ID" then ":" or the tag's "}" */
        if (at + 1 + brand_len >= key_len
            || key[at] != ':'
            || memcmp(key + at + 1, brand, brand_len) != 0
            || (key[at + 1 + brand_len] != ':'
                && key[at + 1 + brand_len] != '}'))
        {
            return MKS_FOREIGN;
        }

        rest = at + 1 + brand_len;

    } else {
        if (memcmp(key, brand, brand_len) != 0 || key[brand_len] != ':') {
            return MKS_FOREIGN;
        }

        rest = brand_len + 1;
    }

    if (out == NULL || cap < key_len - brand_len - 1) {
        return MKS_TOO_SMALL;
    }

    /* out may be key itself: a SCAN reply is unbranded where it lies */
    if (tagged) {
        memmove(out, key, at);
        memmove(out + at, key + rest, key_len - rest);

    } else {
        memmove(out, key + rest, key_len - rest);
    }

    if (out_len != NULL) {
        *out_len = key_len - brand_len - 1;
    }

    return MKS_OK;
}


static int
mks_glob_char(uint8_t c)
{
    return c == '*' || c == '?' || c == '[' || c == '\\';
}


mks_status_t
mks_brand_pattern(const uint8_t *brand, size_t brand_len,
    const uint8_t *pattern, size_t pattern_len, uint8_t *out, size_t cap,
    size_t *out_len)
{
    int     tagged;
    size_t  at, i;

    if (mks_brand_valid(brand, brand_len) != MKS_OK
        || (pattern == NULL && pattern_len != 0))
    {
        return MKS_BAD_ARG;
    }

    at = mks_brand_at(pattern, pattern_len, &tagged);

    if (tagged) {
        /* what decides the tag and its first word must match itself */
        for (i = 0; i < at; i++) {
            if (mks_glob_char(pattern[i])) {
                return MKS_PATTERN;
            }
        }
    }

    return mks_brand_write(brand, brand_len, pattern, pattern_len, at,
                           tagged, out, cap, out_len);
}
