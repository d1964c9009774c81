
/*
 * ngx_member, admin layer: the admin API: its routes, keys, roles, audit
 * and stores.  Its files include this header, which includes the member
 * layer's; nothing here reaches a layer above (tools/layers.py).
 */


#ifndef _NGX_MEMBER_ADMIN_H_INCLUDED_
#define _NGX_MEMBER_ADMIN_H_INCLUDED_


#include "ngx_member_member.h"

/* the roles of admin keys, and what a row grants them */
#define NGX_HTTP_MEMBER_ROLE_HQ         0x01
#define NGX_HTTP_MEMBER_ROLE_STORE      0x02
#define NGX_HTTP_MEMBER_ROLE_READONLY   0x04
#define NGX_HTTP_MEMBER_ROLE_BOOTSTRAP  0x08
#define NGX_HTTP_MEMBER_ROLE_OWN_STORE  0x10    /* store, its first capture */

/* the bootstrap token only (it may do everything) */
#define NGX_HTTP_MEMBER_GRANT_NONE      0
#define NGX_HTTP_MEMBER_GRANT_HQ        NGX_HTTP_MEMBER_ROLE_HQ
#define NGX_HTTP_MEMBER_GRANT_READ      (NGX_HTTP_MEMBER_ROLE_HQ              \
                                         |NGX_HTTP_MEMBER_ROLE_READONLY)
#define NGX_HTTP_MEMBER_GRANT_STORE     (NGX_HTTP_MEMBER_GRANT_READ           \
                                         |NGX_HTTP_MEMBER_ROLE_OWN_STORE)
#define NGX_HTTP_MEMBER_GRANT_DESK      (NGX_HTTP_MEMBER_GRANT_READ           \
                                         |NGX_HTTP_MEMBER_ROLE_STORE)

/* ngx_http_member_admin_auth.c: who may use the admin API, and as whom */
#define NGX_HTTP_MEMBER_KEY_ID_LEN      16      /* hex of 8 random bytes */
#define NGX_HTTP_MEMBER_ADMIN_KEY_LEN   (3 + NGX_HTTP_MEMBER_KEY_ID_LEN + 1 \
                                         + NGX_HTTP_MEMBER_SECRET_LEN)

/* a request of the admin API: its caller, its row, what the audit keeps */
struct ngx_http_member_admin_auth_s {
    ngx_str_t                   actor;      /* "bootstrap" or a key id */
    ngx_str_t                   role;
    ngx_uint_t                  roles;
    ngx_str_t                  *stores;     /* of a store key */
    ngx_uint_t                  nstores;
    ngx_str_t                   route;
    ngx_http_member_route_t    *row;        /* the route the request is */
    ngx_http_member_match_t     match;
    u_char                      hash[32];   /* SHA-256 */
    json_t                     *before;
    json_t                     *after;
    json_t                     *answer;     /* of POST keys, but the key */
    ngx_str_t                   key;        /* of POST keys */
    unsigned                    change:1;   /* audited when it succeeds */
    unsigned                    recorded:1;
};

extern ngx_str_t  ngx_http_member_keys_key;
extern ngx_str_t  ngx_http_member_role_names[];

ngx_int_t ngx_http_member_admin_auth(ngx_http_request_t *r,
    ngx_http_member_route_t *routes);
ngx_int_t ngx_http_member_whoami(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
void ngx_http_member_admin_actor(ngx_http_request_t *r, ngx_str_t *actor);

/* what of a member's record the caller's role sees */
#define NGX_HTTP_MEMBER_VIEW_FULL      0x01     /* hq, the bootstrap token */
#define NGX_HTTP_MEMBER_VIEW_MASKED    0x02     /* readonly */
#define NGX_HTTP_MEMBER_VIEW_TILL      0x04     /* store */

ngx_uint_t ngx_http_member_admin_view(ngx_http_request_t *r);

/* ngx_http_member_admin.c: a member request of the admin API */
struct ngx_http_member_admin_s {
    uint64_t                id;
    ngx_str_t               openid;
    ngx_str_t               openid_key;
    ngx_str_t               level;
    ngx_str_t               phone;      /* given, or looked up */
    ngx_str_t               index[8];   /* phone:<hmac> per key line */
    ngx_uint_t              nindex;
    ngx_uint_t              tried;
    json_t                 *json;
};

/* ngx_http_member_admin_record.c: the record as the caller's role sees it */
ngx_int_t ngx_http_member_admin_read(ngx_http_request_t *r, uint64_t id);

/* ngx_http_member_admin_keys.c: POST keys, GET keys, DELETE keys/<id> */
ngx_int_t ngx_http_member_keys_create(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_keys_get(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_keys_revoke(ngx_http_request_t *r,
    ngx_http_member_match_t *m);

/* ngx_http_member_audit.c: GET audit, and the audit of every change */
ngx_int_t ngx_http_member_audit_page(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
/* what the audit keeps of an answer: its fields, or a change's diff */
void ngx_http_member_audit_fields(json_t *answer, json_t **before,
    json_t **after);
void ngx_http_member_audit_level(json_t *answer, json_t **before,
    json_t **after);
void ngx_http_member_audit_points(json_t *answer, json_t **before,
    json_t **after);
void ngx_http_member_audit_recharge(json_t *answer, json_t **before,
    json_t **after);
void ngx_http_member_audit_refund(json_t *answer, json_t **before,
    json_t **after);
void ngx_http_member_audit_rules(json_t *answer, json_t **before,
    json_t **after);
void ngx_http_member_audit_set(ngx_http_request_t *r, json_t *before,
    json_t *after);
void ngx_http_member_audit_answer(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len);
ngx_int_t ngx_http_member_admin_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_member_stores_handler(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_stores_rotate(ngx_http_request_t *r,
    ngx_http_member_match_t *m);

/* ngx_http_member_admin_feedback.c: the admin API's feedback */
ngx_int_t ngx_http_member_admin_feedback_list(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_admin_feedback_answer(ngx_http_request_t *r,
    ngx_http_member_match_t *m);


#endif /* _NGX_MEMBER_ADMIN_H_INCLUDED_ */
