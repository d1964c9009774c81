"""Coupons (docs/ledger.md, "Coupons"): templates, issue to members and to a
tag, redemption at the till inside pay.lua, return on refund; the refund of
a recharge; ledger filters; the analytics counters of the member hash."""

import time

import harness
from test_ledger import entries, reconciled, record, rules, set_clock, shopper
from test_scan import Till, code_of

ENV = {"extra_http": "member_test_clock on;"}

# the analytics' timer writes rfm_*, tags_auto and churn_score into member
# hashes at any time: those fields are left out
DIGEST = """
local acc = {}
for _, pattern in ipairs(ARGV) do
    local keys = redis.call('KEYS', pattern)
    table.sort(keys)
    for _, k in ipairs(keys) do
        acc[#acc + 1] = k
        if string.match(k, '^{m:%d+}$') then
            local flat, fields = redis.call('HGETALL', k), {}
            for i = 1, #flat, 2 do
                if not string.match(flat[i], '^rfm_') and flat[i] ~= 'tags_auto'
                   and flat[i] ~= 'churn_score' then
                    fields[#fields + 1] = flat[i] .. '=' .. flat[i + 1]
                end
            end
            table.sort(fields)
            acc[#acc + 1] = table.concat(fields, ',')
        else
            acc[#acc + 1] = redis.call('DUMP', k)
        end
    end
end
return redis.sha1hex(table.concat(acc, '|')) .. ' ' .. #acc
"""


def digest(env, *patterns):
    """what the member's slot and the brand's coupon keys hold, as one hash"""
    return env.rcli("EVAL", DIGEST, "0", *patterns)


def template(env, **body):
    r = env.admin("POST", "coupons/templates", body)
    assert r.status == 201, r
    return r.json["template_id"]


def issue(env, tpl, key, **target):
    r = env.admin("POST", "coupons/issue", dict(template_id=tpl, idempotency_key=key, **target))
    assert r.status == 200, r
    return r.json["issued"], r.json["skipped"]


def coupons(env, mid):
    r = env.admin("GET", f"members/{mid}/coupons")
    assert r.status == 200, r
    return r.json["items"]


def coupon_of(env, mid, tpl):
    return next(c for c in coupons(env, mid) if c["template_id"] == tpl and c["status"] == "usable")


# ----------------------------------------------------------------------------
# templates


def test_templates_are_validated_and_listed(env):
    before = digest(env, "{b}:coupon*")
    bad = [
        ({}, "name"),
        ({"name": "x"}, "value_fen"),                                   # no kind
        ({"name": "x", "value_fen": 100, "pct": 10, "valid_days": 7}, "value_fen"),
        ({"name": "x", "value_fen": 0, "valid_days": 7}, "value_fen"),
        ({"name": "x", "value_fen": "100", "valid_days": 7}, "value_fen"),
        ({"name": "x", "pct": 101, "valid_days": 7}, "pct"),
        ({"name": "x", "pct": 10.5, "valid_days": 7}, "pct"),
        ({"name": "x", "value_fen": 100, "cap_fen": 50, "valid_days": 7}, "cap_fen"),
        ({"name": "x", "gift": "", "valid_days": 7}, "gift"),
        ({"name": "", "value_fen": 100, "valid_days": 7}, "name"),
        ({"name": "x" * 65, "value_fen": 100, "valid_days": 7}, "name"),
        ({"name": "x", "value_fen": 100, "min_spend_fen": -1, "valid_days": 7}, "min_spend_fen"),
        ({"name": "x", "value_fen": 100}, "from"),                      # no validity
        ({"name": "x", "value_fen": 100, "valid_days": 0}, "valid_days"),
        ({"name": "x", "value_fen": 100, "valid_days": 7, "to": 2000000000}, "valid_days"),
        ({"name": "x", "value_fen": 100, "from": 2000000000, "to": 2000000000}, "to"),
        ({"name": "x", "value_fen": 100, "from": 2000000000}, "to"),
        ({"name": "x", "value_fen": 100, "valid_days": 7, "colour": "red"}, "colour"),
    ]
    for body, field in bad:
        r = env.admin("POST", "coupons/templates", body)
        assert r.status == 400 and r.json["error"] == "bad_request", (body, r)
        assert field in r.json["message"], (body, field, r)
    for raw in (b"[]", b"not json", b'{"name": "x", "value_fen": 1e3, "valid_days": 1}'):
        r = env.request("POST", "/admin/coupons/templates", raw,
                        {"Authorization": "Bearer " + harness.ADMIN_TOKEN})
        assert r.status == 400, (raw, r)
    assert env.admin("PUT", "coupons/templates", {}).status == 405
    assert env.admin("GET", "coupons/nothing").status == 404
    assert env.admin("GET", "coupons/templates", token="wrong").status == 401
    assert digest(env, "{b}:coupon*") == before

    cash = template(env, name="满100减10", value_fen=1000, min_spend_fen=10000, valid_days=30)
    pct = template(env, name="八折", pct=20, cap_fen=3000, valid_days=7)
    gift = template(env, name="生日礼", gift="一杯咖啡", **{"from": 1700000000, "to": 4000000000})
    items = env.admin("GET", "coupons/templates").json["items"]
    got = {t["template_id"]: t for t in items}
    assert got[cash] == {"template_id": cash, "name": "满100减10", "type": "cash",
                         "value_fen": 1000, "min_spend_fen": 10000, "valid_days": 30}
    assert got[pct]["type"] == "percent" and got[pct]["pct"] == 20 and got[pct]["cap_fen"] == 3000
    assert got[gift]["type"] == "gift" and got[gift]["gift"] == "一杯咖啡"
    assert got[gift]["from"] == 1700000000 and got[gift]["min_spend_fen"] == 0
    ids = [t["template_id"] for t in items]
    assert ids.index(cash) < ids.index(pct) < ids.index(gift)


# ----------------------------------------------------------------------------
# issue


def test_issue_is_idempotent_per_member_and_key(env):
    a, _ = env.member("issuea")
    b, _ = env.member("issue-b")
    tpl = template(env, name="十元券", value_fen=1000, valid_days=10)
    other = template(env, name="五元券", value_fen=500, valid_days=10)
    assert issue(env, tpl, "wave-1", member_ids=[a, b]) == (2, 0)
    assert issue(env, tpl, "wave-1", member_ids=[a, b]) == (0, 2)          # a retry
    assert issue(env, tpl, "wave-1", member_ids=[b, 999999]) == (0, 2)     # unknown member
    before = digest(env, f"{{m:{a}}}*")
    assert issue(env, other, "wave-1", member_ids=[a]) == (0, 1)           # key used: nothing
    assert digest(env, f"{{m:{a}}}*") == before
    assert issue(env, tpl, "wave-2", member_ids=[a]) == (1, 0)             # a second coupon

    mine = coupons(env, a)
    assert len(mine) == 2 and all(c["template_id"] == tpl for c in mine)
    c = mine[0]
    assert c["status"] == "usable" and c["type"] == "cash" and c["value_fen"] == 1000
    assert c["expires_at"] - c["valid_from"] == 10 * 86400 and c["coupon_id"].startswith(f"c{a}-")
    assert len({c["coupon_id"] for c in mine}) == 2
    assert len(coupons(env, b)) == 1
    # each issue is a ledger entry
    got = [e for e in entries(env, a) if e["type"] == "coupon"]
    assert len(got) == 2 and {e["coupon_id"] for e in got} == {c["coupon_id"] for c in mine}
    assert got[0]["template_id"] == tpl and got[0]["idempotency_key"] in ("wave-1", "wave-2")
    # the member sees them too
    token = env.login("issuea").json["token"]
    r = env.api("coupons", token)
    assert r.status == 200 and [x["coupon_id"] for x in r.json["items"]] == \
        [x["coupon_id"] for x in mine], r
    assert env.api("coupons", "1.bad").status == 401
    assert env.api("coupons", token, method="POST").status == 405
    assert env.admin("GET", "members/999999/coupons").status == 404
    reconciled(env)


def test_issue_to_a_tag(env):
    a, _ = env.member("tag-a")
    b, _ = env.member("tag-b")
    c, _ = env.member("tag-c")
    env.rcli("SADD", "{b}:tag:vip", str(a), str(b), "not-a-member-id")
    tpl = template(env, name="VIP券", pct=10, valid_days=3)
    assert issue(env, tpl, "vip-1", tag="vip") == (2, 1)
    assert issue(env, tpl, "vip-1", tag="vip") == (0, 3)
    assert len(coupons(env, a)) == 1 and len(coupons(env, b)) == 1 and coupons(env, c) == []
    assert issue(env, tpl, "nobody", tag="empty-tag") == (0, 0)
    env.rcli("SADD", "{b}:tag:segment:重要价值客户", str(c))
    assert issue(env, tpl, "seg-1", segment="重要价值客户") == (1, 0)
    assert len(coupons(env, c)) == 1
    # a tag of several SSCAN pages (a hashtable set: about 500 a page):
    # two members among 1200 ids that name nobody
    env.rcli("SADD", "{b}:tag:many", str(a), str(b), *[str(9000000 + i) for i in range(1200)])
    assert env.rcli("OBJECT", "ENCODING", "{b}:tag:many") == "hashtable"
    assert issue(env, tpl, "many-1", tag="many") == (2, 1200)
    assert len(coupons(env, a)) == 2 and len(coupons(env, b)) == 2


def test_bad_issues_change_nothing(env):
    a, _ = env.member("bad-issue")
    tpl = template(env, name="x", value_fen=100, valid_days=1)
    expired = template(env, name="old", value_fen=100, **{"from": 1600000000, "to": 1600000100})
    before = digest(env, f"{{m:{a}}}*", "{b}:coupon*")
    bad = [
        ({"idempotency_key": "k", "member_ids": [a]}, 400, "template_id"),
        ({"template_id": tpl, "member_ids": [a]}, 400, "idempotency_key"),
        ({"template_id": tpl, "idempotency_key": "k"}, 400, "member_ids"),
        ({"template_id": tpl, "idempotency_key": "k", "member_ids": []}, 400, "member_ids"),
        ({"template_id": tpl, "idempotency_key": "k", "member_ids": ["01"]}, 400, "member_ids"),
        ({"template_id": tpl, "idempotency_key": "k", "member_ids": [1.5]}, 400, "member_ids"),
        ({"template_id": tpl, "idempotency_key": "k", "member_ids": [10 ** 14]}, 400,
         "member_ids"),
        ({"template_id": tpl, "idempotency_key": "k", "member_ids": [0]}, 400, "member_ids"),
        ({"template_id": tpl, "idempotency_key": "k", "member_ids": list(range(1, 1002))}, 400,
         "member_ids"),
        ({"template_id": tpl, "idempotency_key": "k", "member_ids": [a], "tag": "vip"}, 400, "tag"),
        ({"template_id": tpl, "idempotency_key": "k", "tag": ""}, 400, "tag"),
        ({"template_id": tpl, "idempotency_key": "k", "tag": "x" * 101}, 400, "tag"),
        ({"template_id": tpl, "idempotency_key": "k", "tag": "a", "segment": "b"}, 400, "tag"),
        ({"template_id": tpl, "idempotency_key": "k", "segment": 5}, 400, "segment"),
        ({"template_id": tpl, "idempotency_key": "k", "member_ids": [a], "segment": "b"}, 400,
         "segment"),
        ({"template_id": tpl, "idempotency_key": "bad key", "member_ids": [a]}, 400,
         "idempotency_key"),
        ({"template_id": "t999999", "idempotency_key": "k", "member_ids": [a]}, 404, "template"),
        ({"template_id": expired, "idempotency_key": "k", "member_ids": [a]}, 422, "validity"),
    ]
    for body, status, word in bad:
        r = env.admin("POST", "coupons/issue", body)
        assert r.status == status and word in r.json["message"], (body, r)
    assert env.admin("GET", "coupons/issue").status == 405
    assert digest(env, f"{{m:{a}}}*", "{b}:coupon*") == before


# ----------------------------------------------------------------------------
# redemption


def test_pay_with_a_coupon_once_and_refund_returns_it(env):
    till = Till(env, "C-PAY")
    mid, ticket = shopper(env, till, "couponer", recharge=50000)      # 50000 + 5000 bonus
    tpl = template(env, name="满100减10", value_fen=1000, min_spend_fen=10000, valid_days=30)
    issue(env, tpl, "pay-1", member_ids=[mid])
    cid = coupon_of(env, mid, tpl)["coupon_id"]

    p = till.call("pay", {"ticket": ticket, "amount_fen": 12000, "order_id": "cp1",
                          "coupon_id": cid})
    assert p.status == 200, p
    j = p.json
    assert (j["charged_fen"], j["coupon_id"], j["coupon_fen"], j["paid_fen"]) == \
        (12000, cid, 1000, 11000), j
    assert j["points_earned"] == 110 and j["balance_fen"] == 55000 - 11000
    # a retry answers the same; the order id with another coupon is a conflict
    assert till.call("pay", {"ticket": ticket, "amount_fen": 12000, "order_id": "cp1",
                             "coupon_id": cid}).body == p.body
    assert till.call("pay", {"ticket": ticket, "amount_fen": 12000,
                             "order_id": "cp1"}).status == 409
    c = next(x for x in coupons(env, mid) if x["coupon_id"] == cid)
    assert c["status"] == "used" and c["used_order"] == "C-PAY:cp1"
    entry = [e for e in entries(env, mid) if e["type"] == "pay"][0]
    assert entry["coupon_id"] == cid and entry["coupon_fen"] == 1000

    # used: refused, nothing changes
    before = digest(env, f"{{m:{mid}}}*")
    r = till.call("pay", {"ticket": ticket, "amount_fen": 12000, "order_id": "cp2",
                          "coupon_id": cid})
    assert r.status == 422 and r.json["error"] == "coupon_unusable", r
    assert "used" in r.json["message"]
    assert digest(env, f"{{m:{mid}}}*") == before

    # the refund gives it back, usable again
    rf = till.call("refund", {"order_id": "cp1"})
    assert rf.status == 200 and rf.json["coupon_returned"] == cid, rf
    assert rf.json["refunded_fen"] == 11000 and rf.json["balance_fen"] == 55000
    assert coupon_of(env, mid, tpl)["coupon_id"] == cid
    refund = [e for e in entries(env, mid) if e["type"] == "refund"][0]
    assert refund["coupon_id"] == cid
    p = till.call("pay", {"ticket": ticket, "amount_fen": 10000, "order_id": "cp3",
                          "coupon_id": cid})
    assert p.status == 200 and p.json["coupon_fen"] == 1000 and p.json["paid_fen"] == 9000, p
    # an order without a coupon says so
    p = till.call("earn", {"ticket": ticket, "amount_fen": 500, "order_id": "cp4"})
    assert p.json["coupon_id"] is None and p.json["coupon_fen"] == 0, p
    reconciled(env)


def test_unusable_coupons_are_refused_and_change_nothing(env):
    till = Till(env, "C-BAD")
    mid, ticket = shopper(env, till, "refused", recharge=50000)
    other, other_ticket = shopper(env, till, "refused-other", recharge=50000)
    tpl = template(env, name="满100减10", value_fen=1000, min_spend_fen=10000, valid_days=1)
    later = template(env, name="明年", value_fen=1000,
                     **{"from": int(time.time()) + 86400 * 300, "to": int(time.time()) + 86400 * 400})
    issue(env, tpl, "bad-1", member_ids=[mid, other])
    issue(env, later, "bad-2", member_ids=[mid])
    cid = coupon_of(env, mid, tpl)["coupon_id"]
    theirs = coupon_of(env, other, tpl)["coupon_id"]
    pending = next(c for c in coupons(env, mid) if c["template_id"] == later)
    assert pending["status"] == "pending"
    assert [c["status"] for c in coupons(env, mid)] == ["usable", "pending"]

    before = digest(env, f"{{m:{mid}}}*")
    refused = [
        ({"amount_fen": 9999, "coupon_id": cid}, "minimum"),            # below min spend
        ({"amount_fen": 20000, "coupon_id": theirs}, "no such coupon"),  # another member's
        ({"amount_fen": 20000, "coupon_id": "c0-1"}, "no such coupon"),
        ({"amount_fen": 20000, "coupon_id": pending["coupon_id"]}, "not valid"),
    ]
    for i, (body, word) in enumerate(refused):
        r = till.call("pay", dict(body, ticket=ticket, order_id=f"rf{i}"))
        assert r.status == 422 and r.json["error"] == "coupon_unusable", (body, r)
        assert word in r.json["message"], (body, r)
    for i, value in enumerate((7, "", "bad id", "x" * 65, ["c1-1"])):
        r = till.call("pay", {"ticket": ticket, "amount_fen": 20000, "order_id": f"rb{i}",
                              "coupon_id": value})
        assert r.status == 400 and "coupon_id" in r.json["message"], (value, r)
    assert digest(env, f"{{m:{mid}}}*") == before

    # expired: a day and a second later
    try:
        set_clock(env, int(time.time()) + 86401)
        r = till.call("pay", {"ticket": ticket, "amount_fen": 20000, "order_id": "rx",
                              "coupon_id": cid})
        assert r.status == 422 and "not valid" in r.json["message"], r
        assert [c["status"] for c in coupons(env, mid)] == ["pending", "expired"]
        # the other member's, used before expiry, then refunded after: back, but expired
    finally:
        set_clock(env, int(time.time()))
    p = till.call("pay", {"ticket": other_ticket, "amount_fen": 10000, "order_id": "ro",
                          "coupon_id": theirs})
    assert p.status == 200, p
    try:
        set_clock(env, int(time.time()) + 86401)
        assert till.call("refund", {"order_id": "ro"}).json["coupon_returned"] == theirs
        assert [c["status"] for c in coupons(env, other)] == ["expired"]
    finally:
        set_clock(env, int(time.time()))
    assert digest(env, f"{{m:{mid}}}*") == before
    reconciled(env)


def test_refund_of_a_discounted_points_redeemed_coupon_using_order(env):
    """docs/ledger.md: tier discount, then the coupon, then points; points
    earned on the money part; a refund undoes all of it."""
    rules(env)
    till = Till(env, "C-ALL")
    mid, ticket = shopper(env, till, "everything", level="gold", recharge=100000)  # +15000
    env.admin("POST", f"members/{mid}/points", {"delta": 1000, "reason": "gift",
                                                "idempotency_key": "pts"})
    pct = template(env, name="八折封顶30", pct=20, cap_fen=3000, min_spend_fen=20000,
                   valid_days=30)
    issue(env, pct, "all-1", member_ids=[mid])
    cid = coupon_of(env, mid, pct)["coupon_id"]
    before = record(env, mid)

    # 20000 at gold (95 %): 19000 charged; 20 % off is 3800, capped at 3000;
    # 16000 due; 500 points take 500 fen; 15500 paid; 15500 * 150 % = 232 points
    p = till.call("pay", {"ticket": ticket, "amount_fen": 20000, "order_id": "all",
                          "coupon_id": cid, "points": 500})
    assert p.status == 200, p
    j = p.json
    assert (j["charged_fen"], j["coupon_fen"], j["redeemed_fen"], j["paid_fen"]) == \
        (19000, 3000, 500, 15500), j
    assert j["points_redeemed"] == 500 and j["points_earned"] == 232
    assert j["balance_fen"] == 115000 - 15500 and j["points"] == 1000 - 500 + 232
    # points may cover only what the coupon left
    r = till.call("pay", {"ticket": ticket, "amount_fen": 20000, "order_id": "all-x",
                          "points": 19001})
    assert r.status == 422, r

    rf = till.call("refund", {"order_id": "all"})
    assert rf.status == 200, rf
    k = rf.json
    assert (k["refunded_fen"], k["points_restored"], k["points_returned"],
            k["coupon_returned"]) == (15500, 500, 232, cid), k
    after = record(env, mid)
    for f in ("principal_fen", "bonus_fen", "balance_fen", "points", "spend_fen", "orders"):
        assert after.get(f, 0) == before.get(f, 0), (f, before, after)
    assert coupon_of(env, mid, pct)["coupon_id"] == cid
    assert till.call("refund", {"order_id": "all"}).body == rf.body
    reconciled(env)


# ----------------------------------------------------------------------------
# the analytics counters


def test_purchase_counters(env):
    till = Till(env, "C-CNT")
    mid, ticket = shopper(env, till, "counted", recharge=50000)
    rec = record(env, mid)
    assert "orders" not in rec and "last_purchase_ts" not in rec
    t0 = int(time.time())
    try:
        set_clock(env, t0 - 86400)
        till.call("pay", {"ticket": ticket, "amount_fen": 1000, "order_id": "n1"})
        set_clock(env, t0)
        till.call("earn", {"ticket": ticket, "amount_fen": 2000, "order_id": "n2"})
        till.call("pay", {"ticket": ticket, "amount_fen": 3000, "order_id": "n3"})
        till.call("pay", {"ticket": ticket, "amount_fen": 3000, "order_id": "n3"})  # a retry
    finally:
        set_clock(env, int(time.time()))
    rec = record(env, mid)
    assert (rec["orders"], rec["spend_fen"]) == (3, 6000), rec
    assert abs(rec["first_purchase_ts"] - (t0 - 86400)) <= 2
    assert abs(rec["last_purchase_ts"] - t0) <= 2
    till.call("refund", {"order_id": "n3"})
    till.call("refund", {"order_id": "n3"})
    rec = record(env, mid)
    assert (rec["orders"], rec["spend_fen"]) == (2, 3000), rec
    assert abs(rec["first_purchase_ts"] - (t0 - 86400)) <= 2


# ----------------------------------------------------------------------------
# the refund of a recharge


def test_refund_of_a_recharge(env):
    rules(env)
    mid, _ = env.member("recharge-refund")

    def recharge(key, amount):
        r = env.admin("POST", f"members/{mid}/recharge", {"amount_fen": amount,
                                                          "idempotency_key": key})
        assert r.status == 200, r
        return r.json

    def refund(body):
        return env.admin("POST", f"members/{mid}/recharge/refund", body)

    recharge("rc-1", 100000)                       # + 15000 bonus
    recharge("rc-2", 50000)                        # + 5000
    r = refund({"idempotency_key": "rc-2"})
    assert r.status == 200, r
    assert (r.json["refunded_fen"], r.json["bonus_fen"], r.json["balance_fen"]) == \
        (50000, 5000, 115000), r
    assert refund({"idempotency_key": "rc-2"}).body == r.body             # once
    assert refund({"idempotency_key": "rc-2", "refund_key": "x"}).body == r.body
    rec = record(env, mid)
    assert (rec["principal_fen"], rec["bonus_fen"]) == (100000, 15000)
    e = [x for x in entries(env, mid) if x["type"] == "refund"][0]
    assert (e["of"], e["principal_fen"], e["bonus_fen"], e["idempotency_key"]) == \
        ("recharge", -50000, -5000, "rc-2"), e

    # spent in part: refused whole, nothing changes
    till = Till(env, "C-RR")
    v = till.verify(code_of(mid))
    env.secrets.append(v.json["ticket"].split(".")[-1])
    assert till.call("pay", {"ticket": v.json["ticket"], "amount_fen": 1,
                             "order_id": "rr1"}).status == 200
    before = digest(env, f"{{m:{mid}}}*")
    r = refund({"idempotency_key": "rc-1", "refund_key": "back-1"})
    assert r.status == 422 and r.json["error"] == "insufficient_balance", r
    bad = [({}, 400), ({"idempotency_key": "bad key"}, 400),
           ({"idempotency_key": "rc-1", "refund_key": 5}, 400),
           ({"idempotency_key": "never"}, 404), ({"idempotency_key": "pts-x"}, 404)]
    for body, status in bad:
        r = refund(body)
        assert r.status == status, (body, r)
    assert env.admin("GET", f"members/{mid}/recharge/refund").status == 405
    assert env.admin("POST", "members/999999/recharge/refund",
                     {"idempotency_key": "rc-1"}).status == 404
    assert digest(env, f"{{m:{mid}}}*") == before
    # the till's refund puts the money back: now the recharge can go
    till.call("refund", {"order_id": "rr1"})
    r = refund({"idempotency_key": "rc-1", "refund_key": "back-1"})
    assert r.status == 200 and r.json["balance_fen"] == 0, r
    assert refund({"idempotency_key": "rc-1", "refund_key": "back-2"}).status == 409
    assert refund({"idempotency_key": "rc-1", "refund_key": "back-1"}).body == r.body
    reconciled(env)


def test_refund_of_a_recharge_whose_bonus_was_spent(env):
    """principal enough but bonus short: refused, no principal taken for it"""
    rules(env)
    till = Till(env, "C-RB")
    mid, ticket = shopper(env, till, "bonusspent")
    env.admin("POST", f"members/{mid}/recharge", {"amount_fen": 50000, "idempotency_key": "b1"})
    # 54000 spends the 50000 of principal, then 4000 of the 5000 bonus
    assert till.call("pay", {"ticket": ticket, "amount_fen": 54000,
                             "order_id": "b"}).status == 200
    for key in ("b2", "b3"):                      # no bonus below 50000
        env.admin("POST", f"members/{mid}/recharge", {"amount_fen": 49999, "idempotency_key": key})
    rec = record(env, mid)
    assert (rec["principal_fen"], rec["bonus_fen"]) == (99998, 1000), rec
    before = digest(env, f"{{m:{mid}}}*")
    r = env.admin("POST", f"members/{mid}/recharge/refund", {"idempotency_key": "b1"})
    assert r.status == 422 and r.json["error"] == "insufficient_balance", r
    assert digest(env, f"{{m:{mid}}}*") == before
    r = env.admin("POST", f"members/{mid}/recharge/refund", {"idempotency_key": "b3"})
    assert r.status == 200 and r.json["balance_fen"] == 49999 + 1000, r
    reconciled(env)


def test_refund_of_a_recharge_older_than_its_record(env):
    """a recharge made before the recharge record existed: its stored answer"""
    rules(env)
    mid, _ = env.member("old-recharge")
    env.admin("POST", f"members/{mid}/recharge", {"amount_fen": 60000, "idempotency_key": "old"})
    env.rcli("DEL", f"{{m:{mid}}}:recharge:old")
    r = env.admin("POST", f"members/{mid}/recharge/refund", {"idempotency_key": "old"})
    assert r.status == 200 and r.json["refunded_fen"] == 60000 and r.json["bonus_fen"] == 5000, r
    assert record(env, mid)["balance_fen"] == 0
    reconciled(env)


# ----------------------------------------------------------------------------
# ledger filters


def test_transactions_filters(env):
    rules(env)
    a, b = Till(env, "C-F1"), Till(env, "C-F2")
    mid, ticket = shopper(env, a, "filtered", recharge=50000)
    v = b.verify(code_of(mid, at=time.time() + 30))
    env.secrets.append(v.json["ticket"].split(".")[-1])
    t0 = int(time.time())
    try:
        set_clock(env, t0 - 7200)
        a.call("pay", {"ticket": ticket, "amount_fen": 100, "order_id": "f1"})
        set_clock(env, t0 - 3600)
        b.call("pay", {"ticket": v.json["ticket"], "amount_fen": 200, "order_id": "f2"})
        set_clock(env, t0)
        a.call("earn", {"ticket": ticket, "amount_fen": 300, "order_id": "f3"})
        a.call("refund", {"order_id": "f3"})
    finally:
        set_clock(env, int(time.time()))

    def page(q):
        r = env.admin("GET", f"members/{mid}/transactions?{q}")
        assert r.status == 200, (q, r)
        return r.json

    def kinds(q):
        return [(e["type"], e.get("order_id")) for e in page(q)["items"]]

    assert kinds("type=pay") == [("pay", "f2"), ("pay", "f1")]
    assert kinds("type=recharge") == [("recharge", None)]
    assert kinds("store=C-F1") == [("refund", "f3"), ("earn", "f3"), ("pay", "f1")]
    assert kinds("store=C-F1&type=pay") == [("pay", "f1")]
    assert kinds(f"from={t0 - 3700}&to={t0 - 3500}") == [("pay", "f2")]
    assert kinds(f"from={t0 - 10}&type=refund") == [("refund", "f3")]
    assert kinds("type=adjust") == []
    # pages of a filter: newest first, the cursor carries on
    first = page("store=C-F1&limit=2")
    assert [e["order_id"] for e in first["items"]] == ["f3", "f3"] and first["next"]
    rest = page(f"store=C-F1&limit=2&before={first['next']}")
    assert [e["order_id"] for e in rest["items"]] == ["f1"]
    # the member's own statement takes the same filters
    token = env.login("filtered").json["token"]
    r = env.api("transactions?type=earn", token)
    assert r.status == 200 and [e["type"] for e in r.json["items"]] == ["earn"], r
    for q in ("type=nothing", "type=", "from=abc", "from=-5", "to=1.5", f"from={t0}&to={t0 - 1}",
              "store=bad%20store", "store=", "from=" + "9" * 13, "limit=0", "before=zz"):
        r = env.admin("GET", f"members/{mid}/transactions?{q}")
        assert r.status == 400 and r.json["error"] == "bad_request", (q, r)
        assert env.api(f"transactions?{q}", token).status == 400, q


# ----------------------------------------------------------------------------
# a record that is not JSON


def test_a_record_that_is_not_json_is_left_out_and_logged(env):
    tpl = template(env, name="good", value_fen=100, valid_days=3)
    mid, _ = env.member("broken-coupon")
    issue(env, tpl, "broken-1", member_ids=[mid])
    env.rcli("HSET", "{b}:coupon:tpl", "t999999", "not json")
    env.rcli("HSET", f"{{m:{mid}}}:coupons", "c999999", "[1]")
    try:
        ids = [t["template_id"] for t in env.admin("GET", "coupons/templates").json["items"]]
        assert tpl in ids and "t999999" not in ids, ids
        assert [c["template_id"] for c in coupons(env, mid)] == [tpl]
        log = env.log_text()
        assert "[error]" in log and "member: a coupon template is not JSON" in log
        assert "member: a coupon is not JSON" in log
    finally:
        env.rcli("HDEL", "{b}:coupon:tpl", "t999999")
        env.rcli("HDEL", f"{{m:{mid}}}:coupons", "c999999")
