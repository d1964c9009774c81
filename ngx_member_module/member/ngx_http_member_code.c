
/*
 * ngx_member: the member's dynamic code (member_api), as digits or as a
 * QR image rendered here, in memory.  A code names its member without an
 * index and without showing the card number, and is good for its time
 * step plus a step of grace (qrcode/member_qrcode.h).
 */


#include "ngx_member_member.h"


static void ngx_http_member_code_coder_free(void *data);


/*
 * The code secret keyed once, at configuration: making or checking a code
 * then skips the HMAC's set-up, half of its cost.  Each worker uses its
 * own copy of the context, made private by fork().
 */

mqr_coder_t *
ngx_http_member_code_coder(ngx_conf_t *cf, ngx_str_t *secret)
{
    mqr_coder_t         *coder;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    coder = mqr_coder_new(secret->data, secret->len);
    if (coder == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"member_code_secret\" could not be keyed");
        return NULL;
    }

    cln->handler = ngx_http_member_code_coder_free;
    cln->data = coder;

    return coder;
}


static void
ngx_http_member_code_coder_free(void *data)
{
    mqr_coder_free(data);
}


ngx_int_t
ngx_http_member_code_answer(ngx_http_request_t *r, uint64_t id,
    ngx_uint_t view)
{
    char                         code[MQR_CODE_LEN + 1];
    u_char                      *out, *p;
    size_t                       len, cap;
    time_t                       now, expires;
    ngx_str_t                    type;
    mqr_status_t                 rc;
    ngx_table_elt_t             *h;
    ngx_http_member_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_member_module);

    if (mlcf->coder == NULL) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "dynamic codes are not configured");
    }

    now = ngx_time();
    expires = mlcf->code_period - now % mlcf->code_period;

    rc = mqr_coder_make(mlcf->coder, id, (uint64_t) now,
                        (unsigned) mlcf->code_period, code);

    if (rc != MQR_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: no code for member %uL: %s", id,
                      mqr_strerror(rc));
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (view == NGX_HTTP_MEMBER_CODE_JSON) {
        p = ngx_pnalloc(r->pool, 64);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        len = ngx_sprintf(p, "{\"code\":\"%s\",\"expires_in\":%T}", code,
                          expires)
              - p;

        return ngx_http_member_send_raw(r, NGX_HTTP_OK, NULL, p, len);
    }

    /* a version 1 symbol fits these; a larger one is asked for again */
    cap = (view == NGX_HTTP_MEMBER_CODE_PNG) ? 1024 : 4096;

    for ( ;; ) {
        out = ngx_pnalloc(r->pool, cap);
        if (out == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (view == NGX_HTTP_MEMBER_CODE_PNG) {
            rc = mqr_png((uint8_t *) code, MQR_CODE_LEN, MQR_PNG_MODULE_PX,
                         out, cap, &len);
            ngx_str_set(&type, "image/png");

        } else {
            rc = mqr_svg((uint8_t *) code, MQR_CODE_LEN, MQR_PNG_MODULE_PX,
                         (char *) out, cap, &len);
            ngx_str_set(&type, "image/svg+xml");
        }

        if (rc != MQR_TOO_SMALL || len <= cap) {
            break;
        }

        cap = len;
    }

    if (rc != MQR_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: no QR image: %s", mqr_strerror(rc));
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the card page counts down to the next image with it */
    h = ngx_list_push(&r->headers_out.headers);
    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);

    if (h == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Member-Code-Expires-In");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%T", expires) - p;

    return ngx_http_member_send_raw(r, NGX_HTTP_OK, &type, out, len);
}
