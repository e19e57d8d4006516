#!/usr/bin/env bash
# Installs what `make dev` and `make test` need that a fresh machine lacks: the Python tools (moto,
# cargo-lambda, cfn-lint, SAM CLI) into .dev/venv, and the Rust components. Safe to run twice:
# it does nothing when dev/requirements.txt has not changed since the last install.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

stamp="$VENV/.requirements.sha256"
want=$(sha256sum "$ROOT/dev/requirements.txt" | cut -d' ' -f1)
if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "tools up to date in .dev/venv"
else
  step "installing Python tools into .dev/venv (moto, cargo-lambda, cfn-lint, SAM CLI)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/dev/requirements.txt"
  echo "$want" > "$stamp"
fi

if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi
