"""WeChat template and subscribe messages through the outbox
(docs/outbox.md): balance changes, points expiring soon and birthdays, each
delivered once and in order through WeChat failing and recovering; nothing
for a member without an openid, without marketing consent or without a
subscription left; 43101 dropped; the rules' messages section validated."""

import json
import time

import harness
from harness import openid_for
from test_ledger import china, rules, set_clock, wait_for
from test_outbox import fake_config
from test_scan import Till, code_of

ENV = {"extra_http": "member_test_clock on;\n"
                     "    member_wechat_outbox http://127.0.0.1:@PORT@/admin/;"}

BALANCE = {"channel": "template", "template_id": "TPL-BALANCE",
           "url": "https://m.brand.com/card/",
           "data": {"first": "=您的会员卡余额有变动", "keyword1": "type",
                    "keyword2": "change", "keyword3": "balance",
                    "keyword4": "date", "remark": "card_no"}}


def messages(env, touser=None):
    out = env.fake_get("/_fake/messages")
    return [m for m in out if touser is None or m["touser"] == touser]


def message_calls(env):
    return [c for c in env.fake_get("/_fake/calls")
            if c["path"].startswith("/cgi-bin/message/")]


def log(env, mid):
    """the member's message log: outcome and reason (or errcode) of each"""
    return entries_of(env, "{m:%s}:wx:msglog" % mid)


def entries_of(env, key):
    script = """local out = {}
        for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
            out[#out + 1] = cjson.encode(e[2])
        end
        return out"""
    raw = env.rcli("EVAL", script, "1", key)
    items = []
    for line in raw.splitlines():
        if line.strip():
            flat = json.loads(line)
            items.append(dict(zip(flat[::2], flat[1::2])))
    return items


def recharge(env, mid, fen, key):
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": fen, "idempotency_key": key})
    assert r.status == 200, r
    return r.json


def quiet(env, seconds=2.5):
    """nothing more goes to WeChat's message endpoints for a while"""
    n = len(message_calls(env))
    time.sleep(seconds)
    assert len(message_calls(env)) == n


def values(m):
    return {k: v["value"] for k, v in m["data"].items()}


def yuan(fen):
    return "%d.%02d" % (fen // 100, fen % 100)


# ----------------------------------------------------------------------------
# rules


def test_bad_message_rules(env):
    good = {"channel": "template", "template_id": "T1", "data": {"k1": "amount"}}

    def kind(**over):
        return dict(good, **over)

    bad = [
        ({"messages": []}, "messages"),
        ({"messages": {"sms": kind()}}, "messages.sms"),
        ({"messages": None}, "messages"),
        ({"messages": {"balance": 5}}, "messages.balance."),
        # its keys, then its integers, then the rest
        ({"messages": {"points_expiring": kind(days=0, colour=1)}},
         "messages.points_expiring.colour"),
        ({"messages": {"points_expiring": kind(days="x", channel="sms")}},
         "messages.points_expiring.days"),
        ({"messages": {"balance": kind(template_id=None)}}, "messages.balance.template_id"),
        ({"messages": {"balance": {"channel": "template", "data": {"k": "amount"}}}},
         "messages.balance.template_id"),
        ({"messages": {"balance": kind(template_id="")}}, "messages.balance.template_id"),
        ({"messages": {"balance": kind(template_id="a b")}}, "messages.balance.template_id"),
        ({"messages": {"balance": kind(template_id="x" * 65)}}, "messages.balance.template_id"),
        ({"messages": {"balance": kind(channel="sms")}}, "messages.balance.channel"),
        ({"messages": {"balance": {"template_id": "T1", "data": {"k": "amount"}}}},
         "messages.balance.channel"),
        ({"messages": {"balance": kind(data={"keyword1": "colour"})}},
         "messages.balance.data.keyword1"),
        ({"messages": {"birthday": kind(data={"keyword1": "amount"})}},
         "messages.birthday.data.keyword1"),
        ({"messages": {"balance": kind(data={"keyword1": 5})}}, "messages.balance.data.keyword1"),
        ({"messages": {"balance": kind(data={"keyword1": "="})}}, "messages.balance.data.keyword1"),
        ({"messages": {"balance": kind(data={"key-1": "amount"})}}, "messages.balance.data.key-1"),
        ({"messages": {"balance": kind(data={})}}, "messages.balance.data"),
        ({"messages": {"balance": kind(data=["amount"])}}, "messages.balance.data"),
        ({"messages": {"balance": kind(data=None)}}, "messages.balance.data"),
        ({"messages": {"balance": kind(channel="subscribe", url="https://x/")}},
         "messages.balance.url"),
        ({"messages": {"balance": kind(url="ftp://x/")}}, "messages.balance.url"),
        ({"messages": {"balance": kind(page="pages/card")}}, "messages.balance.page"),
        ({"messages": {"balance": kind(days=3)}}, "messages.balance.days"),
        ({"messages": {"points_expiring": kind(data={"k": "expiring_points"}, days=0)}},
         "messages.points_expiring.days"),
        ({"messages": {"points_expiring": kind(data={"k": "expiring_points"}, days=91)}},
         "messages.points_expiring.days"),
        ({"messages": {"balance": kind(colour="red")}}, "messages.balance.colour"),
        # a name from the input is quoted in the message, escaped
        ({"messages": {"balance": kind(data={'a"b\\': "amount"})}},
         'messages.balance.data.a"b\\'),
    ]
    version = env.admin("GET", "rules").json["version"]
    for body, field in bad:
        body = json.loads(json.dumps(body).replace(', "template_id": null', ""))
        r = env.admin("PUT", "rules", body)
        assert r.status == 422 and r.json["error"] == "bad_rules", (body, r)
        assert r.json["message"].startswith(field + ":"), (field, r.json["message"])
    assert env.admin("GET", "rules").json["version"] == version, "a bad PUT made a version"

    v = rules(env, messages={
        "balance": BALANCE,
        "points_expiring": {"channel": "subscribe", "template_id": "SUB-EXP",
                            "page": "pages/card/index",
                            "data": {"number1": "expiring_points", "date2": "expire_date"}},
        "birthday": {"channel": "template", "template_id": "TPL-BDAY",
                     "data": {"keyword1": "gift_points", "keyword2": "=生日快乐"}}})
    assert v["messages"]["points_expiring"]["days"] == 7, v      # the default, written
    assert env.admin("PUT", "rules", v).status == 200             # GET's answer goes back
    rules(env)
    assert "messages" not in env.admin("GET", "rules").json


# ----------------------------------------------------------------------------
# balance changes


@harness.own_env(**ENV)
def test_balance_messages_once_and_in_order(env):
    rules(env, messages={"balance": BALANCE})
    mid, card = env.member("msgalice")
    plain, _ = env.member()                          # no openid: nothing
    alice = openid_for("msgalice")

    recharge(env, mid, 10000, "m1")
    recharge(env, mid, 20000, "m2")
    r = env.admin("POST", f"members/{mid}/recharge/refund", {"idempotency_key": "m2"})
    assert r.status == 200, r
    # a purchase paid from stored value at a till
    till = Till(env, "S-MSG")
    ticket = till.verify(code_of(mid)).json["ticket"]
    r = till.call("pay", {"ticket": ticket, "amount_fen": 2550, "order_id": "msg-o1"})
    assert r.status == 200, r
    # points alone move no stored value: no message
    r = env.admin("POST", f"members/{mid}/points",
                  {"delta": 30, "reason": "test", "idempotency_key": "m-p"})
    assert r.status == 200, r
    recharge(env, plain, 500, "p1")

    wait_for("four messages", lambda: len(messages(env, alice)) >= 4, timeout=15)
    quiet(env)
    got = messages(env, alice)
    assert len(got) == 4, got
    assert all(m["channel"] == "template" and m["template_id"] == "TPL-BALANCE"
               and m["url"] == BALANCE["url"] for m in got), got
    seen = [values(m) for m in got]
    assert [(v["keyword1"], v["keyword2"], v["keyword3"]) for v in seen] == [
        ("充值", "+100.00", "100.00元"), ("充值", "+200.00", "300.00元"),
        ("退款", "-200.00", "100.00元"), ("消费", "-25.50", "74.50元")], seen
    assert all(v["first"] == "您的会员卡余额有变动" and v["remark"] == card
               for v in seen), seen
    assert seen[0]["keyword4"].startswith(time.strftime(
        "%Y年%-m月%-d日", time.gmtime(time.time() + 8 * 3600))), seen[0]
    assert messages(env) == got, "a message went to a member without an openid"

    sent = log(env, mid)
    assert [e["outcome"] for e in sent] == ["sent"] * 4, sent
    assert [int(e["msgid"]) for e in sent] == [m["msgid"] for m in got], sent
    assert [(e["kind"], e["outcome"], e["reason"]) for e in log(env, plain)] == [
        ("balance", "skipped", "no openid")]
    assert env.rcli("XLEN", "{m:%s}:wx:msgs" % mid) == "0"
    assert env.fake_get("/_fake/violations") == []


@harness.own_env(**ENV)
def test_unconfigured_kinds_and_no_consent_get_nothing(env):
    # only birthdays are told: a change of balance makes no message
    rules(env, messages={"birthday": {"channel": "template", "template_id": "TPL-BDAY",
                                      "data": {"keyword1": "gift_points"}}})
    mid, _ = env.member("msgbob")
    token = env.login("msgbob").json["token"]
    recharge(env, mid, 1000, "b1")
    wait_for("the card settled", lambda: harness.waiting(env, "wx") == 0, timeout=10)
    quiet(env, 1.5)
    assert messages(env) == [] and log(env, mid) == []
    assert env.rcli("XLEN", "{m:%s}:wx:msgs" % mid) == "0"

    # the consent to marketing: withdrawn in the profile
    auth = {"Authorization": "Bearer " + token}
    for bad in ({"consent": {"marketing": "no"}}, {"consent": 5}):
        r = env.request("PUT", "/api/profile", bad, headers=auth)
        assert r.status == 400 and "consent" in r.json["message"], r
    r = env.request("PUT", "/api/profile", {"consent": {"marketing": False}}, headers=auth)
    assert r.status == 200 and r.json["consent"]["marketing"] is False, r

    rules(env, messages={"balance": BALANCE})
    recharge(env, mid, 2000, "b2")
    wait_for("the message skipped", lambda: log(env, mid), timeout=10)
    assert [(e["outcome"], e["reason"]) for e in log(env, mid)] == [("skipped", "no consent")]
    assert messages(env) == []

    # given again: the next change is told
    r = env.request("PUT", "/api/profile", {"consent": {"marketing": True}}, headers=auth)
    assert r.status == 200 and r.json["consent"]["marketing"] is True, r
    recharge(env, mid, 3000, "b3")
    wait_for("the message", lambda: messages(env), timeout=10)
    quiet(env, 1.5)
    assert [values(m)["keyword2"] for m in messages(env)] == ["+30.00"]


# ----------------------------------------------------------------------------
# WeChat failing


@harness.own_env(**ENV)
def test_wechat_failing_then_recovering(env):
    rules(env, messages={"balance": BALANCE})
    mid, _ = env.member("msgfail")

    # refused three times (errcode -1): the three changes wait, in order
    fake_config(env, msg_fail=3)
    for i in range(3):
        recharge(env, mid, 100 * (i + 1), f"f{i}")
    wait_for("three messages", lambda: len(messages(env)) >= 3, timeout=20)
    quiet(env)
    assert [values(m)["keyword2"] for m in messages(env)] == ["+1.00", "+2.00", "+3.00"]
    assert len(message_calls(env)) == 6, message_calls(env)
    assert "message" in env.log_text() and "retried later" in env.log_text()
    assert [e["outcome"] for e in log(env, mid)] == ["sent"] * 3

    # WeChat unreachable (HTTP 502) for a while, then back
    fake_config(env, card_down=True)
    recharge(env, mid, 400, "f3")
    time.sleep(3)
    assert len(messages(env)) == 3
    assert int(env.rcli("HGET", harness.bucket_key("wx", mid, ":tries"), mid) or 0) >= 2
    fake_config(env)
    wait_for("the fourth message", lambda: len(messages(env)) == 4, timeout=30)
    quiet(env)
    assert [values(m)["keyword2"] for m in messages(env)][-1] == "+4.00"
    assert env.rcli("HGET", harness.bucket_key("wx", mid, ":tries"), mid) == ""

    # a stale token (40001) is renewed once and the message sent once
    c = harness.http.client.HTTPConnection("127.0.0.1", env.fake_port, timeout=5)
    c.request("POST", "/_fake/invalidate", body="{}")
    c.getresponse().read()
    c.close()
    recharge(env, mid, 500, "f4")
    wait_for("the fifth message", lambda: len(messages(env)) == 5, timeout=15)
    quiet(env)
    assert [e["outcome"] for e in log(env, mid)] == ["sent"] * 5
    assert env.fake_get("/_fake/violations") == []


@harness.own_env(**ENV)
def test_a_lost_answer_is_not_sent_again(env):
    """A claim whose call never answered (the worker died): the message is
    recorded lost, not sent twice; the next one goes."""
    rules(env, messages={"balance": BALANCE})
    mid, _ = env.member("msglost")
    recharge(env, mid, 100, "l0")
    wait_for("the first message", lambda: len(messages(env)) == 1, timeout=10)
    wait_for("settled", lambda: harness.waiting(env, "wx") == 0, timeout=10)

    # a message claimed a minute ago whose answer never came
    env.rcli("XADD", "{m:%s}:wx:msgs" % mid, "*", "kind", "balance", "type", "recharge",
             "amount_fen", "700", "balance_fen", "800", "points", "0", "ts",
             str(int(time.time())))
    first = env.rcli("XRANGE", "{m:%s}:wx:msgs" % mid, "-", "+").split()[0]
    env.rcli("HSET", "{m:%s}" % mid, "wx_msg_flight",
             "%s|%d" % (first, (time.time() - 61) * 1000))
    recharge(env, mid, 200, "l1")
    wait_for("the next message", lambda: len(messages(env)) == 2, timeout=10)
    quiet(env)
    assert [values(m)["keyword2"] for m in messages(env)] == ["+1.00", "+2.00"]
    assert [(e["outcome"], e.get("reason")) for e in log(env, mid)] == [
        ("sent", None), ("lost", "no answer"), ("sent", None)]


# ----------------------------------------------------------------------------
# subscribe messages


@harness.own_env(**ENV)
def test_subscribe_messages_spend_subscriptions(env):
    sub = {"channel": "subscribe", "template_id": "SUB-BAL", "page": "pages/card/index",
           "data": {"amount1": "amount", "amount2": "balance", "thing3": "type",
                    "time4": "date"}}
    rules(env, messages={"balance": sub})
    mid, _ = env.member("msgsub")
    token = env.login("msgsub").json["token"]
    auth = {"Authorization": "Bearer " + token}

    def subscribe(*ids):
        return env.request("POST", "/api/subscriptions", {"template_ids": list(ids)},
                           headers=auth)

    for bad in ({}, {"template_ids": []}, {"template_ids": "SUB-BAL"},
                {"template_ids": ["bad id"]}, {"template_ids": [5]},
                {"template_ids": ["SUB-BAL", "SUB-BAL"]},
                {"template_ids": ["T%d" % i for i in range(11)]}):
        r = env.request("POST", "/api/subscriptions", bad, headers=auth)
        assert r.status == 400 and "template_ids" in r.json["message"], (bad, r)
    assert env.request("DELETE", "/api/subscriptions", headers=auth).status == 405
    visitor = env.login("msgvisitor").json["token"]
    r = env.request("POST", "/api/subscriptions", {"template_ids": ["SUB-BAL"]},
                    headers={"Authorization": "Bearer " + visitor})
    assert r.status == 403, r

    r = subscribe("SUB-BAL", "SUB-OTHER")
    assert r.status == 200, r
    assert r.json == {"subscriptions": {"SUB-BAL": 1}, "ignored": ["SUB-OTHER"]}, r

    # one subscription, two changes: one message, the other skipped
    recharge(env, mid, 1000, "s1")
    recharge(env, mid, 2000, "s2")
    wait_for("both handled", lambda: len(log(env, mid)) == 2, timeout=10)
    got = messages(env)
    assert len(got) == 1 and got[0]["channel"] == "subscribe", got
    assert got[0]["page"] == "pages/card/index" and "url" not in got[0], got
    assert values(got[0])["amount1"] == "10.00元" and values(got[0])["thing3"] == "充值", got
    assert [(e["outcome"], e.get("reason")) for e in log(env, mid)] == [
        ("sent", None), ("skipped", "no subscription")]
    assert env.api("subscriptions", token).json == {"subscriptions": {"SUB-BAL": 0}}

    # accepted again: the next change is sent
    assert subscribe("SUB-BAL").json["subscriptions"] == {"SUB-BAL": 1}
    recharge(env, mid, 3000, "s3")
    wait_for("the second message", lambda: len(messages(env)) == 2, timeout=10)

    # the user refused in WeChat (43101): dropped, not retried
    assert subscribe("SUB-BAL").json["subscriptions"] == {"SUB-BAL": 1}
    assert subscribe("SUB-BAL").json["subscriptions"] == {"SUB-BAL": 2}
    fake_config(env, msg_fail=5, msg_errcode=43101)
    calls = len(message_calls(env))
    recharge(env, mid, 4000, "s4")
    wait_for("the refusal", lambda: len(log(env, mid)) == 4, timeout=10)
    quiet(env)
    assert len(message_calls(env)) == calls + 1
    assert [(e["outcome"], e.get("errcode")) for e in log(env, mid)][-1] == ("dropped", "43101")
    assert env.api("subscriptions", token).json == {"subscriptions": {"SUB-BAL": 0}}
    assert len(messages(env)) == 2
    assert "43101" in env.log_text()
    assert env.fake_get("/_fake/violations") == []

    # the console's view of it: GET members/<id>/messages, newest first
    r = env.admin("GET", f"members/{mid}/messages")
    assert r.status == 200, r
    items = r.json["items"]
    assert [(e["outcome"], e.get("reason"), e.get("errcode")) for e in items] == [
        ("dropped", None, 43101), ("sent", None, 0), ("skipped", "no subscription", None),
        ("sent", None, 0)], items
    assert all(e["kind"] == "balance" and isinstance(e["ts"], int) and e["id"] for e in items)
    assert [e["id"] for e in items] == sorted((e["id"] for e in items), reverse=True)
    assert items[1]["msgid"] and "msgid" not in items[0], items
    assert env.admin("GET", "members/999999/messages").status == 404
    assert env.admin("POST", f"members/{mid}/messages", {}).status == 405
    other, _ = env.member("msgquiet")
    assert env.admin("GET", f"members/{other}/messages").json == {"items": []}


# ----------------------------------------------------------------------------
# points expiring, birthday: the test clock


@harness.own_env(**ENV)
def test_points_expiring_and_birthday_on_the_clock(env):
    now = int(time.time())
    try:
        rules(env, triggers={"birthday": {"points": 300, "when": "month"}}, messages={
            "points_expiring": {"channel": "template", "template_id": "TPL-EXP", "days": 7,
                                "data": {"keyword1": "expiring_points",
                                         "keyword2": "expire_date", "keyword3": "points"}},
            "birthday": {"channel": "template", "template_id": "TPL-BDAY",
                         "data": {"keyword1": "gift_points", "keyword2": "points",
                                  "keyword3": "=生日快乐"}}})
        # a member born in a month far from now, with 500 points in a lot
        month = (time.gmtime(now + 8 * 3600).tm_mon + 5) % 12 + 1
        r = env.admin("POST", "members", {"openid": openid_for("msgclock"),
                                          "birthday": "1990-%02d-15" % month})
        assert r.status == 201, r
        mid = r.json["member_id"]
        r = env.admin("POST", f"members/{mid}/points",
                      {"delta": 500, "reason": "test", "idempotency_key": "c-p"})
        assert r.status == 200, r
        lots = env.rcli("HGETALL", "{m:%s}:lots" % mid).split()
        lot = int(lots[0])
        assert lots[1] == "500", lots

        from test_campaigns import run_pass
        run_pass(env)
        time.sleep(1.5)
        assert messages(env) == []

        # 8 days before the lot ends: not yet; 6 days before: once
        set_clock(env, lot - 8 * 86400)
        run_pass(env)
        time.sleep(1.5)
        assert [m for m in messages(env) if m["template_id"] == "TPL-EXP"] == []
        set_clock(env, lot - 6 * 86400)
        run_pass(env)
        wait_for("the notice", lambda: messages(env), timeout=10)
        run_pass(env)
        quiet(env)
        exp = [m for m in messages(env) if m["template_id"] == "TPL-EXP"]
        assert len(exp) == 1, exp
        last = time.gmtime(lot - 1 + 8 * 3600)
        assert values(exp[0]) == {"keyword1": "500", "keyword3": "500",
                                  "keyword2": "%d年%d月%d日" % (last.tm_year, last.tm_mon,
                                                              last.tm_mday)}, exp

        # the birthday month: the trigger's gift, and its message once
        y = time.gmtime(lot + 8 * 3600).tm_year
        set_clock(env, china(y, month, 2))
        run_pass(env)
        wait_for("the birthday message",
                 lambda: [m for m in messages(env) if m["template_id"] == "TPL-BDAY"],
                 timeout=10)
        run_pass(env)
        quiet(env)
        bday = [m for m in messages(env) if m["template_id"] == "TPL-BDAY"]
        assert len(bday) == 1, bday
        assert values(bday[0])["keyword1"] == "300" and values(bday[0])["keyword3"] == "生日快乐"
        assert [e["kind"] for e in log(env, mid)] == ["points_expiring", "birthday"]
        assert env.fake_get("/_fake/violations") == []
    finally:
        set_clock(env, int(time.time()))
        rules(env)
