"""Campaigns (docs/campaigns.md): triggers (welcome, birthday, recall,
anniversary) fired by the timer exactly once per member and period across
month ends, year ends and two nginx nodes; referrals rewarded once on the
referee's first purchase, capped, and refused for one's own or unknown
codes; the rules' new sections validated."""

import json
import threading
import time

import harness
from test_ledger import china, entries, reconciled, record, rules, set_clock, wait_for
from test_register import login, register
from test_scan import Till, code_of

ENV = {"extra_http": "member_test_clock on;"}


def campaigns(env):
    r = env.admin("GET", "campaigns")
    assert r.status == 200, r
    return r.json


def run_pass(env, node=None):
    """POST campaigns/run, then wait for that pass to be over."""
    node = node or env
    before = campaigns(env).get("passes", 0)
    r = node.admin("POST", "campaigns/run")
    assert r.status == 202 and r.json["status"] == "started", r
    assert r.json["analytics"] == "requested", r      # docs/analytics.md
    wait_for("a campaign pass", lambda: (lambda c: c.get("passes", 0) > before
                                         and not c["running"])(campaigns(env)),
             timeout=20)


def of_type(env, mid, kind):
    return [e for e in entries(env, mid) if e["type"] == kind]


def triggers(env, **sections):
    return rules(env, triggers=sections)


# ----------------------------------------------------------------------------
# rules


def test_bad_campaign_rules(env):
    bad = [
        ({"triggers": []}, "triggers"),
        ({"triggers": {"lottery": {}}}, "triggers.lottery"),
        ({"triggers": {"welcome": {}}}, "triggers.welcome.points"),
        ({"triggers": {"welcome": {"points": -1}}}, "triggers.welcome.points"),
        ({"triggers": {"welcome": {"points": 10, "coupon": {}}}}, "triggers.welcome.coupon"),
        ({"triggers": {"birthday": {"points": 5, "when": "week"}}}, "triggers.birthday.when"),
        ({"triggers": {"birthday": {"points": 5.5}}}, "triggers.birthday.points"),
        ({"triggers": {"recall": {"points": 5}}}, "triggers.recall.silent_days"),
        ({"triggers": {"recall": {"silent_days": 0, "points": 5}}}, "triggers.recall.silent_days"),
        ({"triggers": {"recall": {"silent_days": 30}}}, "triggers.recall"),
        ({"triggers": {"recall": {"silent_days": 30, "coupon": {"name": "x", "value_fen": 0,
                                                              "valid_days": 3}}}},
         "triggers.recall.coupon.value_fen"),
        ({"triggers": {"recall": {"silent_days": 30, "coupon": {"name": "", "value_fen": 10,
                                                              "valid_days": 3}}}},
         "triggers.recall.coupon.name"),
        ({"triggers": {"anniversary": {"points": "many"}}}, "triggers.anniversary.points"),
        ({"referral": {"referrer_points": 1, "referee_points": 1}}, "referral.max_per_referrer"),
        ({"referral": {"referrer_points": 1, "referee_points": 1, "max_per_referrer": 1,
                       "bonus": 1}}, "referral.bonus"),
        ({"referral": 5}, "referral"),
        ({"triggers": {'x"\ty': {}}}, 'triggers.x"\ty'),    # quoted, escaped
    ]
    version = env.admin("GET", "rules").json["version"]
    for body, field in bad:
        r = env.admin("PUT", "rules", body)
        assert r.status == 422 and r.json["error"] == "bad_rules", (body, r)
        assert r.json["message"].startswith(field + ":"), (field, r.json["message"])
    assert env.admin("GET", "rules").json["version"] == version, "a bad PUT made a version"

    good = {"welcome": {"points": 100}, "birthday": {"points": 500},
            "recall": {"silent_days": 60, "coupon": {"name": "回来看看", "value_fen": 1000,
                                                     "valid_days": 14}},
            "anniversary": {"points": 88}}
    v = rules(env, triggers=good, referral={"referrer_points": 200, "referee_points": 100,
                                            "max_per_referrer": 50})
    assert v["version"] == version + 1
    assert v["triggers"]["birthday"]["when"] == "month", v     # the default, written
    assert env.admin("GET", "rules").json == v
    assert env.admin("PUT", "rules", v).status == 200          # GET's answer goes back
    rules(env)
    assert "triggers" not in env.admin("GET", "rules").json


def test_campaign_routes(env):
    assert env.admin("GET", "campaigns/run").status == 405
    assert env.admin("POST", "campaigns").status == 405
    assert env.admin("POST", "campaigns/walk").status == 404
    assert env.admin("POST", "campaigns/run", token="wrong").status == 401
    c = campaigns(env)
    assert isinstance(c["running"], bool), c


# ----------------------------------------------------------------------------
# triggers


def test_welcome_once_on_activation(env):
    triggers(env, welcome={"points": 100})
    try:
        mid, _ = env.member("welcome1")
        # the activation's hint: within a tick or two, no pass needed
        wait_for("the welcome gift", lambda: record(env, mid)["points"] == 100)
        run_pass(env)
        run_pass(env)
        w = of_type(env, mid, "welcome")
        assert len(w) == 1 and w[0]["points_delta"] == 100, w
        assert w[0]["points"] == 100 and "rules_version" in w[0], w
    finally:
        rules(env)
    reconciled(env)


def test_welcome_on_a_wallet_card_claim(env):
    """A card claimed in WeChat's wallet (the official account's event) is
    welcomed by the pass, which looks back 7 days."""
    from test_oa import claim, push_plain
    triggers(env, welcome={"points": 20})
    try:
        _, mid, _ = claim(env, "walletwelcome", push=push_plain)
        run_pass(env)
        run_pass(env)
        w = of_type(env, mid, "welcome")
        assert len(w) == 1 and w[0]["points_delta"] == 20, w
    finally:
        rules(env)


def test_birthday_on_the_day_across_a_year_end(env):
    triggers(env, birthday={"points": 500, "when": "day"})
    mid, _ = env.member_with(birthday="1990-12-31")
    other, _ = env.member_with(birthday="1990-01-01")
    try:
        set_clock(env, china(2026, 12, 30, 23))
        run_pass(env)
        assert of_type(env, mid, "birthday") == []
        set_clock(env, china(2026, 12, 31, 9))
        run_pass(env)
        run_pass(env)
        b = of_type(env, mid, "birthday")
        assert len(b) == 1 and b[0]["points_delta"] == 500 and b[0]["year"] == 2026, b
        assert of_type(env, other, "birthday") == []
        # over the year end: the other's day, not the first one's again
        set_clock(env, china(2027, 1, 1, 0) + 60)
        run_pass(env)
        assert len(of_type(env, mid, "birthday")) == 1
        o = of_type(env, other, "birthday")
        assert len(o) == 1 and o[0]["year"] == 2027, o
        # a year later, the next one
        set_clock(env, china(2027, 12, 31, 20))
        run_pass(env)
        b = of_type(env, mid, "birthday")
        assert [e["year"] for e in b] == [2027, 2026], b
        assert record(env, mid)["points"] == 1000
    finally:
        set_clock(env, int(time.time()))
        rules(env)
    reconciled(env)


def test_birthday_in_the_month_across_a_month_end(env):
    triggers(env, birthday={"points": 300, "when": "month"})
    feb, _ = env.member_with(birthday="1992-02-29")
    leap, _ = env.member_with(birthday="1988-02-29")
    try:
        set_clock(env, china(2027, 1, 31, 23))
        run_pass(env)
        assert of_type(env, feb, "birthday") == []
        set_clock(env, china(2027, 2, 1, 0) + 120)   # just over the month end
        run_pass(env)
        assert len(of_type(env, feb, "birthday")) == 1
        set_clock(env, china(2027, 2, 27))
        run_pass(env)
        assert len(of_type(env, feb, "birthday")) == 1
        assert record(env, feb)["points"] == 300

        # on the day: 29 February is kept on the 28th of a common year
        triggers(env, birthday={"points": 300, "when": "day"})
        run_pass(env)
        assert len(of_type(env, leap, "birthday")) == 1      # month mode gave it
        set_clock(env, china(2028, 2, 28))
        run_pass(env)
        assert len(of_type(env, leap, "birthday")) == 1      # a leap year: not yet
        set_clock(env, china(2028, 2, 29))
        run_pass(env)
        b = of_type(env, leap, "birthday")
        assert [e["year"] for e in b] == [2028, 2027], b
    finally:
        set_clock(env, int(time.time()))
        rules(env)
    reconciled(env)


def test_recall_once_per_silence(env):
    triggers(env, recall={"silent_days": 30, "points": 50})
    now = int(time.time())
    mid, _ = env.member_with(name="recall")
    try:
        set_clock(env, now + 29 * 86400)
        run_pass(env)
        assert of_type(env, mid, "recall") == []
        set_clock(env, now + 31 * 86400)
        run_pass(env)
        r = of_type(env, mid, "recall")
        assert len(r) == 1 and r[0]["points_delta"] == 50, r
        set_clock(env, now + 90 * 86400)     # still the same silence
        run_pass(env)
        assert len(of_type(env, mid, "recall")) == 1
    finally:
        set_clock(env, int(time.time()))
        rules(env)
    reconciled(env)


def test_recall_coupon_once_per_silence(env):
    """The coupon by the coupons' issue script, under the key recall:<since>;
    a purchase ends the silence and the next one gets its own."""
    triggers(env, recall={"silent_days": 30, "coupon": {"name": "回来看看",
                                                        "value_fen": 1000, "valid_days": 14}})
    till = Till(env, "C-RECALL")
    now = int(time.time())
    mid, _ = env.member_with(name="recallcoupon")
    v = till.verify(code_of(mid))
    assert v.status == 200, v
    env.secrets.append(v.json["ticket"].split(".")[-1])
    activated = int(env.rcli("HGET", "{m:%s}" % mid, "activated_at"))

    def held():
        r = env.admin("GET", f"members/{mid}/coupons")
        assert r.status == 200, r
        return r.json["items"]

    try:
        set_clock(env, now + 31 * 86400)
        run_pass(env)
        run_pass(env)
        r = of_type(env, mid, "recall")
        assert len(r) == 1 and r[0]["coupon"] == "回来看看", r
        assert r[0]["silent_since"] == activated and r[0]["points_delta"] == 0, r
        c = of_type(env, mid, "coupon")
        assert len(c) == 1 and c[0]["idempotency_key"] == "recall:%d" % activated, c
        h = held()
        assert len(h) == 1 and h[0]["value_fen"] == 1000, h
        assert h[0]["expires_at"] - h[0]["valid_from"] == 14 * 86400, h
        assert not env.rcli("HGET", "{m:%s}" % mid, "recall_coupon")

        # a purchase ends the silence; 30 days after it, the next recall
        set_clock(env, now + 40 * 86400)
        p = till.call("earn", {"ticket": v.json["ticket"], "amount_fen": 500,
                               "order_id": "rc-1"})
        assert p.status == 200, p
        run_pass(env)
        assert len(of_type(env, mid, "recall")) == 1
        set_clock(env, now + 71 * 86400)
        run_pass(env)
        r = of_type(env, mid, "recall")
        assert len(r) == 2 and r[0]["silent_since"] > activated, r
        assert len(held()) == 2 and len(of_type(env, mid, "coupon")) == 2

        # a crash between the recall and its coupon: the next pass issues it once
        env.rcli("HSET", "{m:%s}" % mid, "recall_coupon", str(r[0]["silent_since"]))
        run_pass(env)
        assert len(held()) == 2 and len(of_type(env, mid, "coupon")) == 2
        assert not env.rcli("HGET", "{m:%s}" % mid, "recall_coupon")
    finally:
        set_clock(env, int(time.time()))
        rules(env)
    reconciled(env)


def test_recall_coupon_kept_while_the_rules_change(env):
    """Issue 14, 3.0: a pass's trigger commands carry the recall coupon's
    name for the whole tick while PUT rules replaces the worker's copy of
    the rules it came from; every coupon still has its name (make
    test-asan sees a read after free at once)."""
    recall = {"silent_days": 30, "coupon": {"name": "回来看看", "value_fen": 500,
                                            "valid_days": 7}}
    triggers(env, recall=recall)
    now = int(time.time())
    mids = [env.member_with()[0] for _ in range(300)]
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            triggers(env, recall=recall)

    t = threading.Thread(target=churn)
    try:
        set_clock(env, now + 31 * 86400)
        t.start()
        run_pass(env)
    finally:
        stop.set()
        t.join(timeout=15)
        set_clock(env, int(time.time()))
    names = [e["coupon"] for m in mids[::10] for e in of_type(env, m, "recall")]
    assert names == ["回来看看"] * 30, names[:5]
    rules(env)
    reconciled(env)


def test_anniversary_once_a_year(env):
    triggers(env, anniversary={"points": 88})
    now = int(time.time())
    mid, _ = env.member_with(name="anniversary")
    try:
        set_clock(env, now + 364 * 86400)
        run_pass(env)
        assert of_type(env, mid, "anniversary") == []
        set_clock(env, now + 365 * 86400 + (86400 if is_leap_ahead(now) else 0))
        run_pass(env)
        run_pass(env)
        a = of_type(env, mid, "anniversary")
        assert len(a) == 1 and a[0]["years"] == 1 and a[0]["points_delta"] == 88, a
    finally:
        set_clock(env, int(time.time()))
        rules(env)
    reconciled(env)


def is_leap_ahead(now):
    """A 29 February within the year after `now` (China time)."""
    y, m, _ = time.gmtime(now + 8 * 3600)[:3]
    def leap(x):
        return x % 4 == 0 and (x % 100 != 0 or x % 400 == 0)
    return (leap(y) and m <= 2) or (leap(y + 1) and m > 2)


def test_visitors_get_nothing(env):
    triggers(env, welcome={"points": 10}, recall={"silent_days": 1, "points": 5})
    token = login(env, "visitoronly")
    assert env.api("card", token).status in (200, 404)
    try:
        set_clock(env, int(time.time()) + 3 * 86400)
        run_pass(env)
        seq = int(env.rcli("GET", "member:seq"))
        kinds = env.rcli("EVAL", """
            local out = {}
            for i = 1, tonumber(ARGV[1]) do
                local s = redis.call('HGET', '{m:' .. i .. '}', 'status')
                if s ~= 'active' then
                    local e = redis.call('XRANGE', '{m:' .. i .. '}:ledger', '-', '+')
                    for _, x in ipairs(e) do
                        for j = 1, #x[2], 2 do
                            if x[2][j] == 'type' then out[#out + 1] = x[2][j + 1] end
                        end
                    end
                end
            end
            return out""", "0", str(seq)).split()
        assert not set(kinds) & {"welcome", "recall"}, kinds
    finally:
        set_clock(env, int(time.time()))
        rules(env)


# ----------------------------------------------------------------------------
# referral


REFERRAL = {"referrer_points": 200, "referee_points": 100, "max_per_referrer": 2}


def registered(env, name, phone, **extra):
    token = login(env, name)
    r = register(env, token, phone=phone, **extra)
    return token, r


def test_referral_codes_and_refusals(env):
    token, r = registered(env, "referrer0", "13700000000")
    assert r.status == 201, r
    ref = env.api("referral", token)
    assert ref.status == 200, ref
    code = ref.json["code"]
    assert code.isalnum() and code.endswith(r.json["member_id"]), code
    assert ref.json["link"].endswith("/card/?invite=" + code), ref.json
    assert env.api("referral", token).json == ref.json            # stable
    assert env.api("referral", token, method="POST").status == 405
    assert env.request("GET", "/api/referral").status == 401

    # a visitor has no code yet
    assert env.api("referral", login(env, "refvisitor")).status == 404

    # unknown, forged and malformed codes, and one's own
    other_id = code[:-1] + str((int(code[-1]) + 1) % 10)
    for bad in ("AAAAAAAA" + r.json["member_id"], other_id, code[:8], "",
                "x" * 40, 12345, code[:8] + "-1"):
        t = login(env, "badinvite")
        r2 = register(env, t, phone="13700000009", invite_code=bad)
        assert r2.status == 400 and "invite_code" in r2.json["message"], (bad, r2)
    own, _ = env.member("selfreferral")             # a member with no phone yet
    t = login(env, "selfreferral")
    own_code = env.api("referral", t).json["code"]
    r3 = register(env, t, phone="13700000008", invite_code=own_code)
    assert r3.status == 400 and "own" in r3.json["message"], r3
    assert "referred_by" not in env.rcli("HKEYS", "{m:%s}" % own).split()
    # lower case is the same code
    r4 = register(env, t, phone="13700000008", invite_code=code.lower())
    assert r4.status == 201, r4


def test_referral_rewards_both_once_with_a_cap(env):
    rules(env, referral=REFERRAL)
    till = Till(env, "C-REF")
    try:
        token, r = registered(env, "referrer", "13700000001")
        referrer = r.json["member_id"]
        code = env.api("referral", token).json["code"]

        referees = []
        for i in range(3):
            _, r = registered(env, f"referee{i}", f"1370000001{i}", invite_code=code)
            assert r.status == 201, r
            referees.append(r.json["member_id"])
        assert env.rcli("HGET", "{m:%s}" % referees[0], "referred_by") == referrer

        # registered, not bought: nothing yet
        run_pass(env)
        assert of_type(env, referrer, "referral") == []
        assert of_type(env, referees[0], "referral") == []

        tickets = {}

        def buy(mid, order):
            if mid not in tickets:
                v = till.verify(code_of(mid))
                assert v.status == 200, v
                tickets[mid] = v.json["ticket"]
                env.secrets.append(v.json["ticket"].split(".")[-1])
            p = till.call("earn", {"ticket": tickets[mid], "amount_fen": 1000,
                                   "order_id": order})
            assert p.status == 200, p

        buy(referees[0], "r0-1")
        wait_for("the referee's reward",
                 lambda: len(of_type(env, referees[0], "referral")) == 1)
        wait_for("the referrer's reward", lambda: len(of_type(env, referrer, "referral")) == 1)
        e = of_type(env, referees[0], "referral")[0]
        assert e["points_delta"] == 100 and e["role"] == "referee", e
        assert e["referrer"] == referrer, e
        e = of_type(env, referrer, "referral")[0]
        assert e["points_delta"] == 200 and e["referee"] == referees[0], e

        # the second purchase: nothing more
        buy(referees[0], "r0-2")
        buy(referees[1], "r1-1")
        buy(referees[2], "r2-1")
        wait_for("the last referee's reward",
                 lambda: all(len(of_type(env, m, "referral")) == 1 for m in referees))
        run_pass(env)
        run_pass(env)
        assert [len(of_type(env, m, "referral")) for m in referees] == [1, 1, 1]
        # the cap: two referees reward the referrer, the third does not
        mine = of_type(env, referrer, "referral")
        assert sorted(e["referee"] for e in mine) == sorted(referees[:2]), mine
        assert record(env, referrer)["points"] == 400
        # done with: out of the set the timer looks at each tick
        assert [env.rcli("SISMEMBER", "{b}:campaigns:referees", m) for m in referees] \
            == ["0"] * 3
    finally:
        rules(env)
    reconciled(env)


def test_referral_repaired_after_a_crash_between_the_two_sides(env):
    """The referee's side given, the referrer's not: the next tick does it."""
    rules(env, referral=REFERRAL)
    try:
        token, r = registered(env, "referrercrash", "13700000020")
        referrer = r.json["member_id"]
        code = env.api("referral", token).json["code"]
        _, r = registered(env, "refereecrash", "13700000021", invite_code=code)
        referee = r.json["member_id"]
        # what a crash leaves: the referee rewarded, its hint gone
        env.rcli("SREM", "{b}:campaigns:referees", referee)
        env.rcli("HSET", "{m:%s}" % referee, "period", "0", "referral_given", "1")
        run_pass(env)
        mine = of_type(env, referrer, "referral")
        assert len(mine) == 1 and mine[0]["referee"] == referee, mine
        assert env.rcli("HGET", "{m:%s}" % referee, "referral_done")
        run_pass(env)
        assert len(of_type(env, referrer, "referral")) == 1
        assert of_type(env, referee, "referral") == []       # it was "given" by hand
    finally:
        rules(env)


# ----------------------------------------------------------------------------
# referral from the wallet: the invite code as cardExt's outer_str, pushed
# back as OuterStr in the official account's user_get_card event


def wallet_claim(env, name, outer, push=None, create_time=None):
    """user_get_card from the openid `name` logs in with; its member id."""
    from test_oa import assert_success, member_id, msg, push_plain
    xml = msg(harness.openid_for(name), "event", create_time or int(time.time()),
              Event="user_get_card", CardId="pCard000000000000000000001",
              IsGiveByFriend="0", UserCardCode="77" + str(time.time_ns())[-10:],
              OuterStr=outer, IsRestoreMemberCard="0")
    assert_success((push or push_plain)(env, xml))
    return str(member_id(env, harness.openid_for(name))), xml


def referrer_code(env, name, phone):
    token, r = registered(env, name, phone)
    assert r.status == 201, r
    ref = env.api("referral", token)
    assert ref.status == 200 and ref.json["outer_str"] == ref.json["code"], ref
    return r.json["member_id"], ref.json["code"], token


def earn(env, till, mid, order):
    """a purchase at the till; one verify a member (a code is spent once)"""
    tickets = till.__dict__.setdefault("tickets", {})
    if mid not in tickets:
        v = till.verify(code_of(mid))
        assert v.status == 200, v
        tickets[mid] = v.json["ticket"]
        env.secrets.append(v.json["ticket"].split(".")[1])
    p = till.call("earn", {"ticket": tickets[mid], "amount_fen": 1000,
                           "order_id": order})
    assert p.status == 200, p


def field(env, mid, name):
    return env.rcli("HGET", "{m:%s}" % mid, name)


def test_wallet_claim_with_an_invite_links_and_rewards_both_once(env):
    from test_oa import activity, assert_success, push_safe
    rules(env, referral=REFERRAL)
    till = Till(env, "C-WAL")
    try:
        referrer, code, _ = referrer_code(env, "walletreferrer", "13700000030")
        # a safe-mode push, as WeChat sends it
        mid, xml = wallet_claim(env, "walletreferee", code, push=push_safe)
        assert field(env, mid, "status") == "active"
        assert field(env, mid, "referred_by") == referrer
        assert field(env, mid, "referred_via") == "wallet"
        assert field(env, mid, "channel") == code
        assert activity(env, mid)[-1]["referred_by"] == referrer
        # the referee is watched for its first purchase at once
        assert env.rcli("SISMEMBER", "{b}:campaigns:referees", mid) == "1"

        # WeChat's retry, and a later claim through another member's invite
        assert_success(push_safe(env, xml))
        _, other, _ = referrer_code(env, "walletother", "13700000031")
        wallet_claim(env, "walletreferee", other, create_time=int(time.time()) - 30)
        assert field(env, mid, "referred_by") == referrer
        assert sum(1 for a in activity(env, mid) if "referred_by" in a) == 1

        earn(env, till, mid, "w-1")
        wait_for("the referee's reward", lambda: len(of_type(env, mid, "referral")) == 1)
        wait_for("the referrer's reward", lambda: len(of_type(env, referrer, "referral")) == 1)
        earn(env, till, mid, "w-2")
        run_pass(env)
        e = of_type(env, mid, "referral")
        assert len(e) == 1 and e[0]["role"] == "referee" and e[0]["referrer"] == referrer, e
        e = of_type(env, referrer, "referral")
        assert len(e) == 1 and e[0]["referee"] == mid and e[0]["points_delta"] == 200, e
    finally:
        rules(env)
    reconciled(env)


def test_wallet_claim_before_registration(env):
    """The card claimed through an invite before the openid ever logged in:
    the claim makes the member and links it; registering later keeps that
    referrer, even with another invite_code."""
    rules(env, referral=REFERRAL)
    till = Till(env, "C-WAL2")
    try:
        first, code, _ = referrer_code(env, "walletfirst", "13700000032")
        second, code2, _ = referrer_code(env, "walletsecond", "13700000033")
        mid, _ = wallet_claim(env, "walletearly", code)
        assert field(env, mid, "referred_by") == first
        token = login(env, "walletearly")
        assert token.split(".")[0] == mid
        r = register(env, token, phone="13700000034", invite_code=code2)
        assert r.status == 201 and r.json["member_id"] == mid, r
        assert field(env, mid, "referred_by") == first         # one referrer
        earn(env, till, mid, "we-1")
        wait_for("the referrer's reward", lambda: len(of_type(env, first, "referral")) == 1)
        run_pass(env)
        assert of_type(env, second, "referral") == []
        assert len(of_type(env, mid, "referral")) == 1
    finally:
        rules(env)


def test_wallet_claim_with_other_outer_strs(env):
    """Channels, forged and malformed codes, one's own code and a member
    who bought already: the claim is a claim, the channel is kept, nobody
    is linked."""
    rules(env, referral=REFERRAL)
    try:
        referrer, code, _ = referrer_code(env, "walletchan", "13700000035")
        forged = "AAAAAAAA" + referrer
        other_id = code[:-1] + str((int(code[-1]) + 1) % 10)
        for i, outer in enumerate(["mp_home", "store-12", forged, other_id, code[:8],
                                   "x" * 40, code + "0"]):
            mid, _ = wallet_claim(env, f"walletch{i}", outer)
            assert field(env, mid, "status") == "active", outer
            assert field(env, mid, "channel") == outer, outer
            assert field(env, mid, "referred_by") == "", outer
            assert env.rcli("SISMEMBER", "{b}:campaigns:referees", mid) == "0"

        # one's own code, in the member's own wallet
        mine, own, token = referrer_code(env, "walletself", "13700000036")
        assert wallet_claim(env, "walletself", own)[0] == mine
        assert field(env, mine, "referred_by") == ""

        # a member who bought already gets no referrer
        till = Till(env, "C-WAL3")
        buyer, _ = env.member("walletbuyer")
        earn(env, till, buyer, "wb-1")
        wallet_claim(env, "walletbuyer", code)
        assert field(env, buyer, "referred_by") == ""
        assert field(env, buyer, "channel") == code
    finally:
        rules(env)


def test_wallet_referrals_capped_per_referrer(env):
    rules(env, referral=dict(REFERRAL, max_per_referrer=1))
    till = Till(env, "C-WAL4")
    try:
        referrer, code, _ = referrer_code(env, "walletcap", "13700000037")
        referees = [wallet_claim(env, f"walletcap{i}", code)[0] for i in range(2)]
        assert [field(env, m, "referred_by") for m in referees] == [referrer] * 2
        for i, m in enumerate(referees):
            earn(env, till, m, f"wc-{i}")
        wait_for("both referees' rewards",
                 lambda: all(len(of_type(env, m, "referral")) == 1 for m in referees))
        run_pass(env)
        mine = of_type(env, referrer, "referral")
        assert len(mine) == 1 and mine[0]["referee"] == referees[0], mine
        assert [len(of_type(env, m, "referral")) for m in referees] == [1, 1]
    finally:
        rules(env)
    reconciled(env)


def test_card_ext_carries_an_outer_str(env):
    referrer, code, token = referrer_code(env, "walletext", "13700000038")
    r = env.api("card-ext?card_id=p1&outer_str=" + code, token)
    assert r.status == 200, r
    ext = json.loads(r.json["cardExt"])
    assert ext["outer_str"] == code and ext["signature"], ext
    plain = json.loads(env.api("card-ext?card_id=p1", token).json["cardExt"])
    assert "outer_str" not in plain
    for bad in ["", "a%20b", "x" * 65, "%3Cx%3E"]:
        r = env.api("card-ext?card_id=p1&outer_str=" + bad, token)
        assert r.status == 400 and "outer_str" in r.json["message"], (bad, r)


# ----------------------------------------------------------------------------
# two nodes, one Redis


class SecondNode(harness.Env):
    """Another nginx on the same Redis and fake WeChat."""

    def __init__(self, first, workers=2):
        self.first = first
        super().__init__(workers=workers, **ENV)

    def start_redis(self):
        self.redis_port = self.first.redis_port

    def start_fake(self):
        self.fake_port = self.first.fake_port


def test_exactly_once_on_two_nodes(env):
    second = SecondNode(env)
    try:
        triggers(env, birthday={"points": 7, "when": "month"}, welcome={"points": 3})
        ids = [env.member_with(birthday="1991-03-%02d" % (i % 28 + 1))[0]
               for i in range(150)]
        set_clock(env, china(2027, 3, 10))
        for _ in range(3):
            env.admin("POST", "campaigns/run")
            second.admin("POST", "campaigns/run")
            time.sleep(0.3)
        run_pass(env, second)
        run_pass(second, env)
        counts = env.rcli("EVAL", """
            local out = {}
            for _, id in ipairs(ARGV) do
                local n, w = 0, 0
                for _, x in ipairs(redis.call('XRANGE', '{m:' .. id .. '}:ledger', '-', '+')) do
                    for j = 1, #x[2], 2 do
                        if x[2][j] == 'type' and x[2][j + 1] == 'birthday' then n = n + 1 end
                        if x[2][j] == 'type' and x[2][j + 1] == 'welcome' then w = w + 1 end
                    end
                end
                out[#out + 1] = n .. ':' .. w
            end
            return out""", "0", *ids).split()
        assert counts == ["1:1"] * len(ids), [c for c in counts if c != "1:1"][:5]
        holder = env.rcli("GET", "ledger:lease")
        assert holder.count(":") == 1, holder
    finally:
        second.stop()
        bad = [x for x in second.log_text().splitlines()
               if "[alert]" in x or "[crit]" in x or "[emerg]" in x]
        assert not bad, bad[:3]
        set_clock(env, int(time.time()))
        rules(env)
    reconciled(env)


def _member_with(self, name=None, **fields):
    body = dict(fields)
    if name:
        body["openid"] = harness.openid_for(name)
    r = self.admin("POST", "members", body)
    assert r.status == 201, r
    return r.json["member_id"], r.json["card_no"]


harness.Env.member_with = _member_with
