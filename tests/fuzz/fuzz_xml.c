/*
 * libFuzzer target: the bounded XML reader (mgw_xml.c) on any bytes.
 * The first byte picks the limits (depth 2 or 3, a field cap, a value cap);
 * the store is malloc'ed at exactly MGW_XML_STORE_SIZE so that AddressSanitizer
 * sees any write past it.  A parse that succeeds must give fields that are
 * NUL-terminated, within the limits, unique, and found again by mgw_xml_get.
 */

#include <stdlib.h>
#include <string.h>

#include "member_gateway.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t         i, cap, len;
    uint8_t       *store, knobs;
    mgw_xml_t      x;
    const char    *value;
    mgw_status_t   rc;

    if (size < 1) {
        return 0;
    }

    knobs = data[0];
    data++;
    size--;

    cap = MGW_XML_STORE_SIZE(size);
    store = malloc(cap);
    if (store == NULL) {
        return 0;
    }

    mgw_xml_init(&x, store, cap);

    x.max_depth = (knobs & 1) ? 3 : 2;
    x.max_fields = (knobs & 2) ? 8 : MGW_XML_FIELDS_MAX;
    x.max_value = (knobs & 4) ? 16 : MGW_XML_SIZE_MAX;

    rc = mgw_xml_parse(&x, data, size);

    if (rc != MGW_OK) {
        if (x.nfields != 0 || memchr(x.errstr, '\0', sizeof(x.errstr)) == NULL) {
            abort();
        }

        free(store);
        return 0;
    }

    if (x.nfields > x.max_fields || x.store_used > cap) {
        abort();
    }

    for (i = 0; i < x.nfields; i++) {
        if (x.fields[i].name[x.fields[i].name_len] != '\0'
            || x.fields[i].value[x.fields[i].value_len] != '\0'
            || x.fields[i].value_len > x.max_value
            || x.fields[i].name_len > 2 * MGW_XML_NAME_MAX + 1)
        {
            abort();
        }

        if (mgw_xml_get(&x, x.fields[i].name, x.fields[i].name_len, &value,
                        &len)
            != MGW_OK
            || value != x.fields[i].value || len != x.fields[i].value_len)
        {
            abort();                /* not found, or a duplicate name */
        }
    }

    free(store);

    return 0;
}
