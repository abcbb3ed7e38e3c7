PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_STORE := .demo-store

.PHONY: demo test bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/meterlog ingest --store $(DEMO_STORE) \
		--nginx-conf sample_logs/nginx.conf --log-format-name api sample_logs/
	$(VENV)/bin/meterlog status --store $(DEMO_STORE)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(VENV)/bin/pytest -q

bench: $(VENV)/.installed
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(DEMO_STORE) .pytest_cache .ruff_cache
