# The two quick-start commands: `make serve` and `make test`. Both set everything up on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: setup serve test browser index eval bench

setup: $(VENV)/.installed

# torch first: the CPU build of 2.13.0 lies on local disk; any other spec pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test,eval,train,milvus]'
	touch $@

serve: setup
	$(VENV)/bin/ragqa serve

index: setup
	$(VENV)/bin/ragqa index

# Scores the test split and rewrites eval/report/ (the README links it); tune with `ragqa eval --split dev`.
eval: index
	$(VENV)/bin/ragqa eval --split test

# Headless Chromium for the browser tests, from Debian's packages (no browser download at run time).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

test: setup browser
	$(PY) -m pytest
