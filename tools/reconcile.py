#!/usr/bin/env python3
"""Proves the ledger (docs/ledger.md): for every member, the totals of the
member hash equal the sums of its ledger's deltas, its points lots sum
to its points, and every coupon marked used is one it was issued; then,
brand-wide, that the fold's numbers ({b}:totals, the
day buckets {b}:day:*, the store ledgers {s:<store>}:ledger with those
of before {b}:store:*:ledger, the stores' cursors {s:<store>}:copied and
the cursors {b}:cursors) equal what the members' ledgers and records say
once the fold has caught up; and prints the brand's liabilities (stored value
owed, principal and bonus, and points outstanding).

    tools/reconcile.py [--redis HOST:PORT|PATH] [-h HOST] [-p PORT] [-s SOCKET]
                       [-n DB] [-a PASSWORD] [--brand ID] [--wait SECONDS]
                       [--rescan] [--no-fold] [--json]

On a Redis Cluster (the node named says cluster_enabled:1) it reads every
master: SCAN on each, every other command sent to the master of its key's
slot (CRC16, the map from CLUSTER SLOTS, read again after a MOVED).

--brand ID reads the brand of a server block with `member_brand ID` on a
shared Redis (docs/keys.md, "Brands"): every key gets the brand as the
module's Redis layer puts it ({m:1} is {m:ID:1}, {b} {b:ID}), a SCAN's
MATCH too, and the keys it reads back lose it.

--rescan hints every member in its bucket of the fold first ({b:fold:<id mod
16>}, as POST fold/rescan does),
so that hints lost in a crash are made again; --wait is how long the fold
may take to catch up (default 15 s).  Reads only, but for --rescan.  Exit
status 0 when everything agrees, 1 when something does not (each problem
is printed), 2 when Redis cannot be read.
"""

import argparse
import collections
import json
import re
import sys
import time

import resp

MEMBER = re.compile(rb"^\{m:(\d+)\}$")
STORE = re.compile(rb"^\{b\}:store:(.+):ledger$")
STORE_LEDGER = re.compile(rb"^\{s:([A-Za-z0-9_-]+)\}:ledger$")
DAY = re.compile(rb"^\{b\}:day:(\d{4}-\d\d-\d\d)$")
TZ = 8 * 3600


class Cluster:
    """Every master of a Redis Cluster as one connection: a command of a key
    goes to its slot's master, SCAN walks every master."""

    def __init__(self, seed, password=None):
        self.seed = seed
        self.password = password
        self.conns = {}
        self.refresh()

    def node(self, addr):
        if addr not in self.conns:
            self.conns[addr] = resp.Conn(addr[0], addr[1], password=self.password)
        return self.conns[addr]

    def refresh(self):
        self.slots = [None] * 16384
        for first, last, master, *_ in self.seed.call("CLUSTER", "SLOTS"):
            addr = (master[0].decode() or self.seed.sock.getpeername()[0], int(master[1]))
            for s in range(first, last + 1):
                self.slots[s] = addr
        self.masters = sorted(set(a for a in self.slots if a))

    def call(self, *args):
        if args[0] == "SCAN":
            raise RuntimeError("SCAN goes to each master (scan())")
        for _ in range(3):
            try:
                return self.node(self.slots[resp.key_slot(args[1])]).call(*args)
            except RuntimeError as e:
                if not str(e).startswith(("MOVED", "TRYAGAIN", "CLUSTERDOWN")):
                    raise
                time.sleep(0.1)
                self.refresh()
        return self.node(self.slots[resp.key_slot(args[1])]).call(*args)


def brand_at(key):
    """Where keyspace/mks_brand.c puts a brand: after the first word of the
    key's hash tag (at, True), or in front of a key of no tag (0, False)."""
    start = key.find(b"{")
    end = key.find(b"}", start + 1) if start >= 0 else -1
    if end <= start + 1:
        return 0, False
    colon = key.find(b":", start + 1, end)
    return (colon if colon >= 0 else end), True


def brand_key(brand, key):
    key = key if isinstance(key, bytes) else str(key).encode()
    at, tagged = brand_at(key)
    if tagged:
        return key[:at] + b":" + brand + key[at:]
    return brand + b":" + key


def unbrand_key(brand, key):
    """The template name of a key read back, None when not the brand's."""
    at, tagged = brand_at(key)
    n = len(brand) + 1
    if tagged:
        if key[at:at + n] == b":" + brand and key[at + n:at + n + 1] in (b":", b"}"):
            return key[:at] + key[at + n:]
        return None
    return key[n:] if key[:n] == brand + b":" else None


class Branded:
    """A brand's namespace over a Redis or a Cluster: every command this
    tool sends names one key, argv[1], but SCAN, whose keys scan() reads
    back without the brand."""

    def __init__(self, r, brand):
        self.r = r
        self.brand = brand.encode()

    def call(self, *args):
        if args[0] == "SCAN":
            raise RuntimeError("SCAN of a brand goes through scan()")
        return self.r.call(args[0], brand_key(self.brand, args[1]), *args[2:])


def pairs(flat):
    return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}


def num(d, k):
    return int(d.get(k) or 0)


def scan(r, pattern):
    if isinstance(r, Branded):
        for k in scan(r.r, brand_key(r.brand, pattern)):
            k = unbrand_key(r.brand, k)
            if k is not None:
                yield k
        return
    if isinstance(r, Cluster):
        for addr in r.masters:
            yield from scan(r.node(addr), pattern)
        return
    cursor = b"0"
    while True:
        cursor, keys = r.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
        yield from keys
        if cursor == b"0":
            return


def member_ids(r):
    for k in scan(r, "{m:*}"):
        m = MEMBER.match(k)
        if m:
            yield int(m.group(1))


def ledger(r, key):
    start = "-"
    while True:
        page = r.call("XRANGE", key, start, "+", "COUNT", 1000)
        for eid, fields in page:
            yield eid.decode(), pairs(fields)
        if len(page) < 1000:
            return
        start = "(" + page[-1][0].decode()


def deltas(e):
    """(principal, bonus, points) an entry moves (docs/ledger.md)"""
    if e.get("type") == "recharge":
        return num(e, "amount_fen"), num(e, "bonus_fen"), num(e, "points_delta")
    return num(e, "principal_fen"), num(e, "bonus_fen"), num(e, "points_delta")


def day_of(eid, e):
    ts = int(e["ts"]) if e.get("ts") else int(eid.split("-")[0]) // 1000
    return time.strftime("%Y-%m-%d", time.gmtime(ts + TZ))


def channel_of(e):
    """a recharge's channel, or its refund's (fold.lua): none is admin"""
    c = e.get("channel", "admin")
    return c if re.fullmatch(r"[a-z0-9_]{1,16}", c) else "other"


def day_fields(e):
    """what an entry adds to its day bucket (fold.lua)"""
    t = e.get("type", "")
    if t == "refund" and e.get("of") == "recharge":
        t = "recharge_refund"
    p, b, pts = deltas(e)
    d = collections.Counter()
    if t:
        d[t] += 1
    d["principal_delta_fen"] += p
    d["bonus_delta_fen"] += b
    d["points_delta"] += pts
    if t == "recharge":
        d["recharge_fen"] += num(e, "amount_fen")
        d["bonus_fen"] += num(e, "bonus_fen")
        c = channel_of(e)
        if c != "admin":
            d[f"recharge_{c}_fen"] += num(e, "amount_fen")
            d[f"bonus_{c}_fen"] += num(e, "bonus_fen")
            d[f"liability_{c}_delta_fen"] += p + b
    elif t in ("pay", "earn"):
        d[t + "_fen"] += num(e, "paid_fen")
        d["sales_fen"] += num(e, "paid_fen")
        d["redeemed_fen"] += num(e, "redeemed_fen")
        d["points_earned"] += num(e, "points_earned")
        d["points_redeemed"] += num(e, "points_redeemed")
    elif t == "refund":
        d["refund_fen"] += num(e, "refunded_fen")
        d["sales_fen"] += num(e, "paid_fen")
        d["points_returned"] += num(e, "points_returned")
        d["points_restored"] += num(e, "points_restored")
    elif t == "recharge_refund":
        d["recharge_refund_fen"] += num(e, "refunded_fen")
        c = channel_of(e)
        if c != "admin":
            d[f"recharge_refund_{c}_fen"] += num(e, "refunded_fen")
            d[f"liability_{c}_delta_fen"] += p + b
    elif t == "expire":
        d["points_expired"] -= pts
    elif t == "adjust":
        d["points_adjusted"] += pts
    return d


def counted(status):
    return status not in ("", "visitor", "deleted")


class Brand:
    """what the fold's numbers must be, computed from the members"""

    def __init__(self):
        self.totals = collections.Counter()
        self.days = collections.defaultdict(collections.Counter)
        self.stores = collections.defaultdict(collections.Counter)
        self.cursors = {}

    def member(self, mid, m):
        status = m.get("status", "")
        if status:
            self.totals["status:" + status] += 1
        if counted(status):
            self.totals["level:" + m.get("level", "")] += 1
        if status and status != "visitor":
            at = m.get("activated_at") or m.get("created_at")
            if at:
                day = time.strftime("%Y-%m-%d", time.gmtime(int(at) + TZ))
                self.days[day]["new_members"] += 1

    def entry(self, mid, eid, e):
        p, b, pts = deltas(e)
        self.totals.update({"principal_fen": p, "bonus_fen": b, "balance_fen": p + b,
                            "points": pts, "entries": 1})
        if (e.get("type") == "recharge" or (e.get("type") == "refund"
                                            and e.get("of") == "recharge")) \
                and channel_of(e) != "admin":
            self.totals[f"liability_{channel_of(e)}_fen"] += p + b
        self.days[day_of(eid, e)].update(day_fields(e))
        if e.get("store_id"):
            self.stores[e["store_id"]][(str(mid), eid)] += 1
        self.cursors[str(mid)] = eid


def clean(c):
    return {k: v for k, v in c.items() if v}


def check_fold(r, brand):
    """the fold's keys against what the members say; a list of problems"""
    problems = []
    have = clean(collections.Counter({k: int(v) for k, v in
                                      pairs(r.call("HGETALL", "{b}:totals")).items()}))
    want = clean(brand.totals)
    for k in sorted(set(have) | set(want)):
        if have.get(k, 0) != want.get(k, 0):
            problems.append(f"{{b}}:totals {k} = {have.get(k, 0)}, the members say {want.get(k, 0)}")
    days = {}
    for k in scan(r, "{b}:day:*"):
        m = DAY.match(k)
        if m:
            days[m.group(1).decode()] = clean(collections.Counter(
                {f: int(v) for f, v in pairs(r.call("HGETALL", k)).items()}))
    for day in sorted(set(days) | set(brand.days)):
        h, w = days.get(day, {}), clean(brand.days.get(day, {}))
        if h != w:
            diff = {f: (h.get(f, 0), w.get(f, 0)) for f in set(h) | set(w)
                    if h.get(f, 0) != w.get(f, 0)}
            problems.append(f"{{b}}:day:{day} (have, want): {diff}")
    # a store's ledger: its own slot's, and the copies of before in {b}
    stores = collections.defaultdict(collections.Counter)
    for pattern, regex in (("{b}:store:*:ledger", STORE), ("{s:*}:ledger", STORE_LEDGER)):
        for k in scan(r, pattern):
            m = regex.match(k)
            if not m:
                continue
            s = m.group(1).decode()
            last = {}
            for _, e in ledger(r, k):
                stores[s][(e.get("member_id"), e.get("transaction_id"))] += 1
                last[e.get("member_id")] = e.get("transaction_id")
            if regex is STORE_LEDGER:
                copied = pairs(r.call("HGETALL", "{s:%s}:copied" % s))
                if copied != last:
                    problems.append(f"{{s:{s}}}:copied {copied}, its ledger's last "
                                    f"entries {last}")
    for s in sorted(set(stores) | set(brand.stores)):
        h, w = stores.get(s, collections.Counter()), brand.stores.get(s, collections.Counter())
        if h != w:
            twice = sum(1 for v in h.values() if v > 1)
            problems.append(f"the ledger of store {s} ({{s:{s}}}:ledger and "
                            f"{{b}}:store:{s}:ledger) holds {sum(h.values())} entries "
                            f"({twice} twice), the members' ledgers {sum(w.values())}")
    cursors = pairs(r.call("HGETALL", "{b}:cursors"))
    for mid in sorted(set(cursors) | set(brand.cursors), key=int):
        if cursors.get(mid) != brand.cursors.get(mid):
            problems.append(f"{{b}}:cursors member {mid}: {cursors.get(mid)}, "
                            f"its last entry {brand.cursors.get(mid)}")
    return problems


# The fold's hints are spread over 16 buckets, each a slot of its own
# (docs/keys.md); members hinted before the buckets wait in {b}:fold.
BUCKETS = 16
FOLD_SOURCES = ["{b:fold:%d}" % i for i in range(BUCKETS)] + ["{b}:fold"]


def hint_all(r):
    now = int(time.time() * 1000)
    for mid in member_ids(r):
        fold = "{b:fold:%d}" % (int(mid) % BUCKETS)
        r.call("HINCRBY", fold + ":gen", mid, 1)
        r.call("ZADD", fold, "NX", now, mid)


def waiting(r):
    return sum(r.call("ZCARD", k) for k in FOLD_SOURCES)


def wait_fold(r, seconds):
    end = time.monotonic() + seconds
    while waiting(r) or r.call("EXISTS", "{b}:fold:rescan"):
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def reconcile(r, fold=True):
    problems = []
    brand = Brand()
    totals = {"members": 0, "entries": 0, "principal_fen": 0, "bonus_fen": 0,
              "balance_fen": 0, "points": 0}
    for mid in member_ids(r):
        m = pairs(r.call("HGETALL", f"{{m:{mid}}}"))
        brand.member(mid, m)
        p = b = pts = n = 0
        for eid, e in ledger(r, f"{{m:{mid}}}:ledger"):
            dp, db, dpts = deltas(e)
            p, b, pts, n = p + dp, b + db, pts + dpts, n + 1
            brand.entry(mid, eid, e)
        if m.get("status") in (None, "visitor") and n == 0:
            continue
        lots = pairs(r.call("HGETALL", f"{{m:{mid}}}:lots"))
        in_lots = sum(int(v) for v in lots.values())
        have = (num(m, "principal_fen"), num(m, "bonus_fen"), num(m, "points"))
        bad = []
        if have != (p, b, pts):
            bad.append(f"hash (principal, bonus, points) {have} != ledger {(p, b, pts)}")
        if num(m, "balance_fen") != num(m, "principal_fen") + num(m, "bonus_fen"):
            bad.append("balance_fen != principal_fen + bonus_fen")
        if num(m, "points") != in_lots - num(m, "points_debt"):
            bad.append(f"points {num(m, 'points')} != lots {in_lots} - debt {num(m, 'points_debt')}")
        if min(have[0], have[1], num(m, "points_debt")) < 0 or any(int(v) < 0 for v in lots.values()):
            bad.append("a negative principal, bonus, debt or lot")
        used = pairs(r.call("HGETALL", f"{{m:{mid}}}:coupons:used"))
        if used and any(not r.call("HEXISTS", f"{{m:{mid}}}:coupons", c) for c in used):
            bad.append("a used coupon the member was never issued")
        if bad:
            problems.append((mid, bad))
        totals["members"] += 1
        totals["entries"] += n
        totals["principal_fen"] += p
        totals["bonus_fen"] += b
        totals["balance_fen"] += p + b
        totals["points"] += pts
    if fold:
        problems += [("brand", [p]) for p in check_fold(r, brand)]
    return totals, problems


def connect(a):
    r = connect_one(a)
    if b"cluster_enabled:1" in r.call("INFO", "cluster"):
        return Cluster(r, a.password)
    return r


def connect_one(a):
    spec = a.redis
    if spec and (spec.startswith("/") or spec.startswith(".")):
        return resp.Conn(path=spec, password=a.password, db=a.db)
    if spec:
        host, _, port = spec.rpartition(":")
        return resp.Conn(host or "127.0.0.1", int(port), password=a.password, db=a.db)
    if a.socket:
        return resp.Conn(path=a.socket, password=a.password, db=a.db)
    return resp.Conn(a.host, a.port, password=a.password, db=a.db)


def main():
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--redis", help="HOST:PORT or the path of a unix socket")
    ap.add_argument("-h", "--host", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int, default=6379)
    ap.add_argument("-s", "--socket")
    ap.add_argument("-n", "--db", type=int, default=0)
    ap.add_argument("-a", "--password")
    ap.add_argument("--brand", help="the member_brand ID of the brand to read")
    ap.add_argument("--wait", type=float, default=15.0)
    ap.add_argument("--rescan", action="store_true")
    ap.add_argument("--no-fold", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--help", action="help")
    a = ap.parse_args()
    behind = False
    try:
        r = connect(a)
        if a.brand:
            if not re.fullmatch(r"[a-z0-9_-]{1,32}", a.brand):
                print(f"reconcile: --brand {a.brand!r}: 1 to 32 of a-z, 0-9, _ and -",
                      file=sys.stderr)
                return 2
            r = Branded(r, a.brand)
        if a.rescan:
            hint_all(r)
        if not a.no_fold:
            behind = not wait_fold(r, a.wait)
        totals, problems = reconcile(r, fold=not a.no_fold and not behind)
    except (OSError, RuntimeError) as e:
        print(f"reconcile: cannot read Redis: {e}", file=sys.stderr)
        return 2
    if behind:
        problems.append(("brand", [f"the fold has not caught up within {a.wait:g} s"]))
    if a.json:
        print(json.dumps({"totals": totals, "problems": problems}))
    else:
        for mid, bad in problems:
            print(f"member {mid}: " + "; ".join(bad) if mid != "brand" else "brand: " + "; ".join(bad))
        print("liabilities: stored value owed {balance_fen} fen (principal {principal_fen}, "
              "bonus {bonus_fen}); points outstanding {points}; "
              "{members} members, {entries} ledger entries".format(**totals))
        print("reconcile: " + ("ok" if not problems else f"{len(problems)} problems"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
