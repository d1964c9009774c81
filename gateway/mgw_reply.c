/*
 * Passive reply writers: the text reply (spec section 4.1) and the
 * safe-mode envelope around an encrypted reply (spec section 2).
 */

#include <string.h>

#include "member_gateway.h"


#define MGW_REPLY_FIELD_MAX  32


typedef struct {
    uint8_t       *out;
    size_t         cap;
    size_t         len;
    mgw_status_t   rc;
} mgw_reply_buf_t;


static void mgw_reply_add(mgw_reply_buf_t *b, const void *p, size_t len);
static void mgw_reply_cdata(mgw_reply_buf_t *b, const mgw_str_t *s);
static mgw_status_t mgw_reply_check_text(const mgw_str_t *s);
static int mgw_reply_check_token(const mgw_str_t *s, int digits_only);

#define mgw_reply_lit(b, s)  mgw_reply_add(b, s, sizeof(s) - 1)


mgw_status_t
mgw_reply_text(const mgw_str_t *to, const mgw_str_t *from,
    const mgw_str_t *create_time, const mgw_str_t *content, uint8_t *out,
    size_t cap, size_t *out_len)
{
    mgw_status_t     rc;
    mgw_reply_buf_t  b;

    if (to == NULL || from == NULL || create_time == NULL || content == NULL
        || out == NULL || out_len == NULL)
    {
        return MGW_ERR_ARG;
    }

    *out_len = 0;

    if (to->len == 0 || from->len == 0
        || !mgw_reply_check_token(create_time, 1))
    {
        return MGW_ERR_ARG;
    }

    if ((rc = mgw_reply_check_text(to)) != MGW_OK
        || (rc = mgw_reply_check_text(from)) != MGW_OK
        || (rc = mgw_reply_check_text(content)) != MGW_OK)
    {
        return rc;
    }

    b.out = out;
    b.cap = cap;
    b.len = 0;
    b.rc = MGW_OK;

    mgw_reply_lit(&b, "<xml><ToUserName>");
    mgw_reply_cdata(&b, to);
    mgw_reply_lit(&b, "</ToUserName><FromUserName>");
    mgw_reply_cdata(&b, from);
    mgw_reply_lit(&b, "</FromUserName><CreateTime>");
    mgw_reply_add(&b, create_time->data, create_time->len);
    mgw_reply_lit(&b, "</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                      "<Content>");
    mgw_reply_cdata(&b, content);
    mgw_reply_lit(&b, "</Content></xml>");

    if (b.rc != MGW_OK) {
        return b.rc;
    }

    *out_len = b.len;

    return MGW_OK;
}


mgw_status_t
mgw_reply_seal(const mgw_aes_key_t *key, const mgw_str_t *token,
    const mgw_str_t *appid, const mgw_str_t *timestamp,
    const mgw_str_t *nonce, const uint8_t *reply, size_t reply_len,
    const uint8_t *random, uint8_t *out, size_t cap, size_t *out_len)
{
    char             sig[MGW_SHA1_HEX_SIZE];
    size_t           enc_len;
    mgw_str_t        parts[4];
    mgw_status_t     rc;
    mgw_reply_buf_t  b;

    static const char  head[] = "<xml><Encrypt><![CDATA[";

    if (key == NULL || token == NULL || appid == NULL || timestamp == NULL
        || nonce == NULL || out == NULL || out_len == NULL)
    {
        return MGW_ERR_ARG;
    }

    *out_len = 0;

    if (token->len == 0 || !mgw_reply_check_token(timestamp, 1)
        || !mgw_reply_check_token(nonce, 0))
    {
        return MGW_ERR_ARG;
    }

    if (cap < sizeof(head) - 1) {
        return MGW_ERR_SPACE;
    }

    memcpy(out, head, sizeof(head) - 1);

    /* base64 has no "]]>", so the Encrypt text goes into CDATA as it is */

    rc = mgw_msg_encrypt(key, reply, reply_len, appid->data, appid->len,
                         random, out + sizeof(head) - 1,
                         cap - (sizeof(head) - 1), &enc_len);
    if (rc != MGW_OK) {
        return rc;
    }

    parts[0] = *token;
    parts[1] = *timestamp;
    parts[2] = *nonce;
    parts[3].data = out + sizeof(head) - 1;
    parts[3].len = enc_len;

    rc = mgw_sign_sha1_sorted(parts, 4, sig, sizeof(sig));
    if (rc != MGW_OK) {
        return rc;
    }

    b.out = out;
    b.cap = cap;
    b.len = sizeof(head) - 1 + enc_len;
    b.rc = MGW_OK;

    mgw_reply_lit(&b, "]]></Encrypt><MsgSignature><![CDATA[");
    mgw_reply_add(&b, sig, MGW_SHA1_HEX_LEN);
    mgw_reply_lit(&b, "]]></MsgSignature><TimeStamp>");
    mgw_reply_add(&b, timestamp->data, timestamp->len);
    mgw_reply_lit(&b, "</TimeStamp><Nonce><![CDATA[");
    mgw_reply_add(&b, nonce->data, nonce->len);
    mgw_reply_lit(&b, "]]></Nonce></xml>");

    if (b.rc != MGW_OK) {
        return b.rc;
    }

    *out_len = b.len;

    return MGW_OK;
}


static void
mgw_reply_add(mgw_reply_buf_t *b, const void *p, size_t len)
{
    if (b->rc != MGW_OK) {
        return;
    }

    if (len > b->cap - b->len) {
        b->rc = MGW_ERR_SPACE;
        return;
    }

    if (len != 0) {
        memcpy(b->out + b->len, p, len);
        b->len += len;
    }
}


static void
mgw_reply_cdata(mgw_reply_buf_t *b, const mgw_str_t *s)
{
    size_t          i, start;
    const uint8_t  *p = s->data;

    mgw_reply_lit(b, "<![CDATA[");

    /* "]]>" ends a section: close it after "]]" and open a new one */

    start = 0;

    for (i = 0; i + 2 < s->len; i++) {
        if (p[i] == ']' && p[i + 1] == ']' && p[i + 2] == '>') {
            mgw_reply_add(b, p + start, i + 2 - start);
            mgw_reply_lit(b, "]]><![CDATA[");
            start = i + 2;
        }
    }

    mgw_reply_add(b, p + start, s->len - start);
    mgw_reply_lit(b, "]]>");
}


static mgw_status_t
mgw_reply_check_text(const mgw_str_t *s)
{
    size_t          i, n, k;
    uint32_t        c, min;
    const uint8_t  *p = s->data;

    if (p == NULL && s->len != 0) {
        return MGW_ERR_ARG;
    }

    /* well-formed UTF-8 (RFC 3629) of XML 1.0 characters only */

    for (i = 0; i < s->len; i += n) {
        c = p[i];

        if (c < 0x80) {
            n = 1;
            min = 0;

        } else if ((c & 0xe0) == 0xc0) {
            n = 2;
            c &= 0x1f;
            min = 0x80;

        } else if ((c & 0xf0) == 0xe0) {
            n = 3;
            c &= 0x0f;
            min = 0x800;

        } else if ((c & 0xf8) == 0xf0) {
            n = 4;
            c &= 0x07;
            min = 0x10000;

        } else {
            return MGW_ERR_FORMAT;
        }

        if (n > s->len - i) {
            return MGW_ERR_FORMAT;
        }

        for (k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return MGW_ERR_FORMAT;
            }

            c = c << 6 | (p[i + k] & 0x3f);
        }

        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return MGW_ERR_FORMAT;
        }

        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            || c == 0xfffe || c == 0xffff)
        {
            return MGW_ERR_FORMAT;
        }
    }

    return MGW_OK;
}


static int
mgw_reply_check_token(const mgw_str_t *s, int digits_only)
{
    size_t   i;
    uint8_t  c;

    if (s->data == NULL || s->len == 0 || s->len > MGW_REPLY_FIELD_MAX) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (c >= '0' && c <= '9') {
            continue;
        }

        if (digits_only) {
            return 0;
        }

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
            continue;
        }

        return 0;
    }

    return 1;
}
