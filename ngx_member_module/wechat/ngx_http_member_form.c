
/*
 * ngx_member: WeChat's activation form of a wallet card (docs/outbox.md).
 *
 * A member who submits the form (submit_membercard_user_info) is marked
 * for the outbox, whose request reads the answers here: POST
 * card/membercard/userinfo/get {card_id, code}, then the phone, name,
 * birthday and gender of user_info.common_field_list register the member
 * exactly as POST register does (register.lua, sealed with the brand's
 * key, the phone found through its keyed index).  A phone that another
 * member has links the card to that member (link.lua), whose record then
 * takes the openid and the card; the openid's own record ends merged into
 * it.  The outbox activates the card afterwards.
 *
 * The outcome goes back to the caller: NGX_OK (registered or linked, with
 * the member who holds the card now), NGX_AGAIN (WeChat or Redis failed:
 * read again later) or NGX_DECLINED (the form cannot register anyone:
 * recorded in the member's wx_form and wx_form_error, never retried).
 */


#include "ngx_member_wechat.h"


#define NGX_HTTP_MEMBER_FORM_ARGS     40
#define NGX_HTTP_MEMBER_FORM_CONSENT  "wechat_card_form"


struct ngx_http_member_form_s {
    ngx_http_member_form_pt     done;
    uint64_t                    id;         /* the openid's record */
    uint64_t                    target;     /* who gets the form */
    ngx_str_t                   card_id;
    ngx_str_t                   code;
    ngx_str_t                   openid;
    ngx_str_t                   body;
    ngx_str_t                   key;        /* {m:<id>} */
    json_t                     *person;     /* name, birthday, gender */
    ngx_str_t                   phone;
    ngx_http_member_phone_t     ph;         /* its member */
    ngx_int_t                   outcome;
    const char                 *reason;
    u_char                      detail[64];
    unsigned                    renewed:1;
};


static ngx_int_t ngx_http_member_form_send(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_http_member_form_answered(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_form_person(ngx_http_request_t *r,
    ngx_http_member_form_t *f, json_t *answer);
static ngx_int_t ngx_http_member_form_found(ngx_http_request_t *r,
    ngx_http_member_phone_t *ph, redisReply *reply);
static ngx_int_t ngx_http_member_form_write(ngx_http_request_t *r,
    ngx_uint_t script);
static ngx_int_t ngx_http_member_form_written(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_form_indexed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_form_moved(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_form_end(ngx_http_request_t *r,
    ngx_int_t outcome, const char *reason);
static ngx_int_t ngx_http_member_form_recorded(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);


/* the form's fields as WeChat names them, and ours */
static ngx_str_t  ngx_http_member_form_fields[] = {
    ngx_string("USER_FORM_INFO_FLAG_MOBILE"), ngx_string("phone"),
    ngx_string("USER_FORM_INFO_FLAG_NAME"), ngx_string("name"),
    ngx_string("USER_FORM_INFO_FLAG_BIRTHDAY"), ngx_string("birthday"),
    ngx_string("USER_FORM_INFO_FLAG_SEX"), ngx_string("gender"),
    ngx_null_string
};


static ngx_http_member_form_t *
ngx_http_member_form_of(ngx_http_request_t *r)
{
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    return ctx->form;
}


static void
ngx_http_member_form_cleanup(void *data)
{
    ngx_http_member_form_t  *f = data;

    json_decref(f->person);
}


/*
 * Reads the form of member id's card (card_id, code; the openid it was
 * pushed for) and calls done.  The strings must
 * live as long as the request.
 */

ngx_int_t
ngx_http_member_form_read(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *card_id, ngx_str_t *code, ngx_str_t *openid,
    ngx_http_member_form_pt done)
{
    char                    *s;
    json_t                  *body;
    ngx_pool_cleanup_t      *cln;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_form_t  *f;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_member_form_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    f = cln->data;
    ngx_memzero(f, sizeof(ngx_http_member_form_t));
    cln->handler = ngx_http_member_form_cleanup;

    f->done = done;
    f->id = id;
    f->target = id;
    f->card_id = *card_id;
    f->code = *code;
    f->openid = *openid;

    if (ngx_http_member_key(r->pool, &f->key, id, "") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = json_pack("{s:s%,s:s%}",
                     "card_id", card_id->data, card_id->len,
                     "code", code->data, code->len);
    s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);

    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    f->body.len = ngx_strlen(s);
    f->body.data = ngx_pnalloc(r->pool, f->body.len);

    if (f->body.data != NULL) {
        ngx_memcpy(f->body.data, s, f->body.len);
    }

    free(s);

    if (f->body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->form = f;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member form: reading the form of member %uL", id);

    return ngx_http_member_wechat_secret(r, NGX_HTTP_MEMBER_WX_TOKEN, 0,
                                         ngx_http_member_form_send);
}


static ngx_int_t
ngx_http_member_form_send(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_str_t                path;
    ngx_http_member_form_t  *f;

    f = ngx_http_member_form_of(r);

    ngx_str_set(&path, "card/membercard/userinfo/get");

    return ngx_http_member_wechat_post_token(r, &path, token, &f->body,
                                             ngx_http_member_form_answered);
}


/* WeChat's answers that no retry changes: the form is refused */

static ngx_uint_t
ngx_http_member_form_final(ngx_int_t errcode)
{
    switch (errcode) {

    case 40053:     /* invalid card_id */
    case 40056:     /* invalid code */
    case 40073:     /* invalid card_id */
    case 40127:     /* invalid user-card status */
        return 1;

    default:
        return 0;
    }
}


static ngx_int_t
ngx_http_member_form_answered(ngx_http_request_t *r)
{
    json_t                  *json, *v;
    ngx_int_t                errcode, rc;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_form_t  *f;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    f = ctx->form;

    if (ctx->wechat_failed) {
        return ngx_http_member_form_end(r, NGX_AGAIN,
                                        "WeChat could not be reached");
    }

    json = json_loadb((char *) ctx->sr_body.data, ctx->sr_body.len, 0, NULL);

    if (!json_is_object(json)) {
        json_decref(json);
        return ngx_http_member_form_end(r, NGX_AGAIN,
                                        "WeChat's answer is not JSON");
    }

    v = json_object_get(json, "errcode");
    errcode = v == NULL ? 0
              : (json_is_integer(v) ? (ngx_int_t) json_integer_value(v) : -2);

    if ((errcode == 40001 || errcode == 40014 || errcode == 42001)
        && !f->renewed)
    {
        /* the token went stale: a fresh one, once */
        json_decref(json);
        f->renewed = 1;
        return ngx_http_member_wechat_secret(r, NGX_HTTP_MEMBER_WX_TOKEN, 1,
                                             ngx_http_member_form_send);
    }

    if (errcode != 0) {
        json_decref(json);
        ngx_sprintf(f->detail, "WeChat answered errcode %i%Z", errcode);

        return ngx_http_member_form_end(r,
                                        ngx_http_member_form_final(errcode)
                                        ? NGX_DECLINED : NGX_AGAIN,
                                        (char *) f->detail);
    }

    rc = ngx_http_member_form_person(r, f, json);
    json_decref(json);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_member_form_end(r, NGX_DECLINED, f->reason);
    }

    /* the openid's record takes a phone that is nobody's */
    f->ph.claimer = f->id;
    f->ph.done = ngx_http_member_form_found;

    return ngx_http_member_phone_lookup(r, &f->ph);
}


/* "YYYY-MM-DD", "YYYY/MM/DD" or "YYYYMMDD" as "YYYY-MM-DD", when a day */

static ngx_int_t
ngx_http_member_form_birthday(ngx_http_request_t *r, const char *s,
    size_t len, ngx_str_t *out)
{
    u_char  *p;
    size_t   i, j;

    p = ngx_pnalloc(r->pool, 10);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (len == 10 && (s[4] == '-' || s[4] == '/') && s[7] == s[4]) {
        ngx_memcpy(p, s, 10);

    } else if (len == 8) {
        for (i = 0, j = 0; i < 8; i++) {
            if (i == 4 || i == 6) {
                p[j++] = '-';
            }

            p[j++] = s[i];
        }

    } else {
        return NGX_DECLINED;
    }

    p[4] = '-';
    p[7] = '-';
    out->data = p;
    out->len = 10;

    return ngx_http_member_birthday_valid(out) == NGX_OK ? NGX_OK
                                                         : NGX_DECLINED;
}


/*
 * The person in the answer: f->phone and f->person.  NGX_DECLINED with
 * f->reason when the form cannot register anyone; a birthday or gender
 * WeChat wrote otherwise than expected is left out.
 */

static ngx_int_t
ngx_http_member_form_person(ngx_http_request_t *r, ngx_http_member_form_t *f,
    json_t *answer)
{
    size_t                       i, len;
    json_t                      *list, *e, *name, *value;
    ngx_str_t                   *w, day;
    ngx_uint_t                   k;
    const char                  *s;

    list = json_object_get(json_object_get(answer, "user_info"),
                           "common_field_list");

    if (!json_is_array(list)) {
        f->reason = "the form has no common_field_list";
        return NGX_DECLINED;
    }

    f->person = json_object();
    if (f->person == NULL) {
        return NGX_ERROR;
    }

    json_array_foreach(list, i, e) {
        name = json_object_get(e, "name");
        value = json_object_get(e, "value");

        if (!json_is_string(name) || !json_is_string(value)) {
            continue;
        }

        for (w = ngx_http_member_form_fields; w->len; w += 2) {
            if (ngx_strcmp(json_string_value(name), w->data) == 0) {
                break;
            }
        }

        if (w->len == 0) {
            continue;
        }

        s = json_string_value(value);
        len = json_string_length(value);

        if (len == 0) {
            /* an optional field left blank */
            continue;
        }

        switch (w[1].data[0]) {

        case 'p':   /* phone */
            if (len < 5 || len > 16) {
                f->reason = "the form's phone is not a phone number";
                return NGX_DECLINED;
            }

            for (k = (s[0] == '+'); k < len; k++) {
                if (s[k] < '0' || s[k] > '9') {
                    f->reason = "the form's phone is not a phone number";
                    return NGX_DECLINED;
                }
            }

            f->phone.data = ngx_pnalloc(r->pool, len);
            if (f->phone.data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(f->phone.data, s, len);
            f->phone.len = len;
            break;

        case 'n':   /* name: as POST register takes it */
            if (len > 64) {
                f->reason = "the form's name is too long";
                return NGX_DECLINED;
            }

            if (json_object_set(f->person, "name", value) != 0) {
                return NGX_ERROR;
            }

            break;

        case 'b':   /* birthday */
            switch (ngx_http_member_form_birthday(r, s, len, &day)) {

            case NGX_ERROR:
                return NGX_ERROR;

            case NGX_DECLINED:
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "member: the activation form of member %uL "
                              "has a birthday that is not a date: left out",
                              f->id);
                break;

            default:
                if (json_object_set_new(f->person, "birthday",
                                        json_stringn((char *) day.data,
                                                     day.len))
                    != 0)
                {
                    return NGX_ERROR;
                }
            }

            break;

        default:    /* gender: 男, 女, or WeChat's MALE, FEMALE */
            if (ngx_strcmp(s, "男") == 0 || ngx_strcasecmp((u_char *) s,
                                                          (u_char *) "male")
                                           == 0)
            {
                s = "male";

            } else if (ngx_strcmp(s, "女") == 0
                       || ngx_strcasecmp((u_char *) s, (u_char *) "female")
                          == 0)
            {
                s = "female";

            } else {
                break;
            }

            if (json_object_set_new(f->person, "gender", json_string(s))
                != 0)
            {
                return NGX_ERROR;
            }
        }
    }

    if (f->phone.len == 0) {
        f->reason = "the form has no phone";
        return NGX_DECLINED;
    }

    /* the phone's index under each key line, as POST register makes it */
    if (ngx_http_member_phone_indexes(r, &f->ph, &f->phone) != NGX_OK) {
        return NGX_ERROR;
    }

    if (f->ph.nindex == 0) {
        f->reason = "no member_pii_key where the outbox runs";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_form_found(ngx_http_request_t *r, ngx_http_member_phone_t *ph,
    redisReply *reply)
{
    ngx_http_member_form_t  *f;

    f = ngx_http_member_form_of(r);

    if (ph->rc != NGX_OK) {
        /* the form goes to the openid's record, should it be read again */
        f->target = f->id;

        return ngx_http_member_form_end(r, NGX_AGAIN,
                                        ph->rc == NGX_BUSY
                                        ? "the phone is being registered"
                                        : "Redis failed at the phone index");
    }

    f->target = ph->member;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member form: member %uL, the phone's member %uL",
                   f->id, ph->member);

    return ngx_http_member_form_write(r, ph->member == f->id
                                         ? NGX_HTTP_MEMBER_SCRIPT_REGISTER
                                         : NGX_HTTP_MEMBER_SCRIPT_LINK);
}


/*
 * register.lua on the openid's record, or link.lua on the phone's member
 * with the card and the openid besides: the same arguments as POST
 * register's, the consent being the form's.
 */

static ngx_int_t
ngx_http_member_form_write(ngx_http_request_t *r, ngx_uint_t script)
{
    ngx_str_t                key, args[NGX_HTTP_MEMBER_FORM_ARGS];
    ngx_uint_t               n;
    ngx_http_member_form_t  *f;

    f = ngx_http_member_form_of(r);

    if (ngx_http_member_key(r->pool, &key, f->target, "") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_REGISTER_ARGV_PHONE_INDEX] = f->ph.index[f->ph.tried];
    args[NGX_HTTP_MEMBER_REGISTER_ARGV_OPENID] = f->openid;
    ngx_str_set(&args[NGX_HTTP_MEMBER_REGISTER_ARGV_CONSENT],
                NGX_HTTP_MEMBER_FORM_CONSENT);

    if (ngx_http_member_record_args(r->pool, f->target,
                                    &args[NGX_HTTP_MEMBER_REGISTER_ARGV_ID],
                                   &args[NGX_HTTP_MEMBER_REGISTER_ARGV_CARD_NO],
                                    &args[NGX_HTTP_MEMBER_REGISTER_ARGV_NOW])
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = NGX_HTTP_MEMBER_REGISTER_NARGV;

    if (ngx_http_member_person_fields(r, f->target, f->person, &f->phone,
                                      args, &n)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&args[n], "wx_form");
    n++;
    ngx_str_set(&args[n], "read");
    n++;

    if (script == NGX_HTTP_MEMBER_SCRIPT_LINK) {
        /* the card goes with the openid to the member of the phone */
        ngx_str_set(&args[n], "wx_card_id");
        args[n + 1] = f->card_id;
        ngx_str_set(&args[n + 2], "wx_card_code");
        args[n + 3] = f->code;
        ngx_str_set(&args[n + 4], "wx_card_status");
        ngx_str_set(&args[n + 5], "claimed");
        ngx_str_set(&args[n + 6], "wx_card_claimed_at");
        args[n + 7] = args[NGX_HTTP_MEMBER_REGISTER_ARGV_NOW];
        n += 8;
    }

    return ngx_http_member_redis_script(r, script,
                                        ngx_http_member_form_written, &key,
                                        args,
                                        n - NGX_HTTP_MEMBER_REGISTER_NARGV);
}


static ngx_int_t
ngx_http_member_form_written(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_str_t                key, *id;
    ngx_http_member_form_t  *f;

    f = ngx_http_member_form_of(r);

    if (ngx_http_member_redis_is_error(reply, "STALE")) {
        /* the index named a member who no longer has that phone */
        f->ph.claimed = 0;
        return ngx_http_member_phone_claim(r, &f->ph, 1);
    }

    if (ngx_http_member_redis_is_error(reply, "REGISTERED")) {
        /*
         * a phone already: the member is registered, the card is due.
         * The script changed nothing (no hint came after it): the outbox
         * is asked to look.
         */
        ngx_http_member_ledger_touched(r, f->target);
        return ngx_http_member_form_end(r, NGX_OK, NULL);
    }

    if (ngx_http_member_redis_is_error(reply, "OWNED")) {
        return ngx_http_member_form_end(r, NGX_DECLINED,
                                        "the member with the form's phone "
                                        "belongs to another WeChat user");
    }

    if (ngx_http_member_redis_is_error(reply, "CONFLICT")
        || ngx_http_member_redis_is_error(reply, "UNAUTHORIZED"))
    {
        return ngx_http_member_form_end(r, NGX_DECLINED,
                                        "the card's member is not the "
                                        "openid's any more");
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_form_end(r, NGX_AGAIN,
                                        "Redis failed at the registration");
    }

    /* the fold and the outbox (it activates the card) had their hint */
    if (f->target == f->id) {
        ngx_http_member_campaigns_hint(r, f->id, NGX_HTTP_MEMBER_HINT_NEW);
        return ngx_http_member_form_end(r, NGX_OK, NULL);
    }

    /* linked: the openid names the member of the phone from now on */
    id = ngx_palloc(r->pool, sizeof(ngx_str_t));

    if (id == NULL
        || ngx_http_member_int_arg(r->pool, id, f->target) == NULL
        || ngx_http_member_openid_key(r->pool, &f->openid, &key) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_redis_command(r, ngx_http_member_form_indexed,
                                         &ngx_http_member_cmd_set, &key, id);
}


static ngx_int_t
ngx_http_member_form_indexed(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_str_t               *args;
    ngx_http_member_form_t  *f;

    f = ngx_http_member_form_of(r);

    if (reply->type != REDIS_REPLY_STATUS) {
        return ngx_http_member_form_end(r, NGX_AGAIN,
                                        "Redis failed at the openid index");
    }

    args = ngx_palloc(r->pool,
                      NGX_HTTP_MEMBER_WX_FORM_MOVED_NARGV * sizeof(ngx_str_t));

    if (args == NULL
        || ngx_http_member_int_arg(r->pool,
                               &args[NGX_HTTP_MEMBER_WX_FORM_MOVED_ARGV_TARGET],
                                 (int64_t) f->target) == NULL
        || ngx_http_member_int_arg(r->pool,
                                  &args[NGX_HTTP_MEMBER_WX_FORM_MOVED_ARGV_NOW],
                                   ngx_time()) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_WX_FORM_MOVED_ARGV_OPENID] = f->openid;

    return ngx_http_member_redis_script(r,
                                        NGX_HTTP_MEMBER_SCRIPT_WX_FORM_MOVED,
                                        ngx_http_member_form_moved, &f->key,
                                        args, 0);
}


static ngx_int_t
ngx_http_member_form_moved(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_form_t  *f;

    f = ngx_http_member_form_of(r);

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_form_end(r, NGX_AGAIN,
                                        "Redis failed at the openid's record");
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "member: the wallet card of member %uL went to member %uL, "
                  "who has the activation form's phone", f->id, f->target);

    return ngx_http_member_form_end(r, NGX_OK, NULL);
}


/* the outcome in the member's record, then back to the caller */

static ngx_int_t
ngx_http_member_form_end(ngx_http_request_t *r, ngx_int_t outcome,
    const char *reason)
{
    u_char                  *p;
    ngx_str_t                why, at;
    ngx_http_member_form_t  *f;

    static ngx_str_t  hset = ngx_string("HSET");
    static ngx_str_t  hdel = ngx_string("HDEL");
    static ngx_str_t  error = ngx_string("wx_form_error");
    static ngx_str_t  form = ngx_string("wx_form");
    static ngx_str_t  rejected = ngx_string("rejected");
    static ngx_str_t  form_at = ngx_string("wx_form_at");

    f = ngx_http_member_form_of(r);
    f->outcome = outcome;

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (outcome == NGX_OK) {
        return ngx_http_member_redis_command(r, ngx_http_member_form_recorded,
                                             &hdel, &f->key, &error);
    }

    why.data = (u_char *) reason;
    why.len = ngx_strlen(reason);

    if (outcome == NGX_AGAIN) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "member: the activation form of member %uL not read: "
                      "%s, retried later", f->id, reason);

        return ngx_http_member_redis_command(r, ngx_http_member_form_recorded,
                                             &hset, &f->key, &error, &why);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "member: the activation form of member %uL refused: %s",
                  f->id, reason);

    at.data = p;
    at.len = ngx_sprintf(p, "%T", ngx_time()) - p;

    return ngx_http_member_redis_command(r, ngx_http_member_form_recorded,
                                         &hset, &f->key, &error, &why,
                                         &form, &rejected, &form_at, &at);
}


static ngx_int_t
ngx_http_member_form_recorded(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_form_t  *f;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    f = ctx->form;

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: the activation form's outcome of member %uL "
                      "not recorded", f->id);

        if (f->outcome == NGX_DECLINED) {
            /* unrecorded, it would be lost: read it again later */
            f->outcome = NGX_AGAIN;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member form: member %uL done: %i", f->id, f->outcome);

    return f->done(r, f->outcome, f->target);
}
