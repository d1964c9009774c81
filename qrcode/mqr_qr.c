/*
 * Data to a QR symbol with libqrencode, shared by the PNG and SVG writers.
 */

#include <qrencode.h>

#include "mqr_private.h"


mqr_status_t
mqr_qr_encode(const uint8_t *data, size_t len, QRcode **qr)
{
    size_t         i;
    QRinput       *input;
    QRencodeMode   mode;

    if (data == NULL || len == 0 || len > MQR_QR_DATA_MAX || qr == NULL) {
        return MQR_BAD_ARG;
    }

    mode = QR_MODE_NUM;

    for (i = 0; i < len; i++) {
        if (data[i] < '0' || data[i] > '9') {
            mode = QR_MODE_8;
            break;
        }
    }

    /*
     * Level Q: see member_qrcode.h.  Version 0 lets libqrencode take the
     * smallest symbol that holds the data.
     */

    input = QRinput_new2(0, QR_ECLEVEL_Q);
    if (input == NULL) {
        return MQR_QR;
    }

    if (QRinput_append(input, mode, (int) len, data) != 0) {
        QRinput_free(input);
        return MQR_QR;
    }

    *qr = QRcode_encodeInput(input);
    QRinput_free(input);

    if (*qr == NULL) {
        return MQR_QR;
    }

    return MQR_OK;
}
