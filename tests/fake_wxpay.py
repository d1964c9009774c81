#!/usr/bin/env python3
"""A local stand-in for api.mch.weixin.qq.com, speaking WeChat Pay's API v3
wire format: JSON bodies, RSA-SHA256 signatures both ways, AEAD_AES_256_GCM
notification resources.

    fake_wxpay.py --port N --mchid M --appid A --merchant-key FILE
                  --merchant-serial S --apiv3-key K --platform-pub-out FILE
                  [--platform-serial PUB_KEY_ID_...]

At start it generates its own platform key (RSA 2048) and writes the public
half to --platform-pub-out (the module's member_wxpay_platform_key), then
serves.  It verifies every request's Authorization
(WECHATPAY2-SHA256-RSA2048 mchid, nonce_str, signature, timestamp,
serial_no) with the public half of --merchant-key, and signs every answer
(Wechatpay-Serial, -Signature, -Timestamp, -Nonce over
timestamp\\nnonce\\nbody\\n) with its platform key.

POST /v3/pay/transactions/jsapi checks the order's body (appid, mchid,
description, out_trade_no of 1..32 [A-Za-z0-9_-] never seen before,
notify_url, amount.total > 0 with currency CNY, payer.openid, time_expire
in RFC 3339) and answers 200 {"prepay_id": "wx..."}; a problem answers 400
{"code":"PARAM_ERROR","message"} and is recorded as a violation.
POST /_fake/config {"refuse": N} refuses the next N orders (400
PARAM_ERROR, no violation); {"bad_answer_signature": N} signs the next N
answers with another key; {"down": N} answers HTTP 500 to the next N.

Notifications: POST /_fake/notify {"out_trade_no", "copies": N (1),
"concurrent": bool, "lose": bool, "tamper": KIND, "change": {field:
value}} builds WeChat Pay's TRANSACTION.SUCCESS notification of an order
it answered (amount, openid, appid, mchid of the order, a transaction_id
per order), "change" altering fields of the decrypted payment (mchid,
appid, out_trade_no, trade_state, amount: {"total": ...}), encrypts it
with --apiv3-key, signs it with the platform key, and POSTs it N times
(in parallel threads when concurrent) to the order's notify_url.  KIND:
"signature" (a bit of the signature flipped), "serial" (an unknown
Wechatpay-Serial), "stale" (a timestamp 10 minutes old, correctly signed),
"ciphertext" (a byte of the ciphertext changed, the body signed again),
"apiv3_key" (encrypted with another key), "body" (a byte of the body
changed after signing).  "lose": recorded as sent, never delivered.
Answers {"results": [{"status", "body"}...]}.  A success answer that is
not HTTP 200/204 with an empty body (or JSON), or a failure answer whose
body is not {"code","message"}, is a violation.

GET /_fake/orders: the orders by out_trade_no; GET /_fake/violations;
GET /_fake/calls: the count of requests.
"""

import argparse
import base64
import http.client
import json
import os
import re
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

AUTH = re.compile(r'^WECHATPAY2-SHA256-RSA2048 (.*)$')
TRADE_NO = re.compile(r'^[A-Za-z0-9_-]{1,32}$')
RFC3339 = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\+08:00|Z)$')
DOCUMENTED = {"appid", "mchid", "description", "out_trade_no", "time_expire", "attach",
              "notify_url", "goods_tag", "support_fapiao", "amount", "payer", "detail",
              "scene_info", "settle_info"}


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.orders = {}
        self.violations = []
        self.calls = 0
        self.config = {"refuse": 0, "bad_answer_signature": 0, "down": 0}
        self.platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with open(args.merchant_key, "rb") as f:
            self.merchant = serialization.load_pem_private_key(f.read(), None).public_key()
        self.apiv3 = args.apiv3_key.encode()

    def violation(self, what):
        with self.lock:
            self.violations.append(what)


def sign(key, message):
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def signed_headers(state, body, key=None, serial=None, ts=None):
    ts = str(ts if ts is not None else int(time.time()))
    nonce = secrets.token_hex(16)
    sig = sign(key or state.platform, f"{ts}\n{nonce}\n".encode() + body + b"\n")
    return {"Wechatpay-Serial": serial or state.args.platform_serial,
            "Wechatpay-Signature": sig, "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    @property
    def state(self):
        return self.server.state

    def answer(self, status, obj, signed=True):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if signed:
            st = self.state
            with st.lock:
                bad = st.config["bad_answer_signature"] > 0
                if bad:
                    st.config["bad_answer_signature"] -= 1
            for k, v in signed_headers(st, body, st.other if bad else None).items():
                self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n)

    def do_GET(self):
        st = self.state
        with st.lock:
            st.calls += 1
        if self.path == "/_fake/orders":
            return self.answer(200, st.orders, signed=False)
        if self.path == "/_fake/violations":
            return self.answer(200, st.violations, signed=False)
        if self.path == "/_fake/calls":
            return self.answer(200, {"calls": st.calls}, signed=False)
        self.answer(404, {"code": "NOT_FOUND", "message": "no such path"})

    def do_POST(self):
        st = self.state
        with st.lock:
            st.calls += 1
        body = self.body()
        if self.path == "/_fake/config":
            with st.lock:
                st.config.update(json.loads(body))
            return self.answer(200, st.config, signed=False)
        if self.path == "/_fake/notify":
            return self.answer(200, notify(st, json.loads(body)), signed=False)
        if self.path == "/v3/pay/transactions/jsapi":
            return self.jsapi(body)
        self.answer(404, {"code": "NOT_FOUND", "message": "no such path"})

    def authorized(self, method, body):
        st = self.state
        m = AUTH.match(self.headers.get("Authorization") or "")
        if not m:
            return "no Authorization"
        fields = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if set(fields) != {"mchid", "nonce_str", "signature", "timestamp", "serial_no"}:
            return f"Authorization fields {sorted(fields)}"
        if fields["mchid"] != st.args.mchid:
            return "another mchid"
        if fields["serial_no"] != st.args.merchant_serial:
            return "another serial_no"
        if abs(int(fields["timestamp"]) - time.time()) > 300:
            return "stale timestamp"
        msg = f"{method}\n{self.path}\n{fields['timestamp']}\n{fields['nonce_str']}\n"
        try:
            st.merchant.verify(base64.b64decode(fields["signature"]),
                               msg.encode() + body + b"\n", padding.PKCS1v15(), hashes.SHA256())
        except Exception:  # noqa: BLE001
            return "bad signature"
        for h in ("Cookie",):
            if self.headers.get(h):
                return f"a client header reached WeChat Pay: {h}"
        return None

    def jsapi(self, body):
        st = self.state
        with st.lock:
            if st.config["down"] > 0:
                st.config["down"] -= 1
                down = True
            else:
                down = False
        if down:
            return self.answer(500, {"code": "SYSTEM_ERROR", "message": "down"})
        why = self.authorized("POST", body)
        if why:
            st.violation(why)
            return self.answer(401, {"code": "SIGN_ERROR", "message": why})
        try:
            o = json.loads(body)
            assert isinstance(o, dict), "not an object"
            unknown = set(o) - DOCUMENTED
            assert not unknown, f"undocumented fields {sorted(unknown)}"
            assert o.get("appid") == st.args.appid, "appid"
            assert o.get("mchid") == st.args.mchid, "mchid"
            assert isinstance(o.get("description"), str) and o["description"], "description"
            assert TRADE_NO.match(o.get("out_trade_no") or ""), "out_trade_no"
            assert o["out_trade_no"] not in st.orders, "out_trade_no used twice"
            u = urllib.parse.urlparse(o.get("notify_url") or "")
            assert u.scheme in ("http", "https") and u.netloc and not u.query, "notify_url"
            a = o.get("amount") or {}
            assert isinstance(a.get("total"), int) and a["total"] > 0, "amount.total"
            assert a.get("currency", "CNY") == "CNY", "amount.currency"
            assert isinstance((o.get("payer") or {}).get("openid"), str), "payer.openid"
            assert RFC3339.match(o.get("time_expire") or ""), "time_expire"
        except (AssertionError, ValueError) as e:
            st.violation(f"jsapi: {e}")
            return self.answer(400, {"code": "PARAM_ERROR", "message": str(e)})
        with st.lock:
            if st.config["refuse"] > 0:
                st.config["refuse"] -= 1
                refused = True
            else:
                refused = False
                prepay = "wx" + secrets.token_hex(15)
                st.orders[o["out_trade_no"]] = {
                    "appid": o["appid"], "mchid": o["mchid"], "amount": a["total"],
                    "openid": o["payer"]["openid"], "notify_url": o["notify_url"],
                    "prepay_id": prepay, "description": o["description"],
                    "time_expire": o["time_expire"],
                    "transaction_id": "42000" + "".join(secrets.choice("0123456789")
                                                        for _ in range(23))}
        if refused:
            return self.answer(400, {"code": "PARAM_ERROR", "message": "refused"})
        self.answer(200, {"prepay_id": prepay})


def payment(order, out_trade_no, change):
    p = {"mchid": order["mchid"], "appid": order["appid"], "out_trade_no": out_trade_no,
         "transaction_id": order["transaction_id"], "trade_type": "JSAPI",
         "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS",
         "attach": "", "success_time": time.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
         "payer": {"openid": order["openid"]},
         "amount": {"total": order["amount"], "payer_total": order["amount"],
                    "currency": "CNY", "payer_currency": "CNY"}}
    p.update(change or {})
    return p


def notification(st, order, out_trade_no, req):
    tamper = req.get("tamper")
    plain = json.dumps(payment(order, out_trade_no, req.get("change")),
                       ensure_ascii=False).encode()
    nonce = secrets.token_hex(6)
    aad = "transaction"
    key = st.apiv3 if tamper != "apiv3_key" else secrets.token_hex(16).encode()
    ct = bytearray(AESGCM(key).encrypt(nonce.encode(), plain, aad.encode()))
    if tamper == "ciphertext":
        ct[len(ct) // 2] ^= 0x01
    doc = {"id": "EV-" + secrets.token_hex(8),
           "create_time": time.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
           "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS",
           "summary": "支付成功",
           "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                        "ciphertext": base64.b64encode(bytes(ct)).decode(),
                        "associated_data": aad, "nonce": nonce}}
    body = json.dumps(doc, ensure_ascii=False).encode()
    ts = int(time.time()) - (600 if tamper == "stale" else 0)
    headers = signed_headers(st, body, ts=ts,
                             serial="PUB_KEY_ID_UNKNOWN" if tamper == "serial" else None)
    if tamper == "signature":
        sig = bytearray(base64.b64decode(headers["Wechatpay-Signature"]))
        sig[5] ^= 0x01
        headers["Wechatpay-Signature"] = base64.b64encode(bytes(sig)).decode()
    if tamper == "body":
        body = body.replace(b'"summary"', b'"summarY"')
    headers["Content-Type"] = "application/json"
    return body, headers


def deliver(st, url, body, headers, results, i):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=15)
    try:
        c.request("POST", u.path, body=body, headers=headers)
        r = c.getresponse()
        text = r.read()
        results[i] = {"status": r.status, "body": text.decode("utf-8", "replace")}
        if r.status in (200, 204):
            if text and r.status == 204:
                st.violation("a 204 with a body")
        else:
            try:
                d = json.loads(text)
                assert set(d) == {"code", "message"} and d["code"] == "FAIL"
            except Exception:  # noqa: BLE001
                st.violation(f"a failure answer not {{code, message}}: {text[:100]!r}")
    except Exception as e:  # noqa: BLE001
        results[i] = {"status": 0, "body": repr(e)}
    finally:
        c.close()


def notify(st, req):
    no = req["out_trade_no"]
    with st.lock:
        order = st.orders.get(req.get("order") or no)
    if order is None:
        return {"error": "no such order"}
    copies = int(req.get("copies", 1))
    if req.get("lose"):
        with st.lock:
            order.setdefault("lost", 0)
            order["lost"] += copies
        return {"results": [], "lost": copies}
    built = [notification(st, order, no, req) for _ in range(copies)]
    results = [None] * copies
    if req.get("concurrent"):
        threads = [threading.Thread(target=deliver,
                                    args=(st, order["notify_url"], b, h, results, i))
                   for i, (b, h) in enumerate(built)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for i, (b, h) in enumerate(built):
            deliver(st, order["notify_url"], b, h, results, i)
    return {"results": results}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mchid", required=True)
    p.add_argument("--appid", required=True)
    p.add_argument("--merchant-key", required=True)
    p.add_argument("--merchant-serial", required=True)
    p.add_argument("--apiv3-key", required=True)
    p.add_argument("--platform-pub-out", required=True)
    p.add_argument("--platform-serial", default="PUB_KEY_ID_0111112222233333444445555566")
    args = p.parse_args()
    state = State(args)
    pem = state.platform.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    tmp = args.platform_pub_out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(pem)
    os.rename(tmp, args.platform_pub_out)
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = state
    server.serve_forever()


if __name__ == "__main__":
    main()
