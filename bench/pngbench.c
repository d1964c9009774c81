/*
 * pngbench: the module's own renderer in process, the counterpart of ../shared/bench/qrbench.c
 * for what GET /api/code.png does per request minus HTTP, Redis and the token: mqr_code_make()
 * (the member's 18-digit code) and mqr_png() (libqrencode at level Q, libpng 1-bit grayscale,
 * 8 px per module, quiet zone 4, zlib level 1 / memLevel 3) into a buffer, single-threaded.
 * A first pass times the codes alone, so the report splits the cost.
 *
 *   pngbench [-n N] [-s MODULE_PX] [-o sample.png]
 *
 * Output (one line, like qrbench's): codes= ... codes_per_s= us_per_code= us_code= us_png=
 * avg_png_bytes= ; with -o also sample_code=<the first code>.
 * Built by bench/codes.sh against build/libmember_qrcode.a.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "member_qrcode.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static const char secret[] = "pngbench-code-secret-0123456789";
    long n = 20000;
    unsigned px = MQR_PNG_MODULE_PX;
    const char *sample = NULL;
    char code[MQR_CODE_LEN + 1];
    uint8_t out[4096];
    size_t len, total = 0;
    uint64_t t = 1767225600;   /* a fixed time: the same codes every run */
    int opt;

    while ((opt = getopt(argc, argv, "n:s:o:")) != -1) {
        switch (opt) {
        case 'n': n = strtol(optarg, NULL, 10); break;
        case 's': px = (unsigned) atoi(optarg); break;
        case 'o': sample = optarg; break;
        default:
            fprintf(stderr, "usage: %s [-n N] [-s MODULE_PX] [-o sample.png]\n", argv[0]);
            return 2;
        }
    }
    if (n < 1) {
        fprintf(stderr, "bad -n\n");
        return 2;
    }

    /* pass 1: the codes alone (HMAC-SHA256 and the locator) */
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        if (mqr_code_make((const uint8_t *) secret, sizeof(secret) - 1, (uint64_t) i + 1, t, 30,
                          code) != MQR_OK) {
            fprintf(stderr, "mqr_code_make failed\n");
            return 1;
        }
    }
    double dt_code = now_s() - t0;

    /* pass 2: code and PNG, what the handler does */
    t0 = now_s();
    for (long i = 0; i < n; i++) {
        mqr_status_t rc = mqr_code_make((const uint8_t *) secret, sizeof(secret) - 1,
                                        (uint64_t) i + 1, t, 30, code);
        if (rc == MQR_OK) {
            rc = mqr_png((const uint8_t *) code, MQR_CODE_LEN, px, out, sizeof(out), &len);
        }
        if (rc != MQR_OK) {
            fprintf(stderr, "member %ld: %s\n", i + 1, mqr_strerror(rc));
            return 1;
        }
        total += len;
        if (i == 0 && sample != NULL) {
            FILE *f = fopen(sample, "wb");
            if (f == NULL || fwrite(out, 1, len, f) != len || fclose(f) != 0) {
                perror(sample);
                return 1;
            }
            printf("sample_code=%s\n", code);
        }
    }
    double dt = now_s() - t0;

    printf("codes=%ld module_px=%u avg_png_bytes=%.0f seconds=%.3f codes_per_s=%.0f "
           "us_per_code=%.2f us_code=%.2f us_png=%.2f\n",
           n, px, (double) total / n, dt, n / dt, dt * 1e6 / n, dt_code * 1e6 / n,
           (dt - dt_code) * 1e6 / n);
    return 0;
}
