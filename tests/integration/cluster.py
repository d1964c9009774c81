"""A Redis Cluster for the integration tests: six redis-servers on free
loopback ports, three masters with a replica each, made by `redis-cli
--cluster create` and waited for until every node says cluster_state:ok and
all agree on the slot map.  Each node keeps its folder (nodes.conf, the AOF)
under the test's, so a node killed and started again comes back as itself.

    c = Cluster(folder)
    c.cli(*args)                  # redis-cli -c: follows MOVED and ASK
    c.on_masters(*args)           # the command on every master, its outputs
    c.kill(node) / c.stop(node) / c.cont(node) / c.start(node)
    c.failover(master)            # CLUSTER FAILOVER on its replica
    c.wait_promoted(master)       # after a kill: the replica that took over
    c.reshard(src, dst, n)        # redis-cli --cluster reshard, n slots
    c.move_slot(slot, dst)        # one slot and its keys, step by step
    c.stop_all()

A node is a Node (port, bus port, folder, process, id); a master's replica
is c.replica_of(master).  Nothing here is faked: these are redis-server
processes that the tests kill, stop and promote.
"""

import os
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import resp  # noqa: E402

NODES = 6
REPLICAS = 1


def raw(reply):
    """A reply as redis-cli --raw prints it."""
    if reply is None:
        return ""
    if isinstance(reply, list):
        return "\n".join(raw(r) for r in reply)
    if isinstance(reply, bytes):
        return reply.decode(errors="replace")
    return str(reply)


class Node:
    def __init__(self, port, bus, folder):
        self.port = port
        self.bus = bus
        self.dir = folder
        self.proc = None
        self.id = None
        self.stopped = False            # SIGSTOP: running, but answers nothing

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def up(self):
        """alive and not stopped: it answers"""
        return self.alive() and not self.stopped

    def __repr__(self):
        return f"<node {self.port}>"


class Processes:
    """Every node's process as one, for code written for one redis-server
    (env.redis.poll(), env.redis.send_signal())."""

    def __init__(self, cluster):
        self.cluster = cluster

    def poll(self):
        for n in self.cluster.nodes:
            if not n.alive():
                return n.proc.poll() if n.proc else -1
        return None

    def send_signal(self, sig):
        for n in self.cluster.nodes:
            if n.alive():
                self.cluster.kill(n, sig)

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout=None):
        for n in self.cluster.nodes:
            if n.proc:
                n.proc.wait(timeout=timeout)


class Cluster:
    # everysec, not the single server's always: a SIGKILLed node still
    # loses nothing it answered (Redis writes the AOF before it answers),
    # and an fsync of every write on a busy disk outlasted the WAIT of
    # member_redis_replicas, which is what the cluster's tests measure
    def __init__(self, folder, free_port, node_timeout=1500, appendfsync="everysec"):
        self.dir = folder
        self.free_port = free_port
        self.node_timeout = node_timeout
        self.appendfsync = appendfsync
        self.nodes = [self.new_node() for _ in range(NODES)]
        self.processes = Processes(self)
        self.local = threading.local()          # each thread's connections
        self.probes = {}                        # master id -> a key it serves
        try:
            for n in self.nodes:
                self.start(n, wait=False)
            for n in self.nodes:
                self.wait_started(n)
                n.id = self.node_cli(n, "CLUSTER", "MYID")
            out = subprocess.run(
                ["redis-cli", "--cluster", "create", *[n.addr for n in self.nodes],
                 "--cluster-replicas", str(REPLICAS), "--cluster-yes"],
                capture_output=True, text=True, timeout=60)
            if out.returncode != 0:
                raise AssertionError("redis-cli --cluster create: " + out.stdout[-500:]
                                     + out.stderr[-500:])
            self.wait_ok(synced=True)
        except BaseException:
            self.stop_all()
            raise

    def wait_started(self, node, tries=3):
        """A new node answers; one that exited at once lost its port or its
        bus port to another socket between free_port() and its bind (a
        client's ephemeral port): it starts again on new ones."""
        for _ in range(tries):
            self.wait_for(f"node {node.port}", lambda: not node.alive()
                          or self.node_cli(node, "PING") == "PONG")
            if node.alive():
                return
            node.port, node.bus = self.free_port(), self.free_port()
            self.start(node, wait=False)
        raise AssertionError(f"{node} did not start")

    def new_node(self):
        port = self.free_port()
        # the bus port: port + 10000 may be past 65535 for a free port
        bus = self.free_port()
        d = os.path.join(self.dir, f"node-{port}")
        os.makedirs(d)
        return Node(port, bus, d)

    def add_replica(self, master):
        """A seventh (eighth, ...) node joins as one more replica of master,
        and is waited for until in sync: a spare, so that master's slots
        keep a replica after a failover (member_redis_replicas)."""
        n = self.new_node()
        self.nodes.append(n)
        self.start(n, wait=False)
        self.wait_started(n)
        n.id = self.node_cli(n, "CLUSTER", "MYID")
        assert self.node_cli(n, "CLUSTER", "MEET", "127.0.0.1", str(master.port),
                             str(master.bus)) == "OK"
        self.wait_for(f"{n} known to {master}", lambda: n.id in self.view(master))
        self.wait_for(f"{n} replicating {master}", lambda: self.node_cli(
            n, "CLUSTER", "REPLICATE", master.id) == "OK")
        self.wait_ok(synced=True)
        return n

    # ---------------------------------------------------------------- processes
    def start(self, node, wait=True):
        """Starts a node (again): same port, folder, nodes.conf and AOF."""
        node.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(node.port),
             "--dir", node.dir, "--appendonly", "yes",
             "--appendfsync", self.appendfsync, "--save", "", "--daemonize", "no",
             "--logfile", os.path.join(node.dir, "redis.log"),
             "--cluster-enabled", "yes", "--cluster-port", str(node.bus),
             "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(self.node_timeout),
             # a replica may always take over: its master's data is ours
             "--cluster-replica-validity-factor", "0",
             # a replica syncs at once, not after 5 s of waiting for others
             "--repl-diskless-sync-delay", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait:
            self.wait_for(f"node {node.port}", lambda: self.node_cli(node, "PING") == "PONG")

    def kill(self, node, sig=signal.SIGKILL):
        node.proc.send_signal(sig)
        node.stopped = sig == signal.SIGSTOP or (node.stopped and sig != signal.SIGCONT)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            node.proc.wait(timeout=10)
            node.stopped = False

    def stop(self, node):
        self.kill(node, signal.SIGSTOP)

    def cont(self, node):
        self.kill(node, signal.SIGCONT)

    def restart_dead(self):
        """Every node that is not running starts again; then the cluster is
        waited for."""
        for n in self.nodes:
            if n.alive():
                n.proc.send_signal(signal.SIGCONT)
                n.stopped = False
            else:
                self.start(n, wait=False)
        for n in self.nodes:
            self.wait_for(f"node {n.port}", lambda: self.node_cli(n, "PING") == "PONG")
        self.wait_ok()

    def stop_all(self):
        for n in self.nodes:
            if n.alive():
                n.proc.send_signal(signal.SIGCONT)
                n.proc.kill()
                n.proc.wait()

    # ---------------------------------------------------------------- commands
    @staticmethod
    def wait_for(what, check, timeout=20.0, interval=0.05):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if check():
                    return
            except (OSError, subprocess.TimeoutExpired):
                pass
            time.sleep(interval)
        raise AssertionError(f"timed out waiting for {what}")

    def node_cli(self, node, *args, timeout=10):
        """One command to this node only (no redirection followed), its
        answer as redis-cli --raw prints it, an error reply its text; over
        a connection the thread keeps, since a redis-cli process would cost
        ~10 ms on a busy machine (OSError when the node is down)."""
        port = node.port if isinstance(node, Node) else node
        conns = self.local.__dict__.setdefault("conns", {})
        for attempt in (1, 2):
            c = conns.get(port)
            try:
                if c is None:
                    c = conns[port] = resp.Conn("127.0.0.1", port, timeout=timeout)
                try:
                    reply = c.call(*args)
                except resp.Error as e:
                    reply = e
                return raw(reply).strip()
            except (OSError, ValueError):
                conns.pop(port, None)
                if c is not None:
                    c.close()
                if attempt == 2 or c is None:
                    raise

    def entry(self):
        """A node that answers: the first one up."""
        for n in self.nodes:
            if n.up():
                return n
        raise AssertionError("no node of the cluster is running")

    def cli(self, *args, timeout=10):
        """redis-cli -c: a command of keys to the node of their slot,
        following MOVED and ASK."""
        out = subprocess.run(["redis-cli", "-c", "-p", str(self.entry().port), "--raw", *args],
                             capture_output=True, text=True, timeout=timeout)
        return out.stdout.strip()

    def on_masters(self, *args):
        return [self.node_cli(n, *args) for n in self.masters()]

    def on_nodes(self, *args):
        return [self.node_cli(n, *args) for n in self.nodes if n.up()]

    # ---------------------------------------------------------------- the map
    def view(self, node=None):
        """CLUSTER NODES as this node sees it: id -> (port, flags, master id,
        slots as (first, last) pairs)."""
        out = self.node_cli(node or self.entry(), "CLUSTER", "NODES")
        view = {}
        for line in out.splitlines():
            f = line.split()
            if len(f) < 8:
                continue
            slots = []
            for s in f[8:]:
                if s.startswith("["):
                    continue            # a slot being imported or migrated
                a, _, b = s.partition("-")
                slots.append((int(a), int(b or a)))
            view[f[0]] = (int(f[1].split(":")[1].split("@")[0]), set(f[2].split(",")),
                          f[3], sorted(slots))
        return view

    def by_id(self, node_id):
        return next(n for n in self.nodes if n.id == node_id)

    def by_port(self, port):
        return next(n for n in self.nodes if n.port == port)

    def masters(self):
        """The masters that serve slots, in port order."""
        view = self.view()
        return sorted((self.by_id(i) for i, (_, flags, _, slots) in view.items()
                       if "master" in flags and "fail" not in flags and slots),
                      key=lambda n: n.port)

    def replica_of(self, master):
        view = self.view()
        for i, (_, flags, of, _) in sorted(view.items(), key=lambda kv: kv[1][0]):
            if of == master.id and "fail" not in flags:
                return self.by_id(i)
        raise AssertionError(f"{master} has no replica")

    def slot_of(self, key):
        return int(self.node_cli(self.entry(), "CLUSTER", "KEYSLOT", key))

    def master_of_slot(self, slot):
        for i, (_, flags, _, slots) in self.view().items():
            if "master" in flags and any(a <= slot <= b for a, b in slots):
                return self.by_id(i)
        raise AssertionError(f"no master serves slot {slot}")

    def master_of(self, key):
        return self.master_of_slot(self.slot_of(key))

    def slots_of(self, master):
        _, _, _, slots = self.view()[master.id]
        return [s for a, b in slots for s in range(a, b + 1)]

    def state_ok(self, synced=False):
        """Every live node says ok and sees the same masters and slots; with
        synced, every replica's link to its master is up too."""
        live = [n for n in self.nodes if n.up()]
        maps = set()
        for n in live:
            if "cluster_state:ok" not in self.node_cli(n, "CLUSTER", "INFO"):
                return False
            view = self.view(n)
            maps.add(tuple(sorted((v[0], tuple(v[3])) for v in view.values()
                                  if "master" in v[1] and v[3])))
            if synced and "slave" in view.get(n.id, (0, set()))[1]:
                if "master_link_status:up" not in self.node_cli(n, "INFO", "replication"):
                    return False
            # a master of slots counts its replicas online (a new cluster
            # attaches them after cluster_state:ok) and they acknowledge
            # its writes: what a WAIT counts
            if synced and "master" in view.get(n.id, (0, set()))[1] \
                    and view[n.id][3] and REPLICAS:
                info = self.node_cli(n, "INFO", "replication")
                online = info.count("state=online")
                if online < REPLICAS or self.acked(n, view[n.id][3], online, 100) < online:
                    return False
        if len(maps) != 1:
            return False
        covered = sum(b - a + 1 for _, ranges in next(iter(maps)) for a, b in ranges)
        return covered == 16384

    def acked(self, master, slots, want, timeout_ms):
        """How many replicas acknowledge a write to master (slots: its
        ranges) within timeout_ms, or once `want` did, as a WAIT after it
        on the same connection counts them.  "state=online" is not
        enough: after a diskless sync the master streams to a replica only
        from its first REPLCONF ACK, and Redis 7.0 drops that ACK when it
        comes before the master reaped the RDB child, so the stream starts
        at the replica's next ACK, up to a second later; a WAIT meanwhile
        counts none.  The probe key is deleted again: the write leaves
        nothing behind."""
        key = self.probes.get(master.id)
        if key is None or not any(a <= resp.key_slot(key) <= b for a, b in slots):
            key = next(k for k in (f"probe:{{{i}}}" for i in range(1000))
                       if any(a <= resp.key_slot(k) <= b for a, b in slots))
            self.probes[master.id] = key
        if self.node_cli(master, "SET", key, "1") != "OK":
            return 0                    # its slot moves (ASK): not now
        self.node_cli(master, "DEL", key)
        return int(self.node_cli(master, "WAIT", str(want), str(timeout_ms)))

    def wait_replicated(self, master, timeout=10.0):
        """Every replica of master has what master has now: replication is
        asynchronous, and a write its replica lacks dies with its master."""
        def offset(node, field):
            for line in self.node_cli(node, "INFO", "replication").splitlines():
                if line.startswith(field + ":"):
                    return int(line.split(":")[1])
            return -1
        want = offset(master, "master_repl_offset")
        replicas = [n for n in self.nodes if n.up() and n is not master
                    and self.view(n).get(n.id, (0, set(), ""))[2] == master.id]
        for r in replicas:
            self.wait_for(f"{r} replicating {master}",
                          lambda: offset(r, "slave_repl_offset") >= want,
                          timeout=timeout)
        return len(replicas)

    def wait_ok(self, synced=False, timeout=30.0):
        self.wait_for("cluster_state:ok on every node", lambda: self.state_ok(synced),
                      timeout=timeout, interval=0.1)

    # ---------------------------------------------------------------- failover
    def failover(self, master, how=""):
        """The master's replica takes over (CLUSTER FAILOVER [FORCE|TAKEOVER])
        and the cluster agrees; the new master."""
        replica = self.replica_of(master)
        assert self.node_cli(replica, "CLUSTER", "FAILOVER", *([how] if how else [])) == "OK"
        self.wait_for(f"{replica} promoted",
                      lambda: "role:master" in self.node_cli(replica, "INFO", "replication"))
        self.wait_ok()
        return replica

    def wait_promoted(self, master, timeout=30.0):
        """After `master` died: waits until one of its replicas serves its
        slots and every live node agrees; that replica and the time
        (time.monotonic()) it was first seen promoted."""
        replicas = [n for n in self.nodes if n is not master and n.up()
                    and n.id in {i for i, v in self.view().items() if v[2] == master.id}]
        assert replicas, f"{master} has no replica"
        seen = {}

        def promoted():
            for r in replicas:
                if "role:master" in self.node_cli(r, "INFO", "replication"):
                    seen.setdefault(r, time.monotonic())
            return seen and self.state_ok()
        self.wait_for(f"a replica of {master} promoted", promoted, timeout=timeout,
                      interval=0.05)
        r = min(seen, key=seen.get)
        return r, seen[r]

    # ---------------------------------------------------------------- resharding
    def reshard(self, src, dst, slots, timeout=120):
        """redis-cli --cluster reshard: `slots` slots and their keys from src
        to dst; waits until every node agrees."""
        out = subprocess.run(
            ["redis-cli", "--cluster", "reshard", self.entry().addr,
             "--cluster-from", src.id, "--cluster-to", dst.id,
             "--cluster-slots", str(slots), "--cluster-yes", "--cluster-pipeline", "100"],
            capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0 or "ERR" in out.stdout:
            raise AssertionError("reshard: " + out.stdout[-800:] + out.stderr[-500:])
        self.wait_ok()
        return out.stdout

    def move_slot(self, slot, dst, between=None, batch=100, wait=True):
        """One slot and its keys to dst, as redis-cli does it: IMPORTING on
        dst, MIGRATING on the source, MIGRATE the keys, then SETSLOT NODE on
        every master.  between(), if given, runs while the slot is
        migrating with half its keys moved (commands there get ASK).  With
        wait, until every node agrees (the masters know at once)."""
        src = self.master_of_slot(slot)
        if src is dst:
            return
        assert self.node_cli(dst, "CLUSTER", "SETSLOT", str(slot), "IMPORTING", src.id) == "OK"
        assert self.node_cli(src, "CLUSTER", "SETSLOT", str(slot), "MIGRATING", dst.id) == "OK"
        keys = self.node_cli(src, "CLUSTER", "GETKEYSINSLOT", str(slot), "100000").split()
        half = len(keys) // 2 if between else len(keys)
        self.migrate(src, dst, keys[:half], batch)
        if between:
            between()
        while True:             # keys written meanwhile, until none is left
            keys = self.node_cli(src, "CLUSTER", "GETKEYSINSLOT", str(slot), "100000").split()
            if not keys:
                break
            self.migrate(src, dst, keys, batch)
        masters = self.masters()
        for n in [dst, src] + [m for m in masters if m not in (src, dst)]:
            assert self.node_cli(n, "CLUSTER", "SETSLOT", str(slot), "NODE", dst.id) == "OK"
        if wait:
            self.wait_ok()

    def migrate(self, src, dst, keys, batch):
        for i in range(0, len(keys), batch):
            out = self.node_cli(src, "MIGRATE", "127.0.0.1", str(dst.port), "", "0", "5000",
                                "REPLACE", "KEYS", *keys[i:i + batch])
            assert out in ("OK", "NOKEY"), out
