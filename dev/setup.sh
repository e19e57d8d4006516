#!/usr/bin/env bash
# Installs what `make dev` and `make test` need that a fresh machine lacks: the Python tools (moto,
# cargo-lambda, cfn-lint, SAM CLI) into .dev/venv, the Rust components, cargo-deny, cargo-fuzz and the
# demo page's npm packages (dev/demo). Safe to run twice:
# it does nothing when dev/requirements.txt has not changed since the last install.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

stamp="$VENV/.requirements.sha256"
want=$(sha256sum "$ROOT/dev/requirements.txt" | cut -d' ' -f1)
if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "tools up to date in .dev/venv"
else
  step "installing Python tools into .dev/venv (moto, cargo-lambda, cfn-lint, SAM CLI): about a minute the first time"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  # Not quiet: pip's lines and progress bars show the download is moving.
  "$VENV/bin/pip" install --disable-pip-version-check --progress-bar on -r "$ROOT/dev/requirements.txt"
  echo "$want" > "$stamp"
fi

if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi

# cargo-deny checks the dependency graph's licenses, bans and sources in `make test` (deny.toml). Built from
# crates.io once (a few minutes), then found in ~/.cargo/bin.
if ! cargo deny --version >/dev/null 2>&1; then
  step "installing cargo-deny (cargo install --locked: a few minutes, once)"
  cargo install --locked cargo-deny@0.20.2
fi

# cargo-fuzz runs the fuzz targets in fuzz/ (`make fuzz`, and their smoke in `make test`). Built from
# crates.io once (about two minutes); it compiles the targets with the system C++ compiler's libFuzzer.
if ! cargo fuzz --version >/dev/null 2>&1; then
  step "installing cargo-fuzz (cargo install --locked: a few minutes, once)"
  cargo install --locked cargo-fuzz@0.13.2
fi

# The demo checkout page (dev/demo): the real Mesh Web Link SDK and playwright-core from the committed
# package-lock.json, then the SDK bundled into one browser file (dev/demo/vendor/web-link-sdk.js). Nothing
# is fetched when the page runs. Skipped when the lock file has not changed since the last install.
demo="$ROOT/dev/demo"
stamp="$demo/node_modules/.package-lock.sha256"
want=$(cat "$demo/package-lock.json" "$demo/sdk-entry.mjs" "$demo/build-vendor.mjs" | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$demo/vendor/web-link-sdk.js" \
  && -f "$demo/vendor/swagger-ui/swagger-ui-bundle.js" ]]; then
  echo "demo page dependencies up to date in dev/demo/node_modules"
else
  command -v npm >/dev/null 2>&1 || { echo "npm (Node.js 20+) is needed for the demo page: see README \"Prerequisites\"" >&2; exit 1; }
  step "installing the demo page's npm packages (dev/demo: @meshconnect/web-link-sdk, swagger-ui-dist, openapi-typescript, typescript, playwright-core)"
  # SCARF_ANALYTICS=false: swagger-ui-dist's dependency @scarf/scarf would report the install otherwise.
  (cd "$demo" && SCARF_ANALYTICS=false npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
  echo "$want" > "$stamp"
fi
