#!/usr/bin/env bash
# make test-asan: integration tests against build-asan/'s module, built with
# AddressSanitizer, in Debian's nginx with libasan preloaded.  Each test
# file's nginx writes ASan's reports into its own folder; run.py fails the
# file when one appears.  Arguments: test files (test_ledger ...), all of
# them when none.  The last line is "N passed, N failed", as make test's.
# MEMBER_TEST_REDIS=cluster runs them on the cluster (run.py --cluster).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

export MEMBER_TEST_MODULE=$ROOT/build-asan/ngx_http_member_module.so
export MEMBER_TEST_PRELOAD
MEMBER_TEST_PRELOAD=$(readlink -f "$(gcc -print-file-name=libasan.so)")

# nginx frees its pools at exit in ways LeakSanitizer reports: no leaks;
# the first error stops the worker (nginx starts another one)
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=0:print_summary=1

if [[ ! -f $MEMBER_TEST_PRELOAD || ! -f $MEMBER_TEST_MODULE ]]; then
    echo "FAIL asan: no libasan ($MEMBER_TEST_PRELOAD) or no $MEMBER_TEST_MODULE"
    echo
    echo "0 passed, 1 failed"
    exit 1
fi

# tests that run "nginx -t" themselves get libasan too: nginx on the PATH
# is a wrapper that preloads it (the harness adds where reports go)
bin=$ROOT/build-asan/bin
mkdir -p "$bin"
printf '#!/bin/sh\nLD_PRELOAD=%s exec %s "$@"\n' "$MEMBER_TEST_PRELOAD" \
    "$(command -v nginx)" >"$bin/nginx"
chmod +x "$bin/nginx"
export PATH=$bin:$PATH

args=()
for t in "$@"; do
    [[ $t == *.* ]] || t=$t.             # a file's tests, not its namesakes'
    args+=(-k "$t")
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== integration tests with AddressSanitizer: ${*:-all}"
start=$SECONDS
python3 tests/integration/run.py "${args[@]}" | tee "$log"
line=$(grep -E '^integration( \(cluster\))?: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
echo "asan: $((SECONDS - start)) s"
echo

if [[ -z $line ]]; then
    echo "FAIL asan: no summary line"
    echo "0 passed, 1 failed"
    exit 1
fi

line=${line#*: }
echo "$line"
[[ $line == *" 0 failed" ]]
