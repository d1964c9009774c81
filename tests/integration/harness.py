"""The integration tests' world: a real redis-server, the fake WeChat and
Debian's nginx with the built module, each on a free loopback port, in a
private folder that is removed afterwards.

    env = Env()            # starts all three
    status, body = env.get("/api/card", token=t)
    env.stop()

Nothing here is faked but WeChat's servers (tests/fake_wechat.py).

MEMBER_TEST_REDIS=cluster (or Env(cluster=True)) puts a Redis Cluster in
place of the one redis-server: six `redis-server --cluster-enabled yes`,
three masters and a replica each (`redis-cli --cluster create`), and the
module's `member_redis_cluster` naming all six.  `rcli` then follows the
cluster's redirections (`redis-cli -c`) and sends the commands of no key
(KEYS, FLUSHALL, CONFIG SET, EVAL of no key, ...) to every master; the
cluster's own steps (kill, stop or promote a node, reshard, move a slot)
are the methods under "cluster".
"""

import copy
import grp
import itertools
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# make test-asan points these at build-asan/'s module and libasan
MODULE = os.environ.get("MEMBER_TEST_MODULE") or \
    os.path.join(ROOT, "build", "ngx_http_member_module.so")
PRELOAD = os.environ.get("MEMBER_TEST_PRELOAD", "")
CONF_IN = os.path.join(ROOT, "tests", "integration", "nginx.conf.in")
FAKE = os.path.join(ROOT, "tests", "fake_wechat.py")

APPID = "wx0123456789abcdef"
SECRET = "test-app-secret-5f1c9e27d3"
ADMIN_TOKEN = "test-admin-token-8c41b7e0a2"
CODE_SECRET = "test-code-secret-2b7e151628aed2a6"
PII_KEY = "5d1e0c6a9b2f47e38a71c0d4e6f2b9a13c5e7d9f0a2b4c6d8e0f1a3b5c7d9e1f"
OA_TOKEN = "testOaToken7d2c91"
OA_AES_KEY = "mVMyxJ2Rn8YojMuJfnn3fOkavG4Hw2D7Io6YJFelwPH"
OA_AES_KEY_OLD = "mSi9PJwbO1QfbkZ2qva2KQQI3wcMmajcKGqfBr8hkLU"
# a second brand's WeChat app (Env(brand2=True)): its own fake WeChat
APPID2 = "wxfedcba9876543210"
SECRET2 = "test-app-secret-brand2-9e04c1"
PII_KEY2 = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0"


def brand_server(brand, app=1, server_name=None):
    """A server block for Env(extra_http=...): `member_brand brand` on the
    http level's Redis, on port2 (by server_name when several share it),
    with the member locations; its WeChat app is the Env's (app=1) or the
    second one (app=2, Env(brand2=True): its own fake, upstream and PII
    key; one such block per Env)."""
    upstream, appid, secret, pii = {
        1: ("wechat_api", "@APPID@", "@SECRET@", "k1 @PII_KEY@"),
        2: ("wechat_api2", "@APPID2@", "@SECRET2@", "b2k1 " + PII_KEY2)}[app]
    conf = "" if app == 1 else """
    upstream wechat_api2 {
        server 127.0.0.1:@FAKE2_PORT@;
    }
"""
    return conf + f"""
    server {{
        listen 127.0.0.1:@PORT2@;
        {f"server_name {server_name};" if server_name else ""}
        member_brand {brand};

        member_wechat_appid {appid};
        member_wechat_secret {secret};
        member_wechat_api /wechat/;
        member_admin_token @ADMIN_TOKEN@;
        member_pii_key {pii};
        member_code_secret @CODE_SECRET@;

        location = /status {{ member_status; }}
        location = /login {{ member_wechat_login; }}
        location /api/ {{ member_api; }}
        location /admin/ {{ member_admin; }}
        location /scan/ {{ member_scan; }}

        location /wechat/ {{
            internal;
            proxy_pass http://{upstream}/;
            proxy_pass_request_headers off;
            proxy_set_header Content-Type "application/json";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host api.weixin.qq.com;
            proxy_connect_timeout 1s;
            proxy_read_timeout 2s;
            subrequest_output_buffer_size 128k;
        }}
    }}
"""


# MEMBER_TEST_REDIS=cluster: every Env on a Redis Cluster (make test-cluster)
CLUSTER = os.environ.get("MEMBER_TEST_REDIS", "") == "cluster"
# commands of no key: rcli sends them to every master, or every node
ON_MASTERS = {"KEYS", "DBSIZE", "FLUSHALL", "FLUSHDB", "CLIENT", "SCRIPT"}
ON_NODES = {"CONFIG", "ACL"}


# commands whose first argument is the only key (rcli brands it)
ONE_KEY = {"GET", "SET", "DEL", "EXISTS", "TYPE", "TTL", "PTTL", "EXPIRE", "DUMP",
           "INCR", "INCRBY", "HGET", "HSET", "HDEL", "HGETALL", "HEXISTS", "HINCRBY",
           "HMGET", "HLEN", "HKEYS", "ZADD", "ZREM", "ZCARD", "ZSCORE", "ZRANGE",
           "ZRANGEBYSCORE", "XADD", "XRANGE", "XREVRANGE", "XLEN", "SADD", "SREM",
           "SMEMBERS", "SCARD", "SISMEMBER", "LRANGE", "LLEN", "OBJECT"}


def brand_key(brand, key):
    """A key in a brand's namespace (member_brand, docs/keys.md): the brand
    after the hash tag's first word ({m:5}:ledger is {m:ID:5}:ledger, {b}
    {b:ID}), or "ID:" before a key of no tag (ID:member:seq)."""
    start = key.find("{")
    end = key.find("}", start + 1) if start >= 0 else -1
    if start < 0 or end == start + 1 or end < 0:
        return f"{brand}:{key}"
    colon = key.find(":", start + 1, end)
    at = colon if colon >= 0 else end
    return key[:at] + ":" + brand + key[at:]


def branded(brand, args):
    """A command's arguments with its keys in the brand's namespace."""
    if not brand:
        return list(args)
    args = list(args)
    name = args[0].upper()
    if name in ONE_KEY or name == "KEYS":
        args[1] = brand_key(brand, args[1])
    elif name in ("EVAL", "EVALSHA"):
        n = int(args[2])
        args[3:3 + n] = [brand_key(brand, k) for k in args[3:3 + n]]
    return args


# A database of one server is a brand on the cluster (render_conf): an EVAL
# of no key that lists KEYS '*' sees the keys of its own database only
# there too, those of brand db<N>, or for database 0 those of no db<N>.
VIEW = r"""
local function __keys()
  local out = {}
  for _, k in ipairs(redis.call('KEYS', '*')) do
    local b
    local s = string.find(k, '{', 1, true)
    local e = s and string.find(k, '}', s + 1, true)
    if e and e > s + 1 then
      local tag = string.sub(k, s + 1, e - 1)
      local w = string.find(tag, ':', 1, true)
      b = w and (string.match(string.sub(tag, w + 1), '^(db%d+)$')
                 or string.match(string.sub(tag, w + 1), '^(db%d+):'))
    else
      b = string.match(k, '^(db%d+):')
    end
    if b == @BRAND@ then out[#out + 1] = k end
  end
  return out
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, check, timeout=10.0, interval=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def single_redis(why):
    """Marks a test that holds only on one redis-server (why: the reason);
    run.py leaves it out on a cluster (MEMBER_TEST_REDIS=cluster)."""
    def mark(fn):
        fn.single_redis = why
        return fn
    return mark


# The brand's hot keys are spread over 16 buckets of their own slots
# (docs/keys.md), and the un-bucketed key of before is still read.
BUCKETS = 16


def bucket_keys(kind, suffix=""):
    """every source of a kind: {b:<kind>:0..15}<suffix>, then the old key"""
    old = {"fold": "{b}:fold", "wx": "{b}:wx", "due": "ledger:due"}[kind]
    return ["{b:%s:%d}%s" % (kind, i, suffix) for i in range(BUCKETS)] \
        + [old + suffix]


def bucket_key(kind, member, suffix=""):
    """the key of a kind in a member's bucket"""
    return "{b:%s:%d}%s" % (kind, int(member) % BUCKETS, suffix)


def waiting(env, kind):
    """members waiting in every source of a kind (ZCARD summed)"""
    return sum(int(env.rcli("ZCARD", k) or 0) for k in bucket_keys(kind))


def openid_for(name):
    """The openid the fake gives for the code ok-<name>."""
    return ("o" + name + "_" * 28)[:28]


DIGEST = """
local keys = redis.call('KEYS', '*')
table.sort(keys)
local acc = {}
for _, k in ipairs(keys) do
  -- the ledger's sweep and the fold (their timers) keep their own schedule
  if string.sub(k, 1, 7) ~= 'ledger:' and not (string.find(k, '^{b}:fold') or string.find(k, '^{b}:day:')
         or string.find(k, '^{b:fold:') or string.find(k, '^{b:due:')
         or string.find(k, '^{b}:store:') or string.find(k, '^{s:[^}]*}:ledger$')
         or string.find(k, '^{s:[^}]*}:copied$') or k == '{b}:cursors'
         or k == '{b}:members' or k == '{b}:totals'
         or string.find(k, '^{b:wx:%d+}:tries$') or k == '{b}:wx:tries') then
    local t = redis.call('TYPE', k).ok
    local v
    -- the outbox's queue: who waits counts, not when its timer retries
    local queue = string.find(k, '^{b:wx:%d+}$') or k == '{b}:wx'
    if t == 'string' then v = {redis.call('GET', k)}
    elseif t == 'zset' and queue then v = redis.call('ZRANGE', k, 0, -1)
    elseif t == 'hash' then
        -- DUMP of a hash follows its table's order, which reads can move
        local f = redis.call('HGETALL', k)
        v = {}
        for i = 1, #f, 2 do v[#v + 1] = f[i] .. '=' .. f[i + 1] end
        table.sort(v)
    elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
    elseif t == 'set' then v = redis.call('SMEMBERS', k); table.sort(v)
    elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
    else v = {redis.call('DUMP', k)} end
    acc[#acc + 1] = k .. ':' .. t .. ':' .. table.concat(v, '|')
  end
end
return redis.sha1hex(table.concat(acc, '\\n')) .. ' ' .. #acc
"""


def analytics_settled(env, limit=5.0):
    """Waits out the analytics pass, which writes the members' segments
    and tags: one asked for (POST campaigns/run) starts within a second,
    and in the 4 o'clock hour (China time) a brand that had no pass today
    starts one within a second of its start; without this a digest taken
    then sees it land (docs/analytics.md).  A world with
    no timers never starts one: after the limit the digest goes ahead."""
    deadline = time.monotonic() + limit
    while True:
        phase, day, asked, served = (env.rcli("HMGET", "{b}:rfm:state", "phase", "day", "requests",
                                              "served").split("\n") + [""] * 4)[:4]
        hour = (int(time.time()) + 8 * 3600) // 3600 % 24
        if (phase in ("", "idle") and (hour != 4 or day)
                and int(asked or 0) <= int(served or 0)) \
                or time.monotonic() > deadline:
            return
        time.sleep(0.1)


def digest(env):
    """Redis as one hash, but for what the timers keep."""
    analytics_settled(env)
    out = env.rcli("EVAL", DIGEST, "0")
    # an error would be the same text before and after: a check that
    # cannot fail
    assert re.fullmatch(r"[0-9a-f]{40} [0-9]+", out), out
    return out


def make_key(env, role, stores=None, name=None):
    """An admin API key with this role (POST keys): its id and the key;
    the key and its secret become secrets the error log must not hold."""
    body = {"name": name or f"{role} key", "role": role}
    if stores is not None:
        body["stores"] = stores
    r = env.admin("POST", "keys", body)
    assert r.status == 201, r
    key = r.json["key"]
    env.secrets = getattr(env, "secrets", []) + [key, key.split(".", 1)[1]]
    return r.json["key_id"], key


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:200]!r}>"


class Env:
    def __init__(self, workers=1, redis_timeout="500ms", extra_http="",
                 extra_server="", brand2=False, cluster=None, peer_of=None,
                 node_timeout=1500):
        self.dir = tempfile.mkdtemp(prefix="ngx-member-test-")
        os.chmod(self.dir, 0o755)           # the workers run as nobody
        os.makedirs(os.path.join(self.dir, "tmp"))
        os.makedirs(os.path.join(self.dir, "redis"))
        # MEMBER_TEST_REDIS=cluster, unless the test says which
        self.cluster = CLUSTER if cluster is None else cluster
        self.node_timeout = node_timeout
        self.nodes = []                     # the cluster's (cluster.Node)
        self.redis_port = free_port()
        self.fake_port = free_port()
        self.port = free_port()
        # a second brand's server block (in extra_http) may use these
        self.port2 = free_port()
        self.fake2_port = free_port()
        self.db = 0                         # rcli's Redis database
        self.brand = None                   # rcli's brand (member_brand)
        self.host = None                    # request()'s Host, if not ours
        self.workers = workers
        self.redis_timeout = redis_timeout
        self.extra_http = extra_http
        self.extra_server = extra_server
        self.redis = self.fake = self.fake2 = self.nginx = None
        self.rc = None                      # the cluster (cluster.Cluster)
        self.peers = []                     # other nginx nodes (peer())
        # peer_of: another nginx node on that Env's Redis and fake WeChat
        self.peer_of = peer_of
        try:
            if peer_of:
                self.share_redis(peer_of)
            else:
                self.start_redis()
                self.start_fake()
            if brand2:
                self.fake2 = self.fake_process(self.fake2_port, APPID2, SECRET2)
            self.start_nginx()
        except BaseException:
            self.stop()
            raise

    # ---------------------------------------------------------------- redis
    def start_redis(self):
        if self.cluster:
            return self.start_cluster()
        self.redis = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port),
             "--dir", os.path.join(self.dir, "redis"), "--appendonly", "yes",
             "--appendfsync", "always", "--save", "", "--daemonize", "no",
             "--logfile", os.path.join(self.dir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until("redis", lambda: self.rcli("PING") == "PONG")

    def rcli(self, *args):
        """redis-cli: on a cluster, cluster_cli(); a brand's keys (self.brand)
        in its namespace."""
        if self.cluster:
            return self.cluster_cli(*args)
        if self.brand:
            args = list(args[:2]) + branded(self.brand, args[2:]) if args[:1] == ("-n",) \
                else branded(self.brand, args)
        out = subprocess.run(["redis-cli", "-p", str(self.redis_port), "-n", str(self.db),
                              "--raw", *args],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip()

    def kill_redis(self, sig=signal.SIGKILL):
        """The Redis server (on a cluster: every node) gets the signal."""
        self.redis.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.redis.wait(timeout=10)

    def share_redis(self, first):
        self.cluster, self.rc, self.nodes = first.cluster, first.rc, first.nodes
        self.redis_port, self.fake_port = first.redis_port, first.fake_port
        self.fake2_port = first.fake2_port

    def peer(self, workers=1, **kw):
        """Another nginx node on this Env's Redis (or cluster) and fake
        WeChat, with the same configuration unless kw says otherwise; it is
        stopped with this Env and its error log checked with this one's."""
        args = dict(workers=workers, redis_timeout=self.redis_timeout,
                    extra_http=self.extra_http, extra_server=self.extra_server,
                    node_timeout=self.node_timeout)
        args.update(kw)
        p = Env(peer_of=self, **args)
        self.peers.append(p)
        return p

    # ---------------------------------------------------------------- cluster
    def start_cluster(self):
        """Six redis-servers in cluster mode (tests/integration/cluster.py);
        on a second call, the nodes that are not running start again."""
        import cluster
        if self.rc:
            self.rc.restart_dead()
            return
        self.rc = cluster.Cluster(os.path.join(self.dir, "redis"), free_port,
                                  node_timeout=self.node_timeout)
        self.nodes = self.rc.nodes
        self.redis = self.rc.processes
        self.redis_port = self.nodes[0].port

    def cluster_cli(self, *args):
        """rcli on the cluster: a command of keys to its slot's master
        (redis-cli -c); one of no key to every master (or node), its
        outputs joined: KEYS' lines, DBSIZE's sum, OK when all say OK; EVAL
        of no key on every master, its answers one a line in port order."""
        args = list(args)
        brand = self.brand or (f"db{self.db}" if self.db else None)
        if args[:1] == ["-n"]:
            # a database of one server is a brand on the cluster (render_conf)
            brand = brand if args[1] == "0" else f"db{args[1]}"
            args = args[2:]
        args = branded(brand, args)
        name = args[0].upper()
        if name == "EVAL" and args[2] == "0" and "redis.call('KEYS', '*')" in args[1] \
                and (not brand or re.fullmatch(r"db\d+", brand)):
            view = VIEW.replace("@BRAND@", f"'{brand}'" if brand else "nil")
            args[1] = view + args[1].replace("redis.call('KEYS', '*')", "__keys()")
        if name in ("EVAL", "EVALSHA") and args[2] == "0":
            return "\n".join(self.rc.on_masters(*args))
        if name in ON_MASTERS or name in ON_NODES:
            outs = self.rc.on_masters(*args) if name in ON_MASTERS else self.rc.on_nodes(*args)
            if name == "DBSIZE":
                return str(sum(int(o or 0) for o in outs))
            if name == "KEYS":
                return "\n".join(itertools.chain.from_iterable(o.split() for o in outs))
            if all(o == "OK" for o in outs):
                return "OK"
            if name == "CONFIG" and args[1].upper() == "GET":
                return outs[0]
            return "\n".join(outs)
        return self.rc.cli(*args)

    def keys(self, pattern="*"):
        """Every key of the pattern, on every master."""
        return sorted(k for k in self.rcli("KEYS", pattern).split("\n") if k)

    def flush(self):
        assert self.rcli("FLUSHALL") == "OK"

    # ---------------------------------------------------------------- fake WeChat
    def start_fake(self):
        self.fake = self.fake_process(self.fake_port, APPID, SECRET)

    def fake_process(self, port, appid, secret):
        p = subprocess.Popen(
            ["python3", FAKE, "--port", str(port), "--appid", appid, "--secret", secret],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        c = copy.copy(self)
        c.fake_port = port
        wait_until("fake wechat", lambda: c.fake_get("/_fake/calls") is not None)
        return p

    def fake_get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.fake_port, timeout=5)
        try:
            c.request("GET", path)
            return json.loads(c.getresponse().read())
        finally:
            c.close()

    def kill_fake(self):
        self.fake.kill()
        self.fake.wait(timeout=10)

    # ---------------------------------------------------------------- nginx
    def render_conf(self):
        with open(CONF_IN) as f:
            conf = f.read()
        # first, so that the extra blocks may use the placeholders too
        conf = conf.replace("@EXTRA_HTTP@", self.extra_http)
        conf = conf.replace("@EXTRA_SERVER@", self.extra_server)
        # workers run as the tests' user: the checkout's pages are then
        # readable wherever it lies (a clone in a 0700 mktemp folder too)
        user = pwd.getpwuid(os.geteuid())
        conf = conf.replace("@USER@", f"user {user.pw_name} {grp.getgrgid(user.pw_gid).gr_name};"
                            if os.geteuid() == 0 else "")
        if self.cluster:
            seeds = " ".join(n.addr for n in self.nodes)
            conf = conf.replace("@REDIS@", f"member_redis_cluster {seeds};")
            # a brand's own database on one server is its namespace here
            conf = re.sub(r"member_redis 127\.0\.0\.1:@REDIS_PORT@ db=(\d+);",
                          r"member_brand db\1;", conf)
        else:
            conf = conf.replace("@REDIS@", f"member_redis 127.0.0.1:{self.redis_port};")
        for k, v in {"MODULE": MODULE, "RUN": self.dir, "PORT": self.port,
                     "REDIS_PORT": self.redis_port, "FAKE_PORT": self.fake_port,
                     "WORKERS": self.workers, "REDIS_TIMEOUT": self.redis_timeout,
                     "APPID": APPID, "SECRET": SECRET, "ADMIN_TOKEN": ADMIN_TOKEN,
                     "PII_KEY": PII_KEY, "CODE_SECRET": CODE_SECRET,
                     "OA_TOKEN": OA_TOKEN, "OA_AES_KEY": OA_AES_KEY,
                     "OA_AES_KEY_OLD": OA_AES_KEY_OLD, "PORT2": self.port2,
                     "FAKE2_PORT": self.fake2_port, "APPID2": APPID2,
                     "SECRET2": SECRET2}.items():
            conf = conf.replace("@" + k + "@", str(v))
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        return path

    def nginx_cmd(self, *extra):
        return ["nginx", "-p", self.dir + "/", "-c", os.path.join(self.dir, "nginx.conf"),
                "-e", self.error_log, *extra]

    @property
    def error_log(self):
        return os.path.join(self.dir, "error.log")

    @property
    def nginx_env(self):
        """Every nginx process, -t and -s too, gets the preloaded library;
        AddressSanitizer writes its reports into the test's folder."""
        if not PRELOAD:
            return None
        env = dict(os.environ, LD_PRELOAD=PRELOAD)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [
            os.environ.get("ASAN_OPTIONS", ""), "log_path=" + os.path.join(self.dir, "asan")]))
        return env

    def asan_text(self):
        """The reports AddressSanitizer wrote (asan.<pid>), if any."""
        out = []
        for name in sorted(os.listdir(self.dir)) if os.path.isdir(self.dir) else []:
            if name.startswith("asan."):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    out.append(f.read())
        return "".join(out)

    def start_nginx(self):
        self.render_conf()
        subprocess.run(self.nginx_cmd("-t", "-q"), check=True, timeout=30, env=self.nginx_env)
        # MEMBER_TEST_WRAPPER="valgrind ..." runs nginx under a tool
        wrapper = os.environ.get("MEMBER_TEST_WRAPPER", "").split()
        self.nginx = subprocess.Popen(wrapper + self.nginx_cmd(), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env=self.nginx_env)
        wait_until("nginx", lambda: self.request("GET", "/status").status == 200,
                   timeout=60 if wrapper else 10)

    def worker_pids(self):
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.nginx.pid)],
                             capture_output=True, text=True)
        return sorted(int(p) for p in out.stdout.split())

    def signal_nginx(self, what):
        subprocess.run(self.nginx_cmd("-s", what), check=True, timeout=30, env=self.nginx_env)

    def log_text(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # ---------------------------------------------------------------- HTTP
    def request(self, method, path, body=None, headers=None, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            headers = dict(headers or {})
            if self.host:
                headers.setdefault("Host", self.host)
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
            resp.header_list = r.getheaders()      # Set-Cookie comes more than once
            return resp
        finally:
            c.close()

    def admin(self, method, path, body=None, token=ADMIN_TOKEN, headers=None):
        h = {"Authorization": "Bearer " + token} if token else {}
        h.update(headers or {})
        return self.request(method, "/admin/" + path, body, h)

    def api(self, path, token, method="GET"):
        return self.request(method, "/api/" + path, headers={"Authorization": "Bearer " + token})

    _codes = 0

    def login(self, name, kind="ok"):
        Env._codes += 1
        return self.request("POST", "/login", {"code": f"{kind}-{name}-{Env._codes}"})

    def member(self, name=None, level=None):
        """A new member (with the openid of `name` if given): its id and card."""
        body = {}
        if name:
            body["openid"] = openid_for(name)
        if level:
            body["level"] = level
        r = self.admin("POST", "members", body)
        assert r.status == 201, r
        return r.json["member_id"], r.json["card_no"]

    def brand2(self, port=None, host=None):
        """The second brand of Env(brand2=True) as an Env of its own: its
        server block (on port2, or on `port` by its `host` name), Redis
        database 1 and its own fake WeChat."""
        b = copy.copy(self)
        b.port, b.host, b.db, b.fake_port = port or self.port2, host, 1, self.fake2_port
        return b

    # ---------------------------------------------------------------- the end
    def stop(self):
        for p in self.peers:
            p.stop()
        if self.nginx and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()
        if self.peer_of:
            pass                            # the first node's Redis and fake
        elif self.rc:
            self.rc.stop_all()
        for p in (self.fake, self.fake2, None if self.rc else self.redis):
            if p and p.poll() is None:
                if p is self.redis:
                    p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait()
        # the other nodes' logs are checked with this one's
        self.log = self.log_text() + "".join(p.log for p in self.peers)
        self.asan = self.asan_text() + "".join(p.asan for p in self.peers)
        shutil.rmtree(self.dir, ignore_errors=True)
