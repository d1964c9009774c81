/*
 * WeChat Pay API v3 keys: the merchant's private key, the platform's public
 * keys (public-key mode) and certificates (platform-certificate mode), as
 * EVP_PKEYs behind one opaque handle (docs/wxpay.md).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "member_gateway.h"
#include "mgw_private.h"


struct mgw_wxpay_key_s {
    EVP_PKEY  *pkey;
    int        private;
    size_t     serial_len;                        /* 0: not a certificate */
    char       serial[MGW_WXPAY_SERIAL_MAX + 1];
};


static mgw_status_t mgw_wxpay_key_bio(const uint8_t *pem, size_t len,
    mgw_wxpay_key_t **key, BIO **bio);
static int mgw_wxpay_no_password(char *buf, int size, int rwflag, void *u);
static mgw_status_t mgw_wxpay_key_wrap(EVP_PKEY *pkey, int private,
    mgw_wxpay_key_t **key);
static mgw_status_t mgw_wxpay_key_cert_serial(X509 *x, mgw_wxpay_key_t *key);
static mgw_status_t mgw_wxpay_key_file(const char *path,
    mgw_status_t (*load)(const uint8_t *pem, size_t len,
    mgw_wxpay_key_t **key), mgw_wxpay_key_t **key);
static mgw_status_t mgw_wxpay_read_file(const char *path, uint8_t **pem,
    size_t *len);


mgw_status_t
mgw_wxpay_key_private(const uint8_t *pem, size_t len, mgw_wxpay_key_t **key)
{
    BIO           *bio;
    EVP_PKEY      *pkey;
    mgw_status_t   rc;

    rc = mgw_wxpay_key_bio(pem, len, key, &bio);
    if (rc != MGW_OK) {
        return rc;
    }

    /* an encrypted PEM must fail, not prompt on the terminal */

    pkey = PEM_read_bio_PrivateKey(bio, NULL, mgw_wxpay_no_password, NULL);
    BIO_free(bio);

    ERR_clear_error();

    if (pkey == NULL) {
        return MGW_ERR_KEY;
    }

    return mgw_wxpay_key_wrap(pkey, 1, key);
}


mgw_status_t
mgw_wxpay_key_public(const uint8_t *pem, size_t len, mgw_wxpay_key_t **key)
{
    BIO           *bio;
    X509          *x;
    EVP_PKEY      *pkey;
    mgw_status_t   rc;

    rc = mgw_wxpay_key_bio(pem, len, key, &bio);
    if (rc != MGW_OK) {
        return rc;
    }

    x = NULL;

    /* each reader skips PEM blocks of other types: try them in turn */

    pkey = PEM_read_bio_PUBKEY(bio, NULL, mgw_wxpay_no_password, NULL);

    if (pkey == NULL) {
        (void) BIO_reset(bio);
        x = PEM_read_bio_X509(bio, NULL, mgw_wxpay_no_password, NULL);

        if (x != NULL) {
            pkey = X509_get_pubkey(x);
        }
    }

    BIO_free(bio);
    ERR_clear_error();

    if (pkey == NULL) {
        X509_free(x);
        return MGW_ERR_KEY;
    }

    rc = mgw_wxpay_key_wrap(pkey, 0, key);

    if (rc == MGW_OK && x != NULL) {
        rc = mgw_wxpay_key_cert_serial(x, *key);

        if (rc != MGW_OK) {
            mgw_wxpay_key_free(*key);
            *key = NULL;
        }
    }

    X509_free(x);

    return rc;
}


mgw_status_t
mgw_wxpay_key_private_file(const char *path, mgw_wxpay_key_t **key)
{
    return mgw_wxpay_key_file(path, mgw_wxpay_key_private, key);
}


mgw_status_t
mgw_wxpay_key_public_file(const char *path, mgw_wxpay_key_t **key)
{
    return mgw_wxpay_key_file(path, mgw_wxpay_key_public, key);
}


mgw_status_t
mgw_wxpay_key_serial(const mgw_wxpay_key_t *key, char *serial, size_t cap,
    size_t *len)
{
    if (key == NULL || serial == NULL || len == NULL) {
        return MGW_ERR_ARG;
    }

    *len = 0;

    if (key->serial_len == 0) {
        return MGW_ERR_NOT_FOUND;
    }

    if (cap < key->serial_len + 1) {
        return MGW_ERR_SPACE;
    }

    memcpy(serial, key->serial, key->serial_len + 1);
    *len = key->serial_len;

    return MGW_OK;
}


void
mgw_wxpay_key_free(mgw_wxpay_key_t *key)
{
    if (key != NULL) {
        EVP_PKEY_free(key->pkey);
        OPENSSL_clear_free(key, sizeof(mgw_wxpay_key_t));
    }
}


EVP_PKEY *
mgw_wxpay_key_pkey(const mgw_wxpay_key_t *key, int private)
{
    if (key == NULL || (private && !key->private)) {
        return NULL;
    }

    return key->pkey;
}


/* what both readers check first, and a BIO over the PEM */

static mgw_status_t
mgw_wxpay_key_bio(const uint8_t *pem, size_t len, mgw_wxpay_key_t **key,
    BIO **bio)
{
    if (pem == NULL || key == NULL) {
        return MGW_ERR_ARG;
    }

    *key = NULL;

    if (len == 0 || len > MGW_WXPAY_PEM_MAX) {
        return MGW_ERR_KEY;
    }

    *bio = BIO_new_mem_buf(pem, (int) len);
    if (*bio == NULL) {
        return MGW_ERR_CRYPTO;
    }

    return MGW_OK;
}


static int
mgw_wxpay_no_password(char *buf, int size, int rwflag, void *u)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) u;

    return -1;
}


static mgw_status_t
mgw_wxpay_key_wrap(EVP_PKEY *pkey, int private, mgw_wxpay_key_t **key)
{
    mgw_wxpay_key_t  *k;

    /* WeChat Pay signs with RSA-2048; anything weaker is a wrong file */

    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA
        || EVP_PKEY_get_bits(pkey) < MGW_WXPAY_RSA_BITS_MIN
        || EVP_PKEY_get_size(pkey) > MGW_WXPAY_SIG_MAX)
    {
        EVP_PKEY_free(pkey);
        return MGW_ERR_KEY;
    }

    k = OPENSSL_zalloc(sizeof(mgw_wxpay_key_t));
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        return MGW_ERR_CRYPTO;
    }

    k->pkey = pkey;
    k->private = private;
    *key = k;

    return MGW_OK;
}


static mgw_status_t
mgw_wxpay_key_cert_serial(X509 *x, mgw_wxpay_key_t *key)
{
    char          *hex;
    size_t         len;
    BIGNUM        *bn;
    mgw_status_t   rc;

    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    if (bn == NULL) {
        return MGW_ERR_CRYPTO;
    }

    hex = BN_bn2hex(bn);
    BN_free(bn);

    if (hex == NULL) {
        return MGW_ERR_CRYPTO;
    }

    len = strlen(hex);

    if (len == 0 || len > MGW_WXPAY_SERIAL_MAX || hex[0] == '-') {
        rc = MGW_ERR_KEY;

    } else {
        memcpy(key->serial, hex, len + 1);
        key->serial_len = len;
        rc = MGW_OK;
    }

    OPENSSL_free(hex);

    return rc;
}


/* a PEM file read whole, given to load, and wiped: it may be a secret */

static mgw_status_t
mgw_wxpay_key_file(const char *path,
    mgw_status_t (*load)(const uint8_t *pem, size_t len,
    mgw_wxpay_key_t **key), mgw_wxpay_key_t **key)
{
    size_t        len;
    uint8_t      *pem;
    mgw_status_t  rc;

    if (path == NULL || key == NULL) {
        return MGW_ERR_ARG;
    }

    *key = NULL;

    rc = mgw_wxpay_read_file(path, &pem, &len);
    if (rc != MGW_OK) {
        return rc;
    }

    rc = load(pem, len, key);

    OPENSSL_clear_free(pem, len);

    return rc;
}


static mgw_status_t
mgw_wxpay_read_file(const char *path, uint8_t **pem, size_t *len)
{
    FILE     *f;
    size_t    n;
    uint8_t  *buf;

    *pem = NULL;
    *len = 0;

    f = fopen(path, "rb");
    if (f == NULL) {
        return MGW_ERR_NOT_FOUND;
    }

    buf = OPENSSL_malloc(MGW_WXPAY_PEM_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return MGW_ERR_CRYPTO;
    }

    n = fread(buf, 1, MGW_WXPAY_PEM_MAX + 1, f);

    if (ferror(f) || n == 0 || n > MGW_WXPAY_PEM_MAX) {
        fclose(f);
        OPENSSL_clear_free(buf, MGW_WXPAY_PEM_MAX + 1);
        return MGW_ERR_KEY;
    }

    fclose(f);

    *pem = buf;
    *len = n;

    return MGW_OK;
}
