
/*
 * ngx_member: the brand's side of members' feedback (ngx_http_member_
 * feedback.c keeps the records and the lists):
 *
 *   member_admin: GET  feedback?status=open|answered   with the member
 *                 POST feedback/<id>/answer {"answer"}
 *
 * An answer is sealed for the feedback's member, like its text, and
 * audited with who answered.
 */


#include "ngx_member_admin.h"


#define NGX_HTTP_MEMBER_FEEDBACK_ANSWER   2000      /* characters */


static ngx_str_t  ngx_http_member_admin_feedback_hget = ngx_string("HGET");


struct ngx_http_member_admin_feedback_s {
    ngx_str_t                   id;
    ngx_str_t                   answer;
};


static void ngx_http_member_admin_feedback_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_member_admin_feedback_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_member_admin_feedback_answered(
    ngx_http_request_t *r, ngx_http_member_call_t *call, redisReply *reply);


/* GET feedback?status=open|answered */

ngx_int_t
ngx_http_member_admin_feedback_list(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    ngx_str_t  status;

    if (ngx_http_arg(r, (u_char *) "status", 6, &status) != NGX_OK) {
        return ngx_http_member_feedback_list(r, &ngx_http_member_feedback_all,
                                             1);
    }

    if (status.len == 4 && ngx_strncmp(status.data, "open", 4) == 0) {
        return ngx_http_member_feedback_list(r,
                                          &ngx_http_member_feedback_open, 1);
    }

    if (status.len == 8 && ngx_strncmp(status.data, "answered", 8) == 0) {
        return ngx_http_member_feedback_list(r,
                                      &ngx_http_member_feedback_answered, 1);
    }

    return ngx_http_member_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                 "status is open or answered");
}


/* POST feedback/<fid>/answer */

ngx_int_t
ngx_http_member_admin_feedback_answer(ngx_http_request_t *r,
    ngx_http_member_match_t *m)
{
    ngx_http_member_ctx_t             *ctx;
    ngx_http_member_admin_feedback_t  *fb;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);

    fb = ngx_pcalloc(r->pool, sizeof(ngx_http_member_admin_feedback_t));
    if (fb == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    fb->id = m->capture[0];
    ctx->admin_feedback = fb;

    return ngx_http_member_read_json(r, ngx_http_member_admin_feedback_body);
}


static void
ngx_http_member_admin_feedback_body(ngx_http_request_t *r)
{
    json_t                            *json;
    ngx_int_t                          rc;
    ngx_http_member_ctx_t             *ctx;
    ngx_http_member_admin_feedback_t  *fb;

    json = ngx_http_member_body_json(r, &rc);
    if (json == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    fb = ctx->admin_feedback;

    if (ngx_http_member_feedback_text(json, "answer",
                                      NGX_HTTP_MEMBER_FEEDBACK_ANSWER,
                                      &fb->answer)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, ngx_http_member_bad_field(r, "answer"));
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member admin: feedback %V answered, its record asked",
                   &fb->id);

    /* the record first: the answer is sealed for its member */
    ngx_http_finalize_request(r,
        ngx_http_member_redis_command(r,
                                      ngx_http_member_admin_feedback_found,
                                      &ngx_http_member_admin_feedback_hget,
                                      &ngx_http_member_feedback_key,
                                      &fb->id));
}


static ngx_int_t
ngx_http_member_admin_feedback_found(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    u_char                            *p;
    json_t                            *record;
    uint64_t                           id;
    ngx_str_t                          aad;
    ngx_str_t                    keys[NGX_HTTP_MEMBER_FEEDBACK_ANSWER_NKEYS];
    ngx_str_t                    args[NGX_HTTP_MEMBER_FEEDBACK_ANSWER_NARGV];
    json_error_t                       err;
    ngx_http_member_ctx_t             *ctx;
    ngx_http_member_admin_feedback_t  *fb;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    fb = ctx->admin_feedback;

    if (reply->type == REDIS_REPLY_NIL) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such feedback");
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    record = json_loadb(reply->str, reply->len, 0, &err);
    id = record ? json_integer_value(json_object_get(record, "member_id"))
                : 0;
    json_decref(record);

    if (id == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "member: feedback %V has a bad record", &fb->id);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member admin: feedback %V is member %uL's, answer sent",
                   &fb->id, id);

    if (ngx_http_member_feedback_aad(r, id, &fb->id, ":answer", &aad)
        != NGX_OK
        || ngx_http_member_pii_seal(r, &aad, &fb->answer,
                             &args[NGX_HTTP_MEMBER_FEEDBACK_ANSWER_ARGV_ANSWER])
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[NGX_HTTP_MEMBER_FEEDBACK_ANSWER_ARGV_ID] = fb->id;
    args[NGX_HTTP_MEMBER_FEEDBACK_ANSWER_ARGV_NOW].data = p;
    args[NGX_HTTP_MEMBER_FEEDBACK_ANSWER_ARGV_NOW].len =
                                           ngx_sprintf(p, "%T", ngx_time()) - p;
    ngx_http_member_admin_actor(r,
                               &args[NGX_HTTP_MEMBER_FEEDBACK_ANSWER_ARGV_WHO]);

    keys[NGX_HTTP_MEMBER_FEEDBACK_ANSWER_KEY_FEEDBACK] =
                                                   ngx_http_member_feedback_key;
    keys[NGX_HTTP_MEMBER_FEEDBACK_ANSWER_KEY_OPEN] =
                                                  ngx_http_member_feedback_open;
    keys[NGX_HTTP_MEMBER_FEEDBACK_ANSWER_KEY_ANSWERED] =
                                              ngx_http_member_feedback_answered;

    return ngx_http_member_redis_script(r,
                                    NGX_HTTP_MEMBER_SCRIPT_FEEDBACK_ANSWER,
                                    ngx_http_member_admin_feedback_answered,
                                    keys, args, 0);
}


static ngx_int_t
ngx_http_member_admin_feedback_answered(ngx_http_request_t *r,
    ngx_http_member_call_t *call, redisReply *reply)
{
    json_t                            *answer;
    ngx_http_member_ctx_t             *ctx;
    ngx_http_member_admin_feedback_t  *fb;

    ctx = ngx_http_get_module_ctx(r, ngx_http_member_module);
    fb = ctx->admin_feedback;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "member admin: feedback %V answer stored: %d",
                   &fb->id, reply->type);

    if (ngx_http_member_redis_is_error(reply, "NOT_FOUND")) {
        return ngx_http_member_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such feedback");
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_member_reply_script_error(r, reply);
    }

    ngx_http_member_audit_set(r,
                              json_pack("{s:s%}", "status", reply->str,
                                        (size_t) reply->len),
                              json_pack("{s:s}", "status", "answered"));

    answer = json_pack("{s:s%,s:s}", "feedback_id", fb->id.data, fb->id.len,
                       "status", "answered");

    return ngx_http_member_send_json(r, NGX_HTTP_OK, answer);
}
