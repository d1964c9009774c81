
/*
 * ngx_member: the fold's hints (docs/ledger.md, "Brand totals: the
 * fold"): a member hinted in its bucket after every change, and a rescan
 * that hints every member again when hints were lost.  The fold itself is
 * ngx_http_member_fold.c.
 */


#include "ngx_member_ledger.h"


#define NGX_HTTP_MEMBER_FOLD_SCAN     "1000"      /* keys a rescan step */


ngx_str_t  ngx_http_member_rescan_key = ngx_string("{b}:fold:rescan");


/*
 * The hint: two commands of no request, sent after the member's script,
 * on the member's bucket.  HINCRBY first: the fold leaves a member waiting
 * when its generation moved while it worked, so a hint that lands between
 * the fold's read and its script is never lost; ZADD NX keeps the time the
 * member started waiting, so the oldest waiting member is folded first and
 * none starves.
 */

void
ngx_http_member_fold_hint(ngx_http_member_redis_t *redis, uint64_t id)
{
    u_char       at[NGX_INT64_LEN], mb[NGX_INT64_LEN];
    u_char       fb[NGX_HTTP_MEMBER_BUCKET_KEY_LEN];
    u_char       gb[NGX_HTTP_MEMBER_BUCKET_KEY_LEN];
    ngx_str_t    now, member;
    ngx_time_t  *tp;

    if (redis == NULL || id == 0) {
        return;
    }

    tp = ngx_timeofday();

    member.data = mb;
    member.len = ngx_sprintf(mb, "%uL", id) - mb;
    now.data = at;
    now.len = ngx_sprintf(at, "%L", (int64_t) tp->sec * 1000 + tp->msec)
              - at;

    if (ngx_http_member_redis_bg_argv(redis, NULL, NULL,
                        ngx_http_member_args(ngx_string("HINCRBY"),
                            ngx_http_member_bucket_of(gb,
                                NGX_HTTP_MEMBER_BUCKET_FOLD_GEN, id),
                            member, ngx_string("1")))
        != NGX_OK)
    {
        goto failed;
    }

    if (ngx_http_member_redis_bg_argv(redis, NULL, NULL,
                        ngx_http_member_args(ngx_string("ZADD"),
                            ngx_http_member_bucket_of(fb,
                                NGX_HTTP_MEMBER_BUCKET_FOLD, id),
                            ngx_string("NX"), now, member))
        == NGX_OK)
    {
        return;
    }

failed:

    /* the rescan (POST fold/rescan) makes it again */
    ngx_log_error(NGX_LOG_WARN, redis->log, 0,
                  "member: fold hint of member %uL not sent", id);
}


/*
 * A rescan, asked by POST fold/rescan: one SCAN step per run.  On a
 * cluster SCAN walks one master: the cursor is "<master>:<cursor>" and the
 * walk goes on to the next master when one ends ("0" starts at the first).
 */

static void
ngx_http_member_fold_scanned(ngx_http_member_job_t *job, redisReply *reply,
    ngx_uint_t node)
{
    u_char                    buf[NGX_INT_T_LEN + 64];
    size_t                    i;
    uint64_t                  id;
    ngx_str_t                 cursor;
    redisReply               *keys, *k, *next;
    ngx_http_member_redis_t  *redis = job->redis;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_ARRAY
        || reply->element[0]->len > 64)
    {
        ngx_http_member_job_done(job);
        return;
    }

    next = reply->element[0];
    keys = reply->element[1];

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, job->redis->log, 0,
                   "member: fold rescan step of %uz keys on master %ui",
                   keys->elements, node);

    /* the member hashes only: "{m:<id>}" */
    for (i = 0; i < keys->elements; i++) {
        k = keys->element[i];

        if (k->type == REDIS_REPLY_STRING && k->len > 4
            && ngx_strncmp(k->str, "{m:", 3) == 0 && k->str[k->len - 1] == '}'
            && ngx_http_member_parse_id((u_char *) k->str + 3, k->len - 4, &id)
               == NGX_OK)
        {
            ngx_http_member_fold_hint(redis, id);
        }
    }

    if (next->len == 1 && next->str[0] == '0'
        && node + 1 >= ngx_http_member_redis_masters(redis))
    {
        (void) ngx_http_member_job_command(job, NULL, 0,
                        ngx_http_member_args(ngx_string("DEL"),
                                             ngx_http_member_rescan_key));

        ngx_log_error(NGX_LOG_NOTICE, redis->log, 0,
                      "member: fold rescan done");

    } else {
        cursor.data = buf;

        if (next->len == 1 && next->str[0] == '0') {
            cursor.len = ngx_sprintf(buf, "%ui:0", node + 1) - buf;

        } else if (redis->cluster) {
            cursor.len = ngx_sprintf(buf, "%ui:%*s", node, next->len,
                                     next->str) - buf;

        } else {
            cursor.len = ngx_cpymem(buf, next->str, next->len) - buf;
        }

        (void) ngx_http_member_job_command(job, NULL, 0,
                        ngx_http_member_args(ngx_string("SET"),
                                             ngx_http_member_rescan_key,
                                             cursor));
    }

    ngx_http_member_job_done(job);
}


static void
ngx_http_member_fold_rescan_cursor(ngx_http_member_job_t *job,
    redisReply *reply, ngx_uint_t unused)
{
    u_char     *colon;
    ngx_int_t   node;
    ngx_str_t   cursor;

    if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
        ngx_http_member_job_done(job);
        return;
    }

    cursor.data = (u_char *) reply->str;
    cursor.len = reply->len;
    node = 0;

    colon = ngx_strlchr(cursor.data, cursor.data + cursor.len, ':');

    if (colon) {
        node = ngx_atoi(cursor.data, colon - cursor.data);
        if (node == NGX_ERROR) {
            node = 0;
        }

        cursor.len -= colon + 1 - cursor.data;
        cursor.data = colon + 1;
    }

    /* the cluster has fewer masters than when the walk began: it is over */
    if (node > 0 && ngx_http_member_redis_masters(job->redis) > 0
        && (ngx_uint_t) node >= ngx_http_member_redis_masters(job->redis))
    {
        (void) ngx_http_member_job_command(job, NULL, 0,
                        ngx_http_member_args(ngx_string("DEL"),
                                             ngx_http_member_rescan_key));
        ngx_http_member_job_done(job);
        return;
    }

    (void) ngx_http_member_job_command_on(job, node,
                  ngx_http_member_fold_scanned, node,
                  ngx_http_member_args(ngx_string("SCAN"), cursor,
                                       ngx_string("MATCH"),
                                       ngx_string("{m:*}"),
                                       ngx_string("COUNT"),
                                       ngx_string(NGX_HTTP_MEMBER_FOLD_SCAN)));
}


void
ngx_http_member_fold_rescan(ngx_http_member_job_t *job)
{
    (void) ngx_http_member_job_command(job,
                                       ngx_http_member_fold_rescan_cursor, 0,
                        ngx_http_member_args(ngx_string("GET"),
                                             ngx_http_member_rescan_key));
}
