"""Card pages: wx.config and cardExt signatures, the brand's access_token
and tickets cached in Redis with one refresher, official-account web login
(member_wechat_oauth) and its member_session cookie."""

import hashlib
import json
import threading
import time
from urllib.parse import parse_qs, quote, urlsplit

import harness
from harness import APPID, SECRET, openid_for


def fake_post(env, path, body=None):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", env.fake_port, timeout=5)
    try:
        c.request("POST", path, body=json.dumps(body or {}))
        return json.loads(c.getresponse().read())
    finally:
        c.close()


def fresh(env, **config):
    """A cold cache and a fake WeChat that answers as configured."""
    fake_post(env, "/_fake/reset")
    fake_post(env, "/_fake/config", config)
    for key in env.rcli("KEYS", "{wx:*").split():
        env.rcli("DEL", key)


def calls(env, path):
    return [c for c in env.fake_get("/_fake/calls") if c["path"] == path]


def remember(env, *secrets):
    env.secrets = getattr(env, "secrets", []) + [s for s in secrets if s]


def session(env, name):
    r = env.login(name)
    assert r.status == 200, r
    remember(env, r.json["token"].split(".")[1])
    return r.json["token"]


def sha1(s):
    return hashlib.sha1(s.encode()).hexdigest()


def jssdk(env, token, url):
    return env.api("jssdk?url=" + quote(url, safe=""), token)


def test_jssdk_signature_recomputed(env):
    fresh(env)
    token = session(env, "pager")
    url = "https://pages.example.com/card?x=1&y=2"
    r = jssdk(env, token, url + "#frag")
    assert r.status == 200, r
    cfg = r.json
    assert set(cfg) == {"appId", "timestamp", "nonceStr", "signature"}
    assert cfg["appId"] == APPID and abs(cfg["timestamp"] - time.time()) < 5
    ticket = env.fake_get("/_fake/state")["tickets"]["jsapi"]
    remember(env, ticket, env.fake_get("/_fake/state")["token"])
    expect = sha1(f"jsapi_ticket={ticket}&noncestr={cfg['nonceStr']}"
                  f"&timestamp={cfg['timestamp']}&url={url}")
    assert cfg["signature"] == expect
    assert r.headers["cache-control"] == "no-store"
    # a second page is signed from the cache
    assert jssdk(env, token, "http://shop.brand.test/a").status == 200
    assert jssdk(env, token, "https://brand.test/").status == 200
    assert len(calls(env, "/cgi-bin/token")) == 1
    assert len(calls(env, "/cgi-bin/ticket/getticket")) == 1


def test_jssdk_only_for_the_brands_domains(env):
    token = session(env, "foreign")
    for url in ["https://evil.example.com/", "https://pages.example.com.evil.com/",
                "https://evilbrand.test/", "https://pages.example.com@evil.com/",
                "https://evil.com/?https://pages.example.com/"]:
        r = jssdk(env, token, url)
        assert r.status == 403 and r.json["error"] == "forbidden", (url, r)
    for url in ["", "pages.example.com/", "ftp://pages.example.com/", "javascript:x",
                "https://pages.example.com/a b"]:
        r = jssdk(env, token, url)
        assert r.status == 400, (url, r)
    assert env.api("jssdk", token).status == 400
    r = jssdk(env, token, "https://PAGES.example.com:8443/x")
    assert r.status == 200, r


def test_pages_need_a_session(env):
    for path in ["jssdk?url=https%3A%2F%2Fpages.example.com%2F", "card-ext?card_id=p1"]:
        r = env.request("GET", "/api/" + path)
        assert r.status == 401 and r.json["error"] == "unauthorized", r
        r = env.api(path, "1." + "A" * 43)
        assert r.status == 401, r
    token = session(env, "methods")
    r = env.api("jssdk?url=x", token, method="POST")
    assert r.status == 405, r


def test_card_ext_signature_recomputed(env):
    fresh(env)
    mid, card_no = env.member("carder")
    token = session(env, "carder")
    r = env.api("card-ext?card_id=pjZ8Yt1XGILfi-FUsewpnnolGgZk", token)
    assert r.status == 200, r
    assert r.json["cardId"] == "pjZ8Yt1XGILfi-FUsewpnnolGgZk"
    ext = json.loads(r.json["cardExt"])
    assert set(ext) == {"code", "openid", "timestamp", "nonce_str", "signature"}
    assert ext["code"] == card_no and ext["openid"] == openid_for("carder")
    ticket = env.fake_get("/_fake/state")["tickets"]["wx_card"]
    remember(env, ticket)
    parts = sorted([ticket, str(ext["timestamp"]), "pjZ8Yt1XGILfi-FUsewpnnolGgZk",
                    ext["code"], ext["openid"], ext["nonce_str"]])
    assert ext["signature"] == sha1("".join(parts))
    # a visitor's card has no code yet
    visitor = session(env, "walkin")
    ext = json.loads(env.api("card-ext?card_id=p1", visitor).json["cardExt"])
    assert ext["code"] == "" and ext["openid"] == openid_for("walkin")
    for bad in ["card-ext", "card-ext?card_id=", "card-ext?card_id=a%20b",
                "card-ext?card_id=" + "x" * 65]:
        assert env.api(bad, token).status == 400, bad


def test_fifty_concurrent_requests_on_a_cold_cache(env):
    fresh(env, delay=0.3)
    tokens = [session(env, f"crowd{i}") for i in range(5)]
    fake_post(env, "/_fake/reset")
    fake_post(env, "/_fake/config", {"delay": 0.3})
    results = []

    def one(i):
        results.append(jssdk(env, tokens[i % 5], f"https://pages.example.com/{i}").status)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(200) == 50, results
    assert len(calls(env, "/cgi-bin/token")) == 1
    assert len(calls(env, "/cgi-bin/ticket/getticket")) == 1


def test_a_refused_token_is_refreshed_once(env):
    fresh(env)
    token = session(env, "stale")
    assert jssdk(env, token, "https://pages.example.com/").status == 200
    # WeChat forgets the token; the cached ticket still signs...
    fake_post(env, "/_fake/invalidate")
    env.rcli("DEL", "{wx:" + APPID + ":jsapi}")
    fake_post(env, "/_fake/reset")
    # ... until a ticket is needed: 40001, one new token, one ticket
    r = jssdk(env, token, "https://pages.example.com/")
    assert r.status == 200, r
    got = [(c["path"]) for c in env.fake_get("/_fake/calls")]
    assert got == ["/cgi-bin/ticket/getticket", "/cgi-bin/token",
                   "/cgi-bin/ticket/getticket"], got


def test_a_ticket_refused_twice_is_503(env):
    fresh(env, ticket_error=40001)
    token = session(env, "twice")
    r = jssdk(env, token, "https://pages.example.com/")
    assert r.status == 503 and r.json["error"] == "wechat_unavailable", r
    paths = [c["path"] for c in env.fake_get("/_fake/calls")]
    assert paths.count("/cgi-bin/ticket/getticket") == 2, paths
    assert paths.count("/cgi-bin/token") == 2, paths


def test_wechat_errors_on_tokens(env):
    token = session(env, "errs")
    for config in [{"token_error": 40013}, {"token_error": 40125}, {"token_error": -1},
                   {"token_error": 45009}, {"ticket_error": 40097}, {"ticket_error": -1}]:
        fresh(env, **config)
        r = jssdk(env, token, "https://pages.example.com/")
        assert r.status == 503 and r.json["error"] == "wechat_unavailable", (config, r)
        # the failure is remembered for a moment: no storm of calls
        r = jssdk(env, token, "https://pages.example.com/")
        assert r.status == 503, r
        assert len(calls(env, "/cgi-bin/token")) == 1, config
    time.sleep(1.1)
    fake_post(env, "/_fake/config", {})
    assert jssdk(env, token, "https://pages.example.com/").status == 200


def test_a_due_token_is_refreshed_early_by_one(env):
    fresh(env)
    token = session(env, "early")
    assert jssdk(env, token, "https://pages.example.com/").status == 200
    # the jsapi ticket is due: the first request refreshes it
    key = "{wx:" + APPID + ":jsapi}"
    value = env.rcli("GET", key)
    env.rcli("SET", key, "0." + value.split(".", 1)[1], "EX", "600")
    fake_post(env, "/_fake/reset")
    fake_post(env, "/_fake/invalidate")  # the new ticket needs a new token too
    assert jssdk(env, token, "https://pages.example.com/").status == 200
    assert [c["path"] for c in env.fake_get("/_fake/calls")] == [
        "/cgi-bin/ticket/getticket", "/cgi-bin/token", "/cgi-bin/ticket/getticket"]
    assert not env.rcli("GET", key).startswith("0.")
    assert jssdk(env, token, "https://pages.example.com/").status == 200
    assert len(env.fake_get("/_fake/calls")) == 3


def test_tokens_in_redis_are_sealed(env):
    fresh(env)
    token = session(env, "sealed")
    assert jssdk(env, token, "https://pages.example.com/").status == 200
    assert env.api("card-ext?card_id=p1", token).status == 200
    st = env.fake_get("/_fake/state")
    remember(env, st["token"], *st["tickets"].values())
    dump = redis_dump(env)
    for s in [st["token"], *st["tickets"].values()]:
        assert s not in dump


DUMP = """
local out = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
    local t = redis.call('TYPE', k).ok
    local add = function(list) for _, v in ipairs(list) do out[#out + 1] = v end end
    out[#out + 1] = k
    if t == 'string' then out[#out + 1] = redis.call('GET', k)
    elseif t == 'hash' then add(redis.call('HGETALL', k))
    elseif t == 'set' then add(redis.call('SMEMBERS', k))
    elseif t == 'list' then add(redis.call('LRANGE', k, 0, -1))
    elseif t == 'zset' then add(redis.call('ZRANGE', k, 0, -1))
    elseif t == 'stream' then
        for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do
            out[#out + 1] = e[1]
            add(e[2])
        end
    end
end
return out
"""


def redis_dump(env):
    """Every key and value in Redis, as text."""
    return env.rcli("EVAL", DUMP, "0")


# ------------------------------------------------------------ web login

def oauth_start(env, back="/card?tab=1"):
    r = env.request("GET", "/oauth/?return=" + quote(back, safe=""),
                    headers={"Host": "member.brand.test"})
    return r


def cookie_of(r, name):
    for k, line in r.header_list:
        if k.lower() == "set-cookie" and line.startswith(name + "="):
            return line
    return None


def oauth_login(env, name, back="/card?tab=1"):
    r = oauth_start(env, back)
    assert r.status == 302, r
    loc = urlsplit(r.headers["location"])
    q = parse_qs(loc.query)
    binding = cookie_of(r, "member_oauth").split(";")[0].split("=", 1)[1]
    Env_codes[0] += 1
    code = f"ok-{name}-{Env_codes[0]}"
    cb = env.request("GET", f"/oauth/callback?code={code}&state={q['state'][0]}",
                     headers={"Cookie": "member_oauth=" + binding})
    return r, q, binding, cb


Env_codes = [0]


def test_oauth_redirects_to_wechat(env):
    r = oauth_start(env)
    assert r.status == 302, r
    loc = r.headers["location"]
    assert loc.startswith("https://open.weixin.qq.com/connect/oauth2/authorize?")
    assert loc.endswith("#wechat_redirect")
    q = parse_qs(urlsplit(loc).query)
    assert q["appid"] == [APPID] and q["scope"] == ["snsapi_base"]
    assert q["response_type"] == ["code"]
    assert q["redirect_uri"] == ["http://member.brand.test/oauth/callback"]
    state = q["state"][0]
    assert state.isalnum() and len(state) <= 128
    cookie = cookie_of(r, "member_oauth")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/oauth/" in cookie
    assert "Secure" not in cookie          # plain http here


def test_oauth_login_sets_the_session_cookie(env):
    mid, card_no = env.member("webby")
    _, _, _, cb = oauth_login(env, "webby")
    assert cb.status == 302, cb
    assert cb.headers["location"] == "/card?tab=1"
    session = cookie_of(cb, "member_session")
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Path=/" in session
    value = session.split(";")[0].split("=", 1)[1]
    remember(env, value.split(".")[1])
    assert value.split(".")[0] == mid
    # the member API takes the cookie
    r = env.request("GET", "/api/card", headers={"Cookie": "a=b; member_session=" + value})
    assert r.status == 200 and r.json["card_no"] == card_no, r
    r = env.request("GET", "/api/card", headers={"Cookie": "member_session=" + value[:-1]})
    assert r.status == 401, r
    # the oauth exchange WeChat saw
    c = calls(env, "/sns/oauth2/access_token")[-1]
    assert c["query"]["appid"] == APPID and c["query"]["secret"] == SECRET
    assert c["query"]["grant_type"] == "authorization_code"
    assert env.fake_get("/_fake/violations") == []


def test_oauth_state_is_single_use_and_bound(env):
    r, q, binding, cb = oauth_login(env, "once")
    assert cb.status == 302, cb
    # the same state again
    again = env.request("GET", f"/oauth/callback?code=ok-once-x&state={q['state'][0]}",
                        headers={"Cookie": "member_oauth=" + binding})
    assert again.status == 401, again
    # another browser's state
    r2 = oauth_start(env)
    state2 = parse_qs(urlsplit(r2.headers["location"]).query)["state"][0]
    for cookie in ["member_oauth=" + binding, "member_oauth=" + "0" * 32, ""]:
        bad = env.request("GET", f"/oauth/callback?code=ok-once-y&state={state2}",
                          headers={"Cookie": cookie})
        assert bad.status == 401, (cookie, bad)
    # forged states
    binding2 = cookie_of(r2, "member_oauth").split(";")[0].split("=", 1)[1]
    for forged in [state2[:-1] + ("0" if state2[-1] != "0" else "1"), state2[:-1], "",
                   "ffffffff" + state2[8:], state2.upper()]:
        bad = env.request("GET", f"/oauth/callback?code=ok-once-z&state={forged}",
                          headers={"Cookie": "member_oauth=" + binding2})
        assert bad.status == 401, (forged, bad)
    # no code: the visitor said no
    bad = env.request("GET", f"/oauth/callback?state={state2}",
                      headers={"Cookie": "member_oauth=" + binding2})
    assert bad.status == 401, bad
    ok = env.request("GET", f"/oauth/callback?code=ok-once-w&state={state2}",
                     headers={"Cookie": "member_oauth=" + binding2})
    assert ok.status == 302, ok


def test_oauth_return_paths(env):
    for back in ["//evil.com/x", "/\\evil.com", "https://evil.com/", "evil", "/a\nb"]:
        r = oauth_start(env, back)
        assert r.status == 400, (back, r)
    r = env.request("GET", "/oauth/", headers={"Host": "member.brand.test"})
    assert r.status == 302, r
    _, _, _, cb = oauth_login(env, "rooted", back="/")
    assert cb.headers["location"] == "/"
    assert env.request("GET", "/oauth/elsewhere").status == 404
    assert env.request("POST", "/oauth/").status == 405


def test_oauth_wechat_errors(env):
    for kind, status in [("bad", 401), ("limit", 429), ("busy", 503)]:
        r = oauth_start(env)
        state = parse_qs(urlsplit(r.headers["location"]).query)["state"][0]
        binding = cookie_of(r, "member_oauth").split(";")[0].split("=", 1)[1]
        cb = env.request("GET", f"/oauth/callback?code={kind}-x&state={state}",
                         headers={"Cookie": "member_oauth=" + binding})
        assert cb.status == status, (kind, cb)


def oauth_mac(state40, binding, back):
    """The state's mac as the module makes it (key derived from member_pii_key)."""
    import hmac
    k = hmac.new(bytes.fromhex(harness.PII_KEY), b"oauth-state", "sha256").digest()
    return hmac.new(k, (state40 + binding).encode() + back.encode(), "sha256").hexdigest()[:32]


def b64url(b):
    import base64
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def test_oauth_writes_nothing_before_the_callback(env):
    """Visitors who go to WeChat and never come back cost no Redis memory."""
    long_back = "/card/" + "x" * 500
    keys = set(env.rcli("KEYS", "*").split())
    for i in range(200):
        r = oauth_start(env, long_back if i % 2 else f"/card?n={i}")
        assert r.status == 302, r
    # the module's timers (analytics, fold, outbox) may write a key or two
    # meanwhile; a login in progress writes none
    new = set(env.rcli("KEYS", "*").split()) - keys
    assert len(new) < 10 and not [k for k in new if "oauth" in k], new
    # the path rides in the MAC'd cookie, and the round trip lands on it
    _, q, _, cb = oauth_login(env, "longway", back=long_back)
    assert cb.status == 302 and cb.headers["location"] == long_back, cb
    # then the state is spent, until it expires
    ttl = int(env.rcli("TTL", "oauth:" + q["state"][0][8:40]))
    assert 0 < ttl <= 301, ttl


def test_oauth_state_and_cookie_tampered_or_expired(env):
    r = oauth_start(env, "/card/mine")
    state = parse_qs(urlsplit(r.headers["location"]).query)["state"][0]
    cookie = cookie_of(r, "member_oauth").split(";")[0].split("=", 1)[1]
    binding, path = cookie[:32], cookie[32:]
    assert path == b64url(b"/card/mine") and state[40:] == oauth_mac(state[:40], binding,
                                                                      "/card/mine")

    def callback(st, ck, code):
        return env.request("GET", f"/oauth/callback?code={code}&state={st}",
                           headers={"Cookie": "member_oauth=" + ck})

    # another return path under the same binding and state
    for other in [b64url(b"/elsewhere"), b64url(b"//evil.com/x"), path[:-1], path + "A",
                  "", "!!!!"]:
        bad = callback(state, binding + other, "ok-tamper-1")
        assert bad.status == 401 and bad.json["error"] == "unauthorized", (other, bad)
    # a later expiry under the old mac
    later = "%08x" % (int(state[:8], 16) + 60)
    bad = callback(later + state[8:], cookie, "ok-tamper-2")
    assert bad.status == 401, bad
    # a state that expired, with a right mac (made as the module makes it)
    old = "%08x" % (int(time.time()) - 1) + state[8:40]
    bad = callback(old + oauth_mac(old, binding, "/card/mine"), cookie, "ok-tamper-3")
    assert bad.status == 401 and "too long" in bad.json["message"], bad
    # a right mac over an evil path is still refused: same site only
    evil = "%08x" % (int(time.time()) + 100) + state[8:40]
    bad = callback(evil + oauth_mac(evil, binding, "//evil.com/"), binding + b64url(b"//evil.com/"),
                   "ok-tamper-4")
    assert bad.status == 401, bad
    # none of these wrote anything, and the untouched pair still works
    assert env.rcli("KEYS", "oauth:" + state[8:40]) == ""
    ok = callback(state, cookie, "ok-tamper-5")
    assert ok.status == 302 and ok.headers["location"] == "/card/mine", ok


def test_oauth_code_and_state_reach_no_log(env):
    import os
    mid, _ = env.member("logless")
    r, q, binding, cb = oauth_login(env, "logless")
    assert cb.status == 302, cb
    code = f"ok-logless-{Env_codes[0]}"
    state = q["state"][0]
    # a refused callback too (its state is spent)
    bad = env.request("GET", f"/oauth/callback?code=ok-logless-x&state={state}",
                      headers={"Cookie": "member_oauth=" + binding})
    assert bad.status == 401, bad

    def log():
        with open(os.path.join(env.dir, "access.log"), errors="replace") as f:
            return f.read()
    harness.wait_until("the access log", lambda: log().count("/oauth/callback") >= 2)
    text = log() + env.log_text()
    for secret in [code, "ok-logless-x", state, state[8:40], state[40:], openid_for("logless")]:
        assert secret not in text, secret
    assert "code=" not in text and "state=" not in text


def test_oauth_believes_no_forwarded_header(env):
    """Without member_scheme, what a client says of its scheme changes
    nothing: plain http here, so no Secure and an http redirect_uri."""
    forged = {"Host": "member.brand.test", "X-Forwarded-Proto": "https",
              "X-Forwarded-Ssl": "on", "Forwarded": "proto=https", "X-Scheme": "https"}
    r = env.request("GET", "/oauth/?return=/card/", headers=forged)
    assert r.status == 302, r
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["redirect_uri"] == ["http://member.brand.test/oauth/callback"], q
    cookie = cookie_of(r, "member_oauth")
    assert "Secure" not in cookie, cookie
    binding = cookie.split(";")[0].split("=", 1)[1]
    Env_codes[0] += 1
    cb = env.request("GET", f"/oauth/callback?code=ok-forger-{Env_codes[0]}&state={q['state'][0]}",
                     headers=dict(forged, Cookie="member_oauth=" + binding))
    assert cb.status == 302, cb
    assert "Secure" not in cookie_of(cb, "member_session")


@harness.own_env(extra_server="member_scheme https;")
def test_oauth_behind_a_tls_proxy(env):
    """member_scheme https: the proxy in front speaks TLS, nginx plain http;
    the cookies are Secure and WeChat sends the visitor back over https."""
    r = oauth_start(env)
    assert r.status == 302, r
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["redirect_uri"] == ["https://member.brand.test/oauth/callback"], q
    assert "; Secure" in cookie_of(r, "member_oauth")
    env.member("proxied")
    _, _, _, cb = oauth_login(env, "proxied")
    assert cb.status == 302, cb
    session = cookie_of(cb, "member_session")
    assert "; Secure" in session and "HttpOnly" in session, session
    remember(env, session.split(";")[0].split("=", 1)[1].split(".")[1])
    # the invite link a member shares is https too
    token = env.login("proxied").json["token"]
    remember(env, token)
    r = env.request("GET", "/api/referral", headers={"Authorization": "Bearer " + token,
                                                      "Host": "member.brand.test"})
    assert r.status == 200 and r.json["link"].startswith("https://member.brand.test/"), r


@harness.own_env(extra_server="member_wechat_stable_token on;")
def test_stable_token(env):
    token = session(env, "stable")
    r = jssdk(env, token, "https://pages.example.com/")
    assert r.status == 200, (r, env.fake_get("/_fake/calls"))
    st = env.fake_get("/_fake/state")
    remember(env, st["token"], *st["tickets"].values())
    got = calls(env, "/cgi-bin/stable_token")
    assert len(got) == 1 and got[0]["method"] == "POST", got
    assert json.loads(got[0]["body"]) == {"grant_type": "client_credential", "appid": APPID,
                                          "secret": SECRET, "force_refresh": False}
    assert calls(env, "/cgi-bin/token") == []
    # refused: one forced refresh
    fake_post(env, "/_fake/invalidate")
    env.rcli("DEL", "{wx:" + APPID + ":jsapi}")
    r = jssdk(env, token, "https://pages.example.com/")
    assert r.status == 200, (r, [(c["path"], c.get("body")) for c in env.fake_get("/_fake/calls")])
    got = calls(env, "/cgi-bin/stable_token")
    assert len(got) == 2 and json.loads(got[1]["body"])["force_refresh"] is True, got
    remember(env, env.fake_get("/_fake/state")["token"])
