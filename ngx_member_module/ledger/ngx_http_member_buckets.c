
/*
 * ngx_member: the buckets of the brand's hot keys (docs/keys.md).
 *
 * Every member write hints the fold and the WeChat outbox, and a purchase
 * schedules the sweep.  One key each would put every write of a brand on
 * one slot: one shard of a cluster would take them all.  Each is
 * NGX_HTTP_MEMBER_BUCKETS keys instead, the bucket the member id mod 16,
 * each with a hash tag of its own ({b:fold:7}, {b:fold:7}:gen), so the
 * buckets spread over the cluster.  Whoever reads them goes round the
 * buckets and one more source, the key of before ({b}:fold, ledger:due,
 * ...), which an upgrade may have left members in: drained until empty,
 * never written again but by its own readers.
 */


#include "ngx_member_ledger.h"


typedef struct {
    const char                   *tag;
    const char                   *suffix;
    ngx_str_t                     legacy;
} ngx_http_member_bucket_kind_t;


static ngx_http_member_bucket_kind_t  ngx_http_member_bucket_kinds[] = {
    [NGX_HTTP_MEMBER_BUCKET_FOLD] =
        { "fold", "", ngx_string("{b}:fold") },
    [NGX_HTTP_MEMBER_BUCKET_FOLD_GEN] =
        { "fold", ":gen", ngx_string("{b}:fold:gen") },
    [NGX_HTTP_MEMBER_BUCKET_WX] =
        { "wx", "", ngx_string("{b}:wx") },
    [NGX_HTTP_MEMBER_BUCKET_WX_TRIES] =
        { "wx", ":tries", ngx_string("{b}:wx:tries") },
    [NGX_HTTP_MEMBER_BUCKET_DUE] =
        { "due", "", ngx_string("ledger:due") }
};


/*
 * The key of a kind in a source: a bucket (0..15), or the key of before
 * (NGX_HTTP_MEMBER_BUCKET_LEGACY); buf holds NGX_HTTP_MEMBER_BUCKET_KEY_LEN
 */

ngx_str_t
ngx_http_member_bucket_key(u_char *buf, ngx_uint_t kind, ngx_uint_t source)
{
    ngx_str_t                       key;
    ngx_http_member_bucket_kind_t  *k;

    k = &ngx_http_member_bucket_kinds[kind];

    if (source >= NGX_HTTP_MEMBER_BUCKETS) {
        return k->legacy;
    }

    key.data = buf;
    key.len = ngx_sprintf(buf, "{b:%s:%ui}%s", k->tag, source, k->suffix)
              - buf;

    return key;
}


/* the key of a kind in the bucket of a member */

ngx_str_t
ngx_http_member_bucket_of(u_char *buf, ngx_uint_t kind, uint64_t id)
{
    ngx_uint_t  bucket;

    bucket = (ngx_uint_t) (id % NGX_HTTP_MEMBER_BUCKETS);

    return ngx_http_member_bucket_key(buf, kind, bucket);
}
