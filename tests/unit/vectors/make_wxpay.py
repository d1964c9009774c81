#!/usr/bin/env python3
"""Fixed WeChat Pay API v3 vectors for tests/unit/test_gateway_wxpay.c.

The signatures come from the `openssl dgst -sha256 -sign` command with the
test-only keys of tests/unit/data/wxpay/ (RSA PKCS#1 v1.5 is
deterministic, so a fixed key gives a fixed signature); the resource from
the `cryptography` package's AESGCM.  Nothing is shared with the C code but
the message layouts of docs/wxpay.md.  Prints C initialisers.

    cd tests/unit/data/wxpay && python3 ../../vectors/make_wxpay.py
"""

import base64
import subprocess

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def sign(key, msg):
    out = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                         input=msg, stdout=subprocess.PIPE, check=True)
    return base64.b64encode(out.stdout)


def c_str(b):
    toks = []
    for c in b:
        if c in (0x22, 0x5c):
            toks.append("\\" + chr(c))
        elif 0x20 <= c < 0x7f:
            toks.append(chr(c))
        else:
            toks.append("\\%03o" % c)
    lines, cur = [], ""
    for t in toks:
        if len(cur) + len(t) > 64:
            lines.append(cur)
            cur = ""
        cur += t
    lines.append(cur)
    return "\n".join('    "%s"' % s for s in lines)


def emit(name, b):
    print("static const char  %s[] =\n%s;\n" % (name, c_str(b)))


JSAPI_BODY = (
    '{"appid":"wx0123456789abcdef","mchid":"1900000001",'
    '"description":"\u5145\u503c 500","out_trade_no":"R20261207000001",'
    '"notify_url":"https://card.example.com/wxpay/notify",'
    '"amount":{"total":50000,"currency":"CNY"},'
    '"payer":{"openid":"oMember0000000000000000001"}}').encode()

emit("jsapi_body", JSAPI_BODY)
emit("jsapi_signature", sign("merchant_key.pem",
     b"POST\n/v3/pay/transactions/jsapi\n1765000000\n"
     b"593BEC0C930BF1AFEB40B4A08C8FB242\n" + JSAPI_BODY + b"\n"))
emit("query_signature", sign("merchant_key.pem",
     b"GET\n/v3/pay/transactions/out-trade-no/R20261207000001"
     b"?mchid=1900000001\n1765000100\nQ7mZ2kR9xW4pL0vN8cT6yB3hF5jD1sGa\n\n"))

APIV3_KEY = b"ngxMemberApiV3Key0123456789abcde"
PLAIN = (
    '{"mchid":"1900000001","appid":"wx0123456789abcdef",'
    '"out_trade_no":"R20261207000001",'
    '"transaction_id":"4200000001202612070000000001",'
    '"trade_type":"JSAPI","trade_state":"SUCCESS",'
    '"trade_state_desc":"\u652f\u4ed8\u6210\u529f","bank_type":"OTHERS",'
    '"attach":"","success_time":"2026-12-07T20:00:00+08:00",'
    '"payer":{"openid":"oMember0000000000000000001"},'
    '"amount":{"total":50000,"payer_total":50000,"currency":"CNY",'
    '"payer_currency":"CNY"}}').encode()
CT = base64.b64encode(AESGCM(APIV3_KEY).encrypt(b"fdasflkja484", PLAIN,
                                                b"transaction"))
NOTIFY = (
    b'{"id":"EV-2018022511223320873",'
    b'"create_time":"2026-12-07T20:00:01+08:00",'
    b'"resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS",'
    + '"summary":"\u652f\u4ed8\u6210\u529f",'.encode()
    + b'"resource":{"original_type":"transaction",'
    b'"algorithm":"AEAD_AES_256_GCM","ciphertext":"' + CT + b'",'
    b'"associated_data":"transaction","nonce":"fdasflkja484"}}')

emit("notify_plain", PLAIN)
emit("notify_ciphertext", CT)
emit("notify_body", NOTIFY)
emit("notify_signature", sign("platform_key.pem",
     b"1765000200\nMq3fKzR8wT1nL6pY9vB2xC5hJ0dG7sEa\n" + NOTIFY + b"\n"))
emit("pay_signature", sign("merchant_key.pem",
     b"wx0123456789abcdef\n1765000300\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\n"
     b"prepay_id=wx201410272009395522657a690389285100\n"))
