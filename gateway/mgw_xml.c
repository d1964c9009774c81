/*
 * A bounded reader of WeChat's flat XML pushes on Expat (spec sections 4,
 * 12): <xml> with child elements, no DTD, no entities beyond the five
 * predefined ones and character references.
 */

#include <stdio.h>
#include <string.h>

#include <expat.h>

#include "member_gateway.h"


typedef struct {
    mgw_xml_t        *x;
    XML_Parser        parser;
    mgw_status_t      rc;
    unsigned          depth;
    unsigned          max_depth;
    size_t            max_fields;

    /* the field whose value is being collected */
    mgw_xml_field_t  *open;
    unsigned          open_depth;
    size_t            value_start;
    size_t            protected_end;
    unsigned          in_cdata:1;
    unsigned          seen_cdata:1;

    /* the depth-2 field, for the names of its children */
    mgw_xml_field_t  *parent;
} mgw_xml_ctx_t;


static void XMLCALL mgw_xml_start(void *data, const XML_Char *name,
    const XML_Char **attrs);
static void XMLCALL mgw_xml_end(void *data, const XML_Char *name);
static void XMLCALL mgw_xml_text(void *data, const XML_Char *s, int len);
static void XMLCALL mgw_xml_cdata_start(void *data);
static void XMLCALL mgw_xml_cdata_end(void *data);
static void XMLCALL mgw_xml_doctype(void *data, const XML_Char *name,
    const XML_Char *sysid, const XML_Char *pubid, int has_internal_subset);
static void XMLCALL mgw_xml_entity_decl(void *data, const XML_Char *name,
    int is_parameter_entity, const XML_Char *value, int value_length,
    const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
    const XML_Char *notation);
static void XMLCALL mgw_xml_skipped_entity(void *data,
    const XML_Char *name, int is_parameter_entity);
static int XMLCALL mgw_xml_external_entity(XML_Parser parser,
    const XML_Char *context, const XML_Char *base, const XML_Char *sysid,
    const XML_Char *pubid);
static void mgw_xml_fail(mgw_xml_ctx_t *ctx, mgw_status_t rc,
    const char *msg);
static int mgw_xml_append(mgw_xml_ctx_t *ctx, const void *p, size_t len,
    size_t counted);
static void mgw_xml_close_value(mgw_xml_ctx_t *ctx);
static int mgw_xml_is_space(uint8_t c);


void
mgw_xml_init(mgw_xml_t *x, uint8_t *store, size_t store_cap)
{
    memset(x, 0, sizeof(mgw_xml_t));

    x->max_size = MGW_XML_SIZE_MAX;
    x->max_fields = MGW_XML_FIELDS_MAX;
    x->max_value = MGW_XML_SIZE_MAX;
    x->max_depth = MGW_XML_DEPTH_MAX;

    x->store = store;
    x->store_cap = store_cap;
}


mgw_status_t
mgw_xml_parse(mgw_xml_t *x, const uint8_t *p, size_t len)
{
    size_t          max_size;
    XML_Parser      parser;
    mgw_xml_ctx_t   ctx;
    enum XML_Error  err;

    if (x == NULL || (p == NULL && len != 0)) {
        return MGW_ERR_ARG;
    }

    x->nfields = 0;
    x->store_used = 0;
    x->errstr[0] = '\0';

    if (x->store == NULL) {
        return MGW_ERR_ARG;
    }

    max_size = x->max_size < MGW_XML_SIZE_MAX ? x->max_size : MGW_XML_SIZE_MAX;

    if (len > max_size) {
        snprintf(x->errstr, sizeof(x->errstr), "document too large");
        return MGW_ERR_LIMIT;
    }

    /*
     * a byte-order mark makes Expat read UTF-16 whatever it is told; any
     * UTF-16 or UTF-32 document has NUL bytes, and UTF-8 XML has none
     */

    if (len != 0 && memchr(p, '\0', len) != NULL) {
        snprintf(x->errstr, sizeof(x->errstr), "NUL byte, not UTF-8");
        return MGW_ERR_XML;
    }

    memset(&ctx, 0, sizeof(mgw_xml_ctx_t));

    ctx.x = x;
    ctx.rc = MGW_OK;
    ctx.max_depth = x->max_depth < MGW_XML_DEPTH_MAX ? x->max_depth
                                                     : MGW_XML_DEPTH_MAX;
    ctx.max_fields = x->max_fields < MGW_XML_FIELDS_MAX ? x->max_fields
                                                        : MGW_XML_FIELDS_MAX;

    /* "UTF-8" overrides whatever the XML declaration says */

    parser = XML_ParserCreate("UTF-8");
    if (parser == NULL) {
        snprintf(x->errstr, sizeof(x->errstr), "out of memory");
        return MGW_ERR_LIMIT;
    }

    ctx.parser = parser;

    XML_SetUserData(parser, &ctx);
    XML_SetElementHandler(parser, mgw_xml_start, mgw_xml_end);
    XML_SetCharacterDataHandler(parser, mgw_xml_text);
    XML_SetCdataSectionHandler(parser, mgw_xml_cdata_start, mgw_xml_cdata_end);

    /* no DTD at all: that rules out entity expansion bombs and XXE */

    XML_SetStartDoctypeDeclHandler(parser, mgw_xml_doctype);
    XML_SetEntityDeclHandler(parser, mgw_xml_entity_decl);
    XML_SetSkippedEntityHandler(parser, mgw_xml_skipped_entity);
    XML_SetExternalEntityRefHandler(parser, mgw_xml_external_entity);
    XML_SetParamEntityParsing(parser, XML_PARAM_ENTITY_PARSING_NEVER);

    if (XML_Parse(parser, (const char *) p, (int) len, 1) != XML_STATUS_OK) {

        if (ctx.rc == MGW_OK) {
            err = XML_GetErrorCode(parser);
            ctx.rc = MGW_ERR_XML;
            snprintf(x->errstr, sizeof(x->errstr), "%s at line %lu",
                     XML_ErrorString(err),
                     (unsigned long) XML_GetCurrentLineNumber(parser));
        }
    }

    XML_ParserFree(parser);

    if (ctx.rc != MGW_OK) {
        x->nfields = 0;
    }

    return ctx.rc;
}


mgw_status_t
mgw_xml_get(const mgw_xml_t *x, const char *name, size_t name_len,
    const char **value, size_t *value_len)
{
    size_t  i;

    if (x == NULL || name == NULL) {
        return MGW_ERR_ARG;
    }

    for (i = 0; i < x->nfields; i++) {
        if (x->fields[i].name_len == name_len
            && memcmp(x->fields[i].name, name, name_len) == 0)
        {
            if (value != NULL) {
                *value = x->fields[i].value;
            }

            if (value_len != NULL) {
                *value_len = x->fields[i].value_len;
            }

            return MGW_OK;
        }
    }

    return MGW_ERR_NOT_FOUND;
}


static void XMLCALL
mgw_xml_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
    mgw_xml_ctx_t  *ctx = data;

    size_t            i, n, start;
    mgw_xml_t        *x;
    mgw_xml_field_t  *f;

    (void) attrs;

    if (ctx->rc != MGW_OK) {
        return;
    }

    x = ctx->x;

    if (++ctx->depth > ctx->max_depth) {
        mgw_xml_fail(ctx, MGW_ERR_LIMIT, "too deep");
        return;
    }

    n = strlen(name);

    if (ctx->depth == 1) {
        if (n != 3 || memcmp(name, "xml", 3) != 0) {
            mgw_xml_fail(ctx, MGW_ERR_XML, "root element is not <xml>");
        }

        return;
    }

    if (n > MGW_XML_NAME_MAX) {
        mgw_xml_fail(ctx, MGW_ERR_LIMIT, "element name too long");
        return;
    }

    if (x->nfields >= ctx->max_fields) {
        mgw_xml_fail(ctx, MGW_ERR_LIMIT, "too many fields");
        return;
    }

    /* a nested element ends the text of its parent */

    if (ctx->open != NULL) {
        mgw_xml_close_value(ctx);
        if (ctx->rc != MGW_OK) {
            return;
        }
    }

    start = x->store_used;

    if (ctx->depth == 3) {
        if (mgw_xml_append(ctx, ctx->parent->name, ctx->parent->name_len, 0)
            != 0
            || mgw_xml_append(ctx, "/", 1, 0) != 0)
        {
            return;
        }
    }

    if (mgw_xml_append(ctx, name, n, 0) != 0) {
        return;
    }

    n = x->store_used - start;

    for (i = 0; i < x->nfields; i++) {
        if (x->fields[i].name_len == n
            && memcmp(x->fields[i].name, x->store + start, n) == 0)
        {
            mgw_xml_fail(ctx, MGW_ERR_XML, "duplicate field");
            return;
        }
    }

    if (mgw_xml_append(ctx, "", 1, 0) != 0) {
        return;
    }

    f = &x->fields[x->nfields++];

    f->name = (const char *) x->store + start;
    f->name_len = n;
    f->value = "";
    f->value_len = 0;

    if (ctx->depth == 2) {
        ctx->parent = f;
    }

    ctx->open = f;
    ctx->open_depth = ctx->depth;
    ctx->value_start = x->store_used;
    ctx->protected_end = x->store_used;
    ctx->seen_cdata = 0;
}


static void XMLCALL
mgw_xml_end(void *data, const XML_Char *name)
{
    mgw_xml_ctx_t  *ctx = data;

    (void) name;

    if (ctx->rc != MGW_OK) {
        return;
    }

    if (ctx->open != NULL && ctx->open_depth == ctx->depth) {
        mgw_xml_close_value(ctx);
    }

    ctx->depth--;
}


static void XMLCALL
mgw_xml_text(void *data, const XML_Char *s, int len)
{
    mgw_xml_ctx_t  *ctx = data;

    size_t          i, k, n;
    const uint8_t  *p;

    if (ctx->rc != MGW_OK || len <= 0) {
        return;
    }

    p = (const uint8_t *) s;
    n = (size_t) len;

    if (ctx->open == NULL) {
        for (i = 0; i < n; i++) {
            if (!mgw_xml_is_space(p[i])) {
                mgw_xml_fail(ctx, MGW_ERR_XML, "text outside a field");
                return;
            }
        }

        return;
    }

    if (ctx->in_cdata) {
        if (mgw_xml_append(ctx, p, n, n) == 0) {
            ctx->protected_end = ctx->x->store_used;
            ctx->seen_cdata = 1;
        }

        return;
    }

    /* leading whitespace of bare text; CDATA is kept verbatim */

    if (ctx->x->store_used == ctx->value_start && !ctx->seen_cdata) {
        while (n > 0 && mgw_xml_is_space(*p)) {
            p++;
            n--;
        }
    }

    /* whitespace at the end may yet be trimmed: it counts once followed */

    for (k = n; k > 0 && mgw_xml_is_space(p[k - 1]); k--) {
        /* void */
    }

    (void) mgw_xml_append(ctx, p, n, k);
}


static void XMLCALL
mgw_xml_cdata_start(void *data)
{
    mgw_xml_ctx_t  *ctx = data;

    ctx->in_cdata = 1;
    ctx->seen_cdata = 1;
}


static void XMLCALL
mgw_xml_cdata_end(void *data)
{
    mgw_xml_ctx_t  *ctx = data;

    ctx->in_cdata = 0;
}


static void XMLCALL
mgw_xml_doctype(void *data, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int has_internal_subset)
{
    (void) name;
    (void) sysid;
    (void) pubid;
    (void) has_internal_subset;

    mgw_xml_fail(data, MGW_ERR_XML_FORBIDDEN, "DOCTYPE");
}


static void XMLCALL
mgw_xml_entity_decl(void *data, const XML_Char *name,
    int is_parameter_entity, const XML_Char *value, int value_length,
    const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
    const XML_Char *notation)
{
    (void) name;
    (void) is_parameter_entity;
    (void) value;
    (void) value_length;
    (void) base;
    (void) sysid;
    (void) pubid;
    (void) notation;

    mgw_xml_fail(data, MGW_ERR_XML_FORBIDDEN, "entity declaration");
}


static void XMLCALL
mgw_xml_skipped_entity(void *data, const XML_Char *name,
    int is_parameter_entity)
{
    (void) name;
    (void) is_parameter_entity;

    mgw_xml_fail(data, MGW_ERR_XML_FORBIDDEN, "entity reference");
}


static int XMLCALL
mgw_xml_external_entity(XML_Parser parser, const XML_Char *context,
    const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid)
{
    mgw_xml_ctx_t  *ctx;

    (void) context;
    (void) base;
    (void) sysid;
    (void) pubid;

    ctx = XML_GetUserData(parser);

    if (ctx->rc == MGW_OK) {
        ctx->rc = MGW_ERR_XML_FORBIDDEN;
        snprintf(ctx->x->errstr, sizeof(ctx->x->errstr), "external entity");
    }

    return XML_STATUS_ERROR;
}


static void
mgw_xml_fail(mgw_xml_ctx_t *ctx, mgw_status_t rc, const char *msg)
{
    if (ctx->rc != MGW_OK) {
        return;
    }

    ctx->rc = rc;

    snprintf(ctx->x->errstr, sizeof(ctx->x->errstr), "%s at line %lu", msg,
             (unsigned long) XML_GetCurrentLineNumber(ctx->parser));

    XML_StopParser(ctx->parser, XML_FALSE);
}


static int
mgw_xml_append(mgw_xml_ctx_t *ctx, const void *p, size_t len, size_t counted)
{
    mgw_xml_t  *x = ctx->x;

    if (ctx->open != NULL
        && x->store_used - ctx->value_start + counted > x->max_value)
    {
        mgw_xml_fail(ctx, MGW_ERR_LIMIT, "field too long");
        return -1;
    }

    /* keep one byte for the NUL of the value */

    if (len + 1 > x->store_cap - x->store_used) {
        mgw_xml_fail(ctx, MGW_ERR_SPACE, "store too small");
        return -1;
    }

    memcpy(x->store + x->store_used, p, len);
    x->store_used += len;

    return 0;
}


static void
mgw_xml_close_value(mgw_xml_ctx_t *ctx)
{
    size_t            end;
    mgw_xml_t        *x = ctx->x;
    mgw_xml_field_t  *f = ctx->open;

    /* trailing whitespace of bare text, never into CDATA */

    end = x->store_used;

    while (end > ctx->protected_end && mgw_xml_is_space(x->store[end - 1])) {
        end--;
    }

    /* mgw_xml_append() always leaves room for this NUL */

    x->store[end] = '\0';
    x->store_used = end + 1;

    f->value = (const char *) x->store + ctx->value_start;
    f->value_len = end - ctx->value_start;

    ctx->open = NULL;
}


static int
mgw_xml_is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
