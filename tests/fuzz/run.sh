#!/usr/bin/env bash
# run.sh SECONDS TARGET...: runs each libFuzzer target (build/fuzz/fuzz_<t>)
# for SECONDS, one after the other, from its committed seeds
# (tests/fuzz/corpus/<t>) and the corpus it grew before (build/fuzz/corpus-<t>),
# with the dictionary tests/fuzz/<t>.dict where there is one,
# then prints one line per target: executions, coverage, crashes.  A crash
# leaves its input in build/fuzz/crash-<t>-* and fails the run.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
seconds=$1
shift

failed=0
summary=()
for t in "$@"; do
    mkdir -p "build/fuzz/corpus-$t"
    log="build/fuzz/$t.log"
    echo "== fuzz_$t for ${seconds}s (log: $log)"
    dict=()
    [[ -f tests/fuzz/$t.dict ]] && dict=(-dict="tests/fuzz/$t.dict")
    "build/fuzz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 \
        -timeout=10 -rss_limit_mb=2048 -max_len=70000 "${dict[@]}" \
        -artifact_prefix="build/fuzz/crash-$t-" \
        "build/fuzz/corpus-$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
    crashes=$(ls build/fuzz/crash-"$t"-* 2>/dev/null | wc -l)
    line="fuzz_$t: ${execs:-?} executions, ${cov:-cov: ?}, corpus $(ls "build/fuzz/corpus-$t" | wc -l) inputs, $crashes crashes (rc $rc)"
    summary+=("$line")
    echo "$line"
    if ((rc != 0 || crashes != 0)); then
        failed=1
        tail -40 "$log"
    fi
done

echo
printf '%s\n' "${summary[@]}"
exit $failed
