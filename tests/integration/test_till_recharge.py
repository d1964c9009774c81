"""A recharge at the store's till (POST /scan/recharge): signed by the
store, on the member's ticket, the admin's bonus steps and idempotency,
recorded with the store and channel "till"; and everything it refuses."""

import json
import re
import secrets
import time

import harness
from test_fold import caught_up
from test_scan import Till, code_of


def ticket_of(env, till, mid, at=None):
    v = till.verify(code_of(mid, at=at))
    assert v.status == 200, v
    env.secrets.append(v.json["ticket"].split(".")[-1])
    return v.json["ticket"]


def state(env):
    """harness.digest() of one server, or of each master of a cluster (a
    line each): what every refused request must leave as it was"""
    out = env.rcli("EVAL", harness.DIGEST, "0")
    assert all(re.fullmatch(r"[0-9a-f]{40} [0-9]+", line) for line in out.split("\n")), out
    return out


def record(env, mid):
    r = env.admin("GET", f"members/{mid}")
    assert r.status == 200, r
    return r.json


def test_a_recharge_at_the_till(env):
    till = Till(env, "T-1")
    r = env.admin("POST", "members", {"name": "张三", "phone": "13800138000"})
    assert r.status == 201, r
    mid = r.json["member_id"]
    ticket = ticket_of(env, till, mid)

    body = {"ticket": ticket, "amount_fen": 50000, "idempotency_key": "till-1",
            "method": "cash"}
    r = till.call("recharge", body)
    assert r.status == 200, r
    a = r.json
    # the till's view: the amounts, the balance, the masked name; never a
    # phone or a birthday
    assert set(a) == {"balance_fen", "bonus_fen", "amount_fen", "transaction_id",
                      "store_id", "method", "name_masked"}, a
    assert a["amount_fen"] == 50000 and a["bonus_fen"] == 5000, a   # the rules' step
    assert a["balance_fen"] == 55000 and a["name_masked"] == "张*", a
    assert a["store_id"] == "T-1" and a["method"] == "cash", a
    assert b"13800138000" not in r.body and b"138" not in r.body

    # the same request again (a new nonce): the same answer, credited once
    again = till.call("recharge", body)
    assert again.status == 200 and again.body == r.body, again
    m = record(env, mid)
    assert m["principal_fen"] == 50000 and m["bonus_fen"] == 5000, m
    assert m["balance_fen"] == 55000, m

    # the same key, another request: 409, nothing written
    before = state(env)
    nonces = []
    for other in [dict(body, amount_fen=50001), dict(body, method="card"),
                  {k: v for k, v in body.items() if k != "method"}]:
        nonce = secrets.token_hex(12)
        nonces.append(nonce)
        c = till.call("recharge", other, nonce=nonce)
        assert c.status == 409 and c.json["error"] == "conflict", (other, c)
    for nonce in nonces:                # the gate's spent nonces, no more
        assert env.rcli("DEL", f"{{s:T-1}}:n:{nonce}") == "1"
    assert state(env) == before
    # the admin's recharge with the till's key is another request too
    c = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 50000, "idempotency_key": "till-1"})
    assert c.status == 409, c
    # and another store's request with the same key (its own ticket)
    other = Till(env, "T-2")
    c = other.call("recharge", dict(body, ticket=ticket_of(env, other, mid,
                                                             at=time.time() + 30)))
    assert c.status == 409, c

    # the higher step, by card, no method at all
    r = till.call("recharge", {"ticket": ticket, "amount_fen": 100000,
                               "idempotency_key": "till-2", "method": "card"})
    assert r.status == 200 and r.json["bonus_fen"] == 15000, r
    assert r.json["balance_fen"] == 170000, r
    r = till.call("recharge", {"ticket": ticket, "amount_fen": 1,
                               "idempotency_key": "till-3"})
    assert r.status == 200 and r.json["bonus_fen"] == 0 and r.json["method"] is None, r
    assert r.json["balance_fen"] == 170001, r

    # the ledger: store, channel and method; the admin's says its channel
    env.admin("POST", f"members/{mid}/recharge",
              {"amount_fen": 100, "idempotency_key": "hq-1"})
    items = env.admin("GET", f"members/{mid}/transactions").json["items"]
    assert [i["type"] for i in items] == ["recharge"] * 4, items
    assert items[0]["channel"] == "admin" and "store_id" not in items[0], items[0]
    assert [(i["channel"], i["store_id"], i.get("method")) for i in items[1:]] \
        == [("till", "T-1", None), ("till", "T-1", "card"),
            ("till", "T-1", "cash")], items
    assert items[3]["id"] == a["transaction_id"], items[3]

    # the fold: the store's ledger (its day close) and the day's report
    caught_up(env)
    store = env.admin("GET", "stores/T-1/transactions").json["items"]
    assert [(i["type"], i["amount_fen"], i["member_id"], i.get("method"))
            for i in store] == [("recharge", 1, str(mid), None),
                                ("recharge", 100000, str(mid), "card"),
                                ("recharge", 50000, str(mid), "cash")], store
    assert all(i["channel"] == "till" and i["store_id"] == "T-1" for i in store), store
    assert env.admin("GET", "stores/T-2/transactions").json["items"] == []
    today = time.strftime("%Y-%m-%d", time.gmtime(store[0]["ts"] + 8 * 3600))
    day = env.admin("GET", f"reports/daily?from={today}&to={today}").json["days"][0]
    assert day["recharge_fen"] >= 150001, day
    # by channel: the till's own fields, the admin's none (docs/ledger.md)
    assert day["recharge_till_fen"] == 150001 and day["bonus_till_fen"] == 20000, day
    assert day["liability_till_delta_fen"] == 170001, day
    assert not any("admin" in k for k in day), day

    # a refund of a recharge says the recharge's channel
    r = env.admin("POST", f"members/{mid}/recharge/refund", {"idempotency_key": "till-2"})
    assert r.status == 200 and r.json["refunded_fen"] == 100000, r
    r = env.admin("POST", f"members/{mid}/recharge/refund", {"idempotency_key": "hq-1"})
    assert r.status == 200 and r.json["refunded_fen"] == 100, r
    items = env.admin("GET", f"members/{mid}/transactions").json["items"]
    assert [(i["type"], i.get("of"), i.get("channel")) for i in items[:2]] \
        == [("refund", "recharge", "admin"), ("refund", "recharge", "till")], items[:2]
    assert record(env, mid)["balance_fen"] == 55001
    caught_up(env)
    day = env.admin("GET", f"reports/daily?from={today}&to={today}").json["days"][0]
    assert day["recharge_refund_till_fen"] == 100000, day
    assert day["liability_till_delta_fen"] == 55001, day
    totals = env.admin("GET", "totals").json
    assert totals["liability_till_fen"] == 55001, totals
    assert "liability_admin_fen" not in totals, totals


def test_what_the_till_recharge_refuses(env):
    till = Till(env, "T-3")
    mid, _ = env.member("refused")
    ticket = ticket_of(env, till, mid)
    other = Till(env, "T-4")
    ok = {"ticket": ticket, "amount_fen": 100, "idempotency_key": "r-1"}
    before = state(env)
    nonces = []

    def call(body, who=till, **kw):
        nonce = secrets.token_hex(12)
        nonces.append((who.store_id, nonce))
        return who.call("recharge", body, nonce=nonce, **kw)

    def unchanged():
        """what the refused calls wrote but their spent nonces: nothing"""
        while nonces:
            store, nonce = nonces.pop()
            assert env.rcli("DEL", f"{{s:{store}}}:n:{nonce}") == "1"
        assert state(env) == before

    # fields: unknown, missing, out of bounds, of the wrong type
    for body, field in [(dict(ok, order_id="x"), "order_id"),
                        (dict(ok, bonus_fen=1), "bonus_fen"),
                        ({k: v for k, v in ok.items() if k != "ticket"}, "ticket"),
                        ({k: v for k, v in ok.items() if k != "amount_fen"}, "amount_fen"),
                        ({k: v for k, v in ok.items() if k != "idempotency_key"},
                         "idempotency_key"),
                        (dict(ok, amount_fen=0), "amount_fen"),
                        (dict(ok, amount_fen=-100), "amount_fen"),
                        (dict(ok, amount_fen=100000001), "amount_fen"),  # the admin's max
                        (dict(ok, amount_fen=10 ** 15), "amount_fen"),
                        (dict(ok, amount_fen="100"), "amount_fen"),
                        (dict(ok, amount_fen=1.5), "amount_fen"),
                        (dict(ok, idempotency_key="a b"), "idempotency_key"),
                        (dict(ok, idempotency_key="k" * 65), "idempotency_key"),
                        (dict(ok, method="cheque"), "method"),
                        (dict(ok, method=1), "method")]:
        r = call(body)
        assert r.status == 400 and field in r.json["message"], (body, r)
    # the ticket: forged, another member's, another store's
    mid_s, step, secret = ticket.split(".")
    for bad in ["nope", mid_s + "." + step + "." + "A" * 43, "1." + step + "." + secret,
                mid_s + "." + str(int(step) - 1) + "." + secret]:
        r = call(dict(ok, ticket=bad))
        assert r.status == 401 and r.json["error"] == "unauthorized", (bad, r)
    r = call(ok, who=other)
    assert r.status == 401 and r.json["error"] == "unauthorized", r
    unchanged()
    # a balance that would pass its maximum: 422
    env.rcli("HSET", f"{{m:{mid}}}", "principal_fen", str(10 ** 15 - 50))
    before = state(env)
    r = call(ok)
    assert r.status == 422 and r.json["error"] == "limit_exceeded", r
    unchanged()
    # a member that is not active
    env.rcli("HSET", f"{{m:{mid}}}", "status", "frozen")
    before = state(env)
    r = call(dict(ok, idempotency_key="r-2"))
    assert r.status == 409 and r.json["error"] == "conflict", r
    unchanged()

    # refused before the gate: nothing at all, not even a nonce
    env.rcli("HSET", f"{{m:{mid}}}", "status", "active", "principal_fen", "0")
    before = state(env)
    path = "/scan/recharge"
    raw = json.dumps(ok).encode()
    h = till.headers(path, raw)
    for headers, body in [(dict(h, **{"X-Member-Signature": "0" * 64}), raw),
                          (h, raw.replace(b"100", b"999")),
                          (Till(env, "T-3", secret="x" * 43).headers(path, raw), raw),
                          ({"Authorization": "Bearer " + harness.ADMIN_TOKEN,
                            "Content-Type": "application/json"}, raw)]:
        r = env.request("POST", path, body, headers)
        assert r.status == 401, r
    assert state(env) == before
    assert record(env, mid)["balance_fen"] == 0
    r = env.request("GET", path)
    assert r.status == 405, r


def test_no_role_of_a_key_recharges_but_hq(env):
    """A store's money at the desk is its signed till: an admin key of the
    store or readonly role has no grant for the admin's recharge (403),
    and the till's route takes no admin key at all (401)."""
    mid, _ = env.member("roles")
    harness.make_key(env, "hq")
    before = state(env)
    for role, stores in [("store", ["T-5"]), ("readonly", None)]:
        _, key = harness.make_key(env, role, stores)
        before = state(env)
        r = env.admin("POST", f"members/{mid}/recharge",
                      {"amount_fen": 100, "idempotency_key": "k-" + role}, token=key)
        assert r.status == 403 and r.json["error"] == "forbidden", (role, r)
        r = env.request("POST", "/scan/recharge",
                        {"ticket": "x", "amount_fen": 100, "idempotency_key": "k"},
                        {"Authorization": "Bearer " + key})
        assert r.status == 401, (role, r)
        assert state(env) == before
    assert record(env, mid)["balance_fen"] == 0
