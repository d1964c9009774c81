/*
 * QR symbol to SVG text in a caller buffer: one path of horizontal runs.
 */

#include <string.h>

#include "mqr_private.h"


typedef struct {
    char    *out;
    size_t   cap;
    size_t   len;
} mqr_svg_sink_t;


static void mqr_svg_put(mqr_svg_sink_t *sink, const char *s, size_t n);
static void mqr_svg_put_str(mqr_svg_sink_t *sink, const char *s);
static void mqr_svg_put_uint(mqr_svg_sink_t *sink, uint64_t v);


mqr_status_t
mqr_svg(const uint8_t *data, size_t len, unsigned module_px, char *out,
    size_t out_cap, size_t *out_len)
{
    int              x, y, x0;
    QRcode          *qr;
    unsigned         size;
    mqr_status_t     rc;
    mqr_svg_sink_t   sink;
    const uint8_t   *row;

    if (module_px > MQR_SVG_MODULE_PX_MAX || out_len == NULL
        || (out == NULL && out_cap != 0))
    {
        return MQR_BAD_ARG;
    }

    rc = mqr_qr_encode(data, len, &qr);
    if (rc != MQR_OK) {
        return rc;
    }

    sink.out = out;
    sink.cap = out_cap;
    sink.len = 0;

    size = (unsigned) qr->width + 2 * MQR_QUIET_ZONE;

    mqr_svg_put_str(&sink, "<svg xmlns=\"http://www.w3.org/2000/svg\"");

    if (module_px) {
        mqr_svg_put_str(&sink, " width=\"");
        mqr_svg_put_uint(&sink, (uint64_t) size * module_px);
        mqr_svg_put_str(&sink, "\" height=\"");
        mqr_svg_put_uint(&sink, (uint64_t) size * module_px);
        mqr_svg_put_str(&sink, "\"");
    }

    mqr_svg_put_str(&sink, " viewBox=\"0 0 ");
    mqr_svg_put_uint(&sink, size);
    mqr_svg_put_str(&sink, " ");
    mqr_svg_put_uint(&sink, size);
    mqr_svg_put_str(&sink, "\" shape-rendering=\"crispEdges\">"
                           "<rect width=\"100%\" height=\"100%\""
                           " fill=\"#fff\"/><path d=\"");

    /* bit 0 of a libqrencode module is set when the module is dark */

    for (y = 0; y < qr->width; y++) {
        row = qr->data + (size_t) y * qr->width;
        x = 0;

        while (x < qr->width) {
            if (!(row[x] & 1)) {
                x++;
                continue;
            }

            x0 = x;

            while (x < qr->width && (row[x] & 1)) {
                x++;
            }

            mqr_svg_put_str(&sink, "M");
            mqr_svg_put_uint(&sink, (uint64_t) x0 + MQR_QUIET_ZONE);
            mqr_svg_put_str(&sink, " ");
            mqr_svg_put_uint(&sink, (uint64_t) y + MQR_QUIET_ZONE);
            mqr_svg_put_str(&sink, "h");
            mqr_svg_put_uint(&sink, (uint64_t) (x - x0));
            mqr_svg_put_str(&sink, "v1h-");
            mqr_svg_put_uint(&sink, (uint64_t) (x - x0));
            mqr_svg_put_str(&sink, "z");
        }
    }

    mqr_svg_put_str(&sink, "\"/></svg>\n");

    QRcode_free(qr);

    *out_len = sink.len;

    if (sink.len > sink.cap) {
        return MQR_TOO_SMALL;
    }

    return MQR_OK;
}


/* counts past the capacity, so that MQR_TOO_SMALL knows the size needed */

static void
mqr_svg_put(mqr_svg_sink_t *sink, const char *s, size_t n)
{
    if (n > 0 && sink->len <= sink->cap && n <= sink->cap - sink->len) {
        memcpy(sink->out + sink->len, s, n);
    }

    sink->len += n;
}


static void
mqr_svg_put_str(mqr_svg_sink_t *sink, const char *s)
{
    mqr_svg_put(sink, s, strlen(s));
}


static void
mqr_svg_put_uint(mqr_svg_sink_t *sink, uint64_t v)
{
    char    buf[20];
    size_t  i;

    i = sizeof(buf);

    do {
        buf[--i] = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    mqr_svg_put(sink, buf + i, sizeof(buf) - i);
}
