
/*
 * ngx_member: registration (POST register), for the session's openid.
 *
 * The phone comes from WeChat, verified: the mini-program's encrypted
 * data (AES-128-CBC under the session_key, watermark checked) or a
 * phone-number code (wxa/business/getuserphonenumber).  A verified phone
 * that a member already has links this openid to that member; otherwise
 * the session's visitor becomes a member.  A phone typed in by hand is
 * kept, but never links to anyone.  Members are found by phone through
 * the keyed index phone:<HMAC>, never the number itself.
 */


#include <openssl/crypto.h>

#include "ngx_member_member.h"
#include "member_gateway.h"


#define NGX_HTTP_MEMBER_WATERMARK_AGE     600     /* s, phone data's age */
#define NGX_HTTP_MEMBER_REG_FIELDS        24


struct ngx_http_member_reg_s {
    json_t                     *json;
    ngx_str_t                   phone;
    ngx_str_t                   phone_code;
    ngx_str_t                   consent;
    ngx_str_t                   session_key;    /* opened */
    ngx_http_member_phone_t     ph;             /* its member */
    uint64_t                    target;
    uint64_t                    referrer;       /* invite_code's, or 0 */
    ngx_str_t                   openid_key;
    u_char                      token[NGX_HTTP_MEMBER_TOKEN_LEN];
    size_t                      token_len;
    ngx_str_t                   card_no;
    unsigned                    verified:1;
};


static ngx_int_t ngx_http_member_reg_verified(ngx_http_request_t *r,
    ngx_http_member_reg_t *reg, mgw_phone_t *phone);
static ngx_int_t ngx_http_member_reg_validate(ngx_http_request_t *r,
    ngx_http_member_reg_t *reg);
static ngx_int_t ngx_http_member_reg_open_data(ngx_http_request_t *r,
    ngx_http_member_page_t *pg, ngx_http_member_reg_t *reg);
static ngx_int_t ngx_http_member_reg_code(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_http_member_reg_coded(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_reg_phone(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_reg_found(ngx_http_request_t *r,
    ngx_http_member_phone_t *ph, redisReply *reply);
static ngx_int_t ngx_http_member_reg_write(ngx_http_request_t *r,
    ngx_uint_t script);
static ngx_int_t ngx_http_member_reg_written(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_reg_session(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_reg_indexed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_reg_dropped(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_reg_answer(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_reg_bad(ngx_http_request_t *r,
    const char *message);


/* the registration under way, and the visitor's page when page is set */

static ngx_http_member_reg_t *
ngx_http_member_reg_of(ngx_http_request_t *r, ngx_http_member_page_t **page)
{
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    if (page) {
        *page = pg;
    }

    return pg->reg;
}


ngx_int_t
ngx_http_member_register(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    ngx_int_t                rc;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_reg_t   *reg;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    reg = ngx_pcalloc(r->pool, sizeof(ngx_http_member_reg_t));
    if (reg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pg->reg = reg;
    reg->json = ctx->json;

    if (pg->phone_index.len) {
        return ngx_http_member_error(r, NGX_HTTP_CONFLICT, "conflict",
                                     "the member is registered already");
    }

    rc = ngx_http_member_reg_validate(r, reg);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* ngx_http_member_campaigns.c: 400 for a code unknown or one's own */
    rc = ngx_http_member_invite(r, reg->json, pg->id, &reg->referrer);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (json_object_get(reg->json, "encrypted_data")) {
        rc = ngx_http_member_reg_open_data(r, pg, reg);
        return rc == NGX_DECLINED ? ngx_http_member_reg_phone(r) : rc;
    }

    if (reg->phone_code.len) {
        return ngx_http_member_wechat_secret(r, NGX_HTTP_MEMBER_WX_TOKEN, 0,
                                             ngx_http_member_reg_code);
    }

    return ngx_http_member_reg_phone(r);
}


/* NGX_DECLINED when the body is good, else the rc of the answer sent */

static ngx_int_t
ngx_http_member_reg_validate(ngx_http_request_t *r, ngx_http_member_reg_t *reg)
{
    size_t      i;
    json_t     *consent;
    ngx_int_t   rc, sources;

    rc = ngx_http_member_person_validate(r, reg->json, 1);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    consent = json_object_get(reg->json, "consent");

    if (!json_is_object(consent)
        || ngx_http_member_json_str(consent, "privacy", 32, 1, &reg->consent,
                                    1)
           != NGX_OK)
    {
        return ngx_http_member_reg_bad(r, "consent to the privacy policy "
                                       "(consent.privacy: its version) is "
                                       "required");
    }

    sources = 0;

    rc = ngx_http_member_json_str(reg->json, "phone", 16, 0, &reg->phone, 0);

    if (rc == NGX_ERROR || (rc == NGX_OK && reg->phone.len < 5)) {
        return ngx_http_member_bad_field(r, "phone");
    }

    if (rc == NGX_OK) {
        for (i = (reg->phone.data[0] == '+'); i < reg->phone.len; i++) {
            if (reg->phone.data[i] < '0' || reg->phone.data[i] > '9') {
                return ngx_http_member_bad_field(r, "phone");
            }
        }

        sources++;
    }

    rc = ngx_http_member_json_str(reg->json, "phone_code", 128, 1,
                                  &reg->phone_code, 0);
    if (rc == NGX_ERROR) {
        return ngx_http_member_bad_field(r, "phone_code");
    }

    sources += (rc == NGX_OK);
    sources += (json_object_get(reg->json, "encrypted_data") != NULL);

    if (sources != 1) {
        return ngx_http_member_reg_bad(r, "one phone is required: phone, "
                                       "phone_code or encrypted_data with "
                                       "iv");
    }

    return NGX_DECLINED;
}


/*
 * getPhoneNumber's encrypted data, under the session's session_key:
 * NGX_DECLINED when reg->phone is set, else the rc of an answer sent.
 */

static ngx_int_t
ngx_http_member_reg_open_data(ngx_http_request_t *r,
    ngx_http_member_page_t *pg, ngx_http_member_reg_t *reg)
{
    size_t                       len;
    u_char                      *plain;
    ngx_int_t                    rc;
    ngx_str_t                    data, iv, aad, field;
    long long                    ts;
    mgw_str_t                    k, i, d;
    mgw_phone_t                  phone;
    mgw_status_t                 st;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (ngx_http_member_json_str(reg->json, "encrypted_data", 4096, 0, &data,
                                 1)
        != NGX_OK
        || ngx_http_member_json_str(reg->json, "iv", 24, 0, &iv, 1) != NGX_OK)
    {
        return ngx_http_member_reg_bad(r, "encrypted_data and iv are "
                                       "required together");
    }

    if (pg->session_key.len == 0) {
        return ngx_http_member_reg_bad(r, "encrypted data needs a "
                                       "mini-program login");
    }

    ngx_str_set(&field, "session_key");

    if (ngx_http_member_pii_aad(r->pool, pg->id, &field, &aad) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_member_pii_open(r, &aad, &pg->session_key,
                                  &reg->session_key);
    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: the session_key of member %uL does not open",
                      pg->id);
        return ngx_http_member_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                     "log in again");
    }

    len = MGW_BASE64_DECODED_MAX(data.len);

    plain = ngx_pnalloc(r->pool, len);
    if (plain == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    k.data = reg->session_key.data;
    k.len = reg->session_key.len;
    i.data = iv.data;
    i.len = iv.len;
    d.data = data.data;
    d.len = data.len;

    st = mgw_open_data_decrypt(&k, &i, &d, plain, len, &len);

    if (st != MGW_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "member: phone data does not open: %s",
                      mgw_status_str(st));
        return ngx_http_member_reg_bad(r, "the encrypted data does not "
                                       "open: log in again");
    }

    st = mgw_open_data_phone(plain, len, mlcf->wechat_appid.data,
                             mlcf->wechat_appid.len, &phone);
    OPENSSL_cleanse(plain, len);

    if (st != MGW_OK) {
        return ngx_http_member_reg_bad(r, st == MGW_ERR_APPID
                                          ? "the phone data is another "
                                            "app's"
                                          : "the encrypted data holds no "
                                            "phone number");
    }

    ts = phone.timestamp;

    if (ts < (long long) ngx_time() - NGX_HTTP_MEMBER_WATERMARK_AGE
        || ts > (long long) ngx_time() + 60)
    {
        return ngx_http_member_reg_bad(r, "the phone data is too old");
    }

    if (ngx_http_member_reg_verified(r, reg, &phone) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/* a phone that WeChat vouched for, kept in the request's pool */

static ngx_int_t
ngx_http_member_reg_verified(ngx_http_request_t *r, ngx_http_member_reg_t *reg,
    mgw_phone_t *phone)
{
    reg->phone.data = ngx_pnalloc(r->pool, phone->len);
    if (reg->phone.data == NULL) {
        return NGX_ERROR;
    }

    reg->phone.len = phone->len;
    ngx_memcpy(reg->phone.data, phone->phone, phone->len);
    reg->verified = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_reg_code(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_str_t                path, body;
    ngx_http_member_reg_t   *reg;

    reg = ngx_http_member_reg_of(r, NULL);

    body.data = ngx_pnalloc(r->pool, sizeof("{\"code\":\"\"}")
                                     + reg->phone_code.len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* phone_code is [A-Za-z0-9_.:-]: nothing to escape */
    body.len = ngx_sprintf(body.data, "{\"code\":\"%V\"}", &reg->phone_code)
               - body.data;

    ngx_str_set(&path, "wxa/business/getuserphonenumber");

    return ngx_http_member_wechat_post_token(r, &path, token, &body,
                                             ngx_http_member_reg_coded);
}


static ngx_int_t
ngx_http_member_reg_coded(ngx_http_request_t *r)
{
    mgw_phone_t                 phone;
    mgw_api_result_t            res;
    ngx_http_member_ctx_t      *ctx;
    ngx_http_member_reg_t      *reg;
    ngx_http_member_loc_conf_t *mlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    reg = ngx_http_member_reg_of(r, NULL);
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (ctx->wechat_failed) {
        return ngx_http_member_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "wechat_unavailable",
                                     "WeChat could not be reached");
    }

    res = mgw_phone_parse(ctx->sr_body.data, ctx->sr_body.len,
                          mlcf->wechat_appid.data, mlcf->wechat_appid.len,
                          &phone);

    switch (res) {

    case MGW_API_OK:
        break;

    case MGW_API_TOKEN_INVALID:
        /* once: the second refusal is 503 in the token cache */
        return ngx_http_member_wechat_secret(r, NGX_HTTP_MEMBER_WX_TOKEN, 1,
                                             ngx_http_member_reg_code);

    case MGW_API_BAD_CODE:
        return ngx_http_member_reg_bad(r, "the phone code is invalid or "
                                       "used");

    case MGW_API_MISMATCH:
        return ngx_http_member_reg_bad(r, "the phone data is another app's");

    case MGW_API_RATE_LIMITED:
        return ngx_http_member_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                     "rate_limited",
                                     "too many phone lookups, try later");

    default:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: wechat phone number failed, errcode %l",
                      phone.errcode);
        return ngx_http_member_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "wechat_unavailable",
                                     "WeChat could not give the phone");
    }

    if (ngx_http_member_reg_verified(r, reg, &phone) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_reg_phone(r);
}


/* the phone is known: its index under each key line, then its member */

static ngx_int_t
ngx_http_member_reg_phone(ngx_http_request_t *r)
{
    ngx_http_member_reg_t   *reg;
    ngx_http_member_page_t  *pg;

    reg = ngx_http_member_reg_of(r, &pg);

    if (ngx_http_member_phone_indexes(r, &reg->ph, &reg->phone) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the visitor takes a phone that is nobody's */
    reg->ph.claimer = pg->id;
    reg->ph.done = ngx_http_member_reg_found;

    return ngx_http_member_phone_lookup(r, &reg->ph);
}


static ngx_int_t
ngx_http_member_reg_found(ngx_http_request_t *r, ngx_http_member_phone_t *ph,
    redisReply *reply)
{
    ngx_http_member_reg_t   *reg;
    ngx_http_member_page_t  *pg;

    reg = ngx_http_member_reg_of(r, &pg);

    if (ph->rc == NGX_BUSY) {
        return ngx_http_member_error(r, NGX_HTTP_CONFLICT, "conflict",
                                     "the phone is being registered");
    }

    if (ph->rc != NGX_OK) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    if (ph->member == pg->id) {
        reg->target = ph->member;
        return ngx_http_member_reg_write(r, NGX_HTTP_MEMBER_SCRIPT_REGISTER);
    }

    if (!reg->verified) {
        /* a number typed in by hand takes nobody's card */
        return ngx_http_member_error(r, NGX_HTTP_CONFLICT, "conflict",
                                     "a member has that phone: verify it "
                                     "through WeChat");
    }

    reg->target = ph->member;

    return ngx_http_member_reg_write(r, NGX_HTTP_MEMBER_SCRIPT_LINK);
}


static ngx_int_t
ngx_http_member_reg_write(ngx_http_request_t *r, ngx_uint_t script)
{
    ngx_str_t                key, args[NGX_HTTP_MEMBER_REG_FIELDS];
    ngx_uint_t               n;
    ngx_http_member_reg_t   *reg;
    ngx_http_member_page_t  *pg;

    reg = ngx_http_member_reg_of(r, &pg);

    if (ngx_http_member_key(r->pool, &key, reg->target, "") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* id, card_no, index, openid, consent version, now, then pairs */
    args[NGX_HTTP_MEMBER_REGISTER_ARGV_PHONE_INDEX] =
                                                   reg->ph.index[reg->ph.tried];
    args[NGX_HTTP_MEMBER_REGISTER_ARGV_OPENID] = pg->openid;
    args[NGX_HTTP_MEMBER_REGISTER_ARGV_CONSENT] = reg->consent;

    if (ngx_http_member_record_args(r->pool, reg->target,
                                    &args[NGX_HTTP_MEMBER_REGISTER_ARGV_ID],
                                   &args[NGX_HTTP_MEMBER_REGISTER_ARGV_CARD_NO],
                                    &args[NGX_HTTP_MEMBER_REGISTER_ARGV_NOW])
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = NGX_HTTP_MEMBER_REGISTER_NARGV;

    if (ngx_http_member_person_fields(r, reg->target, reg->json, &reg->phone,
                                      args, &n)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a new member comes with its referrer (register.lua keeps it) */
    if (reg->referrer && script == NGX_HTTP_MEMBER_SCRIPT_REGISTER) {
        ngx_str_set(&args[n], "referred_by");
        n++;

        if (ngx_http_member_int_arg(r->pool, &args[n++], reg->referrer)
            == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_member_redis_script(r, script,
                                        ngx_http_member_reg_written, &key, args,
                                        n - NGX_HTTP_MEMBER_REGISTER_NARGV);
}


static ngx_int_t
ngx_http_member_reg_written(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_int_t                rc;
    ngx_str_t                openid, none, token;
    ngx_http_member_reg_t   *reg;
    ngx_http_member_page_t  *pg;

    reg = ngx_http_member_reg_of(r, &pg);

    if (ngx_http_member_redis_is_error(reply, "STALE")) {
        /* the index named a member who no longer has that phone */
        reg->ph.claimed = 0;
        return ngx_http_member_phone_claim(r, &reg->ph, 1);
    }

    if (ngx_http_member_redis_is_error(reply, "REGISTERED")) {
        return ngx_http_member_error(r, NGX_HTTP_CONFLICT, "conflict",
                                     "the member is registered already");
    }

    if (ngx_http_member_redis_is_error(reply, "OWNED")) {
        return ngx_http_member_error(r, NGX_HTTP_CONFLICT, "conflict",
                                     "the member with that phone belongs to "
                                     "another WeChat user");
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    reg->card_no.data = ngx_pnalloc(r->pool, reply->len);
    if (reg->card_no.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    reg->card_no.len = reply->len;
    ngx_memcpy(reg->card_no.data, reply->str, reply->len);

    /* the fold and the outbox (it activates a claimed card) had their hint */
    if (reg->target == pg->id) {
        /* welcome soon, and the referral on its first purchase */
        ngx_http_member_campaigns_hint(r, reg->target,
                                       NGX_HTTP_MEMBER_HINT_NEW
                                       | (reg->referrer
                                          ? NGX_HTTP_MEMBER_HINT_REFEREE : 0));
        return ngx_http_member_reg_answer(r);
    }

    /* linked to another member: a session of that member */
    openid = pg->openid;
    ngx_str_null(&none);
    token.data = reg->token;
    token.len = 0;

    rc = ngx_http_member_session_create(r, reg->target, &openid, &none,
                                        &reg->session_key, &token,
                                        ngx_http_member_reg_session);
    reg->token_len = token.len;

    return rc;
}


static ngx_int_t
ngx_http_member_reg_session(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_str_t               *id;
    ngx_http_member_reg_t   *reg;
    ngx_http_member_page_t  *pg;

    reg = ngx_http_member_reg_of(r, &pg);

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    id = ngx_palloc(r->pool, sizeof(ngx_str_t));

    if (id == NULL
        || ngx_http_member_int_arg(r->pool, id, reg->target) == NULL
        || ngx_http_member_openid_key(r->pool, &pg->openid, &reg->openid_key)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the openid now names the member it was linked to */
    return ngx_http_member_redis_command(r, ngx_http_member_reg_indexed,
                                         &ngx_http_member_cmd_set,
                                         &reg->openid_key, id);
}


static ngx_int_t
ngx_http_member_reg_indexed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_str_t                keys[NGX_HTTP_MEMBER_VISITOR_DROP_NKEYS];
    ngx_http_member_ctx_t   *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (reply->type != REDIS_REPLY_STATUS) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    /* the visitor record and its session are of no use any more */
    keys[NGX_HTTP_MEMBER_VISITOR_DROP_KEY_MEMBER] = ctx->page->member_key;
    keys[NGX_HTTP_MEMBER_VISITOR_DROP_KEY_SESSION] = ctx->session_key;

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_VISITOR_DROP,
                                        ngx_http_member_reg_dropped, keys, NULL,
                                        0);
}


static ngx_int_t
ngx_http_member_reg_dropped(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    return ngx_http_member_reg_answer(r);
}


static ngx_int_t
ngx_http_member_reg_answer(ngx_http_request_t *r)
{
    u_char                     *p, *start;
    ngx_table_elt_t            *h;
    ngx_http_member_reg_t      *reg;
    ngx_http_member_loc_conf_t *mlcf;

    reg = ngx_http_member_reg_of(r, NULL);
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    start = ngx_pnalloc(r->pool, 128 + NGX_INT64_LEN + reg->card_no.len
                                 + reg->token_len);
    if (start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(start, "{\"member_id\":\"%uL\",\"card_no\":\"%V\"",
                    reg->target, &reg->card_no);

    if (reg->token_len) {
        /* the old token named the visitor: here is the member's */
        p = ngx_sprintf(p, ",\"token\":\"%*s\",\"expires_in\":%T",
                        reg->token_len, reg->token, mlcf->session_ttl);

        if (r->headers_in.authorization == NULL) {
            h = ngx_list_push(&r->headers_out.headers);
            if (h == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            h->value.data = ngx_pnalloc(r->pool, 128 + reg->token_len);
            if (h->value.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            h->hash = 1;
            ngx_str_set(&h->key, "Set-Cookie");
            h->value.len = ngx_sprintf(h->value.data,
                                       "member_session=%*s; Path=/; "
                                       "Max-Age=%T; HttpOnly; SameSite=Lax%s",
                                       reg->token_len, reg->token,
                                       mlcf->session_ttl,
                                       ngx_http_member_https(r)
                                       ? "; Secure" : "")
                         - h->value.data;
        }
    }

    *p++ = '}';

    return ngx_http_member_send_raw(r, NGX_HTTP_CREATED, NULL, start,
                                    p - start);
}


static ngx_int_t
ngx_http_member_reg_bad(ngx_http_request_t *r, const char *message)
{
    return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                 message);
}
