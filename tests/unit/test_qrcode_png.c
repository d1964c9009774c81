/*
 * PNG images: decoded back with zbarimg (zbar-tools), the PNG header,
 * and the buffer capacity at every size short of enough.
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

#include "member_qrcode.h"


#define BUF_SIZE  65536


static const uint8_t  secret[] = "0123456789abcdef0123456789abcdef";


static int
have_zbarimg(void)
{
    return system("command -v zbarimg >/dev/null 2>&1") == 0;
}


/* writes the image to a temporary file and returns what zbarimg reads */

static void
decode_image(const uint8_t *img, size_t len, const char *suffix, char *text,
    size_t text_cap)
{
    int     fd;
    char    path[64], cmd[128];
    FILE   *p;
    size_t  n;

    snprintf(path, sizeof(path), "/tmp/test_qrcode_XXXXXX%s", suffix);
    fd = mkstemps(path, (int) strlen(suffix));
    assert_true(fd >= 0);
    assert_int_equal(write(fd, img, len), (ssize_t) len);
    assert_int_equal(close(fd), 0);

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


static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
           | (uint32_t) p[2] << 8 | p[3];
}


static void
test_png_decodes(void **state)
{
    char      code[MQR_CODE_LEN + 1], text[256];
    size_t    len;
    uint8_t  *buf;
    unsigned  i;

    static const unsigned  px[] = { 0, 2, 4, 8, 16 };

    (void) state;

    if (!have_zbarimg()) {
        skip();
    }

    buf = malloc(BUF_SIZE);
    assert_non_null(buf);

    for (i = 0; i < sizeof(px) / sizeof(px[0]); i++) {
        assert_int_equal(mqr_code_make(secret, 32, 100 + i,
                                       UINT64_C(1764200000) + i * 30, 30,
                                       code), MQR_OK);

        assert_int_equal(mqr_png((const uint8_t *) code, MQR_CODE_LEN, px[i],
                                 buf, BUF_SIZE, &len), MQR_OK);

        decode_image(buf, len, ".png", text, sizeof(text));
        assert_string_equal(text, code);
    }

    /* 8-bit mode, and a long numeric string */

    assert_int_equal(mqr_png((const uint8_t *) "https://example.com/c?x=1",
                             25, 4, buf, BUF_SIZE, &len), MQR_OK);
    decode_image(buf, len, ".png", text, sizeof(text));
    assert_string_equal(text, "https://example.com/c?x=1");

    memset(text, '7', 200);
    assert_int_equal(mqr_png((const uint8_t *) text, 200, 3, buf, BUF_SIZE,
                             &len), MQR_OK);
    decode_image(buf, len, ".png", text, sizeof(text));
    assert_int_equal(strlen(text), 200);
    assert_int_equal(strspn(text, "7"), 200);

    free(buf);
}


static void
test_png_header(void **state)
{
    size_t          len;
    static uint8_t  buf[BUF_SIZE];

    static const uint8_t  sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a,
                                     '\n' };

    (void) state;

    /* 18 digits: version 1, 21 + 2 * 4 modules, 8 px each by default */

    assert_int_equal(mqr_png((const uint8_t *) "123456789012345678",
                             MQR_CODE_LEN, 0, buf, sizeof(buf), &len),
                     MQR_OK);
    assert_true(len > 100 && len < 1024);
    assert_memory_equal(buf, sig, 8);
    assert_memory_equal(buf + 12, "IHDR", 4);
    assert_int_equal(be32(buf + 16), 29 * MQR_PNG_MODULE_PX);
    assert_int_equal(be32(buf + 20), 29 * MQR_PNG_MODULE_PX);
    assert_int_equal(buf[24], 1);              /* bit depth */
    assert_int_equal(buf[25], 0);              /* grayscale */
    assert_memory_equal(buf + len - 8, "IEND", 4);

    /* 27 digits still fit version 1 at level Q, 28 do not */

    assert_int_equal(mqr_png((const uint8_t *) "123456789012345678901234567",
                             27, 1, buf, sizeof(buf), &len), MQR_OK);
    assert_int_equal(be32(buf + 16), 29);
    assert_int_equal(mqr_png((const uint8_t *) "1234567890123456789012345678",
                             28, 1, buf, sizeof(buf), &len), MQR_OK);
    assert_int_equal(be32(buf + 16), 33);

    /* the largest module */

    assert_int_equal(mqr_png((const uint8_t *) "1", 1, MQR_PNG_MODULE_PX_MAX,
                             buf, sizeof(buf), &len), MQR_OK);
    assert_int_equal(be32(buf + 16), 29 * MQR_PNG_MODULE_PX_MAX);
}


static void
test_png_too_small(void **state)
{
    size_t    need, cap, len;
    uint8_t   full[4096], buf[4096 + 16];

    (void) state;

    assert_int_equal(mqr_png((const uint8_t *) "987654321098765432",
                             MQR_CODE_LEN, 0, full, sizeof(full), &need),
                     MQR_OK);

    /* nothing at all: the size needed */

    len = 0;
    assert_int_equal(mqr_png((const uint8_t *) "987654321098765432",
                             MQR_CODE_LEN, 0, NULL, 0, &len), MQR_TOO_SMALL);
    assert_int_equal(len, need);

    /* every capacity short of it: nothing written past it */

    for (cap = 1; cap < need; cap++) {
        memset(buf, 0xa5, sizeof(buf));
        len = 0;
        assert_int_equal(mqr_png((const uint8_t *) "987654321098765432",
                                 MQR_CODE_LEN, 0, buf, cap, &len),
                         MQR_TOO_SMALL);
        assert_int_equal(len, need);
        assert_int_equal(buf[cap], 0xa5);
        assert_int_equal(buf[cap + 15], 0xa5);
    }

    /* exactly enough */

    assert_int_equal(mqr_png((const uint8_t *) "987654321098765432",
                             MQR_CODE_LEN, 0, buf, need, &len), MQR_OK);
    assert_int_equal(len, need);
    assert_memory_equal(buf, full, need);
}


static void
test_png_bad_args(void **state)
{
    size_t   len;
    uint8_t  buf[4096], big[MQR_QR_DATA_MAX + 1];

    (void) state;

    memset(big, '1', sizeof(big));

    assert_int_equal(mqr_png(NULL, 18, 0, buf, sizeof(buf), &len),
                     MQR_BAD_ARG);
    assert_int_equal(mqr_png((const uint8_t *) "1", 0, 0, buf, sizeof(buf),
                             &len), MQR_BAD_ARG);
    assert_int_equal(mqr_png(big, sizeof(big), 1, buf, sizeof(buf), &len),
                     MQR_BAD_ARG);
    assert_int_equal(mqr_png((const uint8_t *) "1", 1,
                             MQR_PNG_MODULE_PX_MAX + 1, buf, sizeof(buf),
                             &len), MQR_BAD_ARG);
    assert_int_equal(mqr_png((const uint8_t *) "1", 1, 0, NULL, 10, &len),
                     MQR_BAD_ARG);
    assert_int_equal(mqr_png((const uint8_t *) "1", 1, 0, buf, sizeof(buf),
                             NULL), MQR_BAD_ARG);

    /* the largest data still makes a symbol */

    assert_int_equal(mqr_png(big, MQR_QR_DATA_MAX, 1, buf, sizeof(buf),
                             &len), MQR_OK);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_png_decodes),
        cmocka_unit_test(test_png_header),
        cmocka_unit_test(test_png_too_small),
        cmocka_unit_test(test_png_bad_args),
    };

    return cmocka_run_group_tests_name("qrcode_png", tests, NULL, NULL);
}
