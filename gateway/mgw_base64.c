/*
 * base64 with the standard alphabet and padding (RFC 4648 section 4).
 */

#include "member_gateway.h"


static const char  mgw_base64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


static int mgw_base64_value(uint8_t c);


mgw_status_t
mgw_base64_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
    size_t *out_len)
{
    size_t    i, n, rest;
    uint32_t  v;

    if ((in == NULL && len != 0) || out_len == NULL) {
        return MGW_ERR_ARG;
    }

    if (len > (SIZE_MAX - 2) / 4 * 3) {
        return MGW_ERR_SPACE;
    }

    n = MGW_BASE64_ENCODED_LEN(len);

    if (n > cap || (out == NULL && n != 0)) {
        return MGW_ERR_SPACE;
    }

    /*
     * read each group before writing it: mgw_msg_encrypt() encodes from
     * the tail of the same buffer
     */

    n = 0;

    for (i = 0; i + 3 <= len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];

        out[n++] = mgw_base64_chars[(v >> 18) & 0x3f];
        out[n++] = mgw_base64_chars[(v >> 12) & 0x3f];
        out[n++] = mgw_base64_chars[(v >> 6) & 0x3f];
        out[n++] = mgw_base64_chars[v & 0x3f];
    }

    rest = len - i;

    if (rest != 0) {
        v = (uint32_t) in[i] << 16;

        if (rest == 2) {
            v |= (uint32_t) in[i + 1] << 8;
        }

        out[n++] = mgw_base64_chars[(v >> 18) & 0x3f];
        out[n++] = mgw_base64_chars[(v >> 12) & 0x3f];
        out[n++] = (rest == 2) ? mgw_base64_chars[(v >> 6) & 0x3f] : '=';
        out[n++] = '=';
    }

    *out_len = n;

    return MGW_OK;
}


mgw_status_t
mgw_base64_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
    size_t *out_len)
{
    int       c;
    size_t    i, j, k, n, pad;
    uint32_t  v;

    if ((in == NULL && len != 0) || out_len == NULL) {
        return MGW_ERR_ARG;
    }

    *out_len = 0;

    if (len % 4 != 0) {
        return MGW_ERR_FORMAT;
    }

    if (len == 0) {
        return MGW_OK;
    }

    pad = 0;

    if (in[len - 1] == '=') {
        pad = (in[len - 2] == '=') ? 2 : 1;
    }

    n = len / 4 * 3 - pad;

    if (n > cap || out == NULL) {
        return MGW_ERR_SPACE;
    }

    j = 0;

    for (i = 0; i < len; i += 4) {
        v = 0;

        for (k = 0; k < 4; k++) {
            if (i + k >= len - pad) {
                /* a '=' of the final group */
                v <<= 6;
                continue;
            }

            c = mgw_base64_value(in[i + k]);
            if (c < 0) {
                return MGW_ERR_FORMAT;
            }

            v = v << 6 | (uint32_t) c;
        }

        out[j++] = (uint8_t) (v >> 16);

        if (i + 4 < len || pad < 2) {
            out[j++] = (uint8_t) (v >> 8);
        }

        if (i + 4 < len || pad < 1) {
            out[j++] = (uint8_t) v;
        }
    }

    *out_len = j;

    return MGW_OK;
}


static int
mgw_base64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '+') {
        return 62;
    }

    if (c == '/') {
        return 63;
    }

    return -1;
}
