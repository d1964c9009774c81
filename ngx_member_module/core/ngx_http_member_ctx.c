
/*
 * ngx_member: a request's context and what every handler shares: member
 * ids, card numbers and their keys, the request line kept free of secrets.
 */


#include "ngx_member_core.h"


static void ngx_http_member_ctx_cleanup(void *data);


ngx_str_t  ngx_http_member_cmd_get = ngx_string("GET");
ngx_str_t  ngx_http_member_cmd_set = ngx_string("SET");
ngx_str_t  ngx_http_member_cmd_nx = ngx_string("NX");
ngx_str_t  ngx_http_member_cmd_incr = ngx_string("INCR");
ngx_str_t  ngx_http_member_cmd_hgetall = ngx_string("HGETALL");
ngx_str_t  ngx_http_member_seq_key = ngx_string("member:seq");


ngx_http_member_ctx_t *
ngx_http_member_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_member_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    if (ctx) {
        return ctx;
    }

    /* the context is freed with the pool that the cleanup runs from */
    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_member_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_member_ctx_t));

    cln->handler = ngx_http_member_ctx_cleanup;

    ngx_http_set_ctx(r, ctx, ngx_http_member_module);

    return ctx;
}


static void
ngx_http_member_ctx_cleanup(void *data)
{
    ngx_http_member_ctx_t  *ctx = data;

    if (ctx->json) {
        json_decref(ctx->json);
        ctx->json = NULL;
    }
}


/*
 * A query that carries secrets or personal data (WeChat's signatures and
 * openid, an OAuth code): the logs, error and access alike, get the
 * request line without it.  r->args keeps it for the handler.
 */

ngx_int_t
ngx_http_member_hide_query(ngx_http_request_t *r)
{
    u_char  *p, *q, *last, *line;

    p = r->request_line.data;
    last = p + r->request_line.len;

    q = ngx_strlchr(p, last, '?');
    if (q == NULL) {
        return NGX_OK;
    }

    line = ngx_pnalloc(r->pool, r->request_line.len);
    if (line == NULL) {
        return NGX_ERROR;
    }

    r->request_line.data = line;
    line = ngx_cpymem(line, p, q - p);

    while (q < last && *q != ' ') {
        q++;
    }

    line = ngx_cpymem(line, q, last - q);
    r->request_line.len = line - r->request_line.data;

    return NGX_OK;
}


/*
 * Whether browsers reach this site over https: member_scheme when set (a
 * proxy in front terminates TLS), else this connection's own.  No request
 * header is believed: a client could send any.
 */

ngx_flag_t
ngx_http_member_https(ngx_http_request_t *r)
{
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (mlcf->scheme != NGX_HTTP_MEMBER_SCHEME_CONNECTION) {
        return mlcf->scheme == NGX_HTTP_MEMBER_SCHEME_HTTPS;
    }

#if (NGX_HTTP_SSL)
    return r->connection->ssl != NULL;
#else
    return 0;
#endif
}



ngx_int_t
ngx_http_member_parse_id(u_char *p, size_t len, uint64_t *id)
{
    uint64_t  n;

    /* 1..9999999999999: at most 13 digits, no leading zero */
    if (len == 0 || len > 13 || p[0] == '0') {
        return NGX_ERROR;
    }

    for (n = 0; len; len--, p++) {
        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        n = n * 10 + (*p - '0');
    }

    *id = n;

    return NGX_OK;
}


/*
 * A card number is "88", the member id on 13 digits and a Luhn check
 * digit (rules/mrl_card.c): 16 digits that map to the member without an
 * index.
 */

u_char *
ngx_http_member_card_no(u_char *p, uint64_t id)
{
    char    card[MRL_CARD_LEN + 1];
    size_t  len;

    /* member ids come from a counter: never 0, never 10^13 */
    if (mrl_card_no(id, card, sizeof(card), &len) != MRL_OK) {
        return p;
    }

    return ngx_cpymem(p, card, len);
}


ngx_int_t
ngx_http_member_card_to_id(ngx_str_t *card_no, uint64_t *id)
{
    return mrl_card_to_id((const char *) card_no->data, card_no->len, id)
           == MRL_OK ? NGX_OK : NGX_ERROR;
}


/* "{m:<id>}<suffix>": every key of a member shares one Cluster slot */

ngx_int_t
ngx_http_member_key(ngx_pool_t *pool, ngx_str_t *key, uint64_t id,
    const char *suffix)
{
    size_t  len;

    len = sizeof("{m:}") - 1 + NGX_INT64_LEN + ngx_strlen(suffix);

    key->data = ngx_pnalloc(pool, len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = ngx_sprintf(key->data, "{m:%uL}%s", id, suffix) - key->data;

    return NGX_OK;
}


/* the id, card number and time that a member's record is written with */

ngx_int_t
ngx_http_member_record_args(ngx_pool_t *pool, uint64_t id, ngx_str_t *id_arg,
    ngx_str_t *card_no, ngx_str_t *now)
{
    u_char  *p;

    p = ngx_pnalloc(pool, NGX_INT64_LEN + MRL_CARD_LEN + NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    id_arg->data = p;
    p = ngx_sprintf(p, "%uL", id);
    id_arg->len = p - id_arg->data;

    card_no->data = p;
    p = ngx_http_member_card_no(p, id);
    card_no->len = p - card_no->data;

    now->data = p;
    now->len = ngx_sprintf(p, "%T", ngx_time()) - p;

    return NGX_OK;
}

/* the same in buf, for a command of no request (hiredis copies it) */

ngx_str_t
ngx_http_member_key_in(u_char *buf, uint64_t id, const char *suffix)
{
    ngx_str_t  key;

    key.data = buf;
    key.len = ngx_sprintf(buf, "{m:%uL}%s", id, suffix) - buf;

    return key;
}

/*
 * A script's member keys in buf, NGX_HTTP_MEMBER_KEY_IN_LEN bytes a key:
 * {m:<id>} and the suffix of each (suffix[] by the binding's KEY_ enum);
 * a NULL suffix leaves that key to the caller.
 */

void
ngx_http_member_keys_in(ngx_str_t *keys, const char **suffix, ngx_uint_t n,
    u_char *buf, uint64_t id)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (suffix[i]) {
            keys[i] = ngx_http_member_key_in(buf + i
                                             * NGX_HTTP_MEMBER_KEY_IN_LEN,
                                             id, suffix[i]);
        }
    }
}


/* a number as a command's argument, in buf (NGX_INT64_LEN) */

ngx_str_t
ngx_http_member_num_in(u_char *buf, int64_t n)
{
    ngx_str_t  num;

    num.data = buf;
    num.len = ngx_sprintf(buf, "%L", n) - buf;

    return num;
}


/*
 * A session lives beside its member, under a hash of the token's secret
 * part: a copy of Redis holds no token that works.
 */

ngx_int_t
ngx_http_member_session_key(ngx_http_request_t *r, uint64_t id,
    ngx_str_t *secret, ngx_str_t *key)
{
    u_char  digest[SHA256_DIGEST_LENGTH];

    if (ngx_http_member_sha256(secret->data, secret->len, NULL, digest)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    key->data = ngx_pnalloc(r->pool, sizeof("{m:}:s:") - 1 + NGX_INT64_LEN
                                     + 2 * SHA256_DIGEST_LENGTH);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = ngx_hex_dump(ngx_sprintf(key->data, "{m:%uL}:s:", id),
                            digest, sizeof(digest))
               - key->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_member_method_not_allowed(ngx_http_request_t *r)
{
    return ngx_http_member_error(r, NGX_HTTP_NOT_ALLOWED,
                                 "method_not_allowed",
                                 "method not allowed for this resource");
}
