"""Bodies: bounded, read without blocking, errors in the contract's JSON."""

import socket


def raw(env, data, read=65536):
    s = socket.create_connection(("127.0.0.1", env.port), timeout=5)
    try:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(read)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                length = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
                          if l.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
        return out
    finally:
        s.close()


def test_oversized_body_by_length(env):
    r = env.admin("POST", "members", b"{" + b" " * 20000 + b"}",
                  headers={"Content-Type": "application/json"})
    assert r.status == 413 and r.json["error"] == "too_large", r


def test_oversized_chunked_body(env):
    # nginx finds it too large while reading: its own 413, made JSON
    body = b"x" * 20000
    req = (b"POST /admin/members HTTP/1.1\r\nHost: t\r\n"
           b"Authorization: Bearer " + __import__("harness").ADMIN_TOKEN.encode() +
           b"\r\nTransfer-Encoding: chunked\r\n\r\n" +
           b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    out = raw(env, req)
    assert out.startswith(b"HTTP/1.1 413"), out[:100]
    assert b'"error":"too_large"' in out and b"<html>" not in out


def test_slowly_sent_body_is_read_without_blocking(env):
    s = socket.create_connection(("127.0.0.1", env.port), timeout=5)
    body = b'{"level":"gold"}'
    s.sendall(b"POST /admin/members HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
              __import__("harness").ADMIN_TOKEN.encode() +
              b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:5])
    # meanwhile the worker answers others
    assert env.request("GET", "/status").status == 200
    s.sendall(body[5:])
    out = s.recv(65536)
    s.close()
    assert out.startswith(b"HTTP/1.1 201"), out[:200]


def test_malformed_headers_are_refused(env):
    out = raw(env, b"POST /admin/members HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out[:100]

