/*
 * ngx_member: the client of a Redis Cluster (member_redis_cluster).
 *
 * Each worker learns the slot map with CLUSTER SLOTS, sent on a seed or
 * any node it is connected to, keeps a connection per master (a node of
 * ngx_http_member_redis.c) and sends each command to the node of its
 * keys' slot.  A redirect is followed before the caller sees the reply:
 * MOVED points the slot at its new node and asks for the map again, ASK
 * sends the command once after ASKING to the node importing the slot.
 * The map is asked for again after a MOVED, when a node's connection
 * fails, and every NGX_HTTP_MEMBER_MAP_EVERY; never twice within
 * NGX_HTTP_MEMBER_MAP_MIN.  A slot no reachable node serves answers 503.
 */


#include "ngx_member_redis.h"
#include "member_keyspace.h"


#define NGX_HTTP_MEMBER_MAP_EVERY   30000   /* ms between two maps */
#define NGX_HTTP_MEMBER_MAP_SOON    1000    /* a master is down */
#define NGX_HTTP_MEMBER_MAP_MIN     200     /* rate limit */
#define NGX_HTTP_MEMBER_REDIRECTS   5       /* a command's redirects */
#define NGX_HTTP_MEMBER_RETRIES     20      /* TRYAGAIN, CLUSTERDOWN */
#define NGX_HTTP_MEMBER_RETRY_MIN   50      /* ms, doubling */
#define NGX_HTTP_MEMBER_RETRY_MAX   200


static void ngx_http_member_redis_refresh_handler(ngx_event_t *ev);
static void ngx_http_member_redis_mapped(redisAsyncContext *ac, void *reply,
    void *privdata);
static ngx_int_t ngx_http_member_redis_map_range(
    ngx_http_member_redis_t *redis, ngx_http_member_redis_node_t *asked,
    redisReply *range);
static void ngx_http_member_redis_map_again(ngx_http_member_redis_t *redis,
    ngx_msec_t delay);
static ngx_http_member_redis_node_t *ngx_http_member_redis_any(
    ngx_http_member_redis_t *redis);
static ngx_int_t ngx_http_member_redis_eval_source(
    ngx_http_member_cmd_t *cmd);
static ngx_int_t ngx_http_member_redis_try_again(ngx_http_member_cmd_t *cmd,
    redisReply *reply);
static void ngx_http_member_redis_retry_handler(ngx_event_t *ev);


ngx_int_t
ngx_http_member_redis_cluster_init(ngx_cycle_t *cycle,
    ngx_http_member_redis_t *redis)
{
    ngx_uint_t                     i;
    ngx_http_member_redis_node_t  *node;

    redis->slots = ngx_palloc(cycle->pool, NGX_HTTP_MEMBER_REDIS_SLOTS);
    if (redis->slots == NULL) {
        return NGX_ERROR;
    }

    ngx_memset(redis->slots, NGX_HTTP_MEMBER_REDIS_NO_NODE,
               NGX_HTTP_MEMBER_REDIS_SLOTS);

    /* the seeds are the first nodes, connected when asked for the map */
    for (i = 0; i < redis->naddrs; i++) {
        node = ngx_http_member_redis_node_add(redis, &redis->addrs[i].host,
                                              redis->addrs[i].port);
        if (node == NULL) {
            return NGX_ERROR;
        }
    }

    redis->refresh.handler = ngx_http_member_redis_refresh_handler;
    redis->refresh.data = redis;
    redis->refresh.log = cycle->log;
    redis->refresh.cancelable = 1;

    ngx_http_member_redis_map(redis);

    return NGX_OK;
}


void
ngx_http_member_redis_cluster_exit(ngx_http_member_redis_t *redis)
{
    if (redis->refresh.timer_set) {
        ngx_del_timer(&redis->refresh);
    }
}


static void
ngx_http_member_redis_refresh_handler(ngx_event_t *ev)
{
    ngx_http_member_redis_map(ev->data);
}


/*
 * Asks a node for the map: one it is connected to, the seeds and the
 * masters in turn, so that a dead one does not stop the learning.
 */

void
ngx_http_member_redis_map(ngx_http_member_redis_t *redis)
{
    ngx_uint_t                     i;
    ngx_msec_t                     since;
    ngx_http_member_redis_node_t  *node;

    if (redis->exiting || redis->mapping) {
        return;
    }

    since = ngx_current_msec - redis->asked;

    if (redis->asked && since < NGX_HTTP_MEMBER_MAP_MIN) {
        ngx_http_member_redis_map_again(redis,
                                        NGX_HTTP_MEMBER_MAP_MIN - since);
        return;
    }

    node = NULL;

    for (i = 0; i < redis->nnodes; i++) {
        node = redis->nodes[(redis->seed + i) % redis->nnodes];

        if (node->connected) {
            break;
        }

        node = NULL;
    }

    if (node == NULL) {
        node = redis->nodes[redis->seed % redis->nnodes];
        ngx_http_member_redis_connect(node);
    }

    redis->seed = node->index + 1;
    redis->asked = ngx_current_msec;

    /* the timer stays armed: a map that never answers is asked again */
    ngx_http_member_redis_map_again(redis, NGX_HTTP_MEMBER_MAP_SOON);

    if (node->ac == NULL
        || redisAsyncCommand(node->ac, ngx_http_member_redis_mapped, node,
                             "CLUSTER SLOTS")
           != REDIS_OK)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                       "member: redis \"%V\" cannot ask for the map",
                       &node->addr.name);
        return;
    }

    redis->mapping = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" asked for the slot map",
                   &node->addr.name);
}


static void
ngx_http_member_redis_map_again(ngx_http_member_redis_t *redis,
    ngx_msec_t delay)
{
    if (redis->exiting) {
        return;
    }

    if (redis->refresh.timer_set
        && redis->refresh.timer.key <= ngx_current_msec + delay)
    {
        return;
    }

    ngx_add_timer(&redis->refresh, delay);
}


/*
 * CLUSTER SLOTS: [start, end, [ip, port, id], replicas...] a range.  The
 * map is made anew from it; a master it names is connected now.
 */

static void
ngx_http_member_redis_mapped(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                    *rr = reply;
    u_char                        *old;
    ngx_uint_t                     i, s, down;
    ngx_http_member_redis_t       *redis;
    ngx_http_member_redis_node_t  *asked = privdata, *node;

    redis = asked->redis;
    redis->mapping = 0;

    if (redis->exiting) {
        return;
    }

    if (rr == NULL || rr->type != REDIS_REPLY_ARRAY || rr->elements == 0) {
        ngx_log_error(NGX_LOG_WARN, redis->log, 0,
                      "member: redis \"%V\" gave no slot map: %*s",
                      &asked->addr.name,
                      (size_t) (rr && rr->type == REDIS_REPLY_ERROR
                                ? ngx_min(rr->len, 128) : 0),
                      rr ? rr->str : "");
        ngx_http_member_redis_map_again(redis, NGX_HTTP_MEMBER_MAP_SOON);
        return;
    }

    old = ngx_alloc(NGX_HTTP_MEMBER_REDIS_SLOTS, redis->log);
    if (old == NULL) {
        return;
    }

    ngx_memcpy(old, redis->slots, NGX_HTTP_MEMBER_REDIS_SLOTS);
    ngx_memset(redis->slots, NGX_HTTP_MEMBER_REDIS_NO_NODE,
               NGX_HTTP_MEMBER_REDIS_SLOTS);

    for (i = 0; i < redis->nnodes; i++) {
        redis->nodes[i]->mapped = 0;
    }

    for (i = 0; i < rr->elements; i++) {
        if (ngx_http_member_redis_map_range(redis, asked, rr->element[i])
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                          "member: redis \"%V\" gave a bad slot map",
                          &asked->addr.name);
            ngx_memcpy(redis->slots, old, NGX_HTTP_MEMBER_REDIS_SLOTS);
            ngx_free(old);

            for (s = 0; s < NGX_HTTP_MEMBER_REDIS_SLOTS; s++) {
                if (redis->slots[s] != NGX_HTTP_MEMBER_REDIS_NO_NODE) {
                    redis->nodes[redis->slots[s]]->mapped = 1;
                }
            }

            ngx_http_member_redis_map_again(redis, NGX_HTTP_MEMBER_MAP_SOON);
            return;
        }
    }

    /* the masters by their first slot: the order of a walk of them all */
    redis->nmasters = 0;

    for (s = 0; s < NGX_HTTP_MEMBER_REDIS_SLOTS; s++) {
        if (redis->slots[s] == NGX_HTTP_MEMBER_REDIS_NO_NODE) {
            continue;
        }

        for (i = 0; i < redis->nmasters; i++) {
            if (redis->masters[i] == redis->slots[s]) {
                break;
            }
        }

        if (i == redis->nmasters) {
            redis->masters[redis->nmasters++] = redis->slots[s];
        }
    }

    if (!redis->map_known
        || ngx_memcmp(old, redis->slots, NGX_HTTP_MEMBER_REDIS_SLOTS) != 0)
    {
        ngx_log_error(NGX_LOG_INFO, redis->log, 0,
                      "member: redis cluster \"%V\": %ui masters, map of %ui "
                      "ranges from %V", &redis->name, redis->nmasters,
                      rr->elements, &asked->addr.name);
    }

    ngx_free(old);
    redis->map_known = 1;
    ngx_http_member_stats_cluster(NGX_HTTP_MEMBER_STATS_MAP);

    down = 0;

    for (i = 0; i < redis->nnodes; i++) {
        node = redis->nodes[i];

        if (!node->mapped) {
            if (node->reconnect.timer_set) {
                ngx_del_timer(&node->reconnect);
            }

            continue;
        }

        if (node->ac == NULL && !node->reconnect.timer_set) {
            ngx_http_member_redis_connect(node);
        }

        if (!node->connected) {
            down = 1;
        }
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" slot map of %ui ranges, %ui masters",
                   &asked->addr.name, rr->elements, redis->nmasters);

    /* a master still connecting or down: look again soon */
    if (redis->refresh.timer_set) {
        ngx_del_timer(&redis->refresh);
    }

    ngx_add_timer(&redis->refresh, down ? NGX_HTTP_MEMBER_MAP_SOON
                                        : NGX_HTTP_MEMBER_MAP_EVERY);
}


static ngx_int_t
ngx_http_member_redis_map_range(ngx_http_member_redis_t *redis,
    ngx_http_member_redis_node_t *asked, redisReply *range)
{
    ngx_str_t                      host;
    ngx_uint_t                     s;
    redisReply                    *master;
    ngx_http_member_redis_node_t  *node;

    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3
        || range->element[0]->type != REDIS_REPLY_INTEGER
        || range->element[1]->type != REDIS_REPLY_INTEGER
        || range->element[2]->type != REDIS_REPLY_ARRAY)
    {
        return NGX_ERROR;
    }

    master = range->element[2];

    if (master->elements < 2 || master->element[0]->type != REDIS_REPLY_STRING
        || master->element[1]->type != REDIS_REPLY_INTEGER
        || range->element[0]->integer < 0
        || range->element[1]->integer >= NGX_HTTP_MEMBER_REDIS_SLOTS
        || range->element[0]->integer > range->element[1]->integer
        || master->element[1]->integer <= 0
        || master->element[1]->integer > 65535)
    {
        return NGX_ERROR;
    }

    host.data = (u_char *) master->element[0]->str;
    host.len = master->element[0]->len;

    /* a node that does not know its address: the one asked has it */
    if (host.len == 0 || (host.len == 1 && host.data[0] == '?')) {
        host = asked->addr.host;
    }

    node = ngx_http_member_redis_node_add(redis, &host,
                                          (int) master->element[1]->integer);
    if (node == NULL) {
        return NGX_ERROR;
    }

    node->mapped = 1;

    for (s = (ngx_uint_t) range->element[0]->integer;
         s <= (ngx_uint_t) range->element[1]->integer;
         s++)
    {
        redis->slots[s] = (u_char) node->index;
    }

    return NGX_OK;
}


/* a node's connection went away: a replica may be taking its slots */

void
ngx_http_member_redis_node_lost(ngx_http_member_redis_node_t *node)
{
    if (!node->mapped) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, node->redis->log, 0,
                   "member: redis \"%V\" lost: the map is asked again",
                   &node->addr.name);

    ngx_http_member_redis_map(node->redis);
}


/* the masters of the map, for a walk of them all (SCAN) */

ngx_uint_t
ngx_http_member_redis_masters(ngx_http_member_redis_t *redis)
{
    return redis->cluster ? redis->nmasters : 1;
}


/*
 * The node of a command: the one server; on a cluster the master of its
 * first key's slot (a command or script touches one slot), or for a
 * command of no key the master the caller named (keyless) or any.  Before
 * the map is known, any node: a MOVED tells where the slot is.
 */

ngx_http_member_redis_node_t *
ngx_http_member_redis_route(ngx_http_member_redis_t *redis, int argc,
    const char **argv, const size_t *argvlen, ngx_int_t *slotp)
{
    unsigned      slot;
    ngx_uint_t    n;
    mks_status_t  rc;

    *slotp = -1;

    if (!redis->cluster) {
        return redis->nnodes ? redis->nodes[0] : NULL;
    }

    if (redis->keyless >= 0) {
        if ((ngx_uint_t) redis->keyless >= redis->nmasters) {
            return NULL;
        }

        return redis->nodes[redis->masters[redis->keyless]];
    }

    rc = mks_command_slot(argc, argv, argvlen, &slot);

    if (rc == MKS_NO_KEY) {
        return ngx_http_member_redis_any(redis);
    }

    if (rc != MKS_OK) {
        /* keyspace/mks_command.c's test makes this a bug of the module */
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "member: redis \"%V\": %*s cannot be placed: %s",
                      &redis->name, (size_t) ngx_min(argvlen[0], 32),
                      argv[0], mks_strerror(rc));
        return NULL;
    }

    n = redis->slots[slot];
    *slotp = slot;

    if (n != NGX_HTTP_MEMBER_REDIS_NO_NODE) {
        return redis->nodes[n];
    }

    if (!redis->map_known) {
        return ngx_http_member_redis_any(redis);
    }

    /* the map has a hole (a failover under way): it may have changed */
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" has no node for slot %ui",
                   &redis->name, (ngx_uint_t) slot);

    ngx_http_member_redis_map(redis);

    return NULL;
}


static ngx_http_member_redis_node_t *
ngx_http_member_redis_any(ngx_http_member_redis_t *redis)
{
    ngx_uint_t  i;

    for (i = 0; i < redis->nmasters; i++) {
        if (redis->nodes[redis->masters[i]]->connected) {
            return redis->nodes[redis->masters[i]];
        }
    }

    for (i = 0; i < redis->nnodes; i++) {
        if (redis->nodes[i]->ac) {
            return redis->nodes[i];
        }
    }

    return NULL;
}


/*
 * An error answer on a cluster, before the caller sees it: NGX_OK the
 * command went on elsewhere (or again), NGX_DECLINED it is the answer,
 * NGX_ERROR a redirect that could not be followed (the caller gets none:
 * 503).
 */

ngx_int_t
ngx_http_member_redis_redirect(ngx_http_member_cmd_t *cmd, redisReply *reply)
{
    u_char                        *p, *last, *colon;
    ngx_int_t                      slot, port, ask;
    ngx_str_t                      host;
    ngx_http_member_redis_t       *redis;
    ngx_http_member_redis_node_t  *node;

    redis = cmd->redis;

    if (cmd->formatted == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_member_redis_is_error(reply, "NOSCRIPT")
        && cmd->call == NULL && cmd->eval >= 0)
    {
        /* a job's script by its SHA1 on a master that never loaded it */
        return ngx_http_member_redis_eval_source(cmd);
    }

    if (ngx_http_member_redis_is_error(reply, "TRYAGAIN")
        || ngx_http_member_redis_is_error(reply, "CLUSTERDOWN"))
    {
        return ngx_http_member_redis_try_again(cmd, reply);
    }

    p = (u_char *) reply->str;
    last = p + reply->len;

    if (reply->len > 6 && ngx_strncmp(p, "MOVED ", 6) == 0) {
        ask = 0;
        p += 6;

    } else if (reply->len > 4 && ngx_strncmp(p, "ASK ", 4) == 0) {
        ask = 1;
        p += 4;

    } else {
        return NGX_DECLINED;
    }

    /* "<slot> <host>:<port>" */
    host.data = ngx_strlchr(p, last, ' ');
    colon = NULL;

    if (host.data) {
        for (colon = last - 1; colon > host.data; colon--) {
            if (*colon == ':') {
                break;
            }
        }
    }

    if (host.data == NULL || colon == NULL || colon == host.data) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "member: redis \"%V\" sent a bad redirect",
                      &cmd->node->addr.name);
        return NGX_ERROR;
    }

    slot = ngx_atoi(p, host.data - p);
    host.data++;
    host.len = colon - host.data;
    port = ngx_atoi(colon + 1, last - colon - 1);

    if (slot == NGX_ERROR || slot >= NGX_HTTP_MEMBER_REDIS_SLOTS
        || port == NGX_ERROR || port == 0 || port > 65535)
    {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "member: redis \"%V\" sent a bad redirect",
                      &cmd->node->addr.name);
        return NGX_ERROR;
    }

    if (host.len == 0) {
        host = cmd->node->addr.host;
    }

    if (cmd->redirects >= NGX_HTTP_MEMBER_REDIRECTS) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "member: redis \"%V\": slot %i redirected %ui times",
                      &redis->name, slot, cmd->redirects);
        return NGX_ERROR;
    }

    node = ngx_http_member_redis_node_add(redis, &host, (int) port);
    if (node == NULL) {
        return NGX_ERROR;
    }

    cmd->redirects++;
    ngx_http_member_stats_cluster(NGX_HTTP_MEMBER_STATS_REDIRECT);

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" %s slot %i to \"%V\", redirect %ui",
                   &cmd->node->addr.name, ask ? "asks" : "moved", slot,
                   &node->addr.name, cmd->redirects);

    if (!ask) {
        /* the slot is there now; the rest of the map may have moved too */
        node->mapped = 1;
        redis->slots[slot] = (u_char) node->index;
        ngx_http_member_redis_map(redis);
    }

    if (ngx_http_member_redis_send_cmd(node, cmd, ask) != NGX_OK) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                       "member: redis \"%V\" redirect not sent: no "
                       "connection", &node->addr.name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * NOSCRIPT to EVALSHA: the same command with EVAL and the source, on the
 * same node.  Nothing ran, so it is safe; the formatted command is
 * "*N\r\n$7\r\nEVALSHA\r\n$40\r\n<sha1>\r\n" and the rest.
 */

static ngx_int_t
ngx_http_member_redis_eval_source(ngx_http_member_cmd_t *cmd)
{
    u_char                              *p, *rest, *last, *q;
    char                                *formatted;
    size_t                               len, head;
    const ngx_http_member_script_src_t  *src;

    src = &ngx_http_member_script_srcs[cmd->eval];

    p = (u_char *) cmd->formatted;
    last = p + cmd->len;

    head = ngx_strlchr(p, last, '\n') - p + 1;      /* "*N\r\n" */
    rest = p + head;

    if (cmd->len < head + 13 + 47
        || ngx_strncasecmp(rest, (u_char *) "$7\r\nEVALSHA\r\n", 13) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, cmd->redis->log, 0,
                      "member: redis \"%V\" answered NOSCRIPT to a command "
                      "not sent as EVALSHA", &cmd->node->addr.name);
        return NGX_ERROR;
    }

    rest += 13 + 47;                                /* "$40\r\n<40>\r\n" */

    len = head + 10 + NGX_SIZE_T_LEN + 4 + src->len + (last - rest);

    formatted = malloc(len);
    if (formatted == NULL) {
        return NGX_ERROR;
    }

    q = ngx_cpymem(formatted, p, head);
    q = ngx_sprintf(q, "$4\r\nEVAL\r\n$%uz\r\n", src->len);
    q = ngx_cpymem(q, src->text, src->len);
    q = ngx_cpymem(q, "\r\n", 2);
    q = ngx_cpymem(q, rest, last - rest);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cmd->redis->log, 0,
                   "member: redis \"%V\" has no script %s: sent again as EVAL",
                   &cmd->node->addr.name, src->name);

    redisFreeCommand(cmd->formatted);
    cmd->formatted = formatted;
    cmd->len = q - (u_char *) formatted;

    if (ngx_http_member_redis_send_cmd(cmd->node, cmd, 0) != NGX_OK) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cmd->redis->log, 0,
                       "member: redis \"%V\" EVAL not sent: no connection",
                       &cmd->node->addr.name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * TRYAGAIN (a command of several keys while their slot moves) and
 * CLUSTERDOWN (a failover under way): nothing ran; the command goes again
 * after a short delay to the slot's node of the map then, a bounded number
 * of times.  A request's own timer still bounds its wait: once it fired,
 * the command is dropped at its next turn.
 */

static ngx_int_t
ngx_http_member_redis_try_again(ngx_http_member_cmd_t *cmd, redisReply *reply)
{
    ngx_msec_t                delay;
    ngx_http_member_redis_t  *redis = cmd->redis;

    if (cmd->retries >= NGX_HTTP_MEMBER_RETRIES) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "member: redis \"%V\" still answers %*s after %ui "
                      "retries", &cmd->node->addr.name,
                      (size_t) ngx_min(reply->len, 64), reply->str,
                      cmd->retries);
        return NGX_ERROR;
    }

    delay = NGX_HTTP_MEMBER_RETRY_MIN << ngx_min(cmd->retries, 2);
    delay = ngx_min(delay, NGX_HTTP_MEMBER_RETRY_MAX);

    cmd->retries++;
    cmd->redirects = 0;
    ngx_http_member_stats_cluster(NGX_HTTP_MEMBER_STATS_RETRY);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" answered %*s: retry %ui",
                   &cmd->node->addr.name, (size_t) ngx_min(reply->len, 32),
                   reply->str, cmd->retries);

    /* a failover: the map is about to change */
    if (ngx_http_member_redis_is_error(reply, "CLUSTERDOWN")) {
        ngx_http_member_redis_map(redis);
    }

    ngx_memzero(&cmd->retry, sizeof(ngx_event_t));
    cmd->retry.handler = ngx_http_member_redis_retry_handler;
    cmd->retry.data = cmd;
    cmd->retry.log = redis->log;
    cmd->retry.cancelable = 1;

    ngx_add_timer(&cmd->retry, delay);

    return NGX_OK;
}


static void
ngx_http_member_redis_retry_handler(ngx_event_t *ev)
{
    ngx_http_member_cmd_t         *cmd = ev->data;
    ngx_http_member_redis_t       *redis;
    ngx_http_member_redis_node_t  *node;

    redis = cmd->redis;
    node = cmd->node;

    if (cmd->slot >= 0
        && redis->slots[cmd->slot] != NGX_HTTP_MEMBER_REDIS_NO_NODE)
    {
        node = redis->nodes[redis->slots[cmd->slot]];
    }

    if (redis->exiting || (cmd->call == NULL && cmd->bg == NULL)) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                       "member: redis \"%V\" retry dropped: the request is "
                       "gone", &node->addr.name);
        ngx_http_member_redis_deliver(cmd, NULL);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" command sent again, retry %ui",
                   &node->addr.name, cmd->retries);

    if (ngx_http_member_redis_send_cmd(node, cmd, 0) != NGX_OK) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                       "member: redis \"%V\" retry not sent: no connection",
                       &node->addr.name);
        ngx_http_member_redis_deliver(cmd, NULL);
    }
}
