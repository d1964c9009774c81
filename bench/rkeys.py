#!/usr/bin/env python3
"""Counts or unlinks the keys of a Redis that match a pattern, with SCAN ... COUNT 10000.

    python3 rkeys.py PORT count PATTERN     # prints how many keys match
    python3 rkeys.py PORT unlink PATTERN    # unlinks them, prints how many

(redis-cli 7.0's --scan has no --count: at its default of 10 a million keys take thousands of
round trips.) 127.0.0.1 only; Python standard library only.
"""

import socket
import sys


def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Reader:
    def __init__(self, sock):
        self.f = sock.makefile("rb")

    def reply(self):
        line = self.f.readline()
        kind, rest = line[:1], line[1:-2]
        if kind in (b"+", b":"):
            return int(rest) if kind == b":" else rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError("bad reply %r" % line)


def main():
    port, what, pattern = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    s = socket.create_connection(("127.0.0.1", port))
    r = Reader(s)
    cursor, total = b"0", 0
    while True:
        s.sendall(command("SCAN", cursor, "MATCH", pattern, "COUNT", 10000))
        cursor, keys = r.reply()
        total += len(keys)
        if keys and what == "unlink":
            s.sendall(command("UNLINK", *keys))
            r.reply()
        if cursor == b"0":
            break
    print(total)


if __name__ == "__main__":
    main()
