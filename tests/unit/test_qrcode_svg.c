/*
 * SVG images.  No SVG rasteriser is installed (no rsvg-convert, no
 * ImageMagick svg coder), so the test draws the path itself, with a parser
 * that knows only the commands the writer uses, into a PGM that zbarimg
 * reads; and compares the drawing with the PNG of the same data.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <png.h>

#include "member_qrcode.h"


#define SVG_MAX   65536
#define GRID_MAX  (177 + 2 * MQR_QUIET_ZONE)


static const uint8_t  secret[] = "0123456789abcdef0123456789abcdef";


static int
have_zbarimg(void)
{
    return system("command -v zbarimg >/dev/null 2>&1") == 0;
}


static size_t
count(const char *s, size_t len, const char *what)
{
    size_t  n, i, w;

    w = strlen(what);
    n = 0;

    for (i = 0; i + w <= len; i++) {
        if (memcmp(s + i, what, w) == 0) {
            n++;
        }
    }

    return n;
}


/*
 * Draws the one path of svg into grid (1 = dark), returns the size in
 * modules from the viewBox.  Fails on anything unexpected.
 */

static unsigned
draw(const char *svg, size_t len, uint8_t grid[GRID_MAX][GRID_MAX])
{
    char          *text, *p, *end;
    unsigned       size, size2;
    unsigned long  x, y, n, n2, i;

    text = malloc(len + 1);
    assert_non_null(text);
    memcpy(text, svg, len);
    text[len] = '\0';

    p = strstr(text, "viewBox=\"0 0 ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "viewBox=\"0 0 %u %u\"", &size, &size2), 2);
    assert_int_equal(size, size2);
    assert_true(size <= GRID_MAX);

    memset(grid, 0, GRID_MAX * GRID_MAX);

    p = strstr(text, "<path d=\"");
    assert_non_null(p);
    p += strlen("<path d=\"");

    while (*p == 'M') {
        x = strtoul(p + 1, &end, 10);
        assert_int_equal(*end, ' ');
        y = strtoul(end + 1, &end, 10);
        assert_int_equal(*end, 'h');
        n = strtoul(end + 1, &end, 10);
        assert_memory_equal(end, "v1h-", 4);
        n2 = strtoul(end + 4, &end, 10);
        assert_int_equal(*end, 'z');
        p = end + 1;

        assert_int_equal(n, n2);
        assert_true(n > 0 && x + n <= size - MQR_QUIET_ZONE);
        assert_true(x >= MQR_QUIET_ZONE && y >= MQR_QUIET_ZONE);
        assert_true(y < size - MQR_QUIET_ZONE);

        for (i = x; i < x + n; i++) {
            assert_int_equal(grid[y][i], 0);
            grid[y][i] = 1;
        }
    }

    assert_string_equal(p, "\"/></svg>\n");

    free(text);

    return size;
}


static void
decode_grid(uint8_t grid[GRID_MAX][GRID_MAX], unsigned size, char *text,
    size_t text_cap)
{
    int        fd;
    char       path[64], cmd[128];
    FILE      *f, *p;
    size_t     n;
    unsigned   x, y, k;
    const int  px = 4;

    snprintf(path, sizeof(path), "/tmp/test_qrcode_XXXXXX.pgm");
    fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    f = fdopen(fd, "wb");
    assert_non_null(f);

    fprintf(f, "P5\n%u %u\n255\n", size * px, size * px);

    for (y = 0; y < size * px; y++) {
        for (x = 0; x < size; x++) {
            for (k = 0; k < px; k++) {
                fputc(grid[y / px][x] ? 0 : 255, f);
            }
        }
    }

    assert_int_equal(fclose(f), 0);

    snprintf(cmd, sizeof(cmd), "zbarimg -q --raw %s 2>/dev/null", path);
    p = popen(cmd, "r");
    assert_non_null(p);

    n = fread(text, 1, text_cap - 1, p);
    text[n] = '\0';
    pclose(p);
    unlink(path);

    if (n > 0 && text[n - 1] == '\n') {
        text[n - 1] = '\0';
    }
}


static void
test_svg_decodes(void **state)
{
    char      code[MQR_CODE_LEN + 1], text[256], *svg;
    size_t    len;
    unsigned  i, size;
    uint8_t   (*grid)[GRID_MAX];

    (void) state;

    if (!have_zbarimg()) {
        skip();
    }

    svg = malloc(SVG_MAX);
    grid = malloc(GRID_MAX * GRID_MAX);
    assert_non_null(svg);
    assert_non_null(grid);

    for (i = 0; i < 5; i++) {
        assert_int_equal(mqr_code_make(secret, 32, 7 * i, 1764200000, 30,
                                       code), MQR_OK);

        assert_int_equal(mqr_svg((const uint8_t *) code, MQR_CODE_LEN, 0, svg,
                                 SVG_MAX, &len), MQR_OK);

        size = draw(svg, len, grid);
        assert_int_equal(size, 21 + 2 * MQR_QUIET_ZONE);

        decode_grid(grid, size, text, sizeof(text));
        assert_string_equal(text, code);
    }

    /* 8-bit mode (ASCII: without an ECI header readers guess the charset) */

    assert_int_equal(mqr_svg((const uint8_t *) "Member-Card: 42", 15, 0, svg,
                             SVG_MAX, &len), MQR_OK);
    size = draw(svg, len, grid);
    decode_grid(grid, size, text, sizeof(text));
    assert_string_equal(text, "Member-Card: 42");

    free(grid);
    free(svg);
}


/* the SVG and the PNG at 1 px per module show the same modules */

static void
test_svg_matches_png(void **state)
{
    char         *svg;
    size_t        len, png_len, x, y;
    uint8_t      *png, *pixels;
    unsigned      size;
    png_image     image;
    uint8_t     (*grid)[GRID_MAX];

    static const char  data[] = "https://example.com/member?id=42";

    (void) state;

    svg = malloc(SVG_MAX);
    png = malloc(SVG_MAX);
    grid = malloc(GRID_MAX * GRID_MAX);
    assert_non_null(svg);
    assert_non_null(png);
    assert_non_null(grid);

    assert_int_equal(mqr_svg((const uint8_t *) data, sizeof(data) - 1, 0, svg,
                             SVG_MAX, &len), MQR_OK);
    size = draw(svg, len, grid);

    assert_int_equal(mqr_png((const uint8_t *) data, sizeof(data) - 1, 1, png,
                             SVG_MAX, &png_len), MQR_OK);

    memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_memory(&image, png, png_len));
    assert_int_equal(image.width, size);
    assert_int_equal(image.height, size);

    image.format = PNG_FORMAT_GRAY;
    pixels = malloc(PNG_IMAGE_SIZE(image));
    assert_non_null(pixels);
    assert_true(png_image_finish_read(&image, NULL, pixels, 0, NULL));

    for (y = 0; y < size; y++) {
        for (x = 0; x < size; x++) {
            assert_int_equal(pixels[y * size + x], grid[y][x] ? 0 : 255);
        }
    }

    free(pixels);
    free(grid);
    free(png);
    free(svg);
}


static void
test_svg_shape(void **state)
{
    char    svg[SVG_MAX];
    size_t  len;

    (void) state;

    assert_int_equal(mqr_svg((const uint8_t *) "123456789012345678",
                             MQR_CODE_LEN, 0, svg, sizeof(svg), &len),
                     MQR_OK);

    assert_true(len > 200 && len < 4096);
    assert_memory_equal(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" ",
                        40);
    assert_int_equal(count(svg, len, "<path"), 1);
    assert_int_equal(count(svg, len, "viewBox=\"0 0 29 29\""), 1);
    assert_int_equal(count(svg, len, "shape-rendering=\"crispEdges\""), 1);
    assert_int_equal(count(svg, len, "fill=\"#fff\""), 1);
    assert_int_equal(count(svg, len, "svg\" viewBox="), 1);   /* no size */
    assert_memory_equal(svg + len - 7, "</svg>\n", 7);
    assert_null(memchr(svg, '\0', len));

    /* with a size in px */

    assert_int_equal(mqr_svg((const uint8_t *) "123456789012345678",
                             MQR_CODE_LEN, 10, svg, sizeof(svg), &len),
                     MQR_OK);
    assert_int_equal(count(svg, len, " width=\"290\" height=\"290\""), 1);
    assert_int_equal(count(svg, len, "viewBox=\"0 0 29 29\""), 1);
}


static void
test_svg_too_small(void **state)
{
    char    full[SVG_MAX], buf[SVG_MAX];
    size_t  need, cap, len;

    (void) state;

    assert_int_equal(mqr_svg((const uint8_t *) "555555555555555555",
                             MQR_CODE_LEN, 8, full, sizeof(full), &need),
                     MQR_OK);

    len = 0;
    assert_int_equal(mqr_svg((const uint8_t *) "555555555555555555",
                             MQR_CODE_LEN, 8, NULL, 0, &len), MQR_TOO_SMALL);
    assert_int_equal(len, need);

    for (cap = 1; cap < need; cap++) {
        memset(buf, 0x5a, need + 16);
        len = 0;
        assert_int_equal(mqr_svg((const uint8_t *) "555555555555555555",
                                 MQR_CODE_LEN, 8, buf, cap, &len),
                         MQR_TOO_SMALL);
        assert_int_equal(len, need);
        assert_int_equal(buf[cap], 0x5a);
        assert_int_equal(buf[need + 15], 0x5a);
    }

    memset(buf, 0x5a, need + 16);
    assert_int_equal(mqr_svg((const uint8_t *) "555555555555555555",
                             MQR_CODE_LEN, 8, buf, need, &len), MQR_OK);
    assert_int_equal(len, need);
    assert_memory_equal(buf, full, need);
    assert_int_equal(buf[need], 0x5a);
}


static void
test_svg_bad_args(void **state)
{
    char     buf[4096];
    size_t   len;
    uint8_t  big[MQR_QR_DATA_MAX + 1];

    (void) state;

    memset(big, 'a', sizeof(big));

    assert_int_equal(mqr_svg(NULL, 18, 0, buf, sizeof(buf), &len),
                     MQR_BAD_ARG);
    assert_int_equal(mqr_svg((const uint8_t *) "1", 0, 0, buf, sizeof(buf),
                             &len), MQR_BAD_ARG);
    assert_int_equal(mqr_svg(big, sizeof(big), 0, buf, sizeof(buf), &len),
                     MQR_BAD_ARG);
    assert_int_equal(mqr_svg((const uint8_t *) "1", 1,
                             MQR_SVG_MODULE_PX_MAX + 1, buf, sizeof(buf),
                             &len), MQR_BAD_ARG);
    assert_int_equal(mqr_svg((const uint8_t *) "1", 1, 0, NULL, 10, &len),
                     MQR_BAD_ARG);
    assert_int_equal(mqr_svg((const uint8_t *) "1", 1, 0, buf, sizeof(buf),
                             NULL), MQR_BAD_ARG);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_svg_decodes),
        cmocka_unit_test(test_svg_matches_png),
        cmocka_unit_test(test_svg_shape),
        cmocka_unit_test(test_svg_too_small),
        cmocka_unit_test(test_svg_bad_args),
    };

    return cmocka_run_group_tests_name("qrcode_svg", tests, NULL, NULL);
}
