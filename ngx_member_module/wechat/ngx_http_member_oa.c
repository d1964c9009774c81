
/*
 * ngx_member: the official account's server URL (member_wechat_oa).
 *
 *   GET  ?signature&timestamp&nonce&echostr     URL verification
 *   POST ?signature&timestamp&nonce[&encrypt_type=aes&msg_signature]
 *        a pushed message or event: plain, compatible or safe mode
 *
 * With member_wechat_aes_key only encrypt_type=aes pushes are read: a
 * plain body is signed by nothing.  The checks run cheapest first: the
 * query (timestamp window, formats, the mode and, in plain mode, the
 * signature) before the body is read; in AES mode
 * msg_signature before anything is decrypted, then the AppID inside; then
 * the XML.  Only then is Redis touched: the (timestamp, nonce) is spent,
 * where the same message again (WeChat retrying) passes; a card event
 * runs as one script on the member's keys that applies it once; a text
 * message gets a text reply, sealed in AES mode.
 *
 * Here: the checks, the decryption, the replay's nonce and the replies;
 * the card events and text messages they let through are
 * ngx_http_member_oa_event.c.
 */


#include "ngx_member_wechat.h"


#define NGX_HTTP_MEMBER_OA_TEXT_MAX    4096


/* the EncodingAESKey and the one it replaced, while WeChat still uses it */
struct ngx_http_member_oa_keys_s {
    mgw_aes_key_t               key[2];
    ngx_uint_t                  n;
};


typedef struct {
    ngx_uint_t                  status;
    const char                 *code;
    const char                 *message;
} ngx_http_member_oa_err_t;


static ngx_http_member_oa_err_t *ngx_http_member_oa_query(
    ngx_http_request_t *r, ngx_http_member_oa_t *oa);
static ngx_int_t ngx_http_member_oa_verify_url(ngx_http_request_t *r);
static void ngx_http_member_oa_body(ngx_http_request_t *r);
static ngx_http_member_oa_err_t *ngx_http_member_oa_open(
    ngx_http_request_t *r, ngx_http_member_oa_t *oa, ngx_str_t *body);
static ngx_http_member_oa_err_t *ngx_http_member_oa_decrypt(
    ngx_http_request_t *r, ngx_http_member_oa_t *oa, mgw_xml_t *outer);
static ngx_http_member_oa_err_t *ngx_http_member_oa_message(
    ngx_http_request_t *r, ngx_http_member_oa_t *oa);
static ngx_int_t ngx_http_member_oa_spend_nonce(ngx_http_request_t *r,
    ngx_http_member_oa_t *oa);
static ngx_int_t ngx_http_member_oa_fresh(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_oa_refuse(ngx_http_request_t *r,
    ngx_http_member_oa_err_t *err, const char *detail);
static void ngx_http_member_oa_keys_wipe(void *data);


static ngx_http_member_oa_err_t  ngx_http_member_oa_unsigned = {
    NGX_HTTP_UNAUTHORIZED, "unauthorized",
    "the push is not signed as WeChat's"
};

static ngx_http_member_oa_err_t  ngx_http_member_oa_not_sealed = {
    NGX_HTTP_UNAUTHORIZED, "unauthorized",
    "with member_wechat_aes_key, only encrypt_type=aes pushes are accepted"
};

static ngx_http_member_oa_err_t  ngx_http_member_oa_stale = {
    NGX_HTTP_UNAUTHORIZED, "unauthorized",
    "the timestamp is outside the accepted window"
};

static ngx_http_member_oa_err_t  ngx_http_member_oa_bad_signature = {
    NGX_HTTP_UNAUTHORIZED, "bad_signature", "the signature is wrong"
};

static ngx_http_member_oa_err_t  ngx_http_member_oa_other_appid = {
    NGX_HTTP_UNAUTHORIZED, "unauthorized",
    "the message is for another account"
};

static ngx_http_member_oa_err_t  ngx_http_member_oa_bad_cipher = {
    NGX_HTTP_BAD_REQUEST, "bad_request",
    "the encrypted message is malformed"
};

static ngx_http_member_oa_err_t  ngx_http_member_oa_bad_xml = {
    NGX_HTTP_BAD_REQUEST, "bad_request", "the body is not WeChat's XML"
};

static ngx_http_member_oa_err_t  ngx_http_member_oa_bad_message = {
    NGX_HTTP_BAD_REQUEST, "bad_request",
    "the message lacks a field or has an invalid one"
};

static ngx_http_member_oa_err_t  ngx_http_member_oa_bad_mode = {
    NGX_HTTP_BAD_REQUEST, "bad_request",
    "unknown encrypt_type, or no member_wechat_aes_key for it"
};

static ngx_http_member_oa_err_t  ngx_http_member_oa_bad_echostr = {
    NGX_HTTP_BAD_REQUEST, "bad_request", "echostr is missing or invalid"
};

static ngx_http_member_oa_err_t  ngx_http_member_oa_internal = {
    NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL
};


static ngx_str_t  ngx_http_member_oa_text_type = ngx_string("text/plain");
static ngx_str_t  ngx_http_member_oa_xml_type = ngx_string("application/xml");


ngx_int_t
ngx_http_member_oa_handler(ngx_http_request_t *r)
{
    ngx_http_member_oa_t      *oa;
    ngx_http_member_ctx_t     *ctx;
    ngx_http_member_oa_err_t  *err;

    /* WeChat's query: signatures and, in plain mode, the openid */
    if (ngx_http_member_hide_query(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_POST) {
        return ngx_http_member_method_not_allowed(r);
    }

    ctx = ngx_http_member_get_ctx(r);
    oa = ngx_pcalloc(r->pool, sizeof(ngx_http_member_oa_t));

    if (ctx == NULL || oa == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->oa = oa;

    /* the cheap checks before the body is read */
    err = ngx_http_member_oa_query(r, oa);
    if (err) {
        return ngx_http_member_oa_refuse(r, err, NULL);
    }

    if (r->method == NGX_HTTP_GET) {
        return ngx_http_member_oa_verify_url(r);
    }

    return ngx_http_member_read_json(r, ngx_http_member_oa_body);
}


static ngx_int_t
ngx_http_member_oa_refuse(ngx_http_request_t *r,
    ngx_http_member_oa_err_t *err, const char *detail)
{
    if (err->code == NULL) {
        return err->status;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "member: official-account push refused: %s%s%s",
                  err->message, detail ? ": " : "", detail ? detail : "");

    return ngx_http_member_error(r, err->status, err->code, err->message);
}


/* sha1hex(sort(token, timestamp, nonce[, Encrypt])) == sig */

static ngx_int_t
ngx_http_member_oa_signed(ngx_http_request_t *r, ngx_http_member_oa_t *oa,
    ngx_str_t *sig, const char *encrypt, size_t encrypt_len)
{
    size_t                       n;
    mgw_str_t                    parts[4];
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    parts[0].data = mlcf->wechat_token.data;
    parts[0].len = mlcf->wechat_token.len;
    parts[1].data = oa->timestamp.data;
    parts[1].len = oa->timestamp.len;
    parts[2].data = oa->nonce.data;
    parts[2].len = oa->nonce.len;
    n = 3;

    if (encrypt) {
        parts[3].data = (const uint8_t *) encrypt;
        parts[3].len = encrypt_len;
        n = 4;
    }

    return mgw_signature_verify(parts, n, sig->data, sig->len) == MGW_OK
           ? NGX_OK : NGX_DECLINED;
}


static ngx_http_member_oa_err_t *
ngx_http_member_oa_query(ngx_http_request_t *r, ngx_http_member_oa_t *oa)
{
    time_t                       ts, now;
    ngx_str_t                    type, signature;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (ngx_http_arg(r, (u_char *) "timestamp", 9, &oa->timestamp) != NGX_OK
        || ngx_http_arg(r, (u_char *) "nonce", 5, &oa->nonce) != NGX_OK
        || ngx_http_member_wechat_chars(&oa->timestamp, 12, NULL) != NGX_OK
        || ngx_http_member_wechat_chars(&oa->nonce, 32, "_-") != NGX_OK)
    {
        return &ngx_http_member_oa_unsigned;
    }

    ts = ngx_atotm(oa->timestamp.data, oa->timestamp.len);
    now = ngx_time();

    if (ts == NGX_ERROR || ts < now - mlcf->wechat_window
        || ts > now + mlcf->wechat_window)
    {
        return &ngx_http_member_oa_stale;
    }

    if (r->method == NGX_HTTP_POST
        && ngx_http_arg(r, (u_char *) "encrypt_type", 12, &type) == NGX_OK
        && !(type.len == 3 && ngx_strncmp(type.data, "raw", 3) == 0))
    {
        if (type.len != 3 || ngx_strncmp(type.data, "aes", 3) != 0
            || mlcf->wechat_aes_keys == NULL)
        {
            return &ngx_http_member_oa_bad_mode;
        }

        /* msg_signature covers Encrypt: it is checked with the body */
        if (ngx_http_arg(r, (u_char *) "msg_signature", 13,
                         &oa->msg_signature)
            != NGX_OK)
        {
            return &ngx_http_member_oa_unsigned;
        }

        oa->aes = 1;

        return NULL;
    }

    /*
     * safe mode: a plain push's body is signed by nothing, so with a key
     * only what the key sealed is read (GET, the URL check, stays plain)
     */
    if (r->method == NGX_HTTP_POST && mlcf->wechat_aes_keys != NULL) {
        return &ngx_http_member_oa_not_sealed;
    }

    if (ngx_http_arg(r, (u_char *) "signature", 9, &signature) != NGX_OK) {
        return &ngx_http_member_oa_unsigned;
    }

    if (ngx_http_member_oa_signed(r, oa, &signature, NULL, 0) != NGX_OK) {
        return &ngx_http_member_oa_bad_signature;
    }

    return NULL;
}


static ngx_int_t
ngx_http_member_oa_verify_url(ngx_http_request_t *r)
{
    u_char     *p;
    ngx_str_t   echostr;

    /* echoed as it came: only characters that cannot make markup */
    if (ngx_http_arg(r, (u_char *) "echostr", 7, &echostr) != NGX_OK
        || ngx_http_member_wechat_chars(&echostr, 128, "_-") != NGX_OK)
    {
        return ngx_http_member_oa_refuse(r, &ngx_http_member_oa_bad_echostr,
                                         NULL);
    }

    p = ngx_pnalloc(r->pool, echostr.len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, echostr.data, echostr.len);

    return ngx_http_member_send_raw(r, NGX_HTTP_OK,
                                    &ngx_http_member_oa_text_type, p,
                                    echostr.len);
}


static void
ngx_http_member_oa_body(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  body;
    ngx_http_member_oa_t      *oa;
    ngx_http_member_ctx_t     *ctx;
    ngx_http_member_oa_err_t  *err;

    rc = ngx_http_member_body_raw(r, &body);
    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    oa = ctx->oa;

    err = ngx_http_member_oa_open(r, oa, &body);

    if (err == NULL) {
        err = ngx_http_member_oa_message(r, oa);
    }

    if (err) {
        ngx_http_finalize_request(r,
            ngx_http_member_oa_refuse(r, err,
                                      (oa->xml && oa->xml->errstr[0])
                                      ? oa->xml->errstr : NULL));
        return;
    }

    ngx_http_finalize_request(r, ngx_http_member_oa_spend_nonce(r, oa));
}


static mgw_xml_t *
ngx_http_member_oa_xml(ngx_http_request_t *r, size_t len)
{
    u_char     *store;
    size_t      cap;
    mgw_xml_t  *x;

    cap = MGW_XML_STORE_SIZE(len);

    x = ngx_palloc(r->pool, sizeof(mgw_xml_t));
    store = ngx_pnalloc(r->pool, cap);

    if (x == NULL || store == NULL) {
        return NULL;
    }

    mgw_xml_init(x, store, cap);

    return x;
}


static ngx_http_member_oa_err_t *
ngx_http_member_oa_open(ngx_http_request_t *r, ngx_http_member_oa_t *oa,
    ngx_str_t *body)
{
    mgw_xml_t  *x;

    x = ngx_http_member_oa_xml(r, body->len);
    if (x == NULL) {
        return &ngx_http_member_oa_internal;
    }

    oa->xml = x;

    if (body->len == 0 || mgw_xml_parse(x, body->data, body->len) != MGW_OK) {
        return &ngx_http_member_oa_bad_xml;
    }

    if (!oa->aes) {
        return NULL;
    }

    /* compatible mode's plaintext copy is ignored: only what is signed */
    return ngx_http_member_oa_decrypt(r, oa, x);
}


static ngx_http_member_oa_err_t *
ngx_http_member_oa_decrypt(ngx_http_request_t *r, ngx_http_member_oa_t *oa,
    mgw_xml_t *outer)
{
    u_char                      *plain;
    size_t                       cap, enc_len, len;
    ngx_uint_t                   k;
    mgw_xml_t                   *x;
    const char                  *enc;
    mgw_status_t                 rc, first;
    ngx_http_member_oa_keys_t   *keys;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);
    keys = mlcf->wechat_aes_keys;

    if (mgw_xml_get(outer, "Encrypt", 7, &enc, &enc_len) != MGW_OK
        || enc_len == 0)
    {
        return &ngx_http_member_oa_bad_xml;
    }

    /* the signature first: nothing unsigned reaches the cipher */
    if (ngx_http_member_oa_signed(r, oa, &oa->msg_signature, enc, enc_len)
        != NGX_OK)
    {
        return &ngx_http_member_oa_bad_signature;
    }

    cap = MGW_BASE64_DECODED_MAX(enc_len);

    plain = ngx_pnalloc(r->pool, cap);
    if (plain == NULL) {
        return &ngx_http_member_oa_internal;
    }

    first = MGW_OK;

    /* a rotated EncodingAESKey: WeChat may still use the previous one */
    for (k = 0; k < keys->n; k++) {
        rc = mgw_msg_decrypt(&keys->key[k], (const uint8_t *) enc, enc_len,
                             mlcf->wechat_appid.data, mlcf->wechat_appid.len,
                             plain, cap, &len);
        if (rc == MGW_OK) {
            break;
        }

        if (k == 0) {
            first = rc;
        }
    }

    if (k == keys->n) {
        return (first == MGW_ERR_APPID) ? &ngx_http_member_oa_other_appid
                                        : &ngx_http_member_oa_bad_cipher;
    }

    oa->key = k;

    x = ngx_http_member_oa_xml(r, len);
    if (x == NULL) {
        return &ngx_http_member_oa_internal;
    }

    oa->xml = x;

    if (mgw_xml_parse(x, plain, len) != MGW_OK) {
        return &ngx_http_member_oa_bad_xml;
    }

    return NULL;
}


ngx_int_t
ngx_http_member_oa_get(ngx_http_member_oa_t *oa, char *name, ngx_str_t *v)
{
    size_t       len;
    const char  *value;

    if (mgw_xml_get(oa->xml, name, ngx_strlen(name), &value, &len)
        != MGW_OK)
    {
        ngx_str_null(v);
        return NGX_DECLINED;
    }

    v->data = (u_char *) value;
    v->len = len;

    return NGX_OK;
}


static ngx_http_member_oa_err_t *
ngx_http_member_oa_message(ngx_http_request_t *r, ngx_http_member_oa_t *oa)
{
    u_char     *p;
    ngx_str_t   msg_id;

    (void) ngx_http_member_oa_get(oa, "ToUserName", &oa->to);
    (void) ngx_http_member_oa_get(oa, "FromUserName", &oa->from);
    (void) ngx_http_member_oa_get(oa, "CreateTime", &oa->create_time);
    (void) ngx_http_member_oa_get(oa, "MsgType", &oa->msg_type);

    if (ngx_http_member_wechat_chars(&oa->to, NGX_HTTP_MEMBER_OA_ID_MAX,
                                     "_-")
            != NGX_OK
        || ngx_http_member_wechat_chars(&oa->from, NGX_HTTP_MEMBER_OA_ID_MAX,
                                        "_-")
           != NGX_OK
        || ngx_http_member_wechat_chars(&oa->create_time, 12, NULL) != NGX_OK
        || ngx_http_member_wechat_chars(&oa->msg_type, 32, "_-") != NGX_OK)
    {
        return &ngx_http_member_oa_bad_message;
    }

    if (ngx_http_member_oa_get(oa, "Event", &oa->event) == NGX_OK
        && ngx_http_member_wechat_chars(&oa->event, 64, "_-") != NGX_OK)
    {
        return &ngx_http_member_oa_bad_message;
    }

    if (ngx_http_member_oa_get(oa, "Content", &oa->content) == NGX_OK
        && oa->content.len > NGX_HTTP_MEMBER_OA_TEXT_MAX)
    {
        return &ngx_http_member_oa_bad_message;
    }

    /* refused here, before anything is written, not halfway */
    if (ngx_http_member_oa_event_fields(oa) != NGX_OK) {
        return &ngx_http_member_oa_bad_message;
    }

    /* WeChat's dedupe: MsgId, else the sender, time and event */
    if (ngx_http_member_oa_get(oa, "MsgId", &msg_id) == NGX_OK) {
        if (ngx_http_member_wechat_chars(&msg_id, 32, NULL) != NGX_OK) {
            return &ngx_http_member_oa_bad_message;
        }

        oa->identity = msg_id;
        return NULL;
    }

    p = ngx_pnalloc(r->pool, oa->create_time.len + oa->msg_type.len
                             + oa->event.len + 2);
    if (p == NULL) {
        return &ngx_http_member_oa_internal;
    }

    oa->identity.data = p;
    oa->identity.len = ngx_sprintf(p, "%V:%V:%V", &oa->create_time,
                                   &oa->msg_type, &oa->event)
                       - p;

    return NULL;
}


/*
 * The (timestamp, nonce) of a signed push is single use, but WeChat
 * retrying the very same message may come with the same pair: the pair
 * remembers the message, and the same one passes to be answered again.
 */

static ngx_int_t
ngx_http_member_oa_spend_nonce(ngx_http_request_t *r,
    ngx_http_member_oa_t *oa)
{
    u_char                      *p;
    ngx_str_t                    key, args[NGX_HTTP_MEMBER_OA_NONCE_NARGV];
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    key.len = sizeof("oa:n:::") - 1 + mlcf->wechat_appid.len
              + oa->timestamp.len + oa->nonce.len;
    args[NGX_HTTP_MEMBER_OA_NONCE_ARGV_MESSAGE].len =
                                            oa->from.len + 1 + oa->identity.len;

    p = ngx_pnalloc(r->pool, key.len + NGX_TIME_T_LEN
                             + args[NGX_HTTP_MEMBER_OA_NONCE_ARGV_MESSAGE].len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    key.data = p;
    p = ngx_sprintf(p, "oa:n:%V:%V:%V", &mlcf->wechat_appid, &oa->timestamp,
                    &oa->nonce);

    args[NGX_HTTP_MEMBER_OA_NONCE_ARGV_MESSAGE].data = p;
    p = ngx_sprintf(p, "%V:%V", &oa->from, &oa->identity);

    /* as long as the timestamp can still be accepted */
    args[NGX_HTTP_MEMBER_OA_NONCE_ARGV_TTL].data = p;
    args[NGX_HTTP_MEMBER_OA_NONCE_ARGV_TTL].len =
                         ngx_sprintf(p, "%T", 2 * mlcf->wechat_window + 60) - p;

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_OA_NONCE,
                                        ngx_http_member_oa_fresh, &key, args,
                                        0);
}


ngx_int_t
ngx_http_member_oa_is(ngx_str_t *s, char *text)
{
    size_t  len;

    len = ngx_strlen(text);

    return s->len == len && ngx_strncmp(s->data, text, len) == 0;
}


static ngx_int_t
ngx_http_member_oa_fresh(ngx_http_request_t *r, ngx_http_member_call_t *call,
    redisReply *reply)
{
    ngx_http_member_oa_t   *oa;
    ngx_http_member_ctx_t  *ctx;

    if (reply->type != REDIS_REPLY_STRING) {
        if (ngx_http_member_redis_is_error(reply, "REPLAY")) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "member: official-account push refused: "
                          "the nonce was used by another message");
        }

        return ngx_http_member_reply_script_error(r, reply);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    oa = ctx->oa;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: official-account push fresh: type \"%V\", "
                   "event \"%V\"", &oa->msg_type, &oa->event);

    return ngx_http_member_oa_event_handle(r, oa);
}


/* a passive text reply, sealed with the key that opened the push */

ngx_int_t
ngx_http_member_oa_reply(ngx_http_request_t *r, u_char *text, size_t len)
{
    u_char                      *xml, *sealed;
    u_char                       now[NGX_TIME_T_LEN], nonce[16];
    size_t                       xml_len, cap, sealed_len;
    mgw_str_t                    to, from, create_time, content, token,
                                 appid, ts, rnd;
    ngx_http_member_oa_t        *oa;
    ngx_http_member_ctx_t       *ctx;
    ngx_http_member_loc_conf_t  *mlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    oa = ctx->oa;
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    /* To and From swap: the reply goes back to the user */
    to.data = oa->from.data;
    to.len = oa->from.len;
    from.data = oa->to.data;
    from.len = oa->to.len;
    create_time.data = now;
    create_time.len = ngx_sprintf(now, "%T", ngx_time()) - now;
    content.data = text;
    content.len = len;

    cap = 256 + to.len + from.len + 2 * len;

    xml = ngx_pnalloc(r->pool, cap);
    if (xml == NULL
        || mgw_reply_text(&to, &from, &create_time, &content, xml, cap,
                          &xml_len)
           != MGW_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: official-account text reply of %uz bytes%s",
                   len, oa->aes ? ", sealed" : "");

    if (!oa->aes) {
        return ngx_http_member_send_raw(r, NGX_HTTP_OK,
                                        &ngx_http_member_oa_xml_type, xml,
                                        xml_len);
    }

    if (mgw_random_nonce((char *) nonce, sizeof(nonce)) != MGW_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    token.data = mlcf->wechat_token.data;
    token.len = mlcf->wechat_token.len;
    appid.data = mlcf->wechat_appid.data;
    appid.len = mlcf->wechat_appid.len;
    rnd.data = nonce;
    rnd.len = sizeof(nonce);

    ts = create_time;
    cap = MGW_REPLY_SEAL_LEN(xml_len, appid.len);

    sealed = ngx_pnalloc(r->pool, cap);
    if (sealed == NULL
        || mgw_reply_seal(&mlcf->wechat_aes_keys->key[oa->key], &token,
                          &appid, &ts, &rnd, xml, xml_len, NULL, sealed, cap,
                          &sealed_len)
           != MGW_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_send_raw(r, NGX_HTTP_OK,
                                    &ngx_http_member_oa_xml_type, sealed,
                                    sealed_len);
}


ngx_int_t
ngx_http_member_oa_success(ngx_http_request_t *r)
{
    static u_char  success[] = "success";

    return ngx_http_member_send_raw(r, NGX_HTTP_OK,
                                    &ngx_http_member_oa_text_type, success,
                                    sizeof(success) - 1);
}


/* member_wechat_aes_key KEY [PREVIOUS_KEY]; */

char *
ngx_http_member_oa_aes_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_member_loc_conf_t *mlcf = conf;

    size_t                      j;
    u_char                      c;
    ngx_str_t                  *value;
    ngx_uint_t                  i;
    ngx_pool_cleanup_t         *cln;
    ngx_http_member_oa_keys_t  *keys;

    if (mlcf->wechat_aes_keys != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    keys = ngx_pcalloc(cf->pool, sizeof(ngx_http_member_oa_keys_t));

    if (cln == NULL || keys == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the keys are wiped when the configuration goes */
    cln->handler = ngx_http_member_oa_keys_wipe;
    cln->data = keys;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (j = 0; j < value[i].len; j++) {
            c = value[i].data[j];

            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
                  || (c >= 'A' && c <= 'Z')))
            {
                break;
            }
        }

        /* never the key itself in the message */
        if (j != MGW_ENCODING_AES_KEY_LEN
            || value[i].len != MGW_ENCODING_AES_KEY_LEN
            || mgw_aes_key_init(&keys->key[i - 1], value[i].data,
                                value[i].len)
               != MGW_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid key %ui in \"%V\" directive: "
                               "43 characters of [A-Za-z0-9] expected",
                               i, &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    keys->n = cf->args->nelts - 1;
    mlcf->wechat_aes_keys = keys;

    return NGX_CONF_OK;
}


static void
ngx_http_member_oa_keys_wipe(void *data)
{
    ngx_http_member_oa_keys_t  *keys = data;

    mgw_aes_key_wipe(&keys->key[0]);
    mgw_aes_key_wipe(&keys->key[1]);
}
