"""Brands sharing one Redis database (member_brand, docs/keys.md "Slots
and brands"): two server blocks inherit one member_redis, `member_brand a;`
and `member_brand b;`, and the Redis layer puts each brand in every key it
sends.  The same member ids in both, and each sees only its own card,
ledger, rules, stores, admin keys and feedback; every key in Redis carries
its brand; both brands' jobs run; the default server without a brand (on
database 1) keeps today's key names exactly."""

import copy
import json
import os
import re
import subprocess

import harness
from harness import ROOT, make_key
from test_ledger import wait_for
from test_outbox import recharge
from test_scan import Till, code_of

RECONCILE = os.path.join(ROOT, "tools", "reconcile.py")

# brands a and b on PORT2, told apart by name, both on the http level's
# member_redis (database 0); the Env's own server moves to database 1
TWO_BRANDS = {
    "extra_http": "member_test_clock on;\n"
                  + harness.brand_server("a", server_name="a.test")
                  + harness.brand_server("b", server_name="b.test"),
    "extra_server": "member_redis 127.0.0.1:@REDIS_PORT@ db=1;"}


def brands(env):
    """brand a, brand b (database 0) and the default server (database 1)"""
    a, b, d = copy.copy(env), copy.copy(env), env
    a.port, a.host, a.db = env.port2, "a.test", 0
    b.port, b.host, b.db = env.port2, "b.test", 0
    d.db = 1
    return a, b, d


def namespace(key):
    """The brand of a key as keyspace/mks_brand.c puts it, None without."""
    m = re.search(r"\{([^}]+)\}", key)
    s = key.find("{")
    if m and m.start() == s:
        word = m.group(1).split(":")
        return word[1] if len(word) > 1 and word[1] in ("a", "b") else None
    head = key.split(":", 1)
    return head[0] if len(head) == 2 and head[0] in ("a", "b") else None


def keys_of(env, db):
    out = subprocess.run(["redis-cli", "-p", str(env.redis_port), "-n", str(db), "--scan"],
                         capture_output=True, text=True, timeout=10, check=True)
    return sorted(out.stdout.split("\n")[:-1])


def token_of(env, name):
    r = env.login(name)
    assert r.status == 200, r
    return r.json["member_id"], r.json["token"]


@harness.own_env(**TWO_BRANDS)
def test_two_brands_on_one_database(env):
    a, b, d = brands(env)

    # the same member ids: each brand has its own counter
    ma, _ = a.member("branda1", level="gold")
    mb, _ = b.member("brandb1")
    md, _ = d.member("default1")
    assert ma == mb == md == "1", (ma, mb, md)

    # each sees its own card
    assert a.admin("GET", "members/1").json["level"] == "gold"
    assert b.admin("GET", "members/1").json["level"] == "normal"

    # money: a recharge and a pay in a leave b's balance
    recharge(a, 1, 30000, "a-r")
    recharge(b, 1, 45600, "b-r")
    till = Till(a, "S1")
    v = till.verify(code_of(1))
    assert v.status == 200, v
    a.secrets = getattr(a, "secrets", []) + [v.json["ticket"].split(".")[-1]]
    p = till.call("pay", {"ticket": v.json["ticket"], "order_id": "O1",
                          "amount_fen": 10000})
    assert p.status == 200, p
    assert p.json["charged_fen"] == 9500                 # gold: 5% off
    assert a.admin("GET", "members/1").json["balance_fen"] == 20500
    assert b.admin("GET", "members/1").json["balance_fen"] == 45600
    types = lambda e: [t["type"] for t in e.admin(
        "GET", "members/1/transactions").json["items"]]
    assert sorted(types(a)) == ["pay", "recharge"], types(a)
    assert types(b) == ["recharge"], types(b)

    # stores: S1 is a's; b has none, and a till of b cannot use a's secret
    assert [s["store_id"] for s in a.admin("GET", "stores").json] == ["S1"]
    assert b.admin("GET", "stores").json == []
    assert Till(b, "S1", secret=till.secret).verify(code_of(1)).status == 401

    # rules
    ra = a.admin("GET", "rules").json
    r = b.admin("PUT", "rules", dict(ra, recharge_bonus=[{"min_fen": 100, "bonus_fen": 7}]))
    assert r.status == 200, r
    assert a.admin("GET", "rules").json["recharge_bonus"] == ra["recharge_bonus"]
    assert b.admin("GET", "rules").json["recharge_bonus"] == [{"min_fen": 100, "bonus_fen": 7}]

    # admin keys
    kid, key = make_key(a, "hq", name="ops-a")
    assert [x["key_id"] for x in a.admin("GET", "keys").json["keys"]] == [kid]
    assert b.admin("GET", "keys").json["keys"] == []
    assert a.admin("GET", "stores", token=key).status == 200
    assert b.admin("GET", "stores", token=key).status == 401

    # feedback
    mid, token = token_of(b, "brandb1")
    assert mid == "1", mid
    r = b.request("POST", "/api/feedback", '{"rating": 5, "text": "b only"}',
                  {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    assert r.status == 201, r
    assert len(b.admin("GET", "feedback?limit=100").json["items"]) == 1
    assert a.admin("GET", "feedback?limit=100").json["items"] == []
    # a session of b is no session of a, though the member id is the same
    assert a.api("card", token).status == 401

    # both brands' jobs: the fold's totals of each
    wait_for("a's totals", lambda: a.admin("GET", "totals").json.get("balance_fen") == 20500)
    wait_for("b's totals", lambda: b.admin("GET", "totals").json.get("balance_fen") == 45600)
    # and each its own lease
    wait_for("both leases", lambda: a.rcli("EXISTS", "a:ledger:lease",
                                             "b:ledger:lease") == "2")

    # every key of database 0 carries its brand, in its tag or in front
    keys = keys_of(env, 0)
    assert keys and all(namespace(k) in ("a", "b") for k in keys), \
        [k for k in keys if namespace(k) not in ("a", "b")]
    for k in ("{m:a:1}", "{m:b:1}", "{m:a:1}:ledger", "a:member:seq", "b:member:seq",
              "{b:a}:admin:keys", "{b:b}:feedback", "{rules:b}", "a:stores",
              "order:{s:a:S1}:O1", "{b:a}:totals", "{b:b}:totals"):
        assert k in keys, (k, keys)

    # the default server keeps today's names exactly
    dk = keys_of(env, 1)
    for k in ("member:seq", "{m:1}", "ledger:lease", "{b}:totals"):
        wait_for(k, lambda: k in keys_of(env, 1))
    assert all(namespace(k) is None for k in dk), dk
    env.secrets = a.secrets


@harness.own_env(**TWO_BRANDS)
def test_a_rescan_reads_the_brands_members_back(env):
    """The fold's SCAN: MATCH {m:a:*}, keys read back as {m:<id>}."""
    a, b, _ = brands(env)
    for e, fen in ((a, 1100), (b, 2200)):
        e.member("r")
        e.member("s")
        recharge(e, 2, fen, "r")
    for e, fen in ((a, 1100), (b, 2200)):
        wait_for("totals", lambda: e.admin("GET", "totals").json.get("balance_fen") == fen)

    # a's folded numbers lost: a rescan finds a's members and only them
    a.rcli("DEL", "{b:a}:totals", "{b:a}:cursors", "{b:a}:members",
           *[k for k in keys_of(env, 0) if k.startswith("{b:a}:day:")])
    assert a.admin("GET", "totals").json.get("balance_fen", 0) == 0
    assert a.admin("POST", "fold/rescan").status == 202
    wait_for("a's totals again", lambda: a.admin("GET", "totals").json.get(
        "balance_fen") == 1100, timeout=15)
    wait_for("the rescan's end", lambda: a.rcli("EXISTS", "{b:a}:fold:rescan") == "0",
             timeout=15)
    assert b.admin("GET", "totals").json["balance_fen"] == 2200
    assert "fold rescan done" in env.log_text()

    # make reconcile of each brand: its own members and numbers
    for brand, fen in (("a", 1100), ("b", 2200)):
        out, report = reconcile(env, "--brand", brand)
        assert out.returncode == 0 and not report["problems"], report
        assert report["totals"]["members"] == 2, report
        assert report["totals"]["balance_fen"] == fen, report
    a.rcli("HINCRBY", "{b:a}:totals", "balance_fen", "1")
    out, report = reconcile(env, "--brand", "a")
    assert out.returncode == 1 and "balance_fen" in str(report["problems"]), report
    assert reconcile(env, "--brand", "b")[0].returncode == 0
    assert reconcile(env, "--brand", "A")[0].returncode == 2


def reconcile(env, *args):
    out = subprocess.run([RECONCILE, "-p", str(env.redis_port), "--json", "--wait", "5", *args],
                         capture_output=True, text=True, timeout=60)
    return out, json.loads(out.stdout or "null")


def test_member_brand_is_checked_by_nginx_t(env):
    def nginx_t(server, http=""):
        conf = (f"load_module {harness.MODULE}; pid {env.dir}/t.pid; error_log {env.dir}/t.log;"
                f"events {{}} http {{ member_redis 127.0.0.1:{env.redis_port}; {http} "
                f"member_admin_token {harness.ADMIN_TOKEN}; member_pii_key k1 {harness.PII_KEY}; "
                f"server {{ listen 127.0.0.1:{env.port}; {server} "
                "location /admin/ { member_admin; } } }")
        path = env.dir + "/t.conf"
        with open(path, "w") as f:
            f.write(conf)
        return subprocess.run(["nginx", "-t", "-q", "-p", env.dir + "/", "-c", path, "-e",
                               env.dir + "/t.log"], capture_output=True, text=True, timeout=30)

    for good in ("member_brand a;", "member_brand brand_7-x;", "member_brand " + "a" * 32 + ";"):
        out = nginx_t(good)
        assert out.returncode == 0, (good, out.stderr)
    for bad, why in (("member_brand A;", "invalid value"),
                     ("member_brand a:b;", "invalid value"),
                     ("member_brand \"a.b\";", "invalid value"),
                     ("member_brand " + "a" * 33 + ";", "invalid value"),
                     ("member_brand a; member_brand b;", "is duplicate"),
                     ("location /x/ { member_brand a; }", "not allowed here")):
        out = nginx_t(bad)
        assert out.returncode != 0 and why in out.stderr, (bad, out.stderr)
    out = nginx_t("", http="member_brand a;")
    assert out.returncode != 0 and "not allowed here" in out.stderr, out.stderr
