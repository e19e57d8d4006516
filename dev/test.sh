#!/usr/bin/env bash
# `make test`: every check and every test, on a fresh machine or a warm one.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

bash dev/setup.sh

step "format"
cargo fmt --all --check
cargo fmt --manifest-path fuzz/Cargo.toml --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "dependencies (cargo deny: licenses, bans, sources; deny.toml)"
# Offline. Advisories need the RustSec database from GitHub: `cargo deny check advisories` where reachable.
cargo deny --log-level error check licenses bans sources

step "API types (functions/link-token/openapi.d.ts from openapi.json) and the demo page's type check"
(cd dev/demo && npm run --silent check)

step "the demo shop's merchant backend (dev/demo/merchant.py, against a stand-in checkout API)"
python3 -m unittest -v dev/demo/test_merchant.py

step "template (cfn-lint, serverless rules, sam validate, template assertions)"
# Zero findings, no rule silenced globally (a per-resource exception in template.yaml says why).
cfn-lint template.yaml
cfn-lint template.yaml -a cfn_lint_serverless.rules   # the template path before -a
sam validate --lint --template template.yaml
# Without --lint: runs the SAM transform itself (offline), which catches what the linter does not
# (e.g. a property SAM only accepts as a literal list).
sam validate --template template.yaml
# Least privilege per function, authorizer on every route, failure capture, the table = local bootstrap.
"$VENV/bin/python" -m unittest -v dev/test_template.py

step "moto (DynamoDB, Secrets Manager) on loopback"
port=$(free_port)
python3 dev/moto_serial.py -H 127.0.0.1 -p "$port" > "$ROOT/.dev/moto-test.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
wait_port "$port" 30 moto_server
export MOTO_ENDPOINT="http://127.0.0.1:$port"

step "tests"
cargo test --workspace --locked

step "fuzz smoke (each cargo-fuzz target for 20 s; make fuzz runs them longer)"
# Builds in fuzz/target (cold: minutes, once; then seconds) so the targets cannot rot.
FUZZ_SECONDS="${FUZZ_SMOKE_SECONDS:-20}" bash dev/fuzz.sh

step "browser test (the demo shop, headless chromium), then the README's commands on the same stack"
bash dev/demo/browser-test.sh

step "sam build (cargo lambda, arm64, the four functions)"
# Offline once the aarch64 standard library is installed (cargo-lambda would otherwise download it).
rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
# One release build of the dependency tree in target/, shared by the three functions: ~9 min from
# clean on 2 cores, seconds when nothing changed. Artifacts in .aws-sam/build (not in git).
nice -n 10 sam build --template template.yaml
