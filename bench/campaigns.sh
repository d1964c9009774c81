#!/usr/bin/env bash
# The campaigns benchmark (issue 9 item 7, docs/campaigns.md): what a pass of the triggers over
# every member costs the card lookups, and how long the pass takes.
#
#   make bench-campaigns     # wrk and the module, then this
#   bench/campaigns.sh       # the same, once `make deps-bench` and `make` have run
#
# One redis-server (--save '' --appendonly no) seeded with MEMBERS members and their sessions
# (seed.py, through redis-cli --pipe), each with a birthday in this month (birth_md), and one
# nginx (worker_processes 1, nginx/campaigns.conf.in).  nginx and Redis on SERVER_CPU, wrk on
# CLIENT_CPU, as bench/run.sh places them.  Then:
#   idle     wrk GET /api/card for DURATION s, no campaign configured;
#   pass     PUT rules with a birthday trigger (1 point, in the month: every member gets one),
#            POST campaigns/run, and the same wrk at once, while the pass runs;
#   the pass goes on to its end; its duration (wall clock, from the run to "running": false)
#   and the members it did while wrk ran are printed.
# The analytics' own pass is held off ({b}:rfm:state next_at far ahead): this measures the
# triggers alone.
#
# Knobs (environment): MEMBERS (1000000), DURATION (20), WARMUP (2), CONNS (64), SERVER_CPU (0),
# CLIENT_CPU (1), QUIET_WAIT (0), MODULE (build/ngx_http_member_module.so).
# Raw output: bench/out/campaigns-<stamp>/ (git-ignored).
set -euo pipefail
{ # the whole script is read before it runs

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

MEMBERS=${MEMBERS:-1000000}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
QUIET_WAIT=${QUIET_WAIT:-0}
MODULE=${MODULE:-$ROOT/build/ngx_http_member_module.so}
TOKEN=bench-admin-token

. "$HERE/lib.sh"

for tool in nginx redis-server redis-cli wrk curl jq taskset python3 awk ss; do
  command -v "$tool" >/dev/null || die "missing $tool: run make deps-bench"
done
[[ -f $MODULE ]] || die "missing $MODULE: run make"

OUT=$HERE/out/campaigns-$(date +%Y%m%d-%H%M%S)
RUN=$OUT
mkdir -p "$RUN/tmp" "$RUN/redis"
STARTED=()
HZ=$(getconf CLK_TCK)
cleanup() { stop_pid ${STARTED[@]+"${STARTED[@]}"}; }
trap cleanup EXIT
trap 'exit 130' INT TERM

cp "$MODULE" "$RUN/ngx_http_member_module.so"

read -r REDIS_PORT PORT < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
for s in ss: s.close()')

rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
admin() {  # admin METHOD PATH [BODY]
  curl -s -X "$1" -H "Authorization: Bearer $TOKEN" ${3:+--data "$3"} \
    "http://127.0.0.1:$PORT/admin/$2"
}

# ---------------------------------------------------------------- Redis, seeded
start_bg redis "$SERVER_CPU" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
  --appendonly no --dir "$RUN/redis" --daemonize no --protected-mode yes
REDIS_PID=$LAST_PID
wait_port "$REDIS_PORT" "$REDIS_PID" || die "redis-server did not start"

MONTH=$(TZ=Asia/Shanghai date +%m)
t0=$(date +%s%N)
python3 "$HERE/seed.py" --members "$MEMBERS" --tokens "$RUN/tokens.txt" | rcli --pipe >"$RUN/seed.log"
# every member born this month, activated long ago, and member:seq for the pass
LC_ALL=C awk -v n="$MEMBERS" -v mm="$MONTH" 'BEGIN {
  for (i = 1; i <= n; i++) {
    k = "{m:" i "}"; d = sprintf("%s%02d", mm, i % 28 + 1)
    printf "*6\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n$8\r\nbirth_md\r\n$4\r\n%s\r\n$12\r\nactivated_at\r\n$10\r\n1700000000\r\n", length(k), k, d
  }
  s = n + 1
  printf "*3\r\n$3\r\nSET\r\n$10\r\nmember:seq\r\n$%d\r\n%s\r\n", length(s ""), s
  printf "*4\r\n$4\r\nHSET\r\n$13\r\n{b}:rfm:state\r\n$7\r\nnext_at\r\n$11\r\n99999999999\r\n"
}' | rcli --pipe >>"$RUN/seed.log"
echo "seeded $MEMBERS members ($(rcli dbsize) keys) in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# ---------------------------------------------------------------- nginx
sed -e "s|@MODULE@|$RUN/ngx_http_member_module.so|g" -e "s|@RUN@|$RUN|g" \
    -e "s|@PORT@|$PORT|g" -e "s|@REDIS_PORT@|$REDIS_PORT|g" \
    "$HERE/nginx/campaigns.conf.in" >"$RUN/nginx.conf"
start_bg nginx "$SERVER_CPU" nginx -p "$RUN/" -c "$RUN/nginx.conf" -e "$RUN/error.log"
NGINX_PID=$LAST_PID
wait_port "$PORT" "$NGINX_PID" || die "nginx did not start: $(tail -3 "$RUN/error.log")"

card=$(curl -s -H "Authorization: Bearer $(awk '$1 == 1 { print $2 }' "$RUN/tokens.txt")" \
       "http://127.0.0.1:$PORT/api/card")
[[ $(jq -r .member_id <<<"$card") == 1 ]] || die "the card of member 1: $card"

URL=http://127.0.0.1:$PORT
export BENCH_MEMBERS=$MEMBERS BENCH_TOKENS=$RUN/tokens.txt

measure() {  # measure TAG : wrk for DURATION s; prints "req/s p50 p99 max"
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
    -s "$HERE/wrk/card.lua" "$URL" >"$RUN/$1.wrk.txt" 2>&1
  awk '/Requests\/sec/ { r = $2 } /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
       /Latency/ && NF >= 5 && !max { max = $4 } END { print r, p50, p99, max }' "$RUN/$1.wrk.txt"
}

quiet
taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$HERE/wrk/card.lua" "$URL" \
  >"$RUN/warmup.txt" 2>&1 || true
read -r idle_rps idle_p50 idle_p99 idle_max < <(measure idle)

# ---------------------------------------------------------------- the pass, under the same load
admin PUT rules '{"triggers":{"birthday":{"points":1,"when":"month"}}}' >"$RUN/rules.json"
quiet
pass_t0=$(date +%s%N)
admin POST campaigns/run >"$RUN/run.json"
read -r pass_rps pass_p50 pass_p99 pass_max < <(measure pass)
done_under_load=$(admin GET campaigns | jq -r '.cursor // 0')

while [[ $(admin GET campaigns | jq -r .running) != false ]]; do sleep 1; done
pass_ms=$(( ($(date +%s%N) - pass_t0) / 1000000 ))
given=$(rcli eval "local n = 0 for i = 1, tonumber(ARGV[1]) do
  if redis.call('HGET', '{m:' .. i .. '}', 'birthday_year') then n = n + 1 end end
  return n" 0 "$MEMBERS")
errors=$(grep -c '\[error\]\|\[alert\]\|\[crit\]' "$RUN/error.log" || true)

{
  echo "campaigns benchmark: $MEMBERS members, wrk -t1 -c$CONNS -d${DURATION}s GET /api/card;"
  echo "nginx (1 worker) and Redis on cpu $SERVER_CPU, wrk on cpu $CLIENT_CPU; $(date -u +%FT%TZ)"
  printf '%-28s %10s %9s %9s %9s\n' "" "req/s" "p50" "p99" "max"
  printf '%-28s %10s %9s %9s %9s\n' "card, no campaign" "$idle_rps" "$idle_p50" "$idle_p99" "$idle_max"
  printf '%-28s %10s %9s %9s %9s\n' "card, during the pass" "$pass_rps" "$pass_p50" "$pass_p99" "$pass_max"
  echo "pass: $MEMBERS members in $((pass_ms / 1000)).$(( (pass_ms % 1000) / 100 )) s" \
       "($(( MEMBERS * 1000 / (pass_ms > 0 ? pass_ms : 1) )) members/s);" \
       "cursor after the ${DURATION}s under load: $done_under_load;" \
       "birthday gifts given: $given; error log lines: $errors"
} | tee "$OUT/summary.txt"
[[ $given == "$MEMBERS" ]] || die "the pass gave $given gifts, wanted $MEMBERS"
}
