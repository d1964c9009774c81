
/*
 * ngx_member: GET referral (member pages): the member's invite code and
 * the card page's link with it (the codes: ngx_http_member_campaigns.c).
 */


#include "ngx_member_member.h"


/* GET referral: the member's code and the card page's link with it */

ngx_int_t
ngx_http_member_referral(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    u_char                  *p, *code, *link;
    json_t                  *answer;
    ngx_http_member_ctx_t   *ctx;
    ngx_http_member_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    pg = ctx->page;

    if (!(pg->status.len == 6
          && ngx_strncmp(pg->status.data, "active", 6) == 0))
    {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no card yet: claim or register first");
    }

    code = ngx_http_member_invite_code(r, pg->id);
    link = ngx_pnalloc(r->pool, sizeof("https:///card/?invite=")
                                + r->headers_in.server.len
                                + NGX_HTTP_MEMBER_INVITE_CODE_LEN);
    answer = json_object();

    if (code == NULL || link == NULL || answer == NULL) {
        json_decref(answer);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(link, "%s://%V/card/?invite=%s",
                    ngx_http_member_https(r) ? "https" : "http",
                    &r->headers_in.server, code);

    json_object_set_new(answer, "code", json_string((char *) code));
    json_object_set_new(answer, "link",
                        json_stringn((char *) link, p - link));

    /* cardExt's outer_str: a wallet card claimed with it links the two */
    json_object_set_new(answer, "outer_str", json_string((char *) code));

    return ngx_http_member_send_json(r, NGX_HTTP_OK, answer);
}
