"""The Redis layer's cluster client, step by step on a real Redis Cluster
(harness.py, cluster.py; run.py --cluster): a member's slot moved (MOVED,
the map learnt again), its slot migrating with half its keys moved (ASK,
and TRYAGAIN for a script of several keys until the slot is home), its
master SIGKILLed (503 at once, then answers within a second or two of
the replica's promotion), and member_redis_replicas 1 against the
master's replica stopped with SIGSTOP."""

import glob
import hashlib
import os
import threading
import time

import harness
from test_scan import Till, code_of

CLUSTER_ONLY = True

# a script of several keys waits out a migration's TRYAGAIN within it
ENV = {"cluster": True, "redis_timeout": "3s"}


def metrics(env):
    out = {}
    for line in env.request("GET", "/status").body.decode().splitlines():
        if line.startswith("member_redis") and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def member_at(env, name, amount=10000):
    mid, _ = env.member(name)
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": amount, "idempotency_key": "seed-" + name})
    assert r.status == 200, r
    slot = env.rc.slot_of(f"{{m:{mid}}}")
    return mid, slot


def replica_of(env, master):
    """The master's replica, once every node knows it (a new cluster's
    replicas are attached after cluster_state:ok)."""
    found = []

    def known():
        try:
            found.append(env.rc.replica_of(master))
        except AssertionError:
            return False
        return True
    harness.wait_until(f"a replica of {master}", known, timeout=20)
    return found[-1]


def other_master(env, slot):
    src = env.rc.master_of_slot(slot)
    return src, next(m for m in env.rc.masters() if m is not src)


def test_the_map_and_a_node_per_master(env):
    m = metrics(env)
    assert m["member_redis_up"] == 1 and m["member_redis_maps_total"] >= 1, m
    up = {k: v for k, v in m.items() if k.startswith("member_redis_node_up")}
    masters = {n.addr for n in env.rc.masters()}
    assert {k.split('"')[1] for k, v in up.items() if 'master="1"' in k and v == 1} \
        == masters, (up, masters)


def script_shas():
    """name -> the SHA1 EVALSHA sends: of the script's file, as the module
    carries it (tools/lua2c.py)."""
    shas = {}
    for path in glob.glob(os.path.join(harness.ROOT, "ngx_member_module", "lua", "*.lua")):
        with open(path, "rb") as f:
            shas[os.path.basename(path)[:-4]] = hashlib.sha1(f.read()).hexdigest()
    return shas


def missing_scripts(env, master, shas):
    names = list(shas)
    have = env.rc.node_cli(master, "SCRIPT", "EXISTS", *shas.values()).split()
    assert len(have) == len(names), have
    return [n for n, h in zip(names, have) if h != "1"]


def test_every_master_has_every_script_from_the_start(env):
    """Each worker loads every script on each node it connects to: no
    master waits for a NOSCRIPT to learn one (a request's first EVALSHA
    there would otherwise cost a NOSCRIPT and an EVAL)."""
    shas = script_shas()
    assert len(shas) > 40 and "recharge" in shas and "profile_delete" in shas
    masters = env.rc.masters()
    assert len(masters) == 3
    missing = {}

    def loaded():
        missing.clear()
        for m in masters:
            lack = missing_scripts(env, m, shas)
            if lack:
                missing[m.port] = lack
        return not missing
    harness.wait_until("every script on every master", loaded, timeout=10)


def test_scripts_flushed_or_a_connection_made_again(env):
    """SCRIPT FLUSH on every master: a recharge's EVALSHA answers NOSCRIPT
    and goes again as EVAL (applied once); a connection made again (a
    restarted master's) loads every script anew."""
    shas = script_shas()
    masters = env.rc.masters()
    mid, slot = member_at(env, "flushed")
    master = env.rc.master_of_slot(slot)
    for m in masters:
        assert env.rc.node_cli(m, "SCRIPT", "FLUSH") == "OK"
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 100, "idempotency_key": "after-flush"})
    assert r.status == 200, r
    r = env.admin("GET", f"members/{mid}")
    assert r.status == 200 and r.json["principal_fen"] == 10000 + 100, r
    # the recharge came as EVAL (the cache has it again) on the same
    # connection (no SCRIPT LOAD: the others are still missing)
    missing = missing_scripts(env, master, shas)
    assert "recharge" not in missing and "profile_delete" in missing, missing
    # a connection made again loads them all
    other = next(m for m in masters if m is not master)
    assert "profile_delete" in missing_scripts(env, other, shas)
    killed = env.rc.node_cli(other, "CLIENT", "KILL", "TYPE", "normal")
    assert int(killed) >= 1, killed
    harness.wait_until("the scripts loaded again", lambda: not missing_scripts(env, other, shas),
                       timeout=10)


def test_moved_after_a_slot_moves(env):
    mid, slot = member_at(env, "moved")
    src, dst = other_master(env, slot)
    # the map a worker learns at start is asked again after a second (the
    # masters were still connecting), then every 30 s: this is after it
    time.sleep(1.2)
    before = metrics(env)["member_redis_redirects_total"]
    env.rc.move_slot(slot, dst)
    r = env.admin("GET", f"members/{mid}")
    assert r.status == 200 and r.json["balance_fen"] == 10000, r
    # the worker's map was stale: MOVED (this read's, or a job's before it)
    moved = metrics(env)["member_redis_redirects_total"]
    assert moved >= before + 1, (before, moved)
    # the map was learnt again: the next commands go straight there
    time.sleep(0.3)
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 100, "idempotency_key": "after-move"})
    assert r.status == 200, r
    assert metrics(env)["member_redis_redirects_total"] == moved
    assert env.rc.master_of_slot(slot) is dst


def test_ask_while_a_slot_migrates(env):
    mid, slot = member_at(env, "asked")
    src, dst = other_master(env, slot)
    before = metrics(env)
    seen = {}
    moves = []

    def between():
        # half the member's keys moved: a read of a moved key gets ASK
        seen["read"] = env.admin("GET", f"members/{mid}")
        # a script of several keys, some moved, gets TRYAGAIN until the
        # slot is home; it waits in a thread while the migration ends
        t = threading.Thread(target=lambda: moves.append(env.admin(
            "POST", f"members/{mid}/recharge",
            {"amount_fen": 100, "idempotency_key": "while-migrating"})))
        t.start()
        seen["thread"] = t
        time.sleep(0.3)

    env.rc.move_slot(slot, dst, between=between)
    seen["thread"].join(timeout=10)
    assert seen["read"].status == 200, seen["read"]
    assert moves and moves[0].status == 200, moves
    after = metrics(env)
    assert after["member_redis_redirects_total"] > before["member_redis_redirects_total"]
    assert after["member_redis_retries_total"] > before["member_redis_retries_total"]
    r = env.admin("GET", f"members/{mid}")
    assert r.status == 200 and r.json["principal_fen"] == 10000 + 100, r
    # once: the same key answers the same move
    again = env.admin("POST", f"members/{mid}/recharge",
                      {"amount_fen": 100, "idempotency_key": "while-migrating"})
    assert again.status == 200 and again.json == moves[0].json, (again, moves[0])


def test_a_pay_follows_its_member_to_another_master(env):
    till = Till(env, "CL1")
    mid, slot = member_at(env, "payer")
    v = till.verify(code_of(mid))
    assert v.status == 200, v
    env.secrets.append(v.json["ticket"].split(".")[-1])
    src, dst = other_master(env, slot)
    env.rc.move_slot(slot, dst)
    r = till.call("pay", {"ticket": v.json["ticket"], "amount_fen": 300, "order_id": "cl-1"})
    assert r.status == 200, r
    assert env.admin("GET", f"members/{mid}").json["balance_fen"] == 10000 - 300


@harness.own_env(cluster=True, redis_timeout="3s")
def test_a_killed_master_is_503_then_its_replica_answers(env):
    mid, slot = member_at(env, "killed")
    master = env.rc.master_of_slot(slot)
    replica = replica_of(env, master)
    env.rc.wait_ok(synced=True)
    assert env.rc.wait_replicated(master) >= 1     # the member is on its replica
    env.rc.kill(master)
    statuses = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < 20:
        t1 = time.monotonic()
        r = env.admin("GET", f"members/{mid}")
        statuses.append((r.status, time.monotonic() - t1))
        if r.status == 200:
            break
        assert r.status == 503 and r.json["error"] == "redis_unavailable", r
        time.sleep(0.05)
    assert statuses[-1][0] == 200, statuses[-5:]
    # no request waited for its whole timeout (3 s): the dead node is known
    assert max(took for _, took in statuses) < 1.5, statuses
    assert len(statuses) > 1
    # the replica took the slots over, and the module followed within
    # the cluster's node timeout (1.5 s) and a second or two
    assert "role:master" in env.rc.node_cli(replica, "INFO", "replication")
    assert time.monotonic() - t0 < 10, time.monotonic() - t0
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 100, "idempotency_key": "after-kill"})
    assert r.status == 200, r
    m = metrics(env)
    assert m[f'member_redis_node_up{{node="{master.addr}",master="0"}}'] == 0, m
    assert m[f'member_redis_node_up{{node="{replica.addr}",master="1"}}'] == 1, m
    with open(env.error_log, errors="replace") as f:
        log = f.read()
    assert f'member: redis "{master.addr}" connection closed' in log


@harness.own_env(cluster=True, extra_http="member_redis_replicas 1 300ms;")
def test_replicas_on_the_cluster(env):
    mid, slot = member_at(env, "durable")        # its recharge waited for the replica
    master = env.rc.master_of_slot(slot)
    replica = replica_of(env, master)
    env.rc.wait_ok(synced=True)
    env.rc.stop(replica)
    try:
        r = env.admin("POST", f"members/{mid}/recharge",
                      {"amount_fen": 100, "idempotency_key": "unconfirmed"})
        assert r.status == 503 and "not confirmed by 1 replicas" in r.json["message"], r
        # another master's members are not held up
        other = None
        for i in range(50):
            o, s = member_at(env, f"elsewhere-{i}")
            if env.rc.master_of_slot(s) is not master:
                other = o
                break
        assert other is not None
    finally:
        env.rc.cont(replica)
    env.rc.wait_ok(synced=True)
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 100, "idempotency_key": "unconfirmed"})
    assert r.status == 200, r
    assert env.admin("GET", f"members/{mid}").json["principal_fen"] == 10000 + 100
    assert metrics(env)["member_redis_unconfirmed_total"] >= 1


def test_the_rescan_walks_every_master(env):
    for i in range(12):
        env.member(f"rescan-{i}")
    r = env.admin("POST", "fold/rescan")
    assert r.status in (200, 202), r
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30 and env.rcli("EXISTS", "{b}:fold:rescan") != "0":
        time.sleep(0.2)
    assert env.rcli("EXISTS", "{b}:fold:rescan") == "0"
    with open(env.error_log, errors="replace") as f:
        assert "member: fold rescan done" in f.read()


def test_a_rescan_past_the_last_master_ends(env):
    """A walk begun when the cluster had more masters ends, not stuck."""
    assert env.rcli("SET", "{b}:fold:rescan", "7:0") == "OK"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30 and env.rcli("EXISTS", "{b}:fold:rescan") != "0":
        time.sleep(0.2)
    assert env.rcli("EXISTS", "{b}:fold:rescan") == "0"
