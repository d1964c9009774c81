#!/usr/bin/env bash
# demo.sh start|stop|status : the demo of `make run`.
#
# start: a private redis-server (append-only file on, data in var/demo/redis,
# reached through a unix socket), the local stand-in for WeChat's API, and
# nginx with conf/demo.conf on 127.0.0.1:8080; then seeds demo members
# through the admin API and prints what to try.  Starting twice starts
# nothing twice and seeds nothing twice.
# stop: stops what start started, by the pid files under var/demo.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR=$ROOT/var/demo
PORT=8080
ADMIN_TOKEN=demo-admin-token-change-me
BASE=http://127.0.0.1:$PORT

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {  # wait_for SECONDS CMD... : until CMD succeeds
    local n=$(($1 * 10))
    shift
    for ((i = 0; i < n; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

start_redis() {
    if alive "$VAR/redis.pid"; then
        return
    fi
    mkdir -p "$VAR/redis"
    # the nginx workers run as nobody: the socket must be theirs to use
    redis-server --daemonize yes --port 0 --unixsocket "$VAR/redis.sock" \
        --unixsocketperm 777 --dir "$VAR/redis" --appendonly yes \
        --appendfsync always --pidfile "$VAR/redis.pid" \
        --logfile "$VAR/redis.log" --save ''
    wait_for 10 redis-cli -s "$VAR/redis.sock" ping
}

start_wechat() {
    if alive "$VAR/wechat.pid"; then
        return
    fi
    local port
    port=$(free_port)
    echo "$port" >"$VAR/wechat.port"
    nohup python3 "$ROOT/tests/fake_wechat.py" --port "$port" \
        >"$VAR/wechat.log" 2>&1 &
    echo $! >"$VAR/wechat.pid"
    wait_for 10 curl -sf "http://127.0.0.1:$port/_fake/calls"
}

start_nginx() {
    if alive "$VAR/nginx.pid"; then
        return
    fi
    if ss -Hltn "sport = :$PORT" | grep -q .; then
        echo "demo: 127.0.0.1:$PORT is taken by another program" >&2
        exit 1
    fi
    mkdir -p "$VAR/tmp"
    if [[ ! -s $VAR/pii.key ]]; then
        (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$VAR/pii.key")
    fi
    if [[ ! -s $VAR/code.secret ]]; then
        (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$VAR/code.secret")
    fi
    sed -e "s|@ROOT@|$ROOT|g" -e "s|@VAR@|$VAR|g" \
        -e "s|@PII_KEY@|$(cat "$VAR/pii.key")|g" \
        -e "s|@CODE_SECRET@|$(cat "$VAR/code.secret")|g" \
        -e "s|@REDIS@|$VAR/redis.sock|g" \
        -e "s|@WECHAT@|127.0.0.1:$(cat "$VAR/wechat.port")|g" \
        "$ROOT/conf/demo.conf" >"$VAR/nginx.conf"
    nginx -q -t -p "$VAR" -c "$VAR/nginx.conf" -e "$VAR/error.log"
    nginx -p "$VAR" -c "$VAR/nginx.conf" -e "$VAR/error.log"
    wait_for 10 curl -sf "$BASE/status"
}

admin() {  # admin METHOD PATH [JSON]
    curl -s -X "$1" -H "Authorization: Bearer $ADMIN_TOKEN" \
        ${3:+-H 'Content-Type: application/json' -d "$3"} "$BASE/admin/$2"
}

seed() {
    # the openids are the ones the WeChat stand-in gives for codes ok-<name>
    local name level id
    for name in alice bob carol; do
        case $name in
            alice) level=gold ;; bob) level=silver ;; *) level=normal ;;
        esac
        openid=$(python3 -c "import sys; print(('o' + sys.argv[1] + '_' * 28)[:28])" "$name")
        admin POST members "{\"openid\":\"$openid\",\"level\":\"$level\"}" >/dev/null
        id=$(admin GET "members?openid=$openid" | jq -r .member_id)
        # idempotency keys: a second run replays, it does not recharge again
        admin POST "members/$id/recharge" \
            "{\"amount_fen\":50000,\"idempotency_key\":\"demo-seed-$name\"}" >/dev/null
    done
    # a store's secret is shown once: keep it for the scanner examples
    local store
    store=$(admin POST stores '{"store_id":"S001","name":"旗舰店 Flagship"}')
    if [[ $(jq -r '.secret // empty' <<<"$store") ]]; then
        (umask 077; jq -r .secret <<<"$store" >"$VAR/store-S001.secret")
    fi
}

start() {
    mkdir -p "$VAR"
    chmod 755 "$ROOT/var" "$VAR"
    start_redis
    start_wechat
    start_nginx
    seed
    local alice
    alice=$(admin GET "members?openid=oalice______________________" | jq -r .member_id)
    cat <<EOF

ngx_member demo on $BASE (data in var/demo, stop with: make stop)

Open in a browser:
  the card page     $BASE/card/      (a demo login: a new visitor each time;
                                      register, show the code, scan it below)
  the admin console $BASE/console/   (admin token: $ADMIN_TOKEN)

Members alice, bob and carol are seeded (each recharged ¥500 with the ¥50 bonus),
and store S001, whose secret (shown once) is kept in var/demo/store-S001.secret.
WeChat is a local stand-in here: a mini-program login code "ok-<name>" logs in
as <name>; every code works once, as WeChat's do.

  # log in as alice from the mini-program, then read her card
  TOKEN=\$(curl -s -d '{"code":"ok-alice-'\$RANDOM'"}' $BASE/login | jq -r .token)
  curl -s -H "Authorization: Bearer \$TOKEN" $BASE/api/card
  curl -s -H "Authorization: Bearer \$TOKEN" $BASE/api/transactions

  # her dynamic code (also as GET /api/code.png), read at store S001's till;
  # the card page's code works the same: tap 显示数字 (show digits) under it
  CODE=\$(curl -s -X POST -H "Authorization: Bearer \$TOKEN" $BASE/api/code | jq -r .code)
  TICKET=\$(tools/till.sh verify "{\\"code\\":\\"\$CODE\\"}" | jq -r .ticket)
  tools/till.sh pay "{\\"ticket\\":\\"\$TICKET\\",\\"amount_fen\\":1000,\\"order_id\\":\\"o-\$RANDOM\\"}"

  # the brand's admin API
  curl -s -H 'Authorization: Bearer $ADMIN_TOKEN' $BASE/admin/members/$alice
  curl -s -H 'Authorization: Bearer $ADMIN_TOKEN' -d '{"amount_fen":100000,"idempotency_key":"try-1"}' $BASE/admin/members/$alice/recharge
  curl -s -H 'Authorization: Bearer $ADMIN_TOKEN' $BASE/admin/members/$alice/transactions
  curl -s -H 'Authorization: Bearer $ADMIN_TOKEN' $BASE/admin/stores

  # the official account's server URL, as WeChat verifies it
  TS=\$(date +%s) N=\$RANDOM
  SIG=\$(printf '%s\n' demoOaToken \$TS \$N | LC_ALL=C sort | tr -d '\n' | sha1sum | cut -c1-40)
  curl -s "$BASE/oa?signature=\$SIG&timestamp=\$TS&nonce=\$N&echostr=hello"

  # metrics
  curl -s $BASE/status

EOF
}

stop_pid() {  # stop_pid PIDFILE SIGNAL
    local f=$1
    if alive "$f"; then
        kill "-$2" "$(cat "$f")" 2>/dev/null || true
        wait_for 10 bash -c "! kill -0 $(cat "$f") 2>/dev/null" || true
    fi
    rm -f "$f"
}

stop() {
    stop_pid "$VAR/nginx.pid" QUIT
    stop_pid "$VAR/wechat.pid" TERM
    stop_pid "$VAR/redis.pid" TERM
    echo "demo stopped"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
