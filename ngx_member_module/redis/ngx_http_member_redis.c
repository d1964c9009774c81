
/*
 * ngx_member: the asynchronous Redis client, its connection.
 *
 * hiredis' async API driven by the worker's own events: each worker keeps
 * one connection per configured Redis, wrapped in an ngx_connection_t, and
 * pipelines the commands of all its requests on it.  Timeouts are nginx
 * timers; a dead or hung Redis costs a 503, never a stuck worker.  Here:
 * the connection (connect, reconnect with backoff, the event adapter that
 * fills hiredis' ev hooks) and the record hiredis holds for each command
 * until its answer.  A request's commands are ngx_http_member_redis_call.c,
 * the commands of no request ngx_http_member_redis_bg.c.
 */


#include <sys/ioctl.h>

#include "ngx_member_redis.h"


#define NGX_HTTP_MEMBER_BACKOFF_MIN  100
#define NGX_HTTP_MEMBER_BACKOFF_MAX  2000


static ngx_str_t  ngx_http_member_redis_auth = ngx_string("AUTH");
static ngx_str_t  ngx_http_member_redis_select = ngx_string("SELECT");
ngx_str_t  ngx_http_member_redis_eval = ngx_string("EVAL");
ngx_str_t  ngx_http_member_redis_evalsha = ngx_string("EVALSHA");


static void ngx_http_member_redis_connect(ngx_http_member_redis_t *redis);
static void ngx_http_member_redis_schedule(ngx_http_member_redis_t *redis);
static void ngx_http_member_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_member_redis_connect_timeout_handler(ngx_event_t *ev);
static void ngx_http_member_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_member_redis_auth_done(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_member_redis_read_handler(ngx_event_t *rev);
static void ngx_http_member_redis_write_handler(ngx_event_t *wev);
static void ngx_http_member_redis_noop(void *privdata);
static void ngx_http_member_redis_add_write(void *privdata);
static void ngx_http_member_redis_cleanup(void *privdata);
static void ngx_http_member_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);


ngx_int_t
ngx_http_member_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                 i;
    ngx_http_member_redis_t  **redis, *rd;

    redis = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        rd = redis[i];

        rd->log = cycle->log;

        rd->reconnect.handler = ngx_http_member_redis_reconnect_handler;
        rd->reconnect.data = rd;
        rd->reconnect.log = cycle->log;
        rd->reconnect.cancelable = 1;

        rd->connect_timer.handler =
                                ngx_http_member_redis_connect_timeout_handler;
        rd->connect_timer.data = rd;
        rd->connect_timer.log = cycle->log;
        rd->connect_timer.cancelable = 1;

        ngx_http_member_redis_connect(rd);
    }

    return NGX_OK;
}


void
ngx_http_member_redis_exit_process(ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                 i;
    ngx_http_member_cmd_t     *cmd;
    ngx_http_member_redis_t  **redis, *rd;

    redis = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        rd = redis[i];
        rd->exiting = 1;

        ngx_http_member_job_exit(rd);

        if (rd->reconnect.timer_set) {
            ngx_del_timer(&rd->reconnect);
        }

        /* without this each reload logs "open socket ... left" */
        if (rd->ac) {
            redisAsyncFree(rd->ac);
        }

        while (rd->free) {
            cmd = rd->free;
            rd->free = cmd->next;
            ngx_free(cmd);
        }

        if (rd->stores) {
            ngx_free(rd->stores);
            rd->stores = NULL;
        }

        ngx_http_member_redis_brand_free(rd);
    }
}


static void
ngx_http_member_redis_connect(ngx_http_member_redis_t *redis)
{
    const char         *argv[2];
    size_t              argvlen[2];
    u_char              db[NGX_INT_T_LEN];
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" connecting", &redis->name);

    if (redis->unix_path.len) {
        ac = redisAsyncConnectUnix((const char *) redis->unix_path.data);

    } else {
        ac = redisAsyncConnect((const char *) redis->host.data, redis->port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ALERT, redis->log, 0,
                      "member: redis \"%V\": out of memory", &redis->name);
        ngx_http_member_redis_schedule(redis);
        return;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "member: redis \"%V\" connect failed: %s",
                      &redis->name, ac->errstr);
        redisAsyncFree(ac);
        ngx_http_member_redis_schedule(redis);
        return;
    }

    c = ngx_get_connection(ac->c.fd, redis->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_member_redis_schedule(redis);
        return;
    }

    c->data = redis;
    c->read->handler = ngx_http_member_redis_read_handler;
    c->write->handler = ngx_http_member_redis_write_handler;
    c->read->log = redis->log;
    c->write->log = redis->log;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    redis->ac = ac;
    redis->connection = c;
    redis->connected = 0;
    redis->last_read = ngx_current_msec;

    ac->data = redis;
    ac->ev.data = redis;
    ac->ev.addRead = ngx_http_member_redis_noop;
    ac->ev.delRead = ngx_http_member_redis_noop;
    ac->ev.addWrite = ngx_http_member_redis_add_write;
    ac->ev.delWrite = ngx_http_member_redis_noop;
    ac->ev.cleanup = ngx_http_member_redis_cleanup;

    /* epoll is edge-triggered here: add both events once and keep them */
    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_CLEAR_EVENT) != NGX_OK
        || ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_CLEAR_EVENT)
           != NGX_OK)
    {
        redisAsyncFree(ac);
        return;
    }

    redisAsyncSetConnectCallback(ac, ngx_http_member_redis_connected);

    ngx_add_timer(&redis->connect_timer, redis->connect_timeout);

    /* queued before any request's command, so first on the wire */
    if (redis->password.len) {
        argv[0] = (const char *) ngx_http_member_redis_auth.data;
        argvlen[0] = ngx_http_member_redis_auth.len;
        argv[1] = (const char *) redis->password.data;
        argvlen[1] = redis->password.len;

        redisAsyncCommandArgv(ac, ngx_http_member_redis_auth_done, "AUTH",
                              2, argv, argvlen);
    }

    if (redis->db) {
        argv[0] = (const char *) ngx_http_member_redis_select.data;
        argvlen[0] = ngx_http_member_redis_select.len;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%ui", redis->db) - db;

        redisAsyncCommandArgv(ac, ngx_http_member_redis_auth_done, "SELECT",
                              2, argv, argvlen);
    }
}


static void
ngx_http_member_redis_schedule(ngx_http_member_redis_t *redis)
{
    if (redis->exiting || redis->reconnect.timer_set) {
        return;
    }

    if (redis->backoff == 0) {
        redis->backoff = NGX_HTTP_MEMBER_BACKOFF_MIN;

    } else {
        redis->backoff = ngx_min(redis->backoff * 2,
                                 NGX_HTTP_MEMBER_BACKOFF_MAX);
    }

    ngx_add_timer(&redis->reconnect, redis->backoff);
}


static void
ngx_http_member_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_member_redis_t  *redis = ev->data;

    if (redis->exiting || redis->ac) {
        return;
    }

    ngx_http_member_redis_connect(redis);
}


static void
ngx_http_member_redis_connect_timeout_handler(ngx_event_t *ev)
{
    ngx_http_member_redis_t  *redis = ev->data;

    if (redis->ac == NULL || redis->connected) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, redis->log, NGX_ETIMEDOUT,
                  "member: redis \"%V\" connect timed out", &redis->name);

    redisAsyncFree(redis->ac);
}


static void
ngx_http_member_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_member_redis_t  *redis = ac->data;

    if (redis->connect_timer.timer_set) {
        ngx_del_timer(&redis->connect_timer);
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context next: the cleanup reschedules */
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "member: redis \"%V\" connect failed: %s",
                      &redis->name, ac->errstr);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, redis->log, 0,
                  "member: redis \"%V\" connected", &redis->name);

    redis->connected = 1;
    ngx_http_member_stats_connection(1);
}


static void
ngx_http_member_redis_auth_done(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply               *rr = reply;
    ngx_http_member_redis_t  *redis = ac->data;

    if (rr == NULL || rr->type != REDIS_REPLY_ERROR) {
        return;
    }

    /* the password never reaches the log, only the command's name */
    ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                  "member: redis \"%V\" refused %s: %*s", &redis->name,
                  (char *) privdata, (size_t) ngx_min(rr->len, 128), rr->str);

    redisAsyncDisconnect(ac);
}


static void
ngx_http_member_redis_read_handler(ngx_event_t *rev)
{
    int                       n;
    ngx_connection_t         *c = rev->data;
    ngx_http_member_redis_t  *redis = c->data;

    redis->last_read = ngx_current_msec;

    /*
     * hiredis reads at most 16K per call and the edge-triggered event
     * does not fire again for the rest: read while the socket has bytes
     */
    for ( ;; ) {
        redisAsyncHandleRead(redis->ac);

        if (redis->ac == NULL) {
            return;
        }

        if (ioctl(redis->ac->c.fd, FIONREAD, &n) == -1 || n == 0) {
            return;
        }
    }
}


static void
ngx_http_member_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t         *c = wev->data;
    ngx_http_member_redis_t  *redis = c->data;

    if (redis->ac == NULL) {
        return;
    }

    redis->in_write = 1;
    redisAsyncHandleWrite(redis->ac);
    redis->in_write = 0;
}


static void
ngx_http_member_redis_noop(void *privdata)
{
}


static void
ngx_http_member_redis_add_write(void *privdata)
{
    ngx_http_member_redis_t  *redis = privdata;

    /*
     * Posting the write event sends all the commands of one event loop
     * iteration in one write().  Inside the write handler (a short write)
     * or before the connection completes, EPOLLOUT will come by itself.
     */
    if (redis->connection == NULL || redis->in_write || !redis->connected) {
        return;
    }

    if (!redis->connection->write->posted) {
        ngx_post_event(redis->connection->write, &ngx_posted_events);
    }
}


static void
ngx_http_member_redis_cleanup(void *privdata)
{
    ngx_connection_t         *c;
    ngx_http_member_redis_t  *redis = privdata;

    c = redis->connection;

    if (c) {
        if (c->read->posted) {
            ngx_delete_posted_event(c->read);
        }

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        /* hiredis closes the socket itself */
        ngx_del_conn(c, NGX_CLOSE_EVENT);
        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1;
    }

    if (redis->connected) {
        ngx_http_member_stats_connection(-1);

        if (!redis->exiting) {
            ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                          "member: redis \"%V\" connection closed",
                          &redis->name);
        }
    }

    /*
     * A connection that answered is made again at once (Redis restarted,
     * an idle timeout); one that never answered waits its backoff, so a
     * server that accepts and drops does not spin the worker.
     */
    if (redis->healthy && !redis->exiting && !redis->reconnect.timer_set) {
        redis->healthy = 0;
        ngx_add_timer(&redis->reconnect, 1);
    }

    if (redis->connect_timer.timer_set) {
        ngx_del_timer(&redis->connect_timer);
    }

    redis->connection = NULL;
    redis->ac = NULL;
    redis->connected = 0;

    ngx_http_member_redis_schedule(redis);
}


/*
 * Queues one command with its record, taken from the worker's free list;
 * the record goes back there when hiredis refuses the command.
 */

ngx_http_member_cmd_t *
ngx_http_member_redis_issue(ngx_http_member_redis_t *redis, int argc,
    const char **argv, const size_t *argvlen, ngx_int_t script,
    ngx_http_member_call_t *call, ngx_http_member_bg_pt bg, void *data,
    ngx_int_t *rc)
{
    size_t                               len;
    ngx_uint_t                           unbrand;
    const char                         **tv;
    const size_t                        *tl;
    ngx_http_member_cmd_t               *cmd;
    const ngx_http_member_script_src_t  *src;

    if (redis->ac == NULL || redis->exiting) {
        *rc = NGX_DECLINED;
        return NULL;
    }

    /*
     * The brand's namespace on every key as it is sent (and so before a
     * key's slot is known); the hint keeps the template names (tv, tl).
     */
    tv = argv;
    tl = argvlen;
    unbrand = 0;

    if (redis->brand.len
        && ngx_http_member_redis_brand(redis, argc, &argv, &argvlen,
                                       &unbrand)
           != NGX_OK)
    {
        *rc = NGX_ERROR;
        return NULL;
    }

    cmd = redis->free;

    if (cmd) {
        redis->free = cmd->next;

    } else {
        cmd = ngx_alloc(sizeof(ngx_http_member_cmd_t), redis->log);
        if (cmd == NULL) {
            *rc = NGX_ERROR;
            return NULL;
        }
    }

    cmd->redis = redis;
    cmd->call = call;
    cmd->start = ngx_http_member_now_us();
    cmd->bg = bg;
    cmd->data = data;
    cmd->part = 0;
    cmd->script = -1;
    cmd->unbrand = unbrand;
    cmd->member_len = 0;

    /*
     * A script that changes a member keeps the member's key (argv: the
     * command, the script, the number of keys, the keys): its hint goes
     * out when the answer comes, whether or not the request still waits.
     */
    if (script >= 0) {
        src = &ngx_http_member_script_srcs[script];
        len = tl[3 + src->member];

        if (src->hint && len <= NGX_HTTP_MEMBER_MEMBER_KEY_LEN) {
            cmd->script = script;
            cmd->member_len = len;
            ngx_memcpy(cmd->member, tv[3 + src->member], len);
        }
    }

    if (redisAsyncCommandArgv(redis->ac, ngx_http_member_redis_reply, cmd,
                              argc, argv, argvlen)
        != REDIS_OK)
    {
        cmd->next = redis->free;
        redis->free = cmd;
        *rc = NGX_DECLINED;
        return NULL;
    }

    redis->inflight++;
    *rc = NGX_OK;

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" %*s %s sent, %d arguments",
                   &redis->name, argvlen[0], argv[0],
                   script >= 0 ? ngx_http_member_script_srcs[script].name : "",
                   argc);

    return cmd;
}


static void
ngx_http_member_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply               *rr = reply;
    void                     *data;
    ngx_http_member_cmd_t    *cmd = privdata;
    ngx_http_member_bg_pt     bg;
    ngx_http_member_call_t   *call;
    ngx_http_member_redis_t  *redis;

    redis = cmd->redis;
    call = cmd->call;
    bg = cmd->bg;
    data = cmd->data;

    redis->inflight--;

    if (cmd->unbrand && rr) {
        ngx_http_member_redis_unbrand(redis, rr);
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" reply type %d after %M us, "
                   "%s, part %ui", &redis->name, rr ? rr->type : 0,
                   ngx_http_member_now_us() - cmd->start,
                   bg ? "background" : call ? "request" : "request gone",
                   cmd->part);

    if (call && call->ncmds && cmd->part + 1 < call->ncmds
        && !redis->exiting)
    {
        ngx_http_member_redis_call_part(call, cmd->part, rr);
        cmd->next = redis->free;
        redis->free = cmd;
        return;
    }

    if (rr && !redis->healthy) {
        redis->healthy = 1;
        redis->backoff = 0;
    }

    ngx_http_member_stats_redis(ngx_http_member_now_us() - cmd->start,
                                rr == NULL);

    if (cmd->script >= 0 && rr && !redis->exiting) {
        ngx_http_member_redis_bg_hint(cmd, rr);
    }

    /* the record is recycled first: nothing below touches it */
    cmd->next = redis->free;
    redis->free = cmd;

    if (bg) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                       "member: redis \"%V\" background reply: %s",
                       &redis->name, ngx_http_member_redis_type_name(rr));

        if (!redis->exiting) {
            bg(redis, data, rr);
        }

        return;
    }

    if (call == NULL || redis->exiting) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                       "member: redis \"%V\" reply dropped: %s, "
                       "the request is gone", &redis->name,
                       ngx_http_member_redis_type_name(rr));
        return;                         /* the request is gone: drop it */
    }

    ngx_http_member_redis_call_answer(call, rr);
}


/* what a reply is, for the debug log: never what it holds */

const char *
ngx_http_member_redis_type_name(redisReply *reply)
{
    if (reply == NULL) {
        return "none (connection lost)";
    }

    switch (reply->type) {

    case REDIS_REPLY_STRING:
        return "string";

    case REDIS_REPLY_ARRAY:
        return "array";

    case REDIS_REPLY_INTEGER:
        return "integer";

    case REDIS_REPLY_NIL:
        return "nil";

    case REDIS_REPLY_STATUS:
        return "status";

    case REDIS_REPLY_ERROR:
        return "error";

    default:
        return "unknown";
    }
}


ngx_int_t
ngx_http_member_redis_status(ngx_http_member_redis_t *redis)
{
    return redis->connected;
}


ngx_int_t
ngx_http_member_redis_is_error(redisReply *reply, const char *code)
{
    char    *p;
    size_t   n, len;

    if (reply->type != REDIS_REPLY_ERROR) {
        return 0;
    }

    p = reply->str;
    n = reply->len;

    /* Redis prefixes "ERR " to an error_reply() without a code of its own */
    if (n > 4 && ngx_strncmp(p, "ERR ", 4) == 0) {
        p += 4;
        n -= 4;
    }

    len = ngx_strlen(code);

    return n >= len && ngx_strncmp(p, code, len) == 0
           && (n == len || p[len] == ' ');
}
