
/*
 * ngx_member: a node of the Redis client and its connection, this
 * worker's: made for the configured server or a cluster's master,
 * connected (AUTH, SELECT), reconnected with backoff, and the event
 * adapter that fills hiredis' ev hooks with the worker's own events.
 * The commands on it are ngx_http_member_redis.c.
 */


#include <sys/ioctl.h>

#include "ngx_member_redis.h"


#define NGX_HTTP_MEMBER_BACKOFF_MIN  100
#define NGX_HTTP_MEMBER_BACKOFF_MAX  2000


static ngx_str_t  ngx_http_member_redis_auth = ngx_string("AUTH");
static ngx_str_t  ngx_http_member_redis_select = ngx_string("SELECT");
static ngx_str_t  ngx_http_member_redis_script_cmd = ngx_string("SCRIPT");
static ngx_str_t  ngx_http_member_redis_load = ngx_string("LOAD");


static void ngx_http_member_redis_schedule(
    ngx_http_member_redis_node_t *node);
static void ngx_http_member_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_member_redis_connect_timeout_handler(ngx_event_t *ev);
static void ngx_http_member_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_member_redis_auth_done(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_member_redis_load_scripts(
    ngx_http_member_redis_node_t *node);
static void ngx_http_member_redis_script_loaded(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_member_redis_read_handler(ngx_event_t *rev);
static void ngx_http_member_redis_write_handler(ngx_event_t *wev);
static void ngx_http_member_redis_noop(void *privdata);
static void ngx_http_member_redis_add_write(void *privdata);
static void ngx_http_member_redis_cleanup(void *privdata);


/*
 * A node of the client, this worker's: host NULL is the configured server
 * (member_redis); a cluster's node is found by its address or made.
 */

ngx_http_member_redis_node_t *
ngx_http_member_redis_node_add(ngx_http_member_redis_t *redis,
    ngx_str_t *host, int port)
{
    u_char                        *p;
    ngx_uint_t                     i;
    ngx_http_member_redis_node_t  *node;

    if (host) {
        for (i = 0; i < redis->nnodes; i++) {
            node = redis->nodes[i];

            if (node->addr.port == port && node->addr.host.len == host->len
                && ngx_strncmp(node->addr.host.data, host->data, host->len)
                   == 0)
            {
                return node;
            }
        }
    }

    if (redis->nnodes == NGX_HTTP_MEMBER_REDIS_NODES) {
        ngx_log_error(NGX_LOG_ALERT, redis->log, 0,
                      "member: redis \"%V\" has more than %d nodes",
                      &redis->name, NGX_HTTP_MEMBER_REDIS_NODES);
        return NULL;
    }

    node = ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_http_member_redis_node_t));
    if (node == NULL) {
        return NULL;
    }

    if (host == NULL) {
        node->addr = redis->addrs[0];

    } else {
        /* "host:port" for the logs, and the host NUL-terminated */
        p = ngx_pnalloc(ngx_cycle->pool, 2 * host->len + NGX_INT_T_LEN + 2);
        if (p == NULL) {
            return NULL;
        }

        node->addr.name.data = p;
        p = ngx_sprintf(p, "%V:%d", host, port);
        node->addr.name.len = p - node->addr.name.data;

        node->addr.host.data = p;
        node->addr.host.len = host->len;
        p = ngx_cpymem(p, host->data, host->len);
        *p = '\0';

        node->addr.port = port;
    }

    node->redis = redis;
    node->index = redis->nnodes;

    node->reconnect.handler = ngx_http_member_redis_reconnect_handler;
    node->reconnect.data = node;
    node->reconnect.log = redis->log;
    node->reconnect.cancelable = 1;

    node->connect_timer.handler = ngx_http_member_redis_connect_timeout_handler;
    node->connect_timer.data = node;
    node->connect_timer.log = redis->log;
    node->connect_timer.cancelable = 1;

    redis->nodes[redis->nnodes++] = node;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" node %V added", &redis->name,
                   &node->addr.name);

    return node;
}


void
ngx_http_member_redis_connect(ngx_http_member_redis_node_t *node)
{
    const char               *argv[2];
    size_t                    argvlen[2];
    u_char                    db[NGX_INT_T_LEN];
    ngx_connection_t         *c;
    redisAsyncContext        *ac;
    ngx_http_member_redis_t  *redis;

    redis = node->redis;

    if (node->ac || redis->exiting) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" connecting", &node->addr.name);

    if (node->addr.unix_path.len) {
        ac = redisAsyncConnectUnix((const char *) node->addr.unix_path.data);

    } else {
        ac = redisAsyncConnect((const char *) node->addr.host.data,
                               node->addr.port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ALERT, redis->log, 0,
                      "member: redis \"%V\": out of memory",
                      &node->addr.name);
        ngx_http_member_redis_schedule(node);
        return;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "member: redis \"%V\" connect failed: %s",
                      &node->addr.name, ac->errstr);
        redisAsyncFree(ac);
        ngx_http_member_redis_schedule(node);
        return;
    }

    c = ngx_get_connection(ac->c.fd, redis->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_member_redis_schedule(node);
        return;
    }

    c->data = node;
    c->read->handler = ngx_http_member_redis_read_handler;
    c->write->handler = ngx_http_member_redis_write_handler;
    c->read->log = redis->log;
    c->write->log = redis->log;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    node->ac = ac;
    node->connection = c;
    node->connected = 0;
    node->last_read = ngx_current_msec;

    ac->data = node;
    ac->ev.data = node;
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

    ngx_add_timer(&node->connect_timer, redis->connect_timeout);

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


/*
 * Every script into the node's script cache once the connection is made:
 * behind AUTH and SELECT, and behind a cluster's CLUSTER SLOTS, sent as
 * the connection was started, which ~100 KB of scripts to compile would
 * hold up.  Each master of a cluster has them from its first connection
 * on, and a restarted server from the connection made again.  Nothing
 * waits for the answers; a command sent before them, or after a SCRIPT
 * FLUSH, still goes as EVAL on NOSCRIPT.
 */

static void
ngx_http_member_redis_load_scripts(ngx_http_member_redis_node_t *node)
{
    const char                          *argv[3];
    size_t                               argvlen[3];
    uintptr_t                            i;
    const ngx_http_member_script_src_t  *src;

    argv[0] = (const char *) ngx_http_member_redis_script_cmd.data;
    argvlen[0] = ngx_http_member_redis_script_cmd.len;
    argv[1] = (const char *) ngx_http_member_redis_load.data;
    argvlen[1] = ngx_http_member_redis_load.len;

    for (i = 0; i < NGX_HTTP_MEMBER_SCRIPT_COUNT; i++) {
        src = &ngx_http_member_script_srcs[i];

        /* hiredis copies the source into its buffer as it formats it */
        argv[2] = src->text;
        argvlen[2] = src->len;

        if (redisAsyncCommandArgv(node->ac,
                                  ngx_http_member_redis_script_loaded,
                                  (void *) i, 3, argv, argvlen)
            != REDIS_OK)
        {
            ngx_log_error(NGX_LOG_WARN, node->redis->log, 0,
                          "member: redis \"%V\" SCRIPT LOAD of %s not sent",
                          &node->addr.name, src->name);
            return;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, node->redis->log, 0,
                   "member: redis \"%V\" SCRIPT LOAD of %d scripts sent",
                   &node->addr.name, NGX_HTTP_MEMBER_SCRIPT_COUNT);
}


/* a script loaded: the SHA1 the server gives is the one EVALSHA sends */

static void
ngx_http_member_redis_script_loaded(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                    *rr = reply;
    uintptr_t                      i = (uintptr_t) privdata;
    ngx_http_member_main_conf_t   *mmcf;
    ngx_http_member_redis_node_t  *node = ac->data;

    if (rr == NULL) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, node->redis->log, 0,
                       "member: redis \"%V\" SCRIPT LOAD of %s: no answer, "
                       "the connection went away", &node->addr.name,
                       ngx_http_member_script_srcs[i].name);
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        /* once a connection: a refused AUTH refuses every one of them */
        if (!node->refused) {
            node->refused = 1;
            ngx_log_error(NGX_LOG_WARN, node->redis->log, 0,
                          "member: redis \"%V\" refused SCRIPT LOAD of %s: "
                          "%*s", &node->addr.name,
                          ngx_http_member_script_srcs[i].name,
                          (size_t) ngx_min(rr->len, 128), rr->str);
        }

        return;
    }

    mmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_member_module);

    if (rr->type != REDIS_REPLY_STRING
        || rr->len != sizeof(mmcf->scripts[i].sha1)
        || ngx_strncmp(rr->str, mmcf->scripts[i].sha1, rr->len) != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, node->redis->log, 0,
                      "member: redis \"%V\" loaded script %s under another "
                      "SHA1 than EVALSHA sends", &node->addr.name,
                      ngx_http_member_script_srcs[i].name);
        return;
    }

    if (i == NGX_HTTP_MEMBER_SCRIPT_COUNT - 1) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, node->redis->log, 0,
                       "member: redis \"%V\" has the %d scripts loaded",
                       &node->addr.name, NGX_HTTP_MEMBER_SCRIPT_COUNT);
    }
}


static void
ngx_http_member_redis_schedule(ngx_http_member_redis_node_t *node)
{
    ngx_http_member_redis_t  *redis = node->redis;

    if (redis->exiting || node->reconnect.timer_set) {
        return;
    }

    /* a cluster's node the map no longer names is not called back */
    if (redis->cluster && !node->mapped) {
        return;
    }

    if (node->backoff == 0) {
        node->backoff = NGX_HTTP_MEMBER_BACKOFF_MIN;

    } else {
        node->backoff = ngx_min(node->backoff * 2,
                                NGX_HTTP_MEMBER_BACKOFF_MAX);
    }

    ngx_add_timer(&node->reconnect, node->backoff);
}


static void
ngx_http_member_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_member_redis_node_t  *node = ev->data;

    if (node->redis->exiting || node->ac) {
        return;
    }

    ngx_http_member_redis_connect(node);
}


static void
ngx_http_member_redis_connect_timeout_handler(ngx_event_t *ev)
{
    ngx_http_member_redis_node_t  *node = ev->data;

    if (node->ac == NULL || node->connected) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, node->redis->log, NGX_ETIMEDOUT,
                  "member: redis \"%V\" connect timed out", &node->addr.name);

    redisAsyncFree(node->ac);
}


static void
ngx_http_member_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_member_redis_node_t  *node = ac->data;

    if (node->connect_timer.timer_set) {
        ngx_del_timer(&node->connect_timer);
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context next: the cleanup reschedules */
        ngx_log_error(NGX_LOG_ERR, node->redis->log, 0,
                      "member: redis \"%V\" connect failed: %s",
                      &node->addr.name, ac->errstr);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, node->redis->log, 0,
                  "member: redis \"%V\" connected", &node->addr.name);

    node->connected = 1;
    ngx_http_member_stats_connection(1);

    /*
     * one server keeps loading each script on its first NOSCRIPT: a new
     * connection's first request would wait behind ~100 KB to compile,
     * more than a short member_redis_timeout on a busy machine
     */
    if (node->redis->cluster) {
        node->refused = 0;
        ngx_http_member_redis_load_scripts(node);
    }
}


static void
ngx_http_member_redis_auth_done(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                    *rr = reply;
    ngx_http_member_redis_node_t  *node = ac->data;

    if (rr == NULL || rr->type != REDIS_REPLY_ERROR) {
        return;
    }

    /* the password never reaches the log, only the command's name */
    ngx_log_error(NGX_LOG_ERR, node->redis->log, 0,
                  "member: redis \"%V\" refused %s: %*s", &node->addr.name,
                  (char *) privdata, (size_t) ngx_min(rr->len, 128), rr->str);

    redisAsyncDisconnect(ac);
}


static void
ngx_http_member_redis_read_handler(ngx_event_t *rev)
{
    int                            n;
    ngx_connection_t              *c = rev->data;
    ngx_http_member_redis_node_t  *node = c->data;

    node->last_read = ngx_current_msec;

    /*
     * hiredis reads at most 16K per call and the edge-triggered event
     * does not fire again for the rest: read while the socket has bytes
     */
    for ( ;; ) {
        redisAsyncHandleRead(node->ac);

        if (node->ac == NULL) {
            return;
        }

        if (ioctl(node->ac->c.fd, FIONREAD, &n) == -1 || n == 0) {
            return;
        }
    }
}


static void
ngx_http_member_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t              *c = wev->data;
    ngx_http_member_redis_node_t  *node = c->data;

    if (node->ac == NULL) {
        return;
    }

    node->in_write = 1;
    redisAsyncHandleWrite(node->ac);
    node->in_write = 0;
}


static void
ngx_http_member_redis_noop(void *privdata)
{
}


static void
ngx_http_member_redis_add_write(void *privdata)
{
    ngx_http_member_redis_node_t  *node = privdata;

    /*
     * Posting the write event sends all the commands of one event loop
     * iteration in one write().  Inside the write handler (a short write)
     * or before the connection completes, EPOLLOUT will come by itself.
     */
    if (node->connection == NULL || node->in_write || !node->connected) {
        return;
    }

    if (!node->connection->write->posted) {
        ngx_post_event(node->connection->write, &ngx_posted_events);
    }
}


static void
ngx_http_member_redis_cleanup(void *privdata)
{
    ngx_connection_t              *c;
    ngx_http_member_redis_t       *redis;
    ngx_http_member_redis_node_t  *node = privdata;

    redis = node->redis;
    c = node->connection;

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

    if (node->connected) {
        ngx_http_member_stats_connection(-1);

        if (!redis->exiting) {
            ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                          "member: redis \"%V\" connection closed",
                          &node->addr.name);
        }
    }

    /*
     * A connection that answered is made again at once (Redis restarted,
     * an idle timeout); one that never answered waits its backoff, so a
     * server that accepts and drops does not spin the worker.
     */
    if (node->healthy && !redis->exiting && !node->reconnect.timer_set
        && (!redis->cluster || node->mapped))
    {
        node->healthy = 0;
        ngx_add_timer(&node->reconnect, 1);
    }

    if (node->connect_timer.timer_set) {
        ngx_del_timer(&node->connect_timer);
    }

    node->connection = NULL;
    node->ac = NULL;
    node->connected = 0;
    node->healthy = 0;

    ngx_http_member_redis_schedule(node);

    /* a cluster's master went away: its replica may take over */
    if (redis->cluster && !redis->exiting) {
        ngx_http_member_redis_node_lost(node);
    }
}

