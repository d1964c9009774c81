"""The module on a Redis Cluster (issue 16): three masters and their
replicas (harness.py, cluster.py), slots resharded and a master killed
while pays and recharges run from many threads, each retried with its own
key until answered; two brands with the same member ids; two nginx nodes
and the jobs' leases.  Runs only with run.py --cluster (make test-cluster,
which make test runs).

Every move of money is checked three ways: its answer's transaction is in
the member's ledger exactly once, the member's balance is what the answers
say, and tools/reconcile.py (every master) finds the ledgers, the member
hashes and the brand's totals in agreement."""

import copy
import http.client
import json
import os
import random
import signal
import threading
import time

import harness
from test_ledger import entries, reconciled
from test_scan import Till, code_of

CLUSTER_ONLY = True

ENV = {"cluster": True}

# moves in the whole file: the reshard's, the kill's, the brands'
RESHARD_MOVES = 900
KILL_MOVES = 800
THREADS = 12
SEED_FEN = 10000000             # each member's first recharge (+ its bonus)


class Moves:
    """Pays (at a till) and recharges (admin) of some members from many
    threads.  Each move has its key (the order id, the idempotency key)
    and is sent again with it after a 503, a timeout or a broken
    connection, until a final answer or `patience` seconds; what each
    move got is kept: its final status and answer, its tries and when it
    was answered (time.monotonic())."""

    def __init__(self, env, till, members, name, patience=30.0, nodes=None, pace=0.04):
        self.env = env
        self.till = till
        self.members = members          # member id -> its ticket
        self.name = name
        self.patience = patience
        self.nodes = nodes or [env]     # nginx nodes, taken in turn
        self.pace = pace                # a thread's pause between two moves
        self.done = []                  # finished moves (dicts)
        self.events = []                # (time, status or None, member id)
        self.lock = threading.Lock()
        self.n = 0

    def next_move(self):
        with self.lock:
            self.n += 1
            n = self.n
        mid = random.choice(list(self.members))
        if n % 3 == 0:
            return {"kind": "recharge", "mid": mid, "key": f"{self.name}-r{n}",
                    "amount": 1000 + n % 7}
        return {"kind": "pay", "mid": mid, "key": f"{self.name}-p{n}", "amount": 100 + n % 50}

    def send(self, node, m):
        if m["kind"] == "pay":
            body = json.dumps({"ticket": self.members[m["mid"]], "amount_fen": m["amount"],
                               "order_id": m["key"]}).encode()
            return node.request("POST", "/scan/pay", body,
                                self.till.headers("/scan/pay", body), timeout=5)
        return node.request("POST", f"/admin/members/{m['mid']}/recharge",
                            {"amount_fen": m["amount"], "idempotency_key": m["key"]},
                            {"Authorization": "Bearer " + harness.ADMIN_TOKEN}, timeout=5)

    def one(self, m, k):
        m["tries"] = 0
        start = time.monotonic()
        while True:
            node = self.nodes[(k + m["tries"]) % len(self.nodes)]
            m["tries"] += 1
            try:
                r = self.send(node, m)
                status, body = r.status, r.body
            except (OSError, http.client.HTTPException) as e:
                status, body = None, repr(e)
            now = time.monotonic()
            with self.lock:
                self.events.append((now, status, m["mid"]))
            if status is not None and status != 503:
                m["status"], m["at"] = status, now
                m["answer"] = json.loads(body) if status == 200 else body
                return m
            if status == 503:
                assert json.loads(body)["error"] == "redis_unavailable", body
            if now - start > self.patience:
                m["status"], m["answer"], m["at"] = status, body, now
                return m
            time.sleep(0.05)

    def run(self, total, threads=THREADS, until=None):
        """At least `total` moves and, with until(), moves until it is true
        (at most 2 * total); the threads, started."""
        def worker(k):
            while True:
                with self.lock:
                    started = self.n
                if started >= total and (until is None or until()) or started >= 2 * total:
                    return
                m = self.one(self.next_move(), k)
                with self.lock:
                    self.done.append(m)
                time.sleep(self.pace)

        ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
        for t in ts:
            t.start()
        return ts

    def check(self, balances_before):
        """Every move answered 200, in its member's ledger once; each
        balance what the answers make it."""
        bad = [m for m in self.done if m.get("status") != 200]
        assert not bad, f"{len(bad)} moves not applied: {bad[:3]}"
        want = dict(balances_before)
        for m in self.done:
            a = m["answer"]
            if m["kind"] == "pay":
                want[m["mid"]] -= a["charged_fen"]
            else:
                want[m["mid"]] += a["amount_fen"] + a["bonus_fen"]
        by_member = {}
        for m in self.done:
            by_member.setdefault(m["mid"], []).append(m)
        for mid, moves in by_member.items():
            ledger = entries(self.env, mid)
            ids = [e["id"] for e in ledger]
            assert len(ids) == len(set(ids))
            keys = {}
            for e in ledger:
                k = e.get("order_id") or e.get("idempotency_key")
                if k and k.startswith(self.name + "-"):
                    keys.setdefault(k, []).append(e["id"])
            for m in moves:
                assert keys.get(m["key"]) == [m["answer"]["transaction_id"]], \
                    (mid, m, keys.get(m["key"]))
            assert len(keys) == len(moves), (mid, len(keys), len(moves))
            rec = self.env.admin("GET", f"members/{mid}").json
            assert rec["balance_fen"] == want[mid], (mid, rec["balance_fen"], want[mid])


def shoppers(env, till, n, prefix):
    """n members with money and a ticket each: id -> ticket, and their
    balances."""
    members, balances = {}, {}
    for i in range(n):
        mid, _ = env.member(f"{prefix}{i}")
        r = env.admin("POST", f"members/{mid}/recharge",
                      {"amount_fen": SEED_FEN, "idempotency_key": f"seed-{prefix}{i}"})
        assert r.status == 200, r
        balances[mid] = r.json["balance_fen"]
        v = till.verify(code_of(mid))
        assert v.status == 200, v
        members[mid] = v.json["ticket"]
        env.secrets.append(members[mid].split(".")[-1])
    return members, balances


def others(rc, master):
    return [m for m in rc.masters() if m is not master]


# ----------------------------------------------------------------------------
# resharding under load


def test_resharding_under_load_applies_every_move_once(env):
    """Slots move while 12 threads pay and recharge: the members' own slots
    one by one (MIGRATING/IMPORTING, half the keys moved while requests run:
    ASK), the brand's slot, then 300 slots with redis-cli --cluster
    reshard; every move applied exactly once, the balances their ledgers'."""
    env.secrets = getattr(env, "secrets", [])
    rc = env.rc
    till = Till(env, "C-RESHARD")
    members, balances = shoppers(env, till, 24, "rs")
    moves = Moves(env, till, members, "rs")
    # the slots of 8 members and the brand's
    slots = sorted({rc.slot_of(f"{{m:{mid}}}") for mid in list(members)[:8]}
                   | {rc.slot_of("{b}")})
    done = threading.Event()
    moved = []
    window = {}

    def resharder():
        try:
            time.sleep(0.3)
            window["start"] = time.monotonic()
            for slot in slots:
                src = rc.master_of_slot(slot)
                dst = random.choice(others(rc, src))
                rc.move_slot(slot, dst, between=lambda: time.sleep(0.2), wait=False)
                moved.append((slot, src.port, dst.port))
            rc.wait_ok()
            window["landed"] = [rc.master_of_slot(slot).port == dst for slot, _, dst in moved]
            a, b = rc.masters()[:2]
            rc.reshard(a, b, 200)
            moved.append(("reshard", a.port, b.port))
            window["end"] = time.monotonic()
        finally:
            done.set()

    t0 = time.monotonic()
    r = threading.Thread(target=resharder)
    r.start()
    workers = moves.run(RESHARD_MOVES, until=done.is_set)
    for t in workers + [r]:
        t.join(timeout=120)
    assert done.is_set() and len(moved) == len(slots) + 1, moved
    took = time.monotonic() - t0
    moves.check(balances)
    # the load ran while the slots moved, not only before or after
    during = [t for t, st, _ in moves.events if st == 200 and window["start"] <= t <= window["end"]]
    assert len(during) >= 50, len(during)
    assert all(window["landed"]), moved       # each slot where it was moved
    reconciled(env)
    print(f"     {len(moves.done)} moves in {took:.1f} s, {len(during)} answered while "
          f"{len(slots)} slots and 200 more moved; "
          f"{sum(m['tries'] for m in moves.done) - len(moves.done)} retries")


# ----------------------------------------------------------------------------
# a master killed under load


@harness.own_env(cluster=True, extra_http="member_redis_replicas 1 400ms;")
def test_a_master_killed_under_load(env):
    """SIGKILL of the master of most members while 12 threads pay and
    recharge: a replica takes over, requests of its slots answer 200
    again within 10 s of its promotion, and with member_redis_replicas 1
    every move acknowledged before or after the kill is in its ledger (the
    master has two replicas, so that WAIT 1 still has one after the
    failover)."""
    env.secrets = getattr(env, "secrets", [])
    rc = env.rc
    till = Till(env, "C-KILL")
    members, balances = shoppers(env, till, 24, "kl")
    by_master = {}
    for mid in members:
        by_master.setdefault(rc.master_of(f"{{m:{mid}}}").port, []).append(mid)
    victim = rc.by_port(max(by_master, key=lambda p: len(by_master[p])))
    on_victim = set(by_master[victim.port])
    # a spare: the slots keep a replica for WAIT once the first took over
    rc.add_replica(victim)
    moves = Moves(env, till, members, "kl")
    state = {}
    done = threading.Event()

    def killer():
        try:
            time.sleep(1.0)
            state["killed"] = time.monotonic()
            rc.kill(victim)
            state["replica"], state["promoted"] = rc.wait_promoted(victim, timeout=60)
            time.sleep(1.5)         # requests after the promotion
        except Exception as e:      # the assertion below says why
            state["error"] = repr(e)
        finally:
            done.set()

    k = threading.Thread(target=killer)
    k.start()
    workers = moves.run(KILL_MOVES, until=done.is_set)
    for t in workers + [k]:
        t.join(timeout=120)
    assert "promoted" in state, state
    rc.start(victim)            # back, as a replica of the new master
    rc.wait_ok()
    promoted = state["promoted"]
    after = [t for t, st, mid in moves.events if st == 200 and mid in on_victim and t > promoted]
    assert after, "no request of the killed master's slots answered after the promotion"
    assert min(after) - promoted <= 10, min(after) - promoted
    unavailable = [t for t, st, mid in moves.events if st in (503, None) and mid in on_victim]
    moves.check(balances)
    reconciled(env)
    print(f"     {len(moves.done)} moves; promoted {promoted - state['killed']:.1f} s after "
          f"the kill, first 200 {min(after) - promoted:.2f} s after; "
          f"{len(unavailable)} answers 503 or none")


# ----------------------------------------------------------------------------
# the stores' ledgers in the stores' slots, not the brand's


def test_store_ledgers_are_written_in_the_stores_slots(env):
    """After pays at two stores the fold has copied each entry into its
    store's own ledger, {s:<store>}:ledger, once, on the master of that
    store's slot; the brand's slot gets no {b}:store:<id>:ledger."""
    env.secrets = getattr(env, "secrets", [])
    tills = [Till(env, "C-SLOT1"), Till(env, "C-SLOT2")]
    paid = {}
    for k, till in enumerate(tills):
        members, _ = shoppers(env, till, 2, f"slot{k}-")
        for mid, ticket in members.items():
            for i in range(3):
                r = till.call("pay", {"ticket": ticket, "amount_fen": 100 + i,
                                      "order_id": f"slot{k}-{mid}-{i}"})
                assert r.status == 200, r
                paid.setdefault(till.store_id, []).append((str(mid), r.json["transaction_id"]))
    harness.wait_until("the fold", lambda: all(
        env.rcli("XLEN", "{s:%s}:ledger" % s) == str(len(p)) for s, p in paid.items()),
        timeout=30)
    brand_slot = env.rc.slot_of("{b}")
    for store, want in paid.items():
        key = "{s:%s}:ledger" % store
        items = env.admin("GET", f"stores/{store}/transactions?limit=100").json["items"]
        assert sorted((i["member_id"], i["transaction_id"]) for i in items) == sorted(want)
        assert env.rcli("EXISTS", "{b}:store:%s:ledger" % store) == "0"
        assert env.rc.slot_of(key) == env.rc.slot_of("{s:%s}" % store) != brand_slot
    assert env.keys("{b}:store:*") == [], env.keys("{b}:store:*")
    reconciled(env)


# ----------------------------------------------------------------------------
# two brands, two nginx nodes


# brand b's server block, on the second app; brand a is the Env's own server
BRANDS = {"cluster": True, "brand2": True, "workers": 2, "extra_server": "member_brand a;",
          "extra_http": harness.brand_server("b", app=2)}


def brand_view(env, brand, port=None):
    """env as brand's server: its port, and rcli in its namespace."""
    b = copy.copy(env)
    b.brand = brand
    if port:
        b.port = port
    if brand == "b":
        b.fake_port = env.fake2_port
    return b


def leases(env):
    """lease key -> owner, for every brand (ledger:lease in each namespace)."""
    return {k: env.rcli("GET", k) for k in env.keys("*ledger:lease*")}


def owner_pid(owner):
    """the pid of a lease's owner, <host>:<pid>"""
    return int(owner.rsplit(":", 1)[1])


def worker_pids(*envs):
    return {p for e in envs for p in e.worker_pids()}


@harness.own_env(**BRANDS)
def test_two_brands_same_member_ids_two_nodes(env):
    """Brands a and b on one cluster and two nginx nodes: each hands out
    member ids from 1 and sees only its own; each node serves either
    brand's members the same; pays and recharges through both nodes are
    applied once; and each brand's jobs have one lease at a time whose
    owner is a worker of one of the nodes, taken over when it dies."""
    env.secrets = getattr(env, "secrets", [])
    peer = env.peer(workers=2)
    a, b = brand_view(env, "a"), brand_view(env, "b", env.port2)
    pa, pb = brand_view(peer, "a"), brand_view(peer, "b", peer.port2)
    ids = {}
    for view, amount in ((a, 11100), (b, 22200)):
        for i in range(3):
            mid, card = view.member(f"same{i}")
            r = view.admin("POST", f"members/{mid}/recharge",
                           {"amount_fen": amount + i, "idempotency_key": f"same{i}"})
            assert r.status == 200, r
            ids.setdefault(view.brand, []).append(mid)
    assert ids["a"] == ids["b"], ids                    # the same ids, one counter each
    for mid in ids["a"]:
        ra = a.admin("GET", f"members/{mid}").json
        rb = b.admin("GET", f"members/{mid}").json
        assert ra["balance_fen"] != rb["balance_fen"], (ra, rb)
        assert ra["balance_fen"] % 100 == rb["balance_fen"] % 100      # amount + i each
        # the other node answers the same
        assert pa.admin("GET", f"members/{mid}").json == ra
        assert pb.admin("GET", f"members/{mid}").json == rb
        ta = [e["amount_fen"] for e in entries(a, mid)]
        tb = [e["amount_fen"] for e in entries(b, mid)]
        assert len(ta) == len(tb) == 1 and ta != tb, (ta, tb)
        # each brand's keys in its namespace, none in the plain one
        assert a.rcli("HGET", f"{{m:{mid}}}", "balance_fen") == str(ra["balance_fen"])
        assert b.rcli("HGET", f"{{m:{mid}}}", "balance_fen") == str(rb["balance_fen"])
    assert not env.keys("{m:1}*"), env.keys("{m:1}*")
    assert env.keys("{m:a:1}*") and env.keys("{m:b:1}*")
    # a brand's session opens nothing of the other's
    ta = a.login("same0").json["token"]
    assert a.api("card", ta).status == 200
    assert b.api("card", ta).status == 401
    # pays and recharges of both brands through both nodes, once each
    for view, node, name in ((a, pa, "A"), (b, pb, "B")):
        till = Till(view, "C-" + name)
        env.secrets.append(till.secret)
        members = {}
        balances = {}
        for mid in ids[view.brand]:
            v = till.verify(code_of(mid))
            assert v.status == 200, v
            members[mid] = v.json["ticket"]
            env.secrets.append(members[mid].split(".")[-1])
            balances[mid] = view.admin("GET", f"members/{mid}").json["balance_fen"]
        moves = Moves(view, till, members, "br" + name, nodes=[view, node])
        for t in moves.run(150, threads=6):
            t.join(timeout=60)
        moves.check(balances)
    # each brand's store ledger in its store's slot, in the brand's namespace
    for view, name in ((a, "A"), (b, "B")):
        harness.wait_until("brand %s's fold" % view.brand,
                           lambda: harness.waiting(view, "fold") == 0, timeout=30)
        assert int(view.rcli("XLEN", "{s:C-%s}:ledger" % name)) > 0
        assert env.keys("{s:%s:C-%s}:ledger" % (view.brand, name)) \
            == ["{s:%s:C-%s}:ledger" % (view.brand, name)]
        assert view.rcli("EXISTS", "{b}:store:C-%s:ledger" % name) == "0"
    assert env.keys("*store:*") == [], env.keys("*store:*")
    # one lease per brand, held by a worker of one node, not changing hands
    pids = worker_pids(env, peer)
    seen = {}
    end = time.monotonic() + 3
    while time.monotonic() < end:
        now = leases(env)
        for k, owner in now.items():
            seen.setdefault(k, [])
            if not seen[k] or seen[k][-1] != owner:
                seen[k].append(owner)
        time.sleep(0.1)
    assert len(seen) == 2 and all(k.startswith(("a:", "b:")) for k in seen), seen
    for k, owners in seen.items():
        assert len(owners) == 1, (k, owners)
        assert owner_pid(owners[0]) in pids, (k, owners, pids)
    # the owner of brand a's lease goes (SIGQUIT: a worker's graceful end,
    # which its master answers with a new worker): another one takes it
    key = next(k for k in seen if k.startswith("a:"))
    gone = owner_pid(seen[key][0])
    os.kill(gone, signal.SIGQUIT)
    t0 = time.monotonic()

    def taken_over():
        now = env.rcli("GET", key)
        return now and owner_pid(now) != gone
    harness.wait_until("the lease taken over", taken_over, timeout=15)
    owner = owner_pid(env.rcli("GET", key))
    assert owner in worker_pids(env, peer), (owner, worker_pids(env, peer))
    print(f"     brand a's lease went from worker {gone} to {owner} in "
          f"{time.monotonic() - t0:.1f} s")
