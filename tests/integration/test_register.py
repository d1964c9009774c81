"""Registration with consent, the phone from WeChat (encrypted data or a
phone-number code), links to existing members through the phone index, PII
sealed at rest with rotating keys, and the member's rights: profile,
export, deletion."""

import base64
import hashlib
import json
import os
import subprocess
import time

import harness
from harness import APPID, PII_KEY, openid_for

from test_pages import fake_post, fresh, redis_dump

OTHER_KEY = "0f" * 32


def session_key_for(name):
    return base64.b64encode(hashlib.md5(name.encode()).digest()).decode()


def remember(env, *secrets):
    env.secrets = getattr(env, "secrets", []) + [s for s in secrets if s]


def login(env, name):
    r = env.login(name)
    assert r.status == 200, r
    remember(env, r.json["token"].split(".")[1], session_key_for(name))
    return r.json["token"]


def encrypt_phone(name, phone, appid=APPID, ts=None):
    """getPhoneNumber's encryptedData under the session_key of `name`."""
    plain = json.dumps({"phoneNumber": phone, "purePhoneNumber": phone,
                        "countryCode": "86",
                        "watermark": {"appid": appid,
                                      "timestamp": int(ts or time.time())}})
    key = base64.b64decode(session_key_for(name)).hex()
    iv = os.urandom(16)
    out = subprocess.run(["openssl", "enc", "-aes-128-cbc", "-K", key, "-iv", iv.hex()],
                         input=plain.encode(), capture_output=True, check=True).stdout
    return base64.b64encode(out).decode(), base64.b64encode(iv).decode()


def body(**extra):
    b = {"name": "张三", "birthday": "1990-05-01", "gender": "male",
         "consent": {"privacy": "2026-01"}}
    b.update(extra)
    return b


def register(env, token, **extra):
    return env.request("POST", "/api/register", body(**extra),
                       headers={"Authorization": "Bearer " + token})


def test_register_with_a_phone_code(env):
    fresh(env)
    token = login(env, "regcode")
    r = register(env, token, phone_code="phone-13800000001")
    assert r.status == 201, r
    mid = token.split(".")[0]
    assert r.json["member_id"] == mid and len(r.json["card_no"]) == 16
    assert "token" not in r.json                # the token goes on working
    card = env.api("card", token).json
    assert card["status"] == "active" and card["card_no"] == r.json["card_no"]
    p = env.api("profile", token)
    assert p.status == 200, p
    assert p.json["name"] == "张三" and p.json["phone"] == "138****0001"
    assert p.json["birthday"] == "1990-05-01" and p.json["gender"] == "male"
    assert p.json["consent"]["privacy"] == "2026-01"
    assert abs(p.json["consent"]["at"] - time.time()) < 10
    # the call WeChat saw: the cached token, the code in a POST body
    c = [c for c in env.fake_get("/_fake/calls")
         if c["path"] == "/wxa/business/getuserphonenumber"][-1]
    assert c["method"] == "POST" and json.loads(c["body"]) == {"code": "phone-13800000001"}
    assert c["query"]["access_token"] == env.fake_get("/_fake/state")["token"]
    # the till sees the masked name
    assert env.rcli("HGET", "{m:" + mid + "}", "name_masked") == "张*"
    remember(env, "13800000001", "张三")


def test_register_with_encrypted_data(env):
    token = login(env, "regdata")
    data, iv = encrypt_phone("regdata", "13800000002")
    r = register(env, token, encrypted_data=data, iv=iv)
    assert r.status == 201, r
    assert env.api("profile", token).json["phone"] == "138****0002"
    remember(env, "13800000002")


def test_encrypted_data_that_must_not_open(env):
    token = login(env, "regbad")
    cases = []
    cases.append(encrypt_phone("regbad", "13800000003", appid="wx00000000000000ff"))
    cases.append(encrypt_phone("regbad", "13800000003", ts=time.time() - 3600))
    cases.append(encrypt_phone("someoneelse", "13800000003"))       # other session_key
    data, iv = encrypt_phone("regbad", "13800000003")
    raw = bytearray(base64.b64decode(data))
    raw[5] ^= 1
    cases.append((base64.b64encode(bytes(raw)).decode(), iv))       # tampered
    cases.append((data[:-4], iv))                                    # cut
    cases.append((data, base64.b64encode(b"x" * 16).decode()))      # wrong iv
    cases.append((data, "short"))
    cases.append(("!!!!", iv))
    for data_, iv_ in cases:
        r = register(env, token, encrypted_data=data_, iv=iv_)
        assert r.status == 400 and r.json["error"] == "bad_request", (data_[:10], r)
    r = register(env, token, encrypted_data=data)
    assert r.status == 400, r
    assert env.api("card", token).status == 404          # still a visitor
    # a web session (member_wechat_oauth) has no session_key
    remember(env, "13800000003")


def test_bad_registrations(env):
    token = login(env, "regform")
    for extra, field in [({"name": None}, "name"), ({"name": ""}, "name"),
                         ({"birthday": "1990-13-01"}, "birthday"),
                         ({"birthday": "19900501"}, "birthday"),
                         ({"gender": "x"}, "gender"), ({"consent": None}, "consent"),
                         ({"consent": {}}, "consent"), ({"consent": {"privacy": ""}}, "consent"),
                         ({}, "phone"), ({"phone": "abc"}, "phone"),
                         ({"phone": "13800000004", "phone_code": "phone-1"}, "phone"),
                         ({"phone_code": "a b"}, "phone_code")]:
        b = body(**extra)
        b = {k: v for k, v in b.items() if v is not None}
        r = env.request("POST", "/api/register", b,
                        headers={"Authorization": "Bearer " + token})
        assert r.status == 400 and r.json["error"] == "bad_request", (extra, r)
        assert field in r.json["message"], (extra, r.json)
    r = env.request("POST", "/api/register", b"[]",
                    headers={"Authorization": "Bearer " + token})
    assert r.status == 400, r
    assert env.api("register", token).status == 405
    r = env.request("POST", "/api/register", body(phone="13800000004"))
    assert r.status == 401, r


def test_phone_code_errors(env):
    fresh(env)
    token = login(env, "regerr")
    for code, status in [("bad-1", 400), ("busy-1", 503), ("limit-1", 429),
                         ("other-13800000005", 400), ("nothing", 400)]:
        r = register(env, token, phone_code=code)
        assert r.status == status, (code, r)
    # a refused access_token is refreshed once
    fake_post(env, "/_fake/invalidate")
    fake_post(env, "/_fake/reset")
    r = register(env, token, phone_code="phone-13800000005")
    assert r.status == 201, r
    paths = [c["path"] for c in env.fake_get("/_fake/calls")]
    assert paths == ["/wxa/business/getuserphonenumber", "/cgi-bin/token",
                     "/wxa/business/getuserphonenumber"], paths


def test_registered_twice(env):
    token = login(env, "regtwice")
    assert register(env, token, phone="13800000006").status == 201
    r = register(env, token, phone="13800000007")
    assert r.status == 409 and r.json["error"] == "conflict", r


def test_a_verified_phone_links_to_the_existing_member(env):
    fresh(env)
    r = env.admin("POST", "members", {"name": "李四", "phone": "13900000001"})
    assert r.status == 201, r
    mid, card_no = r.json["member_id"], r.json["card_no"]
    env.admin("POST", f"members/{mid}/recharge", {"amount_fen": 1000, "idempotency_key": "l1"})
    token = login(env, "linker")
    visitor = token.split(".")[0]
    assert visitor != mid
    # typed in by hand, the phone takes nobody's card
    r = register(env, token, phone="13900000001")
    assert r.status == 409 and r.json["error"] == "conflict", r
    r = register(env, token, phone_code="phone-13900000001", name="李四")
    assert r.status == 201, r
    assert r.json["member_id"] == mid and r.json["card_no"] == card_no
    new = r.json["token"]
    remember(env, new.split(".")[1])
    assert new.split(".")[0] == mid
    card = env.api("card", new).json
    assert card["balance_fen"] == 1000
    assert env.api("card", token).status == 401         # the visitor's session is gone
    assert env.rcli("EXISTS", "{m:" + visitor + "}") == "0"
    r = env.admin("POST", "members/lookup", {"openid": openid_for("linker")})
    assert r.status == 200 and r.json["member_id"] == mid, r
    assert env.login("linker").json["member_id"] == mid
    # another WeChat user with that phone cannot take it
    other = login(env, "linker2")
    r = register(env, other, phone_code="phone-13900000001-2")
    assert r.status == 409, r
    remember(env, "13900000001", "李四")


def test_a_stale_or_broken_phone_index(env):
    """The index of a phone names a member who has another phone now: the
    visitor takes the phone (link.lua's STALE, then a forced claim); an
    index that names no member id is Redis failing, and changes nothing."""
    fresh(env)
    r = env.admin("POST", "members", {"name": "王五", "phone": "13900000031"})
    assert r.status == 201, r
    old = r.json["member_id"]
    index = env.rcli("HGET", "{m:" + old + "}", "phone_index")
    assert index.startswith("phone:") and env.rcli("GET", index) == old
    env.rcli("HSET", "{m:" + old + "}", "phone_index", "phone:another")
    token = login(env, "stale1")
    visitor = token.split(".")[0]
    r = register(env, token, phone_code="phone-13900000031", name="王五")
    assert r.status == 201, r
    assert r.json["member_id"] == visitor != old, r
    assert env.rcli("GET", index) == visitor
    assert env.rcli("HGET", "{m:" + visitor + "}", "phone_index") == index

    env.rcli("SET", index, "not-a-member-id")
    token = login(env, "stale2")
    r = register(env, token, phone_code="phone-13900000031-2", name="王五")
    assert r.status == 503 and r.json["error"] == "redis_unavailable", r
    assert env.rcli("GET", index) == "not-a-member-id"
    assert env.rcli("HGET", "{m:" + token.split(".")[0] + "}", "phone_index") == ""
    env.rcli("SET", index, visitor)
    remember(env, "13900000031", "王五")


def test_profile_put(env):
    token = login(env, "putter")
    r = env.request("PUT", "/api/profile", {"name": "王五"},
                    headers={"Authorization": "Bearer " + token})
    assert r.status == 404, r                           # no card yet
    assert register(env, token, phone="13800000008").status == 201
    r = env.request("PUT", "/api/profile", {"name": "王小五", "address": "上海市"},
                    headers={"Authorization": "Bearer " + token})
    assert r.status == 200, r
    assert r.json["name"] == "王小五" and r.json["address"] == "上海市"
    assert r.json["birthday"] == "1990-05-01"
    mid = token.split(".")[0]
    assert env.rcli("HGET", "{m:" + mid + "}", "name_masked") == "王*"
    for bad in [{}, {"phone": "13800000009"}, {"birthday": "x"}, {"name": ""}]:
        r = env.request("PUT", "/api/profile", bad,
                        headers={"Authorization": "Bearer " + token})
        assert r.status == 400, (bad, r)
    remember(env, "13800000008", "王小五", "上海市")


def test_marketing_consent(env):
    """consent.marketing (docs/outbox.md): given at registration, withdrawn
    and given again in the profile; absent means never asked."""
    token = login(env, "marketer")
    auth = {"Authorization": "Bearer " + token}
    r = register(env, token, phone="13800000031",
                 consent={"privacy": "2026-01", "marketing": "yes"})
    assert r.status == 400 and "consent.marketing" in r.json["message"], r
    r = register(env, token, phone="13800000031",
                 consent={"privacy": "2026-01", "marketing": True})
    assert r.status == 201, r
    mid = token.split(".")[0]
    assert env.rcli("HGET", "{m:" + mid + "}", "consent_marketing") == "1"
    c = env.api("profile", token).json["consent"]
    assert c["privacy"] == "2026-01" and c["marketing"] is True, c
    r = env.request("PUT", "/api/profile", {"consent": {"marketing": False}}, headers=auth)
    assert r.status == 200 and r.json["consent"]["marketing"] is False, r
    assert env.rcli("HGET", "{m:" + mid + "}", "consent_marketing") == "0"
    for bad in ({"consent": {"marketing": 1}}, {"consent": []}):
        r = env.request("PUT", "/api/profile", bad, headers=auth)
        assert r.status == 400 and "consent" in r.json["message"], (bad, r)
    assert env.rcli("HGET", "{m:" + mid + "}", "consent_marketing") == "0"

    other = login(env, "unasked")
    assert register(env, other, phone="13800000032").status == 201
    assert "marketing" not in env.api("profile", other).json["consent"]
    remember(env, "13800000031", "13800000032")


def test_export(env):
    token = login(env, "exporter")
    assert register(env, token, phone="13800000010", address="北京市").status == 201
    mid = token.split(".")[0]
    env.admin("POST", f"members/{mid}/recharge", {"amount_fen": 500, "idempotency_key": "e1"})
    r = env.api("export", token)
    assert r.status == 200, r
    m = r.json["member"]
    assert m["member_id"] == mid and m["phone"] == "13800000010"
    assert m["name"] == "张三" and m["address"] == "北京市"
    assert m["openid"] == openid_for("exporter")
    assert m["consent"]["privacy"] == "2026-01"
    assert [e["amount_fen"] for e in r.json["ledger"]] == [500]
    assert "phone_index" not in json.dumps(r.json)
    remember(env, "13800000010", "北京市")


def test_delete_profile(env):
    token = login(env, "leaver")
    mid = token.split(".")[0]
    assert register(env, token, phone="13800000011").status == 201
    env.admin("POST", f"members/{mid}/recharge", {"amount_fen": 700, "idempotency_key": "d1"})
    second = login(env, "leaver")
    r = env.request("DELETE", "/api/profile", headers={"Authorization": "Bearer " + token})
    assert r.status == 200, r
    rec = env.rcli("HGETALL", "{m:" + mid + "}")
    for field in ["name", "phone", "birthday", "gender", "openid", "phone_index"]:
        assert "\n" + field + "\n" not in "\n" + rec + "\n", field
    assert env.rcli("HGET", "{m:" + mid + "}", "status") == "deleted"
    assert env.rcli("XLEN", "{m:" + mid + "}:ledger") == "1"     # the ledger stays
    assert env.admin("POST", "members/lookup", {"phone": "13800000011"}).status == 404
    assert env.rcli("EXISTS", "openid:" + openid_for("leaver")) == "0"
    assert env.api("profile", token).status == 401
    assert env.api("card", second).status in (401, 404)
    assert env.api("profile", second).status == 401
    # the same person comes back as a new visitor
    again = env.login("leaver").json
    assert again["member_id"] is None and again["token"].split(".")[0] != mid
    remember(env, again["token"].split(".")[1], "13800000011")


def test_web_sessions_register_with_a_phone_code(env):
    from test_pages import oauth_login, cookie_of
    _, _, _, cb = oauth_login(env, "webreg")
    cookie = cookie_of(cb, "member_session").split(";")[0]
    remember(env, cookie.split("=", 1)[1].split(".")[1])
    data, iv = encrypt_phone("webreg", "13800000012")
    ours = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{env.port}"}
    r = env.request("POST", "/api/register", body(encrypted_data=data, iv=iv),
                    headers=ours)
    assert r.status == 400, r                      # no session_key on the web
    # a change by cookie comes from the site's own pages, or not at all
    for other in [{"Cookie": cookie}, {"Cookie": cookie, "Origin": "https://evil.example"},
                  {"Cookie": cookie, "Referer": "https://127.0.0.1.evil.example/x"}]:
        r = env.request("POST", "/api/register", body(phone_code="phone-13800000012"),
                        headers=other)
        assert r.status == 403 and r.json["error"] == "forbidden", (other, r)
    r = env.request("POST", "/api/register", body(phone_code="phone-13800000012"),
                    headers={"Cookie": cookie,
                             "Referer": f"http://127.0.0.1:{env.port}/card/"})
    assert r.status == 201, r
    assert env.request("GET", "/api/profile", headers={"Cookie": cookie}).status == 200
    remember(env, "13800000012")


def test_nothing_sensitive_in_redis(env):
    dump = redis_dump(env)
    secrets = [s for s in getattr(env, "secrets", []) if s]
    assert secrets
    for s in secrets:
        assert s not in dump, s[:4]
    assert "member:seq" in dump                  # the dump does see everything
    assert "张三" not in dump and "138000000" not in dump
    # nor in nginx's logs (run.py checks the error log with env.secrets)
    with open(os.path.join(env.dir, "access.log"), errors="replace") as f:
        access = f.read()
    assert "/api/register" in access
    for s in secrets:
        assert s not in access, s[:4]


ROTATED = f"""
        location /api2/ {{
            member_api;
            member_pii_key k2 {OTHER_KEY};
            member_pii_key k1 {PII_KEY};
        }}
        location /admin2/ {{
            member_admin;
            member_pii_key k2 {OTHER_KEY};
            member_pii_key k1 {PII_KEY};
        }}
"""


@harness.own_env(extra_server=ROTATED)
def test_keys_rotate(env):
    token = login(env, "rotor")
    assert register(env, token, phone="13800000013").status == 201
    mid = token.split(".")[0]
    auth = {"Authorization": "Bearer " + token}
    assert env.rcli("HGET", "{m:" + mid + "}", "name").startswith("k1:")
    # the new key line opens what the old one sealed
    r = env.request("GET", "/api2/profile", headers=auth)
    assert r.status == 200 and r.json["name"] == "张三", r
    r = env.admin("POST", "members/lookup", {"phone": "13800000013"})
    assert r.status == 200, r
    r = env.request("POST", "/admin2/members/lookup", {"phone": "13800000013"},
                    headers={"Authorization": "Bearer " + env_admin_token()})
    assert r.status == 200 and r.json["name"] == "张三", r
    # and seals what is written now
    r = env.request("PUT", "/api2/profile", {"name": "赵六"}, headers=auth)
    assert r.status == 200 and r.json["name"] == "赵六", r
    assert env.rcli("HGET", "{m:" + mid + "}", "name").startswith("k2:")
    assert env.rcli("HGET", "{m:" + mid + "}", "phone").startswith("k1:")
    # without the new key, that value does not open; the rest does
    r = env.api("profile", token)
    assert r.status == 200 and r.json["name"] is None and r.json["phone"] == "138****0013"
    remember(env, "13800000013", "赵六")


def env_admin_token():
    from harness import ADMIN_TOKEN
    return ADMIN_TOKEN
