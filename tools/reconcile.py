#!/usr/bin/env python3
"""Proves the ledger (docs/ledger.md): for every member, the totals of the
member hash equal the sums of its ledger's deltas, its points lots sum
to its points, and every coupon marked used is one it was issued; then
prints the brand's liabilities (stored value owed, principal and bonus,
and points outstanding) as those sums.

    tools/reconcile.py [-h HOST] [-p PORT] [-n DB] [-a PASSWORD] [--json]

Reads only (SCAN, HGETALL, XRANGE).  Exit status 0 when everything agrees,
1 when a member does not (each one is printed), 2 when Redis cannot be read.
"""

import argparse
import json
import re
import socket
import sys

MEMBER = re.compile(rb"^\{m:(\d+)\}$")


class Redis:
    """The smallest RESP client: enough for SCAN, HGETALL and XRANGE."""

    def __init__(self, host, port, password=None, db=0):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buf = self.sock.makefile("rb")
        if password:
            self.call("AUTH", password)
        if db:
            self.call("SELECT", str(db))

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self.read()

    def read(self):
        line = self.buf.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.buf.read(n + 2)[:-2]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("unexpected reply %r" % line)


def pairs(flat):
    return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}


def num(d, k):
    return int(d.get(k) or 0)


def member_ids(r):
    cursor = b"0"
    while True:
        cursor, keys = r.call("SCAN", cursor, "MATCH", "{m:*}", "COUNT", 1000)
        for k in keys:
            m = MEMBER.match(k)
            if m:
                yield int(m.group(1))
        if cursor == b"0":
            return


def ledger_sums(r, mid):
    principal = bonus = points = entries = 0
    start = "-"
    while True:
        page = r.call("XRANGE", f"{{m:{mid}}}:ledger", start, "+", "COUNT", 1000)
        for eid, fields in page:
            e = pairs(fields)
            entries += 1
            if e.get("type") == "recharge":
                principal += num(e, "amount_fen")
                bonus += num(e, "bonus_fen")
            else:
                principal += num(e, "principal_fen")
                bonus += num(e, "bonus_fen")
            points += num(e, "points_delta")
        if len(page) < 1000:
            return principal, bonus, points, entries
        start = "(" + page[-1][0].decode()


def reconcile(r):
    problems = []
    totals = {"members": 0, "entries": 0, "principal_fen": 0, "bonus_fen": 0,
              "balance_fen": 0, "points": 0}
    for mid in member_ids(r):
        m = pairs(r.call("HGETALL", f"{{m:{mid}}}"))
        if m.get("status") in (None, "visitor") and not r.call("EXISTS", f"{{m:{mid}}}:ledger"):
            continue
        p, b, pts, n = ledger_sums(r, mid)
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
    return totals, problems


def main():
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("-h", "--host", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int, default=6379)
    ap.add_argument("-n", "--db", type=int, default=0)
    ap.add_argument("-a", "--password")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--help", action="help")
    a = ap.parse_args()
    try:
        totals, problems = reconcile(Redis(a.host, a.port, a.password, a.db))
    except (OSError, RuntimeError) as e:
        print(f"reconcile: cannot read Redis: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps({"totals": totals, "problems": problems}))
    else:
        for mid, bad in problems:
            print(f"member {mid}: " + "; ".join(bad))
        print("liabilities: stored value owed {balance_fen} fen (principal {principal_fen}, "
              "bonus {bonus_fen}); points outstanding {points}; "
              "{members} members, {entries} ledger entries".format(**totals))
        print("reconcile: " + ("ok" if not problems else f"{len(problems)} members disagree"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
