"""Mini-program login against the fake WeChat."""

import time

from harness import APPID, SECRET, openid_for


def test_first_login_makes_a_visitor(env):
    r = env.login("newbie")
    assert r.status == 200, r
    body = r.json
    assert body["member_id"] is None
    assert body["expires_in"] == 7 * 24 * 3600
    mid, secret = body["token"].split(".")
    assert mid.isdigit() and len(secret) == 43
    env.secrets = getattr(env, "secrets", []) + [secret]
    # the visitor has no card yet
    assert env.api("card", body["token"]).status == 404
    assert env.admin("POST", "members/lookup", {"openid": openid_for("newbie")}).status == 404
    # the session_key stays in Redis, under a hash of the token
    keys = env.rcli("KEYS", "{m:" + mid + "}:s:*").split()
    assert len(keys) == 1 and secret not in keys[0]
    assert env.rcli("HGET", keys[0], "session_key")


def test_login_of_a_member_names_it(env):
    mid, _ = env.member("known", level="silver")
    r = env.login("known")
    assert r.status == 200 and r.json["member_id"] == mid, r
    card = env.api("card", r.json["token"]).json
    assert card["member_id"] == mid and card["level"] == "silver"


def test_a_visitor_who_becomes_a_member_keeps_the_token(env):
    token = env.login("later").json["token"]
    assert env.api("card", token).status == 404
    mid, _ = env.member("later")
    assert token.split(".")[0] == mid
    assert env.api("card", token).json["member_id"] == mid
    assert env.login("later").json["member_id"] == mid


def test_every_login_is_its_own_session(env):
    a = env.login("twice").json["token"]
    b = env.login("twice").json["token"]
    assert a != b and a.split(".")[0] == b.split(".")[0]


def test_the_call_wechat_sees(env):
    env.request("POST", "/login", {"code": "ok-headers-1"},
                headers={"Authorization": "Bearer x", "Cookie": "member_session=y"})
    calls = [c for c in env.fake_get("/_fake/calls") if c["path"] == "/sns/jscode2session"]
    last = calls[-1]
    assert last["query"] == {"appid": APPID, "secret": SECRET, "js_code": "ok-headers-1",
                             "grant_type": "authorization_code"}, last
    assert last["method"] == "GET"
    assert env.fake_get("/_fake/violations") == []
    assert "authorization" not in last["headers"] and "cookie" not in last["headers"]


def test_wechat_errors(env):
    for kind, status, error in [("bad", 401, "unauthorized"), ("used", 401, "unauthorized"),
                                ("limit", 429, "rate_limited"), ("risky", 403, "forbidden"),
                                ("busy", 503, "wechat_unavailable"),
                                ("garbage", 503, "wechat_unavailable"),
                                ("http500", 503, "wechat_unavailable")]:
        r = env.login("x", kind=kind)
        assert r.status == status and r.json["error"] == error, (kind, r)


def test_a_code_works_once(env):
    code = {"code": "ok-once-abc"}
    assert env.request("POST", "/login", code).status == 200
    r = env.request("POST", "/login", code)
    assert r.status == 401 and r.json["error"] == "unauthorized", r


def test_bad_login_requests(env):
    for body in [{}, {"code": ""}, {"code": 5}, {"code": "a b"}, {"code": "x" * 129},
                 {"code": "a&secret=x"}]:
        r = env.request("POST", "/login", body)
        assert r.status == 400 and r.json["error"] == "bad_request", (body, r)
    r = env.request("POST", "/login", b"not json")
    assert r.status == 400, r
    r = env.request("GET", "/login")
    assert r.status == 405 and r.json["error"] == "method_not_allowed", r


def test_wechat_slow_is_503_within_the_proxy_timeout(env):
    t0 = time.monotonic()
    r = env.login("x", kind="slow")
    took = time.monotonic() - t0
    assert r.status == 503 and r.json["error"] == "wechat_unavailable", r
    assert took < 5, took


def test_wechat_down_is_503_and_the_secret_stays_out_of_the_log(env):
    env.kill_fake()
    r = env.login("down")
    assert r.status == 503 and r.json["error"] == "wechat_unavailable", r
    log = env.log_text()
    assert "upstream" in log                 # nginx did log the failure
    assert SECRET not in log and "secret=" not in log
    env.start_fake()
    assert env.login("down").status == 200


def test_a_login_without_a_pii_key_is_refused_by_nginx_t(env):
    """The session_key would be stored in clear: nginx -t says why."""
    import subprocess

    import harness

    def nginx_t(server):
        conf = (f"load_module {harness.MODULE}; pid {env.dir}/t.pid; error_log {env.dir}/t.log;"
                f"events {{}} http {{ member_redis 127.0.0.1:{env.redis_port}; server {{"
                f"listen 127.0.0.1:{env.port}; member_wechat_appid {APPID};"
                f" member_wechat_secret {SECRET}; member_wechat_api /wechat/; {server}"
                f" location = /login {{ member_wechat_login; }} }} }}")
        path = env.dir + "/t.conf"
        with open(path, "w") as f:
            f.write(conf)
        return subprocess.run(["nginx", "-t", "-q", "-p", env.dir + "/", "-c", path, "-e",
                               env.dir + "/t.log"], capture_output=True, text=True, timeout=30)

    out = nginx_t("")
    assert out.returncode != 0, out
    assert "[emerg]" in out.stderr and "member_wechat_login" in out.stderr \
        and "member_pii_key" in out.stderr and "session_key" in out.stderr, out.stderr
    assert nginx_t(f"member_pii_key k1 {harness.PII_KEY};").returncode == 0
