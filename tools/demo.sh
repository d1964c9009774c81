#!/usr/bin/env bash
# demo.sh start|stop|status : the demo of `make run`.
#
# start: a private redis-server (append-only file on, data in var/demo/redis,
# reached through a unix socket), the local stand-in for WeChat's API, and
# nginx with conf/demo.conf on 127.0.0.1:8080; then seeds demo members
# through the admin API and prints what to try.  Starting twice starts
# nothing twice and seeds nothing twice.  A step that fails stops it with a
# message and a non-zero exit status.
# stop: stops what start started, by the pid files under var/demo.
#
# DEMO_PORT (8080) and DEMO_VAR (var/demo of this checkout) move it, so a
# second demo (tests/integration/test_demo.py) runs beside the first.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR=${DEMO_VAR:-$ROOT/var/demo}
PORT=${DEMO_PORT:-8080}
ADMIN_TOKEN=demo-admin-token-change-me
BASE=http://127.0.0.1:$PORT

fail() {
    echo "demo: $*" >&2
    echo "demo: stopped; what it started runs on (make stop ends it)," \
         "logs in $VAR" >&2
    exit 1
}

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
    # the nginx workers run as this user (demo.conf's user): only it needs
    # the socket
    redis-server --daemonize yes --port 0 --unixsocket "$VAR/redis.sock" \
        --unixsocketperm 700 --dir "$VAR/redis" --appendonly yes \
        --appendfsync always --pidfile "$VAR/redis.pid" \
        --logfile "$VAR/redis.log" --save '' \
        || fail "redis-server did not start (see $VAR/redis.log)"
    wait_for 10 redis-cli -s "$VAR/redis.sock" ping \
        || fail "Redis does not answer on $VAR/redis.sock" \
                "(see $VAR/redis.log)"
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
    wait_for 10 curl -sf "http://127.0.0.1:$port/_fake/calls" \
        || fail "the WeChat stand-in did not start (see $VAR/wechat.log)"
}

start_nginx() {
    if alive "$VAR/nginx.pid"; then
        return
    fi
    if ss -Hltn "sport = :$PORT" | grep -q .; then
        echo "demo: 127.0.0.1:$PORT is taken by another program" \
             "(DEMO_PORT=N picks another port)" >&2
        exit 1
    fi
    mkdir -p "$VAR/tmp"
    if [[ ! -s $VAR/pii.key ]]; then
        (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$VAR/pii.key")
    fi
    if [[ ! -s $VAR/code.secret ]]; then
        (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$VAR/code.secret")
    fi
    # The workers run as the user who starts the demo, as the master does
    # when it is not root: a checkout in a 0700 folder (a home directory,
    # mktemp -d) is then theirs to read, and the Redis socket theirs to use.
    local user=""
    if ((EUID == 0)); then
        user="user $(id -un) $(id -gn);"
    fi
    sed -e "s|@ROOT@|$ROOT|g" -e "s|@VAR@|$VAR|g" -e "s|@PORT@|$PORT|g" \
        -e "s|@USER@|$user|g" \
        -e "s|@PII_KEY@|$(cat "$VAR/pii.key")|g" \
        -e "s|@CODE_SECRET@|$(cat "$VAR/code.secret")|g" \
        -e "s|@REDIS@|$VAR/redis.sock|g" \
        -e "s|@WECHAT@|127.0.0.1:$(cat "$VAR/wechat.port")|g" \
        "$ROOT/conf/demo.conf" >"$VAR/nginx.conf"
    nginx -q -t -p "$VAR" -c "$VAR/nginx.conf" -e "$VAR/error.log" \
        || fail "nginx refused $VAR/nginx.conf"
    nginx -p "$VAR" -c "$VAR/nginx.conf" -e "$VAR/error.log" \
        || fail "nginx did not start (see $VAR/error.log)"
    wait_for 10 curl -sf "$BASE/status" \
        || fail "nginx does not answer on $BASE (see $VAR/error.log)"
}

# admin METHOD PATH [JSON] : calls the admin API; STATUS and REPLY hold the
# answer's status and body
admin() {
    local out
    out=$(curl -sS -X "$1" -H "Authorization: Bearer $ADMIN_TOKEN" \
              ${3:+-H 'Content-Type: application/json' -d "$3"} \
              -w '\n%{http_code}' "$BASE/admin/$2" 2>&1) \
        || fail "$1 /admin/$2 did not reach nginx: $out"
    STATUS=${out##*$'\n'}
    REPLY=${out%$'\n'*}
}

# expect WHAT STATUS... : stops the demo unless the last answer's status is
# one of these
expect() {
    local what=$1 s
    shift
    for s in "$@"; do
        if [[ $STATUS == "$s" ]]; then
            return 0
        fi
    done
    fail "seeding failed: $what answered $STATUS ${REPLY:0:300}" \
         "(see $VAR/error.log and $VAR/redis.log)"
}

# field NAME PATTERN : the last answer's field NAME, which must match the
# extended regular expression PATTERN
field() {
    local v
    v=$(jq -er --arg f "$1" '.[$f] | strings' <<<"$REPLY" 2>/dev/null) \
        || fail "seeding failed: no \"$1\" in the answer ${REPLY:0:300}"
    [[ $v =~ ^($2)$ ]] \
        || fail "seeding failed: \"$1\" is \"${v:0:64}\", not what it should be"
    printf '%s\n' "$v"
}

# member_id NAME : the demo member's id, found by its openid (in a body:
# an openid never travels in a URL)
member_id() {
    admin POST members/lookup "{\"openid\":\"$(openid "$1")\"}"
    expect "looking $1 up" 200
    field member_id '[0-9]+'
}

# the openids are the ones the WeChat stand-in gives for codes ok-<name>
openid() {
    local o=o$1____________________________
    printf '%s\n' "${o:0:28}"
}

seed() {
    local name level id
    for name in alice bob carol; do
        case $name in
            alice) level=gold ;; bob) level=silver ;; *) level=normal ;;
        esac
        admin POST members \
            "{\"openid\":\"$(openid $name)\",\"level\":\"$level\"}"
        # 409: seeded by an earlier start
        expect "creating member $name" 201 409
        id=$(member_id $name)
        # idempotency keys: a second run replays, it does not recharge again
        admin POST "members/$id/recharge" \
            "{\"amount_fen\":50000,\"idempotency_key\":\"demo-seed-$name\"}"
        expect "recharging $name" 200
        jq -e '.balance_fen | numbers' >/dev/null 2>&1 <<<"$REPLY" \
            || fail "seeding failed: recharging $name answered ${REPLY:0:300}"
    done
    # a store's secret is shown once: keep it for the scanner examples
    admin POST stores '{"store_id":"S001","name":"旗舰店 Flagship"}'
    expect "creating store S001" 201 409
    if [[ $STATUS == 201 ]]; then
        local secret
        secret=$(field secret '[0-9A-Za-z_.~+/=-]{16,}')
        (umask 077; printf '%s\n' "$secret" >"$VAR/store-S001.secret")
    fi
    [[ -s $VAR/store-S001.secret ]] \
        || fail "seeding failed: store S001 exists but its secret" \
                "($VAR/store-S001.secret) is lost"
    admin GET stores
    expect "listing the stores" 200
}

start() {
    (umask 077; mkdir -p "$VAR")
    start_redis
    start_wechat
    start_nginx
    local page
    for page in card console; do
        curl -sf -o /dev/null "$BASE/$page/" \
            || fail "$BASE/$page/ is not served (make pages builds it;" \
                    "see $VAR/error.log)"
    done
    seed
    local alice till=tools/till.sh stop="make stop"
    alice=$(member_id alice)
    if [[ $PORT != 8080 || $VAR != "$ROOT/var/demo" ]]; then
        till="BASE=$BASE SECRET_FILE=$VAR/store-S001.secret $ROOT/tools/till.sh"
        stop="DEMO_VAR=$VAR $ROOT/tools/demo.sh stop"
    fi
    cat <<EOF

ngx_member demo on $BASE (data in $VAR, stop with: $stop)

Open in a browser:
  the card page     $BASE/card/      (a demo login: a new visitor each time;
                                      register, show the code, scan it below)
  the admin console $BASE/console/   (admin token: $ADMIN_TOKEN)

Members alice, bob and carol are seeded (each recharged ¥500 with the ¥50 bonus),
and store S001, whose secret (shown once) is kept in $VAR/store-S001.secret.
WeChat is a local stand-in here: a mini-program login code "ok-<name>" logs in
as <name>; every code works once, as WeChat's do.

  # log in as alice from the mini-program, then read her card
  TOKEN=\$(curl -s -d '{"code":"ok-alice-'\$RANDOM'"}' $BASE/login | jq -r .token)
  curl -s -H "Authorization: Bearer \$TOKEN" $BASE/api/card
  curl -s -H "Authorization: Bearer \$TOKEN" $BASE/api/transactions

  # her dynamic code (also as GET /api/code.png), read at store S001's till;
  # the card page's code works the same: tap 显示数字 (show digits) under it
  CODE=\$(curl -s -X POST -H "Authorization: Bearer \$TOKEN" $BASE/api/code | jq -r .code)
  TICKET=\$($till verify "{\\"code\\":\\"\$CODE\\"}" | jq -r .ticket)
  $till pay "{\\"ticket\\":\\"\$TICKET\\",\\"amount_fen\\":1000,\\"order_id\\":\\"o-\$RANDOM\\"}"

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
