# Two commands do all set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-faults test-slow test-browser portal-screenshots lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kafkahooks demo $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n 6 $(PYTEST_ARGS)

test-faults: $(STAMP)
	$(BIN)/pytest -m faults tests/faults $(PYTEST_ARGS)

# integration files whose tests each run bridges or CLI processes for 10-30 s
test-slow: $(STAMP)
	$(BIN)/pytest -n 4 -m slow tests/integration $(PYTEST_ARGS)

# The portal in a real browser: Debian's Chromium (installed with apt-get when missing;
# Playwright's own browser download is never used). A missing browser fails the run.
CHROMIUM ?= /usr/bin/chromium

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
	test -x $(CHROMIUM)

test-browser: $(STAMP) $(CHROMIUM)
	KAFKAHOOKS_CHROMIUM=$(CHROMIUM) $(BIN)/pytest -m browser tests/browser $(PYTEST_ARGS)

# the README's pictures: the browser suite photographs each page into docs/portal
portal-screenshots: $(STAMP) $(CHROMIUM)
	KAFKAHOOKS_SCREENSHOTS=docs/portal KAFKAHOOKS_CHROMIUM=$(CHROMIUM) $(BIN)/pytest -m browser tests/browser

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/render_sign.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Throughput benchmark (issue 4): one run, all rows, both receivers; writes bench/results.md.
# Installs nginx + its echo module with apt-get if missing (root). Quick run:
#   make bench-throughput ARGS="--events 20000 --rows naive,limit,key --receivers fast"
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

.PHONY: bench-throughput
bench-throughput: $(BENCH_STAMP)
	$(BIN)/python bench/throughput.py $(ARGS)
