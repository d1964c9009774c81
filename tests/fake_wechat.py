#!/usr/bin/env python3
"""A local stand-in for api.weixin.qq.com, speaking WeChat's documented wire
format (JSON answers, errcode/errmsg on errors, HTTP 200 even for errors).

    fake_wechat.py --port N [--appid A --secret S]

sns/jscode2session takes these js_code values:
    ok-<name>     success: openid "o<name>" (padded), a session_key, no unionid
                  (ok-<name>-<anything>: the same user with a fresh code)
    union-<name>  success with a unionid
    bad-*         40029 invalid code          used-*    40163 code been used
    limit-*       45011 rate limit            risky-*   40226 high-risk user
    busy-*        -1 system busy              garbage-* a body that is not JSON
    slow-*        answers after 10 s          http500-* HTTP 500
A code is single use, as WeChat's are: the second use answers 40163.

The fake checks what WeChat would see: no client header (Authorization,
Cookie) may reach it, and the appid and secret must be the configured ones.
GET /_fake/calls lists the calls it saw; GET /_fake/violations what was
wrong with them; POST /_fake/reset forgets both.
"""

import argparse
import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FORBIDDEN_HEADERS = ("authorization", "cookie", "x-member-store",
                     "x-member-signature")


class State:
    def __init__(self, appid, secret):
        self.appid = appid
        self.secret = secret
        self.lock = threading.Lock()
        self.calls = []
        self.violations = []
        self.used_codes = set()

    def reset(self):
        with self.lock:
            self.calls.clear()
            self.violations.clear()
            self.used_codes.clear()


def openid_for(name):
    # Real openids are 28 characters of [A-Za-z0-9_-].
    return ("o" + name + "_" * 28)[:28]


def session_key_for(name):
    return base64.b64encode(hashlib.md5(name.encode()).digest()).decode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, fmt, *args):
        pass

    def answer(self, obj=None, status=200, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def record(self):
        st = self.state
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        call = {"method": self.command, "path": url.path, "query": query,
                "headers": {k.lower(): v for k, v in self.headers.items()}}
        with st.lock:
            st.calls.append(call)
            for h in FORBIDDEN_HEADERS:
                if h in call["headers"]:
                    st.violations.append(f"{h} header reached WeChat on {url.path}")
        return url.path, query

    def do_GET(self):
        if self.path.startswith("/_fake/"):
            return self.fake_control()
        path, q = self.record()
        if path == "/sns/jscode2session":
            return self.jscode2session(q)
        self.answer({"errcode": 40066, "errmsg": "invalid url"})

    def do_POST(self):
        if self.path.startswith("/_fake/"):
            return self.fake_control()
        self.record()
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.answer({"errcode": 40066, "errmsg": "invalid url"})

    def fake_control(self):
        st = self.state
        if self.path == "/_fake/calls":
            with st.lock:
                return self.answer(st.calls)
        if self.path == "/_fake/violations":
            with st.lock:
                return self.answer(st.violations)
        if self.path == "/_fake/reset":
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            st.reset()
            return self.answer({"ok": True})
        self.answer({"error": "no such control"}, status=404)

    def jscode2session(self, q):
        st = self.state
        if q.get("grant_type") != "authorization_code":
            return self.answer({"errcode": 40002, "errmsg": "invalid grant_type"})
        if q.get("appid") != st.appid:
            return self.answer({"errcode": 40013, "errmsg": "invalid appid"})
        if q.get("secret") != st.secret:
            return self.answer({"errcode": 40125, "errmsg": "invalid appsecret"})
        code = q.get("js_code", "")
        # "<kind>-<name>[-<anything>]": the tail makes codes unique
        kind, _, rest = code.partition("-")
        name = rest.split("-")[0]
        with st.lock:
            reused = code in st.used_codes
            st.used_codes.add(code)
        if kind in ("ok", "union") and reused:
            return self.answer({"errcode": 40163, "errmsg": "code been used"})
        if kind == "ok":
            return self.answer({"openid": openid_for(name),
                                "session_key": session_key_for(name)})
        if kind == "union":
            return self.answer({"openid": openid_for(name),
                                "session_key": session_key_for(name),
                                "unionid": ("u" + name + "_" * 28)[:28],
                                "errcode": 0, "errmsg": "ok"})
        errors = {"bad": (40029, "invalid code"), "used": (40163, "code been used"),
                  "limit": (45011, "api minute-quota reach limit"),
                  "risky": (40226, "high risk user"), "busy": (-1, "system error")}
        if kind in errors:
            n, msg = errors[kind]
            return self.answer({"errcode": n, "errmsg": msg})
        if kind == "garbage":
            return self.answer(raw=b"<html>not json</html>")
        if kind == "slow":
            time.sleep(10)
            return self.answer({"openid": openid_for(name),
                                "session_key": session_key_for(name)})
        if kind == "http500":
            return self.answer({"errcode": -1, "errmsg": "system error"}, status=500)
        return self.answer({"errcode": 40029, "errmsg": "invalid code"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--appid", default="wx0123456789abcdef")
    ap.add_argument("--secret", default="demo-app-secret-0123456789")
    args = ap.parse_args()
    Handler.state = State(args.appid, args.secret)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
