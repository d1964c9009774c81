
/*
 * ngx_member: the brand's keys at rest (member_pii_key ID KEY).
 *
 * Several lines rotate keys: the first one protects what is written now,
 * the others still open what older keys protected, found by their id.
 */


#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "ngx_http_member_module.h"


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
    unsigned int   len;
    ngx_str_t      src, dst;

    msg = ngx_pnalloc(r->pool, sizeof("store-secret\n\n") + store_id->len
                               + nonce->len);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(msg, "store-secret\n%V\n%V", store_id, nonce);

    if (HMAC(EVP_sha256(), key->key, sizeof(key->key), msg, p - msg, mac,
             &len)
        == NULL)
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
