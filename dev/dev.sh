#!/usr/bin/env bash
# `make dev`: the whole system on this machine. moto (DynamoDB + Secrets Manager), the Mesh sandbox
# and the three functions under `cargo lambda watch`, wired together, all on 127.0.0.1.
# Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

MOTO_PORT=${MOTO_PORT:-5005}
SANDBOX_PORT=${SANDBOX_PORT:-8787}
LAMBDA_PORT=${LAMBDA_PORT:-9000}
TABLE=transfers
SECRET=mesh/credentials
LOGS="$ROOT/.dev/logs"
mkdir -p "$LOGS"

groups=()
cleanup() {
  trap - EXIT INT TERM
  if ((${#groups[@]})); then
    step "stopping"
    for g in "${groups[@]}"; do kill -- "-$g" 2>/dev/null || true; done
    wait 2>/dev/null || true
  fi
}
trap cleanup EXIT INT TERM

# start NAME CMD...: runs CMD in its own process group (so Ctrl-C can stop its children too).
start() {
  local name=$1; shift
  setsid "$@" > "$LOGS/$name.log" 2>&1 &
  groups+=($!)
}

for port in "$MOTO_PORT" "$SANDBOX_PORT" "$LAMBDA_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already in use (another make dev?). Set MOTO_PORT / SANDBOX_PORT / LAMBDA_PORT." >&2
    exit 1
  fi
done

bash dev/setup.sh

step "building the workspace (the first build takes a few minutes)"
cargo build --workspace --bins

step "moto on 127.0.0.1:$MOTO_PORT"
start moto moto_server -H 127.0.0.1 -p "$MOTO_PORT"
wait_port "$MOTO_PORT" 30 moto_server
python3 dev/bootstrap.py table --endpoint "http://127.0.0.1:$MOTO_PORT" --name "$TABLE"
python3 dev/bootstrap.py secret --endpoint "http://127.0.0.1:$MOTO_PORT" --name "$SECRET" \
  --client-id sandbox-client-id --client-secret sandbox-client-secret --webhook-secret sandbox-webhook-secret

step "Mesh sandbox on 127.0.0.1:$SANDBOX_PORT"
start mesh-sandbox target/debug/mesh-sandbox --port "$SANDBOX_PORT" \
  --webhook-url "http://127.0.0.1:$LAMBDA_PORT/lambda-url/webhook/" --webhook-secret sandbox-webhook-secret
wait_port "$SANDBOX_PORT" 30 mesh-sandbox

step "functions under cargo lambda watch on 127.0.0.1:$LAMBDA_PORT"
# A demo merchant: USDC on Base and Solana, ETH on Ethereum. Override with DESTINATIONS.
demo_destinations='[{"symbol":"USDC","network":"Base","address":"0x1111111111111111111111111111111111111111"},{"symbol":"USDC","network":"Solana","address":"9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"},{"symbol":"ETH","network":"Ethereum","address":"0x2222222222222222222222222222222222222222"}]'
export DESTINATIONS="${DESTINATIONS:-$demo_destinations}"
export TRANSFERS_TABLE="$TABLE" MESH_SECRET_ID="$SECRET" MESH_ENV=sandbox \
  MESH_API_BASE_URL="http://127.0.0.1:$SANDBOX_PORT" AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" \
  AWS_LAMBDA_LOG_FORMAT=Text AUTH_MODE=local
start functions cargo lambda watch -A 127.0.0.1 -P "$LAMBDA_PORT"
wait_port "$LAMBDA_PORT" 120 "cargo lambda watch"

cat <<BANNER

  Running. Everything listens on 127.0.0.1 only; logs are in .dev/logs/.

  link-token API   http://127.0.0.1:$LAMBDA_PORT/lambda-url/link-token/link-tokens   (header x-local-user: <id>)
  webhook URL      http://127.0.0.1:$LAMBDA_PORT/lambda-url/webhook/                 (the sandbox delivers here)
  reconcile        cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port $LAMBDA_PORT reconcile --data-file events/reconcile-schedule.json
  Mesh sandbox     http://127.0.0.1:$SANDBOX_PORT   (control API under /sandbox, see dev/mesh-sandbox/README.md)
  moto             http://127.0.0.1:$MOTO_PORT      (table '$TABLE', secret '$SECRET')

  Try:  curl -s -XPOST -H 'x-local-user: alice' -d '{"amountInFiat": 25}' \\
          http://127.0.0.1:$LAMBDA_PORT/lambda-url/link-token/link-tokens

  Ctrl-C stops everything.
BANNER
wait
