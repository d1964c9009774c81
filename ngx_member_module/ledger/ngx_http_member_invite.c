
/*
 * ngx_member: invite codes of referrals (docs/campaigns.md).
 *
 *   member: GET referral shows one (ngx_http_member_referral.c); POST
 *           register takes invite_code
 */


#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_member_ledger.h"


#define NGX_HTTP_MEMBER_INVITE_MAX        32


static const char  ngx_http_member_base32[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";


/*
 * Invite codes: 8 base32 characters of HMAC-SHA256 under a key derived
 * from member_pii_key ("referral-code"), then the member id.  The code
 * names its member without an index, and nobody can make one for an id.
 */

static ngx_int_t
ngx_http_member_invite_mac(ngx_http_member_key_t *key, uint64_t id,
    u_char *out)
{
    u_char        k[32], msg[NGX_INT64_LEN], mac[EVP_MAX_MD_SIZE];
    uint64_t      bits;
    ngx_uint_t    i;
    unsigned int  len;

    if (ngx_http_member_pii_derive(key, "referral-code", k) != NGX_OK) {
        return NGX_ERROR;
    }

    if (HMAC(EVP_sha256(), k, sizeof(k), msg,
             ngx_sprintf(msg, "%uL", id) - msg, mac, &len)
        == NULL)
    {
        OPENSSL_cleanse(k, sizeof(k));
        return NGX_ERROR;
    }

    OPENSSL_cleanse(k, sizeof(k));

    bits = 0;

    for (i = 0; i < 5; i++) {
        bits = (bits << 8) | mac[i];
    }

    for (i = 0; i < NGX_HTTP_MEMBER_INVITE_MAC; i++) {
        out[i] = ngx_http_member_base32[(bits >> (35 - 5 * i)) & 31];
    }

    return NGX_OK;
}


/*
 * The member an invite code names: NGX_OK and *id for a code of any key
 * line (codes outlive a key rotation), NGX_DECLINED for anything else,
 * NGX_ERROR when the MAC cannot be made.
 */

ngx_int_t
ngx_http_member_invite_id(ngx_http_request_t *r, u_char *s, size_t len,
    uint64_t *id)
{
    u_char                       code[NGX_HTTP_MEMBER_INVITE_MAX];
    u_char                       mac[NGX_HTTP_MEMBER_INVITE_MAC];
    size_t                       i;
    ngx_uint_t                   ok;
    ngx_http_member_key_t       *key;
    ngx_http_member_loc_conf_t  *mlcf;

    if (s == NULL || len <= NGX_HTTP_MEMBER_INVITE_MAC
        || len > NGX_HTTP_MEMBER_INVITE_MAX)
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < len; i++) {
        code[i] = ngx_toupper(s[i]);
    }

    if (ngx_http_member_parse_id(code + NGX_HTTP_MEMBER_INVITE_MAC,
                                 len - NGX_HTTP_MEMBER_INVITE_MAC, id)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);
    ok = 0;

    if (mlcf->keys) {
        key = mlcf->keys->elts;

        for (i = 0; i < mlcf->keys->nelts; i++) {
            if (ngx_http_member_invite_mac(&key[i], *id, mac) != NGX_OK) {
                return NGX_ERROR;
            }

            ok |= CRYPTO_memcmp(mac, code, NGX_HTTP_MEMBER_INVITE_MAC) == 0;
        }
    }

    return ok ? NGX_OK : NGX_DECLINED;
}


/* POST register's invite_code: 400 for a code unknown or one's own */

ngx_int_t
ngx_http_member_invite(ngx_http_request_t *r, json_t *json, uint64_t self,
    uint64_t *referrer)
{
    json_t     *v;
    uint64_t    id;
    ngx_int_t   rc;

    *referrer = 0;
    v = json_object_get(json, "invite_code");

    if (v == NULL || json_is_null(v)) {
        return NGX_DECLINED;
    }

    rc = ngx_http_member_invite_id(r, (u_char *) json_string_value(v),
                                   json_is_string(v) ? json_string_length(v)
                                                     : 0,
                                   &id);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "invite_code: no such invite code");
    }

    if (id == self) {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "invite_code: one's own code");
    }

    *referrer = id;

    return NGX_DECLINED;
}


/* a member's invite code: the MAC, then the id, NUL-terminated */

u_char *
ngx_http_member_invite_code(ngx_http_request_t *r, uint64_t id)
{
    u_char                 *code, *p, mac[NGX_HTTP_MEMBER_INVITE_MAC];
    ngx_http_member_key_t  *key;

    key = ngx_http_member_key_find(r, NULL);

    if (key == NULL || ngx_http_member_invite_mac(key, id, mac) != NGX_OK) {
        return NULL;
    }

    code = ngx_pnalloc(r->pool, NGX_HTTP_MEMBER_INVITE_CODE_LEN + 1);
    if (code == NULL) {
        return NULL;
    }

    p = ngx_sprintf(code, "%*s%uL", (size_t) NGX_HTTP_MEMBER_INVITE_MAC, mac,
                    id);
    *p = '\0';

    return code;
}
