
/*
 * ngx_member: a request's Redis commands.
 *
 * A command, a script by its binding (EVALSHA, sent again as EVAL after
 * NOSCRIPT) or a pipeline, sent on the worker's connection to the
 * location's Redis (ngx_http_member_redis.c) with the request's call: its
 * timer answers 503 when Redis is silent, its answer finalizes the request
 * once, and a request that ends first abandons what is still in flight.
 */


#include "ngx_member_redis.h"


static ngx_int_t ngx_http_member_redis_send(ngx_http_member_call_t *call);
static ngx_int_t ngx_http_member_redis_piped(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *last);
static redisReply *ngx_http_member_redis_copy(ngx_pool_t *pool,
    redisReply *reply);
static void ngx_http_member_redis_detach(ngx_http_member_call_t *call);
static void ngx_http_member_redis_timeout_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_member_redis_unavailable(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_redis_unconfirmed(ngx_http_request_t *r,
    ngx_http_member_call_t *call);
static void ngx_http_member_redis_call_cleanup(void *data);


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
#if (NGX_DEBUG)
        if (rc == NGX_OK && call->script >= 0) {
            ngx_log_debug5(NGX_LOG_DEBUG_HTTP, call->request->connection->log,
                           0, "member: redis \"%V\" script %s sent as %*s "
                           "for \"%V\"", &call->redis->name,
                           ngx_http_member_script_srcs[call->script].name,
                           call->argvlen[0], call->argv[0],
                           &call->request->uri);

        } else if (rc == NGX_OK) {
            ngx_log_debug4(NGX_LOG_DEBUG_HTTP, call->request->connection->log,
                           0, "member: redis \"%V\" command %*s sent for "
                           "\"%V\"", &call->redis->name, call->argvlen[0],
                           call->argv[0], &call->request->uri);
        }
#endif

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
    call->pending = call->ncmds;
    call->failed = 0;

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

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, call->request->connection->log, 0,
                   "member: redis \"%V\" pipeline of %ui commands sent for "
                   "\"%V\"", &call->redis->name, call->ncmds,
                   &call->request->uri);

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


/*
 * A part of a pipeline answered.  The parts go to the nodes of their keys
 * (one node: in order); the answers wait, copied, for the last one to
 * come, which goes on to ngx_http_member_redis_call_answer() uncopied
 * (NGX_OK).  A part without an answer makes the whole a 503.
 */

ngx_int_t
ngx_http_member_redis_call_part(ngx_http_member_call_t *call,
    ngx_uint_t part, redisReply *reply)
{
    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, call->request->connection->log, 0,
                   "member: redis \"%V\" replied %s to part %ui for \"%V\"",
                   &call->redis->name, ngx_http_member_redis_type_name(reply),
                   part, &call->request->uri);

    call->parts[part] = NULL;

    if (reply == NULL) {
        call->failed = 1;
    }

    if (--call->pending == 0) {
        call->last = part;
        return NGX_OK;
    }

    call->replies[part] = reply ? ngx_http_member_redis_copy(
                                      call->request->pool, reply)
                                : NULL;

    return NGX_AGAIN;
}


/*
 * The last answer came (NULL: the connection went away): the handler's
 * answer, a 503, or a script sent again as EVAL after NOSCRIPT.
 */

void
ngx_http_member_redis_call_answer(ngx_http_member_call_t *call,
    redisReply *reply)
{
    ngx_int_t            rc;
    redisReply          *rr = reply;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    call->cmd = NULL;

    if (call->timer.timer_set) {
        ngx_del_timer(&call->timer);
    }

    r = call->request;
    c = r->connection;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "member: redis \"%V\" replied %s for \"%V\"",
                   &call->redis->name, ngx_http_member_redis_type_name(rr),
                   &r->uri);

    if (call->unconfirmed) {
        rc = ngx_http_member_redis_unconfirmed(r, call);

    } else if (rr == NULL || (call->ncmds && call->failed)) {
        rc = ngx_http_member_redis_unavailable(r);

    } else if (call->script >= 0 && !call->retried
               && ngx_http_member_redis_is_error(rr, "NOSCRIPT"))
    {
        /* the script cache was flushed: nothing ran, send the source */
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "member: redis \"%V\" has no script %s: sent again "
                       "as EVAL for \"%V\"", &call->redis->name,
                       ngx_http_member_script_srcs[call->script].name,
                       &r->uri);

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

    call->replies[call->last] = last;

    for (i = 0; i < call->ncmds; i++) {
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
    ngx_uint_t                      i, n;
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_member_cmd_t          *cmd;
    ngx_http_member_call_t         *call = ev->data;
    ngx_http_member_redis_t        *redis;
    ngx_http_member_redis_node_t   *hung[NGX_HTTP_MEMBER_REDIS_NODES];

    r = call->request;
    c = r->connection;
    redis = call->redis;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "member: redis \"%V\" timeout for \"%V\"",
                   &redis->name, &r->uri);

    /* the nodes it waits on, a command of each, before it lets go */
    n = 0;

    if (call->ncmds == 0 && call->cmd) {
        hung[n++] = call->cmd->node;
    }

    for (i = 0; i < call->ncmds && n < NGX_HTTP_MEMBER_REDIS_NODES; i++) {
        cmd = call->parts[i];

        if (cmd && (n == 0 || hung[n - 1] != cmd->node)) {
            hung[n++] = cmd->node;
        }
    }

    ngx_http_member_redis_detach(call);

    ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT,
                  "member: redis \"%V\" timed out", &redis->name);

    for (i = 0; i < n; i++) {
        ngx_http_member_redis_hung(hung[i], call->timeout, c->log);
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


/*
 * The move was made on the master but fewer replicas than asked confirmed
 * it (member_redis_replicas): a failover now could lose it.  The till's
 * retry with the same idempotency key finds the stored answer and waits
 * again.
 */

static ngx_int_t
ngx_http_member_redis_unconfirmed(ngx_http_request_t *r,
    ngx_http_member_call_t *call)
{
    u_char  *p, *last;

    p = ngx_pnalloc(r->pool, 128);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_snprintf(p, 127, "the change was not confirmed by %ui "
                        "replicas: retry with the same idempotency key",
                        call->redis->replicas);
    *last = '\0';

    return ngx_http_member_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "redis_unavailable", (char *) p);
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
    call->unconfirmed = 0;
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
ngx_http_member_redis_command_n(ngx_http_request_t *r,
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
 * FLUSH) sends them again as EVAL from ngx_http_member_redis_call_answer(), and
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


/* the request ends first: a reply that comes later is dropped */

void
ngx_http_member_redis_abandon(ngx_http_member_call_t *call)
{
    if (call->cmd) {
        /* the request is being freed: its URI may be gone */
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, call->request->connection->log, 0,
                       "member: redis \"%V\" call abandoned",
                       &call->redis->name);
    }

    ngx_http_member_redis_detach(call);

    if (call->timer.timer_set) {
        ngx_del_timer(&call->timer);
    }
}
