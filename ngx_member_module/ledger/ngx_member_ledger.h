
/*
 * ngx_member, ledger layer: the loyalty ledger: money and points, rules,
 * coupons, campaigns, the fold, analytics, messages, member ids and their
 * records.  Its files include this header, which includes the redis
 * layer's; nothing here reaches a layer above (tools/layers.py).
 */


#ifndef _NGX_MEMBER_LEDGER_H_INCLUDED_
#define _NGX_MEMBER_LEDGER_H_INCLUDED_


#include "ngx_member_redis.h"

/* ngx_http_member_rules.c: the worker's copy of the rules and the clock */
#define NGX_HTTP_MEMBER_SWEEP_BATCH   100         /* members a sweep slice */
#define NGX_HTTP_MEMBER_MAX_TIERS     MRL_TIERS_MAX

struct ngx_http_member_ledger_s {
    ngx_http_member_redis_t      *redis;
    json_t                       *rules;
    ngx_uint_t                    version;
    time_t                        clock;
    ngx_msec_t                    fetched;
    ngx_flag_t                    test_clock;

    ngx_http_member_job_t         job;        /* the sweep, campaigns */
    uint64_t                      ids[NGX_HTTP_MEMBER_SWEEP_BATCH];
    ngx_uint_t                    nids;
    ngx_uint_t                    next;
    ngx_uint_t                    start;      /* the sweep's first source */
    ngx_uint_t                    visited;    /* sources of this tick */
    ngx_uint_t                    used;       /* members of this tick */
    ngx_str_t                     due_key;    /* the source's */
    u_char                        due_buf[32];  /* BUCKET_KEY_LEN */

    ngx_http_member_campaigns_t  *campaigns;

    unsigned                      loaded:1;
};

typedef ngx_int_t (*ngx_http_member_rules_pt)(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger);

/* what the rules say for now: the lot, the tier period, the tiers */
typedef struct {
    time_t                        now;
    time_t                        lot;          /* its expiry; 0: never */
    ngx_int_t                     period;
    time_t                        period_end;
    ngx_int_t                     steps;        /* -1: no limit */
    u_char                        today[MRL_DAY_LEN + 1];
} ngx_http_member_moment_t;

extern ngx_str_t  ngx_http_member_rules_key;

ngx_int_t ngx_http_member_ledger_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf);
void ngx_http_member_ledger_exit_process(ngx_http_member_main_conf_t *mmcf);
time_t ngx_http_member_ledger_now(ngx_http_member_ledger_t *ledger);
ngx_int_t ngx_http_member_rules_load(ngx_http_member_ledger_t *ledger,
    redisReply *reply);
ngx_int_t ngx_http_member_rules_get(ngx_http_request_t *r,
    ngx_http_member_rules_pt done);
void ngx_http_member_rules_moment(ngx_http_member_ledger_t *ledger,
    ngx_http_member_moment_t *mo);
typedef ngx_int_t (*ngx_http_member_clock_pt)(ngx_http_request_t *r,
    time_t now);
ngx_int_t ngx_http_member_ledger_clock(ngx_http_request_t *r,
    ngx_http_member_clock_pt done);
typedef ngx_int_t (*ngx_http_member_rules_json_pt)(ngx_http_request_t *r,
    json_t *rules);
ngx_int_t ngx_http_member_rules_json(ngx_http_request_t *r,
    ngx_http_member_rules_json_pt done);
ngx_int_t ngx_http_member_rules_handler(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_clock_handler(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_http_member_campaigns_t **ngx_http_member_ledger_campaigns(
    ngx_http_member_ledger_t *ledger);
json_t *ngx_http_member_ledger_rules(ngx_http_member_ledger_t *ledger,
    ngx_uint_t *version, time_t *lot);

/* ngx_http_member_ledger.c: pay, refund, recharge and its refund, points */

/* per request, in ctx->ledger */
struct ngx_http_member_ledger_req_s {
    ngx_http_member_rules_pt      done;
    ngx_http_member_rules_json_pt json_done;
    uint64_t                      id;
    ngx_str_t                     kind;
    ngx_str_t                     store_id;
    ngx_str_t                     order_id;
    ngx_str_t                     ticket_key;
    ngx_str_t                     ticket_value;
    ngx_str_t                     coupon_id;
    ngx_str_t                     idem;
    ngx_str_t                     text;       /* a level, a reason */
    ngx_str_t                     note;
    ngx_int_t                     amount;
    ngx_int_t                     points;
    json_t                       *json;
    ngx_http_member_clock_pt      clock_done;
    void                        (*settled)(ngx_http_request_t *r,
                                           redisReply *reply);
};

ngx_http_member_ledger_req_t *ngx_http_member_ledger_req(
    ngx_http_request_t *r);
ngx_http_member_ledger_req_t *ngx_http_member_ledger_req_of(
    ngx_http_request_t *r);
ngx_int_t ngx_http_member_ledger_answered(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
ngx_int_t ngx_http_member_ledger_admin(ngx_http_request_t *r, uint64_t id,
    ngx_http_client_body_handler_pt body);
ngx_int_t ngx_http_member_ledger_pay(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *kind, ngx_str_t *store_id, ngx_str_t *order_id,
    ngx_str_t *ticket_key, ngx_str_t *ticket_value, ngx_int_t amount,
    ngx_int_t points, ngx_str_t *coupon_id,
    void (*settled)(ngx_http_request_t *r, redisReply *reply));
ngx_int_t ngx_http_member_ledger_refund(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *store_id, ngx_str_t *order_id);
ngx_int_t ngx_http_member_ledger_recharge(ngx_http_request_t *r, uint64_t id,
    ngx_int_t amount, ngx_str_t *idem);
ngx_int_t ngx_http_member_ledger_recharge_till(ngx_http_request_t *r,
    uint64_t id, ngx_int_t amount, ngx_str_t *idem, ngx_str_t *store_id,
    ngx_str_t *method, ngx_str_t *ticket_key, ngx_str_t *ticket_value);
ngx_int_t ngx_http_member_ledger_points(ngx_http_request_t *r, uint64_t id);
ngx_int_t ngx_http_member_admin_refund(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_str_t *ngx_http_member_int_arg(ngx_pool_t *pool, ngx_str_t *arg,
    int64_t n);

/* ngx_http_member_adjust.c: the admin's changes of a tier and points */
ngx_int_t ngx_http_member_admin_level(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_admin_points(ngx_http_request_t *r,
    ngx_http_member_match_t *m);

/* ngx_http_member_sweep.c: due lots and tier periods */
void ngx_http_member_sweep_schedule(ngx_http_member_ledger_t *ledger,
    uint64_t id, time_t at);
ngx_int_t ngx_http_member_sweep_init(ngx_cycle_t *cycle,
    ngx_http_member_ledger_t *ledger);

/* ngx_http_member_analytics.c: the RFM pass */
extern ngx_str_t  ngx_http_member_churn_key;
extern ngx_str_t  ngx_http_member_tags_key;

ngx_int_t ngx_http_member_analytics_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf);
ngx_int_t ngx_http_member_analytics_shown(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_analytics_run(ngx_http_request_t *r,
    ngx_http_member_call_pt done);

/* ngx_http_member_analytics_read.c: segments, churn, tags, a record's */

/* per request, in ctx->analytics */
struct ngx_http_member_analytics_req_s {
    uint64_t                      id;
    ngx_str_t                     key;
    ngx_str_t                    *args;
    ngx_uint_t                    nargs;
    ngx_uint_t                    nadd;
    ngx_str_t                     tags;
    ngx_uint_t                    kind;
    ngx_str_t                    *names;      /* the sets tag_read reads */
    ngx_uint_t                    nnames;
};

extern const char  *ngx_http_member_segments[];

ngx_int_t ngx_http_member_analytics_segments(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_analytics_churn(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_analytics_tags_all(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_analytics_tag_members(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_analytics_record(ngx_http_request_t *r,
    json_t *record);

/* ngx_http_member_analytics_tags.c: a member's manual tags */
extern const char  *ngx_http_member_auto_tags[];

ngx_int_t ngx_http_member_analytics_tags(ngx_http_request_t *r, uint64_t id);

/* ngx_http_member_messages.c: template and subscribe messages */
time_t ngx_http_member_messages_notice(json_t *rules);
void ngx_http_member_messages_args(json_t *messages, ngx_str_t *args);
ngx_int_t ngx_http_member_messages_body(ngx_http_request_t *r,
    json_t *messages, redisReply *reply, ngx_str_t *path, ngx_str_t *body);
ngx_int_t ngx_http_member_messages_template_id(json_t *v, size_t max);
ngx_uint_t ngx_http_member_messages_subscribable(json_t *messages,
    const char *tid);
ngx_int_t ngx_http_member_messages_log(ngx_http_request_t *r, uint64_t id);

/* ngx_http_member_coupons.c: templates, a member's coupons */

/* per request, in ctx->coupons */
struct ngx_http_member_coupons_s {
    ngx_str_t                   template_id;
    ngx_str_t                   idem;
    ngx_str_t                   tag_key;        /* {b}:tag:<tag>, or "" */
    ngx_str_t                   cursor;         /* SSCAN's; "0": done */
    json_t                     *tpl;
    ngx_str_t                   terms;          /* the coupon, as JSON */
    ngx_str_t                   fingerprint;
    ngx_str_t                   expires;
    ngx_str_t                   name;
    ngx_str_t                   now;
    ngx_str_t                   ttl;
    time_t                      time;
    uint64_t                   *ids;
    ngx_uint_t                  nids;
    ngx_uint_t                  next;
    ngx_uint_t                  issued;
    ngx_uint_t                  skipped;
    ngx_str_t                   must_exist;     /* a list: the key, error */
    const char                 *missing;
    uint64_t                    member;
};

extern ngx_str_t  ngx_http_member_coupons_tpl;

ngx_http_member_coupons_t *ngx_http_member_coupons_state(
    ngx_http_request_t *r);
void ngx_http_member_coupons_cleanup(void *data);
ngx_int_t ngx_http_member_coupons_dump(ngx_http_request_t *r, json_t *value,
    ngx_str_t *out);
ngx_int_t ngx_http_member_coupons_template(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_coupons_template_list(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_coupons_list(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *must_exist, const char *missing);

/* ngx_http_member_coupons_issue.c: a template's coupon to members, a tag */
ngx_int_t ngx_http_member_coupons_issue(ngx_http_request_t *r,
    ngx_http_member_match_t *m);

/* ngx_http_member_campaigns.c: the job, hints, the admin's handlers */
#define NGX_HTTP_MEMBER_COUPON_TERMS      512

/* where a member to look at came from: the tick's steps, in order */
enum {
    NGX_HTTP_MEMBER_CAMPAIGN_NEW = 0,
    NGX_HTTP_MEMBER_CAMPAIGN_REFEREES,
    NGX_HTTP_MEMBER_CAMPAIGN_PASS,
    NGX_HTTP_MEMBER_CAMPAIGN_DONE
};

struct ngx_http_member_campaigns_s {
    ngx_http_member_ledger_t     *ledger;
    ngx_http_member_job_t        *job;        /* the ledger's, after sweep */
    ngx_uint_t                    step;
    ngx_uint_t                    visited;
    uint64_t                      cursor;     /* pass: next id, 0: none */
    uint64_t                      seq;
    time_t                        now;
    time_t                        lot;
    ngx_uint_t                    version;
    ngx_int_t                     referrer_points;
    ngx_int_t                     max_per_referrer;
    u_char                        today[11];  /* YYYY-MM-DD */
    u_char                        rcursor[NGX_INT64_LEN];
    size_t                        rcursor_len;

    /* the recall's coupon as coupon_issue.lua takes it, for this tick */
    u_char                        terms[NGX_HTTP_MEMBER_COUPON_TERMS];
    size_t                        terms_len;
    u_char                        expires[NGX_TIME_T_LEN];
    size_t                        expires_len;
    const char                   *coupon;   /* coupon_name, or NULL */
    size_t                        coupon_len;
    /* a copy: the worker's rules may be replaced during the tick */
    u_char                        coupon_name[64];

    /* trigger.lua's ARGV for this tick but the member's id */
    ngx_str_t                     args[NGX_HTTP_MEMBER_TRIGGER_NARGV];
    u_char                        buf[NGX_HTTP_MEMBER_TRIGGER_NARGV
                                      * (NGX_INT64_LEN + 1)];

    unsigned                      triggers:1;
    unsigned                      referral:1;
};

extern ngx_str_t  ngx_http_member_campaigns_referees;

void ngx_http_member_campaigns_tick(ngx_http_member_job_t *job);
void ngx_http_member_campaigns_settled(ngx_http_member_job_t *job);
ngx_http_member_campaigns_t *ngx_http_member_campaigns_current(
    ngx_http_member_job_t *job, redisReply *reply, ngx_uint_t member);
void ngx_http_member_campaigns_stop(ngx_http_member_campaigns_t *c);
ngx_int_t ngx_http_member_campaigns_str_id(redisReply *e, uint64_t *id);
ngx_int_t ngx_http_member_campaigns_list(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_campaigns_run_now(ngx_http_request_t *r,
    ngx_http_member_match_t *m);

/* what a hint asks the campaigns' timer for: a welcome, a referee's watch */
#define NGX_HTTP_MEMBER_HINT_NEW       1
#define NGX_HTTP_MEMBER_HINT_REFEREE   2

void ngx_http_member_campaigns_hint(ngx_http_request_t *r, uint64_t id,
    ngx_uint_t hints);

/* ngx_http_member_triggers.c: trigger.lua and what follows, on one member */
void ngx_http_member_triggers_prepare(ngx_http_member_campaigns_t *c);
void ngx_http_member_triggers_run(ngx_http_member_campaigns_t *c,
    uint64_t id, ngx_uint_t source);

/* ngx_http_member_invite.c: invite codes */
ngx_int_t ngx_http_member_invite(ngx_http_request_t *r, json_t *json,
    uint64_t self, uint64_t *referrer);
#define NGX_HTTP_MEMBER_INVITE_MAC       8     /* base32 characters */
#define NGX_HTTP_MEMBER_INVITE_CODE_LEN  (NGX_HTTP_MEMBER_INVITE_MAC          \
                                          + NGX_INT64_LEN)
u_char *ngx_http_member_invite_code(ngx_http_request_t *r, uint64_t id);
ngx_int_t ngx_http_member_invite_id(ngx_http_request_t *r, u_char *s,
    size_t len, uint64_t *id);

/*
 * ngx_http_member_ledger.c, the hints: after every script whose binding
 * says it changes a member's ledger or record (status, level), the Redis
 * layer calls ledger_changed() (the hook fold.c registers), so that the
 * brand's totals fold it in and the follower above the ledger (the WeChat
 * outbox, ledger_follow()) looks at the member; ledger_hint() where a
 * timer changed one by other means, touched() where a request asks the
 * outbox to look after no change; fold_hint() alone for a look that may
 * have changed nothing WeChat shows.
 */
void ngx_http_member_ledger_touched(ngx_http_request_t *r, uint64_t id);
void ngx_http_member_ledger_hint(ngx_http_member_redis_t *redis, uint64_t id);
typedef void (*ngx_http_member_hint_pt)(ngx_http_member_redis_t *redis,
    uint64_t id);
void ngx_http_member_ledger_follow(ngx_http_member_hint_pt follower);
void ngx_http_member_ledger_changed(ngx_http_member_redis_t *redis,
    ngx_str_t *key);

/*
 * ngx_http_member_buckets.c: the brand's keys that every member write
 * touches, spread over buckets of their own slots; the readers go round
 * the NGX_HTTP_MEMBER_SOURCES: the buckets, then the key of before
 */
#define NGX_HTTP_MEMBER_BUCKETS          16
#define NGX_HTTP_MEMBER_BUCKET_LEGACY    NGX_HTTP_MEMBER_BUCKETS
#define NGX_HTTP_MEMBER_SOURCES          (NGX_HTTP_MEMBER_BUCKETS + 1)
#define NGX_HTTP_MEMBER_BUCKET_KEY_LEN   32

#define NGX_HTTP_MEMBER_BUCKET_FOLD      0     /* {b:fold:N}, {b}:fold */
#define NGX_HTTP_MEMBER_BUCKET_FOLD_GEN  1     /* {b:fold:N}:gen */
#define NGX_HTTP_MEMBER_BUCKET_WX        2     /* {b:wx:N}, {b}:wx */
#define NGX_HTTP_MEMBER_BUCKET_WX_TRIES  3     /* {b:wx:N}:tries */
#define NGX_HTTP_MEMBER_BUCKET_DUE       4     /* {b:due:N}, ledger:due */

ngx_str_t ngx_http_member_bucket_key(u_char *buf, ngx_uint_t kind,
    ngx_uint_t source);
ngx_str_t ngx_http_member_bucket_of(u_char *buf, ngx_uint_t kind,
    uint64_t id);

/* ngx_http_member_fold.c: members' changes folded into the brand's numbers */
extern ngx_str_t  ngx_http_member_totals_key;
extern ngx_str_t  ngx_http_member_rescan_key;     /* in the hints' file */

size_t ngx_http_member_fold_day(time_t t, u_char *buf);
ngx_int_t ngx_http_member_fold_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf);

/* ngx_http_member_fold_stores.c: the stores' ledgers, written and read */
ngx_int_t ngx_http_member_fold_copy_store(ngx_http_member_job_t *job,
    ngx_http_member_job_reply_pt handler, ngx_uint_t ix, ngx_pool_t *pool,
    ngx_str_t *fargs, ngx_uint_t *at, ngx_str_t *stores, ngx_uint_t first,
    ngx_uint_t n);
ngx_int_t ngx_http_member_fold_store(ngx_http_request_t *r,
    ngx_http_member_match_t *m);

/* ngx_http_member_fold_hint.c: the fold's hints, and the rescan */
void ngx_http_member_fold_hint(ngx_http_member_redis_t *redis, uint64_t id);
void ngx_http_member_fold_rescan(ngx_http_member_job_t *job);

/* ngx_http_member_fold_reports.c: totals, day reports, the rescan */
ngx_int_t ngx_http_member_fold_totals(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_fold_daily(ngx_http_request_t *r,
    ngx_http_member_match_t *m);
ngx_int_t ngx_http_member_fold_rescan_admin(ngx_http_request_t *r,
    ngx_http_member_match_t *m);

/* ngx_http_member_person.c: a registration's personal fields */
ngx_int_t ngx_http_member_person_validate(ngx_http_request_t *r,
    json_t *json, ngx_flag_t name_required);
ngx_int_t ngx_http_member_person_fields(ngx_http_request_t *r, uint64_t id,
    json_t *json, ngx_str_t *phone, ngx_str_t *args, ngx_uint_t *n);
ngx_int_t ngx_http_member_birthday_valid(ngx_str_t *s);

/*
 * ngx_http_member_phone.c: the member of a phone, found by its index or
 * claimed; done sees rc NGX_OK (member), NGX_BUSY (another claim is under
 * way) or NGX_ERROR (reply was not an answer)
 */
typedef struct ngx_http_member_phone_s  ngx_http_member_phone_t;
typedef ngx_int_t (*ngx_http_member_phone_pt)(ngx_http_request_t *r,
    ngx_http_member_phone_t *ph, redisReply *reply);

struct ngx_http_member_phone_s {
    ngx_str_t                   index[8];   /* per key line */
    ngx_uint_t                  nindex;
    ngx_uint_t                  tried;      /* the index in use */
    uint64_t                    claimer;    /* takes a phone of nobody */
    uint64_t                    member;
    ngx_int_t                   rc;
    ngx_http_member_phone_pt    done;
    unsigned                    claimed:1;
};

ngx_int_t ngx_http_member_phone_indexes(ngx_http_request_t *r,
    ngx_http_member_phone_t *ph, ngx_str_t *phone);
ngx_int_t ngx_http_member_phone_lookup(ngx_http_request_t *r,
    ngx_http_member_phone_t *ph);
ngx_int_t ngx_http_member_phone_claim(ngx_http_request_t *r,
    ngx_http_member_phone_t *ph, ngx_uint_t force);

/* ngx_http_member_openid.c */
ngx_int_t ngx_http_member_openid_key(ngx_pool_t *pool, ngx_str_t *openid,
    ngx_str_t *key);
ngx_int_t ngx_http_member_openid_id(ngx_http_request_t *r, ngx_str_t *openid,
    ngx_http_member_id_pt done);


#endif /* _NGX_MEMBER_LEDGER_H_INCLUDED_ */
