"""Dynamic codes and the store scanner: the till journey and its bad paths."""

import hashlib
import hmac
import json
import os
import secrets
import subprocess
import tempfile
import threading
import time

import harness
from harness import CODE_SECRET, ROOT

MEMBER_CODE = os.path.join(ROOT, "build", "member-code")


def code_of(member_id, at=None, secret=CODE_SECRET, period=30):
    out = subprocess.run([MEMBER_CODE, secret, str(period), str(int(at or time.time())),
                          str(member_id)], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


class Till:
    """A store's scanner: signs every request as the contract says."""

    def __init__(self, env, store_id, secret=None):
        self.env = env
        self.store_id = store_id
        if secret is None:
            r = env.admin("POST", "stores", {"store_id": store_id, "name": store_id})
            assert r.status == 201, r
            secret = r.json["secret"]
            env.secrets = getattr(env, "secrets", []) + [secret]
        self.secret = secret

    def headers(self, path, body, ts=None, nonce=None, method="POST"):
        ts = str(int(time.time()) if ts is None else ts)
        nonce = nonce or secrets.token_hex(12)
        msg = "\n".join([method, path, ts, nonce, hashlib.sha256(body).hexdigest()])
        sig = hmac.new(self.secret.encode(), msg.encode(), hashlib.sha256).hexdigest()
        return {"X-Member-Store": self.store_id, "X-Member-Timestamp": ts,
                "X-Member-Nonce": nonce, "X-Member-Signature": sig,
                "Content-Type": "application/json"}

    def call(self, what, obj, **kw):
        path = "/scan/" + what
        body = json.dumps(obj).encode()
        return self.env.request("POST", path, body, self.headers(path, body, **kw))

    def verify(self, code):
        return self.call("verify", {"code": code})


def member_with_money(env, name, level="gold", recharge=100000):
    mid, card = env.member(name, level=level)
    if recharge:
        r = env.admin("POST", f"members/{mid}/recharge",
                      {"amount_fen": recharge, "idempotency_key": "seed-" + name})
        assert r.status == 200, r
    token = env.login(name).json["token"]
    return mid, card, token


def test_the_till_journey(env):
    till = Till(env, "S1")
    mid, card, token = member_with_money(env, "journey")      # 100000 + 15000 bonus
    r = env.api("code", token, method="POST")
    assert r.status == 200, r
    code, expires = r.json["code"], r.json["expires_in"]
    assert len(code) == 18 and code.isdigit() and 0 < expires <= 30
    assert card not in code and card[-8:] not in code      # no card number in it
    v = till.verify(code)
    assert v.status == 200, v
    assert v.json["member"] == {"card_no": card, "level": "gold", "points": 0,
                                "balance_fen": 115000, "name": None}
    assert v.json["expires_in"] == 300
    ticket = v.json["ticket"]
    env.secrets.append(ticket.split(".")[-1])

    # gold: 95 % charged, points 150 % of 1 per yuan
    p = till.call("pay", {"ticket": ticket, "amount_fen": 10000, "order_id": "o-1"})
    assert p.status == 200, p
    assert p.json["charged_fen"] == 9500 and p.json["points_earned"] == 142
    assert p.json["balance_fen"] == 105500 and p.json["points"] == 142
    again = till.call("pay", {"ticket": ticket, "amount_fen": 10000, "order_id": "o-1"})
    assert again.status == 200 and again.body == p.body
    other = till.call("pay", {"ticket": ticket, "amount_fen": 999, "order_id": "o-1"})
    assert other.status == 409 and other.json["error"] == "conflict", other

    e = till.call("earn", {"ticket": ticket, "amount_fen": 5000, "order_id": "o-2"})
    assert e.status == 200, e
    assert e.json["charged_fen"] == 4750 and e.json["points_earned"] == 71
    assert e.json["balance_fen"] == 105500 and e.json["points"] == 213

    rf = till.call("refund", {"order_id": "o-1"})
    assert rf.status == 200, rf
    assert rf.json["refunded_fen"] == 9500 and rf.json["points_returned"] == 142
    assert rf.json["balance_fen"] == 115000 and rf.json["points"] == 71
    assert till.call("refund", {"order_id": "o-1"}).body == rf.body
    rec = env.admin("GET", f"members/{mid}").json
    assert rec["balance_fen"] == 115000 and rec["principal_fen"] == 100000
    assert rec["bonus_fen"] == 15000 and rec["points"] == 71

    items = env.admin("GET", f"members/{mid}/transactions").json["items"]
    assert [i["type"] for i in items] == ["refund", "earn", "pay", "recharge"]
    assert all(i.get("store_id") == "S1" for i in items[:3])
    assert items[2]["order_id"] == "o-1" and items[2]["principal_fen"] == -9500

    # the code is spent
    used = till.verify(code)
    assert used.status == 409 and used.json["error"] == "code_used", used


def test_pay_spends_principal_then_bonus_and_never_goes_negative(env):
    till = Till(env, "S2")
    mid, _, token = member_with_money(env, "spender", level="normal", recharge=50000)
    ticket = till.verify(env.api("code", token, method="POST").json["code"]).json["ticket"]
    r = till.call("pay", {"ticket": ticket, "amount_fen": 52000, "order_id": "a"})
    assert r.status == 200 and r.json["balance_fen"] == 3000, r
    rec = env.admin("GET", f"members/{mid}").json
    assert rec["principal_fen"] == 0 and rec["bonus_fen"] == 3000
    short = till.call("pay", {"ticket": ticket, "amount_fen": 3001, "order_id": "b"})
    assert short.status == 422 and short.json["error"] == "insufficient_balance", short
    assert env.admin("GET", f"members/{mid}").json["balance_fen"] == 3000
    assert till.call("refund", {"order_id": "b"}).status == 404
    # the refund puts it back where it came from
    till.call("refund", {"order_id": "a"})
    rec = env.admin("GET", f"members/{mid}").json
    assert rec["principal_fen"] == 50000 and rec["bonus_fen"] == 5000


def test_codes_as_images(env):
    _, _, token = member_with_money(env, "pictures", recharge=0)
    png = env.api("code.png", token)
    assert png.status == 200 and png.headers["content-type"] == "image/png", png
    assert png.headers["cache-control"] == "no-store"
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        f.write(png.body)
        f.flush()
        read = subprocess.run(["zbarimg", "-q", "--raw", f.name], capture_output=True,
                              text=True).stdout.strip()
    assert len(read) == 18 and read.isdigit(), read
    assert Till(env, "S3").verify(read).status == 200
    svg = env.api("code.svg", token)
    assert svg.status == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.body.startswith(b"<svg") or b"<svg" in svg.body[:200]
    assert env.api("code.png", token, method="POST").status == 405
    assert env.api("code", token).status == 405
    visitor = env.login("codeless").json["token"]
    assert env.api("code.png", visitor).status == 404


def test_bad_codes(env):
    till = Till(env, "S4")
    mid, _, _ = member_with_money(env, "coded", recharge=0)
    good = code_of(mid)
    mistyped = good[:-1] + str((int(good[-1]) + 1) % 10)
    for code, status, error in [
            (mistyped, 404, "unknown_code"),
            ("123456789012345678", 404, "unknown_code"),
            (code_of(mid, secret="another-brands-secret!"), 404, "unknown_code"),
            (code_of(mid, at=time.time() - 200), 410, "code_expired"),
            (code_of(999999), 404, "unknown_code"),
            ("12345", 404, "unknown_code"), ("12345678901234567a", 404, "unknown_code")]:
        r = till.verify(code)
        assert r.status == status and r.json["error"] == error, (code, r)
    # a step of grace either side
    assert till.verify(code_of(mid, at=time.time() - 30)).status == 200
    for body in [{}, {"code": 123}, {"code": ""}]:
        r = till.call("verify", body)
        assert r.status == 400, (body, r)


def test_signatures(env):
    till = Till(env, "S5")
    mid, _, _ = member_with_money(env, "signed", recharge=0)
    body = json.dumps({"code": code_of(mid)}).encode()

    def send(headers, b=body, path="/scan/verify"):
        return env.request("POST", path, b, headers)

    h = till.headers("/scan/verify", body)
    wrong = dict(h, **{"X-Member-Signature": "0" * 64})
    r = send(wrong)
    assert r.status == 401 and r.json["error"] == "bad_signature", r
    r = send(h, b=body.replace(b"}", b" }"))                 # body changed
    assert r.status == 401 and r.json["error"] == "bad_signature", r
    r = send(till.headers("/scan/verify?x=1", body))        # path changed
    assert r.status == 401, r
    r = send(Till(env, "S5", secret="x" * 43).headers("/scan/verify", body))
    assert r.status == 401 and r.json["error"] == "bad_signature", r
    for ts in [time.time() - 301, time.time() + 301]:
        r = send(till.headers("/scan/verify", body, ts=int(ts)))
        assert r.status == 401, (ts, r)
    for bad in [{"X-Member-Store": "nope"}, {"X-Member-Nonce": "short"},
                {"X-Member-Nonce": "has space in it"}, {"X-Member-Signature": "zz" * 32},
                {"X-Member-Timestamp": "soon"}]:
        r = send(dict(h, **bad))
        assert r.status == 401, (bad, r)
    for missing in ["X-Member-Store", "X-Member-Timestamp", "X-Member-Nonce",
                    "X-Member-Signature"]:
        r = send({k: v for k, v in h.items() if k != missing})
        assert r.status == 401, (missing, r)
    # upper-case hex is the same signature; the nonce then is spent
    up = dict(h, **{"X-Member-Signature": h["X-Member-Signature"].upper()})
    assert send(up).status == 200
    r = send(h)
    assert r.status == 401 and r.json["error"] == "bad_signature", r   # replayed nonce
    # nothing was spent or counted by the refused ones
    assert env.admin("GET", f"members/{mid}").json["balance_fen"] == 0


def test_bad_till_calls(env):
    till = Till(env, "S6")
    _, _, token = member_with_money(env, "careful")
    ticket = till.verify(env.api("code", token, method="POST").json["code"]).json["ticket"]
    for body, field in [({"amount_fen": 1, "order_id": "x"}, "ticket"),
                        ({"ticket": ticket, "order_id": "x"}, "amount_fen"),
                        ({"ticket": ticket, "amount_fen": 0, "order_id": "x"}, "amount_fen"),
                        ({"ticket": ticket, "amount_fen": -1, "order_id": "x"}, "amount_fen"),
                        ({"ticket": ticket, "amount_fen": 1}, "order_id"),
                        ({"ticket": ticket, "amount_fen": 1, "order_id": "a b"}, "order_id"),
                        ({"ticket": ticket, "amount_fen": 1, "order_id": "\""}, "order_id")]:
        r = till.call("pay", body)
        assert r.status == 400 and field in r.json["message"], (body, r)
    mid, step, secret = ticket.split(".")
    for bad in ["nope", mid + ".short", mid + "." + "A" * 43, mid + "." + secret,
                mid + "." + step + "." + "A" * 43,          # the right code, a forged secret
                mid + "." + str(int(step) - 1) + "." + secret,   # another time step
                "1." + step + "." + secret,                 # another member
                mid + ".x." + secret, mid + "." + step + "." + secret + "A"]:
        r = till.call("pay", {"ticket": bad, "amount_fen": 100, "order_id": "t-" + bad[:3]})
        assert r.status == 401 and r.json["error"] == "unauthorized", (bad, r)
    # another store cannot use this store's ticket
    r = Till(env, "S7").call("pay", {"ticket": ticket, "amount_fen": 100, "order_id": "z"})
    assert r.status == 401, r
    assert till.call("refund", {"order_id": "never"}).status == 404
    assert till.call("nothing", {}).status == 404
    r = env.request("GET", "/scan/verify")
    assert r.status == 405, r
    assert env.admin("GET", f"members/{mid}").json["balance_fen"] == 115000


def test_two_tills_one_code(env):
    a, b = Till(env, "S8"), Till(env, "S9")
    _, _, token = member_with_money(env, "racer", recharge=0)
    code = env.api("code", token, method="POST").json["code"]
    results = []
    threads = [threading.Thread(target=lambda t=t: results.append(t.verify(code)))
               for t in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in results) == [200, 409, 409, 409], results


def test_fifty_concurrent_pays(env):
    till = Till(env, "S10")
    mid, _, token = member_with_money(env, "crowd", level="normal", recharge=10000)
    ticket = till.verify(env.api("code", token, method="POST").json["code"]).json["ticket"]
    results = []

    def pay(i):
        results.append(till.call("pay", {"ticket": ticket, "amount_fen": 300,
                                         "order_id": f"c-{i}"}))

    threads = [threading.Thread(target=pay, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if r.status == 200]
    short = [r for r in results if r.status == 422]
    assert len(ok) + len(short) == 50, results
    assert len(ok) == 10000 // 300
    rec = env.admin("GET", f"members/{mid}").json
    assert rec["balance_fen"] == 10000 - 300 * len(ok) >= 0
    ledger = env.admin("GET", f"members/{mid}/transactions?limit=100").json["items"]
    paid = sum(i["charged_fen"] for i in ledger if i["type"] == "pay")
    recharged = sum(i["amount_fen"] for i in ledger if i["type"] == "recharge")
    assert recharged - paid == rec["balance_fen"]


@harness.own_env(extra_http="member_scan_verify_limit 3 100;")
def test_verify_is_rate_limited(env):
    till = Till(env, "S11")
    mid, _, _ = member_with_money(env, "limited", recharge=0)
    codes = [till.verify("123456789012345678").status for _ in range(3)]
    assert codes == [404, 404, 404], codes
    r = till.verify(code_of(mid))
    assert r.status == 429 and r.json["error"] == "rate_limited", r
    # pays are not counted
    assert till.call("refund", {"order_id": "none"}).status == 404


@harness.own_env(extra_http="member_scan_verify_limit 100 100 3;")
def test_a_store_that_keeps_failing_is_stopped(env):
    till, other = Till(env, "S12"), Till(env, "S13")
    mid, _, _ = member_with_money(env, "guessed", recharge=0)
    for i in range(3):
        r = till.verify("%018d" % (123456789012345678 + i))
        assert r.status == 404, r
    r = till.verify(code_of(mid))
    assert r.status == 429 and r.json["error"] == "rate_limited", r
    # another store is not
    assert other.verify(code_of(mid)).status == 200


def test_verify_shows_the_masked_name_as_json(env):
    """The till's answer is written by hand on the hot path: names with
    quotes, backslashes and Chinese characters come out as valid JSON,
    masked; a member who is not active has no usable code."""
    till = Till(env, "S-names")
    for name, masked in [("张三", "张*"), ('"Bob', '"*'), ("\\back", "\\*")]:
        r = env.admin("POST", "members", {"name": name})
        assert r.status == 201, r
        mid = r.json["member_id"]
        v = till.verify(code_of(mid))
        assert v.status == 200, v
        assert v.headers["content-type"].startswith("application/json"), v
        assert v.json["member"]["name"] == masked, v
        assert v.json["member"]["points"] == 0 and v.json["member"]["balance_fen"] == 0, v
    env.rcli("HSET", f"{{m:{mid}}}", "status", "frozen")
    v = till.verify(code_of(mid, at=time.time() + 30))
    assert v.status == 404 and v.json["error"] == "unknown_code", v


def test_a_lost_verify_leaves_no_usable_ticket(env):
    """Two tills race for one code: the loser's answer is 409 and carries
    no ticket, and nothing was made for it: the one key of the spent code
    is the winner's ticket, names the winner's store and only the SHA-256
    of the ticket's secret, and lapses within the ticket's lifetime."""
    mid, card, token = member_with_money(env, "racer2", recharge=10000)
    a, b = Till(env, "S-race-a"), Till(env, "S-race-b")
    code = env.api("code", token, method="POST").json["code"]
    first, second = a.verify(code), b.verify(code)
    assert first.status == 200 and second.status == 409, (first, second)
    assert "ticket" not in second.json, second
    t = first.json["ticket"]
    env.secrets.append(t.split(".")[-1])
    spent = [k for k in env.rcli("KEYS", f"{{m:{mid}}}:code:*").split() if k]
    assert spent == [f"{{m:{mid}}}:code:{t.split('.')[1]}"], spent
    secret_hash = hashlib.sha256(t.split(".")[-1].encode()).hexdigest()
    assert env.rcli("GET", spent[0]) == f"S-race-a {secret_hash}"
    assert 0 < int(env.rcli("TTL", spent[0])) <= 300
    assert not [k for k in env.rcli("KEYS", f"{{m:{mid}}}:t:*").split() if k]
    # the winner's ticket pays at its own store only
    r = b.call("pay", {"ticket": t, "amount_fen": 100, "order_id": "steal"})
    assert r.status == 401 and r.json["error"] == "unauthorized", r
    r = a.call("pay", {"ticket": t, "amount_fen": 100, "order_id": "ok"})
    assert r.status == 200, r


def test_a_rotated_store_secret(env):
    """POST stores/<id>/rotate shows a new secret once; the old one is
    refused everywhere within the workers' store cache (10 s); Redis and
    GET stores never hold either secret; only hq may rotate."""
    till = Till(env, "S-rot")
    mid, card, token = member_with_money(env, "rotator", recharge=0)
    assert till.verify(code_of(mid)).status == 200         # the secret is cached
    r = env.admin("POST", "stores/S-rot/rotate")
    assert r.status == 200 and r.json["store_id"] == "S-rot", r
    new = r.json["secret"]
    env.secrets.append(new)
    assert new != till.secret and len(new) == len(till.secret)
    assert new not in env.rcli("HGET", "stores", "S-rot")
    assert new not in json.dumps(env.admin("GET", "stores").json)
    fresh = Till(env, "S-rot", secret=new)
    # polled once a second: each poll is a verify, counted by the rate limit
    harness.wait_until("the old secret is refused",
                       lambda: till.verify(code_of(mid)).status == 401, timeout=15,
                       interval=1.0)
    v = fresh.verify(code_of(mid, at=time.time() + 30))
    assert v.status == 200, v
    r = env.admin("POST", "stores/nope/rotate")
    assert r.status == 404 and r.json["error"] == "not_found", r
    r = env.admin("GET", "stores/S-rot/rotate")
    assert r.status == 405, r
    _, key = harness.make_key(env, "readonly", name="ro")
    r = env.admin("POST", "stores/S-rot/rotate", token=key)
    assert r.status == 403 and r.json["error"] == "forbidden", r


@harness.single_redis("the errors are made on the one server: REPLICAOF is refused in "
                      "cluster mode, and maxmemory or an ACL on one node is not the cluster's")
def test_redis_error_replies_are_503_and_spend_nothing(env):
    """Issue 14, 3.5: the gate's SET NX of the nonce and verify's SET NX of
    the code take only OK as "stored" and nil as "there before": an error
    reply (OOM at maxmemory, READONLY on a replica, NOPERM) is a 503
    redis_unavailable, and the same signed calls succeed once Redis is well
    again, so no nonce, code or order was counted as spent."""
    from test_resilience import is_unavailable
    till = Till(env, "S-err")
    admin_pw = secrets.token_hex(16)
    env.secrets.append(admin_pw)
    # redis-cli as a user of its own: the default user is nginx's, restricted below
    assert env.rcli("ACL", "SETUSER", "tester", "on", ">" + admin_pw, "~*", "&*",
                    "+@all") == "OK"

    def rcli(*args):
        out = subprocess.run(["redis-cli", "-p", str(env.redis_port), "--user", "tester",
                              "--pass", admin_pw, "--no-auth-warning", "--raw", *args],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip()

    def oom():
        assert rcli("CONFIG", "SET", "maxmemory-policy", "noeviction") == "OK"
        assert rcli("CONFIG", "SET", "maxmemory", "1") == "OK"
        return lambda: rcli("CONFIG", "SET", "maxmemory", "0")

    def readonly():
        # a replica of a master that is not there keeps its data, refuses writes
        assert rcli("REPLICAOF", "127.0.0.1", str(harness.free_port())) == "OK"
        return lambda: rcli("REPLICAOF", "NO", "ONE")

    def code_refused():
        # the store's keys as ever, the members' read only: the code's SET fails alone
        assert rcli("ACL", "SETUSER", "default", "resetkeys", "~stores", "~{s:*",
                    "~order:*", "%R~{m:*}") == "OK"
        return lambda: rcli("ACL", "SETUSER", "default", "resetkeys", "~*")

    for n, (errors, pays) in enumerate([(oom, True), (readonly, True),
                                        (code_refused, False)]):
        mid, _ = env.member(f"erring{n}")
        assert env.admin("POST", f"members/{mid}/recharge",
                         {"amount_fen": 10000, "idempotency_key": f"err{n}"}).status == 200
        ticket = till.verify(code_of(mid)).json["ticket"]
        env.secrets.append(ticket.split(".")[-1])
        code = code_of(mid, at=time.time() + 30)
        order = {"ticket": ticket, "amount_fen": 100, "order_id": f"err-{n}"}
        calls = [("verify", {"code": code}, secrets.token_hex(12))]
        if pays:
            calls.append(("pay", order, secrets.token_hex(12)))
        ts = int(time.time())
        before = harness.digest(env)
        heal = errors()
        try:
            for what, body, nonce in calls:
                r = till.call(what, body, ts=ts, nonce=nonce)
                assert is_unavailable(r.status, r.body), (errors.__name__, what, r)
        finally:
            heal()
        if pays:
            assert harness.digest(env) == before, errors.__name__
        for what, body, nonce in calls:             # the very same requests again
            if not pays:
                nonce = None    # the gate's SET stored this one: only the code failed
            r = till.call(what, body, ts=ts, nonce=nonce)
            assert r.status == 200, (errors.__name__, what, r)
            if what == "verify":
                env.secrets.append(r.json["ticket"].split(".")[-1])
    assert rcli("ACL", "DELUSER", "tester") == "1"
