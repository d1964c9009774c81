/*
 * libFuzzer target: the decrypt path of a safe-mode push, mgw_msg_open()
 * and the XML reader after it, as the module runs them.  The key, token
 * and AppID are spec section 13.F's.  The first byte picks the mode:
 *
 *   even: the rest is the Encrypt text itself, correctly signed, so the
 *         fuzzer reaches base64, length and cipher checks;
 *   odd:  the rest is the plaintext layout (random | len | msg | appid |
 *         pad), cut to a multiple of 16 and encrypted here without
 *         padding, so the fuzzer controls what the unpadding, the inner
 *         length and the AppID checks see.
 *
 * What opens must come back the same through mgw_msg_encrypt().
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "member_gateway.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static const mgw_str_t  token = mgw_string("ngxMemberSpec");
static const mgw_str_t  appid = mgw_string("wx0123456789abcdef");
static const char       encoding[] =
    "NR9pzMJuW0BeWDpqzmwZesPBlRTPTCDm76zwa1i34qs";


static size_t
fuzz_encrypt_raw(const mgw_aes_key_t *key, const uint8_t *in, size_t len,
    uint8_t *out)
{
    int              n, m;
    EVP_CIPHER_CTX  *ctx;

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL
        || EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key->key, key->key)
           != 1
        || EVP_CIPHER_CTX_set_padding(ctx, 0) != 1
        || EVP_EncryptUpdate(ctx, out, &n, in, (int) len) != 1
        || EVP_EncryptFinal_ex(ctx, out + n, &m) != 1)
    {
        abort();
    }

    EVP_CIPHER_CTX_free(ctx);

    return (size_t) (n + m);
}


static void
fuzz_round_trip(const mgw_aes_key_t *key, const uint8_t *msg, size_t len)
{
    size_t    enc_len, out_len, cap;
    uint8_t  *enc, *out;

    cap = MGW_MSG_ENCRYPTED_LEN(len, appid.len);
    enc = malloc(cap);
    out = malloc(MGW_BASE64_DECODED_MAX(cap));

    if (enc == NULL || out == NULL) {
        abort();
    }

    if (mgw_msg_encrypt(key, msg, len, appid.data, appid.len, NULL, enc, cap,
                        &enc_len)
        != MGW_OK
        || enc_len != cap
        || mgw_msg_decrypt(key, enc, enc_len, appid.data, appid.len, out,
                           MGW_BASE64_DECODED_MAX(cap), &out_len)
           != MGW_OK
        || out_len != len || memcmp(out, msg, len) != 0)
    {
        abort();
    }

    free(enc);
    free(out);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           sig[MGW_SHA1_HEX_SIZE];
    size_t         cap, len, raw_len, msg_len, store_cap;
    uint8_t       *raw, *text, *out, *store;
    mgw_xml_t      x;
    mgw_str_t      parts[4];
    mgw_status_t   rc;
    mgw_msg_in_t   in;
    mgw_aes_key_t  key;

    if (size < 1 || size > 64 * 1024) {
        return 0;
    }

    if (mgw_aes_key_init(&key, (const uint8_t *) encoding,
                         sizeof(encoding) - 1)
        != MGW_OK)
    {
        abort();
    }

    raw = NULL;

    if (data[0] & 1) {
        raw_len = (size - 1) / 16 * 16;
        raw = malloc(raw_len + 16);
        text = malloc(MGW_BASE64_ENCODED_LEN(raw_len + 16) + 1);

        if (raw == NULL || text == NULL) {
            abort();
        }

        raw_len = fuzz_encrypt_raw(&key, data + 1, raw_len, raw);

        if (mgw_base64_encode(raw, raw_len, text,
                              MGW_BASE64_ENCODED_LEN(raw_len + 16), &len)
            != MGW_OK)
        {
            abort();
        }

    } else {
        len = size - 1;
        text = malloc(len + 1);
        if (text == NULL) {
            abort();
        }

        memcpy(text, data + 1, len);
    }

    in.timestamp = (mgw_str_t) mgw_string("1735700000");
    in.nonce = (mgw_str_t) mgw_string("1234567890");
    in.encrypt.data = text;
    in.encrypt.len = len;

    parts[0] = token;
    parts[1] = in.timestamp;
    parts[2] = in.nonce;
    parts[3] = in.encrypt;

    if (mgw_sign_sha1_sorted(parts, 4, sig, sizeof(sig)) != MGW_OK) {
        abort();
    }

    in.msg_signature.data = (const uint8_t *) sig;
    in.msg_signature.len = MGW_SHA1_HEX_LEN;

    cap = MGW_BASE64_DECODED_MAX(len);
    out = malloc(cap + 1);
    if (out == NULL) {
        abort();
    }

    rc = mgw_msg_open(&key, &token, &appid, &in, out, cap, &msg_len);

    if (rc == MGW_OK) {
        if (msg_len > cap) {
            abort();
        }

        fuzz_round_trip(&key, out, msg_len);

        store_cap = MGW_XML_STORE_SIZE(msg_len);
        store = malloc(store_cap);
        if (store == NULL) {
            abort();
        }

        mgw_xml_init(&x, store, store_cap);
        (void) mgw_xml_parse(&x, out, msg_len);
        free(store);

    } else if (rc == MGW_ERR_SIGNATURE) {
        abort();                    /* it was signed right */
    }

    mgw_aes_key_wipe(&key);
    free(out);
    free(text);
    free(raw);

    return 0;
}
