#!/usr/bin/env python3
"""Seeds a Redis Cluster from a RESP stream (seed.py's, seed.awk's): each
command goes to the master of its key's slot, through one `redis-cli
--pipe` per master.

    python3 seed.py ... | python3 cluster_pipe.py --port P

--port is any node of the cluster; the masters and their slots come from
its CLUSTER NODES.  Every command's key is its first argument (HSET, SET,
ZADD, ...: what the seeders send).  Prints each master's redis-cli --pipe
summary; the exit status is redis-cli's worst.  Python standard library
and tools/resp.py (run.sh copies it beside bench/ as tools/).
"""

import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import resp  # noqa: E402


def masters(port):
    """slot -> port of its master, from CLUSTER NODES"""
    c = resp.Conn("127.0.0.1", port)
    try:
        out = c.call("CLUSTER", "NODES").decode()
    except resp.Error as e:
        sys.exit("cluster_pipe: CLUSTER NODES: %s" % e)
    c.close()
    owner = [None] * 16384
    for line in out.splitlines():
        f = line.split()
        if len(f) < 9 or "master" not in f[2]:
            continue
        p = int(f[1].split(":")[1].split("@")[0])
        for s in f[8:]:
            if s.startswith("["):
                continue
            a, _, b = s.partition("-")
            for i in range(int(a), int(b or a) + 1):
                owner[i] = p
    if None in owner:
        sys.exit("cluster_pipe: not every slot has a master")
    return owner


def commands(stream):
    """(the command's bytes, its first argument) for each RESP array"""
    while True:
        head = stream.peek(40)
        if not head:
            return
        if not head.startswith(b"*"):
            sys.exit("cluster_pipe: not a RESP array: %r" % head[:40])
        args = resp.read(stream)
        yield resp.encode(*args), args[1] if len(args) > 1 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    owner = masters(a.port)
    pipes = {p: subprocess.Popen(["redis-cli", "-p", str(p), "--pipe"], stdin=subprocess.PIPE)
             for p in sorted(set(owner))}
    cache = {}
    for cmd, key in commands(sys.stdin.buffer):
        tag = resp.hash_tag(key)
        slot = cache.get(tag)
        if slot is None:
            slot = cache[tag] = resp.crc16(tag) % 16384
        pipes[owner[slot]].stdin.write(cmd)
    rc = 0
    for p in pipes.values():
        p.stdin.close()
        rc = max(rc, p.wait())
    return rc


if __name__ == "__main__":
    sys.exit(main())
