"""member_redis_replicas with one member_redis and a replica of it
(redis-server --replicaof): a move of money or points is answered once
WAIT counted the replica, 503 while the replica is stopped (SIGSTOP), and
the retry with the same idempotency key or order id applies it once; the
configuration's bad values fail nginx -t."""

import os
import signal
import subprocess

import harness
from test_scan import Till, code_of

ENV = {"extra_http": "member_redis_replicas 1 300ms;"}


def replica(env):
    """A replica of the test's Redis, once: started and in sync."""
    if getattr(env, "replica", None) and env.replica.poll() is None:
        return env.replica
    env.rcli("CONFIG", "SET", "repl-diskless-sync-delay", "0")
    # WAIT is what is tested here: the master's fsync of every write (the
    # harness' appendfsync always) on a busy disk took more than WAIT's
    # 300 ms now and then, between the write and the replica's ack
    env.rcli("CONFIG", "SET", "appendfsync", "no")
    port = harness.free_port()
    folder = os.path.join(env.dir, "replica")
    os.makedirs(folder, exist_ok=True)
    env.replica = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", folder,
         "--save", "", "--appendonly", "no", "--daemonize", "no",
         "--replicaof", "127.0.0.1", str(env.redis_port),
         "--logfile", os.path.join(folder, "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env.replica_port = port
    stop = env.stop

    def stop_both():
        env.replica.kill()
        env.replica.wait(timeout=10)
        stop()

    env.stop = stop_both
    harness.wait_until("the replica in sync", lambda: synced(env), timeout=20)
    return env.replica


def synced(env):
    """The replica's link is up and it acknowledges a write (WAIT after a
    write of the same connection: WAIT alone counts a replica that has not
    acknowledged anything yet)."""
    out = subprocess.run(["redis-cli", "-p", str(env.replica_port), "INFO", "replication"],
                         capture_output=True, text=True, timeout=10).stdout
    if "master_link_status:up" not in out:
        return False
    out = subprocess.run(["redis-cli", "-p", str(env.redis_port)],
                         input="INCR replica:probe\nWAIT 1 100\n",
                         capture_output=True, text=True, timeout=10).stdout
    return out.split()[-1:] == ["1"]


def unconfirmed(r):
    return r.status == 503 and r.json["error"] == "redis_unavailable" \
        and "not confirmed by 1 replicas" in r.json["message"]


def status_count(env, name):
    for line in env.request("GET", "/status").body.decode().splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    return None


def test_a_recharge_waits_for_its_replica(env):
    rep = replica(env)
    mid, _ = env.member("durable-recharge")
    before = status_count(env, "member_redis_unconfirmed_total")
    assert before is not None
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 1000, "idempotency_key": "r1"})
    assert r.status == 200, (r, [line for line in env.log_text().splitlines()
                                 if "replicas" in line][-3:])
    assert env.rcli("WAIT", "1", "100") == "1"

    rep.send_signal(signal.SIGSTOP)
    try:
        # WAIT's 100 ms, not the request's timeout: its own message
        r = env.admin("POST", f"members/{mid}/recharge",
                      {"amount_fen": 500, "idempotency_key": "r2"})
        assert unconfirmed(r), r
        # done on the master: the retry finds it and waits again
        r = env.admin("POST", f"members/{mid}/recharge",
                      {"amount_fen": 500, "idempotency_key": "r2"})
        assert unconfirmed(r), r
    finally:
        rep.send_signal(signal.SIGCONT)
    assert "script recharge confirmed by 0 of 1 replicas" in env.log_text()
    harness.wait_until("the replica in sync", lambda: synced(env))
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 500, "idempotency_key": "r2"})
    assert r.status == 200 and r.json["balance_fen"] == 1500, r
    assert env.admin("GET", f"members/{mid}").json["principal_fen"] == 1500
    assert status_count(env, "member_redis_unconfirmed_total") == before + 2


def test_a_pay_at_the_till_waits_and_its_retry_pays_once(env):
    rep = replica(env)
    till = Till(env, "W1")
    mid, _ = env.member("durable-pay")
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 10000, "idempotency_key": "seed"})
    assert r.status == 200, r
    v = till.verify(code_of(mid))
    assert v.status == 200, v
    ticket = v.json["ticket"]
    env.secrets.append(ticket.split(".")[-1])
    body = {"ticket": ticket, "amount_fen": 700, "order_id": "w-1"}

    rep.send_signal(signal.SIGSTOP)
    try:
        r = till.call("pay", body)
        assert unconfirmed(r), r
    finally:
        rep.send_signal(signal.SIGCONT)
    harness.wait_until("the replica in sync", lambda: synced(env))
    r = till.call("pay", body)
    assert r.status == 200, r
    again = till.call("pay", body)
    assert again.status == 200 and again.json["transaction_id"] == r.json["transaction_id"]
    assert env.admin("GET", f"members/{mid}").json["balance_fen"] == 10000 - 700
    # a read is not a move: it never waits
    rep.send_signal(signal.SIGSTOP)
    try:
        r = env.admin("GET", f"members/{mid}")
        assert r.status == 200, r
        t = env.admin("GET", f"members/{mid}/transactions")
        assert t.status == 200 and len(t.json["items"]) == 2, t
    finally:
        rep.send_signal(signal.SIGCONT)


def nginx_t(env, redis, http=""):
    conf = (f"load_module {harness.MODULE}; pid {env.dir}/t.pid; error_log {env.dir}/t.log;"
            f"events {{}} http {{ {redis} member_admin_token {harness.ADMIN_TOKEN}; "
            f"member_pii_key k1 {harness.PII_KEY}; {http} server {{ listen "
            f"127.0.0.1:{env.port}; location /admin/ {{ member_admin; }} }} }}")
    path = env.dir + "/t.conf"
    with open(path, "w") as f:
        f.write(conf)
    return subprocess.run(["nginx", "-t", "-q", "-p", env.dir + "/", "-c", path, "-e",
                           env.dir + "/t.log"], capture_output=True, text=True, timeout=30)


def test_bad_directives_fail_nginx_t(env):
    one = f"member_redis 127.0.0.1:{env.redis_port};"
    for redis, http in ((one, "member_redis_replicas 1;"),
                        (one, "member_redis_replicas 2 50ms;"),
                        (one, "member_redis_replicas 0;"),
                        ("member_redis_cluster 127.0.0.1:7000 127.0.0.1:7001 password=p;",
                         "member_redis_replicas 1;")):
        out = nginx_t(env, redis, http)
        assert out.returncode == 0, (redis, http, out.stderr)
    for redis, http, why in (
            (one, "member_redis_replicas x;", "invalid value"),
            (one, "member_redis_replicas 1 0;", "invalid value"),
            (one, "member_redis_replicas 17;", "invalid value"),
            (one, "member_redis_replicas 1 1s;", "must be shorter"),
            (one, "member_redis_replicas 1; member_redis_replicas 1;", "is duplicate"),
            ("member_redis_cluster 127.0.0.1:7000 db=1;", "", "invalid parameter"),
            ("member_redis_cluster unix:/tmp/x.sock;", "", "invalid address"),
            ("member_redis_cluster password=p;", "", "invalid parameter"),
            (one + " member_redis_cluster 127.0.0.1:7000;", "", "is duplicate"),
            (f"member_redis 127.0.0.1:{env.redis_port} 127.0.0.1:7000;", "",
             "invalid parameter")):
        out = nginx_t(env, redis, http)
        assert out.returncode != 0 and why in out.stderr, (redis, http, out.stderr)
