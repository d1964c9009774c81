/*
 * Names of the statuses, stable enough for logs and metrics.
 */

#include "member_rules.h"


const char *
mrl_strerror(mrl_status_t status)
{
    switch (status) {
    case MRL_OK:
        return "ok";
    case MRL_BAD_ARG:
        return "bad_arg";
    case MRL_TOO_SMALL:
        return "too_small";
    case MRL_MALFORMED:
        return "malformed";
    case MRL_BAD_RULES:
        return "bad_rules";
    case MRL_NO_MEMORY:
        return "no_memory";
    }

    return "invalid_status";
}
