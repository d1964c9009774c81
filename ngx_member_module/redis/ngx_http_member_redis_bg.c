
/*
 * ngx_member: Redis commands of no request.
 *
 * The commands and scripts that timers and hints send (the job runner,
 * the fold's and the outbox's hints, the audit's XADD): their answer, if
 * anyone wants it, goes to a handler with the Redis and its data, NULL
 * when the connection went away first.  And the hint after a script whose
 * binding says it changes a member, a request's or not: the layer above
 * registers what it does (ngx_http_member_redis_on_change).
 */


#include "ngx_member_redis.h"


static void ngx_http_member_redis_ignore(ngx_http_member_redis_t *redis,
    void *data, redisReply *reply);


/* what the layer above hints after a script that changes a member */
static ngx_http_member_changed_pt  ngx_http_member_redis_changed;


#define NGX_HTTP_MEMBER_BG_ARGC  64     /* arguments without an allocation */


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

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" background command %V of %ui "
                   "arguments sent: %i", &redis->name, &parts[0][0], argc,
                   rc);

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
 * A command of no key to the i-th master of the map (a walk of them all,
 * as SCAN's); the one server for member_redis.
 */

ngx_int_t
ngx_http_member_redis_bg_node(ngx_http_member_redis_t *redis,
    ngx_uint_t node, ngx_http_member_bg_pt handler, void *data,
    ngx_uint_t argc, ngx_str_t *argv)
{
    ngx_int_t  rc;

    if (!redis->cluster) {
        return ngx_http_member_redis_bg_argv(redis, handler, data, argc,
                                             argv);
    }

    redis->keyless = node;

    rc = ngx_http_member_redis_bg_send(redis, -1, handler, data, argc, &argv,
                                       &argc, 1);
    redis->keyless = -1;

    return rc;
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
    ngx_int_t                            rc;
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

    redis->unhinted = flags & NGX_HTTP_MEMBER_BG_UNHINTED;

    rc = ngx_http_member_redis_bg_send(redis, script, handler, data,
                                       3 + nparts[1] + nparts[2], parts,
                                       nparts, 3);
    redis->unhinted = 0;

    return rc;
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

void
ngx_http_member_redis_bg_hint(ngx_http_member_cmd_t *cmd, redisReply *reply)
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
