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

sns/oauth2/access_token takes the same codes (ok-<name> -> openid o<name>).

cgi-bin/token and cgi-bin/stable_token hand out the brand's access_token:
cgi-bin/token makes a new one each call (the old one stops working),
stable_token returns the current one unless force_refresh.  The tickets
(cgi-bin/ticket/getticket, type jsapi or wx_card) need the current token,
else 40001.  wxa/business/getuserphonenumber (POST {"code"}) takes
    phone-<digits>    success with that number (+86), watermark of our appid
    other-<digits>    success, but the watermark names another appid
    bad-*  40029      busy-*  -1      limit-*  45011
POST /_fake/config {"delay": s, "expires_in": n, "token_error": errcode,
"ticket_error": errcode} changes how they answer; POST /_fake/invalidate
makes the current access_token invalid (40001) without a new one;
GET /_fake/state shows the current token and tickets.

card/membercard/updateuser and card/membercard/activate (POST, need the
current token) keep each card's values: GET /_fake/cards answers
{code: {"card_id", "bonus", "balance", "activated", "updates"}}.
{"card_fail": N} in /_fake/config makes the next N card calls answer
errcode -1 (system busy); {"card_down": true} answers HTTP 502 to them.
A delta (add_bonus, add_balance) is a violation: the module sends totals.
activate also keeps "membership_number" and counts "activations" (a second
one answers 40127); a field WeChat does not document there, a
membership_number that is not a string or an init_bonus/init_balance that
is not an integer is a violation.

The activation form: POST /_fake/form {"code": C, "fields": {name: value}}
sets what card/membercard/userinfo/get {"card_id","code"} answers for the
card code C, in WeChat's shape: {"errcode":0,"errmsg":"ok","openid",
"nickname","membership_number","bonus","balance","sex","user_info":
{"common_field_list":[{"name","value"}],"custom_field_list":[]},
"user_card_status":"NORMAL","has_active"}, the names being WeChat's
(USER_FORM_INFO_FLAG_MOBILE, _NAME, _BIRTHDAY, _SEX, ...); {"code": C,
"answer": <any JSON>} answers that instead, {"code": C, "raw": "<text>"}
a body that is not JSON.  An unknown code answers 40056.  POST /_fake/form
{"ticket": T, "fields": {...}} does the same for
card/membercard/activatetempinfo/get {"activate_ticket": T} ({"errcode":0,
"errmsg":"ok","info":{"common_field_list","custom_field_list"}}; an unknown
ticket answers 72012).  {"form_fail": N} in /_fake/config makes the next N
form calls answer errcode -1; {"card_down": true} answers HTTP 502 to them.

The fake checks what WeChat would see: no client header (Authorization,
Cookie) may reach it, and the appid and secret must be the configured ones.
Messages: cgi-bin/message/template/send (official account) and
cgi-bin/message/subscribe/send (mini-program) keep what they accept with
its msgid (GET /_fake/messages); {"msg_fail": N} in /_fake/config makes the
next N message calls answer errcode -1, or {"msg_errcode"} with
{"msg_fail": N}, e.g. 43101 (the user refused); a body that is not
WeChat's shape is a violation.

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
        self.config = {}
        self.token = None
        self.token_n = 0
        self.tickets = {}
        self.cards = {}
        self.card_fail_left = 0
        self.messages = []
        self.msg_fail_left = 0
        self.forms = {}
        self.temp_forms = {}
        self.form_fail_left = 0

    def reset(self):
        with self.lock:
            self.calls.clear()
            self.violations.clear()
            self.used_codes.clear()
            self.config = {}
            self.token = None
            self.tickets = {}
            self.cards = {}
            self.card_fail_left = 0
            self.messages = []
            self.msg_fail_left = 0
            self.forms = {}
            self.temp_forms = {}
            self.form_fail_left = 0


ACTIVATE_FIELDS = {"code", "card_id", "membership_number", "background_pic_url",
                   "activate_begin_time", "activate_end_time", "init_bonus",
                   "init_bonus_record", "init_balance", "init_custom_field_value1",
                   "init_custom_field_value2", "init_custom_field_value3"}


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
        if path == "/sns/oauth2/access_token":
            return self.oauth2(q)
        if path == "/cgi-bin/token":
            return self.cgi_token(q)
        if path == "/cgi-bin/ticket/getticket":
            return self.getticket(q)
        self.answer({"errcode": 40066, "errmsg": "invalid url"})

    def do_POST(self):
        if self.path.startswith("/_fake/"):
            return self.fake_control()
        path, q = self.record()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        with self.state.lock:
            self.state.calls[-1]["body"] = raw.decode("utf-8", "replace")
        try:
            body = json.loads(raw)
        except ValueError:
            return self.answer({"errcode": 47001, "errmsg": "data format error"})
        if path == "/cgi-bin/stable_token":
            return self.stable_token(body)
        if path == "/wxa/business/getuserphonenumber":
            return self.phone_number(q, body)
        if path in ("/card/membercard/updateuser", "/card/membercard/activate"):
            return self.member_card(path, q, body)
        if path in ("/card/membercard/userinfo/get",
                    "/card/membercard/activatetempinfo/get"):
            return self.form(path, q, body)
        if path in ("/cgi-bin/message/template/send",
                    "/cgi-bin/message/subscribe/send"):
            return self.message(path, q, body)
        self.answer({"errcode": 40066, "errmsg": "invalid url"})

    # ------------------------------------------------------------ tokens
    def delay(self):
        d = self.state.config.get("delay")
        if d:
            time.sleep(d)

    def new_token(self):
        st = self.state
        st.token_n += 1
        st.token = f"AT{st.token_n:04d}_" + hashlib.sha1(
            f"{time.time()}-{st.token_n}".encode()).hexdigest()
        st.tickets = {}
        return st.token

    def token_answer(self, force):
        st = self.state
        self.delay()
        err = st.config.get("token_error")
        if err:
            return self.answer({"errcode": err, "errmsg": "token error"})
        with st.lock:
            token = self.new_token() if force or st.token is None else st.token
        self.answer({"access_token": token,
                     "expires_in": st.config.get("expires_in", 7200)})

    def cgi_token(self, q):
        st = self.state
        if q.get("grant_type") != "client_credential":
            return self.answer({"errcode": 40002, "errmsg": "invalid grant_type"})
        if q.get("appid") != st.appid:
            return self.answer({"errcode": 40013, "errmsg": "invalid appid"})
        if q.get("secret") != st.secret:
            return self.answer({"errcode": 40125, "errmsg": "invalid appsecret"})
        return self.token_answer(force=True)

    def stable_token(self, body):
        st = self.state
        if body.get("grant_type") != "client_credential":
            return self.answer({"errcode": 40002, "errmsg": "invalid grant_type"})
        if body.get("appid") != st.appid:
            return self.answer({"errcode": 40013, "errmsg": "invalid appid"})
        if body.get("secret") != st.secret:
            return self.answer({"errcode": 40125, "errmsg": "invalid appsecret"})
        return self.token_answer(force=bool(body.get("force_refresh")))

    def token_ok(self, q):
        st = self.state
        with st.lock:
            return st.token is not None and q.get("access_token") == st.token

    def getticket(self, q):
        st = self.state
        self.delay()
        if not self.token_ok(q):
            return self.answer({"errcode": 40001, "errmsg": "invalid credential"})
        kind = q.get("type")
        if kind not in ("jsapi", "wx_card"):
            return self.answer({"errcode": 40097, "errmsg": "invalid args"})
        err = st.config.get("ticket_error")
        if err:
            return self.answer({"errcode": err, "errmsg": "ticket error"})
        with st.lock:
            ticket = st.tickets.get(kind)
            if ticket is None:
                ticket = ("TK" + kind + "_" + hashlib.sha1(
                    f"{kind}-{time.time()}".encode()).hexdigest())
                st.tickets[kind] = ticket
        self.answer({"errcode": 0, "errmsg": "ok", "ticket": ticket,
                     "expires_in": st.config.get("expires_in", 7200)})

    def phone_number(self, q, body):
        st = self.state
        if not self.token_ok(q):
            return self.answer({"errcode": 40001, "errmsg": "invalid credential"})
        code = body.get("code", "") if isinstance(body, dict) else ""
        kind, _, number = code.partition("-")
        number = number.split("-")[0]
        with st.lock:
            reused = code in st.used_codes
            st.used_codes.add(code)
        if reused:
            return self.answer({"errcode": 40029, "errmsg": "invalid code"})
        errors = {"bad": (40029, "invalid code"), "busy": (-1, "system error"),
                  "limit": (45011, "api minute-quota reach limit")}
        if kind in errors:
            n, msg = errors[kind]
            return self.answer({"errcode": n, "errmsg": msg})
        if kind in ("phone", "other") and number.isdigit():
            appid = st.appid if kind == "phone" else "wx00000000000000ff"
            return self.answer({"errcode": 0, "errmsg": "ok", "phone_info": {
                "phoneNumber": number, "purePhoneNumber": number, "countryCode": "86",
                "watermark": {"timestamp": int(time.time()), "appid": appid}}})
        return self.answer({"errcode": 40029, "errmsg": "invalid code"})

    # ------------------------------------------------------------ cards
    def member_card(self, path, q, body):
        st = self.state
        if st.config.get("card_down"):
            return self.answer(raw=b"<html>bad gateway</html>", status=502)
        if not self.token_ok(q):
            return self.answer({"errcode": 40001, "errmsg": "invalid credential"})
        with st.lock:
            if st.card_fail_left > 0:
                st.card_fail_left -= 1
                return self.answer({"errcode": -1, "errmsg": "system error"})
        if not isinstance(body, dict) or not isinstance(body.get("code"), str) \
                or not isinstance(body.get("card_id"), str):
            return self.answer({"errcode": 40056, "errmsg": "invalid code"})
        with st.lock:
            for delta in ("add_bonus", "add_balance"):
                if delta in body:
                    st.violations.append(f"{delta} sent to {path}")
            card = st.cards.setdefault(body["code"], {
                "card_id": body["card_id"], "bonus": None, "balance": None,
                "activated": False, "updates": 0})
            if path.endswith("/activate"):
                wrong = sorted(set(body) - ACTIVATE_FIELDS)
                if wrong:
                    st.violations.append(f"undocumented fields {wrong} sent to {path}")
                if not isinstance(body.get("membership_number"), str):
                    st.violations.append(f"membership_number not a string on {path}")
                for k in ("init_bonus", "init_balance"):
                    if k in body and not isinstance(body[k], int):
                        st.violations.append(f"{k} not an integer on {path}")
                if card["activated"]:
                    return self.answer({"errcode": 40127, "errmsg": "invalid user-card status"})
                card.update(activated=True, bonus=body.get("init_bonus"),
                            balance=body.get("init_balance"),
                            membership_number=body.get("membership_number"),
                            activations=card.get("activations", 0) + 1)
                return self.answer({"errcode": 0, "errmsg": "ok"})
            for k in ("bonus", "balance"):
                if not isinstance(body.get(k), int):
                    return self.answer({"errcode": 40009, "errmsg": f"invalid {k}"})
            card.update(bonus=body["bonus"], balance=body["balance"])
            card["updates"] += 1
        self.answer({"errcode": 0, "errmsg": "ok", "result_bonus": body["bonus"],
                     "result_balance": body["balance"], "openid": "o_card"})

    # ------------------------------------------------------------ the form
    def form(self, path, q, body):
        st = self.state
        if st.config.get("card_down"):
            return self.answer(raw=b"<html>bad gateway</html>", status=502)
        if not self.token_ok(q):
            return self.answer({"errcode": 40001, "errmsg": "invalid credential"})
        with st.lock:
            if st.form_fail_left > 0:
                st.form_fail_left -= 1
                return self.answer({"errcode": -1, "errmsg": "system error"})
        temp = path.endswith("/activatetempinfo/get")
        want = {"activate_ticket"} if temp else {"card_id", "code"}
        if not isinstance(body, dict) or set(body) != want \
                or not all(isinstance(body[k], str) for k in want):
            with st.lock:
                st.violations.append(f"bad body to {path}: {body!r}")
            return self.answer({"errcode": 47001, "errmsg": "data format error"})
        with st.lock:
            spec = (st.temp_forms.get(body["activate_ticket"]) if temp
                    else st.forms.get(body["code"]))
            card = dict(st.cards.get(body.get("code", ""), {}))
        if spec is None:
            if temp:
                return self.answer({"errcode": 72012, "errmsg": "invalid activate_ticket"})
            return self.answer({"errcode": 40056, "errmsg": "invalid code"})
        if "raw" in spec:
            return self.answer(raw=spec["raw"].encode())
        if "answer" in spec:
            return self.answer(spec["answer"])
        fields = [{"name": k, "value": v} for k, v in spec.get("fields", {}).items()]
        if temp:
            return self.answer({"errcode": 0, "errmsg": "ok", "info": {
                "common_field_list": fields, "custom_field_list": []}})
        sex = {"男": "MALE", "女": "FEMALE"}.get(
            spec.get("fields", {}).get("USER_FORM_INFO_FLAG_SEX"), "UNKNOWN")
        self.answer({"errcode": 0, "errmsg": "ok", "openid": "o_card", "nickname": "会员",
                     "membership_number": card.get("membership_number") or "",
                     "bonus": card.get("bonus") or 0, "balance": card.get("balance") or 0,
                     "sex": sex, "user_info": {"common_field_list": fields,
                                               "custom_field_list": []},
                     "user_card_status": "NORMAL",
                     "has_active": bool(card.get("activated"))})

    # ------------------------------------------------------------ messages
    def message(self, path, q, body):
        st = self.state
        if st.config.get("card_down"):
            return self.answer(raw=b"<html>bad gateway</html>", status=502)
        if not self.token_ok(q):
            return self.answer({"errcode": 40001, "errmsg": "invalid credential"})
        with st.lock:
            if st.msg_fail_left > 0:
                st.msg_fail_left -= 1
                code = st.config.get("msg_errcode", -1)
                return self.answer({"errcode": code, "errmsg": "refused"})
        channel = "subscribe" if "/subscribe/" in path else "template"
        extra = {"subscribe": {"page"}, "template": {"url", "miniprogram"}}[channel]
        data = body.get("data") if isinstance(body, dict) else None
        ok = (isinstance(body, dict) and isinstance(body.get("touser"), str)
              and isinstance(body.get("template_id"), str)
              and isinstance(data, dict) and data
              and all(isinstance(v, dict) and set(v) == {"value"}
                      and isinstance(v["value"], str) for v in data.values())
              and set(body) <= {"touser", "template_id", "data"} | extra)
        if not ok:
            with st.lock:
                st.violations.append(f"bad message body to {path}: {body!r}")
            return self.answer({"errcode": 47001, "errmsg": "data format error"})
        with st.lock:
            msgid = 1000 + len(st.messages)
            st.messages.append(dict(body, channel=channel, msgid=msgid))
        self.answer({"errcode": 0, "errmsg": "ok", "msgid": msgid})

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
        if self.path == "/_fake/config":
            length = int(self.headers.get("Content-Length") or 0)
            with st.lock:
                st.config = json.loads(self.rfile.read(length) or b"{}")
                st.card_fail_left = st.config.get("card_fail", 0)
                st.msg_fail_left = st.config.get("msg_fail", 0)
                st.form_fail_left = st.config.get("form_fail", 0)
            return self.answer({"ok": True})
        if self.path == "/_fake/form":
            length = int(self.headers.get("Content-Length") or 0)
            spec = json.loads(self.rfile.read(length) or b"{}")
            with st.lock:
                if "ticket" in spec:
                    st.temp_forms[spec.pop("ticket")] = spec
                else:
                    st.forms[spec.pop("code")] = spec
            return self.answer({"ok": True})
        if self.path == "/_fake/invalidate":
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            with st.lock:
                st.token = "invalidated"
                st.tickets = {}
            return self.answer({"ok": True})
        if self.path == "/_fake/cards":
            with st.lock:
                return self.answer(st.cards)
        if self.path == "/_fake/messages":
            with st.lock:
                return self.answer(st.messages)
        if self.path == "/_fake/state":
            with st.lock:
                return self.answer({"token": st.token, "tickets": st.tickets})
        self.answer({"error": "no such control"}, status=404)

    def oauth2(self, q):
        st = self.state
        if q.get("grant_type") != "authorization_code":
            return self.answer({"errcode": 40002, "errmsg": "invalid grant_type"})
        if q.get("appid") != st.appid or q.get("secret") != st.secret:
            return self.answer({"errcode": 40125, "errmsg": "invalid appsecret"})
        code = q.get("code", "")
        kind, _, rest = code.partition("-")
        name = rest.split("-")[0]
        with st.lock:
            reused = code in st.used_codes
            st.used_codes.add(code)
        if reused:
            return self.answer({"errcode": 40163, "errmsg": "code been used"})
        if kind == "ok":
            return self.answer({"access_token": "user-token-" + name, "expires_in": 7200,
                                "refresh_token": "r", "openid": openid_for(name),
                                "scope": "snsapi_base"})
        errors = {"bad": (40029, "invalid code"), "limit": (45011, "limit"),
                  "busy": (-1, "system error")}
        n, msg = errors.get(kind, (40029, "invalid code"))
        return self.answer({"errcode": n, "errmsg": msg})

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
