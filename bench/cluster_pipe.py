#!/usr/bin/env python3
"""Seeds a Redis Cluster from a RESP stream (seed.py's, seed.awk's): each
command goes to the master of its key's slot, through one `redis-cli
--pipe` per master.

    python3 seed.py ... | python3 cluster_pipe.py --port P

--port is any node of the cluster; the masters and their slots come from
its CLUSTER NODES.  Every command's key is its first argument (HSET, SET,
ZADD, ...: what the seeders send).  Prints each master's redis-cli --pipe
summary; the exit status is redis-cli's worst.  Python standard library
only.
"""

import argparse
import subprocess
import sys


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def masters(port):
    """slot -> port of its master, from CLUSTER NODES"""
    out = subprocess.run(["redis-cli", "-p", str(port), "CLUSTER", "NODES"],
                         capture_output=True, text=True, check=True).stdout
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
    read = stream.readline
    while True:
        head = read()
        if not head:
            return
        if not head.startswith(b"*"):
            sys.exit("cluster_pipe: not a RESP array: %r" % head[:40])
        parts = [head]
        key = None
        for i in range(int(head[1:])):
            size = read()
            data = stream.read(int(size[1:]) + 2)
            parts += [size, data]
            if i == 1:
                key = data[:-2]
        yield b"".join(parts), key


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    owner = masters(a.port)
    pipes = {p: subprocess.Popen(["redis-cli", "-p", str(p), "--pipe"], stdin=subprocess.PIPE)
             for p in sorted(set(owner))}
    cache = {}
    for cmd, key in commands(sys.stdin.buffer):
        tag = key
        start = key.find(b"{")
        if start >= 0:
            end = key.find(b"}", start + 1)
            if end > start + 1:
                tag = key[start + 1:end]
        slot = cache.get(tag)
        if slot is None:
            slot = cache[tag] = crc16(tag) % 16384
        pipes[owner[slot]].stdin.write(cmd)
    rc = 0
    for p in pipes.values():
        p.stdin.close()
        rc = max(rc, p.wait())
    return rc


if __name__ == "__main__":
    sys.exit(main())
