
/*
 * ngx_member: brand totals, day reports and store ledgers: the fold
 * (docs/ledger.md, "Brand totals: the fold").
 *
 * A change of a member is one script on the member's slot; the brand's
 * numbers live in the slot {b} and cannot be changed by the same script.
 * After every script that changes a member's ledger or record, the glue
 * hints the member in {b}:fold.  A crash between the two loses the hint
 * only: a rescan makes it again.
 */


#include "ngx_http_member_module.h"


static ngx_str_t  ngx_http_member_fold_key = ngx_string("{b}:fold");
static ngx_str_t  ngx_http_member_fold_gen_key = ngx_string("{b}:fold:gen");


/*
 * The hint: two commands of no request, sent after the member's script.
 * HINCRBY first: the fold leaves a member waiting when its generation
 * moved while it worked, so a hint that lands between the fold's read and
 * its script is never lost; ZADD NX keeps the time the member started
 * waiting, so the oldest waiting member is folded first and none starves.
 */

void
ngx_http_member_fold_hint(ngx_http_member_redis_t *redis, uint64_t id)
{
    u_char       now[NGX_INT64_LEN], member[NGX_INT64_LEN];
    size_t       argvlen[5], len;
    ngx_time_t  *tp;
    const char  *argv[5];

    if (redis == NULL || id == 0) {
        return;
    }

    tp = ngx_timeofday();
    len = ngx_sprintf(member, "%uL", id) - member;

    argv[0] = "HINCRBY";
    argvlen[0] = 7;
    argv[1] = (const char *) ngx_http_member_fold_gen_key.data;
    argvlen[1] = ngx_http_member_fold_gen_key.len;
    argv[2] = (const char *) member;
    argvlen[2] = len;
    argv[3] = "1";
    argvlen[3] = 1;

    if (ngx_http_member_redis_background(redis, NULL, NULL, 4, argv, argvlen)
        != NGX_OK)
    {
        goto failed;
    }

    argv[0] = "ZADD";
    argvlen[0] = 4;
    argv[1] = (const char *) ngx_http_member_fold_key.data;
    argvlen[1] = ngx_http_member_fold_key.len;
    argv[2] = "NX";
    argvlen[2] = 2;
    argv[3] = (const char *) now;
    argvlen[3] = ngx_sprintf(now, "%L", (int64_t) tp->sec * 1000 + tp->msec)
                 - now;
    argv[4] = (const char *) member;
    argvlen[4] = len;

    if (ngx_http_member_redis_background(redis, NULL, NULL, 5, argv, argvlen)
        == NGX_OK)
    {
        return;
    }

failed:

    /* the rescan (POST fold/rescan) makes it again */
    ngx_log_error(NGX_LOG_WARN, redis->log, 0,
                  "member: fold hint of member %uL not sent", id);
}


void
ngx_http_member_ledger_touched(ngx_http_request_t *r, uint64_t id)
{
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    ngx_http_member_fold_hint(mlcf->redis, id);
}
