"""What a money or points call accepts (docs/ledger.md, "Requests"): the
fields each call knows, declared once; a field it does not know is 400 and
writes nothing; the idempotency fingerprint covers the whole request; an
order id is claimed only by the purchase that succeeds."""

import time

from test_coupons import digest
from test_scan import Till, code_of
from test_ledger import reconciled, record


def ticket_of(env, till, mid):
    v = till.verify(code_of(mid))
    assert v.status == 200, v
    env.secrets.append(v.json["ticket"].split(".")[-1])
    return v.json["ticket"]


def recharge(env, mid, amount, key):
    r = env.admin("POST", f"members/{mid}/recharge", {"amount_fen": amount, "idempotency_key": key})
    assert r.status == 200, r
    return r


def unknown(r, field):
    return r.status == 400 and r.json["error"] == "bad_request" and field in r.json["message"]


def test_the_points_fingerprint_covers_the_reason(env):
    mid, _ = env.member("reasons")
    body = {"delta": 50, "reason": "goodwill", "idempotency_key": "rs-1"}
    r = env.admin("POST", f"members/{mid}/points", body)
    assert r.status == 200, r
    assert env.admin("POST", f"members/{mid}/points", dict(body)).body == r.body
    # the same length, another reason: another request under the key
    other = env.admin("POST", f"members/{mid}/points", dict(body, reason="badwill!"))
    assert other.status == 409 and other.json["error"] == "conflict", other
    # the order of the fields does not make another request
    again = env.admin("POST", f"members/{mid}/points",
                      {"idempotency_key": "rs-1", "reason": "goodwill", "delta": 50})
    assert again.body == r.body
    assert record(env, mid)["points"] == 50


def test_a_refused_purchase_leaves_its_order_id_free(env):
    till = Till(env, "Q-FREE")
    a, _ = env.member("claims-a")
    b, _ = env.member("claims-b")
    recharge(env, a, 1000, "qa")
    recharge(env, b, 10000, "qb")
    ta, tb = ticket_of(env, till, a), ticket_of(env, till, b)
    index = "order:{s:Q-FREE}:o1"

    r = till.call("pay", {"ticket": ta, "amount_fen": 5000, "order_id": "o1"})
    assert r.status == 422 and r.json["error"] == "insufficient_balance", r
    # the claim is dropped just after the answer
    deadline = time.monotonic() + 5
    while env.rcli("EXISTS", index) != "0" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env.rcli("EXISTS", index) == "0"
    # the till fixes it: another member's purchase under the same order id
    r = till.call("pay", {"ticket": tb, "amount_fen": 5000, "order_id": "o1"})
    assert r.status == 200 and r.json["paid_fen"] == 5000, r
    assert env.rcli("GET", index) == str(b)
    # and the first member, refused, can no longer take it
    r = till.call("pay", {"ticket": ta, "amount_fen": 500, "order_id": "o1"})
    assert r.status == 409, r
    rf = till.call("refund", {"order_id": "o1"})
    assert rf.status == 200 and rf.json["refunded_fen"] == 5000, rf

    # the same member, after a recharge, with the same order id
    r = till.call("earn", {"ticket": ta, "amount_fen": 3000, "order_id": "o2",
                           "points": 100})
    assert r.status == 422 and r.json["error"] == "insufficient_points", r
    r = till.call("pay", {"ticket": ta, "amount_fen": 3000, "order_id": "o3"})
    assert r.status == 422, r
    recharge(env, a, 5000, "qa-2")
    r = till.call("pay", {"ticket": ta, "amount_fen": 3000, "order_id": "o3"})
    assert r.status == 200 and r.json["balance_fen"] == 3000, r
    assert till.call("pay", {"ticket": ta, "amount_fen": 3000, "order_id": "o3"}).body == r.body
    assert env.rcli("GET", "order:{s:Q-FREE}:o3") == str(a)
    reconciled(env)


def test_a_refund_with_fields_it_does_not_know_refunds_nothing(env):
    till = Till(env, "Q-PART")
    mid, _ = env.member("partial")
    recharge(env, mid, 10000, "qp")
    t = ticket_of(env, till, mid)
    r = till.call("pay", {"ticket": t, "amount_fen": 6000, "order_id": "p1"})
    assert r.status == 200, r
    mine = (f"{{m:{mid}}}*", "order:{s:Q-PART}:*")
    before = digest(env, *mine)
    # a partial refund is not in the contract: refused whole, not done whole
    r = till.call("refund", {"order_id": "p1", "refund_id": "rf-1", "amount_fen": 1000})
    assert unknown(r, "refund_id") or unknown(r, "amount_fen"), r
    r = till.call("refund", {"order_id": "p1", "amount_fen": 1000})
    assert unknown(r, "amount_fen"), r
    assert digest(env, *mine) == before
    assert record(env, mid)["balance_fen"] == 4000


def test_every_money_call_refuses_a_field_it_does_not_know(env):
    till = Till(env, "Q-ALL")
    mid, _ = env.member("strict", level="gold")
    recharge(env, mid, 10000, "qs")
    t = ticket_of(env, till, mid)
    assert till.call("pay", {"ticket": t, "amount_fen": 1000, "order_id": "s0"}).status == 200
    r = env.admin("POST", "coupons/templates", {"name": "five off", "value_fen": 500,
                                                "valid_days": 30})
    assert r.status == 201, r
    tpl = r.json["template_id"]
    mine = (f"{{m:{mid}}}*", "order:{s:Q-ALL}:*", "{b}:coupon*")
    before = digest(env, *mine)

    calls = [
        lambda: till.call("pay", {"ticket": t, "amount_fen": 1000, "order_id": "s1",
                                  "tip_fen": 100}),
        lambda: till.call("earn", {"ticket": t, "amount_fen": 1000, "order_id": "s2",
                                   "tip_fen": 100}),
        lambda: till.call("refund", {"order_id": "s0", "tip_fen": 100}),
        lambda: env.admin("POST", f"members/{mid}/recharge",
                          {"amount_fen": 1000, "idempotency_key": "qs-2", "tip_fen": 100}),
        lambda: env.admin("POST", f"members/{mid}/recharge/refund",
                          {"idempotency_key": "qs", "tip_fen": 100}),
        lambda: env.admin("POST", f"members/{mid}/points",
                          {"delta": 5, "reason": "x", "idempotency_key": "qs-3", "tip_fen": 100}),
        lambda: env.admin("PUT", f"members/{mid}/level",
                          {"level": "silver", "reason": "x", "tip_fen": 100}),
        lambda: env.admin("POST", "coupons/issue",
                          {"template_id": tpl, "member_ids": [mid], "idempotency_key": "qs-4",
                           "tip_fen": 100}),
    ]
    for call in calls:
        r = call()
        assert unknown(r, "tip_fen"), r
        assert r.json["message"] == "field tip_fen is not known to this call", r
    assert digest(env, *mine) == before
    rec = record(env, mid)
    assert (rec["balance_fen"], rec["level"]) == (10000 + 0 - 950, "gold"), rec


# ----------------------------------------------------------------------------
# numbers Lua keeps exact (docs/ledger.md, "Limits")

BIG = [2 ** 53 + 1, 2 ** 63 - 1, 10 ** 8 + 1, 0, -1, 1e300, 1.5, "100"]


def test_amounts_that_could_pass_2_53_are_refused_before_any_script(env):
    till = Till(env, "Q-BIG")
    mid, _ = env.member("huge")
    recharge(env, mid, 10000, "qh")
    t = ticket_of(env, till, mid)
    mine = (f"{{m:{mid}}}*", "order:{s:Q-BIG}:*")
    before = digest(env, *mine)
    for n in BIG:
        for r, field in [
            (till.call("pay", {"ticket": t, "amount_fen": n, "order_id": "b1"}), "amount_fen"),
            (till.call("earn", {"ticket": t, "amount_fen": n, "order_id": "b2"}), "amount_fen"),
            (env.admin("POST", f"members/{mid}/recharge",
                       {"amount_fen": n, "idempotency_key": "qh-2"}), "amount_fen"),
        ]:
            assert r.status == 400 and field in r.json["message"], (n, r)
    for n in [2 ** 53 + 1, 10 ** 9 + 1, -(10 ** 9) - 1, 1e300]:
        r = env.admin("POST", f"members/{mid}/points",
                      {"delta": n, "reason": "x", "idempotency_key": "qh-3"})
        assert r.status == 400 and "delta" in r.json["message"], (n, r)
        r = till.call("earn", {"ticket": t, "amount_fen": 100, "order_id": "b3", "points": n})
        assert r.status == 400 and "points" in r.json["message"], (n, r)
    # past int64: not a number jansson keeps, not JSON we take
    body = b'{"ticket":"%s","amount_fen":99999999999999999999999,"order_id":"b4"}' % t.encode()
    r = env.request("POST", "/scan/pay", body, till.headers("/scan/pay", body))
    assert r.status == 400, r
    assert digest(env, *mine) == before


def test_the_points_earned_stay_exact_past_2_53(env):
    # 91212101 fen * 99 points a yuan * 999 % * a 999 % campaign is past
    # 2^53 before it is divided: in doubles it came out one point high
    from test_ledger import rules, DEFAULT_TIERS
    tiers = [dict(DEFAULT_TIERS[0], points_pct=999)] + DEFAULT_TIERS[1:]
    till = Till(env, "Q-EXACT")
    mid, _ = env.member("exact")
    t = ticket_of(env, till, mid)
    try:
        rules(env, tiers=tiers,
              points={"per_yuan": 99, "expire_after_months": 12,
                      "redeem_fen_per_point": 1, "redeem_min_points": 100},
              campaigns=[{"name": "x", "from": "2000-01-01", "to": "2099-12-31",
                          "points_pct": 999}])
        r = till.call("earn", {"ticket": t, "amount_fen": 91212101, "order_id": "x1"})
        assert r.status == 200, r
        assert r.json["points_earned"] == 91212101 * 99 * 999 * 999 // 10 ** 6 == 9011947032, r
        assert record(env, mid)["points"] == 9011947032
    finally:
        rules(env)
    reconciled(env)


def test_a_member_s_totals_stay_below_their_maximum(env):
    till = Till(env, "Q-MAX")
    mid, _ = env.member("maximal")
    recharge(env, mid, 10000, "qm")
    t = ticket_of(env, till, mid)
    key = f"{{m:{mid}}}"
    mine = (f"{{m:{mid}}}*", "order:{s:Q-MAX}:*")
    top = 10 ** 15
    try:
        # as if the member had reached the maximum (10^15 fen or points)
        env.rcli("HSET", key, "principal_fen", str(top - 10000), "balance_fen", str(top - 10000))
        before = digest(env, *mine)
        r = env.admin("POST", f"members/{mid}/recharge",
                      {"amount_fen": 10001, "idempotency_key": "qm-2"})
        assert r.status == 422 and r.json["error"] == "limit_exceeded", r
        assert digest(env, *mine) == before
        env.rcli("HSET", key, "principal_fen", "10000", "balance_fen", "10000",
                 "points", str(top - 5))
        before = digest(env, *mine)
        r = env.admin("POST", f"members/{mid}/points",
                      {"delta": 6, "reason": "x", "idempotency_key": "qm-3"})
        assert r.status == 422 and r.json["error"] == "limit_exceeded", r
        r = till.call("earn", {"ticket": t, "amount_fen": 1000, "order_id": "m1"})
        assert r.status == 422 and r.json["error"] == "limit_exceeded", r
        env.rcli("HSET", key, "points", "0", "period_spend_fen", str(top - 999),
                 "spend_fen", str(top - 999))
        before = digest(env, *mine)
        r = till.call("pay", {"ticket": t, "amount_fen": 1000, "order_id": "m2"})
        assert r.status == 422 and r.json["error"] == "limit_exceeded", r
        assert digest(env, *mine) == before
    finally:
        env.rcli("HSET", key, "principal_fen", "10000", "balance_fen", "10000",
                 "points", "0", "period_spend_fen", "0", "spend_fen", "0")
    reconciled(env)


def test_order_records_have_a_lifetime(env):
    till = Till(env, "Q-TTL")
    mid, _ = env.member("lifetime")
    recharge(env, mid, 10000, "ql")
    t = ticket_of(env, till, mid)
    assert till.call("pay", {"ticket": t, "amount_fen": 1000, "order_id": "l1"}).status == 200
    days = 400 * 86400
    for k in (f"{{m:{mid}}}:order:Q-TTL:l1", "order:{s:Q-TTL}:l1", f"{{m:{mid}}}:recharge:ql"):
        assert days - 60 < int(env.rcli("TTL", k)) <= days, k
    assert 0 < int(env.rcli("TTL", f"{{m:{mid}}}:idem:ql")) <= 30 * 86400
    # the refund keeps the record's lifetime, it does not renew it
    assert till.call("refund", {"order_id": "l1"}).status == 200
    assert days - 60 < int(env.rcli("TTL", f"{{m:{mid}}}:order:Q-TTL:l1")) <= days
