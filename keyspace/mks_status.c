/*
 * Names of the statuses, stable enough for logs and metrics.
 */

#include "member_keyspace.h"


const char *
mks_strerror(mks_status_t status)
{
    switch (status) {
    case MKS_OK:
        return "ok";
    case MKS_BAD_ARG:
        return "bad_arg";
    case MKS_TOO_SMALL:
        return "too_small";
    case MKS_UNKNOWN:
        return "unknown_command";
    case MKS_ARITY:
        return "arity";
    case MKS_NO_KEY:
        return "no_key";
    case MKS_CROSSSLOT:
        return "crossslot";
    case MKS_FOREIGN:
        return "foreign";
    case MKS_PATTERN:
        return "pattern";
    }

    return "invalid_status";
}
