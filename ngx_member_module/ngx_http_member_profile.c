
/*
 * ngx_member: the member's rights over their data (member_api): GET,
 * PUT and DELETE profile, GET export.
 */


#include "ngx_http_member_module.h"


ngx_int_t
ngx_http_member_register(ngx_http_request_t *r)
{
    return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found", "soon");
}


ngx_int_t
ngx_http_member_profile(ngx_http_request_t *r)
{
    return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found", "soon");
}


ngx_int_t
ngx_http_member_export(ngx_http_request_t *r)
{
    return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found", "soon");
}
