#!/usr/bin/env python3
"""Counts or unlinks the keys of a Redis that match a pattern, with SCAN ... COUNT 10000.

    python3 rkeys.py PORT count PATTERN     # prints how many keys match
    python3 rkeys.py PORT unlink PATTERN    # unlinks them, prints how many

(redis-cli 7.0's --scan has no --count: at its default of 10 a million keys take thousands of
round trips.) 127.0.0.1 only; Python standard library and tools/resp.py (codes.sh copies
it beside bench/ as tools/).
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import resp  # noqa: E402


def main():
    port, what, pattern = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    c = resp.Conn("127.0.0.1", port, timeout=None)
    cursor, total = b"0", 0
    while True:
        cursor, keys = c.call("SCAN", cursor, "MATCH", pattern, "COUNT", 10000)
        total += len(keys)
        if keys and what == "unlink":
            c.call("UNLINK", *keys)
        if cursor == b"0":
            break
    print(total)


if __name__ == "__main__":
    main()
