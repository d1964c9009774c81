/*
 * Names of the statuses, stable enough for logs and metrics.
 */

#include "member_qrcode.h"


const char *
mqr_strerror(mqr_status_t status)
{
    switch (status) {
    case MQR_OK:
        return "ok";
    case MQR_BAD_ARG:
        return "bad_arg";
    case MQR_TOO_SMALL:
        return "too_small";
    case MQR_MALFORMED:
        return "malformed";
    case MQR_UNKNOWN:
        return "unknown";
    case MQR_EXPIRED:
        return "expired";
    case MQR_CRYPTO:
        return "crypto";
    case MQR_QR:
        return "qr";
    case MQR_PNG:
        return "png";
    }

    return "invalid_status";
}
