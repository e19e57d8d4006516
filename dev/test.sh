#!/usr/bin/env bash
# `make test`: every check and every test, on a fresh machine or a warm one.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

bash dev/setup.sh

step "format"
cargo fmt --all --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "template (cfn-lint, sam validate --lint)"
cfn-lint template.yaml
cfn-lint template.yaml -a cfn_lint_serverless.rules
sam validate --lint --template template.yaml

step "moto (DynamoDB, Secrets Manager) on loopback"
port=$(free_port)
python3 dev/moto_serial.py -H 127.0.0.1 -p "$port" > "$ROOT/.dev/moto-test.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
wait_port "$port" 30 moto_server
export MOTO_ENDPOINT="http://127.0.0.1:$port"

step "tests"
cargo test --workspace --locked

step "browser test (demo checkout page, headless chromium)"
bash dev/demo/browser-test.sh
