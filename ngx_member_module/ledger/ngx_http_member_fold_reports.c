
/*
 * ngx_member: what the admin reads of the fold (docs/ledger.md, "Brand
 * totals: the fold"); the fold itself is ngx_http_member_fold.c, the
 * stores' ledgers ngx_http_member_fold_stores.c.
 *
 *   admin:  GET totals                       liabilities, members, lag
 *           GET reports/daily?from=&to=      the day buckets, <= 366 days
 *           POST fold/rescan                 hints every member again
 */


#include "ngx_member_ledger.h"


/* admin: GET totals, GET reports/daily, POST fold/rescan */

/*
 * GET totals: {b}:totals and the rescan, then how many wait and since when
 * in each source of the fold (docs/ledger.md): its buckets, each on a slot
 * of its own, and the key of before
 */

#define NGX_HTTP_MEMBER_FOLD_TOTALS_CMDS  (2 + 2 * NGX_HTTP_MEMBER_SOURCES)


static ngx_int_t
ngx_http_member_fold_totals_done(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t       i, len;
    json_t      *answer, *status, *level, *lag;
    int64_t      n, members, oldest, waiting, now, at;
    ngx_time_t  *tp;
    redisReply  *t, *k, *v, *e;

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements != NGX_HTTP_MEMBER_FOLD_TOTALS_CMDS
        || reply->element[0]->type != REDIS_REPLY_ARRAY
        || reply->element[1]->type != REDIS_REPLY_INTEGER)
    {
        return ngx_http_member_reply_script_error(r, reply);
    }

    waiting = 0;
    oldest = 0;

    for (i = 2; i < reply->elements; i += 2) {
        e = reply->element[i + 1];

        if (reply->element[i]->type != REDIS_REPLY_INTEGER
            || e->type != REDIS_REPLY_ARRAY)
        {
            return ngx_http_member_reply_script_error(r, reply->element[i]);
        }

        waiting += reply->element[i]->integer;

        if (e->elements == 2 && e->element[1]->type == REDIS_REPLY_STRING) {
            at = strtoll(e->element[1]->str, NULL, 10);

            if (oldest == 0 || (at && at < oldest)) {
                oldest = at;
            }
        }
    }

    answer = json_object();
    status = json_object();
    level = json_object();
    lag = json_object();

    if (answer == NULL || status == NULL || level == NULL || lag == NULL) {
        json_decref(answer);
        json_decref(status);
        json_decref(level);
        json_decref(lag);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(answer, "principal_fen", json_integer(0));
    json_object_set_new(answer, "bonus_fen", json_integer(0));
    json_object_set_new(answer, "balance_fen", json_integer(0));
    json_object_set_new(answer, "points", json_integer(0));
    json_object_set_new(answer, "entries", json_integer(0));

    members = 0;
    t = reply->element[0];

    for (i = 0; i + 1 < t->elements; i += 2) {
        k = t->element[i];
        v = t->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        n = strtoll(v->str, NULL, 10);

        if (k->len > 7 && ngx_strncmp(k->str, "status:", 7) == 0) {
            len = k->len - 7;
            json_object_setn_new(status, k->str + 7, len, json_integer(n));

            if (!(len == 7 && ngx_strncmp(k->str + 7, "visitor", 7) == 0)) {
                members += n;
            }

        } else if (k->len > 6 && ngx_strncmp(k->str, "level:", 6) == 0) {
            json_object_setn_new(level, k->str + 6, k->len - 6,
                                 json_integer(n));

        } else {
            json_object_setn_new(answer, k->str, k->len, json_integer(n));
        }
    }

    tp = ngx_timeofday();

    json_object_set_new(lag, "waiting", json_integer(waiting));
    now = (int64_t) tp->sec * 1000 + (int64_t) tp->msec;

    json_object_set_new(lag, "oldest_ms",
                        json_integer(oldest && now > oldest ? now - oldest
                                                            : 0));
    json_object_set_new(lag, "rescan",
                        json_boolean(reply->element[1]->integer));

    json_object_set_new(answer, "members", json_integer(members));
    json_object_set_new(answer, "members_by_status", status);
    json_object_set_new(answer, "members_by_level", level);
    json_object_set_new(answer, "fold", lag);

    return ngx_http_member_send_json(r, NGX_HTTP_OK, answer);
}


ngx_int_t
ngx_http_member_fold_totals(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    u_char                  *p;
    ngx_str_t               *a, *b;
    ngx_uint_t               i;
    ngx_http_member_argv_t  *cmds;

    cmds = ngx_palloc(r->pool, NGX_HTTP_MEMBER_FOLD_TOTALS_CMDS
                               * sizeof(ngx_http_member_argv_t));
    a = ngx_palloc(r->pool, (4 + 7 * NGX_HTTP_MEMBER_SOURCES)
                            * sizeof(ngx_str_t));
    p = ngx_pnalloc(r->pool, NGX_HTTP_MEMBER_SOURCES
                             * NGX_HTTP_MEMBER_BUCKET_KEY_LEN);

    if (cmds == NULL || a == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&a[0], "HGETALL");
    a[1] = ngx_http_member_totals_key;
    cmds[0].argc = 2;
    cmds[0].argv = &a[0];

    ngx_str_set(&a[2], "EXISTS");
    a[3] = ngx_http_member_rescan_key;
    cmds[1].argc = 2;
    cmds[1].argv = &a[2];

    /* ZCARD <source>, ZRANGE <source> 0 0 WITHSCORES: each on its slot */
    for (i = 0; i < NGX_HTTP_MEMBER_SOURCES; i++) {
        b = &a[4 + 7 * i];

        ngx_str_set(&b[0], "ZCARD");
        b[1] = ngx_http_member_bucket_key(p, NGX_HTTP_MEMBER_BUCKET_FOLD, i);
        p += NGX_HTTP_MEMBER_BUCKET_KEY_LEN;
        cmds[2 + 2 * i].argc = 2;
        cmds[2 + 2 * i].argv = &b[0];

        ngx_str_set(&b[2], "ZRANGE");
        b[3] = b[1];
        ngx_str_set(&b[4], "0");
        ngx_str_set(&b[5], "0");
        ngx_str_set(&b[6], "WITHSCORES");
        cmds[3 + 2 * i].argc = 5;
        cmds[3 + 2 * i].argv = &b[2];
    }

    return ngx_http_member_redis_pipeline(r, ngx_http_member_fold_totals_done,
                                          NGX_HTTP_MEMBER_FOLD_TOTALS_CMDS,
                                          cmds);
}


/* a day YYYY-MM-DD as unix seconds at its 00:00 UTC; -1 when not a day */

static time_t
ngx_http_member_fold_date(ngx_str_t *s)
{
    int64_t  t;

    /* years 2000..2999, and 2026-02-30 is not a day (rules/mrl_calendar.c) */
    if (mrl_day_parse((const char *) s->data, s->len, &t) != MRL_OK) {
        return -1;
    }

    return (time_t) t;
}


static ngx_int_t
ngx_http_member_fold_days_done(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    size_t        i, j;
    json_t       *answer, *days, *day;
    ngx_str_t    *names;
    redisReply   *h, *k, *v;
    const char  **f;

    static const char  *fields[] = {
        "new_members", "recharge", "recharge_fen", "bonus_fen", "pay",
        "pay_fen", "earn", "earn_fen", "sales_fen", "redeemed_fen",
        "refund", "refund_fen", "recharge_refund", "recharge_refund_fen",
        "coupon", "points_earned", "points_redeemed",
        "points_expired", "points_adjusted", "points_returned",
        "points_restored", "principal_delta_fen", "bonus_delta_fen",
        "points_delta", NULL
    };

    names = call->data;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    answer = json_object();
    days = json_array();

    if (answer == NULL || days == NULL) {
        json_decref(answer);
        json_decref(days);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(answer, "days", days);

    for (i = 0; i < reply->elements; i++) {
        h = reply->element[i];

        day = json_object();
        if (day == NULL || h->type != REDIS_REPLY_ARRAY) {
            json_decref(day);
            json_decref(answer);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        json_object_set_new(day, "date", json_stringn((char *) names[i].data,
                                                      names[i].len));

        for (f = fields; *f; f++) {
            json_object_set_new(day, *f, json_integer(0));
        }

        for (j = 0; j + 1 < h->elements; j += 2) {
            k = h->element[j];
            v = h->element[j + 1];

            if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING)
            {
                json_object_setn_new(day, k->str, k->len,
                                     json_integer(strtoll(v->str, NULL, 10)));
            }
        }

        json_array_append_new(days, day);
    }

    if (reply->elements) {
        json_object_set_new(answer, "from", json_stringn(
                                (char *) names[0].data, names[0].len));
        json_object_set_new(answer, "to", json_stringn(
                                (char *) names[reply->elements - 1].data,
                                names[reply->elements - 1].len));
    }

    return ngx_http_member_send_json(r, NGX_HTTP_OK, answer);
}


ngx_int_t
ngx_http_member_fold_daily(ngx_http_request_t *r, ngx_http_member_match_t *m)
{
    u_char                 *p;
    time_t                  from, to, t;
    ngx_str_t               a, b, *keys, *names;
    ngx_uint_t               n, i;
    ngx_http_member_call_t  *call;

    if (ngx_http_arg(r, (u_char *) "from", 4, &a) != NGX_OK
        || ngx_http_arg(r, (u_char *) "to", 2, &b) != NGX_OK
        || (from = ngx_http_member_fold_date(&a)) == -1
        || (to = ngx_http_member_fold_date(&b)) == -1
        || to < from
        || (to - from) / 86400 + 1 > 366)
    {
        return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "from and to are days YYYY-MM-DD, "
                                     "from first, at most 366 days");
    }

    n = (to - from) / 86400 + 1;

    keys = ngx_palloc(r->pool, 2 * n * sizeof(ngx_str_t));
    p = ngx_pnalloc(r->pool, n * (sizeof("{b}:day:") - 1 + 10));

    if (keys == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    names = keys + n;

    for (i = 0, t = from; i < n; i++, t += 86400) {
        keys[i].data = p;
        p = ngx_cpymem(p, "{b}:day:", sizeof("{b}:day:") - 1);
        p += ngx_http_member_fold_day(t - MRL_TZ, p);
        keys[i].len = p - keys[i].data;

        names[i].data = keys[i].data + sizeof("{b}:day:") - 1;
        names[i].len = 10;
    }

    call = ngx_http_member_redis_request_call(r);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call->data = names;

    return ngx_http_member_redis_script(r, NGX_HTTP_MEMBER_SCRIPT_FOLD_DAYS,
                                        ngx_http_member_fold_days_done, keys,
                                        NULL,
                                        n - NGX_HTTP_MEMBER_FOLD_DAYS_NKEYS);
}


static ngx_int_t
ngx_http_member_fold_rescan_started(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    static u_char  answer[] = "{\"rescan\":\"started\"}";

    if (reply->type == REDIS_REPLY_ERROR) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    return ngx_http_member_send_raw(r, NGX_HTTP_ACCEPTED, NULL, answer,
                                    sizeof(answer) - 1);
}


/* POST fold/rescan */

ngx_int_t
ngx_http_member_fold_rescan_admin(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    static ngx_str_t  set = ngx_string("SET");
    static ngx_str_t  zero = ngx_string("0");

    return ngx_http_member_redis_command(r,
                                       ngx_http_member_fold_rescan_started,
                                       &set, &ngx_http_member_rescan_key,
                                       &zero);
    return NGX_DECLINED;
}
