
/*
 * ngx_member: member cards at the edge.
 * The module: directives, configuration, worker start and stop.  It sits
 * above the layers (core <- redis <- ledger <- wechat <- member <- admin)
 * and is the one file that includes the top one's header.
 */


#include <ngx_sha1.h>
#include <openssl/sha.h>

#include "ngx_member_admin.h"


static void *ngx_http_member_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_member_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_member_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_member_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_member_handler(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_member_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_member_init_process(ngx_cycle_t *cycle);
static void ngx_http_member_exit_process(ngx_cycle_t *cycle);


static char *ngx_http_member_verify_limit(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_member_page_domain(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_conf_enum_t  ngx_http_member_schemes[] = {
    { ngx_string("http"), NGX_HTTP_MEMBER_SCHEME_HTTP },
    { ngx_string("https"), NGX_HTTP_MEMBER_SCHEME_HTTPS },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_member_ttl_bounds = {
    ngx_conf_check_num_bounds, 60, 90 * 24 * 3600
};


static ngx_conf_num_bounds_t  ngx_http_member_window_bounds = {
    ngx_conf_check_num_bounds, 10, 3600
};


static ngx_conf_num_bounds_t  ngx_http_member_period_bounds = {
    ngx_conf_check_num_bounds, 10, 300
};


static ngx_command_t  ngx_http_member_commands[] = {

    { ngx_string("member_redis"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_member_redis,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("member_brand"),
      NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_member_brand,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("member_redis_cluster"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_member_redis,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("member_redis_replicas"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_member_redis_replicas,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("member_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_member_loc_conf_t, redis_timeout),
      NULL },

    { ngx_string("member_session_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_member_loc_conf_t, session_ttl),
      &ngx_http_member_ttl_bounds },

    /* the scheme browsers use, when a proxy in front terminates TLS */
    { ngx_string("member_scheme"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_member_loc_conf_t, scheme),
      &ngx_http_member_schemes },

    { ngx_string("member_wechat_appid"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_member_loc_conf_t, wechat_appid),
      NULL },

    { ngx_string("member_wechat_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_member_loc_conf_t, wechat_secret),
      NULL },

    { ngx_string("member_wechat_api"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_member_loc_conf_t, wechat_api),
      NULL },

    { ngx_string("member_wechat_stable_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_member_loc_conf_t, wechat_stable_token),
      NULL },

    { ngx_string("member_page_domain"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_member_page_domain,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("member_wechat_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_member_loc_conf_t, wechat_token),
      NULL },

    { ngx_string("member_wechat_aes_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_member_oa_aes_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("member_wechat_oa_window"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_member_loc_conf_t, wechat_window),
      &ngx_http_member_window_bounds },

    /* WeChat Pay API v3: wechat/ngx_http_member_wxpay_conf.c */
    { ngx_string("member_wxpay_mchid"),
      NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_member_wxpay_str,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MEMBER_WXPAY_MCHID,
      NULL },

    { ngx_string("member_wxpay_key"),
      NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_member_wxpay_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("member_wxpay_serial"),
      NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_member_wxpay_str,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MEMBER_WXPAY_SERIAL,
      NULL },

    { ngx_string("member_wxpay_apiv3_key"),
      NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_member_wxpay_apiv3_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("member_wxpay_platform_key"),
      NGX_HTTP_SRV_CONF|NGX_CONF_TAKE2,
      ngx_http_member_wxpay_platform_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("member_wxpay_api"),
      NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_member_wxpay_str,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MEMBER_WXPAY_API,
      NULL },

    { ngx_string("member_wxpay_notify_url"),
      NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_member_wxpay_str,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MEMBER_WXPAY_NOTIFY_URL,
      NULL },

    { ngx_string("member_admin_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_member_loc_conf_t, admin_token),
      NULL },

    { ngx_string("member_pii_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_member_pii_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("member_code_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_member_loc_conf_t, code_secret),
      NULL },

    { ngx_string("member_code_period"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_member_loc_conf_t, code_period),
      &ngx_http_member_period_bounds },

    { ngx_string("member_scan_verify_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE23,
      ngx_http_member_verify_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("member_test_clock"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_member_main_conf_t, test_clock),
      NULL },

    { ngx_string("member_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_member_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MEMBER_STATUS,
      NULL },

    { ngx_string("member_wechat_login"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_member_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MEMBER_LOGIN,
      NULL },

    { ngx_string("member_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_member_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MEMBER_API,
      NULL },

    { ngx_string("member_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_member_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MEMBER_ADMIN,
      NULL },

    { ngx_string("member_scan"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_member_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MEMBER_SCAN,
      NULL },

    { ngx_string("member_wechat_oauth"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_member_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MEMBER_OAUTH,
      NULL },

    { ngx_string("member_wechat_outbox"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_member_outbox_url,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("member_wechat_oa"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_member_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MEMBER_OA,
      NULL },

    { ngx_string("member_wxpay_notify"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_member_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MEMBER_WXPAY_NOTIFY,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_member_module_ctx = {
    ngx_http_member_api_add_variables,     /* preconfiguration */
    ngx_http_member_postconfiguration,     /* postconfiguration */

    ngx_http_member_create_main_conf,      /* create main configuration */
    ngx_http_member_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_member_create_loc_conf,       /* create location configuration */
    ngx_http_member_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_member_module = {
    NGX_MODULE_V1,
    &ngx_http_member_module_ctx,           /* module context */
    ngx_http_member_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_member_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_member_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_handler_pt  ngx_http_member_handlers[] = {
    NULL,
    ngx_http_member_status_handler,
    ngx_http_member_login_handler,
    ngx_http_member_api_handler,
    ngx_http_member_admin_handler,
    ngx_http_member_scan_handler,
    ngx_http_member_oauth_handler,
    ngx_http_member_oa_handler,
    ngx_http_member_wxpay_notify_handler
};


static ngx_int_t
ngx_http_member_content_handler(ngx_http_request_t *r)
{
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    return ngx_http_member_handlers[mlcf->handler](r);
}


static void *
ngx_http_member_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_member_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_member_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mmcf->scripts = { 0 };
     *     mmcf->stats_zone = NULL;
     */

    mmcf->test_clock = NGX_CONF_UNSET;

    if (ngx_array_init(&mmcf->redis, cf->pool, 2,
                       sizeof(ngx_http_member_redis_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return mmcf;
}


static char *
ngx_http_member_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_member_main_conf_t *mmcf = conf;

    u_char                               digest[20];
    ngx_uint_t                           i;
    ngx_sha1_t                           sha1;
    const ngx_http_member_script_src_t  *src;

    ngx_conf_init_value(mmcf->test_clock, 0);

    /* EVALSHA needs the hashes; the scripts themselves load on NOSCRIPT */
    for (i = 0; i < NGX_HTTP_MEMBER_SCRIPT_COUNT; i++) {
        src = &ngx_http_member_script_srcs[i];

        ngx_sha1_init(&sha1);
        ngx_sha1_update(&sha1, src->text, src->len);
        ngx_sha1_final(digest, &sha1);

        ngx_hex_dump(mmcf->scripts[i].sha1, digest, 20);
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_member_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_member_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_member_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->handler = NGX_HTTP_MEMBER_NONE;
     *     conf->brand = { 0, NULL };
     *     conf->wechat_appid = { 0, NULL };
     *     conf->wechat_secret = { 0, NULL };
     *     conf->wechat_api = { 0, NULL };
     *     conf->wechat_token = { 0, NULL };
     *     conf->admin_token = { 0, NULL };
     *     conf->code_secret = { 0, NULL };
     */

    conf->redis = NGX_CONF_UNSET_PTR;
    conf->keys = NGX_CONF_UNSET_PTR;
    conf->page_domains = NGX_CONF_UNSET_PTR;
    conf->outbox = NGX_CONF_UNSET_PTR;
    conf->wechat_stable_token = NGX_CONF_UNSET;
    conf->wechat_aes_keys = NGX_CONF_UNSET_PTR;
    conf->wechat_window = NGX_CONF_UNSET;
    conf->wxpay = NGX_CONF_UNSET_PTR;
    conf->redis_timeout = NGX_CONF_UNSET_MSEC;
    conf->redis_replicas = NGX_CONF_UNSET_UINT;
    conf->redis_replicas_timeout = NGX_CONF_UNSET_MSEC;
    conf->session_ttl = NGX_CONF_UNSET;
    conf->scheme = NGX_CONF_UNSET_UINT;
    conf->code_period = NGX_CONF_UNSET;
    conf->scan_store_limit = NGX_CONF_UNSET_UINT;
    conf->scan_address_limit = NGX_CONF_UNSET_UINT;
    conf->scan_failure_limit = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_member_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_member_loc_conf_t *prev = parent;
    ngx_http_member_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->keys, prev->keys, NULL);
    ngx_conf_merge_ptr_value(conf->page_domains, prev->page_domains, NULL);
    ngx_conf_merge_ptr_value(conf->outbox, prev->outbox, NULL);
    ngx_conf_merge_value(conf->wechat_stable_token,
                         prev->wechat_stable_token, 0);
    ngx_conf_merge_sec_value(conf->session_ttl, prev->session_ttl,
                             NGX_HTTP_MEMBER_SESSION_TTL);
    ngx_conf_merge_uint_value(conf->scheme, prev->scheme,
                              NGX_HTTP_MEMBER_SCHEME_CONNECTION);

    ngx_conf_merge_str_value(conf->wechat_appid, prev->wechat_appid, "");
    ngx_conf_merge_str_value(conf->wechat_secret, prev->wechat_secret, "");
    ngx_conf_merge_str_value(conf->wechat_api, prev->wechat_api, "");
    ngx_conf_merge_str_value(conf->wechat_token, prev->wechat_token, "");
    ngx_conf_merge_ptr_value(conf->wechat_aes_keys, prev->wechat_aes_keys,
                             NULL);
    ngx_conf_merge_sec_value(conf->wechat_window, prev->wechat_window, 300);

    if (ngx_http_member_wxpay_merge_conf(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_str_value(conf->admin_token, prev->admin_token, "");
    if (conf->code_secret.data == NULL) {
        conf->coder = prev->coder;
    }

    ngx_conf_merge_str_value(conf->code_secret, prev->code_secret, "");
    ngx_conf_merge_sec_value(conf->code_period, prev->code_period, 30);
    ngx_conf_merge_uint_value(conf->scan_store_limit, prev->scan_store_limit,
                              600);
    ngx_conf_merge_uint_value(conf->scan_address_limit,
                              prev->scan_address_limit, 120);
    ngx_conf_merge_uint_value(conf->scan_failure_limit,
                              prev->scan_failure_limit, 20);

    if (conf->code_secret.len && conf->code_secret.len < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"member_code_secret\" needs at least 16 "
                           "characters");
        return NGX_CONF_ERROR;
    }

    if (conf->code_secret.len && conf->coder == NULL) {
        conf->coder = ngx_http_member_code_coder(cf, &conf->code_secret);
        if (conf->coder == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    /* member_redis and member_brand, and a brand's own client */
    if (ngx_http_member_redis_merge_conf(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->handler == NGX_HTTP_MEMBER_NONE
        || conf->handler == NGX_HTTP_MEMBER_STATUS)
    {
        return NGX_CONF_OK;
    }

    if (conf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "member handler without \"member_redis\" or "
                           "\"member_redis_cluster\"");
        return NGX_CONF_ERROR;
    }

    /* personal data and WeChat's session keys are sealed with it */
    if (conf->handler == NGX_HTTP_MEMBER_API && conf->keys == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"member_api\" needs a \"member_pii_key\"");
        return NGX_CONF_ERROR;
    }

    if (conf->handler == NGX_HTTP_MEMBER_SCAN
        && (conf->code_secret.len == 0 || conf->keys == NULL))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"member_scan\" needs \"member_code_secret\" "
                           "and \"member_pii_key\"");
        return NGX_CONF_ERROR;
    }

    if (conf->handler == NGX_HTTP_MEMBER_LOGIN
        && (conf->wechat_appid.len == 0 || conf->wechat_secret.len == 0
            || conf->wechat_api.len == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"member_wechat_login\" needs "
                           "\"member_wechat_appid\", \"member_wechat_secret\""
                           " and \"member_wechat_api\"");
        return NGX_CONF_ERROR;
    }

    /* WeChat's session_key is never stored in clear */
    if (conf->handler == NGX_HTTP_MEMBER_LOGIN && conf->keys == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"member_wechat_login\" needs a "
                           "\"member_pii_key\": the session_key is stored "
                           "sealed with it");
        return NGX_CONF_ERROR;
    }

    if (conf->handler == NGX_HTTP_MEMBER_OAUTH
        && (conf->wechat_appid.len == 0 || conf->wechat_secret.len == 0
            || conf->wechat_api.len == 0 || conf->keys == NULL))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"member_wechat_oauth\" needs "
                           "\"member_wechat_appid\", \"member_wechat_secret\""
                           ", \"member_wechat_api\" and \"member_pii_key\"");
        return NGX_CONF_ERROR;
    }

    if (conf->handler == NGX_HTTP_MEMBER_OA
        && (conf->wechat_token.len < 3 || conf->wechat_token.len > 32
            || conf->wechat_appid.len == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"member_wechat_oa\" needs a "
                           "\"member_wechat_token\" of 3 to 32 characters "
                           "and \"member_wechat_appid\"");
        return NGX_CONF_ERROR;
    }

    if (conf->handler == NGX_HTTP_MEMBER_ADMIN
        && (conf->admin_token.len < 16 || conf->keys == NULL))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"member_admin\" needs a \"member_admin_token\" "
                           "of at least 16 characters and a "
                           "\"member_pii_key\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * member_scan_verify_limit <per store> <per address> [<failures per store>];
 * all a minute
 */

static char *
ngx_http_member_verify_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_member_loc_conf_t *mlcf = conf;

    ngx_int_t   store, address, failures;
    ngx_str_t  *value;

    if (mlcf->scan_store_limit != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    store = ngx_atoi(value[1].data, value[1].len);
    address = ngx_atoi(value[2].data, value[2].len);
    failures = (cf->args->nelts == 4)
               ? ngx_atoi(value[3].data, value[3].len) : 20;

    if (store <= 0 || address <= 0 || failures <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value in \"%V\" directive", &cmd->name);
        return NGX_CONF_ERROR;
    }

    mlcf->scan_store_limit = store;
    mlcf->scan_address_limit = address;
    mlcf->scan_failure_limit = failures;

    return NGX_CONF_OK;
}


/*
 * member_page_domain example.com .example.org ...; a leading dot also
 * takes the subdomains.
 */

static char *
ngx_http_member_page_domain(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_member_loc_conf_t *mlcf = conf;

    ngx_str_t   *value, *d;
    ngx_uint_t   i, j;

    if (mlcf->page_domains == NGX_CONF_UNSET_PTR) {
        mlcf->page_domains = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
        if (mlcf->page_domains == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (j = 0; j < value[i].len; j++) {
            if (!(isalnum(value[i].data[j]) || value[i].data[j] == '-'
                  || value[i].data[j] == '.'))
            {
                break;
            }
        }

        if (value[i].len == 0 || j < value[i].len
            || value[i].data[value[i].len - 1] == '.')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\" directive",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }

        d = ngx_array_push(mlcf->page_domains);
        if (d == NULL) {
            return NGX_CONF_ERROR;
        }

        *d = value[i];
        ngx_strlow(d->data, d->data, d->len);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_member_handler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_member_loc_conf_t *mlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (mlcf->handler != NGX_HTTP_MEMBER_NONE) {
        return "is duplicate";
    }

    mlcf->handler = cmd->offset;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_member_content_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_member_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt          *h;
    ngx_http_core_main_conf_t    *cmcf;
    ngx_http_member_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_member_module);

    if (ngx_http_member_stats_init_zone(cf, mmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a member_redis that every block's brand took over serves nobody */
    ngx_http_member_redis_drop_unused(mmcf);

    /* the server blocks are merged by now: one outbox for every brand */
    if (ngx_http_member_outbox_init(cf, mmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_member_log_handler;

    return ngx_http_member_error_filter_init(cf);
}


static ngx_int_t
ngx_http_member_init_process(ngx_cycle_t *cycle)
{
    ngx_http_member_main_conf_t  *mmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_member_module);
    if (mmcf == NULL) {
        return NGX_OK;
    }

    if (ngx_http_member_redis_init_process(cycle, mmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_member_ledger_init_process(cycle, mmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_member_analytics_init_process(cycle, mmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_member_fold_init_process(cycle, mmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_member_outbox_init_process(cycle, mmcf);
}


static void
ngx_http_member_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_member_main_conf_t  *mmcf;

    mmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_member_module);
    if (mmcf == NULL) {
        return;
    }

    ngx_http_member_outbox_exit_process(mmcf);
    ngx_http_member_ledger_exit_process(mmcf);
    ngx_http_member_redis_exit_process(mmcf);
    ngx_http_member_digest_free();
}
