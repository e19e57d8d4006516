# The two commands: `make dev` runs the whole system locally, `make test` runs every test.
# Both install what is missing first (dev/setup.sh) and are safe to run twice.
SHELL := /bin/bash

.PHONY: dev test setup fmt

dev:
	@bash dev/dev.sh

test:
	@bash dev/test.sh

setup:
	@bash dev/setup.sh

fmt:
	cargo fmt --all
