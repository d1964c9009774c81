
/*
 * ngx_member: the Redis directives (member_redis, member_redis_cluster,
 * member_redis_replicas, member_brand) and their merge, where a server
 * block with a brand gets its own client of the configured Redis.  The
 * directive table that points here is ngx_http_member_module.c's.
 */


#include "ngx_member_redis.h"


static char *ngx_http_member_redis_addr(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_member_redis_addr_t *addr, ngx_uint_t unix_ok);
static ngx_http_member_redis_t *ngx_http_member_redis_branded(ngx_conf_t *cf,
    ngx_http_member_redis_t *redis, ngx_str_t *brand);


/*
 * A server's address: hiredis would call getaddrinfo(), so a host name is
 * resolved here, once; unix: a socket's path (member_redis only).
 */

static char *
ngx_http_member_redis_addr(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_member_redis_addr_t *addr, ngx_uint_t unix_ok)
{
    u_char     *p;
    ngx_url_t   u;

    addr->name = *value;

    if (ngx_strncmp(value->data, "unix:", 5) == 0) {
        if (value->len <= 5 || !unix_ok) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid address \"%V\"", value);
            return NGX_CONF_ERROR;
        }

        addr->unix_path.len = value->len - 5;
        addr->unix_path.data = ngx_pnalloc(cf->pool, value->len - 4);
        if (addr->unix_path.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(addr->unix_path.data, value->data + 5,
                    addr->unix_path.len + 1);

        return NGX_CONF_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *value;
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\"",
                           u.err ? u.err : "host not found", value);
        return NGX_CONF_ERROR;
    }

    addr->port = u.port;

    p = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    addr->host.data = p;
    addr->host.len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                                   p, NGX_SOCKADDR_STRLEN, 0);
    p[addr->host.len] = '\0';

    return NGX_CONF_OK;
}


/*
 * member_redis host:port|unix:/path [password=P] [db=N];
 * member_redis_cluster host:port... [password=P];
 */

char *
ngx_http_member_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_member_loc_conf_t *mlcf = conf;

    u_char                        *p;
    ngx_int_t                      db;
    ngx_str_t                     *value, password, name;
    ngx_uint_t                     i, n, cluster;
    ngx_http_member_redis_t       *redis, **rp;
    ngx_http_member_main_conf_t   *mmcf;

    if (mlcf->redis != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    cluster = (cmd->name.len == sizeof("member_redis_cluster") - 1);

    ngx_str_null(&password);
    db = 0;

    /* the addresses, then the parameters */
    for (n = 1; n < cf->args->nelts; n++) {
        if (ngx_strlchr(value[n].data, value[n].data + value[n].len, '=')
            != NULL)
        {
            break;
        }
    }

    if (n == 1 || (!cluster && n != 2)) {
        goto invalid;
    }

    for (i = n; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "password=", 9) == 0
            && value[i].len > 9)
        {
            password.data = value[i].data + 9;
            password.len = value[i].len - 9;
            continue;
        }

        /* Redis Cluster has database 0 only */
        if (!cluster && ngx_strncmp(value[i].data, "db=", 3) == 0) {
            db = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (db == NGX_ERROR || db > 1023) {
                goto invalid;
            }
            continue;
        }

        goto invalid;
    }

    /* the name: the address, or the seeds one after another */
    name = value[1];

    if (cluster) {
        name.len = 0;

        for (i = 1; i < n; i++) {
            name.len += value[i].len + 1;
        }

        name.data = ngx_pnalloc(cf->pool, name.len);
        if (name.data == NULL) {
            return NGX_CONF_ERROR;
        }

        p = name.data;

        for (i = 1; i < n; i++) {
            p = ngx_cpymem(p, value[i].data, value[i].len);
            *p++ = ' ';
        }

        name.len--;
    }

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_member_module);

    /* one connection per worker and server, however many blocks use it */
    rp = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        if (rp[i]->cluster == cluster
            && rp[i]->name.len == name.len
            && ngx_strncmp(rp[i]->name.data, name.data, name.len) == 0
            && rp[i]->db == (ngx_uint_t) db
            && rp[i]->brand.len == 0
            && rp[i]->password.len == password.len
            && ngx_strncmp(rp[i]->password.data, password.data, password.len)
               == 0)
        {
            mlcf->redis = rp[i];
            return NGX_CONF_OK;
        }
    }

    redis = ngx_pcalloc(cf->pool, sizeof(ngx_http_member_redis_t));
    if (redis == NULL) {
        return NGX_CONF_ERROR;
    }

    redis->name = name;
    redis->db = db;
    redis->password = password;
    redis->cluster = cluster;
    redis->naddrs = n - 1;

    if (redis->naddrs > NGX_HTTP_MEMBER_REDIS_NODES) {
        goto invalid;
    }

    redis->addrs = ngx_pcalloc(cf->pool,
                    redis->naddrs * sizeof(ngx_http_member_redis_addr_t));
    if (redis->addrs == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < redis->naddrs; i++) {
        if (ngx_http_member_redis_addr(cf, &value[1 + i], &redis->addrs[i],
                                       !cluster)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    rp = ngx_array_push(&mmcf->redis);
    if (rp == NULL) {
        return NGX_CONF_ERROR;
    }

    *rp = redis;
    mlcf->redis = redis;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter in \"%V\" directive", &cmd->name);
    return NGX_CONF_ERROR;
}


/* member_redis_replicas N [TIMEOUT]; */

char *
ngx_http_member_redis_replicas(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_member_loc_conf_t *mlcf = conf;

    ngx_int_t   n;
    ngx_msec_t  t;
    ngx_str_t  *value;

    if (mlcf->redis_replicas != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);
    if (n == NGX_ERROR || n > 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    mlcf->redis_replicas = n;

    if (cf->args->nelts == 3) {
        t = ngx_parse_time(&value[2], 0);
        if (t == (ngx_msec_t) NGX_ERROR || t == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\" directive",
                               &value[2], &cmd->name);
            return NGX_CONF_ERROR;
        }

        mlcf->redis_replicas_timeout = t;
    }

    return NGX_CONF_OK;
}


/* member_brand ID; (server): the brand's key namespace */

char *
ngx_http_member_brand(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_member_loc_conf_t *mlcf = conf;

    ngx_str_t  *value;

    if (mlcf->brand.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (mks_brand_valid(value[1].data, value[1].len) != MKS_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive: "
                           "1 to %d of a-z, 0-9, \"_\" and \"-\"",
                           &value[1], &cmd->name, MKS_BRAND_MAX);
        return NGX_CONF_ERROR;
    }

    mlcf->brand = value[1];

    return NGX_CONF_OK;
}


/* a block's Redis settings, from the location merge */

char *
ngx_http_member_redis_merge_conf(ngx_conf_t *cf,
    ngx_http_member_loc_conf_t *prev, ngx_http_member_loc_conf_t *conf)
{
    ngx_conf_merge_ptr_value(conf->redis, prev->redis, NULL);
    ngx_conf_merge_str_value(conf->brand, prev->brand, "");
    ngx_conf_merge_msec_value(conf->redis_timeout, prev->redis_timeout, 500);
    ngx_conf_merge_uint_value(conf->redis_replicas, prev->redis_replicas, 0);
    ngx_conf_merge_msec_value(conf->redis_replicas_timeout,
                              prev->redis_replicas_timeout, 100);

    /* a brand's own client: its connection, its jobs, its lease */
    if (conf->redis && conf->brand.len && conf->redis->brand.len == 0) {
        conf->redis = ngx_http_member_redis_branded(cf, conf->redis,
                                                    &conf->brand);
        if (conf->redis == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->redis) {
        conf->redis->used = 1;
    }

    if (conf->redis && conf->redis->connect_timeout < conf->redis_timeout) {
        conf->redis->connect_timeout = conf->redis_timeout;
    }

    /* the scripts of jobs have no location: the client's, the most asked */
    if (conf->redis && conf->redis_replicas > conf->redis->replicas) {
        conf->redis->replicas = conf->redis_replicas;
    }

    if (conf->redis && conf->redis_replicas
        && conf->redis_replicas_timeout > conf->redis->replicas_timeout)
    {
        conf->redis->replicas_timeout = conf->redis_replicas_timeout;
    }

    if (conf->redis_replicas
        && conf->redis_replicas_timeout >= conf->redis_timeout)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the \"member_redis_replicas\" timeout must be "
                           "shorter than \"member_redis_timeout\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The client of a brand on a configured Redis, made at the merge of the
 * first block that needs it: the same server, its own namespace, and so
 * its own connection, jobs and caches in each worker.
 */

static ngx_http_member_redis_t *
ngx_http_member_redis_branded(ngx_conf_t *cf, ngx_http_member_redis_t *redis,
    ngx_str_t *brand)
{
    ngx_uint_t                     i;
    ngx_http_member_redis_t       *b, **rp;
    ngx_http_member_main_conf_t   *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_member_module);

    rp = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        b = rp[i];

        if (b->cluster == redis->cluster
            && b->name.len == redis->name.len
            && ngx_strncmp(b->name.data, redis->name.data, b->name.len) == 0
            && b->db == redis->db
            && b->password.len == redis->password.len
            && ngx_strncmp(b->password.data, redis->password.data,
                           b->password.len) == 0
            && b->brand.len == brand->len
            && ngx_strncmp(b->brand.data, brand->data, brand->len) == 0)
        {
            return b;
        }
    }

    b = ngx_palloc(cf->pool, sizeof(ngx_http_member_redis_t));
    if (b == NULL) {
        return NULL;
    }

    /* the configuration only: nothing per worker is set yet */
    *b = *redis;
    b->brand = *brand;
    b->used = 0;

    rp = ngx_array_push(&mmcf->redis);
    if (rp == NULL) {
        return NULL;
    }

    *rp = b;

    return b;
}


/*
 * The server blocks are merged by now: a member_redis that every block's
 * brand took over serves nobody, its jobs would run unbranded.
 */

void
ngx_http_member_redis_drop_unused(ngx_http_member_main_conf_t *mmcf)
{
    ngx_uint_t                 i, n;
    ngx_http_member_redis_t  **rp;

    rp = mmcf->redis.elts;
    n = 0;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        if (rp[i]->used) {
            rp[n++] = rp[i];
        }
    }

    mmcf->redis.nelts = n;
}
