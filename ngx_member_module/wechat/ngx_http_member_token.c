
/*
 * ngx_member: the brand's access_token and its jsapi and wx_card tickets,
 * cached in Redis for every worker of every node.
 *
 * One refresher at a time (a Redis lock with a lease) calls WeChat; other
 * requests that find no value wait for it, polling Redis on short nginx
 * timers, never blocking the worker.  A value due for an early refresh is
 * still served by everyone but the one who refreshes it.  A ticket call
 * that WeChat answers 40001/40014/42001 drops the token it used and
 * refreshes it once.  Values are stored sealed under member_pii_key: a
 * copy of Redis holds no token that works.
 */


#include <openssl/rand.h>

#include "ngx_member_wechat.h"
#include "member_gateway.h"


#define NGX_HTTP_MEMBER_WX_LEASE    10000   /* ms a refresher holds a lock */
#define NGX_HTTP_MEMBER_WX_POLL     50      /* ms between looks at Redis */
#define NGX_HTTP_MEMBER_WX_WAIT     8000    /* ms a request waits at most */
#define NGX_HTTP_MEMBER_WX_FAILED   1000    /* ms a failed refresh is kept */


typedef struct {
    ngx_http_request_t     *request;
    ngx_uint_t              kind;
    ngx_uint_t              pending;    /* a ticket that waits for a token */
    ngx_uint_t              locks;      /* bit per kind: locks held */
    ngx_str_t               key;
    ngx_str_t               lock;
    ngx_str_t               owner;
    ngx_str_t               token;      /* clear, for ticket calls */
    ngx_str_t               token_seen; /* as stored: what a 40001 drops */
    ngx_str_t               fallback[3];    /* good while refreshed */
    ngx_str_t               value;
    ngx_msec_t              deadline;
    ngx_event_t             wait;
    ngx_http_member_wx_pt   done;
    unsigned                renewed:1;
    unsigned                failing:1;
} ngx_http_member_wx_t;


static ngx_http_member_wx_t *ngx_http_member_wx_get(ngx_http_request_t *r);
static void ngx_http_member_wx_cleanup(void *data);
static ngx_int_t ngx_http_member_wx_names(ngx_http_request_t *r,
    ngx_http_member_wx_t *wx, ngx_uint_t kind);
static ngx_int_t ngx_http_member_wx_fetch(ngx_http_request_t *r,
    ngx_http_member_wx_t *wx, ngx_uint_t kind);
static ngx_int_t ngx_http_member_wx_got(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_wx_open(ngx_http_request_t *r,
    ngx_http_member_wx_t *wx, redisReply *reply, ngx_str_t *value,
    time_t *refresh_at);
static ngx_int_t ngx_http_member_wx_lock(ngx_http_request_t *r,
    ngx_http_member_wx_t *wx);
static ngx_int_t ngx_http_member_wx_locked(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static void ngx_http_member_wx_poll(ngx_event_t *ev);
static ngx_int_t ngx_http_member_wx_refresh(ngx_http_request_t *r,
    ngx_http_member_wx_t *wx);
static ngx_int_t ngx_http_member_wx_refreshed(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_wx_store(ngx_http_request_t *r,
    ngx_http_member_wx_t *wx, mgw_secret_t *got);
static ngx_int_t ngx_http_member_wx_release(ngx_http_request_t *r,
    ngx_http_member_wx_t *wx, ngx_str_t *value, ngx_msec_t ttl);
static ngx_int_t ngx_http_member_wx_released(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_wx_drop(ngx_http_request_t *r,
    ngx_http_member_wx_t *wx);
static ngx_int_t ngx_http_member_wx_dropped(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_wx_deliver(ngx_http_request_t *r,
    ngx_http_member_wx_t *wx, ngx_str_t *value);
static ngx_int_t ngx_http_member_wx_unavailable(ngx_http_request_t *r);


static const char  *ngx_http_member_wx_kinds[] = { "token", "jsapi",
                                                   "wx_card" };


/*
 * Calls done(r, value) with the access_token or a ticket.  renew: the
 * token this request got last was refused by WeChat; drop it and get
 * another (once per request).
 */

ngx_int_t
ngx_http_member_wechat_secret(ngx_http_request_t *r, ngx_uint_t kind,
    ngx_uint_t renew, ngx_http_member_wx_pt done)
{
    ngx_http_member_wx_t  *wx;

    wx = ngx_http_member_wx_get(r);
    if (wx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wx->done = done;
    wx->pending = NGX_HTTP_MEMBER_WX_NONE;
    wx->deadline = ngx_current_msec + NGX_HTTP_MEMBER_WX_WAIT;
    ngx_memzero(wx->fallback, sizeof(wx->fallback));

    if (renew && kind == NGX_HTTP_MEMBER_WX_TOKEN) {
        if (wx->renewed) {
            return ngx_http_member_wx_unavailable(r);
        }

        wx->renewed = 1;

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "member: wechat token refused by wechat: renewing");

        if (ngx_http_member_wx_names(r, wx, kind) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_member_wx_drop(r, wx);
    }

    return ngx_http_member_wx_fetch(r, wx, kind);
}


static ngx_http_member_wx_t *
ngx_http_member_wx_get(ngx_http_request_t *r)
{
    u_char                  rnd[16];
    ngx_pool_cleanup_t     *cln;
    ngx_http_member_ctx_t  *ctx;
    ngx_http_member_wx_t   *wx;

    ctx = ngx_http_member_get_ctx(r);
    if (ctx == NULL) {
        return NULL;
    }

    if (ctx->wechat_cache) {
        return ctx->wechat_cache;
    }

    /* the poll timer must not outlive the request */
    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_member_wx_t));
    if (cln == NULL) {
        return NULL;
    }

    wx = cln->data;
    ngx_memzero(wx, sizeof(ngx_http_member_wx_t));

    cln->handler = ngx_http_member_wx_cleanup;

    wx->request = r;
    wx->wait.handler = ngx_http_member_wx_poll;
    wx->wait.data = wx;
    wx->wait.log = r->connection->log;

    wx->owner.data = ngx_pnalloc(r->pool, 2 * sizeof(rnd));
    if (wx->owner.data == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NULL;
    }

    wx->owner.len = ngx_hex_dump(wx->owner.data, rnd, sizeof(rnd))
                    - wx->owner.data;

    ctx->wechat_cache = wx;

    return wx;
}


static void
ngx_http_member_wx_cleanup(void *data)
{
    ngx_http_member_wx_t  *wx = data;

    if (wx->wait.timer_set) {
        ngx_del_timer(&wx->wait);
    }
}


/* "{wx:<appid>:<kind>}" and its lock: both in one Cluster slot */

static ngx_int_t
ngx_http_member_wx_names(ngx_http_request_t *r, ngx_http_member_wx_t *wx,
    ngx_uint_t kind)
{
    u_char                      *p;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    p = ngx_pnalloc(r->pool, 2 * (sizeof("{wx::}:lock") + 8
                                  + mlcf->wechat_appid.len));
    if (p == NULL) {
        return NGX_ERROR;
    }

    wx->kind = kind;

    wx->key.data = p;
    wx->key.len = ngx_sprintf(p, "{wx:%V:%s}", &mlcf->wechat_appid,
                              ngx_http_member_wx_kinds[kind]) - p;
    p += wx->key.len;

    wx->lock.data = p;
    wx->lock.len = ngx_sprintf(p, "%V:lock", &wx->key) - p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_wx_fetch(ngx_http_request_t *r, ngx_http_member_wx_t *wx,
    ngx_uint_t kind)
{
    if (ngx_http_member_wx_names(r, wx, kind) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_redis_command(r, ngx_http_member_wx_got,
                                         &ngx_http_member_cmd_get, &wx->key);
}


static ngx_int_t
ngx_http_member_wx_got(ngx_http_request_t *r, ngx_http_member_call_t *call,
    redisReply *reply)
{
    time_t                  refresh_at;
    ngx_int_t               rc;
    ngx_str_t               value;
    ngx_http_member_ctx_t  *ctx;
    ngx_http_member_wx_t   *wx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    wx = ctx->wechat_cache;

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "member: wechat %s cache miss",
                       ngx_http_member_wx_kinds[wx->kind]);

        return ngx_http_member_wx_lock(r, wx);
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    if (reply->len == 1 && reply->str[0] == '!') {
        /* the refresh that this request waited for has just failed */
        return ngx_http_member_wx_unavailable(r);
    }

    rc = ngx_http_member_wx_open(r, wx, reply, &value, &refresh_at);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        /* a key line that was removed, say: make a new one */
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "member: cached wechat %s does not open, refreshing",
                      ngx_http_member_wx_kinds[wx->kind]);

        return ngx_http_member_wx_release(r, wx, NULL, 0);
    }

    if (ngx_time() < refresh_at) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "member: wechat %s cache hit",
                       ngx_http_member_wx_kinds[wx->kind]);

        return ngx_http_member_wx_deliver(r, wx, &value);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: wechat %s cache hit, due for a refresh",
                   ngx_http_member_wx_kinds[wx->kind]);

    /* due: one request refreshes it, the others go on using it */
    wx->fallback[wx->kind] = value;

    return ngx_http_member_wx_lock(r, wx);
}


/*
 * "<refresh at, unix seconds>.<sealed value>" -> the value: NGX_DECLINED
 * when there is none (nil, a failed refresh's "!") or it does not open.
 */

static ngx_int_t
ngx_http_member_wx_open(ngx_http_request_t *r, ngx_http_member_wx_t *wx,
    redisReply *reply, ngx_str_t *value, time_t *refresh_at)
{
    u_char     *dot;
    ngx_int_t   rc;
    ngx_str_t   stored, sealed;

    if (reply->type != REDIS_REPLY_STRING
        || (reply->len == 1 && reply->str[0] == '!'))
    {
        return NGX_DECLINED;
    }

    stored.data = ngx_pnalloc(r->pool, reply->len);
    if (stored.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(stored.data, reply->str, reply->len);
    stored.len = reply->len;

    dot = ngx_strlchr(stored.data, stored.data + stored.len, '.');
    *refresh_at = dot ? ngx_atotm(stored.data, dot - stored.data) : NGX_ERROR;

    if (*refresh_at == NGX_ERROR) {
        return NGX_DECLINED;
    }

    sealed.data = dot + 1;
    sealed.len = stored.data + stored.len - sealed.data;

    rc = ngx_http_member_pii_open(r, &wx->key, &sealed, value);

    if (rc != NGX_OK) {
        return rc;
    }

    if (wx->kind == NGX_HTTP_MEMBER_WX_TOKEN) {
        wx->token_seen = stored;
    }

    return NGX_OK;
}


/*
 * The lock, and the value read again behind it: a refresher may have
 * stored it and let go of the lock between this request's GET and its
 * SET NX, and must not be followed by a second call to WeChat.
 */

static ngx_int_t
ngx_http_member_wx_lock(ngx_http_request_t *r, ngx_http_member_wx_t *wx)
{
    ngx_http_member_argv_t  cmds[] = {
        { ngx_http_member_args(ngx_http_member_cmd_set, wx->lock, wx->owner,
                               ngx_string("NX"), ngx_string("PX"),
                               ngx_string("10000")) },
        { ngx_http_member_args(ngx_http_member_cmd_get, wx->key) }
    };

    return ngx_http_member_redis_pipeline(r, ngx_http_member_wx_locked,
                                          ngx_http_member_nelts(cmds), cmds);
}


static ngx_int_t
ngx_http_member_wx_locked(ngx_http_request_t *r, ngx_http_member_call_t *call,
    redisReply *reply)
{
    time_t                  refresh_at;
    ngx_int_t               rc;
    redisReply             *set;
    ngx_http_member_ctx_t  *ctx;
    ngx_http_member_wx_t   *wx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    wx = ctx->wechat_cache;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    set = reply->element[0];

    if (set->type == REDIS_REPLY_STATUS) {
        wx->locks |= 1 << wx->kind;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "member: wechat %s lock taken",
                       ngx_http_member_wx_kinds[wx->kind]);

        if (wx->fallback[wx->kind].len) {
            return ngx_http_member_wx_refresh(r, wx);   /* due: renew */
        }

        rc = ngx_http_member_wx_open(r, wx, reply->element[1], &wx->value,
                                     &refresh_at);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_OK && ngx_time() < refresh_at) {
            /* stored meanwhile: the lock goes back, the value serves */
            wx->fallback[wx->kind] = wx->value;
            return ngx_http_member_wx_release(r, wx, NULL, 0);
        }

        return ngx_http_member_wx_refresh(r, wx);
    }

    if (set->type != REDIS_REPLY_NIL) {
        return ngx_http_member_reply_script_error(r, set);
    }

    /* another worker refreshes */

    if (wx->fallback[wx->kind].len) {
        return ngx_http_member_wx_deliver(r, wx, &wx->fallback[wx->kind]);
    }

    if ((ngx_msec_int_t) (ngx_current_msec - wx->deadline) >= 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: waited too long for the wechat %s",
                      ngx_http_member_wx_kinds[wx->kind]);
        return ngx_http_member_wx_unavailable(r);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: wechat %s refreshed elsewhere: polling in %M ms",
                   ngx_http_member_wx_kinds[wx->kind],
                   (ngx_msec_t) NGX_HTTP_MEMBER_WX_POLL);

    ngx_add_timer(&wx->wait, NGX_HTTP_MEMBER_WX_POLL);
    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_member_wx_poll(ngx_event_t *ev)
{
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_http_member_wx_t  *wx = ev->data;

    r = wx->request;
    c = r->connection;

    ngx_http_finalize_request(r, ngx_http_member_wx_fetch(r, wx, wx->kind));
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_member_wx_refresh(ngx_http_request_t *r, ngx_http_member_wx_t *wx)
{
    u_char                      *p;
    size_t                       len;
    ngx_str_t                    path, args, body;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (wx->kind != NGX_HTTP_MEMBER_WX_TOKEN && wx->token.len == 0) {
        /* a ticket needs a token: get one, keeping the ticket's lock */
        wx->pending = wx->kind;
        return ngx_http_member_wx_fetch(r, wx, NGX_HTTP_MEMBER_WX_TOKEN);
    }

    /* JSON escapes take at most 6 bytes a character, URIs 3 */
    len = sizeof("{\"grant_type\":\"client_credential\",\"appid\":\"\","
                 "\"secret\":\"\",\"force_refresh\":false}")
          + 6 * mlcf->wechat_appid.len + 6 * mlcf->wechat_secret.len
          + 3 * wx->token.len + 64;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args.data = p;
    ngx_str_null(&body);

    if (wx->kind != NGX_HTTP_MEMBER_WX_TOKEN) {
        ngx_str_set(&path, "cgi-bin/ticket/getticket");
        p = ngx_cpymem(p, "access_token=", 13);
        p = (u_char *) ngx_escape_uri(p, wx->token.data, wx->token.len,
                                      NGX_ESCAPE_ARGS);
        p = ngx_sprintf(p, "&type=%s", ngx_http_member_wx_kinds[wx->kind]);

    } else if (mlcf->wechat_stable_token) {
        /* after a refusal, force: the stable token would be the same */
        ngx_str_set(&path, "cgi-bin/stable_token");

        body.data = p;
        p = ngx_cpymem(p, "{\"grant_type\":\"client_credential\","
                          "\"appid\":\"",
                       sizeof("{\"grant_type\":\"client_credential\","
                              "\"appid\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, mlcf->wechat_appid.data,
                                       mlcf->wechat_appid.len);
        p = ngx_cpymem(p, "\",\"secret\":\"", 12);
        p = (u_char *) ngx_escape_json(p, mlcf->wechat_secret.data,
                                       mlcf->wechat_secret.len);
        p = ngx_sprintf(p, "\",\"force_refresh\":%s}",
                        wx->renewed ? "true" : "false");
        body.len = p - body.data;
        p = body.data;

    } else {
        ngx_str_set(&path, "cgi-bin/token");
        p = ngx_cpymem(p, "grant_type=client_credential&appid=", 35);
        p = (u_char *) ngx_escape_uri(p, mlcf->wechat_appid.data,
                                      mlcf->wechat_appid.len, NGX_ESCAPE_ARGS);
        p = ngx_cpymem(p, "&secret=", 8);
        p = (u_char *) ngx_escape_uri(p, mlcf->wechat_secret.data,
                                      mlcf->wechat_secret.len,
                                      NGX_ESCAPE_ARGS);
    }

    args.len = p - args.data;

    return ngx_http_member_wechat_post(r, &path, &args,
                                       body.len ? &body : NULL,
                                       ngx_http_member_wx_refreshed);
}


static ngx_int_t
ngx_http_member_wx_refreshed(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    mgw_secret_t           *got;
    mgw_api_result_t        res;
    ngx_http_member_ctx_t  *ctx;
    ngx_http_member_wx_t   *wx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    wx = ctx->wechat_cache;

    if (ctx->wechat_failed) {
        wx->failing = 1;
        return ngx_http_member_wx_release(r, wx, NULL, 0);
    }

    got = ngx_palloc(r->pool, sizeof(mgw_secret_t));
    if (got == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    res = (wx->kind == NGX_HTTP_MEMBER_WX_TOKEN)
          ? mgw_token_parse(ctx->sr_body.data, ctx->sr_body.len, got)
          : mgw_ticket_parse(ctx->sr_body.data, ctx->sr_body.len, got);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: wechat %s refresh answered: %s",
                   ngx_http_member_wx_kinds[wx->kind],
                   res == MGW_API_OK ? "renewed" : "refused");

    if (res == MGW_API_OK) {
        rc = ngx_http_member_wx_store(r, wx, got);
        ngx_explicit_memzero(got, sizeof(mgw_secret_t));
        return rc;
    }

    if (res == MGW_API_TOKEN_INVALID && wx->kind != NGX_HTTP_MEMBER_WX_TOKEN
        && !wx->renewed)
    {
        /* the token went stale under us: a new one, then this ticket */
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "member: wechat refused the access_token, errcode %l",
                      got->errcode);
        wx->renewed = 1;
        wx->pending = wx->kind;
        ngx_str_null(&wx->token);

        if (ngx_http_member_wx_names(r, wx, NGX_HTTP_MEMBER_WX_TOKEN)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_member_wx_drop(r, wx);
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "member: wechat %s refresh failed, errcode %l",
                  ngx_http_member_wx_kinds[wx->kind], got->errcode);

    wx->failing = 1;

    return ngx_http_member_wx_release(r, wx, NULL, 0);
}


/*
 * Kept until shortly before WeChat's expiry; refreshed early, after three
 * quarters of that, so that nobody waits for a value that has run out.
 */

static ngx_int_t
ngx_http_member_wx_store(ngx_http_request_t *r, ngx_http_member_wx_t *wx,
    mgw_secret_t *got)
{
    u_char     *p;
    time_t      ttl;
    ngx_str_t   plain, sealed, stored;

    ttl = got->expires_in - ngx_min(60, got->expires_in / 10);

    plain.data = (u_char *) got->value;
    plain.len = got->len;

    wx->value.data = ngx_pnalloc(r->pool, got->len);
    if (wx->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(wx->value.data, got->value, got->len);
    wx->value.len = got->len;

    if (ngx_http_member_pii_seal(r, &wx->key, &plain, &sealed) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 1 + sealed.len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    stored.data = p;
    p = ngx_sprintf(p, "%T.", ngx_time() + ttl * 3 / 4);
    p = ngx_cpymem(p, sealed.data, sealed.len);
    stored.len = p - stored.data;

    if (wx->kind == NGX_HTTP_MEMBER_WX_TOKEN) {
        wx->token_seen = stored;
    }

    return ngx_http_member_wx_release(r, wx, &stored, (ngx_msec_t) ttl * 1000);
}


/* value NULL: the refresh failed */

static ngx_int_t
ngx_http_member_wx_release(ngx_http_request_t *r, ngx_http_member_wx_t *wx,
    ngx_str_t *value, ngx_msec_t ttl)
{
    u_char     *p;
    ngx_str_t   keys[NGX_HTTP_MEMBER_WECHAT_STORE_NKEYS];
    ngx_str_t   args[NGX_HTTP_MEMBER_WECHAT_STORE_NARGV];

    keys[NGX_HTTP_MEMBER_WECHAT_STORE_KEY_VALUE] = wx->key;
    keys[NGX_HTTP_MEMBER_WECHAT_STORE_KEY_LOCK] = wx->lock;

    args[NGX_HTTP_MEMBER_WECHAT_STORE_ARGV_OWNER] = wx->owner;

    if (value) {
        args[NGX_HTTP_MEMBER_WECHAT_STORE_ARGV_VALUE] = *value;

    } else if (wx->fallback[wx->kind].len) {
        ngx_str_set(&args[NGX_HTTP_MEMBER_WECHAT_STORE_ARGV_VALUE], "");

    } else {
        ngx_str_set(&args[NGX_HTTP_MEMBER_WECHAT_STORE_ARGV_VALUE], "!");
        ttl = NGX_HTTP_MEMBER_WX_FAILED;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_WECHAT_STORE_ARGV_TTL].data = p;
    args[NGX_HTTP_MEMBER_WECHAT_STORE_ARGV_TTL].len =
                                        ngx_sprintf(p, "%M", ttl ? ttl : 1) - p;

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_WECHAT_STORE,
                                        ngx_http_member_wx_released, keys, args,
                                        0);
}


static ngx_int_t
ngx_http_member_wx_released(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_uint_t              kind;
    ngx_http_member_ctx_t  *ctx;
    ngx_http_member_wx_t   *wx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    wx = ctx->wechat_cache;

    wx->locks &= ~(1 << wx->kind);

    if (reply->type != REDIS_REPLY_STATUS && reply->type != REDIS_REPLY_STRING)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    if (!wx->failing) {
        return ngx_http_member_wx_deliver(r, wx, &wx->value);
    }

    if (wx->pending != NGX_HTTP_MEMBER_WX_NONE) {
        /* no token for the ticket: its lock goes too */
        kind = wx->pending;
        wx->pending = NGX_HTTP_MEMBER_WX_NONE;

        if (ngx_http_member_wx_names(r, wx, kind) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_member_wx_release(r, wx, NULL, 0);
    }

    wx->failing = 0;

    if (wx->fallback[wx->kind].len) {
        return ngx_http_member_wx_deliver(r, wx, &wx->fallback[wx->kind]);
    }

    return ngx_http_member_wx_unavailable(r);
}


static ngx_int_t
ngx_http_member_wx_drop(ngx_http_request_t *r, ngx_http_member_wx_t *wx)
{
    if (wx->token_seen.len == 0) {
        return ngx_http_member_wx_fetch(r, wx, NGX_HTTP_MEMBER_WX_TOKEN);
    }

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_WECHAT_DROP,
                                        ngx_http_member_wx_dropped, &wx->key,
                                        &wx->token_seen,
                                        0);
}


static ngx_int_t
ngx_http_member_wx_dropped(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_ctx_t  *ctx;
    ngx_http_member_wx_t   *wx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    wx = ctx->wechat_cache;

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ngx_str_null(&wx->token_seen);
    ngx_str_null(&wx->fallback[NGX_HTTP_MEMBER_WX_TOKEN]);

    return ngx_http_member_wx_fetch(r, wx, NGX_HTTP_MEMBER_WX_TOKEN);
}


static ngx_int_t
ngx_http_member_wx_deliver(ngx_http_request_t *r, ngx_http_member_wx_t *wx,
    ngx_str_t *value)
{
    ngx_uint_t  kind;

    if (wx->pending == NGX_HTTP_MEMBER_WX_NONE) {
        return wx->done(r, value);
    }

    /* the token a ticket waited for: back to the ticket, still locked */
    wx->token = *value;
    kind = wx->pending;
    wx->pending = NGX_HTTP_MEMBER_WX_NONE;

    if (ngx_http_member_wx_names(r, wx, kind) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!(wx->locks & (1 << kind))) {
        return ngx_http_member_wx_fetch(r, wx, kind);
    }

    return ngx_http_member_wx_refresh(r, wx);
}


static ngx_int_t
ngx_http_member_wx_unavailable(ngx_http_request_t *r)
{
    return ngx_http_member_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "wechat_unavailable",
                                 "WeChat could not be reached");
}
