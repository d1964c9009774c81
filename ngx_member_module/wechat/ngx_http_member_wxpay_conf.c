
/*
 * ngx_member: the WeChat Pay API v3 directives (member_wxpay_*).  Keys are
 * read once, when the configuration is read, through gateway/; a bad key
 * file, an APIv3 key that is not 32 bytes or a missing setting fails
 * nginx -t.  No key, nor any part of one, goes into a message.
 */


#include "ngx_member_wechat.h"


static ngx_http_member_wxpay_conf_t *ngx_http_member_wxpay_get(
    ngx_conf_t *cf, ngx_http_member_loc_conf_t *mlcf);
static void ngx_http_member_wxpay_cleanup(void *data);


/* the settings of a server, made by its first member_wxpay_* directive */

static ngx_http_member_wxpay_conf_t *
ngx_http_member_wxpay_get(ngx_conf_t *cf, ngx_http_member_loc_conf_t *mlcf)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_member_wxpay_conf_t  *wx;

    if (mlcf->wxpay != NGX_CONF_UNSET_PTR && mlcf->wxpay != NULL) {
        return mlcf->wxpay;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    wx = ngx_pcalloc(cf->pool, sizeof(ngx_http_member_wxpay_conf_t));

    if (cln == NULL || wx == NULL) {
        return NULL;
    }

    if (ngx_array_init(&wx->platforms, cf->pool, 2,
                       sizeof(mgw_wxpay_platform_t))
        != NGX_OK)
    {
        return NULL;
    }

    /* the keys are freed and wiped when the configuration goes */
    cln->handler = ngx_http_member_wxpay_cleanup;
    cln->data = wx;

    mlcf->wxpay = wx;

    return wx;
}


static void
ngx_http_member_wxpay_cleanup(void *data)
{
    ngx_http_member_wxpay_conf_t *wx = data;

    ngx_uint_t             i;
    mgw_wxpay_platform_t  *p;

    if (wx->merchant) {
        mgw_wxpay_key_free(wx->merchant);
        wx->merchant = NULL;
    }

    p = wx->platforms.elts;

    for (i = 0; i < wx->platforms.nelts; i++) {
        mgw_wxpay_key_free((mgw_wxpay_key_t *) p[i].key);
        p[i].key = NULL;
    }

    ngx_explicit_memzero(wx->apiv3_key, sizeof(wx->apiv3_key));
}


/*
 * member_wxpay_mchid ID; member_wxpay_serial SERIAL;
 * member_wxpay_api PREFIX; member_wxpay_notify_url URL;
 */

char *
ngx_http_member_wxpay_str(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                     *value, *field;
    ngx_http_member_wxpay_conf_t  *wx;

    wx = ngx_http_member_wxpay_get(cf, conf);
    if (wx == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    switch (cmd->offset) {

    case NGX_HTTP_MEMBER_WXPAY_MCHID:
        field = &wx->mchid;

        if (ngx_http_member_wechat_chars(&value[1], MGW_WXPAY_MCHID_MAX, NULL)
            != NGX_OK)
        {
            return "needs the merchant id: digits";
        }

        break;

    case NGX_HTTP_MEMBER_WXPAY_SERIAL:
        field = &wx->serial;

        if (ngx_http_member_wechat_chars(&value[1], MGW_WXPAY_SERIAL_MAX, "_")
            != NGX_OK)
        {
            return "needs the serial number of the merchant's API "
                   "certificate: [A-Za-z0-9_]";
        }

        break;

    case NGX_HTTP_MEMBER_WXPAY_API:
        field = &wx->api;

        if (value[1].len == 0 || value[1].data[0] != '/'
            || value[1].data[value[1].len - 1] == '/')
        {
            return "needs an internal location's prefix: \"/\" and no "
                   "\"/\" at its end";
        }

        break;

    default: /* NGX_HTTP_MEMBER_WXPAY_NOTIFY_URL */
        field = &wx->notify_url;

        if (!((value[1].len > 8
               && ngx_strncmp(value[1].data, "https://", 8) == 0)
              || (value[1].len > 7
                  && ngx_strncmp(value[1].data, "http://", 7) == 0))
            || value[1].len > 256
            || ngx_strlchr(value[1].data, value[1].data + value[1].len, '?')
            || ngx_strlchr(value[1].data, value[1].data + value[1].len, '"')
            || ngx_strlchr(value[1].data, value[1].data + value[1].len,
                           '\\'))
        {
            return "needs an absolute URL without a query: https://...";
        }

        break;
    }

    if (field->data) {
        return "is duplicate";
    }

    *field = value[1];

    return NGX_CONF_OK;
}


/* member_wxpay_key FILE: the merchant's apiclient_key.pem */

char *
ngx_http_member_wxpay_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                     *value, file;
    mgw_status_t                   rc;
    ngx_http_member_wxpay_conf_t  *wx;

    wx = ngx_http_member_wxpay_get(cf, conf);
    if (wx == NULL) {
        return NGX_CONF_ERROR;
    }

    if (wx->merchant) {
        return "is duplicate";
    }

    value = cf->args->elts;
    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    rc = mgw_wxpay_key_private_file((char *) file.data, &wx->merchant);

    if (rc != MGW_OK) {
        wx->merchant = NULL;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": cannot use \"%V\" as the merchant's "
                           "private key (%s): an unencrypted RSA key of at "
                           "least 2048 bits in PEM expected",
                           &cmd->name, &file, mgw_status_str(rc));
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* member_wxpay_apiv3_key KEY: the 32 bytes of the APIv3 key, as set */

char *
ngx_http_member_wxpay_apiv3_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    size_t                         i;
    ngx_str_t                     *value;
    ngx_http_member_wxpay_conf_t  *wx;

    wx = ngx_http_member_wxpay_get(cf, conf);
    if (wx == NULL) {
        return NGX_CONF_ERROR;
    }

    if (wx->apiv3_set) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* never the key itself in the message */
    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] <= ' ' || value[1].data[i] >= 0x7f) {
            break;
        }
    }

    if (value[1].len != MGW_WXPAY_APIV3_KEY_LEN || i != value[1].len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key in \"%V\" directive: the APIv3 key "
                           "is 32 printable characters", &cmd->name);
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(wx->apiv3_key, value[1].data, MGW_WXPAY_APIV3_KEY_LEN);
    wx->apiv3_set = 1;

    return NGX_CONF_OK;
}


/*
 * member_wxpay_platform_key SERIAL FILE: a platform public key (public-key
 * mode, SERIAL is its PUB_KEY_ID_...) or certificate (SERIAL must be the
 * certificate's); one per directive, several during a rotation.
 */

char *
ngx_http_member_wxpay_platform_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char                           serial[MGW_WXPAY_SERIAL_MAX + 1];
    size_t                         len;
    ngx_str_t                     *value, file;
    ngx_uint_t                     i;
    mgw_status_t                   rc;
    mgw_wxpay_key_t               *key;
    mgw_wxpay_platform_t          *p;
    ngx_http_member_wxpay_conf_t  *wx;

    wx = ngx_http_member_wxpay_get(cf, conf);
    if (wx == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    if (ngx_http_member_wechat_chars(&value[1], MGW_WXPAY_SERIAL_MAX, "_")
        != NGX_OK)
    {
        return "needs a serial: [A-Za-z0-9_]";
    }

    p = wx->platforms.elts;

    for (i = 0; i < wx->platforms.nelts; i++) {
        if (p[i].serial.len == value[1].len
            && ngx_strncmp(p[i].serial.data, value[1].data, value[1].len)
               == 0)
        {
            return "is duplicate for that serial";
        }
    }

    file = value[2];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    key = NULL;
    rc = mgw_wxpay_key_public_file((char *) file.data, &key);

    if (rc != MGW_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": cannot use \"%V\" as a platform key "
                           "(%s): an RSA public key or certificate of at "
                           "least 2048 bits in PEM expected",
                           &cmd->name, &file, mgw_status_str(rc));
        return NGX_CONF_ERROR;
    }

    p = ngx_array_push(&wx->platforms);
    if (p == NULL) {
        mgw_wxpay_key_free(key);
        return NGX_CONF_ERROR;
    }

    p->serial.data = value[1].data;
    p->serial.len = value[1].len;
    p->key = key;

    rc = mgw_wxpay_key_serial(key, serial, sizeof(serial), &len);

    if (rc == MGW_OK
        && (len != value[1].len
            || ngx_strncasecmp((u_char *) serial, value[1].data, len) != 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": the certificate \"%V\" has the serial "
                           "%s, not \"%V\"", &cmd->name, &file, serial,
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A location takes its server's settings.  With member_wxpay_api set,
 * everything a payment needs must be there.
 */

char *
ngx_http_member_wxpay_merge_conf(ngx_conf_t *cf,
    ngx_http_member_loc_conf_t *prev, ngx_http_member_loc_conf_t *conf)
{
    ngx_http_member_wxpay_conf_t  *wx;

    ngx_conf_merge_ptr_value(conf->wxpay, prev->wxpay, NULL);

    wx = conf->wxpay;

    if (wx == NULL || wx->api.len == 0) {
        if (conf->handler == NGX_HTTP_MEMBER_WXPAY_NOTIFY) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"member_wxpay_notify\" needs "
                               "\"member_wxpay_api\" and the other "
                               "member_wxpay_* settings of its server");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (wx->mchid.len == 0 || wx->serial.len == 0 || wx->merchant == NULL
        || !wx->apiv3_set || wx->platforms.nelts == 0
        || wx->notify_url.len == 0 || conf->wechat_appid.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"member_wxpay_api\" needs "
                           "\"member_wxpay_mchid\", \"member_wxpay_key\", "
                           "\"member_wxpay_serial\", "
                           "\"member_wxpay_apiv3_key\", "
                           "\"member_wxpay_notify_url\", at least one "
                           "\"member_wxpay_platform_key\" and "
                           "\"member_wechat_appid\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
