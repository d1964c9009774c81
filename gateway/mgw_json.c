/*
 * member_gateway: the checked copy of a string out of WeChat's JSON.
 */

#include <string.h>

#include "mgw_private.h"


int
mgw_json_copy(json_t *v, char *dst, size_t max, size_t *len,
    mgw_char_pt valid)
{
    size_t       i, n;
    const char  *s;

    if (v == NULL || !json_is_string(v)) {
        return -1;
    }

    s = json_string_value(v);
    n = json_string_length(v);

    if (n == 0 || n > max) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (!valid((unsigned char) s[i])) {
            return -1;
        }
    }

    memcpy(dst, s, n);
    dst[n] = '\0';
    *len = n;

    return 0;
}


int
mgw_is_id_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '_' || c == '-';
}
