"""Analytics (docs/analytics.md): RFM scores and segments on a hand-checked
data set, automatic and manual tags, churn scores and their order, the pass
in slices with its cursor in Redis, and the admin API's bad paths."""

import time
from urllib.parse import quote

import harness

ENV = {"extra_http": "member_test_clock on;"}
DAY = 86400

# name: (days since the last purchase, orders, spend in yuan, days since the
# first purchase).  Worked by hand (docs/analytics.md's rules), 10 members:
#   R ranks last purchase, oldest first: H D | B F | J I | G E | C A
#   F ranks orders:                      D C | G H | J I | F E | B A
#   M ranks spend:                       E F | G H | J I | D C | B A
# two members per quintile, so each pair scores 1..5 in that order.
SEEDS = {
    "A": (1, 20, 9000, 380), "B": (200, 18, 8000, 560), "C": (3, 2, 7000, 13),
    "D": (300, 1, 6000, 300), "E": (5, 15, 100, 145), "F": (150, 12, 200, 480),
    "G": (7, 3, 300, 67), "H": (400, 4, 400, 700), "I": (10, 10, 5000, 46),
    "J": (100, 5, 500, 200),
}
SCORES = {  # r, f, m
    "A": (5, 5, 5), "B": (2, 5, 5), "C": (5, 1, 4), "D": (1, 1, 4),
    "E": (4, 4, 1), "F": (2, 4, 1), "G": (4, 2, 2), "H": (1, 2, 2),
    "I": (3, 3, 3), "J": (3, 3, 3),
}
# high is a score of 3 or more
SEGMENTS = {
    "重要价值客户": "AIJ", "重要保持客户": "B", "重要发展客户": "C",
    "重要挽留客户": "D", "一般价值客户": "E", "一般保持客户": "F",
    "一般发展客户": "G", "一般挽留客户": "H",
}
# churn = round(70 * clamp((idle / cycle - 1) / 3) + 30 * idle / (life + cycle))
# with cycle = (last - first) / (orders - 1), 30 days for one order:
#   D: cycle 30, idle 300: 70 * 1 + 30 * 300/330 = 97.3
#   H: cycle 100, idle 400: 70 + 30 * 400/800 = 85
#   J: cycle 25, idle 100: 70 + 30 * 100/225 = 83.3
#   B: cycle 21.18, idle 200: 70 + 30 * 200/581.2 = 80.3
#   F: cycle 30, idle 150: 70 + 30 * 150/510 = 78.8
#   I: cycle 4, idle 10: 70 * 0.5 + 30 * 10/50 = 41
#   C: cycle 10, idle 3: 30 * 3/23 = 3.9;  G: 30 * 7/97 = 2.2
#   E: 30 * 5/155 = 0.97;  A: 30 * 1/399.95 = 0.08
CHURN = [("D", 97), ("H", 85), ("J", 83), ("B", 80), ("F", 79), ("I", 41),
         ("C", 4), ("G", 2), ("E", 1), ("A", 0)]
# idle > 90 days, or (2 orders or more) idle > 2 cycles (I: 10 > 2 * 4)
LAPSING = "BDFHIJ"


def state(env):
    r = env.admin("GET", "analytics")
    assert r.status == 200, r
    return r.json


def run_pass(env):
    """asks for a pass and waits until one started after the ask is over"""
    r = env.admin("POST", "campaigns/run")
    assert r.status == 202, r
    asked = r.json["request"]

    def over():
        s = state(env)
        return s.get("phase") == "idle" and int(s.get("served", 0)) >= asked
    harness.wait_until("the analytics pass", over, timeout=30)


def seed(env, ids, now):
    for name, (idle, orders, spend, first) in SEEDS.items():
        env.rcli("HSET", "{m:%s}" % ids[name], "orders", str(orders),
                 "spend_fen", str(spend * 100),
                 "last_purchase_ts", str(now - idle * DAY),
                 "first_purchase_ts", str(now - first * DAY))


def world(env):
    ids = {name: env.member()[0] for name in list(SEEDS) + ["K"]}
    now = int(time.time()) + 400 * DAY
    r = env.admin("PUT", "clock", {"now": now})
    assert r.status == 200, r
    # activated 5 days ago (POST members stamps the real time): new
    ids["L"] = env.member()[0]
    env.rcli("HSET", "{m:%s}" % ids["L"], "activated_at", str(now - 5 * DAY))
    seed(env, ids, now)
    return ids, now


@harness.own_env(**ENV)
def test_rfm_segments_hand_checked(env):
    ids, now = world(env)
    names = {v: k for k, v in ids.items()}
    run_pass(env)

    r = env.admin("GET", "segments")
    assert r.status == 200, r
    got = {s["name"]: "".join(sorted(names[i] for i in s["members"]))
           for s in r.json}
    assert got == SEGMENTS, got
    assert {s["name"]: s["count"] for s in r.json} == \
        {k: len(v) for k, v in SEGMENTS.items()}
    assert all(s["next"] is None for s in r.json)

    for name, (r_, f_, m_) in SCORES.items():
        rec = env.admin("GET", f"members/{ids[name]}").json
        idle, orders, spend, _ = SEEDS[name]
        seg = [k for k, v in SEGMENTS.items() if name in v][0]
        assert rec["rfm"] == {"recency_days": idle, "frequency": orders,
                              "monetary_fen": spend * 100, "r": r_, "f": f_,
                              "m": m_, "segment": seg}, (name, rec["rfm"])
        assert "rfm_r" not in rec and "rfm_segment" not in rec

    # no purchase: no RFM, no churn score, in no segment
    rec = env.admin("GET", f"members/{ids['K']}").json
    assert rec["rfm"] is None and rec["churn_score"] is None
    assert rec["tags"] == []

    # one segment asked by name (URL-escaped), paged by one
    r = env.admin("GET", "segments?segment=%E9%87%8D%E8%A6%81%E4%BB%B7%E5%80%BC"
                  "%E5%AE%A2%E6%88%B7&limit=1")
    assert r.status == 200 and len(r.json) == 1, r
    assert r.json[0]["name"] == "重要价值客户" and r.json[0]["count"] == 3


@harness.own_env(**ENV)
def test_churn_and_automatic_tags(env):
    ids, now = world(env)
    names = {v: k for k, v in ids.items()}
    run_pass(env)

    r = env.admin("GET", "churn")
    assert r.status == 200, r
    assert [(names[c["member_id"]], c["score"]) for c in r.json] == CHURN, r.json
    r = env.admin("GET", "churn?limit=3")
    assert [names[c["member_id"]] for c in r.json] == ["D", "H", "J"], r.json

    for name, score in CHURN:
        assert env.admin("GET", f"members/{ids[name]}").json["churn_score"] == score

    def members(tag):
        r = env.admin("GET", f"tags/{tag}/members")
        assert r.status == 200 and len(r.json) == 1, r
        return "".join(sorted(names[i] for i in r.json[0]["members"]))

    assert members("lapsing") == LAPSING
    assert members("high_value") == "AB"
    assert members("new") == "CL"       # a first purchase, an activation
    assert set(env.admin("GET", f"members/{ids['I']}").json["tags"]) == {"lapsing"}
    assert set(env.admin("GET", f"members/{ids['C']}").json["tags"]) == {"new"}

    r = env.admin("GET", "tags")
    assert r.status == 200, r
    assert {t["tag"]: t["count"] for t in r.json} == \
        {"new": 2, "high_value": 2, "lapsing": 6, "birthday_month": 0}

    # A stops buying: 120 days later it lapses and its churn score climbs;
    # C's first purchase is no longer new.
    later = now + 120 * DAY
    assert env.admin("PUT", "clock", {"now": later}).status == 200
    run_pass(env)
    assert "lapsing" in env.admin("GET", f"members/{ids['A']}").json["tags"]
    assert "A" in members("lapsing") and "C" not in members("new")
    # cycle 19.95 days, idle 121: 70 + 30 * 121 / (500 + 19.95) = 76.98
    a = env.admin("GET", f"members/{ids['A']}").json
    assert a["rfm"]["recency_days"] == 121 and a["churn_score"] == 77, a


@harness.own_env(**ENV)
def test_manual_tags(env):
    ids, _ = world(env)
    a, b = ids["A"], ids["B"]

    r = env.admin("POST", f"members/{a}/tags", {"add": ["vip", "团购"]})
    assert r.status == 200 and r.json == {"member_id": a, "tags": ["vip", "团购"]}, r
    r = env.admin("POST", f"members/{b}/tags", {"add": ["vip"]})
    assert r.status == 200, r
    r = env.admin("POST", f"members/{a}/tags", {"add": ["vip"], "remove": ["团购"]})
    assert r.status == 200 and r.json["tags"] == ["vip"], r

    r = env.admin("GET", "tags/vip/members")
    assert sorted(r.json[0]["members"]) == sorted([a, b]) and r.json[0]["count"] == 2
    assert env.admin("GET", "tags/%s/members" % quote("团购")).json[0]["count"] == 0
    assert {t["tag"]: t["count"] for t in env.admin("GET", "tags").json}["vip"] == 2

    # the pass keeps manual tags beside the automatic ones
    run_pass(env)
    tags = env.admin("GET", f"members/{a}").json["tags"]
    assert "vip" in tags and "high_value" in tags, tags
    assert env.admin("GET", "tags/vip/members").json[0]["count"] == 2

    before = env.rcli("HGET", "{m:%s}" % a, "tags")
    bad = [
        {"add": ["new"]},                       # an automatic tag's name
        {"add": ["segment:x"]}, {"add": ["segmentx"]},
        {"add": ["a" * 33]}, {"add": [""]}, {"add": ["a b"]},
        {"add": ["a,b"]}, {"add": ["a:b"]}, {"add": "vip"}, {"add": [1]},
        {"remove": [None]}, {}, {"add": []}, [],
        {"add": ["t%d" % i for i in range(21)]},
    ]
    for body in bad:
        r = env.admin("POST", f"members/{a}/tags", body)
        assert r.status == 400 and r.json["error"] == "bad_request", (body, r)
    r = env.admin("POST", f"members/{a}/tags", "not json")
    assert r.status == 400, r
    assert env.rcli("HGET", "{m:%s}" % a, "tags") == before

    # at most 20 tags a member
    r = env.admin("POST", f"members/{b}/tags", {"add": ["t%d" % i for i in range(19)]})
    assert r.status == 200 and len(r.json["tags"]) == 20, r
    r = env.admin("POST", f"members/{b}/tags", {"add": ["one-more"]})
    assert r.status == 422 and r.json["error"] == "too_many_tags", r
    assert len(env.admin("GET", f"members/{b}").json["tags"]) == 20 + 2

    r = env.admin("POST", "members/99999/tags", {"add": ["vip"]})
    assert r.status == 404, r
    assert env.rcli("SISMEMBER", "{b}:tag:vip", "99999") == "0"
    r = env.admin("GET", f"members/{a}/tags")
    assert r.status == 405, r
    r = env.admin("POST", f"members/{a}/tags", {"add": ["vip"]}, token="wrong")
    assert r.status == 401, r


def test_bad_reads(env):
    for path, status in [("segments?limit=0", 400), ("segments?limit=1001", 400),
                         ("segments?limit=x", 400), ("segments?cursor=x", 400),
                         ("segments?segment=nobody", 404), ("churn?limit=0", 400),
                         ("churn?limit=-1", 400), ("tags/a/b/members", 404),
                         ("tags//members", 404), ("tags/x/member", 404)]:
        r = env.admin("GET", path)
        assert r.status == status and "error" in r.json, (path, r)
    for method, path in [("POST", "segments"), ("DELETE", "churn"), ("PUT", "tags"),
                         ("GET", "campaigns/run"), ("POST", "analytics")]:
        r = env.admin(method, path, {})
        assert r.status == 405, (method, path, r)
    assert env.admin("GET", "segments", token="").status == 401
    r = env.admin("GET", "tags/nothing/members")
    assert r.status == 200 and r.json == [{"tag": "nothing", "count": 0,
                                           "members": [], "next": None}], r


@harness.own_env(**ENV)
def test_pass_in_slices(env):
    """1,000 members: five slices of 200 each half, the cursor in Redis."""
    now = int(time.time())
    n = 1000
    cmds = []
    for i in range(1, n + 1):
        cmds.append("HSET {m:%d} status active orders %d spend_fen %d "
                    "last_purchase_ts %d first_purchase_ts %d"
                    % (i, i, 100 * i, now - (n - i) * 3600, now - 400 * DAY))
    cmds.append("SET member:seq %d" % n)
    out = harness.subprocess.run(["redis-cli", "-p", str(env.redis_port)],
                                 input="\n".join(cmds) + "\n", text=True,
                                 capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr

    run_pass(env)
    s = state(env)
    assert s["ranked"] == str(n) and s["seq"] == str(n), s
    # quintile cut points of 1..1000: the values of rank 200, 400, ...
    assert [s["f%d" % k] for k in range(1, 5)] == ["201", "401", "601", "801"], s
    r = env.admin("GET", "segments?limit=1000")
    counts = {x["name"]: x["count"] for x in r.json}
    assert sum(counts.values()) == n, counts
    # orders, spend and recency all grow with the id: two segments only
    assert counts["重要价值客户"] == 600 and counts["一般挽留客户"] == 400, counts
    assert env.rcli("HGET", "{m:1000}", "rfm_r") == "5"
    assert env.rcli("HGET", "{m:1}", "rfm_segment") == "一般挽留客户"
    assert "analytics pass over 1000 members" in env.log_text()


def china(y, m, d, hh=12, mm=0):
    """unix seconds of a China-time (UTC+8) wall clock"""
    import calendar
    return calendar.timegm((y, m, d, hh, mm, 0)) - 8 * 3600


@harness.own_env(**ENV)
def test_birthday_month_across_a_month_end_and_a_leap_day(env):
    """birthday_month follows the China-time month: a member born on 31
    March is in it in March and out of it from 1 April, 00:00 (the pass a
    month's start begins, unasked); one born on 29 February is in it in the
    February of a common year."""
    def member(birthday):
        body = {"birthday": birthday} if birthday else {}
        r = env.admin("POST", "members", body)
        assert r.status == 201, r
        return r.json["member_id"]

    march, feb, april, none = (member("1990-03-31"), member("1992-02-29"),
                               member("1985-04-01"), member(None))
    name = {march: "march", feb: "feb", april: "april", none: "none"}

    def tagged():
        r = env.admin("GET", "tags/birthday_month/members")
        assert r.status == 200 and r.json[0]["tag"] == "birthday_month", r
        assert r.json[0]["count"] == len(r.json[0]["members"]), r
        return sorted(name[i] for i in r.json[0]["members"] if i in name)

    def clock(at):
        assert env.admin("PUT", "clock", {"now": at}).status == 200

    clock(china(2027, 2, 10))                   # 2027: a common year
    run_pass(env)
    assert tagged() == ["feb"]
    assert "birthday_month" in env.admin("GET", f"members/{feb}").json["tags"]
    assert "birthday_month" not in env.admin("GET", f"members/{march}").json["tags"]

    clock(china(2027, 3, 31, 23, 30))
    run_pass(env)
    assert tagged() == ["march"]
    assert {t["tag"]: t["count"] for t in env.admin("GET", "tags").json}[
        "birthday_month"] == 1
    assert env.admin("GET", f"members/{march}").json["tags"] == ["birthday_month"]
    # coupons to the tag reach this month's birthdays only
    r = env.admin("POST", "coupons/templates", {"name": "生日券", "value_fen": 500,
                                                "valid_days": 30})
    assert r.status == 201, r
    r = env.admin("POST", "coupons/issue", {"template_id": r.json["template_id"],
                                            "idempotency_key": "bday-2027-03",
                                            "tag": "birthday_month"})
    assert r.status == 200 and (r.json["issued"], r.json["skipped"]) == (1, 0), r
    for mid in (march, feb, april, none):
        items = env.admin("GET", f"members/{mid}/coupons").json["items"]
        assert len(items) == (mid == march), (name[mid], items)

    # half an hour later it is April: a pass starts by itself
    runs = int(state(env).get("runs", 0))
    clock(china(2027, 4, 1, 0, 0) + 5)
    harness.wait_until("the pass of a new month",
                       lambda: int(state(env).get("runs", 0)) > runs
                       and state(env).get("phase") == "idle", timeout=30)
    assert tagged() == ["april"]
    assert "birthday_month" not in env.admin("GET", f"members/{march}").json["tags"]

    # a leap year's February too; a deleted member leaves the tag
    clock(china(2028, 2, 29))
    run_pass(env)
    assert tagged() == ["feb"]
    env.rcli("HSET", "{m:%s}" % feb, "status", "deleted")
    run_pass(env)
    assert tagged() == []
