"""Brand totals: the fold (docs/ledger.md).  Every script that changes a
member hints it in its bucket {b:fold:<id mod 16>}; a timer of the lease holder folds each new
ledger entry exactly once into {b}:totals, the day buckets and the store
ledgers.  The numbers are checked against what the members' ledgers say,
computed here from XRANGE."""

import collections
import json
import os
import subprocess
import threading
import time

import harness
from harness import ROOT, bucket_key, bucket_keys, waiting
from test_ledger import china, set_clock, shopper, wait_for
from test_scan import Till

ENV = {"extra_http": "member_test_clock on;"}
RECONCILE = os.path.join(ROOT, "tools", "reconcile.py")
LUA = os.path.join(ROOT, "ngx_member_module", "lua")
TZ = 8 * 3600


def caught_up(env, timeout=20):
    """nothing waits, twice in a row: a hint may trail its answer a little"""
    def idle():
        return (waiting(env, "fold") == 0
                and env.rcli("EXISTS", "{b}:fold:rescan") == "0")

    wait_for("the fold to catch up", lambda: idle() and not time.sleep(0.3) and idle(),
             timeout=timeout)


def flat(env, *cmd):
    out = env.rcli("EVAL", "return cjson.encode(redis.call(unpack(ARGV)))", "0", *cmd)
    return json.loads(out) if out not in ("", "{}") else []


def hgetall(env, key):
    f = flat(env, "HGETALL", key)
    return {f[i]: int(f[i + 1]) if f[i + 1].lstrip("-").isdigit() else f[i + 1]
            for i in range(0, len(f), 2)}


def keys(env, pattern):
    return sorted(flat(env, "KEYS", pattern))


def ledger(env, key):
    return [(eid, dict(zip(f[::2], f[1::2]))) for eid, f in flat(env, "XRANGE", key, "-", "+")]


def member_ids(env):
    return sorted(int(k[3:-1]) for k in keys(env, "{m:*}")
                  if k.endswith("}") and k[3:-1].isdigit())


def expected(env):
    """totals, days and store entries as the members' ledgers say"""
    totals, days = collections.Counter(), collections.defaultdict(collections.Counter)
    stores = collections.defaultdict(list)
    for mid in member_ids(env):
        m = hgetall(env, f"{{m:{mid}}}")
        status = m.get("status", "")
        if status:
            totals["status:" + status] += 1
        if status not in ("", "visitor", "deleted"):
            totals["level:" + m["level"]] += 1
        if status not in ("", "visitor"):
            day = time.strftime("%Y-%m-%d", time.gmtime(int(m["activated_at"]) + TZ))
            days[day]["new_members"] += 1
        for eid, e in ledger(env, f"{{m:{mid}}}:ledger"):
            t = "recharge_refund" if e.get("of") == "recharge" else e["type"]
            p = int(e["amount_fen"] if t == "recharge" else e.get("principal_fen", 0))
            b, pts = int(e.get("bonus_fen", 0)), int(e.get("points_delta", 0))
            totals.update({"principal_fen": p, "bonus_fen": b, "balance_fen": p + b,
                           "points": pts, "entries": 1})
            d = days[time.strftime("%Y-%m-%d", time.gmtime(int(e["ts"]) + TZ))]
            d.update({t: 1, "principal_delta_fen": p, "bonus_delta_fen": b, "points_delta": pts})
            # a channel's fields, but the admin's (docs/ledger.md)
            c = e.get("channel", "admin")
            if t in ("recharge", "recharge_refund") and c != "admin":
                d[f"liability_{c}_delta_fen"] += p + b
                totals[f"liability_{c}_fen"] += p + b
            if t == "recharge":
                d.update({"recharge_fen": int(e["amount_fen"]), "bonus_fen": b})
                if c != "admin":
                    d.update({f"recharge_{c}_fen": int(e["amount_fen"]), f"bonus_{c}_fen": b})
            elif t in ("pay", "earn"):
                d.update({t + "_fen": int(e["paid_fen"]), "sales_fen": int(e["paid_fen"]),
                          "points_earned": int(e["points_earned"]),
                          "points_redeemed": int(e["points_redeemed"]),
                          "redeemed_fen": int(e["redeemed_fen"])})
            elif t == "refund":
                d.update({"refund_fen": int(e["refunded_fen"]), "sales_fen": int(e["paid_fen"]),
                          "points_returned": int(e["points_returned"]),
                          "points_restored": int(e["points_restored"])})
            elif t == "recharge_refund":
                d["recharge_refund_fen"] += int(e["refunded_fen"])
                if c != "admin":
                    d[f"recharge_refund_{c}_fen"] += int(e["refunded_fen"])
            elif t == "expire":
                d["points_expired"] -= pts
            elif t == "adjust":
                d["points_adjusted"] += pts
            if e.get("store_id"):
                stores[e["store_id"]].append((str(mid), eid))
    clean = lambda c: {k: v for k, v in c.items() if v}  # noqa: E731
    return clean(totals), {d: clean(c) for d, c in days.items() if clean(c)}, stores


def folded(env):
    """the fold's own numbers, read from Redis"""
    totals = {k: v for k, v in hgetall(env, "{b}:totals").items() if v}
    days = {k[len("{b}:day:"):]: {f: v for f, v in hgetall(env, k).items() if v}
            for k in keys(env, "{b}:day:*")}
    # a store's copies: in its own slot, after those of before in {b}
    stores = collections.defaultdict(list)
    for k in keys(env, "{b}:store:*:ledger"):
        stores[k[len("{b}:store:"):-len(":ledger")]] += \
            [(e["member_id"], e["transaction_id"]) for _, e in ledger(env, k)]
    for k in keys(env, "{s:*}:ledger"):
        stores[k[len("{s:"):-len("}:ledger")]] += \
            [(e["member_id"], e["transaction_id"]) for _, e in ledger(env, k)]
    stores = dict(stores)
    return totals, {d: c for d, c in days.items() if c}, stores


def digest(env):
    """the fold's keys, byte for byte"""
    return env.rcli("EVAL", """
        local acc = {}
        for _, p in ipairs({'{b}:totals', '{b}:cursors', '{b}:members', '{b}:day:*',
                            '{b}:store:*', '{s:*}:ledger', '{s:*}:copied'}) do
            local ks = redis.call('KEYS', p)
            table.sort(ks)
            for _, k in ipairs(ks) do
                if redis.call('TYPE', k).ok == 'stream' then
                    acc[#acc + 1] = k .. cjson.encode(redis.call('XRANGE', k, '-', '+'))
                else
                    acc[#acc + 1] = k .. cjson.encode(redis.call('HGETALL', k))
                end
            end
        end
        return redis.sha1hex(table.concat(acc, '|'))""", "0")


def assert_consistent(env):
    caught_up(env)
    want_totals, want_days, want_stores = expected(env)
    totals, days, stores = folded(env)
    assert totals == want_totals, (totals, want_totals)
    assert days == want_days, [(d, days.get(d), want_days.get(d))
                               for d in set(days) | set(want_days)
                               if days.get(d) != want_days.get(d)][:3]
    assert set(stores) == set(want_stores), (set(stores), set(want_stores))
    for s, copies in stores.items():
        # every entry of the store once, in the order the fold met them
        assert sorted(copies) == sorted(want_stores[s]), s
        assert len(set(copies)) == len(copies), s
    return want_totals


def reconcile(env, *extra):
    return subprocess.run([RECONCILE, "--redis", f"127.0.0.1:{env.redis_port}", "--json",
                           "--wait", "20", *extra], capture_output=True, text=True, timeout=120)


def totals_answer(env):
    r = env.admin("GET", "totals")
    assert r.status == 200, r
    return r.json


# ----------------------------------------------------------------------------


def test_a_stream_of_changes_is_folded_once(env):
    till_a, till_b = Till(env, "F-A"), Till(env, "F-B")
    env.secrets = getattr(env, "secrets", [])
    shoppers = [shopper(env, till_a if i % 2 else till_b, f"folder{i}", recharge=100000 * (i + 1))
                for i in range(4)]
    # the shopper's till is the one that verified it
    tills = [till_a if i % 2 else till_b for i in range(4)]
    errors = []

    def client(n):
        mid, ticket = shoppers[n]
        till = tills[n]
        for i in range(12):
            kind = "pay" if i % 3 else "earn"
            r = till.call(kind, {"ticket": ticket, "amount_fen": 1000 + 37 * i + n,
                                 "order_id": f"f{n}-{i}"})
            if r.status != 200:
                errors.append(r)
            if i % 4 == 3:
                r = till.call("refund", {"order_id": f"f{n}-{i - 1}"})
                if r.status != 200:
                    errors.append(r)
            r = env.admin("POST", f"members/{mid}/recharge",
                          {"amount_fen": 500 + i, "idempotency_key": f"fr{n}-{i}"})
            if r.status != 200:
                errors.append(r)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:3]
    r = env.admin("POST", f"members/{shoppers[0][0]}/points",
                  {"delta": 77, "reason": "fold", "idempotency_key": "fold-adjust"})
    assert r.status == 200, r
    # a recharge and its refund: stored value and its bonus go back out
    mid = shoppers[1][0]
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 60000, "idempotency_key": "fold-rr"})
    assert r.status == 200 and r.json["bonus_fen"] == 5000, r
    r = env.admin("POST", f"members/{mid}/recharge/refund", {"idempotency_key": "fold-rr"})
    assert r.status == 200 and r.json["refunded_fen"] == 60000, r
    want = assert_consistent(env)

    # GET totals says the same as the members' records
    records = [env.admin("GET", f"members/{mid}").json for mid, _ in shoppers]
    t = totals_answer(env)
    members = [env.admin("GET", f"members/{m}").json for m in member_ids(env)]
    assert t["balance_fen"] == sum(m.get("balance_fen", 0) for m in members)
    assert t["points"] == sum(m.get("points", 0) for m in members)
    assert t["principal_fen"] + t["bonus_fen"] == t["balance_fen"]
    assert t["principal_fen"] == want["principal_fen"] and t["entries"] == want["entries"]
    assert t["members_by_level"] == {k[6:]: v for k, v in want.items() if k.startswith("level:")}
    assert t["members"] == sum(v for k, v in want.items()
                               if k.startswith("status:") and k != "status:visitor")
    assert t["fold"] == {"waiting": 0, "oldest_ms": 0, "rescan": False}, t["fold"]
    assert all(r["balance_fen"] > 0 for r in records)

    # the day report equals the day buckets; a quiet day is all zeros
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + TZ))
    _, want_days, want_stores = expected(env)
    r = env.admin("GET", f"reports/daily?from={today}&to={today}")
    assert r.status == 200, r
    day = r.json["days"][0]
    assert day["date"] == today and r.json["from"] == today == r.json["to"]
    assert {k: v for k, v in day.items() if k != "date" and v} == want_days[today], day
    assert day["recharge_refund"] == 1 and day["recharge_refund_fen"] == 60000, day
    r = env.admin("GET", "reports/daily?from=2001-01-01&to=2001-01-03")
    assert r.status == 200 and len(r.json["days"]) == 3, r
    assert all(v == 0 for d in r.json["days"] for k, v in d.items() if k != "date"), r.json

    # a store's transactions: its entries only, newest first, paged
    items, before = [], ""
    while True:
        r = env.admin("GET", f"stores/F-A/transactions?limit=7{before}")
        assert r.status == 200, r
        items += r.json["items"]
        if not r.json["next"]:
            break
        before = "&before=" + r.json["next"]
    assert sorted((i["member_id"], i["transaction_id"]) for i in items) \
        == sorted(want_stores["F-A"])
    assert all(i["store_id"] == "F-A" for i in items)
    ids = [i["id"] for i in items]
    assert ids == sorted(ids, key=lambda x: tuple(map(int, x.split("-"))), reverse=True)


def test_folding_again_or_after_lost_hints_changes_nothing(env):
    caught_up(env)
    before = digest(env)
    # every member hinted again: nothing new to fold
    r = env.admin("POST", "fold/rescan")
    assert r.status == 202 and r.json == {"rescan": "started"}, r
    caught_up(env)
    assert digest(env) == before
    # the hints lost, then found again by a rescan
    env.rcli("DEL", *bucket_keys("fold"), *bucket_keys("fold", ":gen"))
    assert env.admin("POST", "fold/rescan").status == 202
    caught_up(env)
    assert digest(env) == before
    assert reconcile(env).returncode == 0


def test_a_lost_hint_is_repaired_by_a_rescan(env):
    mid, _ = env.member("lost-hint")
    caught_up(env)
    t0 = totals_answer(env)
    # recharge.lua run as the module runs it, but its hint never sent
    with open(os.path.join(LUA, "recharge.lua")) as f:
        src = f.read()
    now = str(int(time.time()))
    out = env.rcli("EVAL", src, "5", f"{{m:{mid}}}", f"{{m:{mid}}}:ledger",
                   f"{{m:{mid}}}:idem:lost", f"{{m:{mid}}}:recharge:lost",
                   f"{{m:{mid}}}:idem:lost",
                   "12345", "0", "recharge:12345", now, "60", "lost", "60",
                   "admin", "", "", "")
    assert "transaction_id" in out, out
    # (the campaigns' daily pass may hint the member first: a repair too)
    assert env.admin("POST", "fold/rescan").status == 202
    caught_up(env)
    t1 = totals_answer(env)
    assert t1["principal_fen"] == t0["principal_fen"] + 12345, (t0, t1)
    assert_consistent(env)
    assert reconcile(env).returncode == 0


def test_expiry_and_status_changes_are_folded(env):
    till = Till(env, "F-EXP")
    mid, ticket = shopper(env, till, "fold-expiry")
    try:
        set_clock(env, china(2031, 5, 20))
        r = till.call("earn", {"ticket": ticket, "amount_fen": 40000, "order_id": "x1"})
        assert r.status == 200 and r.json["points_earned"] == 400, r
        caught_up(env)
        # the lot of May 2031 ends with May 2032: 2032-06-01 00:00 China time
        lot_end = china(2032, 6, 1, 0)
        set_clock(env, lot_end + 2)
        wait_for("the lot to expire", lambda: hgetall(env, f"{{m:{mid}}}")["points"] == 0)
        caught_up(env)
        # other members' older lots may expire that day too
        _, want_days, _ = expected(env)
        mine = [e for _, e in ledger(env, f"{{m:{mid}}}:ledger") if e["type"] == "expire"]
        assert [(e["points_delta"], e["ts"] >= str(lot_end)) for e in mine] == [("-400", True)]
        r = env.admin("GET", "reports/daily?from=2032-06-01&to=2032-06-01")
        day = r.json["days"][0]
        assert day["points_expired"] == want_days["2032-06-01"]["points_expired"] >= 400, day
        assert day["expire"] == want_days["2032-06-01"]["expire"] >= 1, day
        r = env.admin("GET", "reports/daily?from=2031-05-20&to=2031-05-20")
        assert r.json["days"][0]["points_earned"] == 400, r.json
        assert r.json["days"][0]["earn_fen"] == 40000, r.json
    finally:
        set_clock(env, int(time.time()))
    # a level set by hand moves the level counts
    before = totals_answer(env)["members_by_level"]
    assert env.admin("PUT", f"members/{mid}/level",
                     {"level": "platinum", "reason": "fold"}).status == 200
    caught_up(env)
    after = totals_answer(env)["members_by_level"]
    assert after.get("platinum", 0) == before.get("platinum", 0) + 1
    assert sum(after.values()) == sum(before.values())
    # a visitor counts as one, not as a member
    t0 = totals_answer(env)
    assert env.login("fold-visitor").status == 200
    caught_up(env)
    t1 = totals_answer(env)
    assert t1["members_by_status"].get("visitor", 0) == t0["members_by_status"].get("visitor", 0) + 1
    assert t1["members"] == t0["members"]
    assert_consistent(env)


def test_reconcile_passes_and_fails_on_tampering(env):
    caught_up(env)
    make = ["make", "-s", "-C", ROOT, "reconcile", f"REDIS=127.0.0.1:{env.redis_port}"]
    r = subprocess.run(make, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-800:] + r.stderr[-800:]
    assert "reconcile: ok" in r.stdout
    for tamper, undo, said in (
            (("HINCRBY", "{b}:totals", "bonus_fen", "1"),
             ("HINCRBY", "{b}:totals", "bonus_fen", "-1"), "bonus_fen"),
            (("HINCRBY", "{b}:day:2001-01-01", "pay_fen", "5"),
             ("DEL", "{b}:day:2001-01-01"), "2001-01-01"),
            (("XADD", "{b}:store:F-A:ledger", "*", "member_id", "1", "transaction_id", "1-1",
              "type", "pay"), ("XDEL", "{b}:store:F-A:ledger"), "F-A")):
        added = env.rcli(*tamper)
        r = subprocess.run(make, capture_output=True, text=True, timeout=120)
        assert r.returncode != 0 and said in r.stdout, (tamper, r.stdout[-600:])
        env.rcli(*(undo + ((added,) if undo[0] == "XDEL" else ())))
    r = subprocess.run(make, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-800:]
    # a member's hash out of step with its ledger is caught too
    mid = member_ids(env)[0]
    env.rcli("HINCRBY", f"{{m:{mid}}}", "principal_fen", "1")
    r = reconcile(env)
    assert r.returncode == 1 and str(mid) in r.stdout
    env.rcli("HINCRBY", f"{{m:{mid}}}", "principal_fen", "-1")


def test_bad_requests(env):
    for q in ("", "?from=2026-01-01", "?to=2026-01-01", "?from=2026-01-02&to=2026-01-01",
              "?from=2026-02-30&to=2026-03-01", "?from=2026-13-01&to=2026-13-02",
              "?from=20260101&to=20260102", "?from=2025-01-01&to=2026-01-02",
              "?from=2026-01-01&to=2026-01-01x", "?from=1999-12-31&to=2000-01-01",
              "?from=%32026-01-01&to=2026-01-01"):
        r = env.admin("GET", "reports/daily" + q)
        assert r.status == 400 and r.json["error"] == "bad_request", (q, r)
    r = env.admin("GET", "reports/daily?from=2024-01-01&to=2024-12-31")   # 366 days
    assert r.status == 200 and len(r.json["days"]) == 366, r
    for path, status in (("stores/NOPE/transactions", 404), ("stores/a%20b/transactions", 404),
                         ("stores/" + "x" * 40 + "/transactions", 404),
                         ("stores/F-A/transactions?limit=0", 400),
                         ("stores/F-A/transactions?before=xyz", 400)):
        r = env.admin("GET", path)
        assert r.status == status, (path, r)
    assert env.admin("POST", "totals").status == 405
    assert env.admin("GET", "fold/rescan").status == 405
    assert env.admin("DELETE", "reports/daily").status == 405
    assert env.admin("GET", "totals", token="wrong").status == 401


class Peer(harness.Env):
    """a second nginx node on the first one's Redis"""

    def __init__(self, first, **kw):
        self.first = first
        super().__init__(**kw)

    def start_redis(self):
        self.redis_port = self.first.redis_port

    def start_fake(self):
        self.fake_port = self.first.fake_port


def test_two_nodes_fold_each_entry_once(env):
    peer = Peer(env, workers=2)
    try:
        till = Till(env, "F-TWO")
        tills = {env: till, peer: Till(peer, "F-TWO", secret=till.secret)}
        pairs_ = [shopper(env, till, f"two{i}", recharge=200000) for i in range(3)]
        errors = []

        def client(node, k, n):
            mid, ticket = pairs_[n]
            for i in range(10):
                r = node.admin("POST", f"members/{mid}/recharge",
                               {"amount_fen": 100 + i, "idempotency_key": f"two{k}-{n}-{i}"})
                if r.status != 200:
                    errors.append(r)
                r = tills[node].call("pay", {"ticket": ticket, "amount_fen": 50 + i,
                                             "order_id": f"two{k}-{n}-{i}"})
                if r.status != 200:
                    errors.append(r)

        threads = [threading.Thread(target=client, args=(node, k, n))
                   for k, node in enumerate((env, peer)) for n in range(3)]
        # the lease moves to the other node half way
        for t in threads:
            t.start()
        time.sleep(0.3)
        env.rcli("DEL", "ledger:lease")
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors[:3]
        assert_consistent(env)
    finally:
        peer.stop()


def test_hints_in_buckets_and_in_the_keys_of_before(env):
    """Every member write hints the member's own bucket ({b:fold:<id mod
    16>}, {b:due:<id mod 16>}); hints an upgrade left in the un-bucketed
    keys ({b}:fold, ledger:due) are folded and swept all the same."""
    till = Till(env, "F-BKT")
    caught_up(env)
    # the background jobs stand still: another node holds their lease
    env.rcli("SET", "ledger:lease", "elsewhere:1", "PX", "60000")
    time.sleep(3.5)
    try:
        mids = []
        for i in range(4):
            mid, ticket = shopper(env, till, f"bkt{i}", recharge=5000 + i)
            r = till.call("earn", {"ticket": ticket, "amount_fen": 10000,
                                   "order_id": f"bkt{i}"})
            assert r.status == 200, r
            mids.append(mid)
        assert len({int(m) % 16 for m in mids}) > 1, mids
        for m in mids:
            assert env.rcli("ZSCORE", bucket_key("fold", m), m) != "", m
            assert int(env.rcli("HGET", bucket_key("fold", m, ":gen"), m)) >= 1
            assert env.rcli("ZSCORE", bucket_key("due", m), m) != "", m
        for old in ("{b}:fold", "{b}:fold:gen", "ledger:due"):
            assert env.rcli("EXISTS", old) == "0", old

        # two members' hints as a module before the buckets left them
        now = str(int(time.time() * 1000))
        for m in mids[:2]:
            env.rcli("ZREM", bucket_key("fold", m), m)
            env.rcli("HDEL", bucket_key("fold", m, ":gen"), m)
            env.rcli("ZADD", "{b}:fold", "NX", now, m)
            env.rcli("HINCRBY", "{b}:fold:gen", m, "1")
            env.rcli("ZREM", bucket_key("due", m), m)
            env.rcli("ZADD", "ledger:due", "1", m)
        # and a change no hint of which reached a bucket
        with open(os.path.join(LUA, "recharge.lua")) as f:
            src = f.read()
        m = mids[2]
        out = env.rcli("EVAL", src, "5", f"{{m:{m}}}", f"{{m:{m}}}:ledger",
                       f"{{m:{m}}}:idem:old", f"{{m:{m}}}:recharge:old",
                       f"{{m:{m}}}:idem:old",
                       "777", "0", "recharge:777", str(int(time.time())), "60",
                       "old", "60", "admin", "", "", "")
        assert "transaction_id" in out, out
        env.rcli("ZREM", bucket_key("fold", m), m)
        env.rcli("ZADD", "{b}:fold", "NX", now, m)
        env.rcli("HINCRBY", "{b}:fold:gen", m, "1")

        # the admin counts what waits in every source
        lag = totals_answer(env)["fold"]
        assert lag["waiting"] == 4 and lag["oldest_ms"] > 0, lag
        assert waiting(env, "fold") == 4
    finally:
        env.rcli("DEL", "ledger:lease")

    caught_up(env)
    for old in ("{b}:fold", "{b}:fold:gen"):
        assert env.rcli("EXISTS", old) == "0", old
    # the sweep took them from ledger:due into their buckets, due later
    wait_for("ledger:due drained", lambda: env.rcli("EXISTS", "ledger:due") == "0")
    for m in mids[:2]:
        assert int(env.rcli("ZSCORE", bucket_key("due", m), m)) > time.time(), m
    assert_consistent(env)
    assert reconcile(env).returncode == 0


# ----------------------------------------------------------------------------
# the stores' ledgers in the stores' own slots (docs/keys.md, "Slots")


def store_walk(env, store, limit):
    """the store's transactions, page after page: (ids, pages)"""
    ids, before, pages = [], "", 0
    while True:
        r = env.admin("GET", f"stores/{store}/transactions?limit={limit}{before}")
        assert r.status == 200, r
        assert len(r.json["items"]) <= limit, r.json
        pages += 1
        ids += [(i["id"], i["member_id"], i["transaction_id"]) for i in r.json["items"]]
        if not r.json["next"]:
            return ids, pages
        assert r.json["items"], r.json                  # a next only after entries
        before = "&before=" + r.json["next"]


def test_a_store_ledger_pages_on_into_the_copies_of_before(env):
    """Entries the fold copied into {b}:store:<id>:ledger before it moved to
    the store's slot are read after the store's own, in one paged walk,
    whatever the page size: each once, newest first."""
    till = Till(env, "F-OLD")
    # the ledger of before: entries older than any new one (ids of 2001)
    old = []
    for i in range(5):
        eid = env.rcli("XADD", "{b}:store:F-OLD:ledger", f"978307200000-{i}",
                       "member_id", "1", "transaction_id", f"978307100000-{i}",
                       "type", "pay", "store_id", "F-OLD", "paid_fen", str(i))
        old.append((eid, "1", f"978307100000-{i}"))
    old.reverse()
    # only of before: read as it was
    for limit in (1, 2, 5, 100):
        ids, _ = store_walk(env, "F-OLD", limit)
        assert ids == old, (limit, ids)
    mid, ticket = shopper(env, till, "fold-old", recharge=100000)
    for i in range(4):
        r = till.call("pay", {"ticket": ticket, "amount_fen": 10 + i, "order_id": f"old-{i}"})
        assert r.status == 200, r
    caught_up(env)
    assert env.rcli("XLEN", "{b}:store:F-OLD:ledger") == "5"       # not written now
    new = [(eid, e["member_id"], e["transaction_id"])
           for eid, e in reversed(ledger(env, "{s:F-OLD}:ledger"))]
    assert len(new) == 4 and all(m == str(mid) for _, m, _ in new), new
    assert env.rcli("HGET", "{s:F-OLD}:copied", str(mid)) == new[0][2]
    # every page size: the boundary on either side of a page's end, and on it
    for limit in (1, 2, 3, 4, 5, 6, 7, 9, 100):
        ids, pages = store_walk(env, "F-OLD", limit)
        assert ids == new + old, (limit, ids)
        assert pages == -(-9 // limit), (limit, pages)     # a next only when more
    # a cursor from the entries of before pages on among them
    r = env.admin("GET", f"stores/F-OLD/transactions?limit=2&before={old[1][0]}")
    assert [i["id"] for i in r.json["items"]] == [old[2][0], old[3][0]], r.json
    assert r.json["next"] == old[3][0], r.json
    r = reconcile(env)
    assert r.returncode == 1 and "F-OLD" in r.stdout      # the seeded entries: no member's
    env.rcli("DEL", "{b}:store:F-OLD:ledger")
    assert_consistent(env)
    assert reconcile(env).returncode == 0


STORE_COPY = os.path.join(LUA, "store_copy.lua")


def test_a_store_copy_sent_again_copies_nothing_twice(env):
    """store_copy.lua is idempotent on its own: the fold sends it again after
    a crash between it and fold.lua, and only what is newer than the
    member's cursor in that store is appended."""
    with open(STORE_COPY) as f:
        src = f.read()
    keys_ = ("{s:F-CPY}:ledger", "{s:F-CPY}:copied")

    def copy(mid, *entries):
        argv = [str(mid), str(len(entries))]
        for eid, fields in entries:
            argv += [eid, str(len(fields) // 2)] + list(fields)
        return int(env.rcli("EVAL", src, "2", *keys_, *argv))

    e1 = ("1700000000000-0", ("type", "pay", "paid_fen", "10"))
    e2 = ("1700000000000-1", ("type", "refund", "refunded_fen", "10"))
    e3 = ("1700000000001-0", ("type", "pay", "paid_fen", "20"))
    assert copy(7, e1, e2) == 2
    assert copy(7, e1, e2) == 0                          # again: nothing
    assert copy(7, e1, e2, e3) == 1                      # only what is newer
    assert copy(8, e1) == 1                              # another member's own cursor
    got = [(e["member_id"], e["transaction_id"], e.get("type")) for _, e in
           ledger(env, keys_[0])]
    assert got == [("7", e1[0], "pay"), ("7", e2[0], "refund"), ("7", e3[0], "pay"),
                   ("8", e1[0], "pay")], got
    assert hgetall(env, keys_[1]) == {"7": e3[0], "8": e1[0]}
    # a malformed entry id is refused, nothing appended
    assert "not an entry id" in env.rcli("EVAL", src, "2", *keys_, "9", "1", "x", "0")
    assert env.rcli("XLEN", keys_[0]) == "4"
    env.rcli("DEL", *keys_)


def test_a_fold_that_fails_after_the_store_copies_copies_nothing_twice(env):
    """fold.lua refused (its {b}:members of the wrong type) after the store
    copies went in: the fold sends the copies again run after run, and once
    fold.lua works again each entry is in its store's ledger once."""
    till = Till(env, "F-CRASH")
    mid, ticket = shopper(env, till, "fold-crash", recharge=100000)
    caught_up(env)
    swap = """if redis.call('EXISTS', KEYS[1]) == 1 then
                  redis.call('RENAME', KEYS[1], KEYS[2]) end
              redis.call('SET', KEYS[1], 'broken')"""
    back = """redis.call('DEL', KEYS[1])
              if redis.call('EXISTS', KEYS[2]) == 1 then
                  redis.call('RENAME', KEYS[2], KEYS[1]) end"""
    env.rcli("EVAL", swap, "2", "{b}:members", "{b}:members:aside")
    try:
        for i in range(3):
            r = till.call("pay", {"ticket": ticket, "amount_fen": 30 + i,
                                  "order_id": f"crash-{i}"})
            assert r.status == 200, r
        wait_for("the store copies", lambda: env.rcli("XLEN", "{s:F-CRASH}:ledger") == "3")
        # fold.lua fails and the member waits: the copies are sent again
        time.sleep(1.5)
        assert waiting(env, "fold") >= 1
        assert env.rcli("XLEN", "{s:F-CRASH}:ledger") == "3"
        assert env.rcli("HGET", "{b}:cursors", str(mid)) \
            != ledger(env, f"{{m:{mid}}}:ledger")[-1][0]
    finally:
        env.rcli("EVAL", back, "2", "{b}:members", "{b}:members:aside")
    caught_up(env)
    got = [e["transaction_id"] for _, e in ledger(env, "{s:F-CRASH}:ledger")]
    want = [eid for eid, e in ledger(env, f"{{m:{mid}}}:ledger") if e.get("store_id") == "F-CRASH"]
    assert got == want and len(want) == 3, (got, want)
    assert env.rcli("HGET", "{s:F-CRASH}:copied", str(mid)) == want[-1]
    assert_consistent(env)
    # a store copy refused: fold.lua is not sent, so nothing is lost
    cursor = env.rcli("HGET", "{b}:cursors", str(mid))
    env.rcli("EVAL", swap, "2", "{s:F-CRASH}:copied", "{s:F-CRASH}:copied:aside")
    try:
        r = till.call("pay", {"ticket": ticket, "amount_fen": 40, "order_id": "crash-3"})
        assert r.status == 200, r
        time.sleep(1.5)
        assert waiting(env, "fold") >= 1
        assert env.rcli("HGET", "{b}:cursors", str(mid)) == cursor
        assert env.rcli("XLEN", "{s:F-CRASH}:ledger") == "3"
    finally:
        env.rcli("EVAL", back, "2", "{s:F-CRASH}:copied", "{s:F-CRASH}:copied:aside")
    caught_up(env)
    got = [e["transaction_id"] for _, e in ledger(env, "{s:F-CRASH}:ledger")]
    want = [eid for eid, e in ledger(env, f"{{m:{mid}}}:ledger") if e.get("store_id") == "F-CRASH"]
    assert got == want and len(want) == 4, (got, want)
    assert_consistent(env)
    assert reconcile(env).returncode == 0
