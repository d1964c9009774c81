"""The smallest Redis client, the one the Python tools, tests and benchmarks
share (tools/reconcile.py, tests/integration/cluster.py,
bench/cluster_pipe.py): RESP2 over TCP or a unix socket, AUTH and SELECT,
one command or a pipeline; and Redis Cluster's slot of a key.

    c = resp.Conn("127.0.0.1", port)      # or path=..., password=, db=
    c.call("HGETALL", "{m:1}")            # bytes, int, None or a list
    c.pipeline([("GET", "a"), ("INCR", "b")])
    resp.key_slot(b"{m:1}:code")          # 0 .. 16383

Strings come back as bytes (simple and bulk alike), a nil as None.  An
error reply is a resp.Error (a RuntimeError, str() is its text: "MOVED
3999 127.0.0.1:7001"): call() raises it, pipeline() and the elements of an
array hold it, since the other replies are still to be read.  A connection
closed or out of step raises ConnectionError.  Python standard library
only.
"""

import socket


class Error(RuntimeError):
    """An error reply of Redis."""


def encode(*args):
    """A command as RESP sends it: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def read(f):
    """One reply from the binary file f; an error reply is returned as an
    Error, not raised."""
    line = f.readline()
    if not line:
        raise ConnectionError("closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        return Error(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        if len(data) != n + 2:
            raise ConnectionError("closed")
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [read(f) for _ in range(n)]
    raise ConnectionError("unexpected reply %r" % line[:40])


class Conn:
    """One connection: to host:port, or to the unix socket path."""

    def __init__(self, host="127.0.0.1", port=6379, path=None, password=None,
                 db=0, timeout=10):
        if path:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = self.sock.makefile("rb")
        if password:
            self.call("AUTH", password)
        if db:
            self.call("SELECT", str(db))

    def send(self, *args):
        self.sock.sendall(encode(*args))

    def read(self):
        """The next reply; an error reply raised."""
        reply = read(self.buf)
        if isinstance(reply, Error):
            raise reply
        return reply

    def call(self, *args):
        self.send(*args)
        return self.read()

    def pipeline(self, cmds):
        """Every command sent at once, then their replies in order."""
        self.sock.sendall(b"".join(encode(*c) for c in cmds))
        return [read(self.buf) for _ in cmds]

    def close(self):
        self.buf.close()
        self.sock.close()


def crc16(data):
    """CRC16-CCITT (XMODEM), Redis Cluster's key hash."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def hash_tag(key):
    """What of a key Redis Cluster hashes: its {tag} when not empty."""
    key = key if isinstance(key, bytes) else str(key).encode()
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1:end]
    return key


def key_slot(key):
    return crc16(hash_tag(key)) % 16384
