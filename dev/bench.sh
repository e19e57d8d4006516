#!/usr/bin/env bash
# `make bench`: release build, the webhook's own handling time, then every function run as Lambda runs
# it against a local Runtime API (dev/bench.py), beside a bare hello-world and a Node.js 20 peer.
# Writes docs/bench.md and the README's benchmark table.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

bash dev/setup.sh

# A Lambda has none of these; each makes a TLS client load another root bundle at init.
unset SSL_CERT_FILE SSL_CERT_DIR AWS_CA_BUNDLE NODE_EXTRA_CA_CERTS

step "tools: valgrind (init instruction counts), the Node.js peer's packages"
if ! command -v valgrind >/dev/null; then
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq && $sudo_ apt-get install -y -qq valgrind \
    || echo "valgrind could not be installed: the table will have no instruction counts"
fi
if command -v npm >/dev/null; then
  (cd dev/bench-node && npm ci --no-audit --no-fund --loglevel=error)
else
  echo "npm not found: the Node.js peer is skipped"
fi

step "release build (the workspace's release profile)"
cargo build --release --workspace --bins

step "webhook handling without DynamoDB (10,000 signed deliveries + 10% duplicates)"
receive=$(cargo run --release --quiet -p webhook --example webhook_receive_bench -- 10000 | tail -1)
echo "$receive"

step "cold start, latency, memory and size per function"
python3 dev/bench.py --bin-dir target/release --sandbox target/release/mesh-sandbox --receive-line "$receive"

python3 - <<'PY'
from pathlib import Path
readme, table = Path("README.md"), Path("docs/bench.md").read_text().strip()
text = readme.read_text()
start, end = "<!-- bench:start -->", "<!-- bench:end -->"
if start in text and end in text:
    head, rest = text.split(start, 1)
    readme.write_text(head + start + "\n" + table + "\n" + end + rest.split(end, 1)[1])
    print("README benchmark table updated")
PY
