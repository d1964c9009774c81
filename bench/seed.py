#!/usr/bin/env python3
"""Seeds the module's side of the benchmark: RESP for `redis-cli --pipe` on stdout.

    python3 seed.py --members 100000 --tokens tokens.txt | redis-cli -p PORT --pipe

For every id 1..N:
  - the member hash {m:<id>}: id, card_no ("88" + id on 13 digits + Luhn digit, as the module
    makes them), level, status active, points, balance_fen (the same values as the peers'
    bench:member:<id> of ../shared/bench/seed.awk), principal_fen + bonus_fen (= balance_fen),
    created_at;
  - a session {m:<id>}:s:<lowercase hex SHA-256 of the secret>: openid, session_key, created_at,
    and the copy of its end in the member hash, field s:<hex>, as login.lua writes it.
    The secret is base64url(SHA-256("bench-<id>")) without padding: 43 characters, what a login
    hands out.
and one visitor (id N+1, status visitor, with a session), whose card must be a 404.

--tokens writes "<id> <id>.<secret>" lines (the Bearer token of each member, visitor excluded) for
the wrk script, which cannot compute SHA-256 itself. Python standard library only.
"""

import argparse
import base64
import hashlib
import time
import sys

LEVELS = ("normal", "silver", "gold", "platinum")   # seed.awk: levels[i % 4 + 1]
CREATED_AT = 1700000000


def secret_of(i):
    digest = hashlib.sha256(b"bench-%d" % i).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=")        # 43 bytes


def card_no(i):
    digits = b"88%013d" % i
    total, double = 0, True          # Luhn: double every second digit from the right
    for c in reversed(digits):
        d = c - 48
        if double:
            d *= 2
            if d > 9:
                d -= 9
        total += d
        double = not double
    return digits + b"%d" % ((10 - total % 10) % 10)


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


SESSION_END = b"%d" % (int(time.time()) + 7 * 24 * 3600)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=100000)
    ap.add_argument("--tokens", required=True, help="file for '<id> <token>' lines")
    a = ap.parse_args()

    out = sys.stdout.buffer
    chunk = []
    with open(a.tokens, "wb") as tokens:
        for i in range(1, a.members + 2):
            visitor = i == a.members + 1
            sid = b"%d" % i
            secret = secret_of(i)
            created = b"%d" % (CREATED_AT + i * 37)
            key = b"{m:" + sid + b"}"
            if visitor:
                chunk.append(resp(b"HSET", key, b"id", sid, b"openid", b"o-bench-" + sid,
                                  b"status", b"visitor", b"created_at", created))
            else:
                balance = (i * 104729) % 10000000
                bonus = balance // 11
                chunk.append(resp(
                    b"HSET", key,
                    b"id", sid,
                    b"card_no", card_no(i),
                    b"level", LEVELS[i % 4].encode(),
                    b"status", b"active",
                    b"points", b"%d" % ((i * 7919) % 100000),
                    b"balance_fen", b"%d" % balance,
                    b"principal_fen", b"%d" % (balance - bonus),
                    b"bonus_fen", b"%d" % bonus,
                    b"created_at", created))
                tokens.write(sid + b" " + sid + b"." + secret + b"\n")
            digest = hashlib.sha256(secret).hexdigest().encode()
            session = key + b":s:" + digest
            chunk.append(resp(b"HSET", session,
                              b"openid", b"o-bench-" + sid,
                              b"session_key", base64.b64encode(hashlib.md5(sid).digest()),
                              b"created_at", created))
            # as login.lua does: the session's end, copied into the member hash
            chunk.append(resp(b"HSET", key, b"s:" + digest, SESSION_END))
            if len(chunk) >= 4096:
                out.write(b"".join(chunk))
                chunk.clear()
    out.write(b"".join(chunk))


if __name__ == "__main__":
    main()
