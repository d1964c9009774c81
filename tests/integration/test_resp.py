"""tools/resp.py, the one RESP client of reconcile.py, cluster.py and
bench/cluster_pipe.py, against a real redis-server: each kind of reply, an
error raised or kept in place in a pipeline, AUTH and SELECT over a unix
socket, a closed connection, and Redis Cluster's key slot."""

import os
import subprocess
import sys
import tempfile

from harness import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import resp  # noqa: E402


def test_each_kind_of_reply(env):
    c = resp.Conn("127.0.0.1", env.redis_port)
    try:
        assert c.call("PING") == b"PONG"
        assert c.call("SET", "resp:s", b"a\r\nb") == b"OK"
        assert c.call("GET", "resp:s") == b"a\r\nb"
        assert c.call("GET", "resp:none") is None
        assert c.call("INCRBY", "resp:n", 41) == 41
        assert c.call("RPUSH", "resp:l", "x", "", "z") == 3
        assert c.call("LRANGE", "resp:l", 0, -1) == [b"x", b"", b"z"]
        assert c.call("LRANGE", "resp:none", 0, -1) == []
        try:
            c.call("LRANGE", "resp:s", 0, -1)
            raise AssertionError("no error raised")
        except resp.Error as e:
            assert str(e).startswith("WRONGTYPE"), e
        # the connection is still in step after an error
        assert c.call("EVAL", "return {1, 'two', false}", 0) == [1, b"two", None]
    finally:
        c.call("DEL", "resp:s", "resp:n", "resp:l")
        c.close()


def test_a_pipeline_keeps_each_reply_in_place(env):
    c = resp.Conn("127.0.0.1", env.redis_port)
    try:
        out = c.pipeline([("SET", "resp:p", "1"), ("HGET", "resp:p", "f"),
                          ("INCR", "resp:p"), ("NOSUCHCOMMAND",)])
        assert out[0] == b"OK" and out[2] == 2, out
        assert isinstance(out[1], resp.Error) and str(out[1]).startswith("WRONGTYPE"), out
        assert isinstance(out[3], resp.Error) and "unknown command" in str(out[3]), out
        assert c.call("GET", "resp:p") == b"2"
    finally:
        c.call("DEL", "resp:p")
        c.close()


def test_password_and_database_on_a_unix_socket(env):
    d = tempfile.mkdtemp(dir=env.dir)
    path = os.path.join(d, "redis.sock")
    p = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", path,
                          "--requirepass", "resp-test-password", "--save", "",
                          "--dir", d, "--logfile", os.path.join(d, "redis.log")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until("redis on a unix socket", lambda: os.path.exists(path))
        c = resp.Conn(path=path, password="resp-test-password", db=3)
        assert c.call("SET", "k", "in db 3") == b"OK"
        c.close()
        c = resp.Conn(path=path, password="resp-test-password")
        assert c.call("GET", "k") is None
        assert c.call("SELECT", 3) == b"OK" and c.call("GET", "k") == b"in db 3"
        c.close()
        for password in (None, "wrong"):
            try:
                c = resp.Conn(path=path, password=password, db=3)
                raise AssertionError("connected with password %r" % password)
            except resp.Error as e:
                assert "NOAUTH" in str(e) or "WRONGPASS" in str(e), e
    finally:
        p.kill()
        p.wait()


def test_a_closed_connection_is_a_connection_error(env):
    c = resp.Conn("127.0.0.1", env.redis_port)
    assert c.call("QUIT") == b"OK"
    try:
        c.read()
        raise AssertionError("read a closed connection")
    except ConnectionError:
        pass
    c.close()


def test_the_key_slot_is_redis_clusters(env):
    # CRC16-CCITT's check value, and CLUSTER KEYSLOT's documented answers
    assert resp.crc16(b"123456789") == 0x31C3
    assert resp.key_slot("somekey") == 11058
    assert resp.key_slot("foo{hash_tag}") == 2515
    assert resp.key_slot("{m:1}:code:1000") == resp.key_slot(b"{m:1}") == resp.key_slot("m:1")
    # an empty tag hashes the whole key; the first {...} is the tag
    assert resp.key_slot("foo{}{bar}") == resp.crc16(b"foo{}{bar}") % 16384
    assert resp.key_slot("foo{{bar}}zap") == resp.crc16(b"{bar") % 16384
    assert resp.hash_tag(b"{b:acme}:totals") == b"b:acme"
