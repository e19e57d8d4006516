#!/usr/bin/env bash
# The browser test of the demo shop (a step of `make test`, after the cargo tests): starts the
# same stack as `make dev` (dev/stack.sh) on free ports, clicks through the page in headless Debian
# chromium with playwright-core, runs the README's commands against it (dev/readme-commands-test.py), and
# always stops everything it started.
#   SCREENSHOT=docs/checkout.png bash dev/demo/browser-test.sh   also saves the finished page
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
cd "$ROOT"

if ! command -v chromium >/dev/null 2>&1; then
  step "installing Debian's chromium (the browser test drives it; no browser download)"
  sudo=""; ((EUID == 0)) || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium > /dev/null
fi

# The functions are built by the cargo test step before this one; this is a no-op check then.
nice -n 10 cargo build --workspace --bins --quiet

MOTO_PORT=$(free_port) SANDBOX_PORT=$(free_port) LAMBDA_PORT=$(free_port) DEMO_PORT=$(free_port)
STACK_LOGS="$ROOT/.dev/logs/browser-test"
source dev/stack.sh
started=""
on_exit() {
  exec 1>&3 2>&4
  [[ -n $started ]] || { echo "the stack did not start:" >&2; cat "$STACK_LOGS.start.log" >&2; }
  stack_stop
}
mkdir -p "$STACK_LOGS"
exec 3>&1 4>&2
trap on_exit EXIT
trap 'exit 130' INT TERM

# Quiet unless it fails (then on_exit shows the log); set -e stays in force inside stack_start.
exec > "$STACK_LOGS.start.log" 2>&1
stack_start
started=yes
exec 1>&3 2>&4
echo "stack up (logs in .dev/logs/browser-test/); page on http://127.0.0.1:$DEMO_PORT/"

if [[ -n ${SCREENSHOT:-} ]]; then SCREENSHOT=$(realpath -m "$SCREENSHOT"); export SCREENSHOT; fi
DEMO_URL="http://127.0.0.1:$DEMO_PORT/" node dev/demo/checkout.test.mjs

# The README's shell blocks, pasted as a newcomer would into a second terminal, against this stack.
LAMBDA_PORT=$LAMBDA_PORT SANDBOX_PORT=$SANDBOX_PORT MOTO_PORT=$MOTO_PORT DEMO_PORT=$DEMO_PORT \
  python3 dev/readme-commands-test.py

# Settlement events end to end: a checkout paid through the sandbox and repaired by reconcile, its webhook
# delivered 20 times, is exactly one checkout.paid on the bus's paid-events rule queue.
LAMBDA_PORT=$LAMBDA_PORT SANDBOX_PORT=$SANDBOX_PORT MOTO_PORT=$MOTO_PORT python3 dev/test_settlement_events.py
