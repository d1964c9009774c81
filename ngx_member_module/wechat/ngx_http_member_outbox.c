
/*
 * ngx_member: the WeChat wallet card in step with the ledger through an
 * outbox (docs/outbox.md).
 *
 * Every script that changes a member's points or balance is followed by a
 * hint, ZADD {b:wx:<id mod 16>} <ms> <id> (the member's bucket).  For every
 * brand (a member_redis of a server block with member_wechat_outbox), the
 * worker that holds that
 * brand's ledger lease calls its own nginx once a second (the URL of the
 * admin location, the server's name as Host, POST outbox/run with the
 * brand's key made at configuration time), and
 * that request, a real one, does the work with the module's token cache and
 * WeChat subrequests: for up to 10 due members, the full current points
 * and balance go to card/membercard/updateuser (or card/membercard/activate
 * for a registered member whose card is only claimed, after WeChat's
 * activation form registered it: ngx_http_member_form.c) unless WeChat
 * already has the member's last ledger entry (wx_synced).  Then the member's
 * messages (template or subscribe, ngx_http_member_messages.c), oldest
 * first, each claimed before its call and ended by WeChat's answer
 * (wx_msg.lua, wx_msg_done.lua).  A refusal puts the member back with a
 * doubling backoff.  Timers have no request: the loopback call gives the
 * subrequests one.
 *
 * Here: the job (the brand's outboxes from the configuration, the loopback
 * call on the runner's timer and the admin location's entry for it).  The
 * slice, its due members and their cards: ngx_http_member_outbox_card.c;
 * the messages: ngx_http_member_outbox_msg.c.
 */


#include <openssl/rand.h>

#include "ngx_member_wechat.h"


#define NGX_HTTP_MEMBER_OUTBOX_EVERY    1000        /* ms */
#define NGX_HTTP_MEMBER_OUTBOX_SOON     50          /* ms, more is due */
#define NGX_HTTP_MEMBER_OUTBOX_TIMEOUT  30000       /* ms */
#define NGX_HTTP_MEMBER_OUTBOX_KEY      32          /* hex characters */


/* member_wechat_outbox, at http level or in a server block */
struct ngx_http_member_outbox_conf_s {
    ngx_url_t                     url;
};


/*
 * One brand's outbox: its Redis, the call that reaches its admin location
 * with its key; per worker, its job (a slice is one loopback call).
 */
typedef struct {
    ngx_http_member_outbox_conf_t  *conf;
    ngx_http_member_redis_t        *redis;
    ngx_str_t                       host;
    ngx_str_t                       request;
    u_char                          key[NGX_HTTP_MEMBER_OUTBOX_KEY];
    ngx_http_member_job_t           job;
    ngx_peer_connection_t           peer;
    size_t                          sent;
    u_char                          answer[256];
    size_t                          answer_len;
} ngx_http_member_outbox_t;


static void ngx_http_member_outbox_close(ngx_http_member_outbox_t *o);


/*
 * The admin location serves the timer's call: POST outbox/run with the
 * key of the brand whose Redis this location uses (any other caller, and
 * another brand's call, is declined and then meets the admin token check).
 */

ngx_int_t
ngx_http_member_outbox_admin(ngx_http_request_t *r)
{
    ngx_str_t                      route;
    ngx_uint_t                     i;
    ngx_list_part_t               *part;
    ngx_table_elt_t               *h;
    ngx_http_member_outbox_t     **op, *o;
    ngx_http_member_loc_conf_t    *mlcf;
    ngx_http_member_main_conf_t   *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_member_module);
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (mmcf->outboxes == NULL || r->method != NGX_HTTP_POST) {
        return NGX_DECLINED;
    }

    op = mmcf->outboxes->elts;
    o = NULL;

    for (i = 0; i < mmcf->outboxes->nelts; i++) {
        if (op[i]->redis == mlcf->redis) {
            o = op[i];
            break;
        }
    }

    if (o == NULL) {
        return NGX_DECLINED;
    }

    ngx_http_member_route(r, &route);

    if (route.len != 10 || ngx_strncmp(route.data, "outbox/run", 10) != 0) {
        return NGX_DECLINED;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_DECLINED;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == 15
            && ngx_strncasecmp(h[i].key.data, (u_char *) "X-Member-Outbox",
                               15) == 0)
        {
            break;
        }
    }

    if (h[i].value.len != NGX_HTTP_MEMBER_OUTBOX_KEY
        || CRYPTO_memcmp(h[i].value.data, o->key, NGX_HTTP_MEMBER_OUTBOX_KEY)
           != 0)
    {
        return NGX_DECLINED;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member outbox: a slice of \"%V\" db=%ui",
                   &o->redis->name, o->redis->db);

    ngx_http_discard_request_body(r);

    return ngx_http_member_outbox_card_run(r);
}


/* the job: a loopback call to this nginx while this worker leads */

static void
ngx_http_member_outbox_close(ngx_http_member_outbox_t *o)
{
    if (o->peer.connection) {
        ngx_close_connection(o->peer.connection);
        o->peer.connection = NULL;
    }

    ngx_http_member_job_done(&o->job);
}


static void
ngx_http_member_outbox_read(ngx_event_t *rev)
{
    u_char                     buf[1024];
    size_t                     len;
    ssize_t                    n;
    ngx_msec_t                 next;
    ngx_connection_t          *c;
    ngx_http_member_outbox_t  *o;

    c = rev->data;
    o = c->data;

    if (rev->timedout) {
        ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT,
                      "member: outbox call timed out");
        ngx_http_member_outbox_close(o);
        return;
    }

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_member_outbox_close(o);
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_member_outbox_close(o);
            return;
        }

        if (n == 0) {
            break;
        }

        len = ngx_min((size_t) n, sizeof(o->answer) - o->answer_len);
        o->answer_len += ngx_cpymem(o->answer + o->answer_len, buf, len)
                         - (o->answer + o->answer_len);
    }

    /* the answer is whole: a full slice means more is due at once */
    next = NGX_HTTP_MEMBER_OUTBOX_EVERY;

    if (o->answer_len > 12 && ngx_strncmp(o->answer + 9, "200", 3) == 0
        && ngx_strlcasestrn(o->answer, o->answer + o->answer_len,
                            (u_char *) "\"more\":true", 11 - 1))
    {
        next = NGX_HTTP_MEMBER_OUTBOX_SOON;

    } else if (o->answer_len < 12 || ngx_strncmp(o->answer + 9, "200", 3)) {
        /* a 401: the URL or the Host reached another brand's server */
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "member: outbox call of \"%V\" db=%ui as \"%V\" "
                      "answered \"%*s\"", &o->redis->name, o->redis->db,
                      &o->host, ngx_min(o->answer_len, (size_t) 12),
                      o->answer);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "member outbox: \"%V\" db=%ui answered, next in %M ms",
                   &o->redis->name, o->redis->db, next);

    ngx_http_member_outbox_close(o);
    ngx_http_member_job_again(&o->job, next);
}


static void
ngx_http_member_outbox_write(ngx_event_t *wev)
{
    ssize_t                    n;
    ngx_connection_t          *c;
    ngx_http_member_outbox_t  *o;

    c = wev->data;
    o = c->data;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT,
                      "member: outbox call timed out connecting");
        ngx_http_member_outbox_close(o);
        return;
    }

    if (o->sent == o->request.len) {
        return;
    }

    n = c->send(c, o->request.data + o->sent,
                o->request.len - o->sent);

    if (n == NGX_ERROR) {
        ngx_http_member_outbox_close(o);
        return;
    }

    if (n > 0) {
        o->sent += n;
    }

    if (o->sent < o->request.len) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_member_outbox_close(o);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    ngx_add_timer(c->read, NGX_HTTP_MEMBER_OUTBOX_TIMEOUT);

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_member_outbox_close(o);
    }
}


static void
ngx_http_member_outbox_call(ngx_http_member_job_t *job)
{
    ngx_int_t                  rc;
    ngx_log_t                 *log;
    ngx_connection_t          *c;
    ngx_http_member_outbox_t  *o = job->data;

    log = job->timer.log;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "member outbox: calling for \"%V\" db=%ui as \"%V\"",
                   &o->redis->name, o->redis->db, &o->host);

    ngx_memzero(&o->peer, sizeof(ngx_peer_connection_t));
    o->peer.sockaddr = o->conf->url.addrs[0].sockaddr;
    o->peer.socklen = o->conf->url.addrs[0].socklen;
    o->peer.name = &o->conf->url.addrs[0].name;
    o->peer.get = ngx_event_get_peer;
    o->peer.log = log;
    o->peer.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&o->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_http_member_outbox_close(o);
        return;
    }

    c = o->peer.connection;
    c->data = o;
    c->read->handler = ngx_http_member_outbox_read;
    c->write->handler = ngx_http_member_outbox_write;

    o->sent = 0;
    o->answer_len = 0;

    ngx_add_timer(c->write, NGX_HTTP_MEMBER_OUTBOX_TIMEOUT);

    if (rc == NGX_OK) {
        ngx_http_member_outbox_write(c->write);
    }
}


/* the call's own timeouts are its watchdog */

static const ngx_http_member_job_kind_t  ngx_http_member_outbox_job = {
    "outbox",
    NGX_HTTP_MEMBER_OUTBOX_EVERY,
    0,
    0,
    1,
    ngx_http_member_outbox_call,
    NULL
};


ngx_int_t
ngx_http_member_outbox_init_process(ngx_cycle_t *cycle,
    ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                  i;
    ngx_http_member_outbox_t  **op, *o;

    /* a member's change may need its card or a message sent */
    ngx_http_member_ledger_follow(ngx_http_member_outbox_touch);

    if (mmcf->outboxes == NULL) {
        return NGX_OK;
    }

    op = mmcf->outboxes->elts;

    for (i = 0; i < mmcf->outboxes->nelts; i++) {
        o = op[i];

        if (ngx_http_member_job_add(cycle, &o->job,
                                    &ngx_http_member_outbox_job, o->redis, o)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


void
ngx_http_member_outbox_exit_process(ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                  i;
    ngx_http_member_outbox_t  **op;

    if (mmcf->outboxes == NULL) {
        return;
    }

    op = mmcf->outboxes->elts;

    for (i = 0; i < mmcf->outboxes->nelts; i++) {
        ngx_http_member_outbox_close(op[i]);
    }
}


/*
 * member_wechat_outbox http://127.0.0.1:8080/admin/; at http level (every
 * server block inherits it) or in a server block (its brand only).
 */

char *
ngx_http_member_outbox_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_member_loc_conf_t *mlcf = conf;

    ngx_str_t                      *value;
    ngx_http_member_outbox_conf_t  *oc;

    if (mlcf->outbox != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    oc = ngx_pcalloc(cf->pool, sizeof(ngx_http_member_outbox_conf_t));
    if (oc == NULL) {
        return NGX_CONF_ERROR;
    }

    if (value[1].len < 8 || ngx_strncmp(value[1].data, "http://", 7) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive: "
                           "an http:// URL of the admin location",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    oc->url.url.data = value[1].data + 7;
    oc->url.url.len = value[1].len - 7;
    oc->url.default_port = 80;
    oc->url.uri_part = 1;
    oc->url.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &oc->url) != NGX_OK || oc->url.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive: %s",
                           &value[1], &cmd->name,
                           oc->url.err ? oc->url.err : "a numeric address "
                                                      "is needed");
        return NGX_CONF_ERROR;
    }

    mlcf->outbox = oc;

    return NGX_CONF_OK;
}


/*
 * The Host of a brand's call: its server's first name, so that brands
 * sharing the URL's port are told apart; "localhost" (the port's default
 * server) for a server without a plain name ("", "_", a regex, *.name).
 */

static void
ngx_http_member_outbox_host(ngx_str_t *name, ngx_str_t *host)
{
    u_char      c;
    ngx_uint_t  i;

    ngx_str_set(host, "localhost");

    if (name->len == 0 || name->len > 253 || name->data[0] == '.') {
        return;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '.'))
        {
            return;
        }
    }

    *host = *name;
}


static ngx_http_member_outbox_t *
ngx_http_member_outbox_brand(ngx_conf_t *cf,
    ngx_http_member_outbox_conf_t *oc, ngx_http_member_redis_t *redis,
    ngx_str_t *server_name)
{
    u_char                    *p, rnd[NGX_HTTP_MEMBER_OUTBOX_KEY / 2];
    ngx_http_member_outbox_t  *o;

    o = ngx_pcalloc(cf->pool, sizeof(ngx_http_member_outbox_t));
    if (o == NULL) {
        return NULL;
    }

    o->conf = oc;
    o->redis = redis;
    ngx_http_member_outbox_host(server_name, &o->host);

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NULL;
    }

    ngx_hex_dump(o->key, rnd, sizeof(rnd));

    o->request.len = sizeof("POST /outbox/run HTTP/1.0" CRLF
                            "Host: " CRLF
                            "X-Member-Outbox: " CRLF
                            "Content-Length: 0" CRLF CRLF)
                     + oc->url.uri.len + o->host.len
                     + NGX_HTTP_MEMBER_OUTBOX_KEY;
    o->request.data = ngx_pnalloc(cf->pool, o->request.len);
    if (o->request.data == NULL) {
        return NULL;
    }

    p = ngx_sprintf(o->request.data,
                    "POST %V%soutbox/run HTTP/1.0" CRLF
                    "Host: %V" CRLF
                    "X-Member-Outbox: %*s" CRLF
                    "Content-Length: 0" CRLF CRLF,
                    &oc->url.uri,
                    (oc->url.uri.len
                     && oc->url.uri.data[oc->url.uri.len - 1] == '/')
                    ? "" : "/",
                    &o->host,
                    (size_t) NGX_HTTP_MEMBER_OUTBOX_KEY, o->key);
    o->request.len = p - o->request.data;

    return o;
}


/*
 * After the merge: an outbox for every brand, i.e. every Redis of a server
 * block that has (or inherits) member_wechat_outbox.  Server blocks on one
 * Redis are one brand with one timer (the first block's name); two URLs
 * for one Redis would run its outbox twice and are refused.
 */

ngx_int_t
ngx_http_member_outbox_init(ngx_conf_t *cf, ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                   s, i;
    ngx_http_core_srv_conf_t   **cscfp;
    ngx_http_core_main_conf_t   *cmcf;
    ngx_http_member_outbox_t   **op, *o;
    ngx_http_member_loc_conf_t  *mlcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    cscfp = cmcf->servers.elts;

    for (s = 0; s < cmcf->servers.nelts; s++) {
        mlcf = cscfp[s]->ctx->loc_conf[ngx_http_member_module.ctx_index];

        if (mlcf->outbox == NULL || mlcf->redis == NULL) {
            continue;
        }

        if (mmcf->outboxes == NULL) {
            mmcf->outboxes = ngx_array_create(cf->pool, 2,
                                          sizeof(ngx_http_member_outbox_t *));
            if (mmcf->outboxes == NULL) {
                return NGX_ERROR;
            }
        }

        op = mmcf->outboxes->elts;

        for (i = 0; i < mmcf->outboxes->nelts; i++) {
            if (op[i]->redis == mlcf->redis) {
                break;
            }
        }

        if (i < mmcf->outboxes->nelts) {
            if (op[i]->conf == mlcf->outbox) {
                continue;
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"member_wechat_outbox\" is duplicate for "
                               "\"member_redis %V\" db=%ui (server \"%V\"):"
                               " one brand, one outbox",
                               &mlcf->redis->name, mlcf->redis->db,
                               &cscfp[s]->server_name);
            return NGX_ERROR;
        }

        o = ngx_http_member_outbox_brand(cf, mlcf->outbox, mlcf->redis,
                                         &cscfp[s]->server_name);
        if (o == NULL) {
            return NGX_ERROR;
        }

        op = ngx_array_push(mmcf->outboxes);
        if (op == NULL) {
            return NGX_ERROR;
        }

        *op = o;
    }

    return NGX_OK;
}
