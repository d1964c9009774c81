#!/usr/bin/env python3
"""The pay benchmark's requests: stores, tickets and signed POST /scan/pay
lines for wrk/pay.lua, each line to be sent once.

    pay_prep.py --port PORT --admin-token-file F --code-secret-file F
                --member-code build/member-code --members K --stores S
                --prefix P --count N --out pays.txt [--warm N --warm-out warm.txt]

Makes S stores (POST /admin/stores; their secrets kept in memory only),
takes K seeded members whose balance (seed.py's formula) is at least
10,000 yuan, verifies each one's current code at store (member mod S) to
get its ticket (one keep-alive connection), checks one pay (200, and the
same order again the same answer), then writes N lines (and --warm more
to --warm-out), members in turn:

    <store> <timestamp> <nonce> <signature> <body>

the body {"ticket":...,"amount_fen":100,"order_id":"<prefix>-<n>"} (JSON,
no space) and the signature the contract's over exactly that body.
Standard library only.  Prints what it did to stderr; exit status 1 when a
step failed.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import time


def seeded_balance(i):
    return (i * 104729) % 10000000         # seed.py


def signed(secret, path, body, ts, nonce):
    msg = b"POST\n" + path + b"\n" + ts + b"\n" + nonce + b"\n" + \
        hashlib.sha256(body).hexdigest().encode()
    return hmac.digest(secret, msg, "sha256").hex().encode()


class Client:
    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def call(self, method, path, body, headers):
        self.c.request(method, path, body=body, headers=headers)
        r = self.c.getresponse()
        return r.status, r.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--admin-token-file", required=True)
    ap.add_argument("--code-secret-file", required=True)
    ap.add_argument("--member-code", required=True)
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--stores", type=int, default=16)
    ap.add_argument("--max-id", type=int, default=100000)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--warm", type=int, default=0)
    ap.add_argument("--warm-out")
    a = ap.parse_args()
    admin = open(a.admin_token_file).read().strip()
    code_secret = open(a.code_secret_file).read().strip()
    c = Client(a.port)

    stores = {}
    for s in range(a.stores):
        sid = f"{a.prefix}-s{s}"
        st, body = c.call("POST", "/admin/stores", json.dumps({"store_id": sid, "name": sid}),
                          {"Authorization": "Bearer " + admin,
                           "Content-Type": "application/json"})
        if st != 201:
            sys.exit(f"pay_prep: POST /admin/stores: {st} {body[:200]!r}")
        stores[sid] = json.loads(body)["secret"].encode()
    sids = sorted(stores)

    ids = [i for i in range(1, a.max_id + 1) if seeded_balance(i) >= 1000000][:a.members]

    def codes_now(batch):
        """the members' codes this second (build/member-code)"""
        o = subprocess.run([a.member_code, code_secret, "30", str(int(time.time())),
                            *map(str, batch)], capture_output=True, text=True, check=True)
        return {int(x.split()[0]): x.split()[1] for x in o.stdout.splitlines() if x.strip()}

    tickets = {}
    t0 = time.monotonic()
    codes = {}
    for k, i in enumerate(ids):
        if k % 100 == 0:            # fresh codes: verifying 2,000 takes seconds
            codes = codes_now(ids[k:k + 100])
        sid = sids[k % len(sids)]
        body = json.dumps({"code": codes[i]}, separators=(",", ":")).encode()
        ts, nonce = str(int(time.time())).encode(), os.urandom(8).hex().encode()
        st, r = c.call("POST", "/scan/verify", body, {
            "Content-Type": "application/json", "X-Member-Store": sid,
            "X-Member-Timestamp": ts, "X-Member-Nonce": nonce,
            "X-Member-Signature": signed(stores[sid], b"/scan/verify", body, ts, nonce)})
        if st != 200:
            sys.exit(f"pay_prep: verify of member {i}: {st} {r[:200]!r}")
        tickets[i] = (sid, json.loads(r)["ticket"])
    print(f"pay_prep: {len(sids)} stores, {len(tickets)} tickets in "
          f"{time.monotonic() - t0:.1f} s", file=sys.stderr)

    def line(n, ts):
        i = ids[n % len(ids)]
        sid, ticket = tickets[i]
        body = json.dumps({"ticket": ticket, "amount_fen": 100,
                           "order_id": f"{a.prefix}-{n}"}, separators=(",", ":")).encode()
        nonce = os.urandom(8).hex().encode()
        return sid.encode(), ts, nonce, signed(stores[sid], b"/scan/pay", body, ts, nonce), body

    # the check: one pay, and the same order again
    sid, ts, nonce, sig, body = line(0, str(int(time.time())).encode())
    h = {"Content-Type": "application/json", "X-Member-Store": sid, "X-Member-Timestamp": ts}
    st1, r1 = c.call("POST", "/scan/pay", body, dict(h, **{"X-Member-Nonce": nonce,
                                                          "X-Member-Signature": sig}))
    nonce2 = os.urandom(8).hex().encode()
    st2, r2 = c.call("POST", "/scan/pay", body, dict(h, **{
        "X-Member-Nonce": nonce2,
        "X-Member-Signature": signed(stores[sid.decode()], b"/scan/pay", body, ts, nonce2)}))
    if st1 != 200 or st2 != 200 or r1 != r2:
        sys.exit(f"pay_prep: the check pay: {st1} {r1[:200]!r}, again {st2} {r2[:200]!r}")

    ts = str(int(time.time())).encode()
    n = 1
    for path, count in ((a.warm_out, a.warm), (a.out, a.count)):
        if not path:
            continue
        with open(path, "wb") as f:
            buf = []
            for _ in range(count):
                buf.append(b" ".join(line(n, ts)))
                n += 1
                if len(buf) >= 8192:
                    f.write(b"\n".join(buf) + b"\n")
                    buf.clear()
            if buf:
                f.write(b"\n".join(buf) + b"\n")
    print(f"pay_prep: {n - 1} pay requests signed", file=sys.stderr)


if __name__ == "__main__":
    main()
