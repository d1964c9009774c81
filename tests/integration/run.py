#!/usr/bin/env python3
"""Runs the integration tests: every test_*(env) function of every
tests/integration/test_*.py, sharing one Env (harness.py) per file unless a
test asks for its own with @own_env(...).  After each Env, its error log
must hold no alert and no secret, and no nginx process may have written a
report of AddressSanitizer (make test-asan).  Ends with "N passed, N failed".

    run.py [-k substring]...     (several -k: a test that matches any)
    run.py --cluster [-k substring]...

--cluster (make test-cluster) runs them on a Redis Cluster
(MEMBER_TEST_REDIS=cluster, harness.py): by default the files of
CLUSTER_FILES and every file with CLUSTER_ONLY = True (test_cluster.py),
which runs only with --cluster; a test marked @single_redis is left out
with its reason.
"""

import importlib
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# the files that run on the cluster too (make test-cluster)
CLUSTER_FILES = ("test_ledger", "test_scan", "test_till_recharge", "test_oa", "test_outbox",
                 "test_cluster", "test_cluster_client")

if "--cluster" in sys.argv:
    os.environ["MEMBER_TEST_REDIS"] = "cluster"

import harness  # noqa: E402

BAD_LOG_LEVELS = ("[alert]", "[emerg]", "[crit]")


def own_env(**kwargs):
    """The test gets an Env of its own, made with these arguments."""
    def mark(fn):
        fn.own_env = kwargs
        return fn
    return mark


harness.own_env = own_env


def check_log(env, secrets):
    problems = []
    log = env.log
    for line in log.splitlines():
        if any(level in line for level in BAD_LOG_LEVELS):
            problems.append("error log: " + line[:300])
    # make test-asan: a report of AddressSanitizer in any nginx process
    asan = getattr(env, "asan", "")
    if "AddressSanitizer" in asan or "AddressSanitizer" in log:
        problems.append("AddressSanitizer:\n" + (asan or log)[:6000])
    for s in secrets:
        if s and s in log:
            problems.append(f"a secret reached the error log: {s[:6]}...")
    return problems


def secrets_of(env):
    return [harness.SECRET, harness.SECRET2, harness.ADMIN_TOKEN, harness.OA_TOKEN,
            harness.OA_AES_KEY, harness.OA_AES_KEY_OLD] + list(getattr(env, "secrets", []))


def run_one(name, fn, env):
    t0 = time.monotonic()
    try:
        fn(env)
    except Exception as e:  # noqa: BLE001
        tb = traceback.format_exc(limit=3)
        print(f"FAIL {name} ({time.monotonic() - t0:.2f}s): {e!r}\n{tb}", flush=True)
        return False
    print(f"ok   {name} ({time.monotonic() - t0:.2f}s)", flush=True)
    return True


def main():
    only = [a for k, a in zip(sys.argv, sys.argv[1:]) if k == "-k"]
    passed = failed = 0
    files = sorted(f[:-3] for f in os.listdir(HERE)
                   if f.startswith("test_") and f.endswith(".py"))
    if harness.CLUSTER and not only:
        files = [f for f in files if f in CLUSTER_FILES or
                 getattr(importlib.import_module(f), "CLUSTER_ONLY", False)]
    for modname in files:
        mod = importlib.import_module(modname)
        if getattr(mod, "CLUSTER_ONLY", False) and not harness.CLUSTER:
            if any(o in modname or modname in o for o in only):
                print(f"skip {modname}: a cluster's only (run.py --cluster)")
            continue
        tests = [(n, getattr(mod, n)) for n in sorted(dir(mod), key=lambda n: getattr(
                 getattr(mod, n), "__code__", None) and getattr(mod, n).__code__.co_firstlineno or 0)
                 if n.startswith("test_") and callable(getattr(mod, n))]
        if only:
            tests = [(n, f) for n, f in tests
                     if any(o in f"{modname}.{n}" for o in only)]
        if harness.CLUSTER:
            for n, f in tests:
                if hasattr(f, "single_redis"):
                    print(f"skip {modname}.{n}: single Redis only: {f.single_redis}")
            tests = [(n, f) for n, f in tests if not hasattr(f, "single_redis")]
        shared = [(n, f) for n, f in tests if not hasattr(f, "own_env")]
        alone = [(n, f) for n, f in tests if hasattr(f, "own_env")]
        groups = ([(shared, getattr(mod, "ENV", {}))] if shared else []) + \
                 [([t], t[1].own_env) for t in alone]
        for group, kwargs in groups:
            try:
                env = harness.Env(**kwargs)
            except Exception as e:  # noqa: BLE001
                for n, _ in group:
                    print(f"FAIL {modname}.{n}: environment did not start: {e!r}")
                failed += len(group)
                continue
            results = []
            try:
                for n, f in group:
                    results.append(run_one(f"{modname}.{n}", f, env))
            finally:
                env.stop()
            problems = check_log(env, secrets_of(env))
            if problems:
                print(f"FAIL {modname}: " + "\n     ".join(problems[:10]))
                results[-1] = False
            passed += results.count(True)
            failed += results.count(False)
    print(f"integration{' (cluster)' if harness.CLUSTER else ''}: "
          f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
