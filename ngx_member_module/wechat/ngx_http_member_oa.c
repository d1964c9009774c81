
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
 */


#include "ngx_member_wechat.h"
#include "member_gateway.h"


#define NGX_HTTP_MEMBER_OA_DEDUPE_TTL  86400
#define NGX_HTTP_MEMBER_OA_ID_MAX      64
#define NGX_HTTP_MEMBER_OA_FIELD_MAX   256
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


/* a field of a card event, as WeChat names it and as Redis keeps it */
typedef struct {
    ngx_str_t                   wechat;
    ngx_str_t                   name;
} ngx_http_member_oa_field_t;


typedef enum {
    NGX_HTTP_MEMBER_OA_CARD = 0,
    NGX_HTTP_MEMBER_OA_POINTS,
    NGX_HTTP_MEMBER_OA_BALANCE,
    NGX_HTTP_MEMBER_OA_HELP
} ngx_http_member_oa_ask_e;


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
static ngx_int_t ngx_http_member_oa_card_event(ngx_http_request_t *r,
    uint64_t id);
static ngx_int_t ngx_http_member_oa_referrer(ngx_http_request_t *r,
    ngx_http_member_oa_t *oa, uint64_t id, ngx_str_t *referrer);
static ngx_int_t ngx_http_member_oa_applied(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_oa_text(ngx_http_request_t *r,
    ngx_http_member_oa_t *oa);
static ngx_int_t ngx_http_member_oa_text_member(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_oa_text_card(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_oa_reply(ngx_http_request_t *r,
    u_char *text, size_t len);
static ngx_int_t ngx_http_member_oa_success(ngx_http_request_t *r);
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


/* the member-card events that reach a member's record */
static ngx_str_t  ngx_http_member_oa_card_events[] = {
    ngx_string("user_get_card"),
    ngx_string("submit_membercard_user_info"),
    ngx_string("user_del_card"),
    ngx_string("user_consume_card"),
    ngx_string("user_view_card"),
    ngx_string("user_enter_session_from_card"),
    ngx_string("update_member_card"),
    ngx_string("user_gifting_card"),
    ngx_string("user_pay_from_pay_cell"),
    ngx_null_string
};


/* what the activity stream keeps of an event (VerifyCode is left out) */
static ngx_http_member_oa_field_t  ngx_http_member_oa_fields[] = {
    { ngx_string("CreateTime"), ngx_string("create_time") },
    { ngx_string("CardId"), ngx_string("card_id") },
    { ngx_string("UserCardCode"), ngx_string("card_code") },
    { ngx_string("OuterStr"), ngx_string("outer_str") },
    { ngx_string("IsGiveByFriend"), ngx_string("gifted") },
    { ngx_string("FriendUserName"), ngx_string("friend_openid") },
    { ngx_string("OldUserCardCode"), ngx_string("old_card_code") },
    { ngx_string("IsRestoreMemberCard"), ngx_string("restored") },
    { ngx_string("IsRecommendByFriend"), ngx_string("recommended") },
    { ngx_string("ConsumeSource"), ngx_string("consume_source") },
    { ngx_string("LocationName"), ngx_string("location_name") },
    { ngx_string("StaffOpenId"), ngx_string("staff_openid") },
    { ngx_string("RemarkAmount"), ngx_string("remark_amount") },
    { ngx_string("ModifyBonus"), ngx_string("modify_bonus") },
    { ngx_string("ModifyBalance"), ngx_string("modify_balance") },
    { ngx_string("IsReturnBack"), ngx_string("returned") },
    { ngx_string("IsChatRoom"), ngx_string("chat_room") },
    { ngx_string("TransId"), ngx_string("trans_id") },
    { ngx_string("LocationId"), ngx_string("location_id") },
    { ngx_string("Fee"), ngx_string("fee_fen") },
    { ngx_string("OriginalFee"), ngx_string("original_fee_fen") },
    { ngx_null_string, ngx_null_string }
};


/* the contract's default tier names until the brand's rules say others */
static ngx_str_t  ngx_http_member_oa_tiers[] = {
    ngx_string("normal"), ngx_string("普通会员"),
    ngx_string("silver"), ngx_string("银卡"),
    ngx_string("gold"), ngx_string("金卡"),
    ngx_string("platinum"), ngx_string("白金卡"),
    ngx_null_string
};


/* the words a member may send, in the order they are looked for */
static ngx_str_t  ngx_http_member_oa_asks[] = {
    ngx_string("会员卡"),
    ngx_string("积分"),
    ngx_string("余额"),
    ngx_null_string
};


static ngx_str_t  ngx_http_member_oa_help = ngx_string(
    "回复“会员卡”查看会员卡，“积分”查看积分，“余额”查看储值余额。");

static ngx_str_t  ngx_http_member_oa_no_card = ngx_string(
    "您还没有会员卡。领取会员卡后，回复“会员卡”“积分”或“余额”即可查询。");


static ngx_str_t  ngx_http_member_oa_text_type = ngx_string("text/plain");
static ngx_str_t  ngx_http_member_oa_xml_type = ngx_string("application/xml");
static ngx_str_t  ngx_http_member_oa_hmget = ngx_string("HMGET");
static ngx_str_t  ngx_http_member_oa_card_fields[] = {
    ngx_string("status"),
    ngx_string("card_no"),
    ngx_string("level"),
    ngx_string("points"),
    ngx_string("balance_fen")
};


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


static ngx_int_t
ngx_http_member_oa_chars(ngx_str_t *s, size_t max, ngx_uint_t digits)
{
    size_t  i;
    u_char  c;

    if (s->len == 0 || s->len > max) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (c >= '0' && c <= '9') {
            continue;
        }

        if (digits) {
            return NGX_ERROR;
        }

        /* openids, nonces, events: [A-Za-z0-9_-] */
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
            || c == '-')
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
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
        || ngx_http_member_oa_chars(&oa->timestamp, 12, 1) != NGX_OK
        || ngx_http_member_oa_chars(&oa->nonce, 32, 0) != NGX_OK)
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
        || ngx_http_member_oa_chars(&echostr, 128, 0) != NGX_OK)
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


static ngx_int_t
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
    u_char                      *p;
    ngx_str_t                    msg_id, v;
    ngx_http_member_oa_field_t  *f;

    (void) ngx_http_member_oa_get(oa, "ToUserName", &oa->to);
    (void) ngx_http_member_oa_get(oa, "FromUserName", &oa->from);
    (void) ngx_http_member_oa_get(oa, "CreateTime", &oa->create_time);
    (void) ngx_http_member_oa_get(oa, "MsgType", &oa->msg_type);

    if (ngx_http_member_oa_chars(&oa->to, NGX_HTTP_MEMBER_OA_ID_MAX, 0)
            != NGX_OK
        || ngx_http_member_oa_chars(&oa->from, NGX_HTTP_MEMBER_OA_ID_MAX, 0)
           != NGX_OK
        || ngx_http_member_oa_chars(&oa->create_time, 12, 1) != NGX_OK
        || ngx_http_member_oa_chars(&oa->msg_type, 32, 0) != NGX_OK)
    {
        return &ngx_http_member_oa_bad_message;
    }

    if (ngx_http_member_oa_get(oa, "Event", &oa->event) == NGX_OK
        && ngx_http_member_oa_chars(&oa->event, 64, 0) != NGX_OK)
    {
        return &ngx_http_member_oa_bad_message;
    }

    if (ngx_http_member_oa_get(oa, "Content", &oa->content) == NGX_OK
        && oa->content.len > NGX_HTTP_MEMBER_OA_TEXT_MAX)
    {
        return &ngx_http_member_oa_bad_message;
    }

    /* refused here, before anything is written, not halfway */
    for (f = ngx_http_member_oa_fields; f->wechat.len; f++) {
        if (ngx_http_member_oa_get(oa, (char *) f->wechat.data, &v) == NGX_OK
            && v.len > NGX_HTTP_MEMBER_OA_FIELD_MAX)
        {
            return &ngx_http_member_oa_bad_message;
        }
    }

    /* WeChat's dedupe: MsgId, else the sender, time and event */
    if (ngx_http_member_oa_get(oa, "MsgId", &msg_id) == NGX_OK) {
        if (ngx_http_member_oa_chars(&msg_id, 32, 1) != NGX_OK) {
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


static ngx_int_t
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
    ngx_str_t              *name;
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

    if (ngx_http_member_oa_is(&oa->msg_type, "text")) {
        return ngx_http_member_oa_text(r, oa);
    }

    if (!ngx_http_member_oa_is(&oa->msg_type, "event")) {
        return ngx_http_member_oa_success(r);
    }

    for (name = ngx_http_member_oa_card_events; name->len; name++) {
        if (name->len == oa->event.len
            && ngx_strncmp(name->data, oa->event.data, name->len) == 0)
        {
            /* the member of the openid, made on first sight */
            return ngx_http_member_openid_id(r, &oa->from,
                                          ngx_http_member_oa_card_event);
        }
    }

    return ngx_http_member_oa_success(r);
}


static ngx_int_t
ngx_http_member_oa_card_event(ngx_http_request_t *r, uint64_t id)
{
    u_char                      *p;
    ngx_str_t                    v, unionid, *member, *dedupe;
    ngx_str_t                    keys[NGX_HTTP_MEMBER_OA_EVENT_NKEYS];
    ngx_str_t                    args[NGX_HTTP_MEMBER_OA_EVENT_NARGV
                                      + 2 * (sizeof(ngx_http_member_oa_fields)
                                        / sizeof(ngx_http_member_oa_field_t))];
    ngx_uint_t                   n;
    ngx_http_member_oa_t        *oa;
    ngx_http_member_ctx_t       *ctx;
    ngx_http_member_oa_field_t  *f;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    oa = ctx->oa;
    ctx->member_id = id;

    if (ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_OA_EVENT_KEY_MEMBER],
                            id, "") != NGX_OK
        || ngx_http_member_key(r->pool,
                               &keys[NGX_HTTP_MEMBER_OA_EVENT_KEY_ACTIVITY], id,
                               ":activity") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    member = &keys[NGX_HTTP_MEMBER_OA_EVENT_KEY_MEMBER];
    dedupe = &keys[NGX_HTTP_MEMBER_OA_EVENT_KEY_DEDUPE];
    dedupe->len = member->len + sizeof(":oa:") - 1 + oa->identity.len;

    p = ngx_pnalloc(r->pool, dedupe->len + NGX_INT64_LEN + 16
                             + 2 * NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dedupe->data = p;
    p = ngx_sprintf(p, "%V:oa:%V", member, &oa->identity);

    if (ngx_http_member_oa_get(oa, "UnionId", &unionid) != NGX_OK
        || ngx_http_member_oa_chars(&unionid, NGX_HTTP_MEMBER_OA_ID_MAX, 0)
           != NGX_OK)
    {
        ngx_str_set(&unionid, "");
    }

    args[NGX_HTTP_MEMBER_OA_EVENT_ARGV_EVENT] = oa->event;

    args[NGX_HTTP_MEMBER_OA_EVENT_ARGV_ID].data = p;
    p = ngx_sprintf(p, "%uL", id);
    args[NGX_HTTP_MEMBER_OA_EVENT_ARGV_ID].len =
                                p - args[NGX_HTTP_MEMBER_OA_EVENT_ARGV_ID].data;

    /* the card number a new member gets: no index needed to find it */
    args[NGX_HTTP_MEMBER_OA_EVENT_ARGV_CARD_NO].data = p;
    p = ngx_http_member_card_no(p, id);
    args[NGX_HTTP_MEMBER_OA_EVENT_ARGV_CARD_NO].len =
                           p - args[NGX_HTTP_MEMBER_OA_EVENT_ARGV_CARD_NO].data;

    args[NGX_HTTP_MEMBER_OA_EVENT_ARGV_OPENID] = oa->from;
    args[NGX_HTTP_MEMBER_OA_EVENT_ARGV_UNIONID] = unionid;

    args[NGX_HTTP_MEMBER_OA_EVENT_ARGV_NOW].data = p;
    p = ngx_sprintf(p, "%T", ngx_time());
    args[NGX_HTTP_MEMBER_OA_EVENT_ARGV_NOW].len =
                               p - args[NGX_HTTP_MEMBER_OA_EVENT_ARGV_NOW].data;

    args[NGX_HTTP_MEMBER_OA_EVENT_ARGV_TTL].data = p;
    args[NGX_HTTP_MEMBER_OA_EVENT_ARGV_TTL].len =
                        ngx_sprintf(p, "%d", NGX_HTTP_MEMBER_OA_DEDUPE_TTL) - p;

    if (ngx_http_member_oa_referrer(r, oa, id,
                                  &args[NGX_HTTP_MEMBER_OA_EVENT_ARGV_REFERRER])
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = NGX_HTTP_MEMBER_OA_EVENT_NARGV;

    for (f = ngx_http_member_oa_fields; f->wechat.len; f++) {
        if (ngx_http_member_oa_get(oa, (char *) f->wechat.data, &v) != NGX_OK
            || v.len == 0)
        {
            continue;
        }

        args[n++] = f->name;
        args[n++] = v;
    }

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_OA_EVENT,
                                        ngx_http_member_oa_applied, keys, args,
                                        n - NGX_HTTP_MEMBER_OA_EVENT_NARGV);
}


/*
 * A card claimed through a member's invite (cardExt's outer_str, pushed
 * as OuterStr) names the referrer; any other OuterStr is a channel, kept
 * as such.  One's own code names nobody.
 */

static ngx_int_t
ngx_http_member_oa_referrer(ngx_http_request_t *r, ngx_http_member_oa_t *oa,
    uint64_t id, ngx_str_t *referrer)
{
    u_char     *p;
    uint64_t    from;
    ngx_str_t   outer;
    ngx_int_t   rc;

    ngx_str_set(referrer, "");

    if (!ngx_http_member_oa_is(&oa->event, "user_get_card")
        || ngx_http_member_oa_get(oa, "OuterStr", &outer) != NGX_OK)
    {
        return NGX_OK;
    }

    rc = ngx_http_member_invite_id(r, outer.data, outer.len, &from);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED || from == id) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    referrer->data = p;
    referrer->len = ngx_sprintf(p, "%uL", from) - p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_oa_applied(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_ctx_t  *ctx;

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    /* a referee to watch for its first purchase (docs/campaigns.md) */
    if (reply->len == 6 && ngx_strncmp(reply->str, "LINKED", 6) == 0) {
        ngx_http_member_campaigns_hint(r, ctx->member_id,
                                       NGX_HTTP_MEMBER_HINT_REFEREE);
    }

    return ngx_http_member_oa_success(r);
}


static ngx_int_t
ngx_http_member_oa_text(ngx_http_request_t *r, ngx_http_member_oa_t *oa)
{
    u_char     *last;
    ngx_str_t  *ask, key;

    last = oa->content.data + oa->content.len;

    for (ask = ngx_http_member_oa_asks; ask->len; ask++) {
        if (oa->content.len
            && ngx_strlcasestrn(oa->content.data, last, ask->data,
                                ask->len - 1)
               != NULL)
        {
            break;
        }
    }

    oa->ask = ask - ngx_http_member_oa_asks;

    if (ask->len == 0) {
        return ngx_http_member_oa_reply(r, ngx_http_member_oa_help.data,
                                        ngx_http_member_oa_help.len);
    }

    /* a lookup only: a stranger asking makes no record */
    if (ngx_http_member_openid_key(r->pool, &oa->from, &key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_redis_command(r, ngx_http_member_oa_text_member,
                                         2, &ngx_http_member_cmd_get, &key);
}


static ngx_int_t
ngx_http_member_oa_text_member(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    uint64_t                id;
    ngx_str_t              *f;
    ngx_http_member_oa_t   *oa;
    ngx_http_member_ctx_t  *ctx;

    if (reply->type == REDIS_REPLY_NIL) {
        return ngx_http_member_oa_reply(r, ngx_http_member_oa_no_card.data,
                                        ngx_http_member_oa_no_card.len);
    }

    if (reply->type != REDIS_REPLY_STRING
        || ngx_http_member_parse_id((u_char *) reply->str, reply->len, &id)
           != NGX_OK)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    oa = ctx->oa;

    if (ngx_http_member_key(r->pool, &oa->member_key, id, "") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    f = ngx_http_member_oa_card_fields;

    return ngx_http_member_redis_command(r, ngx_http_member_oa_text_card, 7,
                                         &ngx_http_member_oa_hmget,
                                         &oa->member_key, &f[0], &f[1],
                                         &f[2], &f[3], &f[4]);
}


/* integer fen as "¥12.34" */

static u_char *
ngx_http_member_oa_yuan(u_char *p, redisReply *fen)
{
    int64_t  n;

    n = (fen->type == REDIS_REPLY_STRING) ? strtoll(fen->str, NULL, 10) : 0;

    if (n < 0) {
        *p++ = '-';
        n = -n;
    }

    return ngx_sprintf(p, "¥%L.%02L", n / 100, n % 100);
}


static ngx_int_t
ngx_http_member_oa_text_card(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                 *p, *text;
    ngx_str_t               level, *tier;
    redisReply            **e;
    ngx_http_member_oa_t   *oa;
    ngx_http_member_ctx_t  *ctx;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    e = reply->element;

    if (e[0]->type != REDIS_REPLY_STRING || e[0]->len != 6
        || ngx_strncmp(e[0]->str, "active", 6) != 0
        || e[1]->type != REDIS_REPLY_STRING)
    {
        return ngx_http_member_oa_reply(r, ngx_http_member_oa_no_card.data,
                                        ngx_http_member_oa_no_card.len);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    oa = ctx->oa;

    ngx_str_set(&level, "normal");

    if (e[2]->type == REDIS_REPLY_STRING && e[2]->len > 0 && e[2]->len < 32) {
        level.data = (u_char *) e[2]->str;
        level.len = e[2]->len;
    }

    for (tier = ngx_http_member_oa_tiers; tier->len; tier += 2) {
        if (tier->len == level.len
            && ngx_strncmp(tier->data, level.data, level.len) == 0)
        {
            level = tier[1];
            break;
        }
    }

    text = ngx_pnalloc(r->pool, 256 + e[1]->len + e[3]->len);
    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = text;

    switch (oa->ask) {

    case NGX_HTTP_MEMBER_OA_CARD:
        p = ngx_sprintf(p, "会员卡号 %*s\n等级 %V\n积分 %s\n余额 ",
                        (size_t) e[1]->len, e[1]->str, &level,
                        e[3]->type == REDIS_REPLY_STRING ? e[3]->str : "0");
        p = ngx_http_member_oa_yuan(p, e[4]);
        break;

    case NGX_HTTP_MEMBER_OA_POINTS:
        p = ngx_sprintf(p, "积分 %s\n等级 %V",
                        e[3]->type == REDIS_REPLY_STRING ? e[3]->str : "0",
                        &level);
        break;

    default: /* NGX_HTTP_MEMBER_OA_BALANCE */
        p = ngx_sprintf(p, "余额 ");
        p = ngx_http_member_oa_yuan(p, e[4]);
        p = ngx_sprintf(p, "\n等级 %V", &level);
        break;
    }

    return ngx_http_member_oa_reply(r, text, p - text);
}


/* a passive text reply, sealed with the key that opened the push */

static ngx_int_t
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


static ngx_int_t
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
