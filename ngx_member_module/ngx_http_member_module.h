
/*
 * ngx_member: member cards at the edge.
 * Private header shared by the files of the module.
 */


#ifndef _NGX_HTTP_MEMBER_MODULE_H_INCLUDED_
#define _NGX_HTTP_MEMBER_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_member_scripts.h"
#include "member_qrcode.h"
#include "member_rules.h"


/* handler families, also the "handler" label of the metrics */
typedef enum {
    NGX_HTTP_MEMBER_NONE = 0,
    NGX_HTTP_MEMBER_STATUS,
    NGX_HTTP_MEMBER_LOGIN,
    NGX_HTTP_MEMBER_API,
    NGX_HTTP_MEMBER_ADMIN,
    NGX_HTTP_MEMBER_SCAN,
    NGX_HTTP_MEMBER_OAUTH,
    NGX_HTTP_MEMBER_OA,
    NGX_HTTP_MEMBER_HANDLER_COUNT
} ngx_http_member_handler_e;


#define NGX_HTTP_MEMBER_SESSION_TTL     (7 * 24 * 3600)
#define NGX_HTTP_MEMBER_IDEM_TTL        (30 * 24 * 3600)
#define NGX_HTTP_MEMBER_TOKEN_RANDOM    32
#define NGX_HTTP_MEMBER_TOKEN_LEN       (NGX_INT64_LEN + 1 + 44)
#define NGX_HTTP_MEMBER_MAX_AMOUNT      100000000       /* 1,000,000 yuan */
#define NGX_HTTP_MEMBER_PAGE_DEFAULT    20
#define NGX_HTTP_MEMBER_PAGE_MAX        100
#define NGX_HTTP_MEMBER_TICKET_TTL      300
#define NGX_HTTP_MEMBER_NONCE_TTL       900

/* a numeric constant as a string literal, for ngx_str_set() */
#define ngx_http_member_literal_(n)     #n
#define ngx_http_member_literal(n)      ngx_http_member_literal_(n)
#define NGX_HTTP_MEMBER_SIGNATURE_WINDOW  300
#define NGX_HTTP_MEMBER_ORDER_TTL       (400 * 24 * 3600)

#define NGX_HTTP_GONE                   410
#define NGX_HTTP_UNPROCESSABLE_ENTITY   422
#define NGX_HTTP_TOO_MANY_REQUESTS      429


typedef struct ngx_http_member_redis_s  ngx_http_member_redis_t;


#define NGX_HTTP_MEMBER_STORE_CACHE      256
#define NGX_HTTP_MEMBER_STORE_CACHE_TTL  10000     /* ms */
#define NGX_HTTP_MEMBER_SECRET_LEN       43        /* base64url of 32 bytes */


/* a store's derived secret, kept by a worker for a few seconds */
typedef struct {
    u_char                      id[32];
    size_t                      id_len;
    u_char                      secret[NGX_HTTP_MEMBER_SECRET_LEN];
    ngx_msec_t                  expires;
} ngx_http_member_store_cache_t;
typedef struct ngx_http_member_cmd_s    ngx_http_member_cmd_t;
typedef struct ngx_http_member_call_s   ngx_http_member_call_t;
typedef struct ngx_http_member_oa_keys_s  ngx_http_member_oa_keys_t;
typedef struct ngx_http_member_ledger_s  ngx_http_member_ledger_t;
typedef struct ngx_http_member_analytics_s  ngx_http_member_analytics_t;
typedef struct ngx_http_member_fold_s  ngx_http_member_fold_t;
typedef struct ngx_http_member_outbox_conf_s  ngx_http_member_outbox_conf_t;
typedef struct ngx_http_member_campaigns_s  ngx_http_member_campaigns_t;
typedef struct ngx_http_member_jobs_s  ngx_http_member_jobs_t;


/* one Redis server; each worker keeps one pipelined connection to it */
struct ngx_http_member_redis_s {
    ngx_str_t                   name;       /* as configured, for logs */
    ngx_str_t                   host;       /* numeric, NUL-terminated */
    ngx_str_t                   unix_path;  /* NUL-terminated, or empty */
    int                         port;
    ngx_str_t                   password;
    ngx_uint_t                  db;
    ngx_msec_t                  connect_timeout;

    /* per worker */
    redisAsyncContext          *ac;
    ngx_connection_t           *connection;
    ngx_event_t                 connect_timer;
    ngx_event_t                 reconnect;
    ngx_msec_t                  backoff;
    ngx_msec_t                  last_read;
    ngx_uint_t                  inflight;
    ngx_http_member_cmd_t      *free;
    ngx_http_member_store_cache_t  *stores;     /* per worker, or NULL */
    ngx_log_t                  *log;
    ngx_http_member_ledger_t   *ledger;     /* rules, clock */
    ngx_http_member_jobs_t     *jobs;       /* ngx_http_member_job.c */

    unsigned                    connected:1;
    unsigned                    healthy:1;      /* it has answered */
    unsigned                    in_write:1;
    unsigned                    exiting:1;
};


/* one command of a pipeline (ngx_http_member_redis_pipeline) */
typedef struct {
    int                         argc;
    ngx_str_t                  *argv;
} ngx_http_member_argv_t;


typedef ngx_int_t (*ngx_http_member_call_pt)(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
typedef ngx_int_t (*ngx_http_member_id_pt)(ngx_http_request_t *r,
    uint64_t id);
/* a command of no request (timers); reply NULL when Redis went away */
/* how ngx_http_member_redis_bg_script() sends a script */
#define NGX_HTTP_MEMBER_BG_SHA1       0     /* EVALSHA */
#define NGX_HTTP_MEMBER_BG_SOURCE     1     /* EVAL: Redis may lack it */
#define NGX_HTTP_MEMBER_BG_UNHINTED   2     /* its caller hints the member */

typedef void (*ngx_http_member_bg_pt)(ngx_http_member_redis_t *redis,
    void *data, redisReply *reply);
/*
 * after a script whose binding says it changes a member (lua2c.py): the
 * member's key, as the script got it ({m:<id>})
 */
typedef void (*ngx_http_member_changed_pt)(ngx_http_member_redis_t *redis,
    ngx_str_t *member_key);

#define NGX_HTTP_MEMBER_MEMBER_KEY_LEN  32

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

    unsigned                    retried:1;  /* NOSCRIPT answered by EVAL */
};


typedef struct {
    u_char                      sha1[40];
} ngx_http_member_script_t;




typedef struct {
    ngx_str_t                   id;
    u_char                      key[32];
} ngx_http_member_key_t;


typedef struct {
    ngx_array_t                 redis;      /* ngx_http_member_redis_t * */
    ngx_http_member_script_t    scripts[NGX_HTTP_MEMBER_SCRIPT_COUNT];
    ngx_shm_zone_t             *stats_zone;
    ngx_flag_t                  log_handler_set;
    ngx_flag_t                  test_clock;
    ngx_array_t                *outboxes;   /* a brand's WeChat outbox, */
                                            /* ngx_http_member_outbox.c */
} ngx_http_member_main_conf_t;


#define NGX_HTTP_MEMBER_SCHEME_CONNECTION  0
#define NGX_HTTP_MEMBER_SCHEME_HTTP        1
#define NGX_HTTP_MEMBER_SCHEME_HTTPS       2

typedef struct {
    ngx_http_member_handler_e   handler;
    ngx_http_member_redis_t    *redis;
    ngx_msec_t                  redis_timeout;
    time_t                      session_ttl;
    ngx_uint_t                  scheme;     /* member_scheme: */

    ngx_str_t                   wechat_appid;
    ngx_str_t                   wechat_secret;
    ngx_str_t                   wechat_api;
    ngx_flag_t                  wechat_stable_token;
    ngx_array_t                *page_domains;   /* ngx_str_t */
    ngx_http_member_outbox_conf_t  *outbox;     /* member_wechat_outbox */
    ngx_str_t                   wechat_token;
    ngx_http_member_oa_keys_t  *wechat_aes_keys;
    time_t                      wechat_window;

    ngx_str_t                   admin_token;
    ngx_array_t                *keys;       /* ngx_http_member_key_t */

    ngx_str_t                   code_secret;
    mqr_coder_t                *coder;      /* keyed with code_secret */
    time_t                      code_period;
    ngx_uint_t                  scan_store_limit;
    ngx_uint_t                  scan_address_limit;
    ngx_uint_t                  scan_failure_limit;
} ngx_http_member_loc_conf_t;


typedef struct ngx_http_member_ledger_req_s  ngx_http_member_ledger_req_t;

/* an answer's observer (ngx_http_member_send_raw) */
typedef void (*ngx_http_member_answer_pt)(ngx_http_request_t *r,
    ngx_uint_t status, u_char *data, size_t len);

/* per request */
typedef struct {
    ngx_http_member_call_t     *call;       /* the Redis layer's */
    ngx_str_t                   route;      /* path below the location */
    ngx_str_t                   body;
    json_t                     *json;       /* parsed body, freed by cleanup */

    uint64_t                    member_id;
    ngx_str_t                   session_key;    /* Redis key */
    ngx_str_t                   openid_key;
    ngx_http_member_id_pt       id_done;

    /* outgoing WeChat call */
    ngx_http_request_t         *sr;
    ngx_int_t                   sr_status;
    ngx_str_t                   sr_body;
    ngx_int_t                 (*wechat_done)(ngx_http_request_t *r);
    ngx_http_log_handler_pt     log_handler;
    void                       *wechat_cache;   /* token and tickets */

    ngx_uint_t                  step;
    void                       *data;
    void                       *admin;      /* who asks: admin_auth.c */
    ngx_http_member_answer_pt   answer;     /* the admin API's audit */
    ngx_http_member_ledger_req_t  *ledger;  /* ngx_http_member_ledger.c */

    unsigned                    wechat_waiting:1;
    unsigned                    wechat_failed:1;
    unsigned                    answered:1;     /* our own answer went out */
    unsigned                    error_page:1;   /* nginx's, made JSON */
} ngx_http_member_ctx_t;


extern ngx_module_t  ngx_http_member_module;


/*
 * A handler's routes: one table of rows, matched once, first match
 * deciding (ngx_http_member_route_find).  A row's pattern is
 * mrl_route_match()'s; a capture named <id> must be a member id, <fid> a
 * feedback id, <tag> no longer than a tag, else the row does not match.
 * A row without a handler answers that there is no such resource: 405
 * when an earlier row's pattern matched with another method, 404 else.
 * The admin API's roles (grant) and audit read the same rows
 * (ngx_http_member_admin_auth.c).
 */

#define NGX_HTTP_MEMBER_FEEDBACK_ID_LEN  21    /* <fid> */
#define NGX_HTTP_MEMBER_TAG_MAX          32    /* <tag>, in bytes */

/* the roles of admin keys, and what a row grants them */
#define NGX_HTTP_MEMBER_ROLE_HQ         0x01
#define NGX_HTTP_MEMBER_ROLE_STORE      0x02
#define NGX_HTTP_MEMBER_ROLE_READONLY   0x04
#define NGX_HTTP_MEMBER_ROLE_BOOTSTRAP  0x08
#define NGX_HTTP_MEMBER_ROLE_OWN_STORE  0x10    /* store, its first capture */

/* the bootstrap token only (it may do everything) */
#define NGX_HTTP_MEMBER_GRANT_NONE      0
#define NGX_HTTP_MEMBER_GRANT_HQ        NGX_HTTP_MEMBER_ROLE_HQ
#define NGX_HTTP_MEMBER_GRANT_READ      (NGX_HTTP_MEMBER_ROLE_HQ              \
                                         |NGX_HTTP_MEMBER_ROLE_READONLY)
#define NGX_HTTP_MEMBER_GRANT_STORE     (NGX_HTTP_MEMBER_GRANT_READ           \
                                         |NGX_HTTP_MEMBER_ROLE_OWN_STORE)
#define NGX_HTTP_MEMBER_GRANT_DESK      (NGX_HTTP_MEMBER_GRANT_READ           \
                                         |NGX_HTTP_MEMBER_ROLE_STORE)

#define NGX_HTTP_MEMBER_READ            (NGX_HTTP_GET|NGX_HTTP_HEAD)
#define NGX_HTTP_MEMBER_ANY             ((ngx_uint_t) -1)

typedef struct {
    ngx_str_t                   capture[MRL_ROUTE_CAPTURES];
    ngx_uint_t                  ncaptures;
    uint64_t                    id;         /* of an <id> capture */
    ngx_uint_t                  wrong_method;
} ngx_http_member_match_t;

typedef ngx_int_t (*ngx_http_member_route_pt)(ngx_http_request_t *r,
    ngx_http_member_match_t *m);

/* the audit of a change that succeeded: its before and after */
typedef void (*ngx_http_member_audit_pt)(json_t *answer, json_t **before,
    json_t **after);

typedef struct {
    ngx_uint_t                  methods;
    const char                 *pattern;
    ngx_http_member_route_pt    handler;    /* NULL: no such resource */
    ngx_uint_t                  grant;      /* roles of admin keys */
    ngx_http_member_audit_pt    audit;      /* NULL: not audited */
} ngx_http_member_route_t;

/* ngx_http_member_ctx.c, ngx_http_member_route.c */
ngx_http_member_ctx_t *ngx_http_member_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_member_route(ngx_http_request_t *r, ngx_str_t *route);
ngx_int_t ngx_http_member_hide_query(ngx_http_request_t *r);
ngx_flag_t ngx_http_member_https(ngx_http_request_t *r);
ngx_http_member_route_t *ngx_http_member_route_find(ngx_http_request_t *r,
    ngx_http_member_route_t *routes, ngx_str_t *route,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_route_run(ngx_http_request_t *r,
    ngx_http_member_route_t *row, ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_route_fid_valid(ngx_str_t *id);

/* ngx_http_member_redis.c */
ngx_int_t ngx_http_member_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf);
void ngx_http_member_redis_exit_process(ngx_http_member_main_conf_t *mmcf);
ngx_int_t ngx_http_member_redis_call(ngx_http_request_t *r,
    ngx_http_member_call_t *call);
ngx_int_t ngx_http_member_redis_command(ngx_http_request_t *r,
    ngx_http_member_call_pt handler, int argc, ...);
ngx_int_t ngx_http_member_redis_script(ngx_http_request_t *r,
    ngx_uint_t script, ngx_http_member_call_pt handler, ngx_str_t *keys,
    ngx_str_t *args, ngx_uint_t tail);
ngx_int_t ngx_http_member_redis_pipeline(ngx_http_request_t *r,
    ngx_http_member_call_pt handler, ngx_uint_t ncmds,
    ngx_http_member_argv_t *cmds);
void ngx_http_member_redis_abandon(ngx_http_member_call_t *call);
ngx_http_member_call_t *ngx_http_member_redis_request_call(
    ngx_http_request_t *r);
ngx_int_t ngx_http_member_redis_status(ngx_http_member_redis_t *redis);
ngx_int_t ngx_http_member_redis_is_error(redisReply *reply, const char *code);
ngx_int_t ngx_http_member_redis_bg_argv(ngx_http_member_redis_t *redis,
    ngx_http_member_bg_pt handler, void *data, ngx_uint_t argc,
    ngx_str_t *argv);
ngx_int_t ngx_http_member_redis_bg_script(ngx_http_member_redis_t *redis,
    ngx_uint_t script, ngx_uint_t flags, ngx_http_member_bg_pt handler,
    void *data, ngx_str_t *keys, ngx_uint_t keys_tail, ngx_str_t *args,
    ngx_uint_t args_tail);
void ngx_http_member_redis_on_change(ngx_http_member_changed_pt changed);

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
ngx_int_t ngx_http_member_job_script(ngx_http_member_job_t *job,
    ngx_http_member_job_reply_pt handler, ngx_uint_t tag, ngx_uint_t script,
    ngx_uint_t flags, ngx_str_t *keys, ngx_uint_t keys_tail,
    ngx_str_t *args, ngx_uint_t args_tail);
void ngx_http_member_job_done(ngx_http_member_job_t *job);
void ngx_http_member_job_again(ngx_http_member_job_t *job, ngx_msec_t delay);
ngx_int_t ngx_http_member_job_budget(ngx_http_member_job_t *job);

/* ngx_http_member_admin_auth.c: admin keys, roles, the audit */
ngx_int_t ngx_http_member_admin_auth(ngx_http_request_t *r,
    ngx_http_member_route_t *routes);
ngx_int_t ngx_http_member_whoami(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_audit_page(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_keys_create(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_keys_get(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_keys_revoke(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
/* what the audit keeps of an answer: its fields, or a change's diff */
void ngx_http_member_audit_fields(json_t *answer, json_t **before,
    json_t **after);
void ngx_http_member_audit_level(json_t *answer, json_t **before,
    json_t **after);
void ngx_http_member_audit_points(json_t *answer, json_t **before,
    json_t **after);
void ngx_http_member_audit_recharge(json_t *answer, json_t **before,
    json_t **after);
void ngx_http_member_audit_refund(json_t *answer, json_t **before,
    json_t **after);
void ngx_http_member_audit_rules(json_t *answer, json_t **before,
    json_t **after);
void ngx_http_member_admin_actor(ngx_http_request_t *r, ngx_str_t *actor);

/* what of a member's record the caller's role sees */
#define NGX_HTTP_MEMBER_VIEW_FULL      0x01     /* hq, the bootstrap token */
#define NGX_HTTP_MEMBER_VIEW_MASKED    0x02     /* readonly */
#define NGX_HTTP_MEMBER_VIEW_TILL      0x04     /* store */

ngx_uint_t ngx_http_member_admin_view(ngx_http_request_t *r);
void ngx_http_member_audit_set(ngx_http_request_t *r, json_t *before,
    json_t *after);
void ngx_http_member_audit_answer(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len);

/* ngx_http_member_feedback.c */
ngx_int_t ngx_http_member_feedback(ngx_http_request_t *r);
ngx_int_t ngx_http_member_feedback_admin(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_feedback_answer(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_feedback_erase(ngx_http_request_t *r, uint64_t id,
    ngx_http_member_call_pt done);
ngx_int_t ngx_http_member_feedback_export(ngx_http_request_t *r, uint64_t id,
    json_t *out);

/* ngx_http_member_ledger.c */
ngx_int_t ngx_http_member_ledger_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf);
void ngx_http_member_ledger_exit_process(ngx_http_member_main_conf_t *mmcf);
time_t ngx_http_member_ledger_now(ngx_http_member_ledger_t *ledger);
ngx_int_t ngx_http_member_ledger_pay(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *kind, ngx_str_t *store_id, ngx_str_t *order_id,
    ngx_str_t *ticket_key, ngx_str_t *ticket_value, ngx_int_t amount,
    ngx_int_t points, ngx_str_t *coupon_id,
    void (*settled)(ngx_http_request_t *r, redisReply *reply));
typedef ngx_int_t (*ngx_http_member_clock_pt)(ngx_http_request_t *r,
    time_t now);
ngx_int_t ngx_http_member_ledger_clock(ngx_http_request_t *r,
    ngx_http_member_clock_pt done);
ngx_int_t ngx_http_member_ledger_refund(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *store_id, ngx_str_t *order_id);
ngx_int_t ngx_http_member_ledger_recharge(ngx_http_request_t *r, uint64_t id,
    ngx_int_t amount, ngx_str_t *idem);
ngx_int_t ngx_http_member_ledger_points(ngx_http_request_t *r, uint64_t id);
typedef ngx_int_t (*ngx_http_member_rules_json_pt)(ngx_http_request_t *r,
    json_t *rules);
ngx_int_t ngx_http_member_rules_json(ngx_http_request_t *r,
    ngx_http_member_rules_json_pt done);
ngx_int_t ngx_http_member_admin_level(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_admin_points(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_admin_refund(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_rules_handler(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_clock_handler(ngx_http_request_t *r,
    ngx_http_member_match_t *m);

/* ngx_http_member_analytics.c */
ngx_int_t ngx_http_member_analytics_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf);

ngx_int_t ngx_http_member_analytics_segments(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_analytics_churn(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_analytics_tags_all(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_analytics_tag_members(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_analytics_shown(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_analytics_tags(ngx_http_request_t *r, uint64_t id);
ngx_int_t ngx_http_member_analytics_run(ngx_http_request_t *r,
    ngx_http_member_call_pt done);
ngx_int_t ngx_http_member_analytics_record(ngx_http_request_t *r,
    json_t *record);

/* ngx_http_member_outbox.c */
char *ngx_http_member_outbox_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_member_outbox_init(ngx_conf_t *cf,
    ngx_http_member_main_conf_t *mmcf);
ngx_int_t ngx_http_member_outbox_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf);
void ngx_http_member_outbox_exit_process(ngx_http_member_main_conf_t *mmcf);
void ngx_http_member_outbox_touch(ngx_http_member_redis_t *redis,
    uint64_t id);
ngx_int_t ngx_http_member_outbox_admin(ngx_http_request_t *r);

/* ngx_http_member_form.c: WeChat's activation form of a wallet card */
typedef ngx_int_t (*ngx_http_member_form_pt)(ngx_http_request_t *r,
    ngx_int_t rc, uint64_t target);

ngx_int_t ngx_http_member_form_read(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *card_id, ngx_str_t *code, ngx_str_t *openid,
    ngx_http_member_form_pt done);

/* ngx_http_member_messages.c: template and subscribe messages */
time_t ngx_http_member_messages_notice(json_t *rules);
void ngx_http_member_messages_args(json_t *messages, ngx_str_t *args);
ngx_int_t ngx_http_member_messages_body(ngx_http_request_t *r,
    json_t *messages, redisReply *reply, ngx_str_t *path, ngx_str_t *body);
ngx_int_t ngx_http_member_subscriptions(ngx_http_request_t *r);
ngx_int_t ngx_http_member_messages_log(ngx_http_request_t *r, uint64_t id);

/* ngx_http_member_coupons.c */
ngx_int_t ngx_http_member_coupons_template(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_coupons_template_list(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_coupons_issue(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_coupons_list(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *must_exist, const char *missing);

ngx_str_t *ngx_http_member_int_arg(ngx_pool_t *pool, ngx_str_t *arg,
    int64_t n);
ngx_http_member_campaigns_t **ngx_http_member_ledger_campaigns(
    ngx_http_member_ledger_t *ledger);
json_t *ngx_http_member_ledger_rules(ngx_http_member_ledger_t *ledger,
    ngx_uint_t *version, time_t *lot);

/* ngx_http_member_campaigns.c */
void ngx_http_member_campaigns_tick(ngx_http_member_job_t *job);
void ngx_http_member_campaigns_settled(ngx_http_member_job_t *job);
ngx_int_t ngx_http_member_campaigns_list(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_campaigns_run_now(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_referral(ngx_http_request_t *r);
ngx_int_t ngx_http_member_invite(ngx_http_request_t *r, json_t *json,
    uint64_t self, uint64_t *referrer);
ngx_int_t ngx_http_member_invite_id(ngx_http_request_t *r, u_char *s,
    size_t len, uint64_t *id);

/* what a hint asks the campaigns' timer for: a welcome, a referee's watch */
#define NGX_HTTP_MEMBER_HINT_NEW       1
#define NGX_HTTP_MEMBER_HINT_REFEREE   2

void ngx_http_member_campaigns_hint(ngx_http_request_t *r, uint64_t id,
    ngx_uint_t hints);

/*
 * ngx_http_member_fold.c: after every script whose binding says it changes
 * a member's ledger or record (status, level), the Redis layer calls the
 * hook fold.c registers, so that the brand's totals fold it in and the
 * WeChat outbox looks at the member; ledger_hint() where a timer changed
 * one by other means, touched() where a request asks the outbox to look
 * after no change; fold_hint() alone for a look that may have changed
 * nothing WeChat shows.
 */
void ngx_http_member_ledger_touched(ngx_http_request_t *r, uint64_t id);
void ngx_http_member_ledger_hint(ngx_http_member_redis_t *redis, uint64_t id);
void ngx_http_member_fold_hint(ngx_http_member_redis_t *redis, uint64_t id);
ngx_int_t ngx_http_member_fold_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf);
ngx_int_t ngx_http_member_fold_totals(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_fold_daily(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_fold_store(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_fold_rescan_admin(ngx_http_request_t *r,
    ngx_http_member_match_t *m);

/* ngx_http_member_reply.c, ngx_http_member_redis_reply.c */
ngx_int_t ngx_http_member_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message);
ngx_int_t ngx_http_member_send_json(ngx_http_request_t *r,
    ngx_uint_t status, json_t *value);
ngx_int_t ngx_http_member_send_raw(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len);
ngx_int_t ngx_http_member_send_buf(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *b);
ngx_int_t ngx_http_member_reply_script_error(ngx_http_request_t *r,
    redisReply *reply);
ngx_int_t ngx_http_member_reply_answer(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
json_t *ngx_http_member_reply_object(redisReply *reply);
ngx_int_t ngx_http_member_reply_number(redisReply *e, ngx_str_t *out);
json_t *ngx_http_member_ledger_items(redisReply *reply, size_t limit,
    ngx_str_t *next);
ngx_int_t ngx_http_member_ledger_page(ngx_http_request_t *r,
    redisReply *entries, size_t limit, ngx_str_t *next);
ngx_int_t ngx_http_member_error_filter_init(ngx_conf_t *cf);

/* ngx_http_member_body.c */

/* the money and points calls: their fields are declared in body.c */
typedef enum {
    NGX_HTTP_MEMBER_BODY_PAY = 0,
    NGX_HTTP_MEMBER_BODY_EARN,
    NGX_HTTP_MEMBER_BODY_REFUND,
    NGX_HTTP_MEMBER_BODY_RECHARGE,
    NGX_HTTP_MEMBER_BODY_RECHARGE_REFUND,
    NGX_HTTP_MEMBER_BODY_POINTS,
    NGX_HTTP_MEMBER_BODY_LEVEL,
    NGX_HTTP_MEMBER_BODY_COUPON_ISSUE
} ngx_http_member_body_e;

ngx_int_t ngx_http_member_read_json(ngx_http_request_t *r,
    void (*post_handler)(ngx_http_request_t *r));
json_t *ngx_http_member_body_json(ngx_http_request_t *r, ngx_int_t *rc);
ngx_int_t ngx_http_member_body_known(ngx_http_request_t *r, json_t *json,
    ngx_http_member_body_e call, ngx_int_t *rc);
json_t *ngx_http_member_body_call(ngx_http_request_t *r,
    ngx_http_member_body_e call, ngx_int_t *rc);
ngx_int_t ngx_http_member_body_fingerprint(ngx_http_request_t *r,
    json_t *json, ngx_http_member_body_e call, uint64_t id, ngx_str_t *fp);
ngx_int_t ngx_http_member_body_raw(ngx_http_request_t *r, ngx_str_t *body);
ngx_int_t ngx_http_member_bad_field(ngx_http_request_t *r, const char *name);
ngx_int_t ngx_http_member_json_int(json_t *obj, const char *name,
    ngx_int_t min, ngx_int_t max, ngx_int_t *out, ngx_flag_t required);
ngx_int_t ngx_http_member_json_str(json_t *obj, const char *name,
    size_t max, ngx_flag_t id, ngx_str_t *out, ngx_flag_t required);
ngx_int_t ngx_http_member_arg_uint(ngx_http_request_t *r, char *name,
    size_t len, ngx_uint_t def, ngx_uint_t max, ngx_uint_t *out);
ngx_int_t ngx_http_member_arg_cursor(ngx_http_request_t *r,
    ngx_str_t *cursor);
u_char *ngx_http_member_range_start(u_char *p, ngx_str_t *cursor,
    ngx_str_t *start);
ngx_int_t ngx_http_member_id_char(u_char c);

/* ngx_http_member_digest.c */
ngx_int_t ngx_http_member_hmac_sha256(const u_char *key, size_t key_len,
    const u_char *msg, size_t len, u_char out[32]);
ngx_int_t ngx_http_member_sha256(const u_char *data, size_t len,
    ngx_chain_t *in, u_char out[32]);
void ngx_http_member_digest_free(void);

/* ngx_http_member_keys.c */
ngx_int_t ngx_http_member_random(u_char *buf, size_t len);
char *ngx_http_member_pii_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_member_key_t *ngx_http_member_key_find(ngx_http_request_t *r,
    ngx_str_t *id);
ngx_int_t ngx_http_member_store_secret(ngx_http_request_t *r,
    ngx_http_member_key_t *key, ngx_str_t *store_id, ngx_str_t *nonce,
    u_char out[NGX_HTTP_MEMBER_SECRET_LEN]);
ngx_int_t ngx_http_member_pii_seal(ngx_http_request_t *r, ngx_str_t *aad,
    ngx_str_t *plain, ngx_str_t *out);
ngx_int_t ngx_http_member_pii_open(ngx_http_request_t *r, ngx_str_t *aad,
    ngx_str_t *sealed, ngx_str_t *out);
ngx_int_t ngx_http_member_pii_derive(ngx_http_member_key_t *key,
    const char *use, u_char out[32]);
ngx_int_t ngx_http_member_pii_aad(ngx_pool_t *pool, uint64_t id,
    ngx_str_t *field, ngx_str_t *aad);
ngx_int_t ngx_http_member_pii_record(ngx_http_request_t *r, uint64_t id,
    json_t *record);
ngx_int_t ngx_http_member_phone_index(ngx_http_request_t *r,
    ngx_http_member_key_t *key, ngx_str_t *phone, ngx_str_t *index);
ngx_int_t ngx_http_member_mask_name(ngx_pool_t *pool, ngx_str_t *name,
    ngx_str_t *out);
ngx_int_t ngx_http_member_mask_phone(ngx_pool_t *pool, ngx_str_t *phone,
    ngx_str_t *out);
extern ngx_str_t  ngx_http_member_pii_fields[];

/* ngx_http_member_openid.c */
ngx_int_t ngx_http_member_openid_key(ngx_pool_t *pool, ngx_str_t *openid,
    ngx_str_t *key);
ngx_int_t ngx_http_member_openid_id(ngx_http_request_t *r, ngx_str_t *openid,
    ngx_http_member_id_pt done);

/* ngx_http_member_wechat.c */
ngx_int_t ngx_http_member_wechat_get(ngx_http_request_t *r, ngx_str_t *path,
    ngx_str_t *args, ngx_int_t (*done)(ngx_http_request_t *r));
ngx_int_t ngx_http_member_wechat_post(ngx_http_request_t *r, ngx_str_t *path,
    ngx_str_t *args, ngx_str_t *body, ngx_int_t (*done)(ngx_http_request_t *r));
ngx_int_t ngx_http_member_wechat_post_token(ngx_http_request_t *r,
    ngx_str_t *path, ngx_str_t *token, ngx_str_t *body,
    ngx_int_t (*done)(ngx_http_request_t *r));

/* ngx_http_member_token.c */
typedef enum {
    NGX_HTTP_MEMBER_WX_TOKEN = 0,
    NGX_HTTP_MEMBER_WX_JSAPI,
    NGX_HTTP_MEMBER_WX_CARD,
    NGX_HTTP_MEMBER_WX_NONE
} ngx_http_member_wx_kind_e;

typedef ngx_int_t (*ngx_http_member_wx_pt)(ngx_http_request_t *r,
    ngx_str_t *value);

ngx_int_t ngx_http_member_wechat_secret(ngx_http_request_t *r,
    ngx_uint_t kind, ngx_uint_t renew, ngx_http_member_wx_pt done);

/* ngx_http_member_pages.c: jssdk, card-ext, register, profile, export */
typedef enum {
    NGX_HTTP_MEMBER_PAGE_NONE = 0,
    NGX_HTTP_MEMBER_PAGE_JSSDK,
    NGX_HTTP_MEMBER_PAGE_CARD_EXT,
    NGX_HTTP_MEMBER_PAGE_REGISTER,
    NGX_HTTP_MEMBER_PAGE_PROFILE,
    NGX_HTTP_MEMBER_PAGE_EXPORT,
    NGX_HTTP_MEMBER_PAGE_FEEDBACK,
    NGX_HTTP_MEMBER_PAGE_REFERRAL,
    NGX_HTTP_MEMBER_PAGE_TIERS,
    NGX_HTTP_MEMBER_PAGE_SUBSCRIPTIONS
} ngx_http_member_page_e;

/* the session of a page call and what it knows of its member */
typedef struct {
    ngx_uint_t                  page;
    uint64_t                    id;
    ngx_str_t                   member_key;
    ngx_str_t                   openid;
    ngx_str_t                   session_key;    /* sealed; "" on the web */
    ngx_str_t                   status;
    ngx_str_t                   card_no;
    ngx_str_t                   phone_index;
    void                       *data;           /* the page's own */
} ngx_http_member_page_t;

ngx_int_t ngx_http_member_pages_route(ngx_str_t *route);
ngx_int_t ngx_http_member_pages_handler(ngx_http_request_t *r,
    ngx_uint_t page);
ngx_int_t ngx_http_member_register(ngx_http_request_t *r);
ngx_int_t ngx_http_member_person_validate(ngx_http_request_t *r,
    json_t *json, ngx_flag_t name_required);
ngx_int_t ngx_http_member_person_fields(ngx_http_request_t *r, uint64_t id,
    json_t *json, ngx_str_t *phone, ngx_str_t *args, ngx_uint_t *n);
ngx_int_t ngx_http_member_birthday_valid(ngx_str_t *s);
ngx_int_t ngx_http_member_profile(ngx_http_request_t *r);
ngx_int_t ngx_http_member_export(ngx_http_request_t *r);

/* ngx_http_member_tiers.c: GET tiers */
ngx_int_t ngx_http_member_tiers(ngx_http_request_t *r);

/* ngx_http_member_api.c */
ngx_int_t ngx_http_member_transactions(ngx_http_request_t *r,
    ngx_str_t *must_exist, uint64_t id, const char *missing);
ngx_int_t ngx_http_member_transactions_page(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
ngx_int_t ngx_http_member_api_add_variables(ngx_conf_t *cf);

/* ngx_http_member_login.c */
ngx_int_t ngx_http_member_session_create(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *openid, ngx_str_t *unionid, ngx_str_t *session_key,
    ngx_str_t *token, ngx_http_member_call_pt done);

/* handlers */
ngx_int_t ngx_http_member_login_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_member_api_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_member_admin_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_member_stores_handler(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_stores_rotate(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_scan_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_member_oauth_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_member_oa_handler(ngx_http_request_t *r);

/* ngx_http_member_oa.c */
char *ngx_http_member_oa_aes_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_member_code.c */
mqr_coder_t *ngx_http_member_code_coder(ngx_conf_t *cf, ngx_str_t *secret);
ngx_int_t ngx_http_member_code_answer(ngx_http_request_t *r, uint64_t id,
    ngx_uint_t view);
ngx_int_t ngx_http_member_code_view(ngx_str_t *route);
ngx_int_t ngx_http_member_status_handler(ngx_http_request_t *r);

/* ngx_http_member_status.c */
ngx_int_t ngx_http_member_stats_init_zone(ngx_conf_t *cf,
    ngx_http_member_main_conf_t *mmcf);
ngx_int_t ngx_http_member_log_handler(ngx_http_request_t *r);
ngx_msec_t ngx_http_member_now_us(void);
void ngx_http_member_stats_redis(ngx_msec_t elapsed_us, ngx_uint_t failed);
void ngx_http_member_stats_wechat(ngx_uint_t failed);
void ngx_http_member_stats_connection(ngx_int_t delta);

/* shared helpers */
#define NGX_HTTP_MEMBER_KEY_IN_LEN  (NGX_INT64_LEN + 48)  /* a key's room */

ngx_int_t ngx_http_member_parse_id(u_char *p, size_t len, uint64_t *id);
u_char *ngx_http_member_card_no(u_char *p, uint64_t id);
ngx_int_t ngx_http_member_record_args(ngx_pool_t *pool, uint64_t id,
    ngx_str_t *id_arg, ngx_str_t *card_no, ngx_str_t *now);
ngx_int_t ngx_http_member_card_to_id(ngx_str_t *card_no, uint64_t *id);
ngx_int_t ngx_http_member_key(ngx_pool_t *pool, ngx_str_t *key,
    uint64_t id, const char *suffix);
ngx_str_t ngx_http_member_key_in(u_char *buf, uint64_t id,
    const char *suffix);
void ngx_http_member_keys_in(ngx_str_t *keys, const char **suffix,
    ngx_uint_t n, u_char *buf, uint64_t id);
ngx_str_t ngx_http_member_num_in(u_char *buf, int64_t n);
ngx_int_t ngx_http_member_session_key(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *secret, ngx_str_t *key);
ngx_int_t ngx_http_member_method_not_allowed(ngx_http_request_t *r);

extern ngx_str_t  ngx_http_member_cmd_get;
extern ngx_str_t  ngx_http_member_cmd_set;
extern ngx_str_t  ngx_http_member_cmd_nx;
extern ngx_str_t  ngx_http_member_cmd_incr;
extern ngx_str_t  ngx_http_member_cmd_hgetall;
extern ngx_str_t  ngx_http_member_seq_key;


#endif /* _NGX_HTTP_MEMBER_MODULE_H_INCLUDED_ */
