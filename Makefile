# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv, install torch==2.13.0 first where that local CPU build exists
# (an open torch requirement resolved first pulls several GB of CUDA packages),
# then the project with its test and docs extras.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint docs docs-screenshots bench bench-quick bench-heldout clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0 || echo "torch==2.13.0 not available here; pip will pick a torch>=2.2 build"
	$(PY) -m pip install -q -e '.[test,docs]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check anomvae tests benchmarks scripts datasets
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -q --doctest-modules anomvae tests
	$(PY) -m pytest -q --nbmake notebooks

# The site, into docs/_build/html: warnings are errors (-W, reported all at once with
# --keep-going) and every cross-reference must resolve (-n). Offline; no notebook is
# executed. docs/README.md describes the layout.
docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -n -q -b html -d docs/_build/doctrees docs docs/_build/html

# Screenshots of three pages with headless Chromium (/usr/bin/chromium) into docs/_screenshots/.
docs-screenshots: docs
	$(PY) scripts/docs_screenshots.py

bench-quick: $(STAMP)
	$(PY) -m benchmarks --quick

bench-heldout: $(STAMP)
	$(PY) -m benchmarks --heldout

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache docs/_build docs/_generated docs/api/generated docs/notebooks docs/benchmarks
