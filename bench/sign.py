#!/usr/bin/env python3
"""Signed POST /scan/verify requests for wrk/verify.lua, each to be sent exactly once.

    build/member-code SECRET 30 T FIRST-LAST \
      | python3 sign.py --store S --secret-file F --ts TS --out reqs.txt [--skip N] [--count N]

Reads "<member id> <code>" lines (build/member-code), skips the first --skip, and writes one
line per code, --count at most:

    <code> <timestamp> <nonce> <signature>

where the body is exactly {"code":"<code>"} (what verify.lua sends), the nonce 16 random
characters of [0-9a-f] (fresh, single use), and the signature the contract's
hex(HMAC-SHA256(store secret, "POST\\n/scan/verify\\n" TS "\\n" NONCE "\\n" hex(SHA-256(body)))).
The store secret (POST /admin/stores) is read from --secret-file so that it stays off the
command line. The count written goes to stderr. Python standard library only; ~2.5 us a request.
"""

import argparse
import hashlib
import hmac
import os
import sys

PATH = b"/scan/verify"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--ts", type=int, required=True, help="X-Member-Timestamp of every request")
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--count", type=int, default=-1)
    a = ap.parse_args()

    with open(a.secret_file, "rb") as f:
        key = f.read().strip()
    prefix = b"POST\n" + PATH + b"\n%d\n" % a.ts
    ts = b"%d" % a.ts
    sha256 = hashlib.sha256
    digest = hmac.digest
    written = 0
    with open(a.out, "wb") as out:
        lines = sys.stdin.buffer
        for _ in range(a.skip):
            lines.readline()
        buf = []
        nonces = os.urandom(8 * 65536).hex().encode()    # refilled as needed
        k = 0
        for line in lines:
            if written == a.count:
                break
            code = line.split()[1]
            if k + 16 > len(nonces):
                nonces = os.urandom(8 * 65536).hex().encode()
                k = 0
            nonce = nonces[k:k + 16]
            k += 16
            body_hash = sha256(b'{"code":"' + code + b'"}').hexdigest().encode()
            sig = digest(key, prefix + nonce + b"\n" + body_hash, "sha256").hex().encode()
            buf.append(b" ".join((code, ts, nonce, sig)))
            written += 1
            if len(buf) >= 8192:
                out.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            out.write(b"\n".join(buf) + b"\n")
    print(written, file=sys.stderr)


if __name__ == "__main__":
    main()
