#!/usr/bin/env bash
# Runs every test: the cmocka unit tests of gateway/, qrcode/, rules/ and
# keyspace/, then the integration tests against real nginx, Redis and the
# fake WeChat, then the cluster's (make test-cluster: the ledger, scanner,
# OA and outbox files again and the files marked CLUSTER_ONLY, on a Redis
# Cluster: run.py --cluster).
# The last line is the total: "N passed, N failed".
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== unit tests"
for t in build/tests/test_*; do
    [[ -x $t ]] || continue
    "$t" >"$log" 2>&1
    rc=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s).*/\1/p' "$log" | tail -1)
    p=${p:-0}
    f=${f:-0}
    if ((rc != 0 && f == 0)); then
        f=1                             # it crashed before counting
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    if ((f)); then
        echo "FAIL $(basename "$t"): $p passed, $f failed"
        cat "$log"
    else
        echo "ok   $(basename "$t"): $p passed"
    fi
done

# one run of run.py: its summary line added to the totals
integration() {
    local what=$1 line p f
    shift
    echo "== $what"
    python3 tests/integration/run.py "$@" | tee "$log"
    line=$(grep -E '^integration( \(cluster\))?: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    if [[ -z $line ]]; then
        failed=$((failed + 1))
        echo "FAIL $what: no summary line"
    else
        p=${line#*: }
        passed=$((passed + ${p%% passed*}))
        f=${p#*passed, }
        failed=$((failed + ${f%% failed*}))
    fi
}

integration "integration tests" "$@"
if (($# == 0)); then
    integration "cluster tests" --cluster
fi

echo
echo "$passed passed, $failed failed"
((failed == 0))
