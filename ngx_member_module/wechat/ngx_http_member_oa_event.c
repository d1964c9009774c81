
/*
 * ngx_member: what the official account's pushes carry, once
 * ngx_http_member_oa.c has checked, opened and spent them: a member-card
 * event runs oa_event.lua on the member of the openid (made on first
 * sight), applied once and linking a referee; a text message asking for
 * the card, the points or the balance gets them as a text reply; anything
 * else is answered "success".
 */


#include "ngx_member_wechat.h"


#define NGX_HTTP_MEMBER_OA_DEDUPE_TTL  86400
#define NGX_HTTP_MEMBER_OA_FIELD_MAX   256


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


static ngx_str_t  ngx_http_member_oa_hmget = ngx_string("HMGET");
static ngx_str_t  ngx_http_member_oa_card_fields[] = {
    ngx_string("status"),
    ngx_string("card_no"),
    ngx_string("level"),
    ngx_string("points"),
    ngx_string("balance_fen")
};


/* a field an event may carry, too long to keep: the push is refused */

ngx_int_t
ngx_http_member_oa_event_fields(ngx_http_member_oa_t *oa)
{
    ngx_str_t                    v;
    ngx_http_member_oa_field_t  *f;

    for (f = ngx_http_member_oa_fields; f->wechat.len; f++) {
        if (ngx_http_member_oa_get(oa, (char *) f->wechat.data, &v) == NGX_OK
            && v.len > NGX_HTTP_MEMBER_OA_FIELD_MAX)
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* a fresh push: a text message, a member-card event, or anything else */

ngx_int_t
ngx_http_member_oa_event_handle(ngx_http_request_t *r,
    ngx_http_member_oa_t *oa)
{
    ngx_str_t  *name;

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
        || ngx_http_member_wechat_chars(&unionid, NGX_HTTP_MEMBER_OA_ID_MAX,
                                        "_-")
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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: official-account card event applied: %*s",
                   (size_t) ngx_min(reply->len, 16), reply->str);

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
                                         &ngx_http_member_cmd_get, &key);
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

    return ngx_http_member_redis_command(r, ngx_http_member_oa_text_card,
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
