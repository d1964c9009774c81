
/*
 * ngx_member, core layer: the request context, routes, replies, bodies,
 * digests and keys.  The lowest layer: it calls nothing above it, and
 * names the types of the layers above only as pointers.
 */


#ifndef _NGX_MEMBER_CORE_H_INCLUDED_
#define _NGX_MEMBER_CORE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_member_scripts.h"
#include "member_qrcode.h"
#include "member_rules.h"


/* handler families, also the "handler" label of the metrics */
typedef enum {
    NGX_HTTP_MEMBER_NONE = 0,
    NGX_HTTP_MEMBER_STATUS,
    NGX_HTTP_MEMBER_LOGIN,
    NGX_HTTP_MEMBER_API,
    NGX_HTTP_MEMBER_ADMIN,
    NGX_HTTP_MEMBER_SCAN,
    NGX_HTTP_MEMBER_OAUTH,
    NGX_HTTP_MEMBER_OA,
    NGX_HTTP_MEMBER_WXPAY_NOTIFY,
    NGX_HTTP_MEMBER_HANDLER_COUNT
} ngx_http_member_handler_e;


#define NGX_HTTP_MEMBER_SESSION_TTL     (7 * 24 * 3600)
#define NGX_HTTP_MEMBER_IDEM_TTL        (30 * 24 * 3600)
#define NGX_HTTP_MEMBER_TOKEN_RANDOM    32
#define NGX_HTTP_MEMBER_TOKEN_LEN       (NGX_INT64_LEN + 1 + 44)
#define NGX_HTTP_MEMBER_MAX_AMOUNT      100000000       /* 1,000,000 yuan */
#define NGX_HTTP_MEMBER_PAGE_DEFAULT    20
#define NGX_HTTP_MEMBER_PAGE_MAX        100
#define NGX_HTTP_MEMBER_TICKET_TTL      300
#define NGX_HTTP_MEMBER_NONCE_TTL       900

/* a numeric constant as a string literal, for ngx_str_set() */
#define ngx_http_member_literal_(n)     #n
#define ngx_http_member_literal(n)      ngx_http_member_literal_(n)
#define NGX_HTTP_MEMBER_SIGNATURE_WINDOW  300
#define NGX_HTTP_MEMBER_ORDER_TTL       (400 * 24 * 3600)

#define NGX_HTTP_GONE                   410
#define NGX_HTTP_UNPROCESSABLE_ENTITY   422
#define NGX_HTTP_TOO_MANY_REQUESTS      429


#define NGX_HTTP_MEMBER_SECRET_LEN       43        /* base64url of 32 bytes */

/* the layers above: redis/, ledger/ and wechat/ */
typedef struct ngx_http_member_redis_s  ngx_http_member_redis_t;
typedef struct ngx_http_member_call_s   ngx_http_member_call_t;
typedef struct ngx_http_member_oa_keys_s  ngx_http_member_oa_keys_t;
typedef struct ngx_http_member_ledger_s  ngx_http_member_ledger_t;
typedef struct ngx_http_member_outbox_conf_s  ngx_http_member_outbox_conf_t;
typedef struct ngx_http_member_wxpay_conf_s  ngx_http_member_wxpay_conf_t;
typedef ngx_int_t (*ngx_http_member_id_pt)(ngx_http_request_t *r,
    uint64_t id);

#define NGX_HTTP_MEMBER_MEMBER_KEY_LEN  32


typedef struct {
    u_char                      sha1[40];
} ngx_http_member_script_t;


typedef struct {
    ngx_str_t                   id;
    u_char                      key[32];
} ngx_http_member_key_t;


typedef struct {
    ngx_array_t                 redis;      /* ngx_http_member_redis_t * */
    ngx_http_member_script_t    scripts[NGX_HTTP_MEMBER_SCRIPT_COUNT];
    ngx_shm_zone_t             *stats_zone;
    ngx_flag_t                  log_handler_set;
    ngx_flag_t                  test_clock;
    ngx_array_t                *outboxes;   /* a brand's WeChat outbox, */
                                            /* ngx_http_member_outbox.c */
} ngx_http_member_main_conf_t;


#define NGX_HTTP_MEMBER_SCHEME_CONNECTION  0
#define NGX_HTTP_MEMBER_SCHEME_HTTP        1
#define NGX_HTTP_MEMBER_SCHEME_HTTPS       2

typedef struct {
    ngx_http_member_handler_e   handler;
    ngx_http_member_redis_t    *redis;      /* the brand's, if any */
    ngx_str_t                   brand;      /* member_brand */
    ngx_msec_t                  redis_timeout;
    ngx_uint_t                  redis_replicas;     /* WAIT for them */
    ngx_msec_t                  redis_replicas_timeout;
    time_t                      session_ttl;
    ngx_uint_t                  scheme;     /* member_scheme: */

    ngx_str_t                   wechat_appid;
    ngx_str_t                   wechat_secret;
    ngx_str_t                   wechat_api;
    ngx_flag_t                  wechat_stable_token;
    ngx_array_t                *page_domains;   /* ngx_str_t */
    ngx_http_member_outbox_conf_t  *outbox;     /* member_wechat_outbox */
    ngx_str_t                   wechat_token;
    ngx_http_member_oa_keys_t  *wechat_aes_keys;
    time_t                      wechat_window;
    ngx_http_member_wxpay_conf_t  *wxpay;       /* member_wxpay_* */

    ngx_str_t                   admin_token;
    ngx_array_t                *keys;       /* ngx_http_member_key_t */

    ngx_str_t                   code_secret;
    mqr_coder_t                *coder;      /* keyed with code_secret */
    time_t                      code_period;
    ngx_uint_t                  scan_store_limit;
    ngx_uint_t                  scan_address_limit;
    ngx_uint_t                  scan_failure_limit;
} ngx_http_member_loc_conf_t;


/*
 * Each feature's state in a request, made by its handler.  A request may
 * pass through several features (an admin's refund reads the rules): each
 * keeps its own typed field of the context, and no field changes type.
 */
typedef struct ngx_http_member_ledger_req_s      ngx_http_member_ledger_req_t;
typedef struct ngx_http_member_analytics_req_s   ngx_http_member_analytics_req_t;
typedef struct ngx_http_member_coupons_s         ngx_http_member_coupons_t;
typedef struct ngx_http_member_form_s            ngx_http_member_form_t;
typedef struct ngx_http_member_login_s           ngx_http_member_login_t;
typedef struct ngx_http_member_oa_s              ngx_http_member_oa_t;
typedef struct ngx_http_member_oauth_s           ngx_http_member_oauth_t;
typedef struct ngx_http_member_outbox_req_s      ngx_http_member_outbox_req_t;
typedef struct ngx_http_member_page_s            ngx_http_member_page_t;
typedef struct ngx_http_member_feedback_s        ngx_http_member_feedback_t;
typedef struct ngx_http_member_scan_s            ngx_http_member_scan_t;
typedef struct ngx_http_member_admin_s           ngx_http_member_admin_t;
typedef struct ngx_http_member_admin_auth_s      ngx_http_member_admin_auth_t;
typedef struct ngx_http_member_admin_feedback_s  ngx_http_member_admin_feedback_t;
typedef struct ngx_http_member_wxpay_s           ngx_http_member_wxpay_t;

/* an answer's observer (ngx_http_member_send_raw) */
typedef void (*ngx_http_member_answer_pt)(ngx_http_request_t *r,
    ngx_uint_t status, u_char *data, size_t len);

/* per request */
typedef struct {
    ngx_http_member_call_t     *call;       /* the Redis layer's */
    ngx_str_t                   route;      /* path below the location */
    ngx_str_t                   body;
    json_t                     *json;       /* parsed body, freed by cleanup */

    uint64_t                    member_id;
    ngx_str_t                   session_key;    /* Redis key */
    ngx_str_t                   openid_key;
    ngx_http_member_id_pt       id_done;

    /* outgoing WeChat call */
    ngx_http_request_t         *sr;
    ngx_int_t                   sr_status;
    ngx_str_t                   sr_body;
    ngx_int_t                 (*wechat_done)(ngx_http_request_t *r);
    ngx_http_log_handler_pt     log_handler;
    void                       *wechat_cache;   /* token and tickets */

    ngx_http_member_answer_pt   answer;     /* the admin API's audit */
    ngx_uint_t                  limit;      /* of a page of a list */
    ngx_uint_t                  view;       /* what GET api/<view> asks */

    /* each feature's own state (see above) */
    ngx_http_member_ledger_req_t      *ledger;
    ngx_http_member_analytics_req_t   *analytics;
    ngx_http_member_coupons_t         *coupons;
    ngx_http_member_form_t            *form;
    ngx_http_member_login_t           *login;
    ngx_http_member_oa_t              *oa;
    ngx_http_member_oauth_t           *oauth;
    ngx_http_member_outbox_req_t      *outbox;
    ngx_http_member_page_t            *page;
    ngx_http_member_feedback_t        *feedback;
    ngx_http_member_scan_t            *scan;
    ngx_http_member_admin_t           *admin;
    ngx_http_member_admin_auth_t      *auth;    /* who asks */
    ngx_http_member_admin_feedback_t  *admin_feedback;
    ngx_http_member_wxpay_t           *wxpay;   /* WeChat Pay's calls */
    ngx_str_t                         *store_secret;
    ngx_str_t                         *nginx_page;  /* error_page's JSON */

    unsigned                    wechat_waiting:1;
    unsigned                    wechat_failed:1;
    unsigned                    answered:1;     /* our own answer went out */
    unsigned                    error_page:1;   /* nginx's, made JSON */
} ngx_http_member_ctx_t;


extern ngx_module_t  ngx_http_member_module;


/*
 * A handler's routes: one table of rows, matched once, first match
 * deciding (ngx_http_member_route_find).  A row's pattern is
 * mrl_route_match()'s; a capture named <id> must be a member id, <fid> a
 * feedback id, <tag> no longer than a tag, else the row does not match.
 * A row without a handler answers that there is no such resource: 405
 * when an earlier row's pattern matched with another method, 404 else.
 * The admin API's roles (grant) and audit read the same rows
 * (ngx_http_member_admin_auth.c); the member API's and the scanner's
 * grant says what credentials a row needs, and when they are checked
 * (member/ngx_member_member.h).
 */

#define NGX_HTTP_MEMBER_FEEDBACK_ID_LEN  21    /* <fid> */
#define NGX_HTTP_MEMBER_TAG_MAX          32    /* <tag>, in bytes */

/* a row that needs no credentials: no such resource, or the web login */
#define NGX_HTTP_MEMBER_GRANT_ANYONE    0x100

#define NGX_HTTP_MEMBER_READ            (NGX_HTTP_GET|NGX_HTTP_HEAD)
#define NGX_HTTP_MEMBER_ANY             ((ngx_uint_t) -1)

typedef struct ngx_http_member_route_s  ngx_http_member_route_t;

typedef struct {
    ngx_str_t                   capture[MRL_ROUTE_CAPTURES];
    ngx_uint_t                  ncaptures;
    uint64_t                    id;         /* of an <id> capture */
    ngx_uint_t                  wrong_method;
    ngx_http_member_route_t    *row;        /* the row found */
} ngx_http_member_match_t;

typedef ngx_int_t (*ngx_http_member_route_pt)(ngx_http_request_t *r,
    ngx_http_member_match_t *m);

/* the audit of a change that succeeded: its before and after */
typedef void (*ngx_http_member_audit_pt)(json_t *answer, json_t **before,
    json_t **after);

struct ngx_http_member_route_s {
    ngx_uint_t                  methods;
    const char                 *pattern;
    ngx_http_member_route_pt    handler;    /* NULL: no such resource */
    ngx_uint_t                  grant;      /* roles, session, signature */
    ngx_http_member_audit_pt    audit;      /* NULL: not audited */
};

/* ngx_http_member_ctx.c, ngx_http_member_route.c */
ngx_http_member_ctx_t *ngx_http_member_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_member_route(ngx_http_request_t *r, ngx_str_t *route);
ngx_int_t ngx_http_member_hide_query(ngx_http_request_t *r);
ngx_flag_t ngx_http_member_https(ngx_http_request_t *r);
ngx_http_member_route_t *ngx_http_member_route_find(ngx_http_request_t *r,
    ngx_http_member_route_t *routes, ngx_str_t *route,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_route_run(ngx_http_request_t *r,
    ngx_http_member_route_t *row, ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_route_fid_valid(ngx_str_t *id);

/* ngx_http_member_reply.c */
ngx_int_t ngx_http_member_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message);
ngx_int_t ngx_http_member_send_json(ngx_http_request_t *r,
    ngx_uint_t status, json_t *value);
ngx_int_t ngx_http_member_send_raw(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len);
ngx_int_t ngx_http_member_send_buf(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *b);
ngx_int_t ngx_http_member_error_filter_init(ngx_conf_t *cf);

/* ngx_http_member_body.c */

/* the money and points calls: their fields are declared in body.c */
typedef enum {
    NGX_HTTP_MEMBER_BODY_PAY = 0,
    NGX_HTTP_MEMBER_BODY_EARN,
    NGX_HTTP_MEMBER_BODY_REFUND,
    NGX_HTTP_MEMBER_BODY_RECHARGE,
    NGX_HTTP_MEMBER_BODY_RECHARGE_REFUND,
    NGX_HTTP_MEMBER_BODY_POINTS,
    NGX_HTTP_MEMBER_BODY_LEVEL,
    NGX_HTTP_MEMBER_BODY_COUPON_ISSUE,
    NGX_HTTP_MEMBER_BODY_TILL_RECHARGE,
    NGX_HTTP_MEMBER_BODY_WXPAY_ORDER
} ngx_http_member_body_e;

ngx_int_t ngx_http_member_read_json(ngx_http_request_t *r,
    void (*post_handler)(ngx_http_request_t *r));
json_t *ngx_http_member_body_json(ngx_http_request_t *r, ngx_int_t *rc);
ngx_int_t ngx_http_member_body_known(ngx_http_request_t *r, json_t *json,
    ngx_http_member_body_e call, ngx_int_t *rc);
json_t *ngx_http_member_body_call(ngx_http_request_t *r,
    ngx_http_member_body_e call, ngx_int_t *rc);
ngx_int_t ngx_http_member_body_fingerprint(ngx_http_request_t *r,
    json_t *json, ngx_http_member_body_e call, uint64_t id, ngx_str_t *fp);
ngx_int_t ngx_http_member_body_raw(ngx_http_request_t *r, ngx_str_t *body);
ngx_int_t ngx_http_member_bad_field(ngx_http_request_t *r, const char *name);
ngx_int_t ngx_http_member_json_int(json_t *obj, const char *name,
    ngx_int_t min, ngx_int_t max, ngx_int_t *out, ngx_flag_t required);
ngx_int_t ngx_http_member_json_str(json_t *obj, const char *name,
    size_t max, ngx_flag_t id, ngx_str_t *out, ngx_flag_t required);
ngx_int_t ngx_http_member_arg_uint(ngx_http_request_t *r, char *name,
    size_t len, ngx_uint_t def, ngx_uint_t max, ngx_uint_t *out);
ngx_int_t ngx_http_member_arg_cursor(ngx_http_request_t *r,
    ngx_str_t *cursor);
u_char *ngx_http_member_range_start(u_char *p, ngx_str_t *cursor,
    ngx_str_t *start);
ngx_int_t ngx_http_member_id_char(u_char c);

/* ngx_http_member_digest.c */
ngx_int_t ngx_http_member_hmac_sha256(const u_char *key, size_t key_len,
    const u_char *msg, size_t len, u_char out[32]);
ngx_int_t ngx_http_member_sha256(const u_char *data, size_t len,
    ngx_chain_t *in, u_char out[32]);
void ngx_http_member_digest_free(void);

/* ngx_http_member_keys.c */
ngx_int_t ngx_http_member_random(u_char *buf, size_t len);
char *ngx_http_member_pii_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_member_key_t *ngx_http_member_key_find(ngx_http_request_t *r,
    ngx_str_t *id);
ngx_int_t ngx_http_member_store_secret(ngx_http_request_t *r,
    ngx_http_member_key_t *key, ngx_str_t *store_id, ngx_str_t *nonce,
    u_char out[NGX_HTTP_MEMBER_SECRET_LEN]);
ngx_int_t ngx_http_member_pii_seal(ngx_http_request_t *r, ngx_str_t *aad,
    ngx_str_t *plain, ngx_str_t *out);
ngx_int_t ngx_http_member_pii_open(ngx_http_request_t *r, ngx_str_t *aad,
    ngx_str_t *sealed, ngx_str_t *out);
ngx_int_t ngx_http_member_pii_derive(ngx_http_member_key_t *key,
    const char *use, u_char out[32]);
ngx_int_t ngx_http_member_pii_aad(ngx_pool_t *pool, uint64_t id,
    ngx_str_t *field, ngx_str_t *aad);
ngx_int_t ngx_http_member_pii_record(ngx_http_request_t *r, uint64_t id,
    json_t *record);
ngx_int_t ngx_http_member_phone_index(ngx_http_request_t *r,
    ngx_http_member_key_t *key, ngx_str_t *phone, ngx_str_t *index);
ngx_int_t ngx_http_member_mask_name(ngx_pool_t *pool, ngx_str_t *name,
    ngx_str_t *out);
ngx_int_t ngx_http_member_mask_phone(ngx_pool_t *pool, ngx_str_t *phone,
    ngx_str_t *out);
extern ngx_str_t  ngx_http_member_pii_fields[];

/* ngx_http_member_ctx.c: member ids, card numbers, keys */
#define NGX_HTTP_MEMBER_KEY_IN_LEN  (NGX_INT64_LEN + 48)  /* a key's room */

ngx_int_t ngx_http_member_parse_id(u_char *p, size_t len, uint64_t *id);
u_char *ngx_http_member_card_no(u_char *p, uint64_t id);
ngx_int_t ngx_http_member_record_args(ngx_pool_t *pool, uint64_t id,
    ngx_str_t *id_arg, ngx_str_t *card_no, ngx_str_t *now);
ngx_int_t ngx_http_member_card_to_id(ngx_str_t *card_no, uint64_t *id);
ngx_int_t ngx_http_member_key(ngx_pool_t *pool, ngx_str_t *key,
    uint64_t id, const char *suffix);
ngx_str_t ngx_http_member_key_in(u_char *buf, uint64_t id,
    const char *suffix);
void ngx_http_member_keys_in(ngx_str_t *keys, const char **suffix,
    ngx_uint_t n, u_char *buf, uint64_t id);
ngx_str_t ngx_http_member_num_in(u_char *buf, int64_t n);
ngx_int_t ngx_http_member_session_key(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *secret, ngx_str_t *key);
ngx_int_t ngx_http_member_method_not_allowed(ngx_http_request_t *r);

/* Redis' words and keys many files send */
extern ngx_str_t  ngx_http_member_cmd_get;
extern ngx_str_t  ngx_http_member_cmd_set;
extern ngx_str_t  ngx_http_member_cmd_nx;
extern ngx_str_t  ngx_http_member_cmd_incr;
extern ngx_str_t  ngx_http_member_cmd_hgetall;
extern ngx_str_t  ngx_http_member_seq_key;


#endif /* _NGX_MEMBER_CORE_H_INCLUDED_ */
