#!/usr/bin/env bash
# `make dev`: the whole system on this machine. moto (DynamoDB + Secrets Manager), the Mesh sandbox
# and the four functions under `cargo lambda watch` (with the change stream feeding notify), wired together, and the demo checkout page, all
# on 127.0.0.1 (dev/stack.sh).
# Ctrl-C stops everything it started. `make dev LOGS=1` also follows the logs here (dev/logs.py).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

source dev/stack.sh

stopped=""
stop() {
  [[ -n $stopped ]] && return
  stopped=yes
  step "stopping"
  stack_stop
}
trap stop EXIT
# Ctrl-C is how make dev is meant to end: stop everything and exit 0, so make reports no error. A second
# signal (make passes its own on) must not cut the stopping short.
trap 'trap "" INT TERM; stop; exit 0' INT TERM
stack_check_ports

bash dev/setup.sh

step "building the workspace (the first build takes a few minutes)"
cargo build --workspace --bins

stack_start

cat <<BANNER

  Running. Everything listens on 127.0.0.1 only.

  demo shop        http://127.0.0.1:$DEMO_PORT/   (its server, dev/demo/merchant.py, prices the items and creates the
                   checkouts; the page pays them with the real Mesh Web Link SDK, opening the sandbox's Link page)
  API reference    http://127.0.0.1:$DEMO_PORT/api/   (functions/link-token/openapi.json)
  scripted tour    make demo                       (a paid order, an underpaid one, a dropped webhook repaired by reconcile)

  link-token API   http://127.0.0.1:$LAMBDA_PORT/lambda-url/link-token/checkouts     (the merchant: header x-local-merchant: <name>)
                   http://127.0.0.1:$LAMBDA_PORT/lambda-url/link-token/link-tokens   (the shopper: header x-local-user: <id>)
  webhook URL      http://127.0.0.1:$LAMBDA_PORT/lambda-url/webhook/                 (the sandbox delivers here)
  reconcile        cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port $LAMBDA_PORT reconcile --data-file events/local/reconcile-schedule.json
                   (cargo-lambda is in .dev/venv/bin: export PATH="\$PWD/.dev/venv/bin:\$PATH")
  events           python3 dev/events.py            (settlement events the merchant's rules received; README "Settlement events")
  Mesh sandbox     http://127.0.0.1:$SANDBOX_PORT   (control API under /sandbox, see dev/mesh-sandbox/README.md)
  moto             http://127.0.0.1:$MOTO_PORT      (table '$STACK_TABLE', secret '$STACK_SECRET')

  Logs             ${STACK_LOGS#"$ROOT"/}/   (functions.log, mesh-sandbox.log, stream-poller.log, demo-page.log, moto.log)
                   make logs   follows them, coloured, in another terminal

  Try:  curl -s -XPOST -H 'x-local-merchant: demo-shop' -d '{"orderId": "order-1", "amountInFiat": "25.00", "userId": "alice"}' \\
          http://127.0.0.1:$LAMBDA_PORT/lambda-url/link-token/checkouts
        then, with the checkoutId it answers:
        curl -s -XPOST -H 'x-local-user: alice' -d '{"checkoutId": "chk_..."}' \\
          http://127.0.0.1:$LAMBDA_PORT/lambda-url/link-token/link-tokens

  Ctrl-C stops everything.
BANNER
if [[ ${LOGS:-} == 1 ]]; then
  python3 dev/logs.py --dir "$STACK_LOGS" &
fi
wait
