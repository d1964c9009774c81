
/*
 * ngx_member, member layer: the member API, the card's pages, the dynamic
 * code and the store scanner.  Its files include this header, which
 * includes the wechat layer's; nothing here reaches a layer above
 * (tools/layers.py).
 */


#ifndef _NGX_MEMBER_MEMBER_H_INCLUDED_
#define _NGX_MEMBER_MEMBER_H_INCLUDED_


#include "ngx_member_wechat.h"

/* ngx_http_member_feedback.c */
extern ngx_str_t  ngx_http_member_feedback_key;
extern ngx_str_t  ngx_http_member_feedback_all;
extern ngx_str_t  ngx_http_member_feedback_open;
extern ngx_str_t  ngx_http_member_feedback_answered;

ngx_int_t ngx_http_member_feedback(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_feedback_list(ngx_http_request_t *r,
    ngx_str_t *list, ngx_flag_t admin);
ngx_int_t ngx_http_member_feedback_text(json_t *json, const char *name,
    size_t max, ngx_str_t *text);
ngx_int_t ngx_http_member_feedback_aad(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *fid, const char *what, ngx_str_t *aad);
ngx_int_t ngx_http_member_feedback_erase(ngx_http_request_t *r, uint64_t id,
    ngx_http_member_call_pt done);
ngx_int_t ngx_http_member_feedback_export(ngx_http_request_t *r, uint64_t id,
    json_t *out);

/*
 * what a row of the member API or the scanner needs (ngx_member_core.h):
 * the member's session token, or a page's session read (session.lua)
 * before the page; a store's signature, checked by the scanner's handler
 */
#define NGX_HTTP_MEMBER_GRANT_TOKEN     0x200
#define NGX_HTTP_MEMBER_GRANT_PAGE      0x400
#define NGX_HTTP_MEMBER_GRANT_SIGNED    0x800

/*
 * ngx_http_member_pages.c: the member API's pages (its rows of grant
 * NGX_HTTP_MEMBER_GRANT_PAGE, ngx_http_member_api.c), jssdk and card-ext
 */

typedef struct ngx_http_member_reg_s    ngx_http_member_reg_t;
typedef struct ngx_http_member_tiers_s  ngx_http_member_tiers_t;
typedef struct ngx_http_member_erase_s  ngx_http_member_erase_t;

/* the session of a page call and what it knows of its member */
struct ngx_http_member_page_s {
    ngx_http_member_route_t    *row;            /* the page */
    ngx_http_member_match_t     match;
    uint64_t                    id;
    ngx_str_t                   member_key;
    ngx_str_t                   openid;
    ngx_str_t                   session_key;    /* sealed; "" on the web */
    ngx_str_t                   status;
    ngx_str_t                   card_no;
    ngx_str_t                   phone_index;
    /* what a page keeps between its steps, one field a page */
    ngx_str_t                  *args;       /* jssdk's URL, card-ext's */
    ngx_http_member_reg_t      *reg;        /* register */
    ngx_http_member_tiers_t    *tiers;      /* tiers */
    ngx_http_member_erase_t    *erase;      /* DELETE profile */
};

ngx_int_t ngx_http_member_pages_handler(ngx_http_request_t *r,
    ngx_http_member_route_t *row, ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_jssdk(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_card_ext(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_register(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_profile(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_export(ngx_http_request_t *r,
    ngx_http_member_match_t *m);

/* ngx_http_member_referral.c, ngx_http_member_subscriptions.c */
ngx_int_t ngx_http_member_referral(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_subscriptions(ngx_http_request_t *r,
    ngx_http_member_match_t *m);

/* ngx_http_member_recharge.c: recharge by WeChat Pay */
ngx_int_t ngx_http_member_recharge(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_recharge_state(ngx_http_request_t *r,
    ngx_http_member_match_t *m);

/* ngx_http_member_tiers.c: GET tiers */
ngx_int_t ngx_http_member_tiers(ngx_http_request_t *r,
    ngx_http_member_match_t *m);

/* ngx_http_member_api.c */
ngx_int_t ngx_http_member_transactions(ngx_http_request_t *r,
    ngx_str_t *must_exist, uint64_t id, const char *missing);
ngx_int_t ngx_http_member_transactions_page(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
ngx_int_t ngx_http_member_api_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_member_api_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_member_scan_handler(ngx_http_request_t *r);

/* ngx_http_member_scan.c: a store's call, signed; and its gate */
typedef enum {
    NGX_HTTP_MEMBER_SCAN_VERIFY = 0,
    NGX_HTTP_MEMBER_SCAN_PAY,
    NGX_HTTP_MEMBER_SCAN_EARN,
    NGX_HTTP_MEMBER_SCAN_REFUND,
    NGX_HTTP_MEMBER_SCAN_RECHARGE
} ngx_http_member_scan_call_e;


struct ngx_http_member_scan_s {
    ngx_http_member_scan_call_e   call;
    ngx_str_t                     store_id;
    ngx_str_t                     timestamp;
    ngx_str_t                     nonce;
    ngx_str_t                     signature;

    uint64_t                      member_id;
    ngx_str_t                     ticket;
    ngx_str_t                     ticket_key;     /* the code it spent */
    ngx_str_t                     ticket_value;   /* "<store> <sha256>" */
    time_t                        ticket_ttl;
    ngx_str_t                     order_id;
    ngx_str_t                     order_index;
    ngx_str_t                     ttl;        /* of the order's records */
    ngx_str_t                     id_str;
    ngx_int_t                     amount;
    ngx_int_t                     points;     /* to redeem */
    ngx_str_t                     coupon_id;  /* "" for none */
    ngx_str_t                     idem;       /* of a recharge */
    ngx_str_t                     method;     /* of a recharge, "" none */
    ngx_uint_t                    failed;     /* mqr_status_t of a code */
};

ngx_int_t ngx_http_member_scan_set_nx(redisReply *e);
ngx_int_t ngx_http_member_scan_fail_key(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, ngx_str_t *key);

/* ngx_http_member_scan_verify.c: POST verify, and the tickets it makes */
ngx_int_t ngx_http_member_scan_verify(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json);
ngx_int_t ngx_http_member_scan_ticket_key(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, uint64_t step, ngx_str_t *secret);

/* ngx_http_member_scan_purchase.c: POST pay, earn, refund, recharge */
ngx_int_t ngx_http_member_scan_purchase(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json);
ngx_int_t ngx_http_member_scan_recharge(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json);
ngx_int_t ngx_http_member_scan_refund(ngx_http_request_t *r,
    ngx_http_member_scan_t *scan, json_t *json);

/* ngx_http_member_code.c: what code_answer answers */
typedef enum {
    NGX_HTTP_MEMBER_CODE_JSON = 1,
    NGX_HTTP_MEMBER_CODE_PNG,
    NGX_HTTP_MEMBER_CODE_SVG
} ngx_http_member_code_view_e;

mqr_coder_t *ngx_http_member_code_coder(ngx_conf_t *cf, ngx_str_t *secret);
ngx_int_t ngx_http_member_code_answer(ngx_http_request_t *r, uint64_t id,
    ngx_uint_t view);


#endif /* _NGX_MEMBER_MEMBER_H_INCLUDED_ */
