
/*
 * ngx_member, wechat layer: WeChat: subrequests to its API, tokens, login,
 * OAuth, the official account's messages, the outbox and the wallet's
 * form.  Its files include this header, which includes the ledger layer's;
 * nothing here reaches a layer above (tools/layers.py).
 */


#ifndef _NGX_MEMBER_WECHAT_H_INCLUDED_
#define _NGX_MEMBER_WECHAT_H_INCLUDED_


#include "ngx_member_ledger.h"
#include "member_gateway.h"

/* ngx_http_member_outbox.c: the job of the WeChat outbox */
char *ngx_http_member_outbox_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_member_outbox_init(ngx_conf_t *cf,
    ngx_http_member_main_conf_t *mmcf);
ngx_int_t ngx_http_member_outbox_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf);
void ngx_http_member_outbox_exit_process(ngx_http_member_main_conf_t *mmcf);
ngx_int_t ngx_http_member_outbox_admin(ngx_http_request_t *r);

/* ngx_http_member_outbox_card.c: a slice, its members' cards */
#define NGX_HTTP_MEMBER_OUTBOX_SLICE    10          /* members a call */

/* per request: one slice of due members */
struct ngx_http_member_outbox_req_s {
    ngx_str_t                     ids[NGX_HTTP_MEMBER_OUTBOX_SLICE];
    ngx_str_t                     scores[NGX_HTTP_MEMBER_OUTBOX_SLICE];
    ngx_uint_t                    sources[NGX_HTTP_MEMBER_OUTBOX_SLICE];
    ngx_uint_t                    more;       /* left due in a source */
    ngx_uint_t                    n;
    ngx_uint_t                    i;
    ngx_uint_t                    sent;
    ngx_uint_t                    failed;
    ngx_uint_t                    activate;
    ngx_str_t                     field[9];     /* what wx_peek.lua says */
    ngx_str_t                     key;
    ngx_str_t                     body;
    ngx_int_t                     errcode;

    /* messages: the rules' section, wx_msg.lua's ARGV, the one in hand */
    json_t                       *messages;
    ngx_str_t                     margs[NGX_HTTP_MEMBER_WX_MSG_NARGV];
    ngx_str_t                     mkeys[NGX_HTTP_MEMBER_WX_MSG_NKEYS];
    ngx_str_t                     msg[4];       /* id, kind, channel, tpl */
    ngx_str_t                     path;
    ngx_str_t                     msgid;
    const char                   *outcome;
    ngx_uint_t                    messages_sent;
    unsigned                      renewed:1;
    unsigned                      formed:1;     /* the form was read */
};


void ngx_http_member_outbox_touch(ngx_http_member_redis_t *redis,
    uint64_t id);
ngx_int_t ngx_http_member_outbox_card_run(ngx_http_request_t *r);
ngx_http_member_outbox_req_t *ngx_http_member_outbox_card_req(
    ngx_http_request_t *r);
ngx_int_t ngx_http_member_outbox_card_copy(ngx_http_request_t *r,
    redisReply *e, ngx_str_t *out);
ngx_int_t ngx_http_member_outbox_card_settle(ngx_http_request_t *r,
    ngx_uint_t done);

/* ngx_http_member_outbox_msg.c: a member's messages */
ngx_int_t ngx_http_member_outbox_msg_next(ngx_http_request_t *r);

/* ngx_http_member_form.c: WeChat's activation form of a wallet card */
typedef ngx_int_t (*ngx_http_member_form_pt)(ngx_http_request_t *r,
    ngx_int_t rc, uint64_t target);

ngx_int_t ngx_http_member_form_read(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *card_id, ngx_str_t *code, ngx_str_t *openid,
    ngx_http_member_form_pt done);

/* ngx_http_member_wxpay_conf.c: the member_wxpay_* directives */
#define NGX_HTTP_MEMBER_WXPAY_MCHID       0     /* cmd->offset */
#define NGX_HTTP_MEMBER_WXPAY_SERIAL      1
#define NGX_HTTP_MEMBER_WXPAY_API         2
#define NGX_HTTP_MEMBER_WXPAY_NOTIFY_URL  3

/* a server's WeChat Pay settings, shared by its locations */
struct ngx_http_member_wxpay_conf_s {
    ngx_str_t                   mchid;
    ngx_str_t                   serial;     /* the merchant's certificate */
    mgw_wxpay_key_t            *merchant;   /* its private key */
    u_char                      apiv3_key[MGW_WXPAY_APIV3_KEY_LEN];
    ngx_array_t                 platforms;  /* mgw_wxpay_platform_t */
    ngx_str_t                   api;        /* internal location's prefix */
    ngx_str_t                   notify_url;
    unsigned                    apiv3_set:1;
};


char *ngx_http_member_wxpay_str(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_member_wxpay_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_member_wxpay_apiv3_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_member_wxpay_platform_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_member_wxpay_merge_conf(ngx_conf_t *cf,
    ngx_http_member_loc_conf_t *prev, ngx_http_member_loc_conf_t *conf);

/* ngx_http_member_wxpay.c: WeChat Pay's signed calls, its notifications */
#define NGX_HTTP_MEMBER_WXPAY_TRADE_NO_LEN  32      /* out_trade_no */
#define NGX_HTTP_MEMBER_WXPAY_ORDER_TTL     (400 * 24 * 3600)

/* a request's WeChat Pay state: the answer's signature, an order */
struct ngx_http_member_wxpay_s {
    ngx_str_t                   signed_by[4];   /* the answer's Wechatpay- */
                                                /* Serial, Signature, */
                                                /* Timestamp, Nonce */
    uint64_t                    id;             /* the member */
    int64_t                     amount;
    int64_t                     bonus;
    ngx_str_t                   out_trade_no;
    ngx_str_t                   openid;
    ngx_str_t                   transaction_id;
    ngx_str_t                   reason;         /* of a closed order */
    ngx_int_t                   status;         /* the answer to give */
    const char                 *error;
    const char                 *message;
};


ngx_int_t ngx_http_member_wxpay_keep(ngx_http_request_t *sr,
    ngx_http_member_wxpay_t *wp);
ngx_int_t ngx_http_member_wxpay_post(ngx_http_request_t *r, ngx_str_t *path,
    ngx_str_t *body, ngx_int_t (*done)(ngx_http_request_t *r));
ngx_int_t ngx_http_member_wxpay_answer_verified(ngx_http_request_t *r);
ngx_int_t ngx_http_member_wxpay_trade_no_id(ngx_str_t *no, uint64_t *id);
ngx_int_t ngx_http_member_wxpay_order_key(ngx_pool_t *pool, ngx_str_t *key,
    uint64_t id, ngx_str_t *no);
ngx_int_t ngx_http_member_wxpay_order_args(ngx_pool_t *pool,
    ngx_http_member_wxpay_t *wp, ngx_str_t *member, ngx_str_t *order,
    ngx_str_t *amount, ngx_str_t *now);
ngx_int_t ngx_http_member_wxpay_notify_handler(ngx_http_request_t *r);

/* ngx_http_member_wechat.c */
ngx_int_t ngx_http_member_wechat_get(ngx_http_request_t *r, ngx_str_t *path,
    ngx_str_t *args, ngx_int_t (*done)(ngx_http_request_t *r));
ngx_int_t ngx_http_member_wechat_post(ngx_http_request_t *r, ngx_str_t *path,
    ngx_str_t *args, ngx_str_t *body, ngx_int_t (*done)(ngx_http_request_t *r));
ngx_int_t ngx_http_member_wechat_call(ngx_http_request_t *r, ngx_str_t *api,
    ngx_str_t *path, ngx_str_t *args, ngx_str_t *body, ngx_array_t *headers,
    ngx_int_t (*done)(ngx_http_request_t *r));
ngx_int_t ngx_http_member_wechat_post_token(ngx_http_request_t *r,
    ngx_str_t *path, ngx_str_t *token, ngx_str_t *body,
    ngx_int_t (*done)(ngx_http_request_t *r));
ngx_int_t ngx_http_member_wechat_code(ngx_http_request_t *r, ngx_str_t *path,
    const char *name, ngx_str_t *code,
    ngx_int_t (*done)(ngx_http_request_t *r));
ngx_int_t ngx_http_member_wechat_chars(ngx_str_t *s, size_t max,
    const char *also);

/* ngx_http_member_token.c */
typedef enum {
    NGX_HTTP_MEMBER_WX_TOKEN = 0,
    NGX_HTTP_MEMBER_WX_JSAPI,
    NGX_HTTP_MEMBER_WX_CARD,
    NGX_HTTP_MEMBER_WX_NONE
} ngx_http_member_wx_kind_e;

typedef ngx_int_t (*ngx_http_member_wx_pt)(ngx_http_request_t *r,
    ngx_str_t *value);

ngx_int_t ngx_http_member_wechat_secret(ngx_http_request_t *r,
    ngx_uint_t kind, ngx_uint_t renew, ngx_http_member_wx_pt done);

/* ngx_http_member_login.c */
ngx_int_t ngx_http_member_session_create(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *openid, ngx_str_t *unionid, ngx_str_t *session_key,
    ngx_str_t *token, ngx_http_member_call_pt done);

ngx_int_t ngx_http_member_login_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_member_oauth_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_member_oa_handler(ngx_http_request_t *r);

/* ngx_http_member_oa.c: the official account's pushes */
char *ngx_http_member_oa_aes_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
#define NGX_HTTP_MEMBER_OA_ID_MAX      64

struct ngx_http_member_oa_s {
    ngx_str_t                   timestamp;
    ngx_str_t                   nonce;
    ngx_str_t                   msg_signature;
    ngx_uint_t                  key;        /* the AES key that opened it */
    unsigned                    aes:1;      /* compatible or safe mode */

    mgw_xml_t                  *xml;        /* the message */
    ngx_str_t                   to;
    ngx_str_t                   from;       /* the user's openid */
    ngx_str_t                   create_time;
    ngx_str_t                   msg_type;
    ngx_str_t                   event;
    ngx_str_t                   identity;   /* MsgId, or time:type:event */
    ngx_str_t                   content;
    ngx_uint_t                  ask;
    ngx_str_t                   member_key;
};


ngx_int_t ngx_http_member_oa_get(ngx_http_member_oa_t *oa, char *name,
    ngx_str_t *v);
ngx_int_t ngx_http_member_oa_is(ngx_str_t *s, char *text);
ngx_int_t ngx_http_member_oa_reply(ngx_http_request_t *r, u_char *text,
    size_t len);
ngx_int_t ngx_http_member_oa_success(ngx_http_request_t *r);

/* ngx_http_member_oa_event.c: the card events and texts of the pushes */
ngx_int_t ngx_http_member_oa_event_fields(ngx_http_member_oa_t *oa);
ngx_int_t ngx_http_member_oa_event_handle(ngx_http_request_t *r,
    ngx_http_member_oa_t *oa);


#endif /* _NGX_MEMBER_WECHAT_H_INCLUDED_ */
