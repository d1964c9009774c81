
/*
 * ngx_member: the asynchronous Redis client.
 *
 * hiredis' async API driven by the worker's own events: each worker keeps
 * one connection per configured Redis, wrapped in an ngx_connection_t, and
 * pipelines the commands of all its requests on it.  Timeouts are nginx
 * timers; a dead or hung Redis costs a 503, never a stuck worker.
 */


#include <sys/ioctl.h>

#include "ngx_member_redis.h"


#define NGX_HTTP_MEMBER_BACKOFF_MIN  100
#define NGX_HTTP_MEMBER_BACKOFF_MAX  2000


/* what hiredis holds for a command until its callback runs, once */
struct ngx_http_member_cmd_s {
    ngx_http_member_cmd_t       *next;
    ngx_http_member_redis_t     *redis;
    ngx_http_member_call_t      *call;      /* NULL: request gone */
    ngx_msec_t                   start;
    ngx_http_member_bg_pt        bg;        /* a command of no request */
    void                        *data;
    ngx_uint_t                   part;      /* its place in a pipeline */
    ngx_int_t                    script;    /* -1: not a hinting script */
    size_t                       member_len;
    u_char                       member[NGX_HTTP_MEMBER_MEMBER_KEY_LEN];
};


/* what the layer above hints after a script that changes a member */
static ngx_http_member_changed_pt  ngx_http_member_redis_changed;


#define NGX_HTTP_MEMBER_BG_ARGC  64     /* arguments without an allocation */


static ngx_str_t  ngx_http_member_redis_auth = ngx_string("AUTH");
static ngx_str_t  ngx_http_member_redis_select = ngx_string("SELECT");
static ngx_str_t  ngx_http_member_redis_eval = ngx_string("EVAL");
static ngx_str_t  ngx_http_member_redis_evalsha = ngx_string("EVALSHA");


static void ngx_http_member_redis_connect(ngx_http_member_redis_t *redis);
static void ngx_http_member_redis_call_cleanup(void *data);
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
static ngx_int_t ngx_http_member_redis_send(ngx_http_member_call_t *call);
static void ngx_http_member_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_member_redis_timeout_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_member_redis_piped(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *last);
static redisReply *ngx_http_member_redis_copy(ngx_pool_t *pool,
    redisReply *reply);
static void ngx_http_member_redis_detach(ngx_http_member_call_t *call);
static ngx_int_t ngx_http_member_redis_unavailable(ngx_http_request_t *r);
static void ngx_http_member_redis_ignore(ngx_http_member_redis_t *redis,
    void *data, redisReply *reply);
static void ngx_http_member_redis_hint(ngx_http_member_cmd_t *cmd,
    redisReply *reply);


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

static ngx_http_member_cmd_t *
ngx_http_member_redis_issue(ngx_http_member_redis_t *redis, int argc,
    const char **argv, const size_t *argvlen, ngx_int_t script,
    ngx_http_member_call_t *call, ngx_http_member_bg_pt bg, void *data,
    ngx_int_t *rc)
{
    size_t                               len;
    ngx_http_member_cmd_t               *cmd;
    const ngx_http_member_script_src_t  *src;

    if (redis->ac == NULL || redis->exiting) {
        *rc = NGX_DECLINED;
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
    cmd->member_len = 0;

    /*
     * A script that changes a member keeps the member's key (argv: the
     * command, the script, the number of keys, the keys): its hint goes
     * out when the answer comes, whether or not the request still waits.
     */
    if (script >= 0) {
        src = &ngx_http_member_script_srcs[script];
        len = argvlen[3 + src->member];

        if (src->hint && len <= NGX_HTTP_MEMBER_MEMBER_KEY_LEN) {
            cmd->script = script;
            cmd->member_len = len;
            ngx_memcpy(cmd->member, argv[3 + src->member], len);
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


static ngx_int_t
ngx_http_member_redis_send(ngx_http_member_call_t *call)
{
    int                       argc;
    ngx_int_t                 rc;
    ngx_uint_t                i;
    const char              **argv;
    const size_t             *argvlen;
    ngx_http_member_cmd_t    *cmd;

    if (call->ncmds == 0) {
        call->cmd = ngx_http_member_redis_issue(call->redis, call->argc,
                                                call->argv, call->argvlen,
                                                call->script, call, NULL,
                                                NULL, &rc);
        return rc;
    }

    /*
     * A pipeline: each command is answered on its own; the early answers
     * are kept until the last one comes.  hiredis refuses a command only
     * when the connection is going away, whose callbacks then all get
     * NULL: the parts already sent are detached and answer no one.
     */

    argv = call->argv;
    argvlen = call->argvlen;

    for (i = 0; i < call->ncmds; i++) {
        argc = call->cmdargc[i];

        cmd = ngx_http_member_redis_issue(call->redis, argc, argv, argvlen,
                                          -1, call, NULL, NULL, &rc);
        if (cmd == NULL) {
            ngx_http_member_redis_detach(call);
            return rc;
        }

        cmd->part = i;
        call->parts[i] = cmd;

        argv += argc;
        argvlen += argc;
    }

    call->cmd = call->parts[call->ncmds - 1];

    return NGX_OK;
}


ngx_int_t
ngx_http_member_redis_call(ngx_http_request_t *r, ngx_http_member_call_t *call)
{
    ngx_int_t  rc;

    rc = ngx_http_member_redis_send(call);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: redis \"%V\" not connected",
                      &call->redis->name);
        return rc;
    }

    r->main->count++;

    call->request = r;
    call->timer.handler = ngx_http_member_redis_timeout_handler;
    call->timer.data = call;
    call->timer.log = r->connection->log;

    ngx_add_timer(&call->timer, call->timeout);

    return NGX_OK;
}


static void
ngx_http_member_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_int_t                 rc;
    redisReply               *rr = reply;
    ngx_connection_t         *c;
    ngx_http_request_t       *r;
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

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" reply type %d after %M us, "
                   "%s, part %ui", &redis->name, rr ? rr->type : 0,
                   ngx_http_member_now_us() - cmd->start,
                   bg ? "background" : call ? "request" : "request gone",
                   cmd->part);

    if (call && call->ncmds && cmd->part + 1 < call->ncmds
        && !redis->exiting)
    {
        /* an early part of a pipeline: its answer waits for the last */
        call->parts[cmd->part] = NULL;
        call->replies[cmd->part] =
                             rr ? ngx_http_member_redis_copy(
                                      call->request->pool, rr)
                                : NULL;
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
        ngx_http_member_redis_hint(cmd, rr);
    }

    /* the record is recycled first: nothing below touches it */
    cmd->next = redis->free;
    redis->free = cmd;

    if (bg) {
        if (!redis->exiting) {
            bg(redis, data, rr);
        }

        return;
    }

    if (call == NULL || redis->exiting) {
        return;                         /* the request is gone: drop it */
    }

    call->cmd = NULL;

    if (call->ncmds) {
        call->parts[call->ncmds - 1] = NULL;
    }

    if (call->timer.timer_set) {
        ngx_del_timer(&call->timer);
    }

    r = call->request;
    c = r->connection;

    if (rr == NULL) {
        rc = ngx_http_member_redis_unavailable(r);

    } else if (call->script >= 0 && !call->retried
               && ngx_http_member_redis_is_error(rr, "NOSCRIPT"))
    {
        /* the script cache was flushed: nothing ran, send the source */
        call->retried = 1;
        call->argv[0] = (const char *) ngx_http_member_redis_eval.data;
        call->argvlen[0] = ngx_http_member_redis_eval.len;
        call->argv[1] = ngx_http_member_script_srcs[call->script].text;
        call->argvlen[1] = ngx_http_member_script_srcs[call->script].len;

        if (ngx_http_member_redis_send(call) == NGX_OK) {
            ngx_add_timer(&call->timer, call->timeout);
            return;
        }

        rc = ngx_http_member_redis_unavailable(r);

    } else if (call->ncmds) {
        rc = ngx_http_member_redis_piped(r, call, rr);

    } else {
        rc = call->handler(r, call, rr);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* a pipeline's last answer came: the handler gets them all as one array */

static ngx_int_t
ngx_http_member_redis_piped(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *last)
{
    ngx_uint_t   i;
    redisReply   all;

    call->replies[call->ncmds - 1] = last;

    for (i = 0; i + 1 < call->ncmds; i++) {
        if (call->replies[i] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;      /* out of memory */
        }
    }

    ngx_memzero(&all, sizeof(redisReply));
    all.type = REDIS_REPLY_ARRAY;
    all.elements = call->ncmds;
    all.element = call->replies;

    return call->handler(r, call, &all);
}


/* hiredis frees a reply when its callback returns: a kept one is copied */

static redisReply *
ngx_http_member_redis_copy(ngx_pool_t *pool, redisReply *reply)
{
    size_t       i;
    redisReply  *copy;

    copy = ngx_pcalloc(pool, sizeof(redisReply));
    if (copy == NULL) {
        return NULL;
    }

    copy->type = reply->type;
    copy->integer = reply->integer;
    copy->len = reply->len;

    if (reply->str) {
        copy->str = ngx_pnalloc(pool, reply->len + 1);
        if (copy->str == NULL) {
            return NULL;
        }

        ngx_memcpy(copy->str, reply->str, reply->len);
        copy->str[reply->len] = '\0';
    }

    if (reply->elements == 0) {
        return copy;
    }

    copy->element = ngx_palloc(pool, reply->elements * sizeof(redisReply *));
    if (copy->element == NULL) {
        return NULL;
    }

    copy->elements = reply->elements;

    for (i = 0; i < reply->elements; i++) {
        copy->element[i] = ngx_http_member_redis_copy(pool, reply->element[i]);
        if (copy->element[i] == NULL) {
            return NULL;
        }
    }

    return copy;
}


/* the request no longer waits: every answer still to come is dropped */

static void
ngx_http_member_redis_detach(ngx_http_member_call_t *call)
{
    ngx_uint_t  i;

    for (i = 0; i < call->ncmds; i++) {
        if (call->parts[i]) {
            call->parts[i]->call = NULL;
            call->parts[i] = NULL;
        }
    }

    if (call->cmd) {
        call->cmd->call = NULL;
        call->cmd = NULL;
    }
}


static void
ngx_http_member_redis_timeout_handler(ngx_event_t *ev)
{
    ngx_connection_t         *c;
    ngx_http_request_t       *r;
    ngx_http_member_call_t   *call = ev->data;
    ngx_http_member_redis_t  *redis;

    r = call->request;
    c = r->connection;
    redis = call->redis;

    ngx_http_member_redis_detach(call);

    ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT,
                  "member: redis \"%V\" timed out", &redis->name);

    /*
     * A Redis that answered nothing for a whole timeout is hung (SIGSTOP,
     * a stuck host): drop the connection so that every waiting request
     * gets its 503 now instead of piling up, and connect anew.
     */
    if (redis->ac && ngx_current_msec - redis->last_read >= call->timeout) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "member: redis \"%V\" silent for %M ms, reconnecting",
                      &redis->name, ngx_current_msec - redis->last_read);
        redisAsyncFree(redis->ac);
    }

    ngx_http_finalize_request(r, ngx_http_member_redis_unavailable(r));
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_member_redis_unavailable(ngx_http_request_t *r)
{
    return ngx_http_member_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "redis_unavailable",
                                 "the member store is unavailable");
}


static ngx_int_t
ngx_http_member_redis_start(ngx_http_request_t *r, ngx_http_member_call_t *call)
{
    ngx_int_t  rc;

    rc = ngx_http_member_redis_call(r, call);

    if (rc == NGX_OK) {
        return NGX_DONE;
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_member_redis_unavailable(r);
}


/*
 * The request's call, made on its first command: it lives in the
 * request's pool, whose cleanup lets go of a command still in flight.
 */

ngx_http_member_call_t *
ngx_http_member_redis_request_call(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t      *cln;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_call_t  *call;

    ctx = ngx_http_member_get_ctx(r);
    if (ctx == NULL) {
        return NULL;
    }

    if (ctx->call) {
        return ctx->call;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_member_call_t));
    if (cln == NULL) {
        return NULL;
    }

    call = cln->data;
    ngx_memzero(call, sizeof(ngx_http_member_call_t));

    call->request = r;
    call->script = -1;

    cln->handler = ngx_http_member_redis_call_cleanup;
    ctx->call = call;

    return call;
}


static void
ngx_http_member_redis_call_cleanup(void *data)
{
    ngx_http_member_redis_abandon(data);
}


static ngx_int_t
ngx_http_member_redis_prepare(ngx_http_request_t *r,
    ngx_http_member_call_t **callp, int argc)
{
    ngx_http_member_call_t       *call;
    ngx_http_member_loc_conf_t   *mlcf;

    call = ngx_http_member_redis_request_call(r);
    if (call == NULL) {
        return NGX_ERROR;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (call->cmd) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "member: redis call already in flight");
        return NGX_ERROR;
    }

    call->request = r;
    call->redis = mlcf->redis;
    call->timeout = mlcf->redis_timeout;
    call->retried = 0;
    call->script = -1;
    call->ncmds = 0;
    call->argc = argc;

    call->argv = ngx_palloc(r->pool, argc * sizeof(char *));
    call->argvlen = ngx_palloc(r->pool, argc * sizeof(size_t));

    if (call->argv == NULL || call->argvlen == NULL) {
        return NGX_ERROR;
    }

    *callp = call;

    return NGX_OK;
}


ngx_int_t
ngx_http_member_redis_command(ngx_http_request_t *r,
    ngx_http_member_call_pt handler, int argc, ...)
{
    int                      i;
    va_list                  args;
    ngx_str_t               *arg;
    ngx_http_member_call_t  *call;

    if (ngx_http_member_redis_prepare(r, &call, argc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    va_start(args, argc);

    for (i = 0; i < argc; i++) {
        arg = va_arg(args, ngx_str_t *);
        call->argv[i] = (const char *) arg->data;
        call->argvlen[i] = arg->len;
    }

    va_end(args);

    call->handler = handler;

    return ngx_http_member_redis_start(r, call);
}


/*
 * A script by its binding (tools/lua2c.py): its keys and arguments in the
 * positions of its enums, counted by the binding; tail counts the variadic
 * tail of its ARGV, or of its KEYS when it has that one.  They are copied
 * into the request's pool: a NOSCRIPT answer (Redis restarted, SCRIPT
 * FLUSH) sends them again as EVAL from ngx_http_member_redis_reply(), and
 * by then what the caller pointed into may be gone (the worker's rules
 * replaced by a fetch of another request, a decoded record freed after
 * the call).
 */

ngx_int_t
ngx_http_member_redis_script(ngx_http_request_t *r, ngx_uint_t script,
    ngx_http_member_call_pt handler, ngx_str_t *keys, ngx_str_t *args,
    ngx_uint_t tail)
{
    int                                  i, n, nkeys, nargs;
    u_char                              *p;
    size_t                               len;
    ngx_str_t                           *a;
    ngx_http_member_call_t              *call;
    ngx_http_member_main_conf_t         *mmcf;
    const ngx_http_member_script_src_t  *src;

    src = &ngx_http_member_script_srcs[script];

    nkeys = src->nkeys;
    nargs = src->nargv;

    if (src->argv_tail) {
        nargs += tail;

    } else if (src->keys_tail) {
        nkeys += tail;

    } else if (tail) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "member: script %s has no tail", src->name);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_member_redis_prepare(r, &call, 3 + nkeys + nargs) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = NGX_INT_T_LEN;

    for (i = 0; i < nkeys + nargs; i++) {
        len += (i < nkeys) ? keys[i].len : args[i - nkeys].len;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_member_module);

    call->script = script;
    call->argv[0] = (const char *) ngx_http_member_redis_evalsha.data;
    call->argvlen[0] = ngx_http_member_redis_evalsha.len;
    call->argv[1] = (const char *) mmcf->scripts[script].sha1;
    call->argvlen[1] = sizeof(mmcf->scripts[script].sha1);
    call->argv[2] = (const char *) p;
    call->argvlen[2] = ngx_sprintf(p, "%d", nkeys) - p;
    p += call->argvlen[2];

    for (i = 0, n = 3; i < nkeys + nargs; i++, n++) {
        a = (i < nkeys) ? &keys[i] : &args[i - nkeys];

        call->argv[n] = (const char *) p;
        call->argvlen[n] = a->len;

        if (a->len) {
            p = ngx_cpymem(p, a->data, a->len);
        }
    }

    call->handler = handler;

    return ngx_http_member_redis_start(r, call);
}


/*
 * Commands sent together in one round trip, each answered on its own: for
 * steps that need none of the others' answers and no atomicity (another
 * client's commands may run between them).  Cheaper in Redis than MULTI
 * or a script; the handler gets their replies as one array.
 */

ngx_int_t
ngx_http_member_redis_pipeline(ngx_http_request_t *r,
    ngx_http_member_call_pt handler, ngx_uint_t ncmds,
    ngx_http_member_argv_t *cmds)
{
    int                      n, j;
    ngx_uint_t               i;
    ngx_http_member_call_t  *call;

    n = 0;

    for (i = 0; i < ncmds; i++) {
        n += cmds[i].argc;
    }

    if (ngx_http_member_redis_prepare(r, &call, n) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call->cmdargc = ngx_palloc(r->pool, ncmds * sizeof(int));
    call->parts = ngx_pcalloc(r->pool,
                              ncmds * sizeof(ngx_http_member_cmd_t *));
    call->replies = ngx_pcalloc(r->pool, ncmds * sizeof(redisReply *));

    if (call->cmdargc == NULL || call->parts == NULL || call->replies == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;

    for (i = 0; i < ncmds; i++) {
        call->cmdargc[i] = cmds[i].argc;

        for (j = 0; j < cmds[i].argc; j++, n++) {
            call->argv[n] = (const char *) cmds[i].argv[j].data;
            call->argvlen[n] = cmds[i].argv[j].len;
        }
    }

    call->ncmds = ncmds;
    call->handler = handler;

    return ngx_http_member_redis_start(r, call);
}


/*
 * A command of no request (the jobs, the hints): the handler, if any, gets
 * the reply, or NULL when the connection went away before it came.  Its
 * arguments are strings in parts, one after another; a script's come
 * behind its own three (ngx_http_member_redis_bg_script).  hiredis copies
 * them into its buffer at once: they need not outlive the call.
 */

static ngx_int_t
ngx_http_member_redis_bg_send(ngx_http_member_redis_t *redis,
    ngx_int_t script, ngx_http_member_bg_pt handler, void *data,
    ngx_uint_t argc, ngx_str_t **parts, ngx_uint_t *nparts, ngx_uint_t n)
{
    size_t       lens[NGX_HTTP_MEMBER_BG_ARGC], *argvlen;
    ngx_int_t    rc;
    ngx_uint_t   i, j, k;
    const char  *args[NGX_HTTP_MEMBER_BG_ARGC], **argv;

    if (argc <= NGX_HTTP_MEMBER_BG_ARGC) {
        argv = args;
        argvlen = lens;

    } else {
        argv = ngx_alloc(argc * (sizeof(char *) + sizeof(size_t)),
                         redis->log);
        if (argv == NULL) {
            return NGX_ERROR;
        }

        argvlen = (size_t *) (argv + argc);
    }

    k = 0;

    for (i = 0; i < n; i++) {
        for (j = 0; j < nparts[i]; j++, k++) {
            argv[k] = (const char *) parts[i][j].data;
            argvlen[k] = parts[i][j].len;
        }
    }

    (void) ngx_http_member_redis_issue(redis, (int) argc, argv, argvlen,
                                       script, NULL,
                                       handler ? handler
                                               : ngx_http_member_redis_ignore,
                                       data, &rc);

    if (argv != args) {
        ngx_free(argv);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" background command of %ui "
                   "arguments sent: %i", &redis->name, argc, rc);

    return rc;
}


ngx_int_t
ngx_http_member_redis_bg_argv(ngx_http_member_redis_t *redis,
    ngx_http_member_bg_pt handler, void *data, ngx_uint_t argc,
    ngx_str_t *argv)
{
    return ngx_http_member_redis_bg_send(redis, -1, handler, data, argc,
                                         &argv, &argc, 1);
}


/*
 * A script of no request by its binding: EVALSHA, or EVAL with the source
 * (a Redis that may not have it), its keys and arguments counted by the
 * binding, the tails by the caller.  A script that changes a member hints
 * it as a request's does, unless its caller hints it (UNHINTED).
 */

ngx_int_t
ngx_http_member_redis_bg_script(ngx_http_member_redis_t *redis,
    ngx_uint_t script, ngx_uint_t flags, ngx_http_member_bg_pt handler,
    void *data, ngx_str_t *keys, ngx_uint_t keys_tail, ngx_str_t *args,
    ngx_uint_t args_tail)
{
    u_char                              *p, nkeys[NGX_INT_T_LEN];
    ngx_str_t                            head[3], *parts[3];
    ngx_uint_t                           nparts[3];
    ngx_http_member_main_conf_t         *mmcf;
    const ngx_http_member_script_src_t  *src;

    src = &ngx_http_member_script_srcs[script];

    if ((keys_tail && !src->keys_tail) || (args_tail && !src->argv_tail)) {
        ngx_log_error(NGX_LOG_ALERT, redis->log, 0,
                      "member: script %s has no such tail", src->name);
        return NGX_ERROR;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" background script %s, flags %ui, "
                   "tails %ui", &redis->name, src->name, flags,
                   keys_tail + args_tail);

    if (flags & NGX_HTTP_MEMBER_BG_SOURCE) {
        head[0] = ngx_http_member_redis_eval;
        head[1].data = (u_char *) src->text;
        head[1].len = src->len;

    } else {
        mmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                                   ngx_http_member_module);
        head[0] = ngx_http_member_redis_evalsha;
        head[1].data = mmcf->scripts[script].sha1;
        head[1].len = sizeof(mmcf->scripts[script].sha1);
    }

    p = ngx_sprintf(nkeys, "%ui", src->nkeys + keys_tail);
    head[2].data = nkeys;
    head[2].len = p - nkeys;

    parts[0] = head;
    nparts[0] = 3;
    parts[1] = keys;
    nparts[1] = src->nkeys + keys_tail;
    parts[2] = args;
    nparts[2] = src->nargv + args_tail;

    return ngx_http_member_redis_bg_send(redis,
                                         (flags & NGX_HTTP_MEMBER_BG_UNHINTED)
                                         ? -1 : (ngx_int_t) script,
                                         handler, data,
                                         3 + nparts[1] + nparts[2], parts,
                                         nparts, 3);
}


static void
ngx_http_member_redis_ignore(ngx_http_member_redis_t *redis, void *data,
    redisReply *reply)
{
}


/*
 * The layer above (the fold and the WeChat outbox) registers what follows
 * a script that changes a member; this layer calls it and knows no more.
 */

void
ngx_http_member_redis_on_change(ngx_http_member_changed_pt changed)
{
    ngx_http_member_redis_changed = changed;
}


/*
 * A refused change wrote nothing: an error answer hints nothing; a script
 * whose binding names the answer after which it changed the member hints
 * after that one only (login.lua: a visitor's record).
 */

static void
ngx_http_member_redis_hint(ngx_http_member_cmd_t *cmd, redisReply *reply)
{
    size_t                               len;
    ngx_str_t                            key;
    const ngx_http_member_script_src_t  *src;

    src = &ngx_http_member_script_srcs[cmd->script];

    if (reply->type == REDIS_REPLY_ERROR
        || ngx_http_member_redis_changed == NULL)
    {
        return;
    }

    if (src->when) {
        len = ngx_strlen(src->when);

        if ((reply->type != REDIS_REPLY_STRING
             && reply->type != REDIS_REPLY_STATUS)
            || reply->len != len
            || ngx_strncmp(reply->str, src->when, len) != 0)
        {
            return;
        }
    }

    key.data = cmd->member;
    key.len = cmd->member_len;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, cmd->redis->log, 0,
                   "member: redis \"%V\" script %s changed \"%V\"",
                   &cmd->redis->name, src->name, &key);

    ngx_http_member_redis_changed(cmd->redis, &key);
}


/* the request ends first: a reply that comes later is dropped */

void
ngx_http_member_redis_abandon(ngx_http_member_call_t *call)
{
    ngx_http_member_redis_detach(call);

    if (call->timer.timer_set) {
        ngx_del_timer(&call->timer);
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
