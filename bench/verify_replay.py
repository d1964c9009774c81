#!/usr/bin/env python3
"""What a till's verify costs redis-server alone, for each shape of its commands.

    python3 bench/verify_replay.py PORT [N] [BATCH]

Seeds N member hashes ({m:<i>}, as seed.py's fields) in the Redis on 127.0.0.1:PORT, then for each
shape replays N verifies the way a worker sends them: BATCH verifies' gate commands in one write,
their answers read, then their verify commands, and so on; the Redis CPU a verify cost comes from
INFO cpu (used_cpu_user + used_cpu_sys) before and after.  Shapes:

    multi      the gate and the verify each a MULTI ... EXEC, the ticket a key of its own (before 0.4)
    pipeline   the same commands without MULTI
    ticket     pipelined, the ticket being the spent code's key (0.4)
    hash       as ticket, the rate counters one hash per store and minute (tried, not adopted)

Run it on a Redis of its own (it FLUSHALLs).  Python standard library and
tools/resp.py.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
from resp import encode as command  # noqa: E402
import resp  # noqa: E402


class Conn(resp.Conn):
    """tools/resp.py's, sending bytes made beforehand"""

    def __init__(self, port):
        super().__init__("127.0.0.1", port, timeout=None)

    def send_raw(self, data):
        self.sock.sendall(data)

    reply = resp.Conn.read


def verify(shape, i, minute=1000, ip="127.0.0.1"):
    """The two steps of one verify: (bytes to send, replies to read) each."""
    nonce, secret_hash = os.urandom(8).hex(), os.urandom(32).hex()
    store = "{s:S1}"
    if shape == "hash":
        h = f"{store}:rl:{minute}"
        gate = [("SET", f"{store}:n:{nonce}", "1", "NX", "EX", "900"),
                ("HINCRBY", h, "v", "1"), ("HINCRBY", h, "a:" + ip, "1"),
                ("EXPIRE", h, "120", "NX"), ("HGET", h, "f")]
    else:
        gate = [("SET", f"{store}:n:{nonce}", "1", "NX", "EX", "900"),
                ("GET", f"{store}:fail:{minute}"),
                ("INCR", f"{store}:rl:{minute}"), ("EXPIRE", f"{store}:rl:{minute}", "120", "NX"),
                ("INCR", f"{store}:rla:{ip}:{minute}"),
                ("EXPIRE", f"{store}:rla:{ip}:{minute}", "120", "NX")]
    card = ("HMGET", f"{{m:{i}}}", "status", "card_no", "level", "points", "balance_fen",
            "name_masked")
    if shape in ("multi", "pipeline"):
        spend = [("SET", f"{{m:{i}}}:code:1000", "S1", "NX", "EX", "120"),
                 ("SET", f"{{m:{i}}}:t:{secret_hash}", "S1", "EX", "300"), card]
    else:
        spend = [("SET", f"{{m:{i}}}:code:1000", "S1 " + secret_hash, "NX", "EX", "300"), card]
    steps = []
    for cmds in (gate, spend):
        data = b"".join(command(*c) for c in cmds)
        n = len(cmds)
        if shape == "multi":
            data = command("MULTI") + data + command("EXEC")
            n += 2
        steps.append((data, n))
    return steps


def cpu(conn):
    info = conn.call("INFO", "cpu").decode()
    return sum(float(line.split(":")[1]) for line in info.splitlines()
               if line.startswith(("used_cpu_user:", "used_cpu_sys:")))


def main():
    port = int(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50000
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    conn = Conn(port)
    for shape in ("multi", "pipeline", "ticket", "hash"):
        conn.call("FLUSHALL")
        for start in range(1, n + 1, 1000):
            conn.send_raw(b"".join(command("HSET", f"{{m:{i}}}", "status", "active", "card_no",
                                       f"8800{i:08d}", "level", "silver", "points", i,
                                       "balance_fen", 10 * i, "name_masked", "*x")
                               for i in range(start, min(start + 1000, n + 1))))
            for _ in range(start, min(start + 1000, n + 1)):
                conn.reply()
        work = [verify(shape, i) for i in range(1, n + 1)]
        before = cpu(conn)
        for start in range(0, n, batch):
            group = work[start:start + batch]
            for step in (0, 1):
                conn.send_raw(b"".join(v[step][0] for v in group))
                for _ in range(sum(v[step][1] for v in group)):
                    conn.reply()
        print(f"{shape:9} {(cpu(conn) - before) * 1e6 / n:6.1f} us of Redis CPU a verify")


if __name__ == "__main__":
    main()
