#!/usr/bin/env bash
# Shared by bench/run.sh and bench/codes.sh: the processes a run starts, and
# what it measures of them.  Sourced; the caller sets RUN, STARTED, HZ,
# REDIS_PORT and QUIET_WAIT before it calls these.

die() { echo "bench: $*" >&2; exit 1; }

# start_bg NAME CPUS CMD... : starts CMD pinned to CPUS (a taskset list) in the background.
start_bg() {
  local name=$1 cpus=$2
  shift 2
  taskset -c "$cpus" "$@" >>"$RUN/$name.log" 2>&1 &
  LAST_PID=$!
  STARTED+=("$LAST_PID")
}

# stop_pid PID... : TERM, wait up to 5 s, then KILL; forgets them.
stop_pid() {
  local pid
  for pid in "$@"; do
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
  done
  local keep=() p
  for p in ${STARTED[@]+"${STARTED[@]}"}; do [[ " $* " == *" $p "* ]] || keep+=("$p"); done
  STARTED=(${keep[@]+"${keep[@]}"})
}

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

wait_port() {  # wait_port PORT PID : until something listens, at most 10 s, while PID lives
  for _ in $(seq 100); do
    port_free "$1" || return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "nothing listening on 127.0.0.1:$1" >&2
  return 1
}

children_of() { { ps -o pid= --ppid "$1" || true; } | tr -d ' ' | tr '\n' ' '; }

ticks() {  # CPU ticks (user+system, all threads) of the given pids
  local t=0 p
  for p in "$@"; do
    [[ -r /proc/$p/stat ]] || continue
    t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$t"
}

pct() { awk -v t="$1" -v hz="$HZ" -v s="$2" 'BEGIN { printf "%.0f%%", 100 * t / hz / s }'; }

corecpu() {  # busy and total jiffies of one cpu from /proc/stat
  awk -v c="cpu$1" '$1 == c { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6 }' /proc/stat
}

to_ms() {  # latency as wrk prints it (812.00us, 1.10ms, 1.02s) -> milliseconds
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
    else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.0f", v * 60000 }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.0f", v * 1000 }
    else printf "?" }'
}

busy_pct() {  # % of all CPUs busy over the next half second
  local a b c d
  read -r a b < <(awk '$1 == "cpu" { x = $2 + $3 + $4 + $7 + $8 + $9; print x, x + $5 + $6 }' /proc/stat)
  sleep 0.5
  read -r c d < <(awk '$1 == "cpu" { x = $2 + $3 + $4 + $7 + $8 + $9; print x, x + $5 + $6 }' /proc/stat)
  echo $(((c - a) * 100 / (d - b > 0 ? d - b : 1)))
}

quiet() {  # with QUIET_WAIT > 0, wait up to that long for the machine to be idle (< 10% busy)
  ((QUIET_WAIT > 0)) || return 0
  local end=$((SECONDS + QUIET_WAIT)) b
  while :; do
    b=$(busy_pct)
    ((b < 10)) && return 0
    ((SECONDS < end)) || { echo "  machine still ${b}% busy after ${QUIET_WAIT}s: measuring anyway"; return 0; }
  done
}

# ---------------------------------------------------------------- report
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.2f", a / b; else printf "-" }'; }

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
