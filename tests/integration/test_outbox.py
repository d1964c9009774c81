"""The WeChat outbox (docs/outbox.md): every change of points or balance
reaches the member's wallet card as full values, in order, once, through
WeChat failing and recovering and through a restart of nginx."""

import json
import time

import harness

ENV = {"extra_http": "member_test_clock on;\n"
                     "    member_wechat_outbox http://127.0.0.1:@PORT@/admin/;"}


def card_member(env, code, status="activated", registered=False):
    mid, _ = env.member()
    fields = ["wx_card_code", code, "wx_card_id", "pCARD", "wx_card_status", status]
    if registered:
        fields += ["registered_at", str(int(time.time()))]
    env.rcli("HSET", "{m:%s}" % mid, *fields)
    return mid


def recharge(env, mid, fen, key):
    r = env.admin("POST", f"members/{mid}/recharge", {"amount_fen": fen, "idempotency_key": key})
    assert r.status == 200, r
    return r.json


def adjust(env, mid, delta, key):
    r = env.admin("POST", f"members/{mid}/points",
                  {"delta": delta, "reason": "test", "idempotency_key": key})
    assert r.status == 200, r
    return r.json


def totals(env, mid):
    rec = env.admin("GET", f"members/{mid}").json
    return max(rec["points"], 0), rec["balance_fen"]


def cards(env):
    return env.fake_get("/_fake/cards")


def card_calls(env, code, path="/card/membercard/updateuser"):
    out = []
    for c in env.fake_get("/_fake/calls"):
        if c["path"] == path:
            body = json.loads(c["body"])
            if body.get("code") == code:
                out.append(body)
    return out


def fake_config(env, **config):
    c = harness.http.client.HTTPConnection("127.0.0.1", env.fake_port, timeout=5)
    c.request("POST", "/_fake/config", body=json.dumps(config))
    assert c.getresponse().status == 200
    c.close()


def in_step(env, mid, code, timeout=15):
    want = totals(env, mid)

    def same():
        card = cards(env).get(code)
        return card is not None and (card["bonus"], card["balance"]) == want
    harness.wait_until(f"the card of member {mid}", same, timeout=timeout)
    return want


@harness.own_env(**ENV)
def test_changes_reach_the_card_once_and_in_order(env):
    a = card_member(env, "CODE-A-001")
    b = card_member(env, "CODE-B-002")
    plain, _ = env.member()                 # no card: nothing to send

    for i in range(5):
        recharge(env, a, 10000 * (i + 1), f"a{i}")
    adjust(env, a, 300, "a-points")
    recharge(env, b, 70000, "b0")            # 500 yuan and more: a bonus
    recharge(env, plain, 100, "p0")

    # 100 + 200 + 300 + 400 + 500 yuan, the last with its 50 yuan bonus
    assert in_step(env, a, "CODE-A-001") == (300, 155000)
    assert in_step(env, b, "CODE-B-002") == (0, 70000 + 5000)

    # in order: each value sent is at least the one before (only rises here)
    sent = card_calls(env, "CODE-A-001")
    seq = [(s["bonus"], s["balance"]) for s in sent]
    assert seq == sorted(seq) and len(set(seq)) == len(seq), seq
    assert all(set(s) == {"code", "card_id", "bonus", "balance", "record_bonus",
                          "record_balance"} for s in sent), sent
    assert sent[-1]["record_bonus"] == "积分调整"
    assert env.fake_get("/_fake/violations") == []

    # nothing more to send: a quiet period makes no call
    n = len(env.fake_get("/_fake/calls"))
    time.sleep(2.5)
    assert len(env.fake_get("/_fake/calls")) == n
    assert harness.waiting(env, "wx") == 0
    last = env.rcli("XREVRANGE", "{m:%s}:ledger" % a, "+", "-", "COUNT", "1").split()[0]
    assert env.rcli("HGET", "{m:%s}" % a, "wx_synced") == last
    assert env.rcli("HGET", "{m:%s}" % plain, "wx_synced") == ""


@harness.own_env(**ENV)
def test_wechat_failing_then_recovering(env):
    a = card_member(env, "CODE-F-001")
    recharge(env, a, 1000, "f0")
    in_step(env, a, "CODE-F-001")
    before = len(card_calls(env, "CODE-F-001"))

    # refused three times (errcode -1), then accepted: backoff 0.5, 1, 2 s
    fake_config(env, card_fail=3)
    recharge(env, a, 2000, "f1")
    recharge(env, a, 3000, "f2")
    assert in_step(env, a, "CODE-F-001", timeout=20) == (0, 6000)
    calls = card_calls(env, "CODE-F-001")[before:]
    assert 4 <= len(calls) <= 5, calls
    assert (calls[-1]["bonus"], calls[-1]["balance"]) == (0, 6000)
    assert "not updated (errcode -1)" in env.log_text()

    # WeChat unreachable (HTTP 502) for a while, then back
    fake_config(env, card_down=True)
    adjust(env, a, 50, "f-points")
    time.sleep(3)
    assert cards(env)["CODE-F-001"]["bonus"] == 0
    tries = int(env.rcli("HGET", harness.bucket_key("wx", a, ":tries"), a) or 0)
    assert tries >= 2, tries
    fake_config(env)
    assert in_step(env, a, "CODE-F-001", timeout=30) == (50, 6000)
    assert env.rcli("HGET", harness.bucket_key("wx", a, ":tries"), a) == ""
    assert harness.waiting(env, "wx") == 0

    # a stale access token (40001) is renewed once and the call made again
    c = harness.http.client.HTTPConnection("127.0.0.1", env.fake_port, timeout=5)
    c.request("POST", "/_fake/invalidate", body="{}")
    c.getresponse().read()
    c.close()
    recharge(env, a, 500, "f3")
    assert in_step(env, a, "CODE-F-001") == (50, 6500)
    assert env.fake_get("/_fake/violations") == []


@harness.own_env(**ENV)
def test_nothing_sent_twice_after_a_restart(env):
    a = card_member(env, "CODE-R-001")
    recharge(env, a, 1200, "r0")
    in_step(env, a, "CODE-R-001")
    n = len(card_calls(env, "CODE-R-001"))

    stop_nginx(env)
    env.start_nginx()
    time.sleep(3)                            # the lease moves, the timer runs
    assert len(card_calls(env, "CODE-R-001")) == n

    # a change made while nginx was down (its hint is in Redis) is sent;
    # a hint of before the buckets ({b}:wx) too
    stop_nginx(env)
    env.rcli("ZADD", harness.bucket_key("wx", a), "1", str(a))
    env.rcli("ZADD", "{b}:wx", "1", str(a))
    env.start_nginx()
    # the new worker takes the lease once the old one's runs out, looks at
    # the member, finds WeChat has its last entry and settles it unsent
    harness.wait_until("the hint settled",
                       lambda: harness.waiting(env, "wx") == 0, timeout=20)
    assert len(card_calls(env, "CODE-R-001")) == n
    recharge(env, a, 800, "r1")
    assert in_step(env, a, "CODE-R-001") == (0, 2000)
    assert len(card_calls(env, "CODE-R-001")) == n + 1


def stop_nginx(env):
    env.nginx.send_signal(harness.signal.SIGQUIT)
    env.nginx.wait(timeout=10)


@harness.own_env(**ENV)
def test_activation_of_a_claimed_card(env):
    a = card_member(env, "CODE-ACT-1", status="claimed", registered=True)
    pending = card_member(env, "CODE-ACT-2", status="claimed")   # not registered
    recharge(env, a, 900, "act0")
    recharge(env, pending, 900, "act1")
    harness.wait_until("the activation",
                       lambda: cards(env).get("CODE-ACT-1", {}).get("activated"))
    # the activation carries the values of its moment (a hint of the new
    # member may come before the recharge); an update follows if needed
    assert in_step(env, a, "CODE-ACT-1") == (0, 900)
    acts = card_calls(env, "CODE-ACT-1", "/card/membercard/activate")
    assert len(acts) == 1 and acts[0]["init_balance"] in (0, 900), acts
    assert acts[0]["membership_number"] == env.admin("GET", f"members/{a}").json["card_no"]
    # the status follows WeChat's answer by one script: wait for it
    harness.wait_until("the card activated", lambda: env.rcli(
        "HGET", "{m:%s}" % a, "wx_card_status") == "activated")
    assert len(card_calls(env, "CODE-ACT-1")) == (acts[0]["init_balance"] == 0)

    recharge(env, a, 100, "act2")
    assert in_step(env, a, "CODE-ACT-1") == (0, 1000)
    time.sleep(1.5)
    assert "CODE-ACT-2" not in cards(env)


def test_outbox_call_needs_its_key(env):
    for headers in ({}, {"X-Member-Outbox": "0" * 32}, {"X-Member-Outbox": "short"}):
        r = env.request("POST", "/admin/outbox/run", headers=headers)
        assert r.status == 401, (headers, r)
    r = env.admin("POST", "outbox/run")
    assert r.status == 404, r
