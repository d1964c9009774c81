
/*
 * ngx_member: the member-facing API (member_api), for the mini-program
 * and the card page.  Every call names its member by the session token;
 * a card costs one Redis round trip.
 */


#include "ngx_member_member.h"


typedef enum {
    NGX_HTTP_MEMBER_API_CARD = 0,
    NGX_HTTP_MEMBER_API_BALANCE,
    NGX_HTTP_MEMBER_API_POINTS,
    NGX_HTTP_MEMBER_API_CODE          /* + the code's view */
} ngx_http_member_api_view_e;


static ngx_str_t  ngx_http_member_api_hmget = ngx_string("HMGET");

/* the card's fields, in the order card.lua answers them too */
static ngx_str_t  ngx_http_member_api_fields[] = {
    ngx_string("status"),
    ngx_string("card_no"),
    ngx_string("level"),
    ngx_string("points"),
    ngx_string("balance_fen")
};


static ngx_int_t ngx_http_member_api_session(ngx_http_request_t *r,
    ngx_http_member_ctx_t *ctx);
static ngx_int_t ngx_http_member_api_card_slow(ngx_http_request_t *r,
    ngx_http_member_ctx_t *ctx);
static ngx_int_t ngx_http_member_api_refused(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_int_t ngx_http_member_api_same_origin(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_api_card(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_api_card_view(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_api_balance(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_api_points(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_api_transactions(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_api_coupons(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_api_code(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_api_code_png(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_api_code_svg(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
static ngx_int_t ngx_http_member_api_view(ngx_http_request_t *r,
    ngx_uint_t view);
static ngx_int_t ngx_http_member_session_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_str_t  ngx_http_member_session_name = ngx_string("member_session");

/* what $member_session hashes before the token: not the token's Redis key */
#define NGX_HTTP_MEMBER_SESSION_LABEL  "member limit\n"
#define NGX_HTTP_MEMBER_SESSION_MAX    128


/*
 * The member API's routes.  A row of grant NGX_HTTP_MEMBER_GRANT_TOKEN
 * needs the member's session token, checked once its method matched: a
 * wrong method is 405 first; a page's row (NGX_HTTP_MEMBER_GRANT_PAGE)
 * needs the token too, then reads the session before the page
 * (ngx_http_member_pages.c), and a wrong method of a page is refused
 * after the token (the page's last row).
 */

#define R  NGX_HTTP_MEMBER_READ
#define P  NGX_HTTP_POST
#define A  NGX_HTTP_MEMBER_ANY
#define T  NGX_HTTP_MEMBER_GRANT_TOKEN
#define S  NGX_HTTP_MEMBER_GRANT_PAGE

static ngx_http_member_route_t  ngx_http_member_api_routes[] = {

    /* the card, its parts and its codes: one Redis round trip */
    { R, "card", ngx_http_member_api_card_view, T, NULL },
    { R, "balance", ngx_http_member_api_balance, T, NULL },
    { R, "points", ngx_http_member_api_points, T, NULL },
    { R, "transactions", ngx_http_member_api_transactions, T, NULL },
    { R, "coupons", ngx_http_member_api_coupons, T, NULL },

    /* a fresh code is made by POST code, its images are read by GET */
    { P, "code", ngx_http_member_api_code, T, NULL },
    { R, "code.png", ngx_http_member_api_code_png, T, NULL },
    { R, "code.svg", ngx_http_member_api_code_svg, T, NULL },

    /* the pages, after the session */
    { R, "jssdk", ngx_http_member_jssdk, S, NULL },
    { A, "jssdk", NULL, S, NULL },
    { R, "card-ext", ngx_http_member_card_ext, S, NULL },
    { A, "card-ext", NULL, S, NULL },
    { P, "register", ngx_http_member_register, S, NULL },
    { A, "register", NULL, S, NULL },
    { R|NGX_HTTP_PUT|NGX_HTTP_DELETE, "profile", ngx_http_member_profile, S,
      NULL },
    { A, "profile", NULL, S, NULL },
    { R, "export", ngx_http_member_export, S, NULL },
    { A, "export", NULL, S, NULL },
    { R|P, "feedback", ngx_http_member_feedback, S, NULL },
    { A, "feedback", NULL, S, NULL },
    { R, "referral", ngx_http_member_referral, S, NULL },
    { A, "referral", NULL, S, NULL },
    { R, "tiers", ngx_http_member_tiers, S, NULL },
    { A, "tiers", NULL, S, NULL },
    { R|P, "subscriptions", ngx_http_member_subscriptions, S, NULL },
    { A, "subscriptions", NULL, S, NULL },

    /* recharge by WeChat Pay: ngx_http_member_recharge.c */
    { P, "recharge", ngx_http_member_recharge, S, NULL },
    { A, "recharge", NULL, S, NULL },
    { R, "recharge/<out_trade_no>", ngx_http_member_recharge_state, T, NULL },

    /* no such resource, or method: before the session */
    { A, "**", NULL, NGX_HTTP_MEMBER_GRANT_ANYONE, NULL },

    { 0, NULL, NULL, 0, NULL }
};

#undef R
#undef P
#undef A
#undef T
#undef S


ngx_int_t
ngx_http_member_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_str_t                 route;
    ngx_http_member_ctx_t    *ctx;
    ngx_http_member_match_t   m;
    ngx_http_member_route_t  *row;

    ctx = ngx_http_member_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_member_route(r, &route);

    row = ngx_http_member_route_find(r, ngx_http_member_api_routes, &route,
                                     &m);

    if (row->grant == NGX_HTTP_MEMBER_GRANT_ANYONE) {
        return ngx_http_member_route_run(r, row, &m);
    }

    rc = ngx_http_member_api_session(r, ctx);

    if (rc != NGX_OK) {
        return ngx_http_member_api_refused(r, rc);
    }

    if (row->grant == NGX_HTTP_MEMBER_GRANT_PAGE && row->handler) {
        return ngx_http_member_pages_handler(r, row, &m);
    }

    return ngx_http_member_route_run(r, row, &m);
}


static ngx_int_t
ngx_http_member_api_card_view(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_api_view(r, NGX_HTTP_MEMBER_API_CARD);
}


static ngx_int_t
ngx_http_member_api_balance(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    return ngx_http_member_api_view(r, NGX_HTTP_MEMBER_API_BALANCE);
}


/* the lots that expire soon: ngx_http_member_ledger.c */

static ngx_int_t
ngx_http_member_api_points(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    ctx->view = NGX_HTTP_MEMBER_API_POINTS;

    return ngx_http_member_ledger_points(r, ctx->member_id);
}


static ngx_int_t
ngx_http_member_api_coupons(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    return ngx_http_member_coupons_list(r, ctx->member_id, &ctx->session_key,
                                        "UNAUTHORIZED");
}


static ngx_int_t
ngx_http_member_api_code(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    return ngx_http_member_api_view(r, NGX_HTTP_MEMBER_API_CODE
                                       + NGX_HTTP_MEMBER_CODE_JSON);
}


static ngx_int_t
ngx_http_member_api_code_png(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_api_view(r, NGX_HTTP_MEMBER_API_CODE
                                       + NGX_HTTP_MEMBER_CODE_PNG);
}


static ngx_int_t
ngx_http_member_api_code_svg(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    return ngx_http_member_api_view(r, NGX_HTTP_MEMBER_API_CODE
                                       + NGX_HTTP_MEMBER_CODE_SVG);
}


/* the member's card, one of its parts or its code: one HMGET */

static ngx_int_t
ngx_http_member_api_view(ngx_http_request_t *r, ngx_uint_t view)
{
    ngx_str_t               keys[2];
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    ctx->view = view;

    if (ngx_http_member_key(r->pool, &keys[0], ctx->member_id, "")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* "s:<hash>": where the member hash keeps the end of this session */
    keys[1].data = ngx_strlchr(ctx->session_key.data,
                               ctx->session_key.data + ctx->session_key.len,
                               '}')
                   + 2;
    keys[1].len = ctx->session_key.data + ctx->session_key.len
                  - keys[1].data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member api: the card of member %uL asked, view %ui",
                   ctx->member_id, view);

    /* the hot path: one plain command, the session checked here */
    return ngx_http_member_redis_command(r, ngx_http_member_api_card,
                                         &ngx_http_member_api_hmget, &keys[0],
                                         &ngx_http_member_api_fields[0],
                                         &ngx_http_member_api_fields[1],
                                         &ngx_http_member_api_fields[2],
                                         &ngx_http_member_api_fields[3],
                                         &ngx_http_member_api_fields[4],
                                         &keys[1]);
}


/*
 * A session whose end the member hash does not hold: the session key
 * decides, in card.lua, which answers the same five fields.
 */

static ngx_int_t
ngx_http_member_api_card_slow(ngx_http_request_t *r,
    ngx_http_member_ctx_t *ctx)
{
    ngx_str_t  keys[NGX_HTTP_MEMBER_CARD_NKEYS];

    keys[NGX_HTTP_MEMBER_CARD_KEY_SESSION] = ctx->session_key;

    if (ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_CARD_KEY_MEMBER],
                            ctx->member_id, "")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_CARD,
                                        ngx_http_member_api_card, keys, NULL,
                                        0);
}


static ngx_int_t
ngx_http_member_api_refused(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc == NGX_DECLINED) {
        return ngx_http_member_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                     "a valid session token is required");
    }

    if (rc == NGX_ABORT) {
        return ngx_http_member_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                     "a change by cookie must come from "
                                     "this site's own pages");
    }

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/*
 * Origin (or, without it, Referer) names this host: "scheme://host[:port]"
 * with the Host the request came to.
 */

static ngx_int_t
ngx_http_member_api_same_origin(ngx_http_request_t *r)
{
    u_char           *p, *last, *host;
    ngx_str_t         origin;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    ngx_str_null(&origin);

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == 6
            && ngx_strncasecmp(h[i].lowcase_key, (u_char *) "origin", 6) == 0)
        {
            origin = h[i].value;
            break;
        }
    }

    if (origin.len == 0 && r->headers_in.referer) {
        origin = r->headers_in.referer->value;
    }

    if (origin.len == 0 || r->headers_in.server.len == 0) {
        return 0;
    }

    last = origin.data + origin.len;
    p = ngx_strlcasestrn(origin.data, last, (u_char *) "://", 3 - 1);

    if (p == NULL) {
        return 0;
    }

    host = p + 3;

    for (p = host; p < last && *p != ':' && *p != '/'; p++) { /* void */ }

    return (size_t) (p - host) == r->headers_in.server.len
           && ngx_strncasecmp(host, r->headers_in.server.data, p - host) == 0;
}


/*
 * "Authorization: Bearer <member id>.<43 characters of base64url>", or
 * the member_session cookie of member_wechat_oauth with the same token;
 * NGX_DECLINED when there is none that could be valid.
 */

static ngx_int_t
ngx_http_member_api_session(ngx_http_request_t *r, ngx_http_member_ctx_t *ctx)
{
    u_char     *p, *last, *dot;
    ngx_str_t   secret, cookie;

    static ngx_str_t  name = ngx_string("member_session");

    if (r->headers_in.authorization) {
        p = r->headers_in.authorization->value.data;
        last = p + r->headers_in.authorization->value.len;

        if (last - p < 7
            || ngx_strncasecmp(p, (u_char *) "Bearer ", 7) != 0)
        {
            goto unauthorized;
        }

        p += 7;

    } else if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies,
                                                 &name, &cookie)
               != NGX_DECLINED)
    {
        /* a browser sends the cookie for any site: changes come from ours */
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
            && !ngx_http_member_api_same_origin(r))
        {
            return NGX_ABORT;
        }

        p = cookie.data;
        last = p + cookie.len;

    } else {
        goto unauthorized;
    }

    dot = ngx_strlchr(p, last, '.');

    if (dot == NULL
        || ngx_http_member_parse_id(p, dot - p, &ctx->member_id) != NGX_OK)
    {
        goto unauthorized;
    }

    secret.data = dot + 1;
    secret.len = last - secret.data;

    if (secret.len != 43) {
        goto unauthorized;
    }

    for (p = secret.data; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
        {
            goto unauthorized;
        }
    }

    if (ngx_http_member_session_key(r, ctx->member_id, &secret,
                                    &ctx->session_key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;

unauthorized:

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_member_api_card(ngx_http_request_t *r, ngx_http_member_call_t *call,
    redisReply *reply)
{
    size_t                  len;
    ngx_buf_t              *b;
    ngx_str_t               points, balance;
    redisReply             *status, *card_no, *level, *expires;
    ngx_http_member_ctx_t  *ctx;

    if (reply->type != REDIS_REPLY_ARRAY
        || (reply->elements != 5 && reply->elements != 6))
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member api: the card of member %uL read, %uz fields",
                   ctx->member_id, reply->elements);

    if (reply->elements == 6) {
        expires = reply->element[5];

        if (expires->type != REDIS_REPLY_STRING) {
            return ngx_http_member_api_card_slow(r, ctx);
        }

        if (ngx_atotm((u_char *) expires->str, expires->len) <= ngx_time()) {
            return ngx_http_member_error(r, NGX_HTTP_UNAUTHORIZED,
                                         "unauthorized",
                                         "the session is unknown or expired");
        }
    }

    status = reply->element[0];
    card_no = reply->element[1];
    level = reply->element[2];

    if (status->type != REDIS_REPLY_STRING
        || (status->len == 7 && ngx_strncmp(status->str, "visitor", 7) == 0)
        || (status->len == 7 && ngx_strncmp(status->str, "deleted", 7) == 0)
        || card_no->type != REDIS_REPLY_STRING
        || level->type != REDIS_REPLY_STRING)
    {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no card yet: claim or register first");
    }

    if (ctx->view > NGX_HTTP_MEMBER_API_CODE) {
        if (!(status->len == 6 && ngx_strncmp(status->str, "active", 6) == 0))
        {
            return ngx_http_member_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                         "the card is not active");
        }

        return ngx_http_member_code_answer(r, ctx->member_id,
                                           ctx->view - NGX_HTTP_MEMBER_API_CODE);
    }

    if (ngx_http_member_reply_number(reply->element[3], &points) != NGX_OK
        || ngx_http_member_reply_number(reply->element[4], &balance)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: member %uL has a malformed number",
                      ctx->member_id);
        return ngx_http_member_reply_script_error(r, reply);
    }

    /* the hot path: a fixed shape, written straight into one buffer */
    len = sizeof("{\"member_id\":\"\",\"card_no\":\"\",\"level\":\"\","
                 "\"points\":,\"balance_fen\":,\"status\":\"\","
                 "\"expiring\":[]}") - 1
          + NGX_INT64_LEN + points.len + balance.len
          + ngx_escape_json(NULL, (u_char *) card_no->str, card_no->len)
          + card_no->len
          + ngx_escape_json(NULL, (u_char *) level->str, level->len)
          + level->len
          + ngx_escape_json(NULL, (u_char *) status->str, status->len)
          + status->len;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (ctx->view) {

    case NGX_HTTP_MEMBER_API_BALANCE:
        b->last = ngx_sprintf(b->last, "{\"balance_fen\":%V}", &balance);
        break;

    case NGX_HTTP_MEMBER_API_POINTS:
        /* lots and their expiry come with the ledger's rules */
        b->last = ngx_sprintf(b->last, "{\"points\":%V,\"expiring\":[]}",
                              &points);
        break;

    default:
        b->last = ngx_sprintf(b->last, "{\"member_id\":\"%uL\",\"card_no\":\"",
                              ctx->member_id);
        b->last = (u_char *) ngx_escape_json(b->last, (u_char *) card_no->str,
                                             card_no->len);
        b->last = ngx_cpymem(b->last, "\",\"level\":\"", 11);
        b->last = (u_char *) ngx_escape_json(b->last, (u_char *) level->str,
                                             level->len);
        b->last = ngx_sprintf(b->last, "\",\"points\":%V,\"balance_fen\":%V,"
                              "\"status\":\"", &points, &balance);
        b->last = (u_char *) ngx_escape_json(b->last, (u_char *) status->str,
                                             status->len);
        *b->last++ = '"';
        *b->last++ = '}';
        break;
    }

    return ngx_http_member_send_buf(r, NGX_HTTP_OK, b);
}


/* the ledger's entry types (API.md): what ?type= may name */
static ngx_str_t  ngx_http_member_entry_types[] = {
    ngx_string("recharge"), ngx_string("pay"), ngx_string("earn"),
    ngx_string("refund"), ngx_string("adjust"), ngx_string("expire"),
    ngx_string("redeem"), ngx_string("coupon"), ngx_string("welcome"),
    ngx_string("birthday"), ngx_string("recall"), ngx_string("referral"),
    ngx_string("tier"), ngx_null_string
};


/*
 * ?type=, ?from=, ?to= (unix seconds, inclusive), ?store=: the filters of
 * a ledger page, as ledger.lua's arguments ("" for none).
 */

static ngx_int_t
ngx_http_member_transactions_filters(ngx_http_request_t *r, ngx_str_t *args)
{
    size_t      i;
    ngx_int_t   from, to;
    ngx_str_t  *t;

    if (ngx_http_arg(r, (u_char *) "type", 4, &args[0]) == NGX_OK) {
        for (t = ngx_http_member_entry_types; t->len; t++) {
            if (t->len == args[0].len
                && ngx_strncmp(t->data, args[0].data, t->len) == 0)
            {
                break;
            }
        }

        if (t->len == 0) {
            return NGX_ERROR;
        }

    } else {
        ngx_str_null(&args[0]);
    }

    from = 0;
    to = NGX_MAX_INT_T_VALUE;

    if (ngx_http_arg(r, (u_char *) "from", 4, &args[1]) == NGX_OK) {
        from = ngx_atoi(args[1].data, args[1].len);
        if (from == NGX_ERROR || args[1].len > 12) {
            return NGX_ERROR;
        }

    } else {
        ngx_str_null(&args[1]);
    }

    if (ngx_http_arg(r, (u_char *) "to", 2, &args[2]) == NGX_OK) {
        to = ngx_atoi(args[2].data, args[2].len);
        if (to == NGX_ERROR || args[2].len > 12) {
            return NGX_ERROR;
        }

    } else {
        ngx_str_null(&args[2]);
    }

    if (from > to) {
        return NGX_ERROR;
    }

    if (ngx_http_arg(r, (u_char *) "store", 5, &args[3]) == NGX_OK) {
        if (args[3].len == 0 || args[3].len > 64) {
            return NGX_ERROR;
        }

        for (i = 0; i < args[3].len; i++) {
            if (!ngx_http_member_id_char(args[3].data[i])) {
                return NGX_ERROR;
            }
        }

    } else {
        ngx_str_null(&args[3]);
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_member_transactions(ngx_http_request_t *r, ngx_str_t *must_exist,
    uint64_t id, const char *missing)
{
    u_char                 *p;
    ngx_str_t               cursor;
    ngx_str_t               keys[NGX_HTTP_MEMBER_LEDGER_NKEYS];
    ngx_str_t               args[NGX_HTTP_MEMBER_LEDGER_NARGV];
    ngx_uint_t              limit;
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_member_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_member_arg_uint(r, "limit", 5, NGX_HTTP_MEMBER_PAGE_DEFAULT,
                                 NGX_HTTP_MEMBER_PAGE_MAX, &limit)
        != NGX_OK
        || ngx_http_member_arg_cursor(r, &cursor) != NGX_OK)
    {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "limit must be 1 to 100 and before a "
                                     "transaction id");
    }

    if (ngx_http_member_transactions_filters(r,
                                        &args[NGX_HTTP_MEMBER_LEDGER_ARGV_TYPE])
        != NGX_OK)
    {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "type must be an entry type, from and "
                                     "to unix seconds with from <= to, "
                                     "store a store id");
    }

    keys[NGX_HTTP_MEMBER_LEDGER_KEY_MUST_EXIST] = *must_exist;

    if (ngx_http_member_key(r->pool, &keys[NGX_HTTP_MEMBER_LEDGER_KEY_LEDGER],
                            id, ":ledger") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, cursor.len + 1 + NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_LEDGER_ARGV_MISSING].data = (u_char *) missing;
    args[NGX_HTTP_MEMBER_LEDGER_ARGV_MISSING].len = ngx_strlen(missing);

    p = ngx_http_member_range_start(p, &cursor,
                                    &args[NGX_HTTP_MEMBER_LEDGER_ARGV_BEFORE]);

    args[NGX_HTTP_MEMBER_LEDGER_ARGV_COUNT].data = p;
    args[NGX_HTTP_MEMBER_LEDGER_ARGV_COUNT].len =
                                               ngx_sprintf(p, "%ui", limit) - p;

    ctx->limit = limit;

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_LEDGER,
                                        ngx_http_member_transactions_page,
                                        keys, args, 0);
}


/* ledger.lua answers {next, entries} */

ngx_int_t
ngx_http_member_transactions_page(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_str_t               next;
    ngx_http_member_ctx_t  *ctx;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    next.data = (u_char *) reply->element[0]->str;
    next.len = reply->element[0]->len;

    return ngx_http_member_reply_page(r, reply->element[1], ctx->limit,
                                       &next);
}


static ngx_int_t
ngx_http_member_api_transactions(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    return ngx_http_member_transactions(r, &ctx->session_key, ctx->member_id,
                                        "UNAUTHORIZED");
}


/*
 * $member_session: who asks, for limit_req zones per session (code
 * images, export): 32 hex digits of SHA-256 over a label and the bearer
 * token or the member_session cookie, as sent; empty without either, so
 * limit_req counts nothing.  Never the token, nor its Redis key, so it
 * may be logged.  Whether the session is valid is the handler's to say:
 * a made-up token is a key of its own, and gets 401 from the handler.
 */

ngx_int_t
ngx_http_member_api_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &ngx_http_member_session_name,
                                NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_member_session_variable;

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_session_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char     *p, hash[SHA256_DIGEST_LENGTH];
    u_char      buf[sizeof(NGX_HTTP_MEMBER_SESSION_LABEL) - 1
                    + NGX_HTTP_MEMBER_SESSION_MAX];
    ngx_str_t   token;

    ngx_str_null(&token);

    if (r->headers_in.authorization) {
        token = r->headers_in.authorization->value;

        if (token.len > 7
            && ngx_strncasecmp(token.data, (u_char *) "Bearer ", 7) == 0)
        {
            token.data += 7;
            token.len -= 7;

        } else {
            token.len = 0;
        }

    } else if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies,
                                                 &ngx_http_member_session_name,
                                                 &token)
               == NGX_DECLINED)
    {
        token.len = 0;
    }

    if (token.len == 0 || token.len > NGX_HTTP_MEMBER_SESSION_MAX) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_cpymem(buf, NGX_HTTP_MEMBER_SESSION_LABEL,
                   sizeof(NGX_HTTP_MEMBER_SESSION_LABEL) - 1);
    p = ngx_cpymem(p, token.data, token.len);

    if (ngx_http_member_sha256(buf, p - buf, NULL, hash) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_explicit_memzero(buf, p - buf);

    p = ngx_pnalloc(r->pool, 32);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_hex_dump(p, hash, 16);

    v->data = p;
    v->len = 32;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
