"""The demo (`make run`, tools/demo.sh) from a copy of the checkout in a
0700 folder, as a clone under a home directory or `mktemp -d` is, on a free
port (DEMO_PORT), so that it never meets a demo already running on 8080:
the card page and the console are served, every curl line it prints
answers 2xx, a second start seeds nothing twice, and a seeding step that
fails stops it with a message and a non-zero exit status."""

import os
import re
import shutil
import subprocess
import tempfile
import urllib.request

from harness import ROOT, free_port, wait_until

# the files `make run` uses, besides what make builds
PARTS = ["conf", "tools", "tests/fake_wechat.py",
         "build/ngx_http_member_module.so", "build/html"]


def copy_checkout(top):
    clone = os.path.join(top, "clone")
    for part in PARTS:
        src, dst = os.path.join(ROOT, part), os.path.join(clone, part)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.isdir(src):
            shutil.copytree(src, dst, symlinks=False)
        else:
            shutil.copy2(src, dst)
    return clone


def demo(clone, port, what):
    env = dict(os.environ, DEMO_PORT=str(port))
    env.pop("DEMO_VAR", None)
    return subprocess.run([os.path.join(clone, "tools/demo.sh"), what],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=120)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


# Each curl the printed lines run (tools/till.sh's too) goes through this
# function, which records the status of every answer.
CURL_WRAPPER = r'''
curl() {
    local body code
    body=$(mktemp)
    code=$(command curl -sS -o "$body" -w '%{http_code}' "$@") || {
        echo "curl did not get an answer: $*" >&2; rm -f "$body"; return 1; }
    printf '%s %s\n' "$code" "$*" >>"$STATUS_LOG"
    cat "$body"
    rm -f "$body"
}
export -f curl
set -eo pipefail
'''


def printed_lines(out):
    """The shell lines to try that the demo printed (after the first '#')."""
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  # "))
    return [line.strip() for line in lines[first:]
            if line.startswith("  ") and not line.strip().startswith("#") and line.strip()]


def test_demo_from_a_0700_folder(env):
    top = tempfile.mkdtemp(prefix="member-demo-")
    os.chmod(top, 0o700)
    clone = copy_checkout(top)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    var = os.path.join(clone, "var/demo")
    try:
        r = demo(clone, port, "start")
        assert r.returncode == 0, f"demo start failed: {r.stderr[-2000:]}"
        out = r.stdout
        assert "are seeded" in out
        assert "/null" not in out and "null" not in out, out

        # the pages, their assets, under the 0700 folder
        for page in ("card", "console"):
            status, html = get(f"{base}/{page}/")
            assert status == 200, (page, status)
            for asset in re.findall(r'(?:src|href)="(/assets/[^"]+)"', html):
                assert get(base + asset)[0] == 200, asset

        # every printed line runs, and each of its curls answers 2xx
        lines = printed_lines(out)
        expected = sum(line.count("curl ") + line.count("till.sh ") for line in lines)
        assert expected >= 10, lines
        log = os.path.join(top, "statuses")
        script = CURL_WRAPPER + "\n".join(lines) + "\n"
        r = subprocess.run(["bash", "-c", script], cwd=clone, capture_output=True, text=True,
                           timeout=120, env=dict(os.environ, STATUS_LOG=log))
        assert r.returncode == 0, f"printed lines failed: {r.stderr[-2000:]}\n{r.stdout[-2000:]}"
        statuses = open(log).read().splitlines()
        assert len(statuses) == expected, (statuses, lines)
        bad = [s for s in statuses if not s.startswith("2")]
        assert not bad, bad
        # the till paid from alice's seeded balance: ¥550 - ¥10 at gold's price
        assert re.search(r'"balance_fen":\d+', r.stdout), r.stdout[-2000:]
        assert '"member_id":"' in r.stdout

        # a second start starts nothing twice and seeds nothing twice
        secret = open(os.path.join(var, "store-S001.secret")).read()
        pids = {f: open(os.path.join(var, f)).read() for f in
                ("nginx.pid", "redis.pid", "wechat.pid")}
        r = demo(clone, port, "start")
        assert r.returncode == 0, f"second start failed: {r.stderr[-2000:]}"
        assert open(os.path.join(var, "store-S001.secret")).read() == secret
        assert pids == {f: open(os.path.join(var, f)).read() for f in pids}

        # Redis out of reach (its socket gone, nginx's connections cut): the
        # seeding stops the demo with a message, and no success is claimed
        sock = os.path.join(var, "redis.sock")
        os.rename(sock, sock + ".away")
        subprocess.run(["redis-cli", "-s", sock + ".away", "CLIENT", "KILL", "TYPE", "normal"],
                       capture_output=True, timeout=10)
        r = demo(clone, port, "start")
        assert r.returncode != 0, r.stdout
        assert "are seeded" not in r.stdout, r.stdout
        assert "seeding failed" in r.stderr and "503" in r.stderr, r.stderr
        os.rename(sock + ".away", sock)

        r = demo(clone, port, "stop")
        assert r.returncode == 0, r.stderr
        for f in pids:
            assert not os.path.exists(os.path.join(var, f)), f
        wait_until("the demo's port is free", lambda: get_refused(base))
    finally:
        demo(clone, port, "stop")
        shutil.rmtree(top, ignore_errors=True)


def get_refused(base):
    try:
        get(base + "/status")
    except OSError:
        return True
    return False
