/*
 * member-code SECRET PERIOD UNIX_TIME ID [ID...]: prints the dynamic code of
 * each member id at that time, one per line.  For tests and benchmarks,
 * which need codes of other times, of other brands, and many at once.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "member_qrcode.h"


int
main(int argc, char **argv)
{
    int           i;
    char          code[MQR_CODE_LEN + 1];
    char         *end;
    unsigned      period;
    uint64_t      now, id, first, last;
    mqr_status_t  rc;

    if (argc < 5) {
        fprintf(stderr, "usage: member-code SECRET PERIOD UNIX_TIME "
                "ID|FIRST-LAST...\n");
        return 2;
    }

    period = (unsigned) strtoul(argv[2], NULL, 10);
    now = strtoull(argv[3], NULL, 10);

    for (i = 4; i < argc; i++) {
        first = strtoull(argv[i], &end, 10);
        last = (*end == '-') ? strtoull(end + 1, NULL, 10) : first;

        for (id = first; id <= last; id++) {
            rc = mqr_code_make((const uint8_t *) argv[1], strlen(argv[1]),
                               id, now, period, code);
            if (rc != MQR_OK) {
                fprintf(stderr, "member-code: %s\n", mqr_strerror(rc));
                return 1;
            }

            printf("%llu %s\n", (unsigned long long) id, code);
        }
    }

    return 0;
}
