# The two commands: `make dev` runs the whole system locally, `make test` runs every test.
# Both install what is missing first (dev/setup.sh) and are safe to run twice.
SHELL := /bin/bash

.PHONY: dev test setup fmt bench demo logs fuzz

dev:
	@bash dev/dev.sh

test:
	@bash dev/test.sh

# A scripted tour on the stack `make dev` is running: a payment, then a dropped webhook repaired by reconcile;
# then the settlement events the merchant's rules received (a paid checkout's checkout.paid among them).
demo:
	@source dev/lib.sh && python3 dev/demo/tour.py && echo && echo "settlement events the merchant's systems received:" \
	  && python3 dev/events.py --expect checkout.paid

# Follows what make dev writes to .dev/logs/ as one coloured stream (in a second terminal).
logs:
	@python3 dev/logs.py

setup:
	@bash dev/setup.sh

fmt:
	cargo fmt --all

bench:
	@bash dev/bench.sh

# Each fuzz target in fuzz/ for FUZZ_SECONDS (default 300); findings land in fuzz/artifacts/<target>/.
fuzz:
	@bash dev/setup.sh && bash dev/fuzz.sh
