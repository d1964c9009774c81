/*
 * mgw_status.c: every status has a name.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "member_gateway.h"


static void
test_status_str(void **state)
{
    int          rc, i;
    const char  *names[MGW_ERR_KEY + 1];

    (void) state;

    assert_string_equal(mgw_status_str(MGW_OK), "ok");
    assert_string_equal(mgw_status_str(MGW_ERR_SIGNATURE),
                        "signature mismatch");
    assert_string_equal(mgw_status_str(MGW_ERR_XML_FORBIDDEN),
                        "forbidden xml construct");
    assert_string_equal(mgw_status_str((mgw_status_t) 999), "unknown");

    /* each known status has its own name */

    for (rc = MGW_OK; rc <= MGW_ERR_KEY; rc++) {
        names[rc] = mgw_status_str((mgw_status_t) rc);
        assert_string_not_equal(names[rc], "unknown");

        for (i = 0; i < rc; i++) {
            assert_string_not_equal(names[i], names[rc]);
        }
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_status_str),
    };

    return cmocka_run_group_tests_name("gateway_status", tests, NULL, NULL);
}
