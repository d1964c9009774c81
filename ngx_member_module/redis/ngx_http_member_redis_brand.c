
/*
 * ngx_member: a brand's namespace (member_brand), applied by the Redis
 * layer to every key of every command as it is sent, the way a client's
 * key prefix is: the module's key templates ({m:<id>}, {b}:fold,
 * member:seq) stay as they are everywhere else, so no key can be left out.
 * Where a command's keys are is keyspace/'s table; a command missing from
 * it is refused and logged.  A SCAN's MATCH pattern gets the brand and the
 * keys it reads back lose it, so the layer above sees template names.
 * Without member_brand nothing here runs.
 */


#include "ngx_member_redis.h"


static ngx_int_t ngx_http_member_redis_brand_grow(
    ngx_http_member_redis_t *redis, int argc, size_t size);


/*
 * Rewrites argv into the worker's scratch, which hiredis copies when it
 * formats the command: it needs to live for the call only.
 */

ngx_int_t
ngx_http_member_redis_brand(ngx_http_member_redis_t *redis, int argc,
    const char ***argv, const size_t **argvlen, ngx_uint_t *unbrand)
{
    int                               i, first, last, step, match;
    u_char                           *p;
    size_t                            size, n;
    mks_status_t                      rc;
    const char                      **av;
    const size_t                     *al;
    ngx_http_member_brand_scratch_t  *s;

    av = *argv;
    al = *argvlen;

    rc = mks_command_keys(argc, av, al, &first, &last, &step);

    if (rc != MKS_OK) {
        ngx_log_error(NGX_LOG_ALERT, redis->log, 0,
                      "member: redis \"%V\" brand \"%V\": command \"%*s\" "
                      "refused: %s", &redis->name, &redis->brand,
                      ngx_min(al[0], 32), av[0], mks_strerror(rc));
        return NGX_ERROR;
    }

    /* SCAN cursor [MATCH pattern] [COUNT n] [TYPE t]: the keys read back */
    match = 0;

    if (first > last && al[0] == 4
        && ngx_strncasecmp((u_char *) av[0], (u_char *) "SCAN", 4) == 0)
    {
        *unbrand = 1;

        for (i = 2; i + 1 < argc; i += 2) {
            if (al[i] == 5
                && ngx_strncasecmp((u_char *) av[i], (u_char *) "MATCH", 5)
                   == 0)
            {
                match = i + 1;
            }
        }
    }

    if (first > last && match == 0) {
        return NGX_OK;
    }

    size = 0;

    for (i = first; i <= last; i += step) {
        size += mks_branded_len(al[i], redis->brand.len);
    }

    if (match) {
        size += mks_branded_len(al[match], redis->brand.len);
    }

    if (ngx_http_member_redis_brand_grow(redis, argc, size) != NGX_OK) {
        return NGX_ERROR;
    }

    s = &redis->scratch;

    ngx_memcpy(s->argv, av, argc * sizeof(const char *));
    ngx_memcpy(s->argvlen, al, argc * sizeof(size_t));

    p = s->buf;

    for (i = first; i <= last; i += step) {
        rc = mks_brand_key(redis->brand.data, redis->brand.len,
                           (const uint8_t *) av[i], al[i], p,
                           s->size - (p - s->buf), &n);
        if (rc != MKS_OK) {
            goto failed;
        }

        s->argv[i] = (const char *) p;
        s->argvlen[i] = n;
        p += n;
    }

    if (match) {
        rc = mks_brand_pattern(redis->brand.data, redis->brand.len,
                               (const uint8_t *) av[match], al[match], p,
                               s->size - (p - s->buf), &n);
        if (rc != MKS_OK) {
            goto failed;
        }

        s->argv[match] = (const char *) p;
        s->argvlen[match] = n;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" brand \"%V\": %*s keys branded",
                   &redis->name, &redis->brand, al[0], av[0]);

    *argv = s->argv;
    *argvlen = s->argvlen;

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_ALERT, redis->log, 0,
                  "member: redis \"%V\" brand \"%V\": command \"%*s\" "
                  "refused: %s", &redis->name, &redis->brand,
                  ngx_min(al[0], 32), av[0], mks_strerror(rc));

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_member_redis_brand_grow(ngx_http_member_redis_t *redis, int argc,
    size_t size)
{
    int                               nalloc;
    void                             *p;
    ngx_http_member_brand_scratch_t  *s;

    s = &redis->scratch;

    if (argc > s->nalloc) {
        nalloc = ngx_max(argc, 16);

        p = ngx_alloc(nalloc * (sizeof(const char *) + sizeof(size_t)),
                      redis->log);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (s->argv) {
            ngx_free(s->argv);
        }

        s->argv = p;
        s->argvlen = (size_t *) (s->argv + nalloc);
        s->nalloc = nalloc;
    }

    if (size > s->size) {
        size = ngx_max(size, 1024);

        p = ngx_alloc(size, redis->log);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (s->buf) {
            ngx_free(s->buf);
        }

        s->buf = p;
        s->size = size;
    }

    return NGX_OK;
}


/*
 * A SCAN's reply: its keys lose the brand where they lie (a key is only
 * shortened); a key of another namespace (a SCAN without MATCH) is dropped.
 */

void
ngx_http_member_redis_unbrand(ngx_http_member_redis_t *redis,
    redisReply *reply)
{
    size_t       i, j, n;
    redisReply  *keys, *k;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return;
    }

    keys = reply->element[1];
    j = 0;

    for (i = 0; i < keys->elements; i++) {
        k = keys->element[i];

        if (k->type == REDIS_REPLY_STRING
            && mks_unbrand_key(redis->brand.data, redis->brand.len,
                               (const uint8_t *) k->str, k->len,
                               (uint8_t *) k->str, k->len, &n)
               == MKS_OK)
        {
            k->len = n;
            k->str[n] = '\0';
            keys->element[j++] = k;
            continue;
        }

        freeReplyObject(k);
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "member: redis \"%V\" brand \"%V\": SCAN read %uz keys, "
                   "%uz of another namespace dropped", &redis->name,
                   &redis->brand, j, keys->elements - j);

    keys->elements = j;
}


void
ngx_http_member_redis_brand_free(ngx_http_member_redis_t *redis)
{
    if (redis->scratch.argv) {
        ngx_free(redis->scratch.argv);
        redis->scratch.argv = NULL;
        redis->scratch.argvlen = NULL;
        redis->scratch.nalloc = 0;
    }

    if (redis->scratch.buf) {
        ngx_free(redis->scratch.buf);
        redis->scratch.buf = NULL;
        redis->scratch.size = 0;
    }
}
