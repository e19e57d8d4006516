#!/usr/bin/env bash
# `make fuzz`: every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each (default 300); `make test` runs
# the same with FUZZ_SECONDS=20 as a smoke, so the targets keep building and running.
# fuzz/ is a workspace of its own with its own target dir (fuzz/target): the instrumented build shares
# nothing with the main one. Each corpus (fuzz/corpus/<target>, not in git) is seeded from events/ by
# fuzz/seeds.py and grows from run to run. A finding stops with the input in fuzz/artifacts/<target>/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

seconds=${FUZZ_SECONDS:-300}
# No sanitizer by default: the code under test forbids `unsafe`, so AddressSanitizer would mostly check
# dependencies, and it makes the build slower. FUZZ_SANITIZER=address to use it anyway.
sanitizer=${FUZZ_SANITIZER:-none}
# cargo-fuzz passes -Z flags to rustc; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
export RUSTC_BOOTSTRAP=1

command -v cargo-fuzz >/dev/null 2>&1 || { echo "cargo-fuzz is missing: run make setup" >&2; exit 1; }

step "fuzz targets: build (fuzz/target, sanitizer: ${sanitizer})"
started=$SECONDS
cargo fuzz build -s "$sanitizer"
echo "built in $((SECONDS - started)) s"
python3 fuzz/seeds.py

mkdir -p "$ROOT/.dev/fuzz"
for target in $(cargo fuzz list); do
  case $target in
    webhook_*) dict=fuzz/dict/webhook.dict ;;
    *) dict=fuzz/dict/link_token.dict ;;
  esac
  step "fuzz $target for ${seconds} s"
  log="$ROOT/.dev/fuzz/$target.log"
  if ! cargo fuzz run -s "$sanitizer" "$target" -- -max_total_time="$seconds" -timeout=10 -dict="$dict" \
    -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $target failed (whole log: $log). The input is in fuzz/artifacts/$target/; replay it with" >&2
    echo "  RUSTC_BOOTSTRAP=1 cargo fuzz run -s $sanitizer $target fuzz/artifacts/$target/<file>" >&2
    exit 1
  fi
  grep '^known defect' "$log" | sort -u || true
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
  echo "$target: $runs runs, no finding; corpus $corpus inputs (log: $log)"
done
