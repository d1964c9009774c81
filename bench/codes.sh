#!/usr/bin/env bash
# The codes benchmark (issue 5, item 6): ngx_member's GET /api/code.png beside the QR peers of
# ../shared/bench, and POST /scan/verify requests/s. See bench/README.md, "Member codes and the till".
#
#   make bench-codes      # packages, the module, build/member-code, then this
#   bench/codes.sh        # the same, once they are there (~5.5 min with the default 3 rounds)
#
# Set-up: a scratch copy of ../shared/bench (its node/ gets `npm install`, its qrbench.c is built
# there), bench/pngbench.c built against build/libmember_qrcode.a, copies of the module's .so and
# of build/member-code (a rebuild during the run changes nothing). One redis-server on a free
# loopback port (--save '' --appendonly no), seeded by seed.py (members {m:<id>} and their
# sessions, the tokens for wrk). One store, created through POST /admin/stores. Admin token,
# PII key and code secret are random for each run.
#
# QR (codes/s; the in-process rows on SERVER_CPU, servers on SERVER_CPU with wrk on CLIENT_CPU):
#   qrbench 4px M      ../shared/bench/qrbench.c as RESULTS.md runs it (EC M, 4 px, zlib 6)
#   qrbench 8px Q      the same program at the module's image: -s 8 -l Q -m 4 (232 x 232):
#                      THE in-process bound of the target
#   pngbench           the module's own renderer in process (mqr_code_make + mqr_png: EC Q, 8 px,
#                      zlib 1 / memLevel 3): the module minus HTTP, token and Redis
#   node-qr            the Node peer (fastify + qrcode, its own 4 px EC M PNG), GET /qr/<code>
#   module png (N w)   GET /api/code.png with a Bearer token, worker_processes N for N in
#                      PNG_WORKERS (default "1 2"); Redis on REDIS_CPU (= SERVER_CPU): the card
#                      bench's placement. 1 worker is the row the target is judged on (the bound is
#                      one thread); with 2 workers the master is allowed both CPUs,
#                      worker_cpu_affinity auto puts one worker on each and LISTEN_OPTS
#                      (reuseport) spreads the connections; wrk still on CLIENT_CPU.
#   Check before load: the module's PNG is 232 x 232 1-bit grayscale, zbarimg reads an 18-digit
#   code that is the member's code now (build/member-code), and that code verifies at a signed till
#   (200 with the member's card_no), then 409 code_used; a wrong token is 401. The peers' PNGs
#   decode to their codes.
#   Target: module png (1 worker) >= 0.8 x qrbench 8px Q.
#
# verify (requests/s): one row for each "WORKERS:AFFINITY[:unix]" of VERIFY_ROWS (default
#   "2:auto"; AFFINITY is worker_cpu_affinity with - for spaces, or none; ":unix" has the module
#   reach Redis on its unix socket instead of loopback TCP). nginx may use
#   both CPUs, `listen ... reuseport` (LISTEN_OPTS) spreads wrk's connections over the workers,
#   Redis is on SERVER_CPU and wrk on CLIENT_CPU: every process of the run on this machine's two
#   cores. The target is judged on the first entry, worker_processes 2, one worker on each core
#   (auto); the second, for information, adds a third worker on CLIENT_CPU, so that the core
#   without Redis takes two thirds of the connections (Redis and one worker fill SERVER_CPU).
#   Knobs: VERIFY_SERVER_CPUS, VERIFY_REDIS_CPUS, VERIFY_CLIENT_CPUS (taskset lists), LISTEN_OPTS
#   (listen parameters of servers with more than one worker: reuseport, or ""), VERIFY_CONNS
#   (CONNS). Right before each run, build/member-code gives the codes of members 1..K for the
#   step the run will be in, and sign.py signs one request per code (fresh nonce, current
#   timestamp); wrk/verify.lua sends each exactly once (K = VERIFY_MAX_RATE x
#   (WARMUP + DURATION + 1): more than the server can take). Check before load: one signed verify
#   (200, card_no), the same code again (409 code_used). After the run: non-2xx and socket errors
#   must be 0, and Redis must hold one spent-code key (which is the ticket) per 2xx answer
#   (between the 2xx count and the requests sent: wrk stops with requests in flight). The
#   spent codes are unlinked before each row, so that the same members serve again
#   and each row counts its own.
#   Target: >= 20000 requests/s (median over the rounds).
#
# Rounds: ROUNDS (3) times every row; with more than one round, medians. Columns as in run.sh:
# server/redis/wrk CPU (user+sys of those processes over the run's wall time, % of one core),
# core busy (/proc/stat), other CPU (both cores' busy time minus ours, % of one core: others'
# processes; above 25% a row is flagged as not quiet, and medians over quiet rows are added).
#
# Knobs (environment): DURATION (10), WARMUP (2), CONNS (64), ROUNDS (3), SERVER_CPU (0),
# CLIENT_CPU (1), REDIS_CPU (SERVER_CPU), PNG_WORKERS ("1 2"), PNG_MEMBERS (100000), QR_N (20000),
# SHARED_BENCH (../shared/bench), VERIFY_* (above), VERIFY_MAX_RATE (30000), SKIP ("" or any of: qr node png verify), PERF (0; 1 =
# perf record of the module's workers, and 1 s of Redis, for PERF_SECONDS (5) under the same load
# after the first round's run; PERF_CALLGRAPH fp (default) or dwarf: Debian's libraries have no
# frame pointers, dwarf sees through them), QUIET_WAIT (0; seconds to wait for an idle machine
# before each measurement), MODULE, LABEL.
# Raw output: bench/out/<stamp>-codes/ (git-ignored). Exit 0 whether the targets pass or not; 1 if a
# correctness check or the set-up failed.
set -euo pipefail
{ # the whole script is read before it runs: editing this file during a run changes nothing

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}

SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
REDIS_CPU=${REDIS_CPU:-$SERVER_CPU}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-3}
PNG_WORKERS=${PNG_WORKERS:-"1 2"}
PNG_MEMBERS=${PNG_MEMBERS:-100000}
QR_N=${QR_N:-20000}
VERIFY_ROWS=${VERIFY_ROWS:-2:auto}
VERIFY_SERVER_CPUS=${VERIFY_SERVER_CPUS:-0-$(($(nproc) - 1))}
VERIFY_REDIS_CPUS=${VERIFY_REDIS_CPUS:-$SERVER_CPU}
VERIFY_CLIENT_CPUS=${VERIFY_CLIENT_CPUS:-$CLIENT_CPU}
LISTEN_OPTS=${LISTEN_OPTS-reuseport}
VERIFY_CONNS=${VERIFY_CONNS:-$CONNS}
VERIFY_MAX_RATE=${VERIFY_MAX_RATE:-30000}
SKIP=${SKIP:-}
PERF=${PERF:-0}
PERF_SECONDS=${PERF_SECONDS:-5}
PERF_CALLGRAPH=${PERF_CALLGRAPH:-fp}
QUIET_WAIT=${QUIET_WAIT:-0}
NOISY_PCT=25
MODULE=${MODULE:-$ROOT/build/ngx_http_member_module.so}
MEMBER_CODE=$ROOT/build/member-code
QRLIB=$ROOT/build/libmember_qrcode.a
STORE=BENCH01
PERIOD=30
PNG_TARGET=0.8
VERIFY_TARGET=20000

. "$HERE/lib.sh"
skip() { [[ " $SKIP " == *" $1 "* ]]; }

# ---------------------------------------------------------------- preconditions
[[ -d $SHARED ]] || die "the peer benchmark is missing: expected ../shared/bench beside the repository ($SHARED)"
for f in qrbench.c Makefile node/server.js node/package.json node/package-lock.json wrk/qr.lua; do
  [[ -f $SHARED/$f ]] || die "missing $SHARED/$f"
done
for tool in nginx redis-server redis-cli wrk jq curl taskset python3 awk ss zbarimg gcc pkg-config make; do
  command -v "$tool" >/dev/null || die "missing $tool: run make deps-bench deps-test"
done
if ! skip node; then
  command -v node >/dev/null && command -v npm >/dev/null || die "missing node/npm (Node.js >= 20) for the Node peer (SKIP=node to leave it out)"
  (($(node -p 'process.versions.node.split(".")[0]') >= 20)) || die "the Node peer needs Node.js >= 20 (fastify 5)"
fi
[[ -f $MODULE ]] || die "missing $MODULE: run make"
[[ -x $MEMBER_CODE ]] || die "missing $MEMBER_CODE: run make build/member-code"
[[ -f $QRLIB ]] || die "missing $QRLIB: run make build/member-code"
for c in $SERVER_CPU $CLIENT_CPU $REDIS_CPU; do
  ((c < $(nproc))) || die "cpu $c does not exist (nproc $(nproc))"
done
[[ $SERVER_CPU != "$CLIENT_CPU" ]] || die "SERVER_CPU and CLIENT_CPU must differ"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
((WARMUP + DURATION <= 40)) || die "WARMUP + DURATION must stay within 40 s: a code is good for its 30 s step and one step either side"

# ---------------------------------------------------------------- processes we start, and only those
STARTED=()


cleanup() {
  local rc=$?
  ((${#STARTED[@]})) && stop_pid "${STARTED[@]}"
  if [[ -d $RUN ]]; then
    # secrets, tokens, signed requests, node_modules and perf data stay out of bench/out
    rm -rf "$RUN/tokens.txt" "$RUN"/reqs-*.txt "$RUN/secrets" "$RUN/store.secret" \
           "$RUN/store.json" "$RUN/peers/node/node_modules" "$RUN"/perf*.data "$RUN"/perf*.data.old
    find "$RUN" -name nginx.conf -exec sed -i -E \
      -e 's/(member_admin_token|member_code_secret) .*/\1 <random, removed>;/' \
      -e 's/(member_pii_key k1) .*/\1 <random, removed>;/' {} +
    cp -r "$RUN"/. "$OUT"/ 2>/dev/null || true
    rm -rf "$RUN"
  fi
  [[ -n ${SOCK_DIR:-} ]] && rm -rf "$SOCK_DIR"
  exit $rc
}

RUN=$(mktemp -d -t ngx-member-codes.XXXXXX)
STAMP=$(date +%Y%m%d-%H%M%S)-codes${LABEL:+-$LABEL}
OUT=$HERE/out/$STAMP
mkdir -p "$OUT"

trap cleanup EXIT
trap 'exit 130' INT TERM

# What is measured: copies, so that a rebuild or an edit during the run changes nothing.
cp -r "$SHARED" "$RUN/peers" && chmod -R u+w "$RUN/peers"
rm -rf "$RUN/peers/out" "$RUN/peers/node/node_modules" "$RUN/peers/qrbench"
mkdir -p "$RUN/bench"
cp -r "$HERE"/nginx "$HERE"/wrk "$HERE"/seed.py "$HERE"/sign.py "$HERE"/rkeys.py "$HERE"/pngbench.c "$RUN/bench"/
mkdir -p "$RUN/tools" && cp "$ROOT"/tools/resp.py "$RUN/tools"/   # rkeys.py's client
cp "$MODULE" "$RUN/ngx_http_member_module.so"
cp "$MEMBER_CODE" "$RUN/member-code"
MODULE_SUM=$(sha256sum "$RUN/ngx_http_member_module.so" | cut -c1-12)
printf 'load_module %s;\nevents {}\n' "$RUN/ngx_http_member_module.so" >"$RUN/load-test.conf"
nginx -t -q -p "$RUN/" -c "$RUN/load-test.conf" -e "$RUN/load-test.log" 2>"$RUN/load-test.err" ||
  die "nginx cannot load $MODULE (being rebuilt?): $(tail -1 "$RUN/load-test.err")"
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || GIT_REV="$GIT_REV+changes"

echo "building qrbench and pngbench in $RUN"
make -s -C "$RUN/peers" qrbench >"$RUN/qrbench-build.log" 2>&1 || die "qrbench did not build: $(tail -3 "$RUN/qrbench-build.log")"
gcc -O2 -g -Wall -Wextra -I"$ROOT/qrcode" -o "$RUN/pngbench" "$RUN/bench/pngbench.c" "$QRLIB" \
  $(pkg-config --libs libqrencode libpng) -lcrypto >"$RUN/pngbench-build.log" 2>&1 ||
  die "pngbench did not build: $(tail -3 "$RUN/pngbench-build.log")"
if ! skip node; then
  echo "npm install in the scratch copy of node/"
  (cd "$RUN/peers/node" && npm install --no-audit --no-fund --loglevel=error) >"$RUN/npm.log" 2>&1 ||
    die "npm install failed: $(tail -3 "$RUN/npm.log")"
fi


HZ=$(getconf CLK_TCK)


# Free loopback ports (Redis, module, node), held open together so they differ.
read -r REDIS_PORT PORT_MODULE PORT_NODE < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
for s in ss: s.close()')

# ---------------------------------------------------------------- Redis, members, secrets
# verify: members 1..VERIFY_SET, each verified at most once per row; checks use the members above.
VERIFY_SET=$((VERIFY_MAX_RATE * (WARMUP + DURATION + 1)))
CHECK_BASE=$VERIFY_SET
MEMBERS=$((VERIFY_SET + 200))
skip verify && MEMBERS=$((PNG_MEMBERS > 200 ? PNG_MEMBERS : 200)) CHECK_BASE=0
((MEMBERS >= PNG_MEMBERS)) || MEMBERS=$PNG_MEMBERS
NEXT_CHECK=$CHECK_BASE
next_check() { NEXT_CHECK=$((NEXT_CHECK + 1)); ((NEXT_CHECK <= MEMBERS)) || NEXT_CHECK=$((CHECK_BASE + 1)); }

mkdir -p "$RUN/redis"
# a unix socket too, for the ":unix" verify rows; the workers run as nobody and RUN is 0700, so
# the socket has a directory of its own that they may enter
SOCK_DIR=$(mktemp -d -t ngx-member-redis.XXXXXX)
chmod 711 "$SOCK_DIR"
REDIS_SOCK=$SOCK_DIR/redis.sock
REDIS_ADDR=127.0.0.1:$REDIS_PORT
start_bg redis "$REDIS_CPU" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
  --appendonly no --dir "$RUN/redis" --daemonize no --protected-mode yes \
  --unixsocket "$REDIS_SOCK" --unixsocketperm 777
REDIS_PID=$LAST_PID
wait_port "$REDIS_PORT" "$REDIS_PID" || die "redis-server did not start: $(tail -3 "$RUN/redis.log")"
echo "redis-server pid $REDIS_PID on 127.0.0.1:$REDIS_PORT; seeding $MEMBERS members"
t0=$(date +%s%N)
python3 "$RUN/bench/seed.py" --members "$MEMBERS" --tokens "$RUN/tokens.txt" | rcli --pipe >"$RUN/seed.log"
keys=$(rcli dbsize)
[[ $keys == $((2 * MEMBERS + 2)) ]] || die "seeding: dbsize $keys, wanted $((2 * MEMBERS + 2))"
echo "seeded $keys keys in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

read -r ADMIN_TOKEN PII_KEY CODE_SECRET < <(python3 -c '
import secrets
print("bench-admin-" + secrets.token_hex(12), secrets.token_hex(32), "bench-code-" + secrets.token_hex(16))')
echo "$CODE_SECRET" >"$RUN/secrets"

# ---------------------------------------------------------------- servers
# render_module WORKERS AFFINITY [LISTEN_OPTS] : RUN/module-wN/nginx.conf
render_module() {
  local dir=$RUN/module-w$1 aff= lo=${3:-}
  [[ $2 == none ]] || aff="worker_cpu_affinity $2;"
  mkdir -p "$dir/tmp"
  sed -e "s|@RUN@|$dir|g" -e "s|@PORT@|$PORT_MODULE|g" -e "s|@REDIS_ADDR@|$REDIS_ADDR|g" \
      -e "s|@MODULE@|$RUN/ngx_http_member_module.so|g" -e "s|@WORKERS@|$1|g" -e "s|@AFFINITY@|$aff|g" -e "s|@LISTEN_OPTS@|${lo:+ $lo}|g" \
      -e "s|@ADMIN_TOKEN@|$ADMIN_TOKEN|g" -e "s|@PII_KEY@|$PII_KEY|g" -e "s|@CODE_SECRET@|$CODE_SECRET|g" \
      "$RUN/bench/nginx/codes.conf.in" >"$dir/nginx.conf"
  nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" -t -q
  SRV_DIR=$dir
}

# start_module WORKERS CPUS AFFINITY [LISTEN_OPTS] : sets SRV_PID (master), SRV_PIDS (master and
# workers)
start_module() {
  render_module "$1" "$3" "${4:-}"
  start_bg "module-w$1" "$2" nginx -p "$SRV_DIR/" -c "$SRV_DIR/nginx.conf" -e "$SRV_DIR/error.log"
  SRV_PID=$LAST_PID
  wait_port "$PORT_MODULE" "$SRV_PID" || die "nginx did not start: $(tail -3 "$SRV_DIR/error.log")"
  for _ in $(seq 50); do
    SRV_PIDS="$SRV_PID $(children_of "$SRV_PID")"
    (($(wc -w <<<"$SRV_PIDS") > $1)) && break
    sleep 0.1
  done
  # the workers connect to Redis as they start: wait for an answer that needs it (a session lookup)
  for _ in $(seq 30); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer 1.$(printf 'A%.0s' {1..43})" \
         "http://127.0.0.1:$PORT_MODULE/api/card") == 401 ]] && break
    sleep 0.1
  done
  SRV_PORT=$PORT_MODULE
}

start_node() {
  PORT=$PORT_NODE REDIS_PORT=$REDIS_PORT start_bg node "$SERVER_CPU" node "$RUN/peers/node/server.js"
  SRV_PID=$LAST_PID
  wait_port "$PORT_NODE" "$SRV_PID" || die "node did not start: $(tail -3 "$RUN/node.log")"
  sleep 0.2
  SRV_PIDS="$SRV_PID $(children_of "$SRV_PID")"
  SRV_PORT=$PORT_NODE
}

stop_server() { stop_pid $SRV_PIDS; sleep 0.5; }

# ---------------------------------------------------------------- the store and signed requests
curl_json() {  # curl_json OUT ARGS... : prints the status
  local out=$1
  shift
  curl -s -o "$out" -w '%{http_code}' "$@" || echo 000
}

create_store() {
  local c
  c=$(curl_json "$RUN/store.json" -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
        -d "{\"store_id\":\"$STORE\",\"name\":\"bench\"}" "http://127.0.0.1:$PORT_MODULE/admin/stores")
  [[ $c == 201 ]] || die "POST /admin/stores: $c $(cat "$RUN/store.json")"
  jq -r .secret "$RUN/store.json" | tr -d '\n' >"$RUN/store.secret"
  [[ -s $RUN/store.secret ]] || die "POST /admin/stores gave no secret"
}

# signed_verify CODE OUT : one signed POST /scan/verify of CODE; prints the status
signed_verify() {
  local ts code ts2 nonce sig
  ts=$(date +%s)
  read -r code ts2 nonce sig < <(echo "0 $1" | python3 "$RUN/bench/sign.py" --secret-file "$RUN/store.secret" \
                                   --ts "$ts" --out /dev/stdout 2>/dev/null | head -1)
  curl_json "$2" -H 'Content-Type: application/json' -H "X-Member-Store: $STORE" \
    -H "X-Member-Timestamp: $ts2" -H "X-Member-Nonce: $nonce" -H "X-Member-Signature: $sig" \
    -d "{\"code\":\"$code\"}" "http://127.0.0.1:$SRV_PORT/scan/verify"
}

card_of() { rcli --raw hget "{m:$1}" card_no; }

# verify_check ID CODE DIR : the code verifies once (200, the member's card_no), then 409 code_used
verify_check() {
  local c
  c=$(signed_verify "$2" "$3/check-verify.json")
  echo "$(stat -c %s "$3/check-verify.json")" >"$3/verify.bytes"
  [[ $c == 200 ]] || { echo "verify of member $1's code: $c $(head -c 200 "$3/check-verify.json")"; return 1; }
  [[ $(jq -r .member.card_no "$3/check-verify.json") == "$(card_of "$1")" ]] ||
    { echo "verify answered another card than member $1's"; return 1; }
  c=$(signed_verify "$2" "$3/check-verify-again.json")
  [[ $c == 409 && $(jq -r .error "$3/check-verify-again.json") == code_used ]] ||
    { echo "second verify of one code: $c, not 409 code_used"; return 1; }
  return 0
}

# ---------------------------------------------------------------- measurements
declare -A RPS P50 P99 OTHER ROWS
FAILED=()
NOISY=()

# record ROW NAME-OF-BYTES-FILE CHECK EXTRA : the row from RUN/TAG.wrk.txt and the CPU counters
# (S0/R0/C0/C1 before, S1/R1/E0/E1 after, WALL WU WS of wrk) set by load()
record_wrk() {
  local row=$1 bytes=$2 chk=$3 extra=$4 w=$RUN/$TAG.wrk.txt
  local rps p50 p99 non2xx sockerr srv red wrkc core0 core1 other
  rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$w")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$w")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$w")")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$w"); non2xx=${non2xx:-0}
  sockerr=$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10}' "$w"); sockerr=${sockerr:-0}
  RPS[$row]=${rps:-0}; P50[$row]=$p50; P99[$row]=$p99
  srv=$(pct $((S1 - S0)) "$WALL"); red=$(pct $((R1 - R0)) "$WALL")
  wrkc=$(awk -v u="$WU" -v s="$WS" -v r="$WALL" 'BEGIN { printf "%.0f%%", 100 * (u + s) / r }')
  core0=$(awk -v b=$((E0B - C0B)) -v t=$((E0T - C0T)) 'BEGIN { printf "%.0f%%", t ? 100 * b / t : 0 }')
  core1=$(awk -v b=$((E1B - C1B)) -v t=$((E1T - C1T)) 'BEGIN { printf "%.0f%%", t ? 100 * b / t : 0 }')
  other=$(awk -v a="$core0" -v b="$core1" -v s="$srv" -v r="$red" -v w="$wrkc" \
    'BEGIN { o = a + b - s - r - w; printf "%.0f%%", o < 0 ? 0 : o }')
  ROWS[$row]="| $row | ${rps:-?} | $p50 | $p99 | $non2xx/$sockerr | $bytes | $srv | $red | $wrkc | $core0 / $core1 | $other |${extra:+ $extra |} $chk |"
  OTHER[$row]=$(tr -d % <<<"$other")
  ((OTHER[$row] > NOISY_PCT)) && NOISY+=("$row: $other of a core went to other processes")
  [[ $chk == ok ]] || FAILED+=("$row: $chk")
  ((non2xx == 0 && sockerr == 0)) || FAILED+=("$row: $non2xx non-2xx answers, $sockerr socket errors under load")
  NON2XX=$non2xx
  echo "  $row: ${rps:-?}/s, p50 $p50 ms, p99 $p99 ms, non-2xx/sock err $non2xx/$sockerr, other CPU $other${extra:+, $extra}, check $chk"
}

# load TAG CPUS SCRIPT URL [WARMUP_SCRIPT_ENV] : wrk warm-up (unless WARM=0) and measured run,
# counting CPU of SRV_PIDS and Redis. The script's environment is exported by the caller.
load() {
  local tag=$1 cpus=$2 script=$3 url=$4
  TAG=$tag
  quiet
  if ((${WARM:-1})); then
    timeout $((WARMUP + 60)) taskset -c "$cpus" \
      wrk -t1 -c"${LOAD_CONNS:-$CONNS}" -d"${WARMUP}s" -s "$script" "$url" >"$RUN/$tag.warmup.txt" 2>&1 || true
  fi
  [[ -n ${BEFORE_RUN:-} ]] && $BEFORE_RUN
  rcli config resetstat >/dev/null
  S0=$(ticks $SRV_PIDS); R0=$(ticks "$REDIS_PID")
  read -r C0B C0T < <(corecpu "$SERVER_CPU"); read -r C1B C1T < <(corecpu "$CLIENT_CPU")
  local TIMEFORMAT='%R %U %S'
  { time timeout $((DURATION + 60)) taskset -c "$cpus" \
      wrk -t1 -c"${LOAD_CONNS:-$CONNS}" -d"${DURATION}s" --latency -s "$script" "$url" >"$RUN/$tag.wrk.txt" 2>&1; } \
    2>"$RUN/$tag.time" || true
  S1=$(ticks $SRV_PIDS); R1=$(ticks "$REDIS_PID")
  read -r E0B E0T < <(corecpu "$SERVER_CPU"); read -r E1B E1T < <(corecpu "$CLIENT_CPU")
  read -r WALL WU WS <"$RUN/$tag.time"
  rcli info commandstats >"$RUN/$tag.commandstats.txt" 2>&1 || true
}

# inproc ROW TAG CMD... : an in-process renderer on SERVER_CPU; its stdout has codes_per_s= and
# sample_code=, the sample PNG goes to RUN/TAG.png
inproc() {
  local row=$1 tag=$2 line rate us code chk bytes srv core0 core1 other
  shift 2
  quiet
  read -r C0B C0T < <(corecpu "$SERVER_CPU"); read -r C1B C1T < <(corecpu "$CLIENT_CPU")
  local TIMEFORMAT='%R %U %S'
  { time taskset -c "$SERVER_CPU" "$@" -n "$QR_N" -o "$RUN/$tag.png" >"$RUN/$tag.txt" 2>&1; } 2>"$RUN/$tag.time" ||
    { FAILED+=("$row: $(tail -1 "$RUN/$tag.txt")"); return; }
  read -r E0B E0T < <(corecpu "$SERVER_CPU"); read -r E1B E1T < <(corecpu "$CLIENT_CPU")
  read -r WALL WU WS <"$RUN/$tag.time"
  line=$(grep '^codes=' "$RUN/$tag.txt")
  rate=$(sed -n 's/.* codes_per_s=\([^ ]*\).*/\1/p' <<<" $line")
  us=$(sed -n 's/.* us_per_code=\([^ ]*\).*/\1/p' <<<" $line")
  bytes=$(sed -n 's/.* avg_png_bytes=\([^ ]*\).*/\1/p' <<<" $line")
  code=$(sed -n 's/^sample_code=//p' "$RUN/$tag.txt")
  chk=ok
  [[ $(zbarimg -q --raw "$RUN/$tag.png" 2>/dev/null) == "$code" ]] || chk="zbarimg disagrees"
  srv=$(awk -v u="$WU" -v s="$WS" -v r="$WALL" 'BEGIN { printf "%.0f%%", 100 * (u + s) / r }')
  core0=$(awk -v b=$((E0B - C0B)) -v t=$((E0T - C0T)) 'BEGIN { printf "%.0f%%", t ? 100 * b / t : 0 }')
  core1=$(awk -v b=$((E1B - C1B)) -v t=$((E1T - C1T)) 'BEGIN { printf "%.0f%%", t ? 100 * b / t : 0 }')
  other=$(awk -v a="$core0" -v b="$core1" -v s="$srv" 'BEGIN { o = a + b - s; printf "%.0f%%", o < 0 ? 0 : o }')
  RPS[$row]=$rate; P50[$row]=$(awk -v u="$us" 'BEGIN { printf "%.3f", u / 1000 }'); P99[$row]=
  ROWS[$row]="| $row | $rate | ${P50[$row]} | | | $bytes | $srv | | | $core0 / $core1 | $other | $chk |"
  OTHER[$row]=$(tr -d % <<<"$other")
  ((OTHER[$row] > NOISY_PCT)) && NOISY+=("$row: $other of a core went to other processes")
  [[ $chk == ok ]] || FAILED+=("$row: $chk")
  echo "  $row: $rate codes/s, $us us/code, other CPU $other, check $chk"
}

# png_check DIR ID : member ID's code.png, read back and verified. Prints ok or what is wrong;
# writes DIR/png.bytes.
png_check() {
  local d=$1 id=$2 token c t0 t1 got want0 want1
  token=$(awk -v id="$id" '$1 == id { print $2; exit }' "$RUN/tokens.txt")
  t0=$(date +%s)
  c=$(curl -s -o "$d/check.png" -w '%{http_code} %{content_type}' -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$SRV_PORT/api/code.png" || echo 000)
  t1=$(date +%s)
  stat -c %s "$d/check.png" >"$d/png.bytes" 2>/dev/null || echo 0 >"$d/png.bytes"
  [[ $c == "200 image/png" ]] || { echo "GET /api/code.png: $c"; return; }
  python3 - "$d/check.png" <<'EOF' || { echo "not a 232 x 232 1-bit grayscale PNG"; return; }
import struct, sys
b = open(sys.argv[1], "rb").read()
ok = b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR"
w, h, depth, color = struct.unpack(">IIBB", b[16:26])
sys.exit(0 if ok and (w, h, depth, color) == (232, 232, 1, 0) else 1)
EOF
  got=$(zbarimg -q --raw "$d/check.png" 2>/dev/null || true)
  [[ $got =~ ^[0-9]{18}$ ]] || { echo "zbarimg read '$got', not 18 digits"; return; }
  want0=$("$RUN/member-code" "$CODE_SECRET" "$PERIOD" "$t0" "$id" | awk '{print $2}')
  want1=$("$RUN/member-code" "$CODE_SECRET" "$PERIOD" "$t1" "$id" | awk '{print $2}')
  [[ $got == "$want0" || $got == "$want1" ]] || { echo "the PNG's code is not member $id's code now"; return; }
  verify_check "$id" "$got" "$d" || return
  c=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${token%.*}.wrong" \
        "http://127.0.0.1:$SRV_PORT/api/code.png" || echo 000)
  [[ $c == 401 ]] || { echo "wrong token: $c, not 401"; return; }
  echo ok
}

# node_check : the Node peer's PNG of a code decodes to it
node_check() {
  local qr=123456789012345678 c d=$RUN/node
  mkdir -p "$d"
  c=$(curl -s -o "$d/check.png" -w '%{http_code} %{content_type}' "http://127.0.0.1:$SRV_PORT/qr/$qr" || echo 000)
  stat -c %s "$d/check.png" >"$d/png.bytes" 2>/dev/null || echo 0 >"$d/png.bytes"
  [[ $c == "200 image/png" ]] || { echo "GET /qr: $c"; return; }
  [[ $(zbarimg -q --raw "$d/check.png" 2>/dev/null) == "$qr" ]] || { echo "zbarimg disagrees"; return; }
  echo ok
}

# perf_workers NAME SCRIPT : perf record -g of the server's processes under SCRIPT's load
perf_workers() {
  command -v perf >/dev/null || { echo "  perf: not installed, skipped"; return; }
  local name=$1 script=$2 pids wrk_pid cg=-g
  [[ $PERF_CALLGRAPH == dwarf ]] && cg="--call-graph dwarf,16384"
  pids=$(children_of "$SRV_PID" | tr ' ' ',' | sed 's/,$//')
  start_bg "perf-wrk-$name" "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$((PERF_SECONDS + 3))s" -s "$script" \
    "http://127.0.0.1:$SRV_PORT"
  wrk_pid=$LAST_PID
  sleep 1
  echo "  perf record $cg -p $pids ($name workers) and -p $REDIS_PID (redis) for ${PERF_SECONDS}s"
  # both at once, so that both see the same load; Redis's recorder is ours to stop like the rest
  start_bg "perf-redis-$name" "$CLIENT_CPU" perf record -q $cg -p "$REDIS_PID" \
    -o "$RUN/perf-$name-redis.data" -- sleep "$PERF_SECONDS"
  local rec_pid=$LAST_PID
  perf record -q $cg -p "$pids" -o "$RUN/perf-$name.data" -- sleep "$PERF_SECONDS" >"$RUN/perf-$name.log" 2>&1 ||
    echo "  perf record failed: $(tail -1 "$RUN/perf-$name.log")"
  wait "$rec_pid" 2>/dev/null || true
  stop_pid "$rec_pid"
  stop_pid "$wrk_pid"
  local f
  for f in "$name" "$name-redis"; do
    [[ -s $RUN/perf-$f.data ]] || continue
    perf report -i "$RUN/perf-$f.data" --stdio --no-children 2>/dev/null | grep -v '^$' | head -200 \
      >"$RUN/perf-$f-callers.txt" || true
    perf report -i "$RUN/perf-$f.data" --stdio --no-children -g none --sort dso,sym 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -80 >"$RUN/perf-$f.txt" || true
    perf report -i "$RUN/perf-$f.data" --stdio --no-children -g none --sort dso 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -20 >"$RUN/perf-$f-dso.txt" || true
    # inclusive: a function with everything it calls (as far as the call chains reach)
    perf report -i "$RUN/perf-$f.data" --stdio --children -g none --sort sym 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -250 >"$RUN/perf-$f-inclusive.txt" || true
  done
  echo "  perf ($name workers): by shared object"; sed 's/^/    /' "$RUN/perf-$name-dso.txt" 2>/dev/null | head -12
  echo "  perf ($name workers): top symbols"; head -25 "$RUN/perf-$name.txt" 2>/dev/null | sed 's/^/    /'
}

# ---------------------------------------------------------------- verify sets
# prepare_verify WARM_S RUN_S : RUN/reqs-warm.txt and RUN/reqs-run.txt, VERIFY_MAX_RATE
# requests a second each, of members 1.., codes for the step in the middle of the coming run.
prepare_verify() {
  local warm_s=$1 run_s=$2 nw nr now prep mid t0
  nw=$((VERIFY_MAX_RATE * warm_s)); nr=$((VERIFY_MAX_RATE * (run_s + 1)))
  t0=$(date +%s%N)
  now=$(date +%s)
  prep=$(( (nw + nr) * 8 / 1000000 + 1 ))      # ~8 us a request to prepare, measured
  mid=$((now + prep + (warm_s + run_s) / 2))
  VERIFY_STEP=$((mid / PERIOD))
  "$RUN/member-code" "$CODE_SECRET" "$PERIOD" "$mid" "1-$((nw + nr))" |
    python3 "$RUN/bench/sign.py" --secret-file "$RUN/store.secret" --ts "$now" --out "$RUN/reqs-all.txt" 2>/dev/null
  head -n "$nw" "$RUN/reqs-all.txt" >"$RUN/reqs-warm.txt"
  tail -n +"$((nw + 1))" "$RUN/reqs-all.txt" >"$RUN/reqs-run.txt"
  rm -f "$RUN/reqs-all.txt"
  echo "  prepared $nw + $nr signed verify requests (codes of step $VERIFY_STEP) in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

count_keys() { python3 "$RUN/bench/rkeys.py" "$REDIS_PORT" count "$1"; }

# unspend : drops the spent-code keys (each one a ticket too), so that members can be verified
# again in the next row and a row counts its own
unspend() {
  python3 "$RUN/bench/rkeys.py" "$REDIS_PORT" unlink '{m:*}:code:*' >/dev/null
}

# in_window T : is unix time T within the step of the prepared codes, or one step either side?
in_window() { local s=$(($1 / PERIOD)); ((s >= VERIFY_STEP - 1 && s <= VERIFY_STEP + 1)); }

# vname SPEC : the row's name for a VERIFY_ROWS entry "WORKERS:AFFINITY[:unix]"
vname() {
  local w=${1%%:*} a=${1#*:} via=
  [[ $a == *:unix ]] && a=${a%:unix} via=", Redis on a unix socket"
  echo "module verify ($w worker$( ((w > 1)) && echo s || true), affinity ${a//-/ }$via)"
}

# verify_row SPEC ROUND : one verify row (see the top of this file)
verify_row() {
  local spec=$1 round=$2 w=${1%%:*} aff=${1#*:} d id code chk tag row
  local spent0 spent1 t_start t_end ok2xx sent n e s f spent tick via=tcp
  [[ $aff == *:unix ]] && aff=${aff%:unix} via=unix
  aff=${aff//-/ }
  tag=verify-w$w-$(tr -c 'A-Za-z0-9\n' '_' <<<"$aff")-$via-r$round
  row=$(rowname "$(vname "$spec")" "$round")
  local REDIS_ADDR=127.0.0.1:$REDIS_PORT       # what render_module writes, for this row
  [[ $via == unix ]] && REDIS_ADDR=unix:$REDIS_SOCK
  start_module "$w" "$VERIFY_SERVER_CPUS" "$aff" "$( ((w > 1)) && echo "$LISTEN_OPTS" || true)"
  taskset -a -p -c "$VERIFY_REDIS_CPUS" "$REDIS_PID" >/dev/null
  ((STORE_MADE)) || { create_store; STORE_MADE=1; }
  d=$SRV_DIR/$tag; mkdir -p "$d"
  next_check; id=$NEXT_CHECK
  code=$("$RUN/member-code" "$CODE_SECRET" "$PERIOD" "$(date +%s)" "$id" | awk '{print $2}')
  chk=ok
  verify_check "$id" "$code" "$d" >"$d/check.txt" || chk=$(cat "$d/check.txt")
  # from nothing: the rows before (and this check) leave tickets that expire as they please
  unspend
  spent0=$(count_keys '{m:*}:code:*')
  prepare_verify "$WARMUP" "$DURATION"
  t_start=$(date +%s)
  export BENCH_STORE=$STORE
  BEFORE_RUN="export BENCH_REQUESTS=$RUN/reqs-run.txt"
  export BENCH_REQUESTS=$RUN/reqs-warm.txt
  LOAD_CONNS=$VERIFY_CONNS
  load "$tag" "$VERIFY_CLIENT_CPUS" "$RUN/bench/wrk/verify.lua" "http://127.0.0.1:$SRV_PORT"
  LOAD_CONNS=
  BEFORE_RUN=
  t_end=$(date +%s)
  spent1=$(count_keys '{m:*}:code:*')
  # answered 2xx: the warm-up's and the run's completed requests minus their non-2xx
  ok2xx=0 sent=0
  for f in "$RUN/$tag.warmup.txt" "$RUN/$tag.wrk.txt"; do
    n=$(awk '/requests in/ {print $1}' "$f"); e=$(awk '/Non-2xx/ {print $NF}' "$f")
    s=$(sed -n 's/^verify.lua: sent \([0-9]*\) .*/\1/p' "$f")
    ok2xx=$((ok2xx + ${n:-0} - ${e:-0})); sent=$((sent + ${s:-0}))
  done
  # the warm-up may run out (it only warms); the measured run must not
  if grep -q 'RAN OUT' "$RUN/$tag.wrk.txt"; then
    NOISY+=("$row ran out of prepared requests: its req/s is a lower bound (raise VERIFY_MAX_RATE)")
  fi
  spent=$((spent1 - spent0))
  tick="$spent tickets"
  if ((spent < ok2xx || spent > sent)); then
    tick="$spent tickets (spent codes) for $ok2xx 2xx of $sent sent"
    [[ $chk == ok ]] && chk="Redis: $tick"
  fi
  in_window "$t_start" && in_window "$t_end" || chk="the run left the codes' window (step $VERIFY_STEP +- 1)"
  record_wrk "$row" "$(cat "$d/verify.bytes")" "$chk" "$tick"
  VERIFY_NAMES+=("$row")
  echo "    Redis: $spent spent codes (the tickets); 2xx answers counted by wrk $ok2xx, requests sent $sent"
  unspend
  if ((PERF == 1 && round == 1)); then
    prepare_verify 0 $((PERF_SECONDS + 3))
    export BENCH_REQUESTS=$RUN/reqs-run.txt
    perf_workers "${tag%-r*}" "$RUN/bench/wrk/verify.lua"
    unspend
  fi
  taskset -a -p -c "$REDIS_CPU" "$REDIS_PID" >/dev/null
  stop_server
}

# ---------------------------------------------------------------- the runs
echo "module: $MODULE (sha256 $MODULE_SUM..., repo $GIT_REV)"
rowname() { ((ROUNDS == 1)) && echo "$1" || echo "$1 #$2"; }
pngname() { if (($1 > 1)); then echo "module code.png ($1 workers)"; else echo "module code.png (1 worker)"; fi; }
QR_NAMES=() VERIFY_NAMES=()
STORE_MADE=0

for ((round = 1; round <= ROUNDS; round++)); do
  echo "round $round of $ROUNDS"
  # ---- QR in process
  if ! skip qr; then
    inproc "$(rowname "qrbench 4px M (RESULTS.md)" $round)" "qrbench-4M-r$round" "$RUN/peers/qrbench"
    inproc "$(rowname "qrbench 8px Q (the bound)" $round)" "qrbench-8Q-r$round" "$RUN/peers/qrbench" -s 8 -l Q -m 4
    inproc "$(rowname "pngbench: mqr_png in process" $round)" "pngbench-r$round" "$RUN/pngbench"
  fi
  # ---- Node peer
  if ! skip node; then
    start_node
    chk=$(node_check)
    load "node-qr-r$round" "$CLIENT_CPU" "$RUN/peers/wrk/qr.lua" "http://127.0.0.1:$SRV_PORT"
    record_wrk "$(rowname "node-qr (4px M)" $round)" "$(cat "$RUN/node/png.bytes")" "$chk" ""
    stop_server
  fi
  # ---- the module's code.png
  if ! skip png; then
    for w in $PNG_WORKERS; do
      if ((w == 1)); then cpus=$SERVER_CPU aff=none lo=; else cpus=0-$(($(nproc) - 1)) aff=auto lo=$LISTEN_OPTS; fi
      start_module "$w" "$cpus" "$aff" "$lo"
      ((STORE_MADE)) || { create_store; STORE_MADE=1; }
      mkdir -p "$SRV_DIR/r$round"
      next_check
      chk=$(png_check "$SRV_DIR/r$round" "$NEXT_CHECK")
      export BENCH_MEMBERS=$PNG_MEMBERS BENCH_TOKENS=$RUN/tokens.txt
      load "module-png-w$w-r$round" "$CLIENT_CPU" "$RUN/bench/wrk/code_png.lua" "http://127.0.0.1:$SRV_PORT"
      record_wrk "$(rowname "$(pngname "$w")" $round)" \
        "$(cat "$SRV_DIR/r$round/png.bytes")" "$chk" ""
      if ((PERF == 1 && round == 1)); then perf_workers "png-w$w" "$RUN/bench/wrk/code_png.lua"; fi
      stop_server
    done
  fi
  # ---- verify
  if ! skip verify; then
    for spec in $VERIFY_ROWS; do verify_row "$spec" "$round"; done
  fi
done

# summary NAME [quiet] : S_RPS S_P50 S_P99 S_N over the rounds (quiet: rows not flagged only)
summary() {
  local r rps=() p50=() p99=() label
  for ((r = 1; r <= ROUNDS; r++)); do
    label=$(rowname "$1" "$r")
    [[ -n ${RPS[$label]:-} ]] || continue
    [[ ${2:-} == quiet ]] && ((OTHER[$label] > NOISY_PCT)) && continue
    rps+=("${RPS[$label]}"); p50+=("${P50[$label]:-0}"); p99+=("${P99[$label]:-0}")
  done
  S_N=${#rps[@]}
  ((S_N)) || { S_RPS=; S_P50=; S_P99=; return; }
  S_RPS=$(median "${rps[@]}"); S_P50=$(median "${p50[@]}"); S_P99=$(median "${p99[@]}")
  S_RPS=${S_RPS%.*}
}
PNG_VERDICT= VERIFY_VERDICT=
png_judge() {  # png_judge MODULE BOUND
  awk -v m="$1" -v b="$2" -v t="$PNG_TARGET" 'BEGIN {
    if (m == "" || b == "" || b <= 0) { print "not judged"; exit }
    printf "%s (module %d codes/s = %.2f x qrbench 8px Q %d; target %.1f x = %.0f)", (m >= t * b) ? "PASS" : "FAIL", m, m / b, b, t, t * b }'
}
verify_judge() {
  awk -v v="$1" -v t="$VERIFY_TARGET" 'BEGIN {
    if (v == "") { print "not judged"; exit }
    printf "%s (%d requests/s; target %d)", (v >= t) ? "PASS" : "FAIL", v, t }'
}
QR_ORDER=("qrbench 4px M (RESULTS.md)" "qrbench 8px Q (the bound)" "pngbench: mqr_png in process" "node-qr (4px M)")
for w in $PNG_WORKERS; do QR_ORDER+=("$(pngname "$w")"); done
{
  echo "## run $STAMP"
  echo
  echo "$(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)); wrk -t1 -c$CONNS" \
       "-d${DURATION}s --latency after a ${WARMUP}s warm-up; $ROUNDS round(s); module sha256 $MODULE_SUM (repo $GIT_REV)."
  if ! skip qr || ! skip node || ! skip png; then
    echo
    echo "### QR: codes/s (in-process rows and servers on cpu $SERVER_CPU, wrk on cpu $CLIENT_CPU, redis on cpu $REDIS_CPU)"
    echo
    echo "| renderer | codes/s | p50 ms | p99 ms | non-2xx/sock err | PNG B | server CPU | redis CPU | wrk CPU | core $SERVER_CPU / $CLIENT_CPU busy | other CPU | check |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    for ((round = 1; round <= ROUNDS; round++)); do
      for n in "${QR_ORDER[@]}"; do
        r=$(rowname "$n" "$round"); [[ -n ${ROWS[$r]:-} ]] && echo "${ROWS[$r]}"
      done
    done
    of=
    if ((ROUNDS > 1)); then
      of=" (medians of $ROUNDS rounds)"
      for n in "${QR_ORDER[@]}"; do
        summary "$n"; [[ -n $S_RPS ]] && echo "| $n, median | $S_RPS | $S_P50 | $S_P99 | | | | | | | | |"
      done
    fi
    echo
    echo "(in-process rows: the p50 column is the mean ms per code; their server CPU is the process's.)"
    summary "qrbench 8px Q (the bound)"; qb=$S_RPS
    summary "qrbench 4px M (RESULTS.md)"; qb4=$S_RPS
    summary "pngbench: mqr_png in process"; pb=$S_RPS
    summary "node-qr (4px M)"; nq=$S_RPS
    summary "module code.png (1 worker)"; m1=$S_RPS
    echo
    echo "Ratios$of, codes/s: **module (1 worker) / qrbench 8px Q $(ratio "$m1" "$qb")**," \
         "module / node-qr $(ratio "$m1" "$nq"), module / pngbench (the module's renderer alone) $(ratio "$m1" "$pb")," \
         "module / qrbench 4px M $(ratio "$m1" "$qb4"), pngbench / qrbench 8px Q $(ratio "$pb" "$qb")"
    for w in $PNG_WORKERS; do
      ((w > 1)) || continue
      summary "module code.png ($w workers)"
      echo "module code.png ($w workers): $S_RPS codes/s = $(ratio "$S_RPS" "$qb") x qrbench 8px Q (one thread), $(ratio "$S_RPS" "$nq") x node-qr (one process)"
    done
    PNG_VERDICT=$(png_judge "$m1" "$qb")
    echo
    echo "**Target code.png**$of (module, 1 worker >= $PNG_TARGET x qrbench 8px Q): **$PNG_VERDICT**"
    if ((ROUNDS > 1)); then
      summary "module code.png (1 worker)" quiet; qm=$S_RPS qmn=$S_N
      summary "qrbench 8px Q (the bound)" quiet; qq=$S_RPS qqn=$S_N
      if ((qmn && qqn && (qmn < ROUNDS || qqn < ROUNDS))); then
        echo "Quiet rows only (other CPU <= $NOISY_PCT%: $qmn module, $qqn qrbench): $(png_judge "$qm" "$qq")"
      elif ((qmn == 0 || qqn == 0)); then
        echo "No quiet row of both the module and qrbench (other CPU <= $NOISY_PCT%)."
      fi
    fi
  fi
  if ! skip verify; then
    echo
    echo "### verify: requests/s (nginx cpus $VERIFY_SERVER_CPUS, listen ${LISTEN_OPTS:-(plain)};" \
         "redis cpus $VERIFY_REDIS_CPUS; wrk -c$VERIFY_CONNS, cpus $VERIFY_CLIENT_CPUS; worker_processes and" \
         "worker_cpu_affinity as named)"
    echo
    echo "| server | req/s | p50 ms | p99 ms | non-2xx/sock err | body B | server CPU | redis CPU | wrk CPU | core $SERVER_CPU / $CLIENT_CPU busy | other CPU | Redis after | check |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    for r in "${VERIFY_NAMES[@]}"; do echo "${ROWS[$r]}"; done
    of=
    ((ROUNDS > 1)) && of=" (median of $ROUNDS rounds)"
    if ((ROUNDS > 1)); then
      for spec in $VERIFY_ROWS; do
        n=$(vname "$spec"); summary "$n"
        echo "| $n, median | $S_RPS | $S_P50 | $S_P99 | | | | | | | | | |"
      done
    fi
    first=1
    for spec in $VERIFY_ROWS; do
      n=$(vname "$spec"); summary "$n"; v=$S_RPS
      echo
      if ((first)); then
        VERIFY_VERDICT=$(verify_judge "$v")
        echo "**Target verify**$of, $n (>= $VERIFY_TARGET requests/s on this machine): **$VERIFY_VERDICT**"
      else
        echo "For information$of, $n: $(verify_judge "$v")"
      fi
      if ((ROUNDS > 1)); then
        summary "$n" quiet
        if ((S_N && S_N < ROUNDS)); then
          echo "Quiet rows only (other CPU <= $NOISY_PCT%: $S_N): $(verify_judge "$S_RPS")"
        elif ((S_N == 0)); then
          echo "No quiet row (other CPU <= $NOISY_PCT%)."
        fi
      fi
      first=0
    done
  fi
  if ((${#NOISY[@]})); then
    echo
    echo "Warning: not a quiet machine, or a row to read with care:"
    printf -- '- %s\n' "${NOISY[@]}"
  fi
} >"$OUT/table.md"
cat "$OUT/table.md"
echo
echo "TARGET code.png: ${PNG_VERDICT:-not judged}"
echo "TARGET verify: ${VERIFY_VERDICT:-not judged}"
echo "raw output: ${OUT#"$ROOT"/}/"
if ((${#FAILED[@]})); then
  printf 'CHECK FAILED: %s\n' "${FAILED[@]}" >&2
  exit 1
fi
exit 0
}
