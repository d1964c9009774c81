"""The job runner (ngx_http_member_job.c): every background job of every
brand runs on it, and with `error_log ... debug` (Debian's nginx is built
--with-debug) each slice of each job says when it starts and ends, and the
lease of each brand's Redis what it answered."""

import re
import subprocess
import time

import harness
from test_brands import SERVER_LEVEL

JOBS = ("sweep", "analytics", "fold", "outbox")


def debug_log(env):
    """The same nginx, its error log at debug from the next workers on."""
    path = env.render_conf()
    with open(path) as f:
        conf = f.read()
    conf = conf.replace("/error.log info;", "/error.log debug;")
    assert "/error.log debug;" in conf
    with open(path, "w") as f:
        f.write(conf)
    subprocess.run(env.nginx_cmd("-s", "reload"), check=True, timeout=30)


@harness.own_env(**SERVER_LEVEL)
def test_every_job_of_every_brand_traces_its_slices(env):
    debug_log(env)
    seen = set()
    pattern = re.compile(r'member job (\w+) of "[^"]+" db=(\d+): slice \d+ (start|end)')
    end = time.monotonic() + 15
    want = {(j, db, what) for j in JOBS for db in ("0", "1") for what in ("start", "end")}
    while time.monotonic() < end and not want <= seen:
        time.sleep(0.5)
        seen = set(pattern.findall(env.log_text()))
    assert want <= seen, sorted(want - seen)
    log = env.log_text()
    assert re.search(r'member job: lease of "[^"]+" db=0 held', log)
    assert re.search(r'member job: lease of "[^"]+" db=1 held', log)
