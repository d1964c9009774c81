/*
 * QR symbol to a 1-bit grayscale PNG in a caller buffer, with libpng.
 */

#include <string.h>

#include <png.h>
#include <zlib.h>

#include "mqr_private.h"


#define MQR_PNG_ROW_MAX                                                      \
    (((177 + 2 * MQR_QUIET_ZONE) * MQR_PNG_MODULE_PX_MAX + 7) / 8)


typedef struct {
    uint8_t  *out;
    size_t    cap;
    size_t    len;
} mqr_png_sink_t;


static mqr_status_t mqr_png_write_qr(const QRcode *qr, unsigned module_px,
    mqr_png_sink_t *sink);
static void mqr_png_fill_row(uint8_t *row, size_t row_len,
    const unsigned char *modules, int width, unsigned module_px);
static void mqr_png_write_data(png_structp png, png_bytep data, size_t n);
static void mqr_png_flush(png_structp png);
static void mqr_png_error(png_structp png, png_const_charp msg);
static void mqr_png_warning(png_structp png, png_const_charp msg);


mqr_status_t
mqr_png(const uint8_t *data, size_t len, unsigned module_px, uint8_t *out,
    size_t out_cap, size_t *out_len)
{
    QRcode          *qr;
    mqr_status_t     rc;
    mqr_png_sink_t   sink;

    if (module_px == 0) {
        module_px = MQR_PNG_MODULE_PX;
    }

    if (module_px > MQR_PNG_MODULE_PX_MAX || out_len == NULL
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

    rc = mqr_png_write_qr(qr, module_px, &sink);
    QRcode_free(qr);

    if (rc != MQR_OK) {
        return rc;
    }

    *out_len = sink.len;

    if (sink.len > sink.cap) {
        return MQR_TOO_SMALL;
    }

    return MQR_OK;
}


/*
 * Nothing that changes after setjmp() is read after the longjmp(), so no
 * local needs to be volatile.
 */

static mqr_status_t
mqr_png_write_qr(const QRcode *qr, unsigned module_px, mqr_png_sink_t *sink)
{
    int            y;
    size_t         row_len;
    unsigned       i, k;
    uint8_t        row[MQR_PNG_ROW_MAX];
    png_infop      info;
    png_structp    png;
    png_uint_32    size;

    size = (png_uint_32) (qr->width + 2 * MQR_QUIET_ZONE) * module_px;
    row_len = (size + 7) / 8;

    if (qr->width <= 0 || qr->width > 177 || row_len > sizeof(row)) {
        return MQR_QR;
    }

    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
                                  mqr_png_error, mqr_png_warning);
    if (png == NULL) {
        return MQR_PNG;
    }

    info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        return MQR_PNG;
    }

    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return MQR_PNG;
    }

    png_set_write_fn(png, sink, mqr_png_write_data, mqr_png_flush);

    /*
     * zlib level 1 with memLevel 3: the pixel rows repeat module_px times,
     * which the fastest level finds as well as any; memLevel 3 keeps the
     * hash table at 1K entries, whose setup (memLevel 8: 32K) cost more
     * than the deflating.  An 18-digit code at 8 px: 368 bytes in ~24 us
     * of PNG work, against 234 bytes in ~90 us at zlib's defaults.
     * libpng leaves 1-bit rows unfiltered, which suits them.
     */

    png_set_compression_level(png, Z_BEST_SPEED);
    png_set_compression_mem_level(png, 3);

    png_set_IHDR(png, info, size, size, 1, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_BASE,
                 PNG_FILTER_TYPE_BASE);
    png_write_info(png, info);

    /* the quiet zone above and below: white, 1 bits */

    memset(row, 0xff, row_len);

    for (i = 0; i < MQR_QUIET_ZONE * module_px; i++) {
        png_write_row(png, row);
    }

    for (y = 0; y < qr->width; y++) {
        mqr_png_fill_row(row, row_len, qr->data + (size_t) y * qr->width,
                         qr->width, module_px);

        for (k = 0; k < module_px; k++) {
            png_write_row(png, row);
        }
    }

    memset(row, 0xff, row_len);

    for (i = 0; i < MQR_QUIET_ZONE * module_px; i++) {
        png_write_row(png, row);
    }

    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);

    return MQR_OK;
}


/* bit 0 of a libqrencode module is set when the module is dark */

static void
mqr_png_fill_row(uint8_t *row, size_t row_len, const unsigned char *modules,
    int width, unsigned module_px)
{
    int       x;
    size_t    px, end;

    memset(row, 0xff, row_len);

    for (x = 0; x < width; x++) {
        if (!(modules[x] & 1)) {
            continue;
        }

        px = (size_t) (MQR_QUIET_ZONE + x) * module_px;

        for (end = px + module_px; px < end; px++) {
            row[px >> 3] &= (uint8_t) ~(0x80 >> (px & 7));
        }
    }
}


/* counts past the capacity, so that MQR_TOO_SMALL knows the size needed */

static void
mqr_png_write_data(png_structp png, png_bytep data, size_t n)
{
    mqr_png_sink_t  *sink;

    sink = png_get_io_ptr(png);

    if (n > 0 && sink->len <= sink->cap && n <= sink->cap - sink->len) {
        memcpy(sink->out + sink->len, data, n);
    }

    sink->len += n;
}


static void
mqr_png_flush(png_structp png)
{
    (void) png;
}


/* libpng's own handler would print to stderr */

static void
mqr_png_error(png_structp png, png_const_charp msg)
{
    (void) msg;

    png_longjmp(png, 1);
}


static void
mqr_png_warning(png_structp png, png_const_charp msg)
{
    (void) png;
    (void) msg;
}
