
/*
 * ngx_member: metrics.  Counters live in shared memory so that every
 * worker adds to the same numbers; member_status prints them in
 * Prometheus' text format.
 */


#include <time.h>

#include "ngx_member_redis.h"


#define NGX_HTTP_MEMBER_STATUS_SLOTS   18
#define NGX_HTTP_MEMBER_LATENCY_SLOTS  12


typedef struct {
    ngx_atomic_t   requests[NGX_HTTP_MEMBER_HANDLER_COUNT]
                           [NGX_HTTP_MEMBER_STATUS_SLOTS];
    ngx_atomic_t   redis_latency[NGX_HTTP_MEMBER_LATENCY_SLOTS];
    ngx_atomic_t   redis_latency_sum_us;
    ngx_atomic_t   redis_commands;
    ngx_atomic_t   redis_failures;
    ngx_atomic_t   redis_connections;
    ngx_atomic_t   redis_cluster[4];    /* NGX_HTTP_MEMBER_STATS_REDIRECT... */
    ngx_atomic_t   wechat_calls;
    ngx_atomic_t   wechat_failures;
} ngx_http_member_stats_t;


static ngx_int_t ngx_http_member_stats_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);


/* the worker's view of the shared counters, set when the zone is mapped */
static ngx_http_member_stats_t  *ngx_http_member_stats;


static ngx_uint_t  ngx_http_member_status_codes[] = {
    200, 201, 301, 302, 400, 401, 403, 404, 405, 409, 410, 413, 422, 429,
    499, 500, 503, 0            /* 0: any other */
};


/* upper bounds in microseconds; the last slot is +Inf */
static ngx_uint_t  ngx_http_member_latency_bounds[] = {
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
    500000, 0
};


static const char  *ngx_http_member_handler_names[] = {
    "none", "status", "wechat_login", "api", "admin", "scan", "wechat_oauth",
    "wechat_oa", "wxpay_notify"
};


ngx_int_t
ngx_http_member_stats_init_zone(ngx_conf_t *cf,
    ngx_http_member_main_conf_t *mmcf)
{
    ngx_str_t  name = ngx_string("member_stats");

    mmcf->stats_zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
                                             &ngx_http_member_module);
    if (mmcf->stats_zone == NULL) {
        return NGX_ERROR;
    }

    mmcf->stats_zone->init = ngx_http_member_stats_zone_init;
    mmcf->stats_zone->data = mmcf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_stats_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    /* a reload keeps the numbers */
    if (data) {
        shm_zone->data = data;
        ngx_http_member_stats = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        ngx_http_member_stats = shpool->data;
        return NGX_OK;
    }

    ngx_http_member_stats = ngx_slab_calloc(shpool,
                                            sizeof(ngx_http_member_stats_t));
    if (ngx_http_member_stats == NULL) {
        return NGX_ERROR;
    }

    shpool->data = ngx_http_member_stats;
    shm_zone->data = ngx_http_member_stats;

    return NGX_OK;
}


ngx_int_t
ngx_http_member_log_handler(ngx_http_request_t *r)
{
    ngx_uint_t                   i, status;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (mlcf->handler == NGX_HTTP_MEMBER_NONE || ngx_http_member_stats == NULL)
    {
        return NGX_OK;
    }

    status = r->err_status ? r->err_status : r->headers_out.status;

    if (r->connection->error && status == 0) {
        status = 499;
    }

    for (i = 0; ngx_http_member_status_codes[i]; i++) {
        if (ngx_http_member_status_codes[i] == status) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&ngx_http_member_stats->requests
                                [mlcf->handler][i], 1);

    return NGX_OK;
}


ngx_msec_t
ngx_http_member_now_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (ngx_msec_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


void
ngx_http_member_stats_redis(ngx_msec_t elapsed_us, ngx_uint_t failed)
{
    ngx_uint_t  i;

    if (ngx_http_member_stats == NULL) {
        return;
    }

    if (failed) {
        (void) ngx_atomic_fetch_add(&ngx_http_member_stats->redis_failures,
                                    1);
        return;
    }

    for (i = 0; ngx_http_member_latency_bounds[i]; i++) {
        if (elapsed_us <= ngx_http_member_latency_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&ngx_http_member_stats->redis_latency[i], 1);
    (void) ngx_atomic_fetch_add(&ngx_http_member_stats->redis_latency_sum_us,
                                elapsed_us);
    (void) ngx_atomic_fetch_add(&ngx_http_member_stats->redis_commands, 1);
}


void
ngx_http_member_stats_wechat(ngx_uint_t failed)
{
    if (ngx_http_member_stats == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&ngx_http_member_stats->wechat_calls, 1);

    if (failed) {
        (void) ngx_atomic_fetch_add(&ngx_http_member_stats->wechat_failures,
                                    1);
    }
}


void
ngx_http_member_stats_connection(ngx_int_t delta)
{
    if (ngx_http_member_stats == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&ngx_http_member_stats->redis_connections,
                                delta);
}


void
ngx_http_member_stats_cluster(ngx_uint_t what)
{
    if (ngx_http_member_stats == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&ngx_http_member_stats->redis_cluster[what],
                                1);
}


/*
 * A cluster's lines: the counts of all workers, and the nodes as this
 * worker sees them (the one answering).
 */

static u_char *
ngx_http_member_status_cluster(u_char *p, u_char *last,
    ngx_http_member_stats_t *st, ngx_http_member_redis_t *redis)
{
    ngx_uint_t                     i;
    ngx_http_member_redis_node_t  *node;

    p = ngx_slprintf(p, last,
                     "# HELP member_redis_redirects_total MOVED and ASK "
                     "followed.\n"
                     "# TYPE member_redis_redirects_total counter\n"
                     "member_redis_redirects_total %uA\n"
                     "# HELP member_redis_retries_total Commands sent again "
                     "after TRYAGAIN or CLUSTERDOWN.\n"
                     "# TYPE member_redis_retries_total counter\n"
                     "member_redis_retries_total %uA\n"
                     "# HELP member_redis_maps_total Slot maps learnt.\n"
                     "# TYPE member_redis_maps_total counter\n"
                     "member_redis_maps_total %uA\n"
                     "# HELP member_redis_node_up Whether this worker is "
                     "connected to a node (master: of its map).\n"
                     "# TYPE member_redis_node_up gauge\n",
                     st->redis_cluster[NGX_HTTP_MEMBER_STATS_REDIRECT],
                     st->redis_cluster[NGX_HTTP_MEMBER_STATS_RETRY],
                     st->redis_cluster[NGX_HTTP_MEMBER_STATS_MAP]);

    for (i = 0; i < redis->nnodes; i++) {
        node = redis->nodes[i];

        p = ngx_slprintf(p, last,
                         "member_redis_node_up{node=\"%V\",master=\"%d\"} "
                         "%d\n", &node->addr.name, node->mapped,
                         node->connected);
    }

    return p;
}


ngx_int_t
ngx_http_member_status_handler(ngx_http_request_t *r)
{
    u_char                   *p, *start;
    size_t                    len;
    uint64_t                     cumulative;
    ngx_uint_t                   h, i, n;
    ngx_http_member_stats_t     *st;
    ngx_http_member_loc_conf_t  *mlcf;

    static ngx_str_t  type = ngx_string("text/plain; version=0.0.4");

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_member_method_not_allowed(r);
    }

    st = ngx_http_member_stats;
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (st == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    len = 2048 + NGX_HTTP_MEMBER_HANDLER_COUNT * NGX_HTTP_MEMBER_STATUS_SLOTS
                 * 96
          + NGX_HTTP_MEMBER_LATENCY_SLOTS * 96
          + 1024 + NGX_HTTP_MEMBER_REDIS_NODES * 128;

    start = ngx_pnalloc(r->pool, len);
    if (start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(start,
                    "# HELP member_requests_total Requests answered, by "
                    "handler and status.\n"
                    "# TYPE member_requests_total counter\n");

    for (h = 1; h < NGX_HTTP_MEMBER_HANDLER_COUNT; h++) {
        for (i = 0; i < NGX_HTTP_MEMBER_STATUS_SLOTS; i++) {
            n = st->requests[h][i];

            if (n == 0) {
                continue;
            }

            if (ngx_http_member_status_codes[i]) {
                p = ngx_sprintf(p, "member_requests_total{handler=\"%s\","
                                "status=\"%ui\"} %uA\n",
                                ngx_http_member_handler_names[h],
                                ngx_http_member_status_codes[i], n);

            } else {
                p = ngx_sprintf(p, "member_requests_total{handler=\"%s\","
                                "status=\"other\"} %uA\n",
                                ngx_http_member_handler_names[h], n);
            }
        }
    }

    p = ngx_sprintf(p,
                    "# HELP member_redis_latency_seconds Redis command "
                    "round trips.\n"
                    "# TYPE member_redis_latency_seconds histogram\n");

    cumulative = 0;

    for (i = 0; i < NGX_HTTP_MEMBER_LATENCY_SLOTS; i++) {
        cumulative += st->redis_latency[i];

        if (ngx_http_member_latency_bounds[i]) {
            p = ngx_sprintf(p, "member_redis_latency_seconds_bucket"
                            "{le=\"%ui.%06ui\"} %uL\n",
                            ngx_http_member_latency_bounds[i] / 1000000,
                            ngx_http_member_latency_bounds[i] % 1000000,
                            cumulative);

        } else {
            p = ngx_sprintf(p, "member_redis_latency_seconds_bucket"
                            "{le=\"+Inf\"} %uL\n", cumulative);
        }
    }

    p = ngx_sprintf(p,
                    "member_redis_latency_seconds_sum %uA.%06uA\n"
                    "member_redis_latency_seconds_count %uA\n"
                    "# HELP member_redis_failures_total Commands that got "
                    "no answer (connection lost or closed).\n"
                    "# TYPE member_redis_failures_total counter\n"
                    "member_redis_failures_total %uA\n"
                    "# HELP member_redis_connections Workers connected to "
                    "Redis now.\n"
                    "# TYPE member_redis_connections gauge\n"
                    "member_redis_connections %A\n"
                    "# HELP member_redis_up Whether this worker is "
                    "connected to Redis.\n"
                    "# TYPE member_redis_up gauge\n"
                    "member_redis_up %d\n"
                    "# HELP member_wechat_calls_total Calls to WeChat's API."
                    "\n"
                    "# TYPE member_wechat_calls_total counter\n"
                    "member_wechat_calls_total %uA\n"
                    "# HELP member_wechat_failures_total Calls to WeChat's "
                    "API that failed.\n"
                    "# TYPE member_wechat_failures_total counter\n"
                    "member_wechat_failures_total %uA\n",
                    st->redis_latency_sum_us / 1000000,
                    st->redis_latency_sum_us % 1000000,
                    st->redis_commands, st->redis_failures,
                    st->redis_connections,
                    mlcf->redis ? ngx_http_member_redis_status(mlcf->redis)
                                : 0,
                    st->wechat_calls, st->wechat_failures);

    if (mlcf->redis && mlcf->redis->cluster) {
        p = ngx_http_member_status_cluster(p, start + len, st, mlcf->redis);
    }

    if (mlcf->redis && mlcf->redis->replicas) {
        p = ngx_slprintf(p, start + len,
                         "# HELP member_redis_unconfirmed_total Moves of "
                         "money or points whose WAIT found fewer replicas "
                         "than member_redis_replicas.\n"
                         "# TYPE member_redis_unconfirmed_total counter\n"
                         "member_redis_unconfirmed_total %uA\n",
                         st->redis_cluster[NGX_HTTP_MEMBER_STATS_UNSAFE]);
    }

    return ngx_http_member_send_raw(r, NGX_HTTP_OK, &type, start, p - start);
}
