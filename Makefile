# Two commands on a fresh machine: `make demo` and `make test`. Both start with `make setup`.
.PHONY: setup demo test test-unit lint format typecheck bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

test: setup lint
	npx tsc --noEmit
	npx vitest run

# The pure suites (vitest project `unit`, listed in vitest.config.ts) with Verilator, Yosys,
# OpenSTA and g++ off PATH: only node and sh are reachable, so a suite that needs a tool fails.
test-unit:
	@bin=$$(mktemp -d) && ln -s "$$(command -v node)" "$$bin/node" && ln -s "$$(command -v sh)" "$$bin/sh" && \
	  PATH="$$bin" node node_modules/vitest/vitest.mjs run --project unit; rc=$$?; rm -rf "$$bin"; exit $$rc

# Lint and format check (biome.json); `make format` rewrites the files.
lint: setup
	npx biome check .

format: setup
	npx biome check --write .

bench: setup
	@for f in bench/*.ts; do echo "== $$f"; node --import tsx $$f || exit 1; done

clean:
	node bin/axtpu.js clean --outputs
