
/*
 * ngx_member: the ledger's rules and clock (docs/ledger.md).
 *
 *   admin:  PUT rules, GET rules[?version=N]     validated, versioned
 *           GET clock, PUT clock {"now"}         with member_test_clock on
 *
 * The rules live in Redis under {rules}; the scripts run on one member's
 * slot and never read them: the glue passes what they say, from a copy
 * each worker keeps per Redis for at most a second.  The same copy brings
 * the test clock.  Per worker and Redis, ngx_http_member_ledger_t holds
 * that copy and the sweep's job (ngx_http_member_sweep.c).
 */


#include <unistd.h>

#include "ngx_member_ledger.h"


#define NGX_HTTP_MEMBER_RULES_TTL     1000        /* ms */


ngx_str_t  ngx_http_member_rules_key = ngx_string("{rules}");
static ngx_str_t  ngx_http_member_versions_key = ngx_string("{rules}:versions");
static ngx_str_t  ngx_http_member_hget = ngx_string("HGET");
static ngx_str_t  ngx_http_member_hset = ngx_string("HSET");
static ngx_str_t  ngx_http_member_clock = ngx_string("clock");


static ngx_int_t ngx_http_member_rules_fetched(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);


/* time */

time_t
ngx_http_member_ledger_now(ngx_http_member_ledger_t *ledger)
{
    return ngx_time() + (ledger && ledger->test_clock ? ledger->clock : 0);
}


/* the worker's copy of the rules and the clock */

static ngx_http_member_ledger_t *
ngx_http_member_ledger_of(ngx_http_request_t *r)
{
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    return mlcf->redis ? mlcf->redis->ledger : NULL;
}


ngx_int_t
ngx_http_member_rules_load(ngx_http_member_ledger_t *ledger,
    redisReply *reply)
{
    size_t         i;
    json_t        *rules;
    ngx_int_t      version;
    redisReply    *k, *v;
    json_error_t   err;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_ERROR;
    }

    version = 0;
    rules = NULL;
    ledger->clock = 0;

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        if (k->len == 7 && ngx_strncmp(k->str, "version", 7) == 0) {
            version = ngx_atoi((u_char *) v->str, v->len);

        } else if (k->len == 5 && ngx_strncmp(k->str, "clock", 5) == 0) {
            ledger->clock = (time_t) strtoll(v->str, NULL, 10);

        } else if (k->len == 4 && ngx_strncmp(k->str, "json", 4) == 0) {
            rules = json_loadb(v->str, v->len, 0, &err);
        }
    }

    if (rules == NULL) {
        rules = json_loads(mrl_rules_defaults(), 0, &err);
        version = 0;

        if (rules == NULL) {
            return NGX_ERROR;
        }
    }

    json_decref(ledger->rules);

    ledger->rules = rules;
    ledger->version = version == NGX_ERROR ? 0 : version;
    ledger->fetched = ngx_current_msec;
    ledger->loaded = 1;

    return NGX_OK;
}


static void
ngx_http_member_rules_release(void *data)
{
    json_decref(data);
}


/*
 * The request keeps a reference to the rules it read until its pool goes:
 * another request's fetch or PUT rules replaces the worker's copy at any
 * time, and every string or object taken from it (a tier's level, a
 * message's template id) stays valid for whatever waits on it.
 */

static ngx_int_t
ngx_http_member_rules_hold(ngx_http_request_t *r, json_t *rules)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_member_rules_release
            && cln->data == rules)
        {
            return NGX_OK;
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_member_rules_release;
    cln->data = json_incref(rules);

    return NGX_OK;
}


static ngx_int_t
ngx_http_member_rules_read(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger, ngx_http_member_rules_pt done)
{
    if (ngx_http_member_rules_hold(r, ledger->rules) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return done(r, ledger);
}


ngx_int_t
ngx_http_member_rules_get(ngx_http_request_t *r, ngx_http_member_rules_pt done)
{
    ngx_http_member_ctx_t         *ctx;
    ngx_http_member_ledger_t      *ledger;
    ngx_http_member_ledger_req_t  *lr;

    ledger = ngx_http_member_ledger_of(r);
    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    if (ledger == NULL || ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ledger->loaded
        && ngx_current_msec - ledger->fetched < NGX_HTTP_MEMBER_RULES_TTL)
    {
        return ngx_http_member_rules_read(r, ledger, done);
    }

    lr = ctx->ledger;
    lr->done = done;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: rules fetch sent");

    return ngx_http_member_redis_command(r, ngx_http_member_rules_fetched,
                                         &ngx_http_member_cmd_hgetall,
                                         &ngx_http_member_rules_key);
}


static ngx_int_t
ngx_http_member_rules_fetched(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_http_member_ledger_t      *ledger;
    ngx_http_member_ledger_req_t  *lr;

    ledger = ngx_http_member_ledger_of(r);
    lr = ngx_http_member_ledger_req_of(r);

    if (ngx_http_member_rules_load(ledger, reply) != NGX_OK) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: rules version %ui fetched", ledger->version);

    return ngx_http_member_rules_read(r, ledger, lr->done);
}


static ngx_int_t
ngx_http_member_ledger_clocked(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);

    return lr->clock_done(r, ngx_http_member_ledger_now(ledger));
}


/* the ledger's time (the test clock's too) for another file's handler */

ngx_int_t
ngx_http_member_ledger_clock(ngx_http_request_t *r,
    ngx_http_member_clock_pt done)
{
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    if (lr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lr->clock_done = done;

    return ngx_http_member_rules_get(r, ngx_http_member_ledger_clocked);
}


void
ngx_http_member_rules_moment(ngx_http_member_ledger_t *ledger,
    ngx_http_member_moment_t *mo)
{
    json_t        *v;
    mrl_moment_t   m;

    mo->now = ngx_http_member_ledger_now(ledger);

    /* validated rules and the test clock's range are within mrl_moment's */
    if (mrl_moment(mo->now,
                   json_integer_value(json_object_get(
                       json_object_get(ledger->rules, "points"),
                       "expire_after_months")),
                   json_integer_value(json_object_get(ledger->rules,
                                                      "tier_period_months")),
                   &m)
        != MRL_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "member: the ledger's time %T is out of range",
                      mo->now);
        ngx_memzero(&m, sizeof(mrl_moment_t));
    }

    ngx_memcpy(mo->today, m.today, sizeof(mo->today));
    mo->lot = (time_t) m.lot;
    mo->period = (ngx_int_t) m.period;
    mo->period_end = (time_t) m.period_end;

    v = json_object_get(ledger->rules, "tier_downgrade_steps");
    mo->steps = v ? json_integer_value(v) : -1;
}


/* the rules for a reader of another file (GET tiers) */

static ngx_int_t
ngx_http_member_ledger_rules_json(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);

    return lr->json_done(r, ledger->rules);
}


ngx_int_t
ngx_http_member_rules_json(ngx_http_request_t *r,
    ngx_http_member_rules_json_pt done)
{
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    if (lr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lr->json_done = done;

    return ngx_http_member_rules_get(r, ngx_http_member_ledger_rules_json);
}


/* admin: rules and the test clock */

static ngx_int_t
ngx_http_member_rules_answer(ngx_http_request_t *r, json_t *rules,
    ngx_uint_t version)
{
    json_t  *copy;

    copy = json_deep_copy(rules);
    if (copy == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(copy, "version", json_integer(version));

    return ngx_http_member_send_json(r, NGX_HTTP_OK, copy);
}


static ngx_int_t
ngx_http_member_rules_current(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    return ngx_http_member_rules_answer(r, ledger->rules, ledger->version);
}


static ngx_int_t
ngx_http_member_rules_old(ngx_http_request_t *r, ngx_http_member_call_t *call,
    redisReply *reply)
{
    json_t                        *rules;
    ngx_int_t                      rc;
    json_error_t                   err;
    ngx_http_member_ledger_req_t  *lr;

    if (reply->type == REDIS_REPLY_NIL) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such version of the rules");
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    rules = json_loadb(reply->str, reply->len, 0, &err);
    if (rules == NULL) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    lr = ngx_http_member_ledger_req_of(r);
    rc = ngx_http_member_rules_answer(r, rules, lr->amount);
    json_decref(rules);

    return rc;
}


static ngx_int_t
ngx_http_member_rules_stored(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    ngx_int_t                      rc;
    ngx_http_member_ledger_t      *ledger;
    ngx_http_member_ledger_req_t  *lr;

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    lr = ngx_http_member_ledger_req_of(r);
    ledger = ngx_http_member_ledger_of(r);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: rules version %L stored",
                   (int64_t) reply->integer);

    /* this worker sees the new rules at once, the others within a second */
    json_decref(ledger->rules);
    ledger->rules = json_incref(lr->json);
    ledger->version = reply->integer;

    rc = ngx_http_member_rules_answer(r, lr->json, reply->integer);

    return rc;
}


static void
ngx_http_member_rules_put_body(ngx_http_request_t *r)
{
    char                           field[MRL_MSG_MAX], *text;
    json_t                        *json;
    ngx_int_t                      rc;
    mrl_status_t                   rv;
    ngx_str_t                     *text_arg;
    ngx_str_t                      keys[NGX_HTTP_MEMBER_RULES_PUT_NKEYS];
    ngx_str_t                      args[NGX_HTTP_MEMBER_RULES_PUT_NARGV];
    ngx_http_member_ledger_req_t  *lr;

    json = ngx_http_member_body_json(r, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    lr = ngx_http_member_ledger_req(r);
    if (lr == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* checked and completed with the defaults (rules/mrl_rules.c) */
    rv = mrl_rules_validate(json, field, sizeof(field), NULL);

    if (rv == MRL_BAD_RULES) {
        ngx_http_finalize_request(r,
            ngx_http_member_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                  "bad_rules", field));
        return;
    }

    if (rv != MRL_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "member: rules not checked: %s", mrl_strerror(rv));
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    text = json_dumps(json, JSON_COMPACT);
    if (text == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    text_arg = &args[NGX_HTTP_MEMBER_RULES_PUT_ARGV_JSON];
    text_arg->len = ngx_strlen(text);
    text_arg->data = ngx_pnalloc(r->pool, text_arg->len);

    if (text_arg->data == NULL
        || ngx_http_member_int_arg(r->pool,
                                   &args[NGX_HTTP_MEMBER_RULES_PUT_ARGV_NOW],
                                   ngx_http_member_ledger_now(
                                       ngx_http_member_ledger_of(r)))
           == NULL)
    {
        free(text);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(text_arg->data, text, text_arg->len);
    free(text);

    /* ctx->json, freed with the request, keeps the parsed copy alive */
    lr->json = json;

    keys[NGX_HTTP_MEMBER_RULES_PUT_KEY_RULES] = ngx_http_member_rules_key;
    keys[NGX_HTTP_MEMBER_RULES_PUT_KEY_VERSIONS] =
                                                 ngx_http_member_versions_key;

    ngx_http_finalize_request(r,
        ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_RULES_PUT,
                                     ngx_http_member_rules_stored, keys, args,
                                     0));
}


ngx_int_t
ngx_http_member_rules_handler(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    ngx_str_t                      v;
    ngx_http_member_ledger_req_t  *lr;

    lr = ngx_http_member_ledger_req(r);
    if (lr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_PUT) {
        return ngx_http_member_read_json(r, ngx_http_member_rules_put_body);
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_member_method_not_allowed(r);
    }

    if (ngx_http_arg(r, (u_char *) "version", 7, &v) == NGX_OK) {
        lr->amount = ngx_atoi(v.data, v.len);

        if (lr->amount <= 0) {
            return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST,
                                         "bad_request",
                                         "version is a positive integer");
        }

        return ngx_http_member_redis_command(r, ngx_http_member_rules_old,
                                             &ngx_http_member_hget,
                                             &ngx_http_member_versions_key,
                                             &v);
    }

    /* always the stored current version, not the worker's copy */
    ngx_http_member_ledger_of(r)->loaded = 0;

    return ngx_http_member_rules_get(r, ngx_http_member_rules_current);
}


static ngx_int_t
ngx_http_member_clock_answer(ngx_http_request_t *r,
    ngx_http_member_ledger_t *ledger)
{
    u_char  *p, *last;

    p = ngx_pnalloc(r->pool, sizeof("{\"now\":,\"offset\":}") + 2
                             * NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_sprintf(p, "{\"now\":%T,\"offset\":%T}",
                       ngx_http_member_ledger_now(ledger), ledger->clock);

    return ngx_http_member_send_raw(r, NGX_HTTP_OK, NULL, p, last - p);
}


static ngx_int_t
ngx_http_member_clock_set(ngx_http_request_t *r, ngx_http_member_call_t *call,
    redisReply *reply)
{
    ngx_http_member_ledger_t      *ledger;
    ngx_http_member_ledger_req_t  *lr;

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    lr = ngx_http_member_ledger_req_of(r);
    ledger = ngx_http_member_ledger_of(r);
    ledger->clock = lr->amount;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member: test clock offset %T stored", ledger->clock);

    return ngx_http_member_clock_answer(r, ledger);
}


static void
ngx_http_member_clock_body(ngx_http_request_t *r)
{
    json_t                        *json;
    ngx_int_t                      rc, now;
    ngx_str_t                      offset;
    ngx_http_member_ledger_req_t  *lr;

    json = ngx_http_member_body_json(r, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    lr = ngx_http_member_ledger_req(r);

    if (ngx_http_member_json_int(json, "now", 946684800, 32503680000LL, &now,
                                 1)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "now"));
        return;
    }

    lr->amount = now - ngx_time();

    if (ngx_http_member_int_arg(r->pool, &offset, lr->amount) == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_member_redis_command(r, ngx_http_member_clock_set,
                                      &ngx_http_member_hset,
                                      &ngx_http_member_rules_key,
                                      &ngx_http_member_clock, &offset));
}


ngx_int_t
ngx_http_member_clock_handler(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    ngx_http_member_ledger_t  *ledger;

    ledger = ngx_http_member_ledger_of(r);

    if (ledger == NULL || !ledger->test_clock) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such resource");
    }

    if (ngx_http_member_ledger_req(r) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_PUT) {
        return ngx_http_member_read_json(r, ngx_http_member_clock_body);
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_member_method_not_allowed(r);
    }

    ledger->loaded = 0;

    return ngx_http_member_rules_get(r, ngx_http_member_clock_answer);
}


/* per worker: a copy of the rules and a sweep job for every Redis */

ngx_int_t
ngx_http_member_ledger_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                 i;
    json_error_t               err;
    ngx_http_member_redis_t  **redis;
    ngx_http_member_ledger_t  *ledger;

    redis = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        ledger = ngx_pcalloc(cycle->pool, sizeof(ngx_http_member_ledger_t));
        if (ledger == NULL) {
            return NGX_ERROR;
        }

        ledger->redis = redis[i];
        ledger->test_clock = mmcf->test_clock;
        ledger->rules = json_loads(mrl_rules_defaults(), 0, &err);

        if (ledger->rules == NULL) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "member: default rules: %s", err.text);
            return NGX_ERROR;
        }

        redis[i]->ledger = ledger;

        if (ngx_http_member_sweep_init(cycle, ledger) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


void
ngx_http_member_ledger_exit_process(ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                 i;
    ngx_http_member_redis_t  **redis;
    ngx_http_member_ledger_t  *ledger;

    redis = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        ledger = redis[i]->ledger;

        if (ledger == NULL) {
            continue;
        }

        json_decref(ledger->rules);
        ledger->rules = NULL;
    }
}


/* what the job's other work (campaigns) needs of the ledger */

ngx_http_member_campaigns_t **
ngx_http_member_ledger_campaigns(ngx_http_member_ledger_t *ledger)
{
    return &ledger->campaigns;
}


/* the rules, their version and this month's lot, as the sweep has them */

json_t *
ngx_http_member_ledger_rules(ngx_http_member_ledger_t *ledger,
    ngx_uint_t *version, time_t *lot)
{
    ngx_http_member_moment_t  mo;

    ngx_http_member_rules_moment(ledger, &mo);

    *version = ledger->version;
    *lot = mo.lot;

    return ledger->rules;
}
