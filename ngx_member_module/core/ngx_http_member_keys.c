
/*
 * ngx_member: the brand's keys at rest (member_pii_key ID KEY).
 *
 * Several lines rotate keys: the first one protects what is written now,
 * the others still open what older keys protected, found by their id.
 */


#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ngx_member_core.h"


char *
ngx_http_member_pii_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_member_loc_conf_t *mlcf = conf;

    ngx_int_t                   n;
    ngx_str_t                  *value;
    ngx_uint_t                  i;
    ngx_http_member_key_t      *key;

    value = cf->args->elts;

    if (mlcf->keys == NGX_CONF_UNSET_PTR) {
        mlcf->keys = ngx_array_create(cf->pool, 2,
                                      sizeof(ngx_http_member_key_t));
        if (mlcf->keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (value[1].len == 0 || value[1].len > 16) {
        return "needs a key id of 1 to 16 characters";
    }

    for (i = 0; i < value[1].len; i++) {
        if (!isalnum(value[1].data[i])) {
            return "needs a key id of letters and digits";
        }
    }

    key = mlcf->keys->elts;

    for (i = 0; i < mlcf->keys->nelts; i++) {
        if (key[i].id.len == value[1].len
            && ngx_strncmp(key[i].id.data, value[1].data, value[1].len) == 0)
        {
            return "has a duplicate key id";
        }
    }

    key = ngx_array_push(mlcf->keys);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    key->id = value[1];

    if (value[2].len != 2 * sizeof(key->key)) {
        return "needs a key of 64 hex characters";
    }

    for (i = 0; i < sizeof(key->key); i++) {
        n = ngx_hextoi(&value[2].data[2 * i], 2);

        if (n == NGX_ERROR) {
            return "needs a key of 64 hex characters";
        }

        key->key[i] = (u_char) n;
    }

    return NGX_CONF_OK;
}


ngx_http_member_key_t *
ngx_http_member_key_find(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_uint_t                   i;
    ngx_http_member_key_t       *key;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (mlcf->keys == NULL) {
        return NULL;
    }

    key = mlcf->keys->elts;

    if (id == NULL) {
        return &key[0];
    }

    for (i = 0; i < mlcf->keys->nelts; i++) {
        if (key[i].id.len == id->len
            && ngx_strncmp(key[i].id.data, id->data, id->len) == 0)
        {
            return &key[i];
        }
    }

    return NULL;
}


/*
 * A store's secret is derived, never stored: HMAC-SHA256 under the key
 * of the brand over the store id and a random nonce, as 43 characters of
 * base64url.  Redis keeps the key id and the nonce only.
 */

ngx_int_t
ngx_http_member_store_secret(ngx_http_request_t *r,
    ngx_http_member_key_t *key, ngx_str_t *store_id, ngx_str_t *nonce,
    u_char out[NGX_HTTP_MEMBER_SECRET_LEN])
{
    u_char        *msg, *p;
    u_char         mac[EVP_MAX_MD_SIZE];
    ngx_str_t      src, dst;

    msg = ngx_pnalloc(r->pool, sizeof("store-secret\n\n") + store_id->len
                               + nonce->len);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(msg, "store-secret\n%V\n%V", store_id, nonce);

    if (ngx_http_member_hmac_sha256(key->key, sizeof(key->key), msg, p - msg,
                                    mac)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    src.data = mac;
    src.len = 32;
    dst.data = out;
    ngx_encode_base64url(&dst, &src);

    OPENSSL_cleanse(mac, sizeof(mac));

    return NGX_OK;
}


/*
 * PII at rest: AES-256-GCM under a key derived from the brand's key, as
 * "<key id>:<base64url(nonce | ciphertext | tag)>".  The additional data
 * names the member and the field, so that a value copied into another
 * member or field does not open.  The key id travels with the value:
 * after a rotation the old key line still opens it.
 */

#define NGX_HTTP_MEMBER_GCM_NONCE  12
#define NGX_HTTP_MEMBER_GCM_TAG    16


ngx_int_t
ngx_http_member_pii_derive(ngx_http_member_key_t *key, const char *use,
    u_char out[32])
{
    /* one key line, several uses: each gets a key of its own */
    return ngx_http_member_hmac_sha256(key->key, sizeof(key->key),
                                       (u_char *) use, ngx_strlen(use), out);
}


ngx_int_t
ngx_http_member_pii_seal(ngx_http_request_t *r, ngx_str_t *aad,
    ngx_str_t *plain, ngx_str_t *out)
{
    int                     n, ok;
    u_char                 *raw, *p, k[32];
    ngx_str_t               src, dst;
    EVP_CIPHER_CTX         *cipher;
    ngx_http_member_key_t  *key;

    key = ngx_http_member_key_find(r, NULL);
    if (key == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: personal data needs \"member_pii_key\"");
        return NGX_ERROR;
    }

    src.len = NGX_HTTP_MEMBER_GCM_NONCE + plain->len
              + NGX_HTTP_MEMBER_GCM_TAG;

    raw = ngx_pnalloc(r->pool, src.len);
    out->data = ngx_pnalloc(r->pool, key->id.len + 1
                                     + ngx_base64_encoded_length(src.len));

    if (raw == NULL || out->data == NULL) {
        return NGX_ERROR;
    }

    if (RAND_bytes(raw, NGX_HTTP_MEMBER_GCM_NONCE) != 1
        || ngx_http_member_pii_derive(key, "pii-aes-256-gcm", k) != NGX_OK)
    {
        return NGX_ERROR;
    }

    cipher = EVP_CIPHER_CTX_new();
    if (cipher == NULL) {
        OPENSSL_cleanse(k, sizeof(k));
        return NGX_ERROR;
    }

    p = raw + NGX_HTTP_MEMBER_GCM_NONCE;

    ok = EVP_EncryptInit_ex(cipher, EVP_aes_256_gcm(), NULL, k, raw) == 1
         && EVP_EncryptUpdate(cipher, NULL, &n, aad->data, aad->len) == 1
         && EVP_EncryptUpdate(cipher, p, &n, plain->data, plain->len) == 1
         && EVP_EncryptFinal_ex(cipher, p + n, &n) == 1
         && EVP_CIPHER_CTX_ctrl(cipher, EVP_CTRL_GCM_GET_TAG,
                                NGX_HTTP_MEMBER_GCM_TAG, p + plain->len)
            == 1;

    EVP_CIPHER_CTX_free(cipher);
    OPENSSL_cleanse(k, sizeof(k));

    if (!ok) {
        return NGX_ERROR;
    }

    src.data = raw;
    p = ngx_cpymem(out->data, key->id.data, key->id.len);
    *p++ = ':';

    dst.data = p;
    ngx_encode_base64url(&dst, &src);

    out->len = p - out->data + dst.len;

    return NGX_OK;
}


/* NGX_DECLINED: an unknown key id, or a value that was tampered with */

ngx_int_t
ngx_http_member_pii_open(ngx_http_request_t *r, ngx_str_t *aad,
    ngx_str_t *sealed, ngx_str_t *out)
{
    int                     n, ok;
    u_char                 *colon, *p, k[32];
    ngx_str_t               id, src, raw;
    EVP_CIPHER_CTX         *cipher;
    ngx_http_member_key_t  *key;

    colon = ngx_strlchr(sealed->data, sealed->data + sealed->len, ':');
    if (colon == NULL) {
        return NGX_DECLINED;
    }

    id.data = sealed->data;
    id.len = colon - sealed->data;
    src.data = colon + 1;
    src.len = sealed->data + sealed->len - src.data;

    key = ngx_http_member_key_find(r, &id);

    raw.data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(src.len) + 1);
    if (raw.data == NULL) {
        return NGX_ERROR;
    }

    if (key == NULL
        || ngx_decode_base64url(&raw, &src) != NGX_OK
        || raw.len < NGX_HTTP_MEMBER_GCM_NONCE + NGX_HTTP_MEMBER_GCM_TAG)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_member_pii_derive(key, "pii-aes-256-gcm", k) != NGX_OK) {
        return NGX_ERROR;
    }

    cipher = EVP_CIPHER_CTX_new();
    if (cipher == NULL) {
        OPENSSL_cleanse(k, sizeof(k));
        return NGX_ERROR;
    }

    out->len = raw.len - NGX_HTTP_MEMBER_GCM_NONCE - NGX_HTTP_MEMBER_GCM_TAG;
    out->data = raw.data;               /* decrypted in place */
    p = raw.data + NGX_HTTP_MEMBER_GCM_NONCE;

    ok = EVP_DecryptInit_ex(cipher, EVP_aes_256_gcm(), NULL, k, raw.data)
         == 1
         && EVP_DecryptUpdate(cipher, NULL, &n, aad->data, aad->len) == 1
         && EVP_DecryptUpdate(cipher, out->data, &n, p, out->len) == 1
         && EVP_CIPHER_CTX_ctrl(cipher, EVP_CTRL_GCM_SET_TAG,
                                NGX_HTTP_MEMBER_GCM_TAG, p + out->len)
            == 1
         && EVP_DecryptFinal_ex(cipher, out->data + n, &n) == 1;

    EVP_CIPHER_CTX_free(cipher);
    OPENSSL_cleanse(k, sizeof(k));

    if (!ok) {
        OPENSSL_cleanse(raw.data, raw.len);
        out->len = 0;
        return NGX_DECLINED;
    }

    out->data[out->len] = '\0';

    return NGX_OK;
}


/*
 * "phone:<hex HMAC-SHA256>": the index of a phone number, keyed so that
 * Redis holds no number; key is a line of member_pii_key (the first one
 * indexes, a lookup tries each).
 */

ngx_int_t
ngx_http_member_phone_index(ngx_http_request_t *r, ngx_http_member_key_t *key,
    ngx_str_t *phone, ngx_str_t *index)
{
    u_char        k[32], mac[EVP_MAX_MD_SIZE];

    if (ngx_http_member_pii_derive(key, "phone-index", k) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_member_hmac_sha256(k, sizeof(k), phone->data, phone->len,
                                    mac)
        != NGX_OK)
    {
        OPENSSL_cleanse(k, sizeof(k));
        return NGX_ERROR;
    }

    OPENSSL_cleanse(k, sizeof(k));

    index->data = ngx_pnalloc(r->pool, sizeof("phone:") - 1 + 2 * 32);
    if (index->data == NULL) {
        return NGX_ERROR;
    }

    index->len = ngx_hex_dump(ngx_cpymem(index->data, "phone:", 6), mac, 32)
                 - index->data;

    return NGX_OK;
}


/* "张*": the first character and a star, whatever the length */

ngx_int_t
ngx_http_member_mask_name(ngx_pool_t *pool, ngx_str_t *name, ngx_str_t *out)
{
    u_char    *p;
    size_t     n;
    uint32_t   c;

    if (name->len == 0) {
        return NGX_ERROR;
    }

    /* ngx_utf8_decode() takes only the lead byte of a multibyte sequence */

    if (name->data[0] < 0x80) {
        n = 1;

    } else {
        p = name->data;
        c = ngx_utf8_decode(&p, name->len);

        if (c > 0x10ffff) {
            return NGX_ERROR;
        }

        n = p - name->data;
    }

    out->data = ngx_pnalloc(pool, n + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(out->data, name->data, n) = '*';
    out->len = n + 1;

    return NGX_OK;
}


/* "138****0000": the first three and the last four digits */

ngx_int_t
ngx_http_member_mask_phone(ngx_pool_t *pool, ngx_str_t *phone,
    ngx_str_t *out)
{
    u_char  *p;

    out->data = ngx_pnalloc(pool, 3 + 4 + 4);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    if (phone->len < 8) {
        out->len = ngx_cpymem(out->data, "****", 4) - out->data;
        return NGX_OK;
    }

    p = ngx_cpymem(out->data, phone->data, 3);
    p = ngx_cpymem(p, "****", 4);
    p = ngx_cpymem(p, phone->data + phone->len - 4, 4);

    out->len = p - out->data;

    return NGX_OK;
}


ngx_str_t  ngx_http_member_pii_fields[] = {
    ngx_string("name"),
    ngx_string("phone"),
    ngx_string("birthday"),
    ngx_string("gender"),
    ngx_string("address"),
    ngx_null_string
};


/* "<member id>:<field>", the additional data of a member's value */

ngx_int_t
ngx_http_member_pii_aad(ngx_pool_t *pool, uint64_t id, ngx_str_t *field,
    ngx_str_t *aad)
{
    aad->data = ngx_pnalloc(pool, NGX_INT64_LEN + 1 + field->len);
    if (aad->data == NULL) {
        return NGX_ERROR;
    }

    aad->len = ngx_sprintf(aad->data, "%uL:%V", id, field) - aad->data;

    return NGX_OK;
}


/*
 * A member's record (HGETALL as JSON) with its personal data opened in
 * place; what does not open (a missing key line, tampering) becomes null.
 * Index fields are for the module only and go.
 */

ngx_int_t
ngx_http_member_pii_record(ngx_http_request_t *r, uint64_t id, json_t *record)
{
    json_t      *v;
    ngx_str_t   *f, aad, sealed, plain;
    ngx_int_t    rc;

    json_object_del(record, "phone_index");

    for (f = ngx_http_member_pii_fields; f->len; f++) {
        v = json_object_get(record, (char *) f->data);

        if (v == NULL || !json_is_string(v)) {
            continue;
        }

        sealed.data = (u_char *) json_string_value(v);
        sealed.len = json_string_length(v);

        if (ngx_http_member_pii_aad(r->pool, id, f, &aad) != NGX_OK) {
            return NGX_ERROR;
        }

        rc = ngx_http_member_pii_open(r, &aad, &sealed, &plain);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "member: the %V of member %uL does not open "
                          "with the configured keys", f, id);
            json_object_set_new(record, (char *) f->data, json_null());
            continue;
        }

        json_object_set_new(record, (char *) f->data,
                            json_stringn((char *) plain.data, plain.len));
        OPENSSL_cleanse(plain.data, plain.len);
    }

    return NGX_OK;
}


/*
 * Random bytes for tokens and tickets, drawn from OpenSSL's DRBG a few
 * kilobytes at a time: one RAND_bytes() per ticket cost the till's hot
 * path about 2 us of locking and DRBG bookkeeping.  The pool belongs to
 * the process that filled it, so a fork never hands two workers the
 * same bytes, and what was handed out is wiped from it.
 */

#define NGX_HTTP_MEMBER_RANDOM_POOL  4096

static u_char      ngx_http_member_random_pool[NGX_HTTP_MEMBER_RANDOM_POOL];
static size_t      ngx_http_member_random_left;
static ngx_pid_t   ngx_http_member_random_pid;


ngx_int_t
ngx_http_member_random(u_char *buf, size_t len)
{
    u_char  *p;

    if (len > NGX_HTTP_MEMBER_RANDOM_POOL / 4) {
        return RAND_bytes(buf, (int) len) == 1 ? NGX_OK : NGX_ERROR;
    }

    if (ngx_http_member_random_pid != ngx_pid
        || ngx_http_member_random_left < len)
    {
        if (RAND_bytes(ngx_http_member_random_pool,
                       NGX_HTTP_MEMBER_RANDOM_POOL)
            != 1)
        {
            ngx_http_member_random_left = 0;
            return NGX_ERROR;
        }

        ngx_http_member_random_pid = ngx_pid;
        ngx_http_member_random_left = NGX_HTTP_MEMBER_RANDOM_POOL;
    }

    ngx_http_member_random_left -= len;
    p = ngx_http_member_random_pool + ngx_http_member_random_left;

    ngx_memcpy(buf, p, len);
    OPENSSL_cleanse(p, len);

    return NGX_OK;
}
