
/*
 * ngx_member, redis layer: the asynchronous Redis client on nginx events,
 * the replies answers are made of, the runner of background jobs and the
 * metrics.  Its files include this header, which includes the core
 * layer's; nothing here reaches a layer above (tools/layers.py).
 */


#ifndef _NGX_MEMBER_REDIS_H_INCLUDED_
#define _NGX_MEMBER_REDIS_H_INCLUDED_


#include "ngx_member_core.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "member_keyspace.h"


#define NGX_HTTP_MEMBER_STORE_CACHE      256
#define NGX_HTTP_MEMBER_STORE_CACHE_TTL  10000     /* ms */


/* a store's derived secret, kept by a worker for a few seconds */
typedef struct {
    u_char                      id[32];
    size_t                      id_len;
    u_char                      secret[NGX_HTTP_MEMBER_SECRET_LEN];
    ngx_msec_t                  expires;
} ngx_http_member_store_cache_t;
typedef struct ngx_http_member_cmd_s    ngx_http_member_cmd_t;
typedef struct ngx_http_member_analytics_s  ngx_http_member_analytics_t;
typedef struct ngx_http_member_fold_s  ngx_http_member_fold_t;
typedef struct ngx_http_member_campaigns_s  ngx_http_member_campaigns_t;
typedef struct ngx_http_member_jobs_s  ngx_http_member_jobs_t;


/*
 * The branded arguments of the command being sent, per worker: hiredis
 * copies them as it formats the command, so one buffer serves every
 * command (ngx_http_member_redis_brand.c).
 */
typedef struct {
    const char                **argv;
    size_t                     *argvlen;
    int                         nalloc;     /* of argv and argvlen */
    u_char                     *buf;
    size_t                      size;
} ngx_http_member_brand_scratch_t;


#define NGX_HTTP_MEMBER_REDIS_SLOTS    16384     /* of Redis Cluster */
#define NGX_HTTP_MEMBER_REDIS_NODES    64        /* of one cluster */
#define NGX_HTTP_MEMBER_REDIS_NO_NODE  0xff


/* where a Redis server listens: member_redis, a cluster's seed or node */
typedef struct {
    ngx_str_t                   name;       /* as configured, for logs */
    ngx_str_t                   host;       /* numeric, NUL-terminated */
    ngx_str_t                   unix_path;  /* NUL-terminated, or empty */
    int                         port;
} ngx_http_member_redis_addr_t;


typedef struct ngx_http_member_redis_node_s  ngx_http_member_redis_node_t;

/*
 * One server of a client, per worker: the pipelined connection to it.
 * member_redis has one node; member_redis_cluster a node per master the
 * slot map names (ngx_http_member_redis_cluster.c), made as it learns them.
 */
struct ngx_http_member_redis_node_s {
    ngx_http_member_redis_t    *redis;
    ngx_http_member_redis_addr_t  addr;
    ngx_uint_t                  index;      /* in redis->nodes */

    redisAsyncContext          *ac;
    ngx_connection_t           *connection;
    ngx_event_t                 connect_timer;
    ngx_event_t                 reconnect;
    ngx_msec_t                  backoff;
    ngx_msec_t                  last_read;
    ngx_uint_t                  inflight;

    unsigned                    connected:1;
    unsigned                    healthy:1;      /* it has answered */
    unsigned                    in_write:1;
    unsigned                    mapped:1;       /* a master of the map */
    unsigned                    refused:1;      /* a SCRIPT LOAD, logged */
};


/*
 * A client: one Redis server (member_redis), or a Redis Cluster
 * (member_redis_cluster) whose slots each worker maps to its masters, and
 * one brand's namespace on it (member_brand, empty without); its jobs run
 * for it.
 */
struct ngx_http_member_redis_s {
    ngx_str_t                   name;       /* as configured, for logs */
    ngx_http_member_redis_addr_t  *addrs;   /* the server, or the seeds */
    ngx_uint_t                  naddrs;
    ngx_str_t                   password;
    ngx_uint_t                  db;
    ngx_msec_t                  connect_timeout;
    ngx_str_t                   brand;      /* member_brand, or empty */
    ngx_uint_t                  replicas;   /* member_redis_replicas */
    ngx_msec_t                  replicas_timeout;

    /* per worker */
    ngx_http_member_redis_node_t  *nodes[NGX_HTTP_MEMBER_REDIS_NODES];
    ngx_uint_t                  nnodes;
    u_char                     *slots;      /* cluster: a node per slot */
    u_char                      masters[NGX_HTTP_MEMBER_REDIS_NODES];
    ngx_uint_t                  nmasters;   /* of the map, by first slot */
    ngx_uint_t                  seed;       /* the next node asked */
    ngx_int_t                   keyless;    /* master of a keyless command */
    ngx_uint_t                  unhinted;   /* the next script's caller hints */
    ngx_event_t                 refresh;
    ngx_msec_t                  asked;      /* the map, last */
    ngx_http_member_cmd_t      *free;
    ngx_http_member_store_cache_t  *stores;     /* per worker, or NULL */
    ngx_log_t                  *log;
    ngx_http_member_ledger_t   *ledger;     /* rules, clock */
    ngx_http_member_jobs_t     *jobs;       /* ngx_http_member_job.c */
    ngx_http_member_brand_scratch_t  scratch;

    unsigned                    used:1;     /* by a location */
    unsigned                    cluster:1;
    unsigned                    mapping:1;  /* CLUSTER SLOTS in flight */
    unsigned                    map_known:1;
    unsigned                    exiting:1;
};


/* one command of a pipeline (ngx_http_member_redis_pipeline) */
typedef struct {
    int                         argc;
    ngx_str_t                  *argv;
} ngx_http_member_argv_t;


typedef ngx_int_t (*ngx_http_member_call_pt)(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
/* how ngx_http_member_redis_bg_script() sends a script */
#define NGX_HTTP_MEMBER_BG_SHA1       0     /* EVALSHA */
#define NGX_HTTP_MEMBER_BG_SOURCE     1     /* EVAL: Redis may lack it */
#define NGX_HTTP_MEMBER_BG_UNHINTED   2     /* its caller hints the member */

/* a command of no request (timers); reply NULL when Redis went away */
typedef void (*ngx_http_member_bg_pt)(ngx_http_member_redis_t *redis,
    void *data, redisReply *reply);
/*
 * after a script whose binding says it changes a member (lua2c.py): the
 * member's key, as the script got it ({m:<id>})
 */
typedef void (*ngx_http_member_changed_pt)(ngx_http_member_redis_t *redis,
    ngx_str_t *member_key);

/*
 * A command's arguments (ngx_str_t) as the count and the array that
 * ngx_http_member_redis_bg_argv() and ngx_http_member_job_command() take,
 * counted by the compiler: ngx_http_member_args(ngx_string("GET"), key).
 */
#define ngx_http_member_args(...)                                            \
    sizeof((ngx_str_t []) { __VA_ARGS__ }) / sizeof(ngx_str_t),              \
    (ngx_str_t []) { __VA_ARGS__ }

/* how many a command's array holds (ngx_http_member_redis_bg_argv()) */
#define ngx_http_member_nelts(a)        (sizeof(a) / sizeof((a)[0]))


/*
 * One Redis command of a request, from the request's pool.  The command
 * record that hiredis holds (ngx_http_member_cmd_t) is per worker and can
 * outlive the request; the two point at each other until either side ends.
 */
struct ngx_http_member_call_s {
    ngx_http_request_t         *request;
    ngx_http_member_redis_t    *redis;
    ngx_http_member_cmd_t      *cmd;
    ngx_event_t                 timer;
    ngx_msec_t                  timeout;
    ngx_http_member_call_pt     handler;
    void                       *data;

    ngx_int_t                   script;     /* -1: a plain command */
    int                         argc;
    const char                **argv;
    size_t                     *argvlen;
    ngx_uint_t                  ncmds;      /* > 0: a pipeline of ncmds */
    int                        *cmdargc;    /* their argc, argv one after another */
    ngx_http_member_cmd_t     **parts;      /* in flight, NULL once answered */
    redisReply                **replies;    /* the answers, copied */
    ngx_uint_t                  pending;    /* parts still to answer */
    ngx_uint_t                  last;       /* the part that answered last */

    unsigned                    retried:1;  /* NOSCRIPT answered by EVAL */
    unsigned                    failed:1;   /* a part got no answer */
    unsigned                    unconfirmed:1;  /* WAIT: too few replicas */
};

/* what hiredis holds for a command until its callback runs, once */
struct ngx_http_member_cmd_s {
    ngx_http_member_cmd_t       *next;
    ngx_http_member_redis_t     *redis;
    ngx_http_member_redis_node_t  *node;    /* where it was sent */
    ngx_http_member_call_t      *call;      /* NULL: request gone */
    ngx_msec_t                   start;
    ngx_http_member_bg_pt        bg;        /* a command of no request */
    void                        *data;
    ngx_uint_t                   part;      /* its place in a pipeline */
    ngx_int_t                    script;    /* -1: not a hinting script */
    ngx_uint_t                   unbrand;   /* a branded SCAN */
    ngx_int_t                    eval;      /* its script, or -1 */
    char                        *formatted; /* cluster: to send it again */
    size_t                       len;
    ngx_int_t                    slot;      /* -1: of no key */
    ngx_uint_t                   redirects; /* MOVED, ASK followed */
    ngx_uint_t                   retries;   /* TRYAGAIN, CLUSTERDOWN */
    ngx_event_t                  retry;
    redisReply                  *held;      /* a durable script's, in WAIT */
    unsigned                     durable:1; /* WAIT follows its answer */
    size_t                       member_len;
    u_char                       member[NGX_HTTP_MEMBER_MEMBER_KEY_LEN];
};


/* ngx_http_member_redis.c: the connection, a command's record */
extern ngx_str_t  ngx_http_member_redis_eval;
extern ngx_str_t  ngx_http_member_redis_evalsha;
ngx_int_t ngx_http_member_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf);
void ngx_http_member_redis_exit_process(ngx_http_member_main_conf_t *mmcf);
ngx_int_t ngx_http_member_redis_status(ngx_http_member_redis_t *redis);
ngx_int_t ngx_http_member_redis_is_error(redisReply *reply, const char *code);
ngx_http_member_cmd_t *ngx_http_member_redis_issue(
    ngx_http_member_redis_t *redis, int argc, const char **argv,
    const size_t *argvlen, ngx_int_t script, ngx_http_member_call_t *call,
    ngx_http_member_bg_pt bg, void *data, ngx_int_t *rc);
const char *ngx_http_member_redis_type_name(redisReply *reply);
ngx_http_member_redis_node_t *ngx_http_member_redis_node_add(
    ngx_http_member_redis_t *redis, ngx_str_t *host, int port);
void ngx_http_member_redis_connect(ngx_http_member_redis_node_t *node);
ngx_int_t ngx_http_member_redis_send_cmd(ngx_http_member_redis_node_t *node,
    ngx_http_member_cmd_t *cmd, ngx_uint_t asking);
void ngx_http_member_redis_deliver(ngx_http_member_cmd_t *cmd,
    redisReply *reply);
void ngx_http_member_redis_hung(ngx_http_member_redis_node_t *node,
    ngx_msec_t timeout, ngx_log_t *log);

/* ngx_http_member_redis_conf.c: the Redis directives and their merge */
char *ngx_http_member_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_member_redis_replicas(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_member_brand(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_member_redis_merge_conf(ngx_conf_t *cf,
    ngx_http_member_loc_conf_t *prev, ngx_http_member_loc_conf_t *conf);
void ngx_http_member_redis_drop_unused(ngx_http_member_main_conf_t *mmcf);

/* ngx_http_member_redis_brand.c: the brand on every key as it is sent */
ngx_int_t ngx_http_member_redis_brand(ngx_http_member_redis_t *redis,
    int argc, const char ***argv, const size_t **argvlen,
    ngx_uint_t *unbrand);
void ngx_http_member_redis_unbrand(ngx_http_member_redis_t *redis,
    redisReply *reply);
void ngx_http_member_redis_brand_free(ngx_http_member_redis_t *redis);

/* ngx_http_member_redis_cluster.c: the slot map, routing, redirects */
ngx_int_t ngx_http_member_redis_cluster_init(ngx_cycle_t *cycle,
    ngx_http_member_redis_t *redis);
void ngx_http_member_redis_cluster_exit(ngx_http_member_redis_t *redis);
ngx_http_member_redis_node_t *ngx_http_member_redis_route(
    ngx_http_member_redis_t *redis, int argc, const char **argv,
    const size_t *argvlen, ngx_int_t *slot);
ngx_int_t ngx_http_member_redis_redirect(ngx_http_member_cmd_t *cmd,
    redisReply *reply);
void ngx_http_member_redis_map(ngx_http_member_redis_t *redis);
void ngx_http_member_redis_node_lost(ngx_http_member_redis_node_t *node);
ngx_uint_t ngx_http_member_redis_masters(ngx_http_member_redis_t *redis);

/* ngx_http_member_redis_call.c: a request's commands */
ngx_int_t ngx_http_member_redis_call(ngx_http_request_t *r,
    ngx_http_member_call_t *call);
ngx_int_t ngx_http_member_redis_command_n(ngx_http_request_t *r,
    ngx_http_member_call_pt handler, int argc, ...);

/*
 * A request's command of ngx_str_t pointers, counted by the compiler:
 * ngx_http_member_redis_command(r, handler, &ngx_http_member_cmd_get, &key).
 */
#define ngx_http_member_redis_command(r, handler, ...)                        \
    ngx_http_member_redis_command_n(r, handler,                               \
        (int) (sizeof((ngx_str_t *[]) { __VA_ARGS__ }) / sizeof(ngx_str_t *)),\
        __VA_ARGS__)

ngx_int_t ngx_http_member_redis_script(ngx_http_request_t *r,
    ngx_uint_t script, ngx_http_member_call_pt handler, ngx_str_t *keys,
    ngx_str_t *args, ngx_uint_t tail);
ngx_int_t ngx_http_member_redis_pipeline(ngx_http_request_t *r,
    ngx_http_member_call_pt handler, ngx_uint_t ncmds,
    ngx_http_member_argv_t *cmds);
void ngx_http_member_redis_abandon(ngx_http_member_call_t *call);
ngx_http_member_call_t *ngx_http_member_redis_request_call(
    ngx_http_request_t *r);
ngx_int_t ngx_http_member_redis_call_part(ngx_http_member_call_t *call,
    ngx_uint_t part, redisReply *reply);
void ngx_http_member_redis_call_answer(ngx_http_member_call_t *call,
    redisReply *reply);

/* ngx_http_member_redis_bg.c: commands of no request, the hint */
ngx_int_t ngx_http_member_redis_bg_argv(ngx_http_member_redis_t *redis,
    ngx_http_member_bg_pt handler, void *data, ngx_uint_t argc,
    ngx_str_t *argv);
ngx_int_t ngx_http_member_redis_bg_node(ngx_http_member_redis_t *redis,
    ngx_uint_t node, ngx_http_member_bg_pt handler, void *data,
    ngx_uint_t argc, ngx_str_t *argv);
ngx_int_t ngx_http_member_redis_bg_script(ngx_http_member_redis_t *redis,
    ngx_uint_t script, ngx_uint_t flags, ngx_http_member_bg_pt handler,
    void *data, ngx_str_t *keys, ngx_uint_t keys_tail, ngx_str_t *args,
    ngx_uint_t args_tail);
void ngx_http_member_redis_on_change(ngx_http_member_changed_pt changed);
void ngx_http_member_redis_bg_hint(ngx_http_member_cmd_t *cmd,
    redisReply *reply);

/*
 * ngx_http_member_job.c: the runner of the background jobs.  A job is its
 * kind (a static table: name, period, watchdog, budget, lease, slice and
 * settled functions) and its state; ngx_http_member_job_add() registers it
 * for a Redis.  The runner calls slice() on its timer while the job is not
 * busy (and this worker holds the lease of its Redis); the slice sends with
 * job_command() (ngx_http_member_args()) or job_script() (a script by its
 * binding) and ends with job_done() or job_again(), or by itself once
 * everything it sent has answered and settled() (if any) sent nothing more.
 */
typedef struct ngx_http_member_job_s  ngx_http_member_job_t;

typedef void (*ngx_http_member_job_pt)(ngx_http_member_job_t *job);
/* a reply of the slice's command; NULL when Redis went away */
typedef void (*ngx_http_member_job_reply_pt)(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t tag);

typedef struct {
    const char                 *name;       /* for logs */
    ngx_msec_t                  period;     /* between slices */
    ngx_msec_t                  stuck;      /* watchdog; 0: none */
    ngx_msec_t                  budget;     /* of a slice */
    ngx_uint_t                  lease;      /* one worker of all nodes */
    ngx_http_member_job_pt      slice;
    ngx_http_member_job_pt      settled;    /* all answered; NULL: over */
} ngx_http_member_job_kind_t;

struct ngx_http_member_job_s {
    const ngx_http_member_job_kind_t  *kind;
    ngx_http_member_redis_t    *redis;
    void                       *data;       /* the job's state */

    /* the runner's */
    ngx_http_member_jobs_t     *jobs;
    ngx_event_t                 timer;
    ngx_uint_t                  gen;        /* of the slice */
    ngx_msec_t                  started;
    ngx_uint_t                  outstanding;
    unsigned                    busy:1;
};

ngx_int_t ngx_http_member_job_add(ngx_cycle_t *cycle,
    ngx_http_member_job_t *job, const ngx_http_member_job_kind_t *kind,
    ngx_http_member_redis_t *redis, void *data);
void ngx_http_member_job_exit(ngx_http_member_redis_t *redis);
ngx_int_t ngx_http_member_job_command(ngx_http_member_job_t *job,
    ngx_http_member_job_reply_pt handler, ngx_uint_t tag, ngx_uint_t argc,
    ngx_str_t *argv);
ngx_int_t ngx_http_member_job_command_on(ngx_http_member_job_t *job,
    ngx_uint_t node, ngx_http_member_job_reply_pt handler, ngx_uint_t tag,
    ngx_uint_t argc, ngx_str_t *argv);
ngx_int_t ngx_http_member_job_script(ngx_http_member_job_t *job,
    ngx_http_member_job_reply_pt handler, ngx_uint_t tag, ngx_uint_t script,
    ngx_uint_t flags, ngx_str_t *keys, ngx_uint_t keys_tail,
    ngx_str_t *args, ngx_uint_t args_tail);
void ngx_http_member_job_done(ngx_http_member_job_t *job);
void ngx_http_member_job_again(ngx_http_member_job_t *job, ngx_msec_t delay);
ngx_int_t ngx_http_member_job_budget(ngx_http_member_job_t *job);

/* ngx_http_member_redis_reply.c: answers made of Redis replies */
ngx_int_t ngx_http_member_reply_script_error(ngx_http_request_t *r,
    redisReply *reply);
ngx_int_t ngx_http_member_reply_answer(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
json_t *ngx_http_member_reply_object(redisReply *reply);
ngx_int_t ngx_http_member_reply_number(redisReply *e, ngx_str_t *out);
json_t *ngx_http_member_reply_entries(redisReply *reply, size_t limit,
    ngx_str_t *next);
ngx_int_t ngx_http_member_reply_page(ngx_http_request_t *r,
    redisReply *entries, size_t limit, ngx_str_t *next);

/* ngx_http_member_status.c */
ngx_int_t ngx_http_member_status_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_member_stats_init_zone(ngx_conf_t *cf,
    ngx_http_member_main_conf_t *mmcf);
ngx_int_t ngx_http_member_log_handler(ngx_http_request_t *r);
ngx_msec_t ngx_http_member_now_us(void);
void ngx_http_member_stats_redis(ngx_msec_t elapsed_us, ngx_uint_t failed);
void ngx_http_member_stats_wechat(ngx_uint_t failed);
void ngx_http_member_stats_connection(ngx_int_t delta);
#define NGX_HTTP_MEMBER_STATS_REDIRECT  0   /* MOVED or ASK followed */
#define NGX_HTTP_MEMBER_STATS_RETRY     1   /* TRYAGAIN, CLUSTERDOWN */
#define NGX_HTTP_MEMBER_STATS_MAP       2   /* a slot map learnt */
#define NGX_HTTP_MEMBER_STATS_UNSAFE    3   /* WAIT short of its replicas */
void ngx_http_member_stats_cluster(ngx_uint_t what);


#endif /* _NGX_MEMBER_REDIS_H_INCLUDED_ */
