"""Limits per session and per address with nginx's own limit_req, keyed by
the module's $member_session (a digest of the token, never the token), the
contract's JSON for its 429, and X-Content-Type-Options: nosniff on every
answer of a member location, nginx's own error pages too."""

import hashlib
import http.client
import json
import time

import harness
from harness import ADMIN_TOKEN, OA_TOKEN, Response, own_env
from wxcrypt import sha1_sorted

# what conf/production.conf shows, with smaller numbers
LIMITS = {
    "extra_http": """
    map $uri $member_code_session {
        ~^/api/code(\\.png|\\.svg)?$  $member_session;
        default                      "";
    }
    map $uri $member_export_session {
        /api/export  $member_session;
        default      "";
    }
    map $uri $member_login_address {
        /login   $binary_remote_addr;
        default  "";
    }
    limit_req_zone $member_code_session zone=member_codes:1m rate=6r/m;
    limit_req_zone $member_export_session zone=member_export:1m rate=2r/m;
    limit_req_zone $member_login_address zone=member_login:1m rate=6r/m;
    limit_req_status 429;
    log_format session '$member_session $status';
""",
    "extra_server": """
    limit_req zone=member_codes burst=5 nodelay;
    limit_req zone=member_export burst=2 nodelay;
    limit_req zone=member_login burst=5 nodelay;
    access_log @RUN@/session.log session;
""",
}

ENV = LIMITS


def member_token(env, name):
    env.member(name)
    r = env.login(name)
    assert r.status == 200, r
    token = r.json["token"]
    env.secrets = getattr(env, "secrets", []) + [token.split(".")[1]]
    return token


def get(env, path, token=None, method="GET", source=None, headers=None, body=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    c = http.client.HTTPConnection("127.0.0.1", env.port, timeout=10,
                                   source_address=(source, 0) if source else None)
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        resp.header_list = r.getheaders()
        return resp
    finally:
        c.close()


def assert_rate_limited(r):
    assert r.status == 429, r
    assert r.headers["content-type"] == "application/json", r.headers
    assert r.json == {"error": "rate_limited",
                      "message": "too many requests: try again later"}, r
    assert r.headers["x-content-type-options"] == "nosniff", r.headers


def test_code_images_are_limited_per_session(env):
    a, b = member_token(env, "limitcodea"), member_token(env, "limitcodeb")
    for i in range(6):                  # 1 + burst 5
        path = ["/api/code.png", "/api/code.svg"][i % 2]
        r = get(env, path, a)
        assert r.status == 200, (i, r)
    assert_rate_limited(get(env, "/api/code.png", a))
    assert_rate_limited(get(env, "/api/code.svg", a))
    assert_rate_limited(get(env, "/api/code", a, method="POST"))
    # another session is not held back; other calls of the same one neither
    assert get(env, "/api/code.png", b).status == 200
    assert get(env, "/api/code", b, method="POST").status == 200
    assert get(env, "/api/card", a).status == 200
    # the web session's cookie is a session too, the same one as its token
    r = get(env, "/api/code.png", headers={"Cookie": "member_session=" + a})
    assert_rate_limited(r)
    # no token: nothing to count, and the handler says 401
    for _ in range(8):
        assert get(env, "/api/code.png").status == 401


def test_export_is_limited_per_session(env):
    a, b = member_token(env, "limitexpa"), member_token(env, "limitexpb")
    for i in range(3):                  # 1 + burst 2
        r = get(env, "/api/export", a)
        assert r.status == 200, (i, r)
    assert_rate_limited(get(env, "/api/export", a))
    assert get(env, "/api/export", b).status == 200
    assert get(env, "/api/code.png", a).status == 200


def test_the_session_variable_is_no_secret(env):
    token = member_token(env, "limitvar")
    assert get(env, "/api/card", token).status == 200
    secret = token.split(".")[1]
    digest = hashlib.sha256(("member limit\n" + token).encode()).hexdigest()[:32]
    lines = []

    def logged():                       # written after the answer went
        with open(env.dir + "/session.log") as f:
            lines[:] = f.read().splitlines()
        return digest + " 200" in lines

    harness.wait_until("the access log line", logged, timeout=5)
    text = "\n".join(lines)
    assert secret not in text and hashlib.sha256(secret.encode()).hexdigest() not in text
    # a request without a token has none
    assert any(ln.startswith("- ") for ln in lines), lines[-3:]


@own_env(**LIMITS)
def test_logins_are_limited_per_address(env):
    for i in range(6):
        r = get(env, "/login", method="POST", body=json.dumps({"code": f"ok-limitlogin-{i}"}))
        assert r.status == 200, (i, r)
    assert_rate_limited(get(env, "/login", method="POST",
                            body=json.dumps({"code": "ok-limitlogin-x"})))
    # another address logs in; the limit is per address, not for everyone
    r = get(env, "/login", method="POST", source="127.0.0.2",
            body=json.dumps({"code": "ok-limitlogin-y"}))
    assert r.status == 200, r
    # the member API of the limited address goes on
    assert get(env, "/api/card", r.json["token"]).status in (200, 404)
    env.secrets = getattr(env, "secrets", []) + [r.json["token"].split(".")[1]]


def test_every_answer_says_nosniff(env):
    token = member_token(env, "nosniff")
    ts, n = str(int(time.time())), "123456"
    answers = {
        "card": get(env, "/api/card", token),
        "png": get(env, "/api/code.png", token),
        "401": get(env, "/api/card", "1.nope"),
        "404 route": get(env, "/api/nothing-here", token),
        "405": get(env, "/api/card", token, method="PUT"),
        "admin": get(env, "/admin/rules", ADMIN_TOKEN),
        "admin 401": get(env, "/admin/rules", "wrong"),
        "413": get(env, "/admin/members", ADMIN_TOKEN, method="POST", body=b"{" + b" " * 20000),
        "login 400": get(env, "/login", method="POST", body=b"[]"),
        "oauth 302": get(env, "/oauth/?return=/card/"),
        "oa echostr": get(env, f"/oa?signature={sha1_sorted(OA_TOKEN, ts, n)}&timestamp={ts}"
                               f"&nonce={n}&echostr=x1"),
        "status": get(env, "/status"),
    }
    for what, r in answers.items():
        values = [v for k, v in r.header_list if k.lower() == "x-content-type-options"]
        assert values == ["nosniff"], (what, r.status, r.header_list)
    assert answers["png"].headers["content-type"] == "image/png"
    assert answers["413"].status == 413 and answers["oauth 302"].status == 302
    assert answers["oa echostr"].body == b"x1", answers["oa echostr"]
