
/*
 * ngx_member: routes.  A handler's routes are one table of rows, matched
 * once, first match deciding (ngx_http_member_route_find); see the
 * header for what a row says.
 */


#include "ngx_member_core.h"


ngx_int_t
ngx_http_member_route(ngx_http_request_t *r, ngx_str_t *route)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    route->data = r->uri.data;
    route->len = r->uri.len;

#if (NGX_PCRE)
    if (clcf->regex == NULL)
#endif
    {
        if (route->len >= clcf->name.len
            && ngx_strncmp(route->data, clcf->name.data, clcf->name.len) == 0)
        {
            route->data += clcf->name.len;
            route->len -= clcf->name.len;
        }
    }

    while (route->len && route->data[0] == '/') {
        route->data++;
        route->len--;
    }

    return NGX_OK;
}


/* a capture of a row's pattern, checked by its name */

static ngx_int_t
ngx_http_member_capture_valid(const char *name, size_t len, ngx_str_t *v,
    ngx_http_member_match_t *m)
{
    if (len == 2 && ngx_strncmp(name, "id", 2) == 0) {
        return ngx_http_member_parse_id(v->data, v->len, &m->id) == NGX_OK;
    }

    if (len == 3 && ngx_strncmp(name, "fid", 3) == 0) {
        return ngx_http_member_route_fid_valid(v);
    }

    if (len == 3 && ngx_strncmp(name, "tag", 3) == 0) {
        return v->len <= NGX_HTTP_MEMBER_TAG_MAX * 4;
    }

    return 1;
}


/*
 * The first row whose methods and pattern match the route (and whose
 * typed captures are valid).  A table ends with a row of pattern "**"
 * and no handler; a route too long for any pattern is that row.
 */

ngx_http_member_route_t *
ngx_http_member_route_find(ngx_http_request_t *r,
    ngx_http_member_route_t *routes, ngx_str_t *route,
    ngx_http_member_match_t *m)
{
    size_t                    i, n;
    const char               *p, *q, *name;
    mrl_route_match_t         mm;
    ngx_http_member_route_t  *row;

    ngx_memzero(m, sizeof(ngx_http_member_match_t));

    for (row = routes; row->pattern; row++) {
        if (!mrl_route_match(row->pattern, (const char *) route->data,
                             route->len, &mm))
        {
            continue;
        }

        for (i = 0; i < mm.ncaptures; i++) {
            m->capture[i].data = (u_char *) mm.capture[i].data;
            m->capture[i].len = mm.capture[i].len;
        }

        m->ncaptures = mm.ncaptures;

        /* the captures' names, in order: "<id>", "<fid>", ... */
        for (p = row->pattern, n = 0; n < mm.ncaptures; n++, p = q) {
            name = ngx_strchr(p, '<') + 1;
            q = ngx_strchr(name, '>');

            if (!ngx_http_member_capture_valid(name, q - name,
                                               &m->capture[n], m))
            {
                break;
            }
        }

        if (n < mm.ncaptures) {
            continue;
        }

        if (!(row->methods & r->method)) {
            /* the resource is there, not for this method */
            m->wrong_method |= (row->handler != NULL);
            continue;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "member route \"%V\" is \"%s\"", route, row->pattern);

        m->row = row;

        return row;
    }

    /* the table's last row: no such resource, the headquarters' only */
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member route \"%V\" matches no pattern", route);

    m->ncaptures = 0;
    m->row = row - 1;

    return row - 1;
}


/* the row's handler, or no such resource: 405 when the route is one */

ngx_int_t
ngx_http_member_route_run(ngx_http_request_t *r, ngx_http_member_route_t *row,
    ngx_http_member_match_t *m)
{
    if (row->handler) {
        return row->handler(r, m);
    }

    if (m->wrong_method) {
        return ngx_http_member_method_not_allowed(r);
    }

    return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                 "no such resource");
}


/* a feedback id: the time in ms on 13 digits and 8 hex digits */

ngx_int_t
ngx_http_member_route_fid_valid(ngx_str_t *id)
{
    size_t  i;
    u_char  c;

    if (id->len != NGX_HTTP_MEMBER_FEEDBACK_ID_LEN) {
        return 0;
    }

    for (i = 0; i < id->len; i++) {
        c = id->data[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }

    return 1;
}
