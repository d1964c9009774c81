"""Recharge by WeChat Pay (docs/wxpay.md): POST api/recharge stores a pending
order and asks the fake WeChat Pay (tests/fake_wxpay.py) for it, signed;
the notification (member_wxpay_notify) credits principal and bonus once,
with a ledger entry of channel wxpay; every bad notification changes
nothing in Redis and gets WeChat Pay's failure answer; 100 notifications
of 20 orders, retried concurrently, credit each order once."""

import atexit
import os
import subprocess
import tempfile
import time

import harness
from harness import APPID, digest

DATA = os.path.join(harness.ROOT, "tests", "unit", "data", "wxpay")
FAKE = os.path.join(harness.ROOT, "tests", "fake_wxpay.py")
MCHID = "1900000109"
MERCHANT_SERIAL = "3775B6A45ACD588826D15E583A95F5DD3B3AB2D1"
APIV3_KEY = "apiv3Key0123456789abcdefghijklmn"
PLATFORM_SERIAL = "PUB_KEY_ID_0111112222233333444445555566"

_dir = tempfile.mkdtemp(prefix="ngx-member-wxpay-")
PLATFORM_PUB = os.path.join(_dir, "platform_pub.pem")
WXPAY_PORT = harness.free_port()
_fake = None


def start_fake():
    """The fake WeChat Pay: its platform key is made at its start, so it
    runs before nginx reads the configuration that names the key."""
    global _fake
    if _fake is not None and _fake.poll() is None:
        return
    if os.path.exists(PLATFORM_PUB):
        os.unlink(PLATFORM_PUB)
    _fake = subprocess.Popen(
        ["python3", FAKE, "--port", str(WXPAY_PORT), "--mchid", MCHID, "--appid", APPID,
         "--merchant-key", os.path.join(DATA, "merchant_key.pem"),
         "--merchant-serial", MERCHANT_SERIAL, "--apiv3-key", APIV3_KEY,
         "--platform-pub-out", PLATFORM_PUB, "--platform-serial", PLATFORM_SERIAL],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    harness.wait_until("fake wxpay", lambda: os.path.exists(PLATFORM_PUB) and fake_get(
        "/_fake/calls") is not None, timeout=20)


def stop_fake():
    if _fake is not None and _fake.poll() is None:
        _fake.kill()
        _fake.wait(timeout=10)


atexit.register(stop_fake)


def fake_request(method, path, body=None):
    import http.client
    import json
    c = http.client.HTTPConnection("127.0.0.1", WXPAY_PORT, timeout=60)
    try:
        c.request(method, path, body=json.dumps(body) if body is not None else None)
        return json.loads(c.getresponse().read())
    except OSError:
        return None
    finally:
        c.close()


def fake_get(path):
    return fake_request("GET", path)


def fake_post(path, body):
    return fake_request("POST", path, body)


# the fake first: nginx reads the platform key it makes
start_fake()

ENV = dict(extra_server=f"""
        member_wxpay_mchid {MCHID};
        member_wxpay_key {DATA}/merchant_key.pem;
        member_wxpay_serial {MERCHANT_SERIAL};
        member_wxpay_apiv3_key {APIV3_KEY};
        member_wxpay_platform_key {PLATFORM_SERIAL} {PLATFORM_PUB};
        member_wxpay_api /wxpay;
        member_wxpay_notify_url http://127.0.0.1:@PORT@/wxpay-notify;

        location = /wxpay-notify {{
            member_wxpay_notify;
        }}

        location /wxpay/ {{
            internal;
            proxy_pass http://127.0.0.1:{WXPAY_PORT}/;
            proxy_set_header Host api.mch.weixin.qq.com;
            proxy_connect_timeout 1s;
            proxy_read_timeout 3s;
            subrequest_output_buffer_size 64k;
        }}
""")


def member(env, name):
    mid, _ = env.member(name)
    token = env.login(name).json["token"]
    env.secrets = getattr(env, "secrets", []) + [token, APIV3_KEY]
    return mid, token


def recharge(env, token, body):
    return env.request("POST", "/api/recharge", body,
                       headers={"Authorization": "Bearer " + token})


def balance(env, mid):
    r = env.admin("GET", f"members/{mid}")
    assert r.status == 200, r
    return r.json["principal_fen"], r.json["bonus_fen"], r.json["balance_fen"]


def order(env, name, amount=50000):
    mid, token = member(env, name)
    r = recharge(env, token, {"amount_fen": amount})
    assert r.status == 200, r
    return mid, token, r.json["out_trade_no"]


def notify(**req):
    out = fake_post("/_fake/notify", req)
    assert "results" in out, out
    return out["results"]


def ledger_recharges(env, mid):
    entries = env.rcli("XRANGE", f"{{m:{mid}}}:ledger", "-", "+")
    return entries


def settled(env):
    """The digest once the background jobs (the outbox, the fold) are
    done with the members just made: the same twice, a second apart."""
    last = digest(env)
    for _ in range(20):
        time.sleep(1)
        now = digest(env)
        if now == last:
            return now
        last = now
    raise AssertionError("Redis never settled")


def no_violations():
    v = fake_get("/_fake/violations")
    assert v == [], v


def test_an_order_then_its_notification_credits_once(env):
    mid, token, no = order(env, "pay1", 50000)
    assert len(no) <= 32 and no.startswith(f"{mid}_"), no
    # what WeChat Pay got: signed, the session's openid, the notify URL
    o = fake_get("/_fake/orders")[no]
    assert o["amount"] == 50000 and o["openid"] == harness.openid_for("pay1"), o
    assert o["notify_url"] == f"http://127.0.0.1:{env.port}/wxpay-notify", o
    st = env.api(f"recharge/{no}", token)
    assert st.status == 200 and st.json == {"state": "pending", "amount_fen": 50000,
                                            "bonus_fen": 5000}, st
    assert balance(env, mid) == (0, 0, 0)

    res = notify(out_trade_no=no)
    assert res[0]["status"] == 204, res
    assert balance(env, mid) == (50000, 5000, 55000)
    st = env.api(f"recharge/{no}", token)
    assert st.json["state"] == "paid", st

    # the ledger: one recharge of channel wxpay with WeChat Pay's id
    r = env.admin("GET", f"members/{mid}/transactions?limit=10")
    items = [i for i in r.json["items"] if i["type"] == "recharge"]
    assert len(items) == 1, r.json
    assert items[0]["amount_fen"] == 50000 and items[0]["bonus_fen"] == 5000, items
    raw = env.rcli("XRANGE", f"{{m:{mid}}}:ledger", "-", "+")
    text = str(raw)
    assert "wxpay" in text and o["transaction_id"] in text and no in text, raw

    # WeChat Pay sends it again: success, nothing changes
    before = settled(env)
    res = notify(out_trade_no=no, copies=3)
    assert [x["status"] for x in res] == [204, 204, 204], res
    assert digest(env) == before
    no_violations()


def test_a_paid_order_is_credited_past_the_balance_cap(env):
    """The money is taken when the notification comes: the credit cannot be
    refused (a refusal would fail every retry of it)."""
    mid, _, no = order(env, "paycap", 50000)
    env.rcli("HSET", f"{{m:{mid}}}", "principal_fen", "999999999990000",
             "balance_fen", "999999999990000")
    res = notify(out_trade_no=no)
    assert res[0]["status"] == 204, res
    assert balance(env, mid) == (1000000000040000, 5000, 1000000000045000)


def test_the_requestpayment_parameters_are_signed(env):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    import base64
    mid, token = member(env, "pay2")
    r = recharge(env, token, {"amount_fen": 100000})
    assert r.status == 200, r
    pay = r.json["pay"]
    assert set(pay) >= {"timeStamp", "nonceStr", "package", "signType", "paySign"}, pay
    o = fake_get("/_fake/orders")[r.json["out_trade_no"]]
    assert pay["package"] == "prepay_id=" + o["prepay_id"] and pay["signType"] == "RSA"
    assert abs(int(pay["timeStamp"]) - time.time()) < 60
    with open(os.path.join(DATA, "merchant_key.pem"), "rb") as f:
        pub = serialization.load_pem_private_key(f.read(), None).public_key()
    msg = f"{APPID}\n{pay['timeStamp']}\n{pay['nonceStr']}\n{pay['package']}\n".encode()
    pub.verify(base64.b64decode(pay["paySign"]), msg, padding.PKCS1v15(), hashes.SHA256())
    st = env.api(f"recharge/{r.json['out_trade_no']}", token)
    assert st.json == {"state": "pending", "amount_fen": 100000, "bonus_fen": 15000}, st


def test_every_bad_notification_changes_nothing(env):
    mid, token, no = order(env, "pay3", 30000)
    other_mid, _, _ = order(env, "pay3b", 30000)
    cases = [({"tamper": "signature"}, 401), ({"tamper": "serial"}, 401),
             ({"tamper": "stale"}, 401), ({"tamper": "body"}, 401),
             ({"tamper": "ciphertext"}, 400), ({"tamper": "apiv3_key"}, 400),
             ({"change": {"mchid": "1900000999"}}, 400),
             ({"change": {"appid": "wx9999999999999999"}}, 400),
             ({"change": {"amount": {"total": 1, "currency": "CNY"}}}, 400),
             ({"change": {"amount": {"total": 30001, "currency": "CNY"}}}, 400),
             # an order nobody made, of this member and of none
             ({"change": {"out_trade_no": f"{mid}_AAAAAAAAAAAAAAAAAAAAAA"}}, 400),
             ({"change": {"out_trade_no": "nosuchorder"}}, 400),
             # another member's id on this order's number
             ({"change": {"out_trade_no": f"{other_mid}_{no.split('_')[1]}"}}, 400)]
    before = settled(env)
    for req, status in cases:
        res = notify(out_trade_no=no, **req)
        assert res[0]["status"] == status, (req, res)
        assert '"code":"FAIL"' in res[0]["body"].replace(" ", ""), (req, res)
        assert digest(env) == before, req
    assert balance(env, mid) == (0, 0, 0)
    assert env.api(f"recharge/{no}", token).json["state"] == "pending"
    # not SUCCESS: answered, nothing credited
    res = notify(out_trade_no=no, change={"trade_state": "NOTPAY"})
    assert res[0]["status"] == 204 and digest(env) == before, res
    # a GET and no headers at all
    r = env.request("GET", "/wxpay-notify")
    assert r.status == 405 and r.json["code"] == "FAIL", r
    r = env.request("POST", "/wxpay-notify", {"id": "x"})
    assert r.status == 401 and r.json["code"] == "FAIL", r
    assert digest(env) == before
    # then the genuine one still credits
    assert notify(out_trade_no=no)[0]["status"] == 204
    assert balance(env, mid) == (30000, 0, 30000)
    no_violations()


def test_concurrent_retries_credit_each_order_once(env):
    orders = [order(env, f"many{i}", 50000 + i) for i in range(20)]
    import threading
    results = {}

    def send(no):
        results[no] = notify(out_trade_no=no, copies=5, concurrent=True)

    threads = [threading.Thread(target=send, args=(no,)) for _, _, no in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, (mid, token, no) in enumerate(orders):
        assert [x["status"] for x in results[no]] == [204] * 5, results[no]
        amount = 50000 + i
        assert balance(env, mid) == (amount, 5000, amount + 5000), (mid, balance(env, mid))
        raw = env.rcli("XRANGE", f"{{m:{mid}}}:ledger", "-", "+")
        assert str(raw).count("wxpay") == 1, raw
    no_violations()


def test_a_lost_notification_credits_nothing_until_retried(env):
    mid, token, no = order(env, "lost1", 20000)
    out = fake_post("/_fake/notify", {"out_trade_no": no, "lose": True})
    assert out["lost"] == 1, out
    assert balance(env, mid) == (0, 0, 0)
    assert env.api(f"recharge/{no}", token).json["state"] == "pending"
    assert notify(out_trade_no=no)[0]["status"] == 204
    assert balance(env, mid) == (20000, 0, 20000)


def test_amounts_fields_and_sessions_are_checked(env):
    mid, token = member(env, "check1")
    before = settled(env)
    for body in ({"amount_fen": 0}, {"amount_fen": -5}, {"amount_fen": "100"},
                 {"amount_fen": 1.5}, {}, {"amount_fen": 100, "bonus_fen": 5},
                 {"amount_fen": 100000001}):
        r = recharge(env, token, body)
        assert r.status == 400, (body, r)
    r = recharge(env, token, "not json")
    assert r.status == 400, r
    assert digest(env) == before
    # no session, a made-up one
    assert env.request("POST", "/api/recharge", {"amount_fen": 100}).status == 401
    assert recharge(env, "x" * 43, {"amount_fen": 100}).status == 401
    assert env.request("GET", "/api/recharge/1_ABCDEFGHIJK").status == 401
    # a visitor has no card: nothing to recharge
    token_v = env.login("visitor1").json["token"]
    r = recharge(env, token_v, {"amount_fen": 100})
    assert r.status == 404, r
    # another member's order, and one that does not exist
    _, token2, no2 = order(env, "check2", 100)
    assert env.api(f"recharge/{no2}", token).status == 404
    assert env.api(f"recharge/{mid}_NOSUCHORDER0000", token).status == 404
    assert env.api("recharge/garbage", token).status == 400
    assert env.request("PUT", "/api/recharge",
                       headers={"Authorization": "Bearer " + token}).status == 405


def test_the_rules_recharge_options_limit_the_amounts(env):
    r = env.admin("GET", "rules")
    rules = {k: v for k, v in r.json.items() if k != "version"}
    rules["recharge_options"] = [{"amount_fen": 10000}, {"amount_fen": 50000}]
    r = env.admin("PUT", "rules", rules)
    assert r.status == 200, r
    assert env.admin("GET", "rules").json["recharge_options"] == rules["recharge_options"]
    try:
        mid, token = member(env, "opt1")
        time.sleep(1.2)         # the rules' cache in the worker
        harness.wait_until("options", lambda: recharge(
            env, token, {"amount_fen": 20000}).status == 400, timeout=10)
        r = recharge(env, token, {"amount_fen": 50000})
        assert r.status == 200, r
        bad = dict(rules, recharge_options=[{"amount_fen": 5}, {"amount_fen": 5}])
        r = env.admin("PUT", "rules", bad)
        assert r.status == 422, r
    finally:
        del rules["recharge_options"]
        assert env.admin("PUT", "rules", rules).status == 200


def test_an_order_wechat_pay_refuses_is_closed(env):
    mid, token = member(env, "refused1")
    fake_post("/_fake/config", {"refuse": 1})
    r = recharge(env, token, {"amount_fen": 100})
    assert r.status == 502 and r.json["error"] == "wxpay_refused", r
    orders = env.keys(f"{{m:{mid}}}:wxpay:*")
    assert len(orders) == 1, orders
    no = orders[0].split(":wxpay:")[1]
    assert env.api(f"recharge/{no}", token).json["state"] == "closed"
    # an answer signed by another key, and WeChat Pay down
    fake_post("/_fake/config", {"bad_answer_signature": 1})
    r = recharge(env, token, {"amount_fen": 100})
    assert r.status == 502, r
    fake_post("/_fake/config", {"down": 1})
    r = recharge(env, token, {"amount_fen": 100})
    assert r.status == 502, r
    states = [env.rcli("HGET", k, "state") for k in env.keys(f"{{m:{mid}}}:wxpay:*")]
    assert states == ["closed"] * 3, states
    # a closed order's late payment still credits: the money was paid
    r = recharge(env, token, {"amount_fen": 100})
    assert r.status == 200, r
    no_violations()
