/*
 * member_gateway: helpers shared by the library's own files; not part of
 * the API (member_gateway.h is).
 */

#ifndef _MGW_PRIVATE_H_INCLUDED_
#define _MGW_PRIVATE_H_INCLUDED_


#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "member_gateway.h"


typedef int (*mgw_char_pt)(unsigned char c);


/*
 * Copies a JSON string of 1..max characters, each accepted by valid, into
 * dst (max + 1 bytes, NUL-terminated); -1 for anything else.
 */
int mgw_json_copy(json_t *v, char *dst, size_t max, size_t *len,
    mgw_char_pt valid);

/* openids, unionids: [A-Za-z0-9_-] */
int mgw_is_id_char(unsigned char c);


/*
 * The EVP_PKEY of a WeChat Pay key; NULL when private is set and the key
 * is only public.  It stays the key's.
 */
EVP_PKEY *mgw_wxpay_key_pkey(const mgw_wxpay_key_t *key, int private);


#endif /* _MGW_PRIVATE_H_INCLUDED_ */
