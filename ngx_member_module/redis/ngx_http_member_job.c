
/*
 * ngx_member: the runner of the background jobs.
 *
 * A job (the ledger's sweep and campaigns, the analytics pass, the fold,
 * the WeChat outbox) is its kind, a static table of its slice function and
 * timings (the way an adapter of hiredis fills redisAsyncContext's ev), and
 * its state; the runner does the rest, once for all of them: the timer in every
 * worker, the lease of the brand's Redis (lease.lua on ledger:lease: one
 * worker of one node runs the leased jobs), the busy flag and its watchdog,
 * the slice's budget, and the commands a slice sends: a reply of an older
 * slice is dropped, and a slice whose commands have all answered is settled
 * (the job's settled function goes on, or the slice is over).  The runner
 * knows no job: each registers with ngx_http_member_job_add().
 */


#include "ngx_member_redis.h"


#define NGX_HTTP_MEMBER_JOB_LEASE     "5000"      /* ms: its lifetime */
#define NGX_HTTP_MEMBER_JOB_ASK       1000        /* ms: asked again after */
#define NGX_HTTP_MEMBER_JOB_TRUST     3000        /* ms: held, of the 5 s */
#define NGX_HTTP_MEMBER_JOB_LOST      10000       /* ms: its answer lost */


/* what hiredis holds for a command of a job until its reply */
typedef struct ngx_http_member_job_cmd_s  ngx_http_member_job_cmd_t;

struct ngx_http_member_job_cmd_s {
    ngx_http_member_job_cmd_t    *next;
    ngx_http_member_job_t        *job;
    ngx_http_member_job_reply_pt  handler;
    ngx_uint_t                    gen;
    ngx_uint_t                    tag;
};


/* per Redis and worker: its jobs and its lease */
struct ngx_http_member_jobs_s {
    ngx_http_member_redis_t      *redis;
    ngx_array_t                   jobs;       /* ngx_http_member_job_t * */
    ngx_http_member_job_cmd_t    *free;
    ngx_http_member_job_t        *asker;      /* waits for the lease */
    ngx_msec_t                    asked;      /* lease.lua sent */
    ngx_msec_t                    answered;
    ngx_msec_t                    held;       /* answered 1 */
    u_char                        owner[NGX_MAXHOSTNAMELEN + NGX_INT64_LEN];
    size_t                        owner_len;

    unsigned                      asking:1;
    unsigned                      mine:1;
};


static void ngx_http_member_job_handler(ngx_event_t *ev);
static void ngx_http_member_job_start(ngx_http_member_job_t *job);
static void ngx_http_member_job_ask(ngx_http_member_jobs_t *jobs,
    ngx_http_member_job_t *job);
static void ngx_http_member_job_leased(ngx_http_member_redis_t *redis,
    void *data, redisReply *reply);
static void ngx_http_member_job_reply(ngx_http_member_redis_t *redis,
    void *data, redisReply *reply);


static ngx_str_t  ngx_http_member_lease_key = ngx_string("ledger:lease");
static ngx_str_t  ngx_http_member_lease_ms =
    ngx_string(NGX_HTTP_MEMBER_JOB_LEASE);


/* a job of this worker: its timer runs from now on */

ngx_int_t
ngx_http_member_job_add(ngx_cycle_t *cycle, ngx_http_member_job_t *job,
    const ngx_http_member_job_kind_t *kind, ngx_http_member_redis_t *redis,
    void *data)
{
    ngx_http_member_jobs_t   *jobs;
    ngx_http_member_job_t   **jp;

    jobs = redis->jobs;

    if (jobs == NULL) {
        jobs = ngx_pcalloc(cycle->pool, sizeof(ngx_http_member_jobs_t));
        if (jobs == NULL) {
            return NGX_ERROR;
        }

        if (ngx_array_init(&jobs->jobs, cycle->pool, 4,
                           sizeof(ngx_http_member_job_t *))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        jobs->redis = redis;
        jobs->owner_len = ngx_snprintf(jobs->owner, sizeof(jobs->owner),
                                       "%V:%P", &cycle->hostname, ngx_pid)
                          - jobs->owner;
        redis->jobs = jobs;
    }

    jp = ngx_array_push(&jobs->jobs);
    if (jp == NULL) {
        return NGX_ERROR;
    }

    *jp = job;

    job->kind = kind;
    job->redis = redis;
    job->data = data;
    job->jobs = jobs;
    job->timer.handler = ngx_http_member_job_handler;
    job->timer.data = job;
    job->timer.log = cycle->log;
    job->timer.cancelable = 1;

    ngx_add_timer(&job->timer, kind->period);

    return NGX_OK;
}


/* the worker exits: no timer of a job holds it up */

void
ngx_http_member_job_exit(ngx_http_member_redis_t *redis)
{
    ngx_uint_t                  i;
    ngx_http_member_job_t     **jp;
    ngx_http_member_jobs_t     *jobs;
    ngx_http_member_job_cmd_t  *cmd;

    jobs = redis->jobs;

    if (jobs == NULL) {
        return;
    }

    jp = jobs->jobs.elts;

    for (i = 0; i < jobs->jobs.nelts; i++) {
        if (jp[i]->timer.timer_set) {
            ngx_del_timer(&jp[i]->timer);
        }
    }

    while (jobs->free) {
        cmd = jobs->free;
        jobs->free = cmd->next;
        ngx_free(cmd);
    }
}


static void
ngx_http_member_job_handler(ngx_event_t *ev)
{
    ngx_http_member_job_t   *job = ev->data;
    ngx_http_member_jobs_t  *jobs;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(&job->timer, job->kind->period);

    if (job->busy) {
        if (job->kind->stuck == 0
            || ngx_current_msec - job->started < job->kind->stuck)
        {
            return;
        }

        /* a reply that never came: what the slice started is forgotten */
        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                       "member job %s of \"%V\" db=%ui: slice %ui timed out",
                       job->kind->name, &job->redis->name, job->redis->db,
                       job->gen);

        job->gen++;
        job->busy = 0;
    }

    if (!ngx_http_member_redis_status(job->redis)) {
        return;
    }

    if (!job->kind->lease) {
        ngx_http_member_job_start(job);
        return;
    }

    jobs = job->jobs;

    if (jobs->asking
        && ngx_current_msec - jobs->asked >= NGX_HTTP_MEMBER_JOB_LOST)
    {
        jobs->asking = 0;
    }

    if (!jobs->asking
        && ngx_current_msec - jobs->answered >= NGX_HTTP_MEMBER_JOB_ASK)
    {
        ngx_http_member_job_ask(jobs, job);
        return;
    }

    if (jobs->mine
        && ngx_current_msec - jobs->held < NGX_HTTP_MEMBER_JOB_TRUST)
    {
        ngx_http_member_job_start(job);
    }
}


static void
ngx_http_member_job_start(ngx_http_member_job_t *job)
{
    job->busy = 1;
    job->started = ngx_current_msec;
    job->outstanding = 0;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, job->timer.log, 0,
                   "member job %s of \"%V\" db=%ui: slice %ui start",
                   job->kind->name, &job->redis->name, job->redis->db,
                   job->gen);

    job->kind->slice(job);
}


/*
 * The lease, asked for by the job whose tick comes first after a second:
 * the holder renews it, the others learn that it is not theirs.
 */

static void
ngx_http_member_job_ask(ngx_http_member_jobs_t *jobs,
    ngx_http_member_job_t *job)
{
    ngx_str_t  keys[NGX_HTTP_MEMBER_LEASE_NKEYS];
    ngx_str_t  args[NGX_HTTP_MEMBER_LEASE_NARGV];

    keys[NGX_HTTP_MEMBER_LEASE_KEY_LEASE] = ngx_http_member_lease_key;
    args[NGX_HTTP_MEMBER_LEASE_ARGV_OWNER].data = jobs->owner;
    args[NGX_HTTP_MEMBER_LEASE_ARGV_OWNER].len = jobs->owner_len;
    args[NGX_HTTP_MEMBER_LEASE_ARGV_MS] = ngx_http_member_lease_ms;

    /* by its source: a Redis just restarted has no script */
    if (ngx_http_member_redis_bg_script(jobs->redis,
                                        NGX_HTTP_MEMBER_SCRIPT_LEASE,
                                        NGX_HTTP_MEMBER_BG_SOURCE,
                                        ngx_http_member_job_leased, jobs,
                                        keys, 0, args, 0)
        != NGX_OK)
    {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, job->timer.log, 0,
                   "member job %s: lease asked", job->kind->name);

    jobs->asking = 1;
    jobs->asked = ngx_current_msec;
    jobs->asker = job;
}


static void
ngx_http_member_job_leased(ngx_http_member_redis_t *redis, void *data,
    redisReply *reply)
{
    ngx_http_member_job_t   *job;
    ngx_http_member_jobs_t  *jobs = data;

    jobs->asking = 0;
    job = jobs->asker;
    jobs->asker = NULL;

    if (reply == NULL) {
        jobs->mine = 0;
        return;
    }

    jobs->answered = ngx_current_msec;
    jobs->mine = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member job: lease of \"%V\" db=%ui %s", &redis->name,
                   redis->db, jobs->mine ? "held" : "elsewhere");

    if (!jobs->mine) {
        return;
    }

    jobs->held = ngx_current_msec;

    if (job && !job->busy && !ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_http_member_job_start(job);
    }
}


/*
 * A command of the slice; its reply goes to handler with tag unless the
 * slice is over by then.  NGX_DECLINED: the slice is over (now or before).
 * The record is taken before the send and counted after it.
 */

static ngx_http_member_job_cmd_t *
ngx_http_member_job_record(ngx_http_member_job_t *job,
    ngx_http_member_job_reply_pt handler, ngx_uint_t tag)
{
    ngx_http_member_jobs_t     *jobs;
    ngx_http_member_job_cmd_t  *cmd;

    if (!job->busy) {
        return NULL;
    }

    jobs = job->jobs;
    cmd = jobs->free;

    if (cmd) {
        jobs->free = cmd->next;

    } else {
        cmd = ngx_alloc(sizeof(ngx_http_member_job_cmd_t), job->redis->log);
        if (cmd == NULL) {
            ngx_http_member_job_done(job);
            return NULL;
        }
    }

    cmd->job = job;
    cmd->handler = handler;
    cmd->gen = job->gen;
    cmd->tag = tag;

    return cmd;
}


static ngx_int_t
ngx_http_member_job_sent(ngx_http_member_job_t *job,
    ngx_http_member_job_cmd_t *cmd, ngx_int_t rc)
{
    ngx_http_member_jobs_t  *jobs;

    if (rc != NGX_OK) {
        jobs = job->jobs;
        cmd->next = jobs->free;
        jobs->free = cmd;

        /* what is in flight comes back to an older slice */
        ngx_http_member_job_done(job);
        return NGX_DECLINED;
    }

    job->outstanding++;

    return NGX_OK;
}


/* a command; handler NULL: no one waits for its reply, nothing counts it */

ngx_int_t
ngx_http_member_job_command(ngx_http_member_job_t *job,
    ngx_http_member_job_reply_pt handler, ngx_uint_t tag, ngx_uint_t argc,
    ngx_str_t *argv)
{
    ngx_http_member_job_cmd_t  *cmd;

    if (handler == NULL) {
        return ngx_http_member_redis_bg_argv(job->redis, NULL, NULL, argc,
                                             argv);
    }

    cmd = ngx_http_member_job_record(job, handler, tag);
    if (cmd == NULL) {
        return NGX_DECLINED;
    }

    return ngx_http_member_job_sent(job, cmd,
               ngx_http_member_redis_bg_argv(job->redis,
                                             ngx_http_member_job_reply, cmd,
                                             argc, argv));
}


/* a command of no key to the i-th master (ngx_http_member_redis_bg_node) */

ngx_int_t
ngx_http_member_job_command_on(ngx_http_member_job_t *job, ngx_uint_t node,
    ngx_http_member_job_reply_pt handler, ngx_uint_t tag, ngx_uint_t argc,
    ngx_str_t *argv)
{
    ngx_http_member_job_cmd_t  *cmd;

    cmd = ngx_http_member_job_record(job, handler, tag);
    if (cmd == NULL) {
        return NGX_DECLINED;
    }

    return ngx_http_member_job_sent(job, cmd,
               ngx_http_member_redis_bg_node(job->redis, node,
                                             ngx_http_member_job_reply, cmd,
                                             argc, argv));
}


/* a script by its binding (ngx_http_member_redis_bg_script) */

ngx_int_t
ngx_http_member_job_script(ngx_http_member_job_t *job,
    ngx_http_member_job_reply_pt handler, ngx_uint_t tag, ngx_uint_t script,
    ngx_uint_t flags, ngx_str_t *keys, ngx_uint_t keys_tail,
    ngx_str_t *args, ngx_uint_t args_tail)
{
    ngx_http_member_job_cmd_t  *cmd;

    cmd = ngx_http_member_job_record(job, handler, tag);
    if (cmd == NULL) {
        return NGX_DECLINED;
    }

    return ngx_http_member_job_sent(job, cmd,
               ngx_http_member_redis_bg_script(job->redis, script, flags,
                                               ngx_http_member_job_reply,
                                               cmd, keys, keys_tail, args,
                                               args_tail));
}


static void
ngx_http_member_job_reply(ngx_http_member_redis_t *redis, void *data,
    redisReply *reply)
{
    ngx_uint_t                     gen, tag;
    ngx_http_member_job_t         *job;
    ngx_http_member_jobs_t        *jobs;
    ngx_http_member_job_cmd_t     *cmd = data;
    ngx_http_member_job_reply_pt   handler;

    job = cmd->job;
    handler = cmd->handler;
    gen = cmd->gen;
    tag = cmd->tag;

    jobs = job->jobs;
    cmd->next = jobs->free;
    jobs->free = cmd;

    if (gen != job->gen || !job->busy) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                       "member job %s: a reply of slice %ui dropped",
                       job->kind->name, gen);
        return;
    }

    job->outstanding--;

    handler(job, reply, tag);

    /* everything the slice sent has answered: it goes on or it is over */

    if (gen != job->gen || !job->busy || job->outstanding) {
        return;
    }

    if (job->kind->settled) {
        job->kind->settled(job);

        if (gen != job->gen || !job->busy || job->outstanding) {
            return;
        }
    }

    ngx_http_member_job_done(job);
}


/* the slice is over: a reply still to come is dropped */

void
ngx_http_member_job_done(ngx_http_member_job_t *job)
{
    if (!job->busy) {
        return;
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, job->timer.log, 0,
                   "member job %s of \"%V\" db=%ui: slice %ui end after %M ms",
                   job->kind->name, &job->redis->name, job->redis->db,
                   job->gen, ngx_current_msec - job->started);

    job->gen++;
    job->busy = 0;
    job->outstanding = 0;
}


/* the slice is over and the next one comes in delay ms, not a period */

void
ngx_http_member_job_again(ngx_http_member_job_t *job, ngx_msec_t delay)
{
    ngx_http_member_job_done(job);

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(&job->timer, delay);
    }
}


/* the slice may take more work: it has used less than its budget */

ngx_int_t
ngx_http_member_job_budget(ngx_http_member_job_t *job)
{
    return ngx_current_msec - job->started < job->kind->budget;
}
