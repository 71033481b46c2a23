# Every target creates the virtualenv from nothing when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo docs-dashboard test validate plan bench generated clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# --force replaces only what the previous `make demo` wrote in build/demo.
demo: $(STAMP)
	$(BIN)/c360 demo --out build/demo --force

# docs/dashboard.png and its record docs/dashboard.png.json: the demo's dashboard at 1440 px.
docs-dashboard: $(STAMP)
	$(BIN)/c360 demo --out build/docs-demo --force
	$(BIN)/c360 dashboard --warehouse build/docs-demo/warehouse.duckdb --out build/docs-demo/dashboard.html \
		--screenshot docs/dashboard.png

test: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist worksteal

validate: $(STAMP)
	$(BIN)/c360 validate

plan: $(STAMP)
	$(BIN)/c360 plan --stack dev

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pipeline.py

# Rewrites every committed generated file (see customer360/artifacts.py).
generated: $(STAMP)
	$(BIN)/c360 regenerate

clean:
	rm -rf $(VENV) build .pytest_cache
