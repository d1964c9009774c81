#!/usr/bin/env bash
# The card benchmark: ngx_member's GET /api/card beside the peers of ../shared/bench, in one run,
# against one Redis, with the same pinning and the same wrk settings. See bench/README.md.
#
#   make bench            # installs wrk and the Lua peer's packages, builds the module, runs this
#   bench/run.sh          # the same, once `make deps-bench` and `make` have run
#
# One redis-server on a free loopback port (--save '' --appendonly no), seeded with the peers'
# bench:member:<id> hashes (../shared/bench/seed.awk) and the module's {m:<id>} members and their
# sessions (seed.py). Then three nginx servers, one at a time, each worker_processes 1:
#   ceiling   nginx `return 200 '<fixed card>'`            (../shared/bench/nginx/ceiling.conf.in)
#   lua       nginx + lua module + lua-resty-redis + cjson (../shared/bench/nginx/lua.conf.in)
#   module    nginx + ngx_http_member_module, GET /api/card with a Bearer token (nginx/module.conf.in)
# Each: correctness check, then wrk -t1 -cCONNS -dWARMUP (discarded), then
# wrk -t1 -cCONNS -dDURATION --latency. The three take turns ROUNDS times (default 3, ~2 minutes
# in all); with more than one round the target is judged on the medians, as one 10 s run is at the
# mercy of whatever else the machine does.
#
# Pinning (taskset): the server under test (master and worker) on SERVER_CPU, wrk on CLIENT_CPU.
# Redis goes in turn on each CPU of REDIS_CPUS (default SERVER_CPU only):
#   redis cpu SERVER_CPU  server + Redis share one core, wrk has the other: the whole server-side
#                         cost of a lookup. The target is judged here.
#   redis cpu CLIENT_CPU  (REDIS_CPUS="0 1") the server has its core to itself, but wrk and Redis
#                         share the other, which caps what this placement can show
#                         (../shared/bench/RESULTS.md): a second table, for information.
# The ceiling needs no Redis: it runs in the first placement only.
#
# Target: module >= 2x the Lua peer's req/s, with a p99 no worse than the Lua peer's, in the
# redis-cpu-SERVER_CPU placement of the same run. PASS or FAIL is printed; the exit status is 0
# either way, 1 only when a correctness check failed (or the set-up did).
#
# The cluster (issue 16; CLUSTER=0 leaves it out): three more redis-servers, --cluster-enabled,
# made a 3-master cluster (redis-cli --cluster create, no replica) on the first Redis CPU and
# seeded with the same members and sessions (seed.py through cluster_pipe.py, each command to its
# slot's master). Each round then has a fourth server, `cluster`: the module's same card server
# with member_redis_cluster naming the three, the same checks and wrk script. Target: its req/s
# within 15% of the module's on the one Redis (medians). Then, PAY=1 (the default), the pay rows:
# POST /scan/pay on one Redis and on the cluster (nginx/pay.conf.in, worker_processes 1):
# PAY_STORES stores, PAY_MEMBERS members' tickets, and PAY_MAX_RATE x (DURATION + 1) signed pays
# of 1 yuan (pay_prep.py), each sent once by wrk/pay.lua; one round each.
#
# Knobs (environment): DURATION (10), WARMUP (2), CONNS (64), MEMBERS (100000), ROUNDS (3),
# SERVER_CPU (0), CLIENT_CPU (1), REDIS_CPUS (SERVER_CPU), PERF (0; 1 = after the module's and the
# cluster row's first measured runs, `perf record -g` each one's worker for PERF_SECONDS (5) under the same load and keep
# `perf report` in the output), QUIET_WAIT (0; seconds to wait, before each measurement, for the
# machine to be idle: for shared machines), MODULE (the .so; default build/ngx_http_member_module.so,
# copied at the start), LABEL (tag of the output folder), CLUSTER (1), PAY (1), PAY_MEMBERS (2000),
# PAY_STORES (16), PAY_MAX_RATE (12000), MEMBER_CODE (build/member-code, for the pays' tickets).
# Raw output: bench/out/<stamp>/ (git-ignored). The "other CPU" column is the CPU time of processes
# not started here (and kernel work no process is charged for), in % of one core: above 25% the row
# is flagged as not quiet.
set -euo pipefail
{ # the whole script is read before it runs: editing this file during a run changes nothing

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=$ROOT/../shared/bench

SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
REDIS_CPUS=${REDIS_CPUS:-$SERVER_CPU}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
MEMBERS=${MEMBERS:-100000}
PERF=${PERF:-0}
PERF_SECONDS=${PERF_SECONDS:-5}
QUIET_WAIT=${QUIET_WAIT:-0}
NOISY_PCT=25   # "other CPU" above this flags a row (kernel softirq work alone shows up to ~20% here)
ROUNDS=${ROUNDS:-3}
MODULE=${MODULE:-$ROOT/build/ngx_http_member_module.so}
CARD_ID=12345            # the ceiling's fixed card is this member's card
MISSING_ID=999999999     # never seeded
LUA_MODULE=/usr/lib/nginx/modules/ngx_http_lua_module.so
CLUSTER=${CLUSTER:-1}
PAY=${PAY:-1}
PAY_MEMBERS=${PAY_MEMBERS:-2000}
PAY_STORES=${PAY_STORES:-16}
PAY_MAX_RATE=${PAY_MAX_RATE:-12000}
MEMBER_CODE=${MEMBER_CODE:-$ROOT/build/member-code}
((CLUSTER)) || PAY=0     # the pay rows compare the one Redis with the cluster

. "$HERE/lib.sh"

# ---------------------------------------------------------------- preconditions
[[ -d $SHARED ]] || die "the peer benchmark is missing: expected ../shared/bench beside the repository ($SHARED)"
for f in nginx/common.conf.in nginx/http-common.conf.in nginx/ceiling.conf.in nginx/lua.conf.in \
         lua/card.lua wrk/card.lua seed.awk; do
  [[ -f $SHARED/$f ]] || die "missing $SHARED/$f"
done
((MEMBERS >= CARD_ID)) || die "MEMBERS must be at least $CARD_ID"
for tool in nginx redis-server redis-cli wrk jq curl taskset python3 awk ss; do
  command -v "$tool" >/dev/null || die "missing $tool: run make deps-bench"
done
[[ -f $LUA_MODULE ]] || die "missing $LUA_MODULE: run make deps-bench"
[[ -f $MODULE ]] || die "missing $MODULE: run make"
((PAY == 0)) || [[ -x $MEMBER_CODE ]] || die "missing $MEMBER_CODE: run make build/member-code (or PAY=0)"
for c in $SERVER_CPU $CLIENT_CPU $REDIS_CPUS; do
  ((c < $(nproc))) || die "cpu $c does not exist (nproc $(nproc))"
done
[[ $SERVER_CPU != "$CLIENT_CPU" ]] || die "SERVER_CPU and CLIENT_CPU must differ"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"

# ---------------------------------------------------------------- processes we start, and only those
STARTED=()


cleanup() {
  local rc=$?
  ((${#STARTED[@]})) && stop_pid "${STARTED[@]}"
  if [[ -d $RUN ]]; then
    rm -f "$RUN/tokens.txt" "$RUN/perf.data" "$RUN/perf.data.old"
    cp -r "$RUN"/. "$OUT"/ 2>/dev/null || true
    rm -rf "$RUN"
  fi
  exit $rc
}

RUN=$(mktemp -d -t ngx-member-bench.XXXXXX)
STAMP=$(date +%Y%m%d-%H%M%S)${LABEL:+-$LABEL}
OUT=$HERE/out/$STAMP
mkdir -p "$OUT"

trap cleanup EXIT
trap 'exit 130' INT TERM

# What is measured: copies, so that a rebuild or an edit during the run changes nothing.
cp -r "$SHARED"/nginx "$SHARED"/lua "$SHARED"/wrk "$SHARED"/seed.awk "$RUN"/
mkdir -p "$RUN/peers" && mv "$RUN"/nginx "$RUN"/lua "$RUN"/wrk "$RUN"/seed.awk "$RUN/peers"/
mkdir -p "$RUN/bench"
cp -r "$HERE"/nginx "$HERE"/wrk "$HERE"/seed.py "$HERE"/cluster_pipe.py "$HERE"/pay_prep.py "$RUN/bench"/
mkdir -p "$RUN/tools" && cp "$ROOT"/tools/resp.py "$RUN/tools"/   # cluster_pipe.py's client
cp "$MODULE" "$RUN/ngx_http_member_module.so"
MODULE_SUM=$(sha256sum "$RUN/ngx_http_member_module.so" | cut -c1-12)
printf 'load_module %s;\nevents {}\n' "$RUN/ngx_http_member_module.so" >"$RUN/load-test.conf"
nginx -t -q -p "$RUN/" -c "$RUN/load-test.conf" -e "$RUN/load-test.log" 2>"$RUN/load-test.err" ||
  die "nginx cannot load $MODULE (being rebuilt?): $(tail -1 "$RUN/load-test.err")"
# a module of before issue 16 (bench/compare.sh's BASE) knows no cluster: its rows are left out
if ((CLUSTER)); then
  printf 'load_module %s;\nevents {}\nhttp { member_redis_cluster 127.0.0.1:1; }\n' \
    "$RUN/ngx_http_member_module.so" >"$RUN/cluster-test.conf"
  if ! nginx -t -q -p "$RUN/" -c "$RUN/cluster-test.conf" -e "$RUN/load-test.log" 2>/dev/null; then
    echo "this module has no member_redis_cluster: no cluster or pay rows"
    CLUSTER=0 PAY=0
  fi
fi
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || GIT_REV="$GIT_REV+changes"


HZ=$(getconf CLK_TCK)
# the pay servers' admin token and code secret, random for each run, kept in files
ADMIN_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
CODE_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$ADMIN_TOKEN" >"$RUN/admin-token"
printf '%s\n' "$CODE_SECRET" >"$RUN/code-secret"


# Free loopback ports (Redis, ceiling, lua, module; the cluster's three nodes and their bus
# ports, the module on the cluster, the two pay servers), held open together so they differ.
read -r REDIS_PORT PORT_CEILING PORT_LUA PORT_MODULE C1 C2 C3 B1 B2 B3 PORT_CLUSTER \
        PORT_PAY_ONE PORT_PAY_CLUSTER < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(13)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
for s in ss: s.close()')

# ---------------------------------------------------------------- Redis, seeded for all three
REDIS_CPU=${REDIS_CPUS%% *}
mkdir -p "$RUN/redis"
start_bg redis "$REDIS_CPU" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
  --appendonly no --dir "$RUN/redis" --daemonize no --protected-mode yes
REDIS_PID=$LAST_PID
wait_port "$REDIS_PORT" "$REDIS_PID" || die "redis-server did not start: $(tail -3 "$RUN/redis.log")"
echo "redis-server pid $REDIS_PID on 127.0.0.1:$REDIS_PORT; seeding $MEMBERS members (peers' and module's)"
t0=$(date +%s%N)
LC_ALL=C awk -v n="$MEMBERS" -f "$RUN/peers/seed.awk" | rcli --pipe >"$RUN/seed-peers.log"
python3 "$RUN/bench/seed.py" --members "$MEMBERS" --tokens "$RUN/tokens.txt" | rcli --pipe >"$RUN/seed-module.log"
keys=$(rcli dbsize)
# peers: MEMBERS hashes; module: MEMBERS members + MEMBERS sessions + one visitor and its session
[[ $keys == $((3 * MEMBERS + 2)) ]] || die "seeding: dbsize $keys, wanted $((3 * MEMBERS + 2))"
echo "seeded $keys keys in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# ---------------------------------------------------------------- the cluster, seeded the same
CLUSTER_PIDS=
CLUSTER_SEEDS=
if ((CLUSTER)); then
  for p in "$C1:$B1" "$C2:$B2" "$C3:$B3"; do
    mkdir -p "$RUN/cluster-${p%%:*}"
    start_bg "cluster-${p%%:*}" "$REDIS_CPU" redis-server --bind 127.0.0.1 --port "${p%%:*}" \
      --cluster-enabled yes --cluster-port "${p##*:}" --cluster-config-file nodes.conf \
      --save '' --appendonly no --dir "$RUN/cluster-${p%%:*}" --daemonize no --protected-mode yes
    CLUSTER_PIDS="$CLUSTER_PIDS $LAST_PID"
    wait_port "${p%%:*}" "$LAST_PID" || die "cluster node ${p%%:*} did not start"
    CLUSTER_SEEDS="$CLUSTER_SEEDS 127.0.0.1:${p%%:*}"
  done
  # shellcheck disable=SC2086
  redis-cli --cluster create $CLUSTER_SEEDS --cluster-replicas 0 --cluster-yes \
    >"$RUN/cluster-create.log" 2>&1 || die "redis-cli --cluster create: $(tail -3 "$RUN/cluster-create.log")"
  for _ in $(seq 100); do
    ok=0
    for p in $C1 $C2 $C3; do
      redis-cli -p "$p" cluster info | grep -q '^cluster_state:ok' && ok=$((ok + 1))
    done
    ((ok == 3)) && break
    sleep 0.1
  done
  ((ok == 3)) || die "the cluster is not ok"
  t0=$(date +%s%N)
  python3 "$RUN/bench/seed.py" --members "$MEMBERS" --tokens "$RUN/tokens-cluster.txt" |
    python3 "$RUN/bench/cluster_pipe.py" --port "$C1" >"$RUN/seed-cluster.log"
  cmp -s "$RUN/tokens.txt" "$RUN/tokens-cluster.txt" || die "the cluster's tokens differ"
  keys=0
  for p in $C1 $C2 $C3; do keys=$((keys + $(redis-cli -p "$p" dbsize))); done
  [[ $keys == $((2 * MEMBERS + 2)) ]] || die "seeding the cluster: $keys keys, wanted $((2 * MEMBERS + 2))"
  echo "cluster: 3 masters on$CLUSTER_SEEDS (pids$CLUSTER_PIDS), seeded $keys keys in" \
       "$(( ($(date +%s%N) - t0) / 1000000 )) ms"
fi

# The peers' card of CARD_ID, built from Redis (as run-peers.sh does): the ceiling's fixed body
# is that same card.
rcli --raw hgetall "bench:member:$CARD_ID" |
  jq -Rn --arg id "$CARD_ID" '[inputs] as $a
    | reduce range(0; $a | length; 2) as $i ({member_id: $id}; .[$a[$i]] = $a[$i + 1])
    | .points |= tonumber | .balance_fen |= tonumber | .issued_at |= tonumber' >"$RUN/expected-peer-card.json"
# The module's card of CARD_ID, built from its member hash.
rcli --raw hmget "{m:$CARD_ID}" card_no level points balance_fen status |
  jq -Rn --arg id "$CARD_ID" '[inputs] as $a
    | {member_id: $id, card_no: $a[0], level: $a[1], points: ($a[2] | tonumber),
       balance_fen: ($a[3] | tonumber), status: $a[4]}' >"$RUN/expected-module-card.json"
CARD_TOKEN=$(awk -v id="$CARD_ID" '$1 == id { print $2; exit }' "$RUN/tokens.txt")
VISITOR_ID=$((MEMBERS + 1))
VISITOR_TOKEN=$VISITOR_ID.$(python3 -c 'import base64, hashlib, sys
print(base64.urlsafe_b64encode(hashlib.sha256(b"bench-" + sys.argv[1].encode()).digest()).rstrip(b"=").decode())' "$VISITOR_ID")
# well-formed (43 base64url characters) but no such session: Redis must be asked, and say no
BAD_TOKEN=$CARD_ID.$(printf 'A%.0s' $(seq 43))

# ---------------------------------------------------------------- servers
# render NAME TEMPLATE PORT : the server's run directory RUN/NAME with nginx.conf and includes
render() {
  local name=$1 tpl=$2 port=$3 dir=$RUN/$1 f
  mkdir -p "$dir/tmp"
  for f in common http-common; do
    sed -e "s|@RUN@|$dir|g" "$RUN/peers/nginx/$f.conf.in" >"$dir/$f.conf"
  done
  sed -e "s|@RUN@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@REDIS_PORT@|$REDIS_PORT|g" \
      -e "s|@BENCH@|$RUN/peers|g" -e "s|@MODULE@|$RUN/ngx_http_member_module.so|g" \
      -e "s|@REDIS@|$REDIS_LINE|g" -e "s|@ADMIN_TOKEN@|$ADMIN_TOKEN|g" \
      -e "s|@CODE_SECRET@|$CODE_SECRET|g" "$tpl" >"$dir/nginx.conf"
  nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" -t -q
}

# start_server NAME : sets SRV_PID (master), SRV_PIDS (master and worker), SRV_PORT
start_server() {
  local name=$1 tpl
  REDIS_LINE="member_redis 127.0.0.1:$REDIS_PORT"
  case $name in
    ceiling) tpl=$RUN/peers/nginx/ceiling.conf.in; SRV_PORT=$PORT_CEILING ;;
    lua)     tpl=$RUN/peers/nginx/lua.conf.in;     SRV_PORT=$PORT_LUA ;;
    module)  tpl=$RUN/bench/nginx/module.conf.in;  SRV_PORT=$PORT_MODULE ;;
    cluster) tpl=$RUN/bench/nginx/module.conf.in;  SRV_PORT=$PORT_CLUSTER
             REDIS_LINE="member_redis_cluster$CLUSTER_SEEDS" ;;
    pay-one) tpl=$RUN/bench/nginx/pay.conf.in;     SRV_PORT=$PORT_PAY_ONE ;;
    pay-cluster) tpl=$RUN/bench/nginx/pay.conf.in; SRV_PORT=$PORT_PAY_CLUSTER
             REDIS_LINE="member_redis_cluster$CLUSTER_SEEDS" ;;
  esac
  render "$name" "$tpl" "$SRV_PORT"
  start_bg "$name" "$SERVER_CPU" nginx -p "$RUN/$name/" -c "$RUN/$name/nginx.conf" -e "$RUN/$name/error.log"
  SRV_PID=$LAST_PID
  wait_port "$SRV_PORT" "$SRV_PID" || die "$name did not start: $(tail -3 "$RUN/$name/error.log")"
  sleep 0.2
  SRV_PIDS="$SRV_PID $(children_of "$SRV_PID")"
}

# fetch URL OUTFILE [HEADER] : prints "<status> <body bytes>"; retries a 5xx/000 for up to 2 s
# (the module's worker connects to Redis as it starts).
fetch() {
  local code
  for _ in $(seq 20); do
    code=$(curl -s -o "$2" -w '%{http_code} %{size_download}' ${3:+-H "$3"} "$1") || true
    [[ $code == 5* || $code == 000* || -z $code ]] || break
    sleep 0.1
  done
  echo "$code"
}

same_json() { diff -q <(jq -S . "$1" 2>/dev/null) <(jq -S . "$2") >/dev/null 2>&1; }

# check NAME : correctness before load. Prints "ok" or what is wrong; writes RUN/NAME.bytes.
check() {
  local name=$1 base=http://127.0.0.1:$SRV_PORT c d=$RUN/$1
  if [[ $name == pay-* ]]; then
    echo "-" >"$RUN/$name.bytes"
    cat "$RUN/$name.check"
    return
  fi
  if [[ $name == module || $name == cluster ]]; then
    c=$(fetch "$base/api/card" "$d/check-card.json" "Authorization: Bearer $CARD_TOKEN")
    echo "${c##* }" >"$RUN/$name.bytes"
    [[ ${c%% *} == 200 ]] || { echo "GET /api/card (member $CARD_ID): ${c%% *}"; return; }
    same_json "$d/check-card.json" "$RUN/expected-module-card.json" ||
      { echo "card of $CARD_ID differs from Redis"; return; }
    c=$(fetch "$base/api/card" "$d/check-401.json" "Authorization: Bearer $BAD_TOKEN")
    [[ ${c%% *} == 401 && $(jq -r .error "$d/check-401.json" 2>/dev/null) == unauthorized ]] ||
      { echo "bad token: ${c%% *}, not 401 unauthorized"; return; }
    c=$(fetch "$base/api/card" "$d/check-401b.json")
    [[ ${c%% *} == 401 ]] || { echo "no token: ${c%% *}, not 401"; return; }
    c=$(fetch "$base/api/card" "$d/check-404.json" "Authorization: Bearer $VISITOR_TOKEN")
    [[ ${c%% *} == 404 ]] || { echo "visitor: ${c%% *}, not 404"; return; }
    echo ok
    return
  fi
  c=$(fetch "$base/card/$CARD_ID" "$d/check-card.json")
  echo "${c##* }" >"$RUN/$name.bytes"
  [[ ${c%% *} == 200 ]] || { echo "GET /card/$CARD_ID: ${c%% *}"; return; }
  same_json "$d/check-card.json" "$RUN/expected-peer-card.json" ||
    { echo "card of $CARD_ID differs from Redis"; return; }
  if [[ $name != ceiling ]]; then
    c=$(fetch "$base/card/$MISSING_ID" "$d/check-404.json")
    [[ ${c%% *} == 404 && $(jq -r .error "$d/check-404.json" 2>/dev/null) == not_found ]] ||
      { echo "GET /card/$MISSING_ID: ${c%% *}"; return; }
  fi
  echo ok
}

wrk_env() {  # the wrk script and its environment for a server (a pay row: WARM or RUN's pays)
  if [[ $1 == pay-* ]]; then
    WRK_SCRIPT=$RUN/bench/wrk/pay.lua
    export BENCH_REQUESTS=$RUN/$1.${2:-run}.txt
  elif [[ $1 == module || $1 == cluster ]]; then
    WRK_SCRIPT=$RUN/bench/wrk/card.lua
  else
    WRK_SCRIPT=$RUN/peers/wrk/card.lua
  fi
  export BENCH_MEMBERS=$MEMBERS BENCH_TOKENS=$RUN/tokens.txt
}

declare -A RPS P50 P99 OTHER ROWS
FAILED=()
NOISY=()       # rows measured while other processes took CPU


# measure NAME ROW : check, warm-up, measured run; fills RPS/P99[ROW] and ROWS[ROW]
measure() {
  local name=$1 row=$2 url=http://127.0.0.1:$SRV_PORT tag chk
  tag=$(tr -cs 'A-Za-z0-9-' '-' <<<"$row"); tag=${tag%-}
  chk=$(check "$name")
  quiet
  wrk_env "$name" warm
  timeout $((WARMUP + 30)) taskset -c "$CLIENT_CPU" \
    wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$WRK_SCRIPT" "$url" >"$RUN/$tag.warmup.txt" 2>&1 || true
  wrk_env "$name" run
  local s0 r0 c0b c0t c1b c1t s1 r1 e0b e0t e1b e1t real wu ws rpids=$REDIS_PID
  [[ $name == cluster || $name == pay-cluster ]] && rpids=$CLUSTER_PIDS
  local -A rb=()
  for p in $rpids; do rb[$p]=$(ticks "$p"); done
  s0=$(ticks $SRV_PIDS); r0=$(ticks $rpids)
  read -r c0b c0t < <(corecpu "$SERVER_CPU"); read -r c1b c1t < <(corecpu "$CLIENT_CPU")
  local TIMEFORMAT='%R %U %S'
  { time timeout $((DURATION + 30)) taskset -c "$CLIENT_CPU" \
      wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$WRK_SCRIPT" "$url" >"$RUN/$tag.wrk.txt" 2>&1; } \
    2>"$RUN/$tag.time" || true
  s1=$(ticks $SRV_PIDS); r1=$(ticks $rpids)
  local each=
  for p in $rpids; do rb[$p]=$(($(ticks "$p") - rb[$p])); done
  read -r e0b e0t < <(corecpu "$SERVER_CPU"); read -r e1b e1t < <(corecpu "$CLIENT_CPU")
  read -r real wu ws <"$RUN/$tag.time"
  local w=$RUN/$tag.wrk.txt rps p50 p99 non2xx sockerr
  rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$w")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$w")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$w")")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$w"); non2xx=${non2xx:-0}
  sockerr=$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10}' "$w"); sockerr=${sockerr:-0}
  RPS[$row]=${rps:-0}; P50[$row]=$p50; P99[$row]=$p99
  local srv red wrkc core0 core1 other
  srv=$(pct $((s1 - s0)) "$real"); red=$(pct $((r1 - r0)) "$real")
  if [[ $rpids == *" "* ]]; then        # the cluster: each master's share too
    for p in $rpids; do each="$each${each:+ / }$(pct "${rb[$p]}" "$real")"; done
  fi
  wrkc=$(awk -v u="$wu" -v s="$ws" -v r="$real" 'BEGIN { printf "%.0f%%", 100 * (u + s) / r }')
  core0=$(awk -v b=$((e0b - c0b)) -v t=$((e0t - c0t)) 'BEGIN { printf "%.0f%%", t ? 100 * b / t : 0 }')
  core1=$(awk -v b=$((e1b - c1b)) -v t=$((e1t - c1t)) 'BEGIN { printf "%.0f%%", t ? 100 * b / t : 0 }')
  # CPU used by processes not ours, in % of one core: both cores' busy time minus server, Redis, wrk
  other=$(awk -v a="$core0" -v b="$core1" -v s="$srv" -v r="$red" -v w="$wrkc" \
    'BEGIN { o = a + b - s - r - w; printf "%.0f%%", o < 0 ? 0 : o }')
  ROWS[$row]="| $row | ${rps:-?} | $p50 | $p99 | $non2xx/$sockerr | $(cat "$RUN/$name.bytes") | $srv | $red${each:+ ($each)} | $wrkc | $core0 / $core1 | $other | $chk |"
  OTHER[$row]=$(tr -d % <<<"$other")
  if ((OTHER[$row] > NOISY_PCT)); then
    NOISY+=("$row: $other of a core went to other processes")
  fi
  [[ $chk == ok ]] || FAILED+=("$row: $chk")
  grep -q 'RAN OUT' "$w" && FAILED+=("$row: the prepared pays ran out (raise PAY_MAX_RATE)")
  ((non2xx == 0 && sockerr == 0)) || FAILED+=("$row: $non2xx non-2xx answers, $sockerr socket errors under load")
  echo "  $row: ${rps:-?} req/s, p50 $p50 ms, p99 $p99 ms, non-2xx/sock err $non2xx/$sockerr, check $chk"
}

# perf_worker NAME : perf record -g of the worker of NAME (module, cluster) under the same load,
# PERF_SECONDS long; its reports are perf-NAME*.txt
perf_worker() {
  command -v perf >/dev/null || { echo "  perf: not installed, skipped"; return; }
  local worker wrk_pid name=$1
  worker=$(children_of "$SRV_PID"); worker=${worker%% *}
  wrk_env "$name"
  start_bg perf-wrk "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$((PERF_SECONDS + 3))s" -s "$WRK_SCRIPT" \
    "http://127.0.0.1:$SRV_PORT"
  wrk_pid=$LAST_PID
  sleep 1
  echo "  perf record -g -p $worker ($name worker) for ${PERF_SECONDS}s"
  taskset -c "$CLIENT_CPU" perf record -q -g -p "$worker" -o "$RUN/perf-$name.data" \
    -- sleep "$PERF_SECONDS" >"$RUN/perf-$name-record.log" 2>&1 \
    || { echo "  perf record failed: $(tail -1 "$RUN/perf-$name-record.log")"; }
  stop_pid "$wrk_pid"
  if [[ -s $RUN/perf-$name.data ]]; then
    perf report -i "$RUN/perf-$name.data" --stdio --no-children 2>/dev/null | grep -v '^$' |
      head -150 >"$RUN/perf-$name-callers.txt" || true
    perf report -i "$RUN/perf-$name.data" --stdio --no-children -g none --sort dso,sym 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -60 >"$RUN/perf-$name.txt" || true
    perf report -i "$RUN/perf-$name.data" --stdio --no-children -g none --sort dso 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -20 >"$RUN/perf-$name-dso.txt" || true
    echo "  perf: by shared object"; sed 's/^/    /' "$RUN/perf-$name-dso.txt"
    echo "  perf: top symbols"; head -25 "$RUN/perf-$name.txt" | sed 's/^/    /'
  fi
}

# ---------------------------------------------------------------- the runs
echo "module: $MODULE (sha256 $MODULE_SUM..., repo $GIT_REV)"
# row NAME RCPU ROUND : the row's label
row() {
  local r=$1
  [[ $1 == cluster ]] && r="module, 3-master cluster (redis cpu $2)"
  [[ $1 == ceiling || $1 == cluster ]] || r="$1 (redis cpu $2)"
  ((ROUNDS == 1)) || r="$r #$3"
  echo "$r"
}
first=1
for rcpu in $REDIS_CPUS; do
  taskset -a -p -c "$rcpu" "$REDIS_PID" >/dev/null
  echo "placement: server cpu $SERVER_CPU, redis cpu $rcpu, wrk cpu $CLIENT_CPU"
  for ((round = 1; round <= ROUNDS; round++)); do
    for name in ceiling lua module cluster; do
      [[ $name == ceiling && $first == 0 ]] && continue
      [[ $name == cluster && ($first == 0 || $CLUSTER == 0) ]] && continue
      start_server "$name"
      measure "$name" "$(row "$name" "$rcpu" "$round")"
      if [[ ($name == module || $name == cluster) && $first == 1 && $round == 1 \
            && $PERF == 1 ]]; then
        perf_worker "$name"
      fi
      stop_pid $SRV_PIDS
      sleep 0.5
    done
  done
  first=0
done

# ---------------------------------------------------------------- pays, one Redis and the cluster
# pay_row NAME LABEL : its server, stores and tickets (pay_prep.py), then measure
pay_row() {
  local name=$1 label=$2 n=$((PAY_MAX_RATE * (DURATION + 1))) w=$((PAY_MAX_RATE * (WARMUP + 1)))
  start_server "$name"
  if python3 "$RUN/bench/pay_prep.py" --port "$SRV_PORT" --admin-token-file "$RUN/admin-token" \
       --code-secret-file "$RUN/code-secret" --member-code "$MEMBER_CODE" \
       --members "$PAY_MEMBERS" --stores "$PAY_STORES" --max-id "$MEMBERS" --prefix "$name" \
       --count "$n" --out "$RUN/$name.run.txt" --warm "$w" --warm-out "$RUN/$name.warm.txt" \
       >"$RUN/$name.prep.log" 2>&1; then
    echo ok >"$RUN/$name.check"
  else
    echo "pay_prep: $(tail -1 "$RUN/$name.prep.log")" >"$RUN/$name.check"
  fi
  sed 's/^/  /' "$RUN/$name.prep.log"
  measure "$name" "$label"
  stop_pid $SRV_PIDS
  rm -f "$RUN/$name.run.txt" "$RUN/$name.warm.txt"
  sleep 0.5
}
if ((PAY)); then
  taskset -a -p -c "$REDIS_CPU" "$REDIS_PID" >/dev/null
  echo "pays: server cpu $SERVER_CPU, redis cpu $REDIS_CPU, wrk cpu $CLIENT_CPU"
  pay_row pay-one "pay, one Redis (redis cpu $REDIS_CPU)"
  pay_row pay-cluster "pay, 3-master cluster (redis cpu $REDIS_CPU)"
fi

# summary NAME RCPU [quiet] : sets S_RPS S_P50 S_P99 S_N, the one round's figures or the medians
# over the rounds (with "quiet": over the rounds whose row is not flagged only; S_N = how many)
summary() {
  local r rps=() p50=() p99=() label
  for ((r = 1; r <= ROUNDS; r++)); do
    label=$(row "$1" "$2" "$r")
    [[ ${3:-} == quiet ]] && ((OTHER[$label] > NOISY_PCT)) && continue
    rps+=("${RPS[$label]}"); p50+=("${P50[$label]}"); p99+=("${P99[$label]}")
  done
  S_N=${#rps[@]}
  ((S_N)) || { S_RPS=; S_P50=; S_P99=; return; }
  S_RPS=$(median "${rps[@]}"); S_P50=$(median "${p50[@]}"); S_P99=$(median "${p99[@]}")
  S_RPS=${S_RPS%.*}
}
# judge M L MP LP : PASS or FAIL of the target with the figures
judge() {
  awk -v m="$1" -v l="$2" -v mp="$3" -v lp="$4" 'BEGIN {
    ok_r = (l > 0 && m >= 2 * l); ok_p = (mp != "?" && lp != "?" && mp + 0 <= lp + 0)
    printf "%s (req/s %s: module %s vs 2 x lua %s; p99 %s: module %s ms vs lua %s ms)",
      (ok_r && ok_p) ? "PASS" : "FAIL", ok_r ? "ok" : "short", m, 2 * l, ok_p ? "ok" : "worse", mp, lp }'
}
VERDICT=
CLUSTER_VERDICT=
{
  echo "## run $STAMP"
  echo
  echo "$(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)); server cpu $SERVER_CPU," \
       "wrk cpu $CLIENT_CPU, redis cpu as named; wrk -t1 -c$CONNS -d${DURATION}s --latency after a ${WARMUP}s warm-up;" \
       "$MEMBERS members, ids in random order; module sha256 $MODULE_SUM (repo $GIT_REV)."
  summary ceiling "$REDIS_CPU"; c=$S_RPS
  for rcpu in $REDIS_CPUS; do
    echo
    echo "### redis cpu $rcpu"
    echo
    echo "| server | req/s | p50 ms | p99 ms | non-2xx/sock err | body B | server CPU | redis CPU | wrk CPU | core $SERVER_CPU / $CLIENT_CPU busy | other CPU | check |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    for ((round = 1; round <= ROUNDS; round++)); do
      [[ $rcpu == "$REDIS_CPU" ]] && echo "${ROWS[$(row ceiling "$rcpu" "$round")]}"
      echo "${ROWS[$(row lua "$rcpu" "$round")]}"
      echo "${ROWS[$(row module "$rcpu" "$round")]}"
      [[ $rcpu == "$REDIS_CPU" ]] && ((CLUSTER)) && echo "${ROWS[$(row cluster "$rcpu" "$round")]}"
    done
    summary lua "$rcpu"; l=$S_RPS lp=$S_P99 l50=$S_P50
    summary module "$rcpu"; m=$S_RPS mp=$S_P99 m50=$S_P50
    of=
    if ((ROUNDS > 1)); then
      of=" (medians of $ROUNDS rounds)"
      [[ $rcpu == "$REDIS_CPU" ]] && echo "| ceiling, median | $c | | | | | | | | | | |"
      echo "| lua (redis cpu $rcpu), median | $l | $l50 | $lp | | | | | | | | |"
      echo "| module (redis cpu $rcpu), median | $m | $m50 | $mp | | | | | | | | |"
      if [[ $rcpu == "$REDIS_CPU" ]] && ((CLUSTER)); then
        summary cluster "$rcpu"
        echo "| module, 3-master cluster (redis cpu $rcpu), median | $S_RPS | $S_P50 | $S_P99 | | | | | | | | |"
      fi
    fi
    echo
    echo "Ratios$of, req/s: module/lua $(ratio "$m" "$l"), module/ceiling $(ratio "$m" "$c"), lua/ceiling $(ratio "$l" "$c");" \
         "p99 module/lua $(ratio "$mp" "$lp")"
    if [[ $rcpu == "$REDIS_CPU" ]] && ((CLUSTER)); then
      summary cluster "$rcpu"; cm=$S_RPS
      echo
      echo "**Cluster**$of: the card on a 3-master cluster $cm req/s, on one Redis $m:" \
           "cluster/one $(ratio "$cm" "$m"), target >= 0.85:" \
           "**$(awk -v a="$cm" -v b="$m" 'BEGIN { print (b > 0 && a >= 0.85 * b) ? "PASS" : "FAIL" }')**"
      CLUSTER_VERDICT="cluster/one $(ratio "$cm" "$m")"
      if ((ROUNDS > 1)); then
        # rounds whose module and cluster rows were both quiet, side by side
        local_q=()
        for ((round = 1; round <= ROUNDS; round++)); do
          a=$(row module "$rcpu" "$round"); b=$(row cluster "$rcpu" "$round")
          ((OTHER[$a] <= NOISY_PCT && OTHER[$b] <= NOISY_PCT)) &&
            local_q+=("#$round $(ratio "${RPS[$b]}" "${RPS[$a]}")")
        done
        echo
        echo "Rounds with both rows quiet (other CPU <= $NOISY_PCT%), cluster/one:" \
             "${local_q[*]:-none}"
        CLUSTER_VERDICT="$CLUSTER_VERDICT; quiet rounds ${local_q[*]:-none}"
      fi
    fi
    v=$(judge "$m" "$l" "$mp" "$lp")
    if [[ $rcpu == "$SERVER_CPU" ]]; then
      echo
      echo "**Target**$of (module >= 2x lua req/s, module p99 <= lua p99, redis cpu $rcpu): **$v**"
      VERDICT=$v
      if ((ROUNDS > 1)); then
        summary lua "$rcpu" quiet; ql=$S_RPS qlp=$S_P99 qln=$S_N
        summary module "$rcpu" quiet; qm=$S_RPS qmp=$S_P99 qmn=$S_N
        echo
        if ((qln && qmn && (qln < ROUNDS || qmn < ROUNDS))); then
          echo "Quiet rounds only (other CPU <= $NOISY_PCT%: $qln lua, $qmn module), for information:" \
               "module/lua $(ratio "$qm" "$ql"), p99 module/lua $(ratio "$qmp" "$qlp"): $(judge "$qm" "$ql" "$qmp" "$qlp")"
        elif ((qln == 0 || qmn == 0)); then
          echo "No quiet round of both lua and module (other CPU <= $NOISY_PCT%): these figures are the machine's, not only the servers'."
        fi
      fi
    else
      echo
      echo "Not the target's placement (wrk and Redis share cpu $rcpu; read the core busy column)$of: $v"
    fi
  done
  if ((PAY)); then
    echo
    echo "### pays (POST /scan/pay of 1 yuan, $PAY_MEMBERS members at $PAY_STORES stores, one round)"
    echo
    echo "| server | req/s | p50 ms | p99 ms | non-2xx/sock err | body B | server CPU | redis CPU | wrk CPU | core $SERVER_CPU / $CLIENT_CPU busy | other CPU | check |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    echo "${ROWS["pay, one Redis (redis cpu $REDIS_CPU)"]}"
    echo "${ROWS["pay, 3-master cluster (redis cpu $REDIS_CPU)"]}"
    echo
    echo "Pays, cluster/one: $(ratio "${RPS["pay, 3-master cluster (redis cpu $REDIS_CPU)"]}" \
         "${RPS["pay, one Redis (redis cpu $REDIS_CPU)"]}"); the cluster's redis CPU is each" \
         "master's (slots 0-5460, 5461-10922, 10923-16383); the brand's slot {b} is" \
         "$(redis-cli -p "$C1" cluster keyslot '{b}')."
  fi
  if ((${#NOISY[@]})); then
    echo
    echo "Warning: not a quiet machine, compare with care:"
    printf -- '- %s\n' "${NOISY[@]}"
  fi
} >"$OUT/table.md"
cat "$OUT/table.md"
echo
[[ -n $VERDICT ]] || echo "target: not judged (REDIS_CPUS has no run with redis on SERVER_CPU $SERVER_CPU)"
echo "TARGET: ${VERDICT:-not judged}"
((CLUSTER)) && echo "CLUSTER: ${CLUSTER_VERDICT:-not judged}"
echo "raw output: ${OUT#"$ROOT"/}/"
if ((${#FAILED[@]})); then
  printf 'CHECK FAILED: %s\n' "${FAILED[@]}" >&2
  exit 1
fi
exit 0
}
