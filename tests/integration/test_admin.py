"""The brand's admin API: members, lookups, recharges and the ledger."""

import os
import threading

from harness import ADMIN_TOKEN, openid_for, wait_until


def test_create_member_without_openid(env):
    r = env.admin("POST", "members", {})
    assert r.status == 201, r
    mid, card = r.json["member_id"], r.json["card_no"]
    assert len(card) == 16 and card.startswith("88") and card.isdigit()
    rec = env.admin("GET", f"members/{mid}").json
    assert rec["member_id"] == mid and rec["card_no"] == card
    assert rec["level"] == "normal" and rec["status"] == "active"
    assert rec["points"] == 0 and rec["balance_fen"] == 0
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"


def test_create_member_with_openid_and_level(env):
    mid, card = env.member("ann", level="gold")
    r = env.admin("POST", "members/lookup", {"openid": openid_for("ann")})
    assert r.status == 200, r
    assert r.json["member_id"] == mid and r.json["level"] == "gold"
    assert r.json["openid"] == openid_for("ann")
    r = env.admin("GET", "members?card_no=" + card)
    assert r.status == 200 and r.json["member_id"] == mid, r


def test_same_openid_twice_is_a_conflict(env):
    env.member("dup")
    r = env.admin("POST", "members", {"openid": openid_for("dup")})
    assert r.status == 409 and r.json["error"] == "conflict", r


def test_concurrent_creates_of_one_openid_make_one_member(env):
    results = []

    def create():
        results.append(env.admin("POST", "members", {"openid": openid_for("race")}))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status for r in results)
    assert codes.count(201) == 1 and codes.count(409) == 7, codes


def test_bad_member_bodies(env):
    for body, field in [({"level": "diamond"}, "level"), ({"level": 3}, "level"),
                        ({"openid": "has space"}, "openid"), ({"openid": ""}, "openid"),
                        ({"openid": "x" * 129}, "openid")]:
        r = env.admin("POST", "members", body)
        assert r.status == 400 and r.json["error"] == "bad_request", (body, r)
        assert field in r.json["message"]
    for raw in ["{", "[]", "\"x\"", "", "{\"a\":1,\"a\":2}", "nul", "\xff\xfe"]:
        r = env.admin("POST", "members", raw.encode("latin-1"),
                      headers={"Content-Type": "application/json"})
        assert r.status == 400 and r.json["error"] == "bad_request", (raw, r)


def test_personal_data_is_stored_sealed(env):
    before = env.rcli("GET", "member:seq")
    for body in [{"phone": "张三"}, {"phone": "12"}, {"birthday": "张三"},
                 {"birthday": "2001-02-29"}, {"name": ""}, {"gender": "x"}, {"name": 5}]:
        r = env.admin("POST", "members", body)
        assert r.status == 400 and r.json["error"] == "bad_request", (body, r)
    assert env.rcli("GET", "member:seq") == before
    r = env.admin("POST", "members", {"name": "张三丰", "phone": "13812345678",
                                      "birthday": "2000-02-29", "level": "gold"})
    assert r.status == 201, r
    mid = r.json["member_id"]
    rec = env.admin("GET", f"members/{mid}").json
    assert rec["name"] == "张三丰" and rec["phone"] == "13812345678"
    assert rec["birthday"] == "2000-02-29"
    assert env.rcli("HGET", "{m:" + mid + "}", "name_masked") == "张*"
    assert "phone_index" not in rec and "name_masked" not in rec
    raw = env.rcli("HGETALL", "{m:" + mid + "}")
    assert "13812345678" not in raw and "张三丰" not in raw and "2000-02-29" not in raw
    assert env.rcli("HGET", "{m:" + mid + "}", "phone").startswith("k1:")
    # found by phone, in a body, never in a URL
    r = env.admin("POST", "members/lookup", {"phone": "13812345678"})
    assert r.status == 200 and r.json["member_id"] == mid, r
    r = env.admin("POST", "members/lookup", {"phone": "13800000000"})
    assert r.status == 404 and r.json["error"] == "not_found", r
    assert env.admin("POST", "members/lookup", {}).status == 400
    assert env.admin("GET", "members/lookup").status == 405
    # one phone, one member
    r = env.admin("POST", "members", {"phone": "13812345678"})
    assert r.status == 409 and r.json["error"] == "conflict", r
    env.secrets = getattr(env, "secrets", []) + ["13812345678", "张三丰"]


def access_log(env):
    with open(os.path.join(env.dir, "access.log"), errors="replace") as f:
        return f.read()


def test_openid_lookups_travel_in_a_body(env):
    """An openid is personal data: POST members/lookup {"openid"}; the old
    GET members?openid= answers 400 naming the POST, and no access log line
    carries an openid."""
    mid, _ = env.member("hidden")
    openid = openid_for("hidden")
    r = env.admin("POST", "members/lookup", {"openid": openid})
    assert r.status == 200 and r.json["member_id"] == mid, r
    r = env.admin("GET", "members?openid=" + openid)
    assert r.status == 400 and r.json["error"] == "bad_request", r
    assert "POST members/lookup" in r.json["message"], r
    for body in [{"openid": openid, "phone": "13800000000"}, {"openid": ""}, {"openid": 7},
                 {"openid": "o" * 129}, {}]:
        r = env.admin("POST", "members/lookup", body)
        assert r.status == 400 and r.json["error"] == "bad_request", (body, r)
    # nginx writes the line when the request ends
    wait_until("the access log", lambda: "members/lookup" in access_log(env))
    assert openid not in access_log(env)


def test_unknown_members_and_routes(env):
    for path in ["members/999999", "members/0", "members/01", "members/abc",
                 "members/99999999999999", "nothing", "members/1/nothing",
                 "membersx"]:
        r = env.admin("GET", path)
        assert r.status == 404 and r.json["error"] == "not_found", (path, r)
    for q in ["card_no=8800000000000000", "card_no=1234", "card_no=88000000000000x3"]:
        r = env.admin("GET", "members?" + q)
        assert r.status == 404 and r.json["error"] == "not_found", (q, r)
    r = env.admin("POST", "members/lookup", {"openid": openid_for("nobody")})
    assert r.status == 404 and r.json["error"] == "not_found", r
    r = env.admin("POST", "members/lookup", {"openid": "bad id"})
    assert r.status == 400, r
    r = env.admin("GET", "members")
    assert r.status == 400, r


def test_admin_needs_its_token(env):
    for token in [None, "", "wrong", ADMIN_TOKEN + "x", ADMIN_TOKEN[:-1]]:
        r = env.admin("GET", "members/1", token=token)
        assert r.status == 401 and r.json["error"] == "unauthorized", (token, r)
    r = env.request("GET", "/admin/members/1", headers={"Authorization": ADMIN_TOKEN})
    assert r.status == 401, r


def test_wrong_methods(env):
    mid, _ = env.member()
    for method, path in [("DELETE", "members"), ("PUT", f"members/{mid}"),
                         ("GET", f"members/{mid}/recharge"),
                         ("POST", f"members/{mid}/transactions")]:
        r = env.admin(method, path)
        assert r.status == 405 and r.json["error"] == "method_not_allowed", (method, path, r)


def test_recharge_with_bonus_steps(env):
    mid, _ = env.member()
    steps = [(100, 0), (49999, 0), (50000, 5000), (99999, 5000), (100000, 15000)]
    balance = 0
    for i, (amount, bonus) in enumerate(steps):
        r = env.admin("POST", f"members/{mid}/recharge",
                      {"amount_fen": amount, "idempotency_key": f"step-{i}"})
        assert r.status == 200, r
        balance += amount + bonus
        assert r.json["bonus_fen"] == bonus and r.json["balance_fen"] == balance, r
    rec = env.admin("GET", f"members/{mid}").json
    assert rec["balance_fen"] == balance
    assert rec["principal_fen"] == sum(a for a, _ in steps)
    assert rec["bonus_fen"] == sum(b for _, b in steps)


def test_recharge_is_idempotent(env):
    mid, _ = env.member()
    body = {"amount_fen": 50000, "idempotency_key": "order-1"}
    first = env.admin("POST", f"members/{mid}/recharge", body)
    again = env.admin("POST", f"members/{mid}/recharge", body)
    assert first.status == again.status == 200
    assert first.body == again.body
    assert env.admin("GET", f"members/{mid}").json["balance_fen"] == 55000
    other = env.admin("POST", f"members/{mid}/recharge",
                      {"amount_fen": 100, "idempotency_key": "order-1"})
    assert other.status == 409 and other.json["error"] == "conflict", other
    assert len(env.admin("GET", f"members/{mid}/transactions").json["items"]) == 1


def test_concurrent_retries_apply_once(env):
    mid, _ = env.member()
    results = []

    def go():
        results.append(env.admin("POST", f"members/{mid}/recharge",
                                 {"amount_fen": 1000, "idempotency_key": "burst"}))

    threads = [threading.Thread(target=go) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status for r in results} == {200}
    assert len({r.body for r in results}) == 1
    assert env.admin("GET", f"members/{mid}").json["balance_fen"] == 1000


def test_bad_recharges_change_nothing(env):
    mid, _ = env.member()
    for body, field in [({"amount_fen": 0, "idempotency_key": "a"}, "amount_fen"),
                        ({"amount_fen": -5, "idempotency_key": "a"}, "amount_fen"),
                        ({"amount_fen": 1.5, "idempotency_key": "a"}, "amount_fen"),
                        ({"amount_fen": "100", "idempotency_key": "a"}, "amount_fen"),
                        ({"amount_fen": 10 ** 12, "idempotency_key": "a"}, "amount_fen"),
                        ({"idempotency_key": "a"}, "amount_fen"),
                        ({"amount_fen": 100}, "idempotency_key"),
                        ({"amount_fen": 100, "idempotency_key": ""}, "idempotency_key"),
                        ({"amount_fen": 100, "idempotency_key": "a b"}, "idempotency_key"),
                        ({"amount_fen": 100, "idempotency_key": "k" * 65}, "idempotency_key")]:
        r = env.admin("POST", f"members/{mid}/recharge", body)
        assert r.status == 400 and field in r.json["message"], (body, r)
    r = env.admin("POST", "members/987654/recharge", {"amount_fen": 1, "idempotency_key": "a"})
    assert r.status == 404 and r.json["error"] == "not_found", r
    rec = env.admin("GET", f"members/{mid}").json
    assert rec["balance_fen"] == 0
    assert env.admin("GET", f"members/{mid}/transactions").json["items"] == []


def test_transactions_are_paged_newest_first(env):
    mid, _ = env.member()
    for i in range(7):
        env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 100 + i, "idempotency_key": f"p{i}"})
    seen, cursor = [], None
    while True:
        q = "?limit=3" + (f"&before={cursor}" if cursor else "")
        page = env.admin("GET", f"members/{mid}/transactions{q}").json
        seen += [e["amount_fen"] for e in page["items"]]
        assert len(page["items"]) <= 3
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [106, 105, 104, 103, 102, 101, 100], seen
    first = env.admin("GET", f"members/{mid}/transactions?limit=1").json["items"][0]
    assert first["type"] == "recharge" and first["balance_fen"] == sum(range(100, 107))
    assert isinstance(first["ts"], int) and first["idempotency_key"] == "p6"
    for q in ["limit=0", "limit=101", "limit=x", "before=abc", "before=1-", "before=-1"]:
        r = env.admin("GET", f"members/{mid}/transactions?{q}")
        assert r.status == 400, (q, r)
    r = env.admin("GET", "members/424242/transactions")
    assert r.status == 404, r


def test_stores(env):
    r = env.admin("POST", "stores", {"store_id": "S100", "name": "静安店"})
    assert r.status == 201, r
    secret = r.json["secret"]
    assert r.json["store_id"] == "S100" and len(secret) == 43
    env.secrets = getattr(env, "secrets", []) + [secret]
    again = env.admin("POST", "stores", {"store_id": "S100", "name": "other"})
    assert again.status == 409 and again.json["error"] == "conflict", again
    env.admin("POST", "stores", {"store_id": "A001", "name": "first"})
    stores = env.admin("GET", "stores").json
    ids = [s["store_id"] for s in stores]
    assert ids == sorted(ids) and "S100" in ids and "A001" in ids
    s100 = [s for s in stores if s["store_id"] == "S100"][0]
    assert s100["name"] == "静安店" and s100["status"] == "active"
    assert set(s100) == {"store_id", "name", "status", "created_at"}
    # a dump of Redis does not hold the secret
    assert secret not in env.rcli("HGETALL", "stores")
    for body in [{}, {"store_id": "S 1", "name": "x"}, {"store_id": "S2"},
                 {"store_id": "S2", "name": ""}, {"store_id": "x" * 33, "name": "x"},
                 {"store_id": "S2", "name": "x" * 97}]:
        r = env.admin("POST", "stores", body)
        assert r.status == 400, (body, r)
    assert env.admin("DELETE", "stores").status == 405
