#!/usr/bin/env bash
# till.sh CALL JSON [STORE] : a store's till, for trying the scanner API.
# Signs POST /scan/CALL with the store's secret (the demo keeps S001's in
# var/demo/store-S001.secret) as the contract says, and prints the answer.
#   tools/till.sh verify '{"code":"<18 digits>"}'
#   tools/till.sh pay '{"ticket":"<ticket>","amount_fen":1000,"order_id":"o-1"}'
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
call=$1 body=$2 store=${3:-S001}
secret=$(cat "${SECRET_FILE:-$ROOT/var/demo/store-$store.secret}")
base=${BASE:-http://127.0.0.1:8080}
path=/scan/$call
ts=$(date +%s)
nonce=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
body_hash=$(printf '%s' "$body" | openssl dgst -sha256 -r | cut -d' ' -f1)
sig=$(printf 'POST\n%s\n%s\n%s\n%s' "$path" "$ts" "$nonce" "$body_hash" |
      openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
curl -s -X POST -H 'Content-Type: application/json' \
    -H "X-Member-Store: $store" -H "X-Member-Timestamp: $ts" \
    -H "X-Member-Nonce: $nonce" -H "X-Member-Signature: $sig" \
    --data-binary "$body" "$base$path"
echo
