/*
 * Helpers shared by the sources of member_qrcode; not part of the API.
 */

#ifndef _MQR_PRIVATE_H_INCLUDED_
#define _MQR_PRIVATE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <qrencode.h>

#include "member_qrcode.h"


#define MQR_HMAC_MAX  64    /* SHA-512 */


/* A keyed HMAC that computes many short MACs under one key. */
typedef struct {
    EVP_MAC      *mac;
    EVP_MAC_CTX  *ctx;
    size_t        size;
} mqr_hmac_t;


mqr_status_t mqr_hmac_init(mqr_hmac_t *h, mqr_hash_t hash,
    const uint8_t *key, size_t key_len);
mqr_status_t mqr_hmac(mqr_hmac_t *h, const uint8_t *msg, size_t len,
    uint8_t md[MQR_HMAC_MAX]);
void mqr_hmac_free(mqr_hmac_t *h);

void mqr_put_be64(uint8_t *p, uint64_t v);
uint64_t mqr_get_be64(const uint8_t *p);


int mqr_step_nth(uint64_t now, unsigned k, uint64_t *step);


/* The QR symbol of data (see member_qrcode.h); QRcode_free() it. */
mqr_status_t mqr_qr_encode(const uint8_t *data, size_t len, QRcode **qr);


#endif /* _MQR_PRIVATE_H_INCLUDED_ */
