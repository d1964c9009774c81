
/*
 * ngx_member: the asynchronous Redis client, its commands.
 *
 * hiredis' async API driven by the worker's own events: each worker keeps
 * one connection per configured Redis, wrapped in an ngx_connection_t, and
 * pipelines the commands of all its requests on it.  Timeouts are nginx
 * timers; a dead or hung Redis costs a 503, never a stuck worker.  Here:
 * the worker's start and stop, the record hiredis holds for each command
 * until its answer, and the WAIT of member_redis_replicas; a node's
 * connection is ngx_http_member_redis_node.c.  A request's commands are
 * ngx_http_member_redis_call.c, the commands of no request
 * ngx_http_member_redis_bg.c.
 */


#include "ngx_member_redis.h"


ngx_str_t  ngx_http_member_redis_eval = ngx_string("EVAL");
ngx_str_t  ngx_http_member_redis_evalsha = ngx_string("EVALSHA");


static void ngx_http_member_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_member_redis_recycle(ngx_http_member_cmd_t *cmd);
static ngx_int_t ngx_http_member_redis_wait(ngx_http_member_cmd_t *cmd,
    redisReply *reply);
static void ngx_http_member_redis_waited(redisAsyncContext *ac, void *reply,
    void *privdata);
static redisReply *ngx_http_member_redis_hold(redisReply *reply,
    ngx_log_t *log);
static void ngx_http_member_redis_release(redisReply *reply);


ngx_int_t
ngx_http_member_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                     i;
    ngx_http_member_redis_t      **redis, *rd;
    ngx_http_member_redis_node_t  *node;

    redis = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        rd = redis[i];

        rd->log = cycle->log;
        rd->keyless = -1;

        if (rd->cluster) {
            if (ngx_http_member_redis_cluster_init(cycle, rd) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        /* one server: its one node takes every command */
        node = ngx_http_member_redis_node_add(rd, NULL, 0);
        if (node == NULL) {
            return NGX_ERROR;
        }

        ngx_http_member_redis_connect(node);
    }

    return NGX_OK;
}


void
ngx_http_member_redis_exit_process(ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                     i, n;
    ngx_http_member_cmd_t         *cmd;
    ngx_http_member_redis_t      **redis, *rd;
    ngx_http_member_redis_node_t  *node;

    redis = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        rd = redis[i];
        rd->exiting = 1;

        ngx_http_member_job_exit(rd);

        if (rd->cluster) {
            ngx_http_member_redis_cluster_exit(rd);
        }

        for (n = 0; n < rd->nnodes; n++) {
            node = rd->nodes[n];

            if (node->reconnect.timer_set) {
                ngx_del_timer(&node->reconnect);
            }

            /* without this each reload logs "open socket ... left" */
            if (node->ac) {
                redisAsyncFree(node->ac);
            }
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


/*
 * Queues one command with its record, taken from the worker's free list;
 * the record goes back there when hiredis refuses the command.  The node
 * is the one of the command's keys (ngx_http_member_redis_route()); on a
 * cluster the record keeps the command as sent, to send it again after a
 * redirect.
 */

ngx_http_member_cmd_t *
ngx_http_member_redis_issue(ngx_http_member_redis_t *redis, int argc,
    const char **argv, const size_t *argvlen, ngx_int_t script,
    ngx_http_member_call_t *call, ngx_http_member_bg_pt bg, void *data,
    ngx_int_t *rc)
{
    int                                  len;
    char                                *formatted;
    ngx_int_t                            slot;
    ngx_uint_t                           unbrand;
    const char                         **tv;
    const size_t                        *tl;
    ngx_http_member_cmd_t               *cmd;
    ngx_http_member_redis_node_t        *node;
    const ngx_http_member_script_src_t  *src;

    if (redis->exiting) {
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

    node = ngx_http_member_redis_route(redis, argc, argv, argvlen, &slot);

    if (node == NULL || node->ac == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                       "member: redis \"%V\" has no node for the command",
                       &redis->name);
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
    cmd->node = node;
    cmd->call = call;
    cmd->start = ngx_http_member_now_us();
    cmd->bg = bg;
    cmd->data = data;
    cmd->part = 0;
    cmd->script = -1;
    cmd->unbrand = unbrand;
    cmd->eval = script;
    cmd->formatted = NULL;
    cmd->len = 0;
    cmd->slot = slot;
    cmd->redirects = 0;
    cmd->retries = 0;
    cmd->held = NULL;
    cmd->durable = 0;
    cmd->member_len = 0;

    /*
     * A script that changes a member keeps the member's key (argv: the
     * command, the script, the number of keys, the keys): its hint goes
     * out when the answer comes, whether or not the request still waits.
     */
    if (script >= 0) {
        src = &ngx_http_member_script_srcs[script];

        if (src->hint && !redis->unhinted
            && tl[3 + src->member] <= NGX_HTTP_MEMBER_MEMBER_KEY_LEN)
        {
            cmd->script = script;
            cmd->member_len = tl[3 + src->member];
            ngx_memcpy(cmd->member, tv[3 + src->member], cmd->member_len);
        }

        cmd->durable = src->durable && redis->replicas;
    }

    if (redis->cluster) {
        len = redisFormatCommandArgv(&formatted, argc, argv, argvlen);
        if (len < 0) {
            ngx_http_member_redis_recycle(cmd);
            *rc = NGX_ERROR;
            return NULL;
        }

        cmd->formatted = formatted;
        cmd->len = len;

        if (ngx_http_member_redis_send_cmd(node, cmd, 0) != NGX_OK) {
            ngx_http_member_redis_recycle(cmd);
            *rc = NGX_DECLINED;
            return NULL;
        }

    } else {
        if (redisAsyncCommandArgv(node->ac, ngx_http_member_redis_reply, cmd,
                                  argc, argv, argvlen)
            != REDIS_OK)
        {
            ngx_http_member_redis_recycle(cmd);
            *rc = NGX_DECLINED;
            return NULL;
        }

        node->inflight++;
    }

    *rc = NGX_OK;

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" %*s %s sent, %d arguments",
                   &node->addr.name, argvlen[0], argv[0],
                   script >= 0 ? ngx_http_member_script_srcs[script].name : "",
                   argc);

    return cmd;
}


/*
 * A cluster's command as formatted, sent to a node: at first, or again
 * after a redirect (asking: after ASKING, for a slot being imported).
 */

ngx_int_t
ngx_http_member_redis_send_cmd(ngx_http_member_redis_node_t *node,
    ngx_http_member_cmd_t *cmd, ngx_uint_t asking)
{
    if (node->ac == NULL) {
        ngx_http_member_redis_connect(node);

        if (node->ac == NULL) {
            return NGX_DECLINED;
        }
    }

    if (asking
        && redisAsyncCommand(node->ac, NULL, NULL, "ASKING") != REDIS_OK)
    {
        return NGX_DECLINED;
    }

    if (redisAsyncFormattedCommand(node->ac, ngx_http_member_redis_reply, cmd,
                                   cmd->formatted, cmd->len)
        != REDIS_OK)
    {
        return NGX_DECLINED;
    }

    cmd->node = node;
    node->inflight++;

    return NGX_OK;
}


static void
ngx_http_member_redis_recycle(ngx_http_member_cmd_t *cmd)
{
    ngx_http_member_redis_t  *redis = cmd->redis;

    if (cmd->formatted) {
        redisFreeCommand(cmd->formatted);
        cmd->formatted = NULL;
    }

    cmd->next = redis->free;
    redis->free = cmd;
}


static void
ngx_http_member_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                    *rr = reply;
    ngx_int_t                      rc;
    ngx_http_member_cmd_t         *cmd = privdata;
    ngx_http_member_redis_t       *redis;
    ngx_http_member_redis_node_t  *node;

    redis = cmd->redis;
    node = cmd->node;

    node->inflight--;

    if (cmd->unbrand && rr) {
        ngx_http_member_redis_unbrand(redis, rr);
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" reply type %d after %M us, "
                   "%s, part %ui", &node->addr.name, rr ? rr->type : 0,
                   ngx_http_member_now_us() - cmd->start,
                   cmd->bg ? "background"
                           : cmd->call ? "request" : "request gone",
                   cmd->part);

    /* a cluster's redirect: the command goes on elsewhere, unseen */
    if (rr && rr->type == REDIS_REPLY_ERROR && redis->cluster
        && !redis->exiting && (cmd->call || cmd->bg))
    {
        rc = ngx_http_member_redis_redirect(cmd, rr);

        if (rc == NGX_OK) {
            return;
        }

        if (rc == NGX_ERROR) {
            rr = NULL;
        }
    }

    if (rr && !node->healthy) {
        node->healthy = 1;
        node->backoff = 0;
    }

    /* a move of money or points: answered once replicas hold it */
    if (cmd->durable && rr && rr->type != REDIS_REPLY_ERROR
        && !redis->exiting && (cmd->call || cmd->bg))
    {
        if (ngx_http_member_redis_wait(cmd, rr) == NGX_OK) {
            return;
        }

        rr = NULL;
    }

    ngx_http_member_redis_deliver(cmd, rr);
}


/*
 * member_redis_replicas N TIMEOUT: WAIT on the connection the script went
 * on, right after its answer came, which waits till it is held until
 * then.  WAIT counts the replicas that have every write of the connection
 * so far: this script's and any before it.
 */

static ngx_int_t
ngx_http_member_redis_wait(ngx_http_member_cmd_t *cmd, redisReply *reply)
{
    u_char                         n[NGX_INT_T_LEN], t[NGX_INT_T_LEN];
    const char                    *argv[3];
    size_t                         argvlen[3];
    ngx_http_member_redis_t       *redis;
    ngx_http_member_redis_node_t  *node;

    redis = cmd->redis;
    node = cmd->node;

    if (node->ac == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                       "member: redis \"%V\" WAIT not sent: no connection",
                       &node->addr.name);
        return NGX_ERROR;
    }

    cmd->held = ngx_http_member_redis_hold(reply, redis->log);
    if (cmd->held == NULL) {
        return NGX_ERROR;
    }

    argv[0] = "WAIT";
    argvlen[0] = 4;
    argv[1] = (const char *) n;
    argvlen[1] = ngx_sprintf(n, "%ui", redis->replicas) - n;
    argv[2] = (const char *) t;
    argvlen[2] = ngx_sprintf(t, "%M", redis->replicas_timeout) - t;

    if (redisAsyncCommandArgv(node->ac, ngx_http_member_redis_waited, cmd,
                              3, argv, argvlen)
        != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_WARN, redis->log, 0,
                      "member: redis \"%V\" WAIT not sent",
                      &node->addr.name);
        ngx_http_member_redis_release(cmd->held);
        cmd->held = NULL;
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" WAIT %ui %M sent",
                   &node->addr.name, redis->replicas,
                   redis->replicas_timeout);

    return NGX_OK;
}


/*
 * WAIT answered: fewer replicas than asked (or none, the connection lost)
 * is a 503 for a request, whose retry with the same idempotency key finds
 * the stored answer and waits again.  A job gets the answer: what moved
 * stays moved, its hint goes out as always.
 */

static void
ngx_http_member_redis_waited(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply               *rr = reply, *held;
    ngx_http_member_cmd_t    *cmd = privdata;
    ngx_http_member_redis_t  *redis;

    redis = cmd->redis;
    held = cmd->held;
    cmd->held = NULL;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" WAIT answered %i",
                   &cmd->node->addr.name,
                   rr && rr->type == REDIS_REPLY_INTEGER ? rr->integer : -1);

    if (rr == NULL || rr->type != REDIS_REPLY_INTEGER
        || rr->integer < (long long) redis->replicas)
    {
        if (!redis->exiting) {
            ngx_log_error(NGX_LOG_WARN, redis->log, 0,
                          "member: redis \"%V\" script %s confirmed by %i "
                          "of %ui replicas", &cmd->node->addr.name,
                          ngx_http_member_script_srcs[cmd->eval].name,
                          rr && rr->type == REDIS_REPLY_INTEGER
                          ? (ngx_int_t) rr->integer : (ngx_int_t) -1,
                          redis->replicas);
        }

        ngx_http_member_stats_cluster(NGX_HTTP_MEMBER_STATS_UNSAFE);

        if (cmd->call) {
            cmd->call->unconfirmed = 1;
        }
    }

    ngx_http_member_redis_deliver(cmd, held);
    ngx_http_member_redis_release(held);
}


/* a reply kept past its callback, hiredis freeing its own when it returns */

static redisReply *
ngx_http_member_redis_hold(redisReply *reply, ngx_log_t *log)
{
    size_t       i;
    redisReply  *copy;

    copy = ngx_calloc(sizeof(redisReply), log);
    if (copy == NULL) {
        return NULL;
    }

    copy->type = reply->type;
    copy->integer = reply->integer;
    copy->len = reply->len;

    if (reply->str) {
        copy->str = ngx_alloc(reply->len + 1, log);
        if (copy->str == NULL) {
            ngx_http_member_redis_release(copy);
            return NULL;
        }

        ngx_memcpy(copy->str, reply->str, reply->len);
        copy->str[reply->len] = '\0';
    }

    if (reply->elements == 0) {
        return copy;
    }

    copy->element = ngx_calloc(reply->elements * sizeof(redisReply *), log);
    if (copy->element == NULL) {
        ngx_http_member_redis_release(copy);
        return NULL;
    }

    copy->elements = reply->elements;

    for (i = 0; i < reply->elements; i++) {
        copy->element[i] = ngx_http_member_redis_hold(reply->element[i], log);
        if (copy->element[i] == NULL) {
            ngx_http_member_redis_release(copy);
            return NULL;
        }
    }

    return copy;
}


static void
ngx_http_member_redis_release(redisReply *reply)
{
    size_t  i;

    if (reply == NULL) {
        return;
    }

    for (i = 0; i < reply->elements; i++) {
        ngx_http_member_redis_release(reply->element[i]);
    }

    ngx_free(reply->element);
    ngx_free(reply->str);
    ngx_free(reply);
}


/* the answer of a command goes to its request, its handler, or nowhere */

void
ngx_http_member_redis_deliver(ngx_http_member_cmd_t *cmd, redisReply *rr)
{
    void                          *data;
    ngx_http_member_bg_pt          bg;
    ngx_http_member_call_t        *call;
    ngx_http_member_redis_t       *redis;
    ngx_http_member_redis_node_t  *node;

    redis = cmd->redis;
    node = cmd->node;
    call = cmd->call;
    bg = cmd->bg;
    data = cmd->data;

    if (call && call->ncmds && !redis->exiting
        && ngx_http_member_redis_call_part(call, cmd->part, rr) != NGX_OK)
    {
        ngx_http_member_redis_recycle(cmd);
        return;
    }

    ngx_http_member_stats_redis(ngx_http_member_now_us() - cmd->start,
                                rr == NULL);

    if (cmd->script >= 0 && rr && !redis->exiting) {
        ngx_http_member_redis_bg_hint(cmd, rr);
    }

    /* the record is recycled first: nothing below touches it */
    ngx_http_member_redis_recycle(cmd);

    if (bg) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                       "member: redis \"%V\" background reply: %s",
                       &node->addr.name, ngx_http_member_redis_type_name(rr));

        if (!redis->exiting) {
            bg(redis, data, rr);
        }

        return;
    }

    if (call == NULL || redis->exiting) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                       "member: redis \"%V\" reply dropped: %s, "
                       "the request is gone", &node->addr.name,
                       ngx_http_member_redis_type_name(rr));
        return;                         /* the request is gone: drop it */
    }

    ngx_http_member_redis_call_answer(call, rr);
}


/*
 * A request timed out with a command in flight on this node: a node that
 * answered nothing for a whole timeout is hung (SIGSTOP, a stuck host);
 * drop its connection so that every waiting request gets its 503 now
 * instead of piling up, and connect anew.
 */

void
ngx_http_member_redis_hung(ngx_http_member_redis_node_t *node,
    ngx_msec_t timeout, ngx_log_t *log)
{
    if (node->ac && ngx_current_msec - node->last_read >= timeout) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "member: redis \"%V\" silent for %M ms, reconnecting",
                      &node->addr.name, ngx_current_msec - node->last_read);
        redisAsyncFree(node->ac);
    }
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


/* whether commands can go: the server, or the map and a master, is up */

ngx_int_t
ngx_http_member_redis_status(ngx_http_member_redis_t *redis)
{
    ngx_uint_t  i;

    if (!redis->cluster) {
        return redis->nnodes && redis->nodes[0]->connected;
    }

    if (!redis->map_known) {
        return 0;
    }

    for (i = 0; i < redis->nnodes; i++) {
        if (redis->nodes[i]->mapped && redis->nodes[i]->connected) {
            return 1;
        }
    }

    return 0;
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
