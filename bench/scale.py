#!/usr/bin/env python3
"""What a member costs Redis, measured (docs/scale.md): the sample, then the
200,000-member run that checks it.

    make bench-scale          # or: python3 bench/scale.py [--sample 1000] [--members 200000]

One redis-server (--save '' --appendonly no) and one nginx with the module
(nginx/pay.conf.in: admin and scanner, worker_processes 1), on free
loopback ports, in bench/out/scale-<stamp>/.

1. The sample: --sample members made through the module as a year of a
   typical member leaves them: POST /admin/members with sealed personal
   data (name, phone, birthday), a login session (seed.py's shape), two
   recharges (500 and 100 yuan, the second one's bonus rule), a verify at
   its home store (one of --stores), ten pays and two earns there, one
   refund; then the fold (tools/reconcile.py, which must find everything
   exact) and the analytics pass (POST campaigns/run).  used_memory
   before and after, over the sample: bytes a member, and MEMORY USAGE
   (SAMPLES 0) of every key, grouped by what the key is: bytes a member of
   each kind, and of what lives in the brand's and the stores' slots.
2. The check: --members more members, each a copy (DUMP, RESTORE) of one
   sample member's keys under its own id (and its orders' store keys
   under their own order ids), then the fold over all of them (POST
   fold/rescan through reconcile.py --rescan) and the analytics pass
   again: used_memory after, over the members added, against the sample's
   figure.
Prints a report (markdown) and writes it with the raw figures (JSON) to the
output folder.  Python standard library; redis-server, redis-cli, nginx.
"""

import argparse
import collections
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import reconcile  # noqa: E402
import resp  # noqa: E402

ADMIN = "bench-scale-admin-token-0123456789"
CODE_SECRET = "bench-scale-code-secret-0123456789"


def free_ports(n):
    ss = [socket.socket() for _ in range(n)]
    for s in ss:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in ss]
    for s in ss:
        s.close()
    return ports


class World:
    def __init__(self, out, module, member_code):
        self.out = out
        self.member_code = member_code
        self.redis_port, self.port = free_ports(2)
        os.makedirs(os.path.join(out, "redis"))
        os.makedirs(os.path.join(out, "tmp"))
        self.redis = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port),
             "--save", "", "--appendonly", "no", "--dir", os.path.join(out, "redis"),
             "--logfile", os.path.join(out, "redis.log")])
        self.wait(lambda: self.rcli("PING") == "PONG")
        with open(os.path.join(HERE, "nginx", "pay.conf.in")) as f:
            conf = f.read()
        for k, v in {"MODULE": module, "RUN": out, "PORT": self.port,
                     "REDIS": f"member_redis 127.0.0.1:{self.redis_port}",
                     "ADMIN_TOKEN": ADMIN, "CODE_SECRET": CODE_SECRET}.items():
            conf = conf.replace("@" + k + "@", str(v))
        with open(os.path.join(out, "nginx.conf"), "w") as f:
            f.write(conf)
        self.nginx = subprocess.Popen(["nginx", "-p", out + "/", "-c", out + "/nginx.conf",
                                       "-e", out + "/error.log"])
        self.wait(lambda: self.call("GET", "/admin/whoami")[0] == 200)

    @staticmethod
    def wait(check, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if check():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("scale: timed out")

    def stop(self):
        for p in (self.nginx, self.redis):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=20)

    def rcli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.redis_port), "--raw", *args],
                              capture_output=True, text=True, timeout=600).stdout.strip()

    def used(self):
        """used_memory after letting lazy frees and the fold settle"""
        time.sleep(1)
        info = self.rcli("INFO", "memory")
        return int(re.search(r"^used_memory:(\d+)", info, re.M).group(1))

    def call(self, method, path, body=None, headers=None, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = {"Authorization": "Bearer " + ADMIN}
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":")).encode()
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r.status, data


def signed(store, secret, path, body):
    ts, nonce = str(int(time.time())), os.urandom(8).hex()
    msg = "\n".join(["POST", path, ts, nonce, hashlib.sha256(body).hexdigest()])
    return {"Content-Type": "application/json", "X-Member-Store": store,
            "X-Member-Timestamp": ts, "X-Member-Nonce": nonce,
            "X-Member-Signature": hmac.new(secret, msg.encode(), hashlib.sha256).hexdigest()}


def sample(w, n, stores, threads=8):
    """n typical members through the module; their ids"""
    secrets_ = {}
    for s in range(stores):
        st, body = w.call("POST", "/admin/stores", {"store_id": f"S{s:04d}", "name": f"S{s:04d}"})
        assert st == 201, body
        secrets_[f"S{s:04d}"] = json.loads(body)["secret"].encode()
    ids, lock, errors = [], threading.Lock(), []
    todo = list(range(n))

    def one(k, c):
        body = {"openid": ("oScale%06d" % k + "_" * 28)[:28], "name": "张三丰",
                "phone": "138%08d" % k, "birthday": "19%02d-%02d-%02d" % (60 + k % 40,
                                                                         k % 12 + 1, k % 28 + 1)}
        st, r = w.call("POST", "/admin/members", body, conn=c)
        assert st == 201, r
        mid = int(json.loads(r)["member_id"])
        # a login's session, as login.lua writes it (seed.py's shape)
        secret = hashlib.sha256(b"scale-%d" % mid).hexdigest()
        w.rcli("HSET", f"{{m:{mid}}}:s:{hashlib.sha256(secret.encode()).hexdigest()}",
               "openid", body["openid"], "session_key", "x" * 60, "created_at",
               str(int(time.time())))
        w.rcli("EXPIRE", f"{{m:{mid}}}:s:{hashlib.sha256(secret.encode()).hexdigest()}",
               str(7 * 86400))
        for i, amount in enumerate((50000, 10000)):
            st, r = w.call("POST", f"/admin/members/{mid}/recharge",
                           {"amount_fen": amount, "idempotency_key": f"r{i}"}, conn=c)
            assert st == 200, r
        store = f"S{k % stores:04d}"
        code = subprocess.run([w.member_code, CODE_SECRET, "30", str(int(time.time())),
                               str(mid)], capture_output=True, text=True,
                              check=True).stdout.split()[1]
        b = json.dumps({"code": code}).encode()
        st, r = w.call("POST", "/scan/verify", b, signed(store, secrets_[store],
                                                          "/scan/verify", b), conn=c)
        assert st == 200, r
        ticket = json.loads(r)["ticket"]
        for i in range(12):
            what = "earn" if i in (3, 9) else "pay"
            b = json.dumps({"ticket": ticket, "amount_fen": 1500 + 700 * i,
                            "order_id": f"o{mid}-{i}"}).encode()
            st, r = w.call("POST", "/scan/" + what, b,
                           signed(store, secrets_[store], "/scan/" + what, b), conn=c)
            assert st == 200, r
        b = json.dumps({"order_id": f"o{mid}-5"}).encode()
        st, r = w.call("POST", "/scan/refund", b,
                       signed(store, secrets_[store], "/scan/refund", b), conn=c)
        assert st == 200, r
        with lock:
            ids.append(mid)

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=30)
        while True:
            with lock:
                if not todo or errors:
                    return
                k = todo.pop()
            try:
                one(k, c)
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append(repr(e))
                return

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise SystemExit("scale: the sample failed: " + errors[0])
    return sorted(ids)


def analytics(w):
    st, r = w.call("POST", "/admin/campaigns/run")
    assert st == 202, r
    asked = json.loads(r)["request"]

    def over():
        s = json.loads(w.call("GET", "/admin/analytics")[1])
        return s.get("phase") == "idle" and int(s.get("served", 0)) >= asked
    w.wait(over, timeout=1800)


def reconciled(w, rescan=False):
    args = [os.path.join(ROOT, "tools", "reconcile.py"), "-p", str(w.redis_port), "--json",
            "--wait", "1800"] + (["--rescan"] if rescan else [])
    out = subprocess.run(args, capture_output=True, text=True, timeout=3600)
    report = json.loads(out.stdout)
    if out.returncode != 0:
        raise SystemExit(f"scale: reconcile: {report['problems'][:3]}")
    return report["totals"]


KINDS = [
    ("member hash {m:N}", r"^\{m:\d+\}$"),
    ("session {m:N}:s:*", r"^\{m:\d+\}:s:"),
    ("ledger stream {m:N}:ledger", r"^\{m:\d+\}:ledger$"),
    ("points lots {m:N}:lots", r"^\{m:\d+\}:lots$"),
    ("orders {m:N}:order:*", r"^\{m:\d+\}:order:"),
    ("recharges {m:N}:recharge:*", r"^\{m:\d+\}:recharge:"),
    ("idempotency {m:N}:idem:*", r"^\{m:\d+\}:idem:"),
    ("spent codes {m:N}:code:*", r"^\{m:\d+\}:code:"),
    ("other member keys {m:N}:*", r"^\{m:\d+\}"),
    ("order ids order:{s:S}:*", r"^order:\{s:"),
    ("store ledgers {s:S}:ledger", r"^\{s:[^}]*\}:ledger$"),
    ("store copy cursors {s:S}:copied", r"^\{s:[^}]*\}:copied$"),
    ("store nonces and counters {s:S}:*", r"^\{s:"),
    ("openid and phone indexes", r"^(openid|phone):"),
    ("brand keys {b}*", r"^\{b"),
    ("other", r""),
]


def by_kind(w):
    """bytes and keys of each kind (MEMORY USAGE ... SAMPLES 0 of every key)"""
    r = resp.Conn("127.0.0.1", w.redis_port)
    sizes = collections.defaultdict(lambda: [0, 0])
    biggest = {}
    cursor = b"0"
    pats = [(k, re.compile(p)) for k, p in KINDS]
    while True:
        cursor, keys = r.call("SCAN", cursor, "COUNT", 1000)
        for k in keys:
            n = r.call("MEMORY", "USAGE", k, "SAMPLES", "0") or 0
            name = k.decode(errors="replace")
            kind = next(kk for kk, p in pats if p.search(name))
            sizes[kind][0] += n
            sizes[kind][1] += 1
            if n > biggest.get(kind, (0, ""))[0]:
                biggest[kind] = (n, name)
        if cursor == b"0":
            break
    return {k: {"bytes": v[0], "keys": v[1], "largest": biggest[k]} for k, v in sizes.items()}


def clone(w, ids, first, count):
    """count members from id `first` on, each a copy of a sample member's
    keys (DUMP/RESTORE), its orders' store keys under their own order ids"""
    r = resp.Conn("127.0.0.1", w.redis_port)
    templates = []
    for mid in ids:
        keys = []
        for k in reconcile.scan(r, f"{{m:{mid}}}*"):
            keys.append((k, r.call("DUMP", k), r.call("PTTL", k)))
        orders = [(k, r.call("GET", k)) for k in reconcile.scan(r, f"order:{{s:*}}:o{mid}-*")]
        templates.append((mid, keys, orders))
    pipe = subprocess.Popen(["redis-cli", "-p", str(w.redis_port), "--pipe"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    buf = []
    for n in range(first, first + count):
        mid, keys, orders = templates[n % len(templates)]
        old, new = b"{m:%d}" % mid, b"{m:%d}" % n
        for k, dump, pttl in keys:
            buf.append(resp.encode(b"RESTORE", k.replace(old, new, 1), max(pttl, 0), dump, b"REPLACE"))
        for k, v in orders:
            buf.append(resp.encode(b"SET", k.replace(b":o%d-" % mid, b":o%d-" % n), b"%d" % n))
        if len(buf) > 20000:
            pipe.stdin.write(b"".join(buf))
            buf.clear()
    pipe.stdin.write(b"".join(buf))
    pipe.stdin.close()
    tail = pipe.stdout.read().decode()
    pipe.wait()
    if "errors: 0" not in tail:
        raise SystemExit("scale: cloning: " + tail[-300:])
    # the member counter past the copies, as if the module had made them
    w.rcli("SET", "member:seq", str(first + count - 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--members", type=int, default=200000)
    ap.add_argument("--stores", type=int, default=50)
    ap.add_argument("--module", default=os.path.join(ROOT, "build", "ngx_http_member_module.so"))
    ap.add_argument("--member-code", default=os.path.join(ROOT, "build", "member-code"))
    a = ap.parse_args()
    out = os.path.join(HERE, "out", "scale-" + time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out)
    run = tempfile.mkdtemp(prefix="ngx-member-scale-")
    os.chmod(run, 0o755)
    shutil.copy(a.module, os.path.join(run, "module.so"))
    w = World(run, os.path.join(run, "module.so"), a.member_code)
    res = {"sample": a.sample, "members": a.members, "stores": a.stores}
    try:
        m0 = w.used()
        t0 = time.monotonic()
        ids = sample(w, a.sample, a.stores)
        res["sample_seconds"] = round(time.monotonic() - t0, 1)
        totals = reconciled(w)
        analytics(w)
        m1 = w.used()
        res["used_empty"], res["used_sample"] = m0, m1
        res["per_member_sample"] = (m1 - m0) / a.sample
        res["entries_per_member"] = totals["entries"] / totals["members"]
        res["kinds"] = by_kind(w)
        t0 = time.monotonic()
        clone(w, ids, max(ids) + 1, a.members)
        res["clone_seconds"] = round(time.monotonic() - t0, 1)
        m2 = w.used()
        t0 = time.monotonic()
        totals = reconciled(w, rescan=True)
        res["fold_seconds"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        analytics(w)
        res["analytics_seconds"] = round(time.monotonic() - t0, 1)
        m3 = w.used()
        res["used_cloned"], res["used_all"] = m2, m3
        res["per_member_run"] = (m3 - m1) / a.members
        res["members_reconciled"] = totals["members"]
        res["info_memory"] = w.rcli("INFO", "memory")
        res["dbsize"] = int(w.rcli("DBSIZE"))
    finally:
        w.stop()
        for f in ("error.log", "redis.log", "nginx.conf"):
            if os.path.exists(os.path.join(run, f)):
                shutil.copy(os.path.join(run, f), out)
        shutil.rmtree(run, ignore_errors=True)
    with open(os.path.join(out, "scale.json"), "w") as f:
        json.dump(res, f, indent=1, ensure_ascii=False)
    lines = [f"# bench/scale.py: {a.sample} sampled members, {a.members} copies "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"- used_memory empty {res['used_empty']:,}, after the sample {res['used_sample']:,}, "
             f"after the copies {res['used_cloned']:,}, after their fold and analytics "
             f"{res['used_all']:,} bytes; {res['dbsize']:,} keys",
             f"- a member, from the sample: **{res['per_member_sample']:,.0f} bytes** "
             f"({res['entries_per_member']:.1f} ledger entries)",
             f"- a member, from the {a.members:,}-member run: **{res['per_member_run']:,.0f} bytes** "
             f"(ratio {res['per_member_run'] / res['per_member_sample']:.3f})",
             f"- the sample took {res['sample_seconds']} s; the copies {res['clone_seconds']} s, "
             f"their fold {res['fold_seconds']} s, the analytics pass {res['analytics_seconds']} s",
             "", "| kind (the sample) | keys | bytes | bytes a member | largest |",
             "| --- | ---: | ---: | ---: | --- |"]
    for kind, _ in KINDS:
        k = res["kinds"].get(kind)
        if k:
            lines.append(f"| {kind} | {k['keys']:,} | {k['bytes']:,} | "
                         f"{k['bytes'] / a.sample:,.0f} | {k['largest'][0]:,} |")
    report = "\n".join(lines) + "\n"
    with open(os.path.join(out, "scale.md"), "w") as f:
        f.write(report)
    print(report)
    print("raw output: " + os.path.relpath(out, ROOT))


if __name__ == "__main__":
    main()
