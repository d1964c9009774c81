/*
 * Status codes of the gateway library.
 */

#include "member_gateway.h"


const char *
mgw_status_str(mgw_status_t rc)
{
    switch (rc) {

    case MGW_OK:
        return "ok";

    case MGW_ERR_ARG:
        return "invalid argument";

    case MGW_ERR_SPACE:
        return "buffer too small";

    case MGW_ERR_FORMAT:
        return "malformed input";

    case MGW_ERR_SIGNATURE:
        return "signature mismatch";

    case MGW_ERR_PADDING:
        return "bad padding or length";

    case MGW_ERR_APPID:
        return "appid mismatch";

    case MGW_ERR_CRYPTO:
        return "crypto failure";

    case MGW_ERR_RANDOM:
        return "no random bytes";

    case MGW_ERR_XML:
        return "malformed xml";

    case MGW_ERR_XML_FORBIDDEN:
        return "forbidden xml construct";

    case MGW_ERR_LIMIT:
        return "limit exceeded";

    case MGW_ERR_NOT_FOUND:
        return "not found";

    case MGW_ERR_SERIAL:
        return "unknown serial";

    case MGW_ERR_STALE:
        return "stale timestamp";

    case MGW_ERR_TAG:
        return "authentication tag mismatch";

    case MGW_ERR_KEY:
        return "unusable key";
    }

    return "unknown";
}
