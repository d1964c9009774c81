"""Admin keys and roles, the brute-force lockout and the audit stream.

The bootstrap token (member_admin_token) makes keys; a key's role decides
what it may do (the grants of ngx_http_member_admin_routes in
ngx_http_member_admin.c); every change that succeeds is in {b}:audit with
who, what and, where the handler knows them, the values before and after.
"""

import hashlib
import http.client
import json
import time

from harness import ADMIN_TOKEN, Response, digest, make_key, own_env


def audit(env, query="", token=ADMIN_TOKEN):
    r = env.admin("GET", "audit" + ("?" + query if query else ""), token=token)
    assert r.status == 200, r
    return r.json


def wait_audit(env, query, n=1):
    """The audit is written in the background: it may lag the answer."""
    deadline = time.monotonic() + 5
    while True:
        page = audit(env, query)
        if len(page["items"]) >= n or time.monotonic() > deadline:
            return page
        time.sleep(0.05)


def store(env, store_id):
    r = env.admin("POST", "stores", {"store_id": store_id, "name": store_id})
    assert r.status in (201, 409), r


def test_bootstrap_makes_keys_that_redis_does_not_hold(env):
    kid, key = make_key(env, "hq", name="总部")
    assert key.startswith("mk_" + kid + ".") and len(key) == 3 + 16 + 1 + 43
    secret = key.split(".", 1)[1]
    sid, _ = make_key(env, "store", stores=["S1", "S2"])
    rid, _ = make_key(env, "readonly")
    r = env.admin("GET", "keys")
    assert r.status == 200, r
    listed = {k["key_id"]: k for k in r.json["keys"]}
    assert {kid, sid, rid} <= set(listed), listed
    assert listed[kid]["role"] == "hq" and listed[kid]["name"] == "总部"
    assert listed[sid]["role"] == "store" and listed[sid]["stores"] == ["S1", "S2"]
    assert "stores" not in listed[rid] or listed[rid]["stores"] is None
    assert all("key" not in k and "hash" not in k for k in r.json["keys"]), r
    assert secret not in r.body.decode()
    raw = env.rcli("HGET", "{b}:admin:keys", kid)
    assert secret not in raw and key not in raw
    assert json.loads(raw)["hash"] == hashlib.sha256(secret.encode()).hexdigest()
    # the key works
    r = env.admin("GET", "rules", token=key)
    assert r.status == 200, r


def test_bad_key_bodies_change_nothing(env):
    before = digest(env)
    for body in [{}, {"name": "x"}, {"role": "hq"}, {"name": "", "role": "hq"},
                 {"name": "x" * 65, "role": "hq"}, {"name": "x", "role": "admin"},
                 {"name": "x", "role": "HQ"}, {"name": "x", "role": 1},
                 {"name": "x", "role": "store"}, {"name": "x", "role": "store", "stores": []},
                 {"name": "x", "role": "store", "stores": "S1"},
                 {"name": "x", "role": "store", "stores": [1]},
                 {"name": "x", "role": "store", "stores": ["a/b"]},
                 {"name": "x", "role": "store", "stores": [""]},
                 {"name": "x", "role": "readonly", "stores": ["S1"]},
                 {"name": "x", "role": "hq", "stores": ["S1"]}]:
        r = env.admin("POST", "keys", body)
        assert r.status == 400 and r.json["error"] == "bad_request", (body, r)
    for raw in ["{", "[]", "", "nul", "\xff\xfe", '{"name":"x","role":"hq"']:
        r = env.admin("POST", "keys", raw.encode("latin-1"))
        assert r.status == 400, (raw, r)
    for method, path in [("PUT", "keys"), ("DELETE", "keys"), ("GET", "keys/0123456789abcdef"),
                         ("POST", "keys/0123456789abcdef")]:
        r = env.admin(method, path)
        assert r.status == 405, (method, path, r)
    for path in ["keys/short", "keys/0123456789abcdef/x", "keys/0123456789abcdeg0"]:
        r = env.admin("DELETE", path)
        assert r.status == 404, (path, r)
    r = env.admin("DELETE", "keys/0123456789abcdef")
    assert r.status == 404 and r.json["error"] == "not_found", r
    assert digest(env) == before


# (method, path, body) -> the roles that may do it; bootstrap may do all
MATRIX = [
    ("GET", "members/{mid}", None, {"hq", "readonly"}),
    ("GET", "members?card_no={card}", None, {"hq", "store", "readonly"}),
    ("POST", "members/lookup", {"openid": "oNobody"}, {"hq", "readonly"}),
    ("POST", "members/lookup", {"phone": "13800000000"}, {"hq", "store", "readonly"}),
    ("GET", "members/{mid}/transactions", None, {"hq", "readonly"}),
    ("GET", "members/{mid}/points", None, {"hq", "readonly"}),
    ("POST", "members", {}, {"hq"}),
    ("POST", "members/{mid}/recharge", {"amount_fen": 100, "idempotency_key": "m-{n}"}, {"hq"}),
    ("POST", "members/{mid}/points", {"delta": 1, "reason": "t", "idempotency_key": "p-{n}"},
     {"hq"}),
    ("PUT", "members/{mid}/level", {"level": "silver", "reason": "t"}, {"hq"}),
    ("GET", "rules", None, {"hq", "readonly"}),
    ("PUT", "rules", "RULES", {"hq"}),
    ("GET", "stores", None, {"hq", "readonly"}),
    ("POST", "stores", {"store_id": "M{n}", "name": "m"}, {"hq"}),
    ("GET", "stores/S1", None, {"hq", "store", "readonly"}),
    ("GET", "stores/S1/transactions", None, {"hq", "store", "readonly"}),
    ("GET", "stores/S9/transactions", None, {"hq", "readonly"}),
    ("POST", "stores/S1/transactions", {}, {"hq"}),
    ("GET", "feedback", None, {"hq", "readonly"}),
    ("GET", "feedback?status=open", None, {"hq", "readonly"}),
    ("POST", "feedback/0000000000000000000aa/answer", {"answer": "x"}, {"hq"}),
    ("GET", "audit", None, {"hq", "readonly"}),
    ("GET", "keys", None, set()),
    ("POST", "keys", {"name": "x", "role": "hq"}, set()),
    ("DELETE", "keys/0123456789abcdef", None, set()),
    ("GET", "segments", None, {"hq", "readonly"}),
    ("GET", "churn", None, {"hq", "readonly"}),
    ("GET", "tags", None, {"hq", "readonly"}),
    ("GET", "analytics", None, {"hq", "readonly"}),
    ("POST", "members/{mid}/tags", {"add": ["vip"]}, {"hq"}),
    ("GET", "campaigns", None, {"hq", "readonly"}),
    ("POST", "campaigns/run", {}, {"hq"}),
    ("GET", "whoami", None, {"hq", "store", "readonly"}),
    # the routes of coupons, refunds of recharges and the fold (their issues)
    ("GET", "coupons/templates", None, {"hq", "readonly"}),
    ("POST", "coupons/templates", {}, {"hq"}),
    ("POST", "coupons/issue", {}, {"hq"}),
    ("GET", "members/{mid}/coupons", None, {"hq", "readonly"}),
    ("POST", "members/{mid}/recharge/refund", {}, {"hq"}),
    ("GET", "totals", None, {"hq", "readonly"}),
    ("GET", "reports/daily", None, {"hq", "readonly"}),
    ("POST", "fold/rescan", None, {"hq"}),
    ("GET", "some/future/route", None, {"hq", "readonly"}),
    ("POST", "some/future/route", {}, {"hq"}),
    ("DELETE", "members/{mid}", None, {"hq"}),
]


def test_every_role_on_every_route(env):
    store(env, "S1")
    mid, card = env.member()
    rules = env.admin("GET", "rules").json
    rules.pop("version", None)
    keys = {"hq": make_key(env, "hq")[1], "store": make_key(env, "store", ["S1"])[1],
            "readonly": make_key(env, "readonly")[1]}
    n = 0
    for method, path, body, allowed in MATRIX:
        for role, key in keys.items():
            n += 1
            p = path.format(mid=mid, card=card, n=n)
            b = rules if body == "RULES" else \
                json.loads(json.dumps(body).replace("{n}", str(n))) if body is not None else None
            r = env.admin(method, p, b, token=key)
            assert r.status != 401 and r.status < 500, (role, method, p, r)
            if role in allowed:
                assert r.status != 403, (role, method, p, r)
            else:
                assert r.status == 403 and r.json["error"] == "forbidden", (role, method, p, r)
        # the bootstrap token may do everything
        n += 1
        p = path.format(mid=mid, card=card, n=n)
        b = rules if body == "RULES" else \
            json.loads(json.dumps(body).replace("{n}", str(n))) if body is not None else None
        r = env.admin(method, p, b)
        assert r.status not in (401, 403) and r.status < 500, ("bootstrap", method, p, r)


def test_the_digest_sees_a_change(env):
    """digest() is what the changes-nothing checks stand on: a field, a
    key or a member of a set that changes changes it; the timers' keys do
    not."""
    mid, _ = env.member()
    before = digest(env)
    env.rcli("HSET", f"{{m:{mid}}}", "name_probe", "x")
    changed = digest(env)
    assert changed != before
    env.rcli("HDEL", f"{{m:{mid}}}", "name_probe")
    assert digest(env) == before
    env.rcli("SET", "probe", "1")
    assert digest(env) != before
    env.rcli("DEL", "probe")
    env.rcli("ZADD", "{b:fold:15}", "1", "999")
    assert digest(env) == before
    env.rcli("DEL", "{b:fold:15}")


def test_refused_changes_change_nothing(env):
    mid, _ = env.member()
    key = make_key(env, "readonly")[1]
    skey = make_key(env, "store", ["S1"])[1]
    time.sleep(0.3)                      # the keys' own audit entries
    before = digest(env)
    for k in (key, skey):
        for method, path, body in [("POST", f"members/{mid}/recharge",
                                    {"amount_fen": 100, "idempotency_key": "ro-1"}),
                                   ("PUT", f"members/{mid}/level", {"level": "gold", "reason": "x"}),
                                   ("POST", "members", {}), ("PUT", "rules", {}),
                                   ("POST", "stores", {"store_id": "RO", "name": "x"})]:
            r = env.admin(method, path, body, token=k)
            assert r.status == 403, (method, path, r)
    after = digest(env)
    assert after == before


@own_env(workers=2)
def test_a_revoked_key_is_refused_at_once_on_every_worker(env):
    kid, key = make_key(env, "hq")
    for _ in range(10):
        assert env.admin("GET", "rules", token=key).status == 200
    r = env.admin("DELETE", "keys/" + kid)
    assert r.status == 200 and r.json == {"revoked": True}, r
    for _ in range(20):
        r = env.admin("GET", "rules", token=key)
        assert r.status == 401 and r.json["error"] == "unauthorized", r
    # twenty failed logins: this address would wait a minute
    env.rcli("DEL", "{b}:admin:fail:127.0.0.1")
    assert kid not in [k["key_id"] for k in env.admin("GET", "keys").json["keys"]]
    r = env.admin("DELETE", "keys/" + kid)
    assert r.status == 404, r
    # revoking is audited with what the key could do
    page = wait_audit(env, "target=keys/" + kid, 2)
    methods = [e["method"] for e in page["items"]]
    assert methods == ["DELETE", "POST"], page
    assert page["items"][0]["before"]["role"] == "hq"
    assert page["items"][0]["after"] == {"revoked": True}


def test_wrong_keys_are_401(env):
    kid, key = make_key(env, "hq")
    secret = key.split(".", 1)[1]
    other = "A" if secret[0] != "A" else "B"
    for token in [key[:-1], key + "x", "mk_" + kid + "." + other + secret[1:],
                  "mk_0123456789abcdef." + secret, "mk_" + kid.upper() + "." + secret,
                  key.replace(".", "_"), "mk_", "Bearer " + key]:
        r = env.admin("GET", "rules", token=token)
        assert r.status == 401 and r.json["error"] == "unauthorized", (token, r)
    r = env.request("GET", "/admin/rules", headers={"Authorization": key})
    assert r.status == 401, r
    r = env.admin("GET", "rules", token=key)
    assert r.status == 200, r
    env.rcli("DEL", "{b}:admin:fail:127.0.0.1")


def admin_from(env, source, path, token=ADMIN_TOKEN):
    """GET /admin/<path> from another loopback address (127.0.0.0/8)."""
    c = http.client.HTTPConnection("127.0.0.1", env.port, timeout=10,
                                   source_address=(source, 0))
    try:
        c.request("GET", "/admin/" + path, headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        return Response(r.status, dict(r.getheaders()), r.read())
    finally:
        c.close()


@own_env()
def test_brute_force_is_locked_out(env):
    _, key = make_key(env, "readonly")
    # guesses of the bootstrap token's length and of keys alike
    for i in range(20):
        token = f"wrong-{i}" if i % 2 else ADMIN_TOKEN[:-2] + "%02d" % i
        r = env.admin("GET", "rules", token=token)
        assert r.status == 401, (i, r)
    r = env.admin("GET", "rules", token="wrong-again")
    assert r.status == 429 and r.json["error"] == "rate_limited", r
    # from that address the right key and the right bootstrap token wait
    # too, else a guesser would just ignore the 429s until it hit
    r = env.admin("GET", "rules", token=key)
    assert r.status == 429, r
    r = env.admin("GET", "rules")
    assert r.status == 429 and r.json["error"] == "rate_limited", r
    # ... but the flood locks out that address only, not the brand
    assert admin_from(env, "127.0.0.2", "rules").status == 200
    assert admin_from(env, "127.0.0.2", "rules", token=key).status == 200
    assert env.rcli("EXISTS", "{b}:admin:fail:127.0.0.2") == "0"
    ttl = int(env.rcli("TTL", "{b}:admin:fail:127.0.0.1"))
    assert 0 < ttl <= 60, ttl
    env.rcli("DEL", "{b}:admin:fail:127.0.0.1")
    assert env.admin("GET", "rules", token=key).status == 200
    assert env.admin("GET", "rules").status == 200


def test_audit_has_who_what_and_before_after(env):
    kid, key = make_key(env, "hq")
    mid, _ = env.member()
    env.rcli("DEL", "{b}:admin:fail:127.0.0.1")
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 10000, "idempotency_key": "a-1"}, token=key)
    assert r.status == 200, r
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 500, "idempotency_key": "a-2"}, token=key)
    assert r.status == 200, r
    r = env.admin("POST", f"members/{mid}/points",
                  {"delta": 30, "reason": "goodwill", "idempotency_key": "a-3"}, token=key)
    assert r.status == 200, r
    r = env.admin("PUT", f"members/{mid}/level", {"level": "gold", "reason": "vip"},
                  token=key)
    assert r.status == 200, r
    rules = env.admin("GET", "rules").json
    version = rules.pop("version")
    r = env.admin("PUT", "rules", rules, token=key)
    assert r.status == 200, r
    # a refused change and a read are not changes
    assert env.admin("PUT", f"members/{mid}/level", {"level": "x"}, token=key).status == 400
    assert env.admin("GET", f"members/{mid}", token=key).status == 200

    page = wait_audit(env, "actor=" + kid, 5)
    items = page["items"]
    assert [(e["method"], e["route"]) for e in items] == [
        ("PUT", "rules"), ("PUT", f"members/{mid}/level"), ("POST", f"members/{mid}/points"),
        ("POST", f"members/{mid}/recharge"), ("POST", f"members/{mid}/recharge")], items
    for e in items:
        assert e["actor"] == kid and e["role"] == "hq" and e["status"] == 200, e
        assert abs(e["at"] - time.time()) < 60, e
    assert items[0]["target"] == "rules", items[0]
    # the defaults, before any PUT, are no stored version
    assert items[0]["before"] == ({"version": version} if version else None), items[0]
    assert items[0]["after"] == {"version": version + 1}
    assert items[1]["target"] == f"members/{mid}"
    assert items[1]["before"] == {"level": "normal"} and items[1]["after"] == {"level": "gold"}
    assert items[2]["before"] == {"points": 0} and items[2]["after"] == {"points": 30}
    assert items[3]["before"]["balance_fen"] == 10000
    assert items[3]["after"]["balance_fen"] == 10500 and items[3]["after"]["amount_fen"] == 500
    assert items[4]["before"] == {"balance_fen": 0}

    # filters and pages
    by_target = audit(env, f"target=members/{mid}")["items"]
    assert all(e["target"] == f"members/{mid}" for e in by_target)
    assert [e["id"] for e in by_target[:4]] == [e["id"] for e in items[1:]]
    first = audit(env, f"actor={kid}&limit=2")
    assert len(first["items"]) == 2 and first["next"] == first["items"][1]["id"]
    second = audit(env, f"actor={kid}&limit=2&before={first['next']}")
    assert [e["id"] for e in second["items"]] == [e["id"] for e in items[2:4]]
    last = audit(env, f"actor={kid}&limit=5&before={second['next']}")
    assert [e["id"] for e in last["items"]] == [items[4]["id"]] and last["next"] is None
    assert audit(env, "actor=nobody")["items"] == []
    # the bootstrap token is an actor too
    boot = audit(env, "actor=bootstrap&limit=100")["items"]
    assert any(e["route"] == "members" and e["method"] == "POST"
               and e["target"] == f"members/{mid}" for e in boot), boot
    for q in ["limit=0", "limit=101", "before=x", "actor=" + "a" * 65, "target="]:
        r = env.admin("GET", "audit?" + q)
        assert r.status == 400, (q, r)
    assert env.admin("POST", "audit", {}).status == 405


def test_audit_holds_no_secret(env):
    kid, key = make_key(env, "hq")
    r = env.admin("POST", "stores", {"store_id": "AUD1", "name": "审计店"})
    assert r.status == 201, r
    secret = r.json["secret"]
    env.secrets = getattr(env, "secrets", []) + [secret]
    r = env.admin("POST", "members", {"name": "张三丰", "phone": "13912345678"})
    assert r.status == 201, r
    mid = r.json["member_id"]
    wait_audit(env, f"target=members/{mid}")
    raw = env.rcli("EVAL", "return cjson.encode(redis.call('XRANGE', KEYS[1], '-', '+'))",
                   "1", "{b}:audit")
    for s in [key, key.split(".", 1)[1], secret, "张三丰", "13912345678", ADMIN_TOKEN]:
        assert s not in raw, s
    page = audit(env, "target=keys/" + kid)
    assert page["items"][0]["after"]["role"] == "hq"
    assert page["items"][0]["after"]["key_id"] == kid
    store_entry = audit(env, "target=stores/AUD1")["items"][0]
    assert store_entry["after"] == {"store_id": "AUD1"}, store_entry


@own_env()
def test_a_failed_audit_write_is_logged_and_the_change_stands(env):
    mid, _ = env.member()
    time.sleep(0.2)
    env.rcli("DEL", "{b}:audit")
    env.rcli("SET", "{b}:audit", "not a stream")
    r = env.admin("PUT", f"members/{mid}/level", {"level": "silver", "reason": "t"})
    assert r.status == 200, r
    assert env.admin("GET", f"members/{mid}").json["level"] == "silver"
    deadline = time.monotonic() + 5
    while "audit entry not written" not in env.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [ln for ln in env.log_text().splitlines() if "audit entry not written" in ln]
    assert lines and "[error]" in lines[0], lines
    env.rcli("DEL", "{b}:audit")


def test_whoami_tells_the_console_what_to_show(env):
    kid, key = make_key(env, "store", ["S1", "S2"])
    assert env.admin("GET", "whoami", token=key).json == \
        {"actor": kid, "role": "store", "stores": ["S1", "S2"]}
    rid, rkey = make_key(env, "readonly")
    assert env.admin("GET", "whoami", token=rkey).json == \
        {"actor": rid, "role": "readonly", "stores": None}
    assert env.admin("GET", "whoami").json == \
        {"actor": "bootstrap", "role": "bootstrap", "stores": None}
    assert env.admin("POST", "whoami", {}).status == 405
    assert env.admin("GET", "whoami", token=None).status == 401


def test_audit_of_a_recharge_refund(env):
    kid, key = make_key(env, "hq")
    mid, _ = env.member()
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 60000, "idempotency_key": "rf-1"}, token=key)
    assert r.status == 200, r
    bonus, balance = r.json["bonus_fen"], r.json["balance_fen"]
    assert balance == 60000 + bonus
    r = env.admin("POST", f"members/{mid}/recharge/refund", {"idempotency_key": "rf-1"},
                  token=key)
    assert r.status == 200, r
    page = wait_audit(env, f"actor={kid}&target=members/{mid}", 2)
    e = page["items"][0]
    assert e["route"] == f"members/{mid}/recharge/refund", e
    assert e["before"] == {"balance_fen": balance}
    assert e["after"] == {"balance_fen": 0, "refunded_fen": 60000, "bonus_fen": bonus}
    # a store key may not refund
    skey = make_key(env, "store", ["S1"])[1]
    r = env.admin("POST", f"members/{mid}/recharge/refund", {"idempotency_key": "rf-1"},
                  token=skey)
    assert r.status == 403, r


# the admin record is a whitelist: exactly these fields, per view
RECORD_HQ = {"member_id", "card_no", "status", "level", "points", "balance_fen",
             "principal_fen", "bonus_fen", "points_debt", "period", "period_spend_fen",
             "spend_fen", "orders", "first_purchase_ts", "last_purchase_ts", "created_at",
             "activated_at", "registered_at", "deleted_at", "consent_privacy", "consent_at",
             "consent_marketing", "channel", "referred_by", "referred_via", "referred_at",
             "tags", "churn_score", "rfm", "wallet_card",
             "openid", "unionid", "name", "phone", "birthday", "gender", "address"}
RECORD_READONLY = RECORD_HQ - {"openid", "unionid", "birthday", "gender", "address"}
RECORD_STORE = {"card_no", "status", "level", "points", "balance_fen", "name", "phone"}
WALLET_CARD = {"card_id", "code", "status", "gifted", "claimed_at", "activated_at",
               "removed_at"}


def test_the_member_record_per_role(env):
    from harness import openid_for
    store(env, "S1")
    oid = openid_for("wholerecord")
    person = {"name": "李四光", "phone": "13912340000", "birthday": "1985-03-04",
              "gender": "female", "address": "杭州市西湖区"}
    r = env.admin("POST", "members", dict(person, openid=oid))
    assert r.status == 201, r
    mid, card = r.json["member_id"], r.json["card_no"]
    r = env.admin("POST", f"members/{mid}/recharge", {"amount_fen": 1000,
                                                       "idempotency_key": "whole-1"})
    assert r.status == 200, r
    r = env.login("wholerecord")                 # a session: "s:<hash>" in the hash
    assert r.status == 200 and r.json["member_id"] == mid, r
    env.secrets = getattr(env, "secrets", []) + [r.json["token"].split(".")[1]]
    now = str(int(time.time()))
    # every field the hash may hold, the module's internals too
    env.rcli("HSET", "{m:" + mid + "}", "unionid", "uWholeRecord", "points_debt", "0",
             "period", "1", "period_spend_fen", "500", "spend_fen", "500", "orders", "1",
             "first_purchase_ts", now, "last_purchase_ts", now, "registered_at", now,
             "deleted_at", "0", "consent_privacy", "2026-01", "consent_at", now,
             "consent_marketing", "1", "channel", "mp_home", "referred_by", "1",
             "referred_via", "wallet", "referred_at", now, "tags", "vip", "churn_score", "7",
             "wx_card_id", "pCardW", "wx_card_code", "123456789", "wx_card_status", "claimed",
             "wx_card_gifted", "0", "wx_card_claimed_at", now, "wx_card_activated_at", now,
             "wx_card_removed_at", "0", "wx_synced", "1-0", "wx_msg_seen", "1-0",
             "wx_msg_flight", "1-0|1", "wx_expiring_lot", "0", "welcome_at", now,
             "birthday_year", "2026", "recall_for", "0", "coupon_seq", "3",
             "referral_given", now, "referral_done", now)
    raw = env.rcli("HKEYS", "{m:" + mid + "}").split()
    assert any(k.startswith("s:") for k in raw) and "phone_index" in raw \
        and "name_masked" in raw and "birth_md" in raw, raw

    keys = {"hq": make_key(env, "hq")[1], "store": make_key(env, "store", ["S1"])[1],
            "readonly": make_key(env, "readonly")[1]}

    def reads(token):
        return [env.admin("GET", f"members/{mid}", token=token),
                env.admin("GET", f"members?card_no={card}", token=token),
                env.admin("POST", "members/lookup", {"openid": oid}, token=token),
                env.admin("POST", "members/lookup", {"phone": person["phone"]}, token=token)]

    for token in (ADMIN_TOKEN, keys["hq"]):
        for r in reads(token):
            assert r.status == 200, r
            assert set(r.json) == RECORD_HQ, set(r.json) ^ RECORD_HQ
            assert set(r.json["wallet_card"]) == WALLET_CARD, r.json["wallet_card"]
            assert all(r.json[k] == v for k, v in person.items()), r.json
            assert r.json["openid"] == oid and r.json["member_id"] == mid
            assert r.json["balance_fen"] == 1000 and "vip" in r.json["tags"]

    for r in reads(keys["readonly"]):
        assert r.status == 200, r
        assert set(r.json) == RECORD_READONLY, set(r.json) ^ RECORD_READONLY
        assert r.json["name"] == "李*" and r.json["phone"] == "139****0000", r.json
        assert r.json["member_id"] == mid and r.json["balance_fen"] == 1000

    by_id, by_card, by_openid, by_phone = reads(keys["store"])
    assert by_id.status == 403 and by_id.json["error"] == "forbidden", by_id
    assert by_openid.status == 403 and by_openid.json["error"] == "forbidden", by_openid
    for r in (by_card, by_phone):
        assert r.status == 200, r
        assert set(r.json) == RECORD_STORE, set(r.json) ^ RECORD_STORE
        assert r.json == {"card_no": card, "status": "active", "level": "normal",
                          "points": 0, "balance_fen": 1000, "name": "李*",
                          "phone": "139****0000"}, r.json
    # ids are sequential: a store walks none of them
    for other in range(1, int(mid) + 2):
        assert env.admin("GET", f"members/{other}", token=keys["store"]).status == 403

    # nothing personal beyond the masks reaches the readonly and store views
    for role in ("readonly", "store"):
        for r in reads(keys[role]):
            for secret in list(person.values()) + [oid, "uWholeRecord", "1985", "杭州"]:
                assert secret not in r.body.decode(), (role, secret, r)
