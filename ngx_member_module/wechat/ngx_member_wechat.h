
/*
 * ngx_member, wechat layer: WeChat: subrequests to its API, tokens, login,
 * OAuth, the official account's messages, the outbox and the wallet's
 * form.  Its files include this header, which includes the ledger layer's;
 * nothing here reaches a layer above (tools/layers.py).
 */


#ifndef _NGX_MEMBER_WECHAT_H_INCLUDED_
#define _NGX_MEMBER_WECHAT_H_INCLUDED_


#include "ngx_member_ledger.h"

/* ngx_http_member_outbox.c */
char *ngx_http_member_outbox_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_member_outbox_init(ngx_conf_t *cf,
    ngx_http_member_main_conf_t *mmcf);
ngx_int_t ngx_http_member_outbox_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf);
void ngx_http_member_outbox_exit_process(ngx_http_member_main_conf_t *mmcf);
void ngx_http_member_outbox_touch(ngx_http_member_redis_t *redis,
    uint64_t id);
ngx_int_t ngx_http_member_outbox_admin(ngx_http_request_t *r);

/* ngx_http_member_form.c: WeChat's activation form of a wallet card */
typedef ngx_int_t (*ngx_http_member_form_pt)(ngx_http_request_t *r,
    ngx_int_t rc, uint64_t target);

ngx_int_t ngx_http_member_form_read(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *card_id, ngx_str_t *code, ngx_str_t *openid,
    ngx_http_member_form_pt done);

/* ngx_http_member_wechat.c */
ngx_int_t ngx_http_member_wechat_get(ngx_http_request_t *r, ngx_str_t *path,
    ngx_str_t *args, ngx_int_t (*done)(ngx_http_request_t *r));
ngx_int_t ngx_http_member_wechat_post(ngx_http_request_t *r, ngx_str_t *path,
    ngx_str_t *args, ngx_str_t *body, ngx_int_t (*done)(ngx_http_request_t *r));
ngx_int_t ngx_http_member_wechat_post_token(ngx_http_request_t *r,
    ngx_str_t *path, ngx_str_t *token, ngx_str_t *body,
    ngx_int_t (*done)(ngx_http_request_t *r));

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

/* ngx_http_member_oa.c */
char *ngx_http_member_oa_aes_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_MEMBER_WECHAT_H_INCLUDED_ */
