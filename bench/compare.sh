#!/usr/bin/env bash
# A benchmark before and after a change, in one run: the module built from BASE (a commit) and the
# module of the working tree, measured one after the other by the same script, on the same machine,
# with the same knobs.
#
#   make bench-compare BASE=<commit>            # bench/run.sh (the card), before then after
#   BENCHES="run codes campaigns" BASE=<commit> bench/compare.sh
#
# BASE's module is built in a scratch git worktree (removed at the end), or BEFORE_MODULE names
# one already built from BASE; the working tree's is
# build/ngx_http_member_module.so (`make` first). BENCHES: any of run (bench/run.sh), codes
# (bench/codes.sh) and campaigns (bench/campaigns.sh), default "run"; every other knob of those
# scripts passes through (ROUNDS, DURATION, MEMBERS, SKIP, ...). Each script's output is kept in
# bench/out/ with the label before-<sha> or after-<sha>; the summary lines are printed at the end.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BASE=${BASE:?set BASE to the commit to compare with}
BENCHES=${BENCHES:-run}

die() { echo "compare: $*" >&2; exit 1; }

base_sha=$(git -C "$ROOT" rev-parse --short "$BASE^{commit}") || die "no commit $BASE"
head_sha=$(git -C "$ROOT" rev-parse --short HEAD)
[[ -f $ROOT/build/ngx_http_member_module.so ]] || die "no build/ngx_http_member_module.so: run make"

scratch=$(mktemp -d)
cleanup() {
    git -C "$ROOT" worktree remove --force "$scratch/base" >/dev/null 2>&1 || true
    rm -rf "$scratch"
}
trap cleanup EXIT

if [[ -n ${BEFORE_MODULE:-} ]]; then
    cp "$BEFORE_MODULE" "$scratch/before.so"
else
    echo "compare: building $base_sha in a scratch worktree"
    git -C "$ROOT" worktree add --detach "$scratch/base" "$base_sha" >/dev/null
    make -C "$scratch/base" -s >"$scratch/build.log" 2>&1 || {
        tail -20 "$scratch/build.log"; die "the build of $base_sha failed"; }
    cp "$scratch/base/build/ngx_http_member_module.so" "$scratch/before.so"
fi
cp "$ROOT/build/ngx_http_member_module.so" "$scratch/after.so"

summary=()
for bench in $BENCHES; do
    case $bench in
        run|codes|campaigns) ;;
        *) die "unknown bench $bench (run, codes, campaigns)" ;;
    esac
    for side in before after; do
        sha=$base_sha
        [[ $side == after ]] && sha=$head_sha
        echo "== $bench, $side ($sha)"
        MODULE=$scratch/$side.so LABEL=$side-$sha "$HERE/$bench.sh" | tee "$scratch/$bench-$side.out"
        while IFS= read -r line; do
            summary+=("$bench $side ($sha): $line")
        done < <(grep -E '^\| (module|verify)|^Ratios|^TARGET|^card, |^pass: ' \
                     "$scratch/$bench-$side.out" | head -16)
    done
done

echo
echo "== summary ($base_sha before, $head_sha after)"
printf '%s\n' "${summary[@]}"
