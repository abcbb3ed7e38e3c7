PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_STORE := .demo-store
METERLOG := $(VENV)/bin/meterlog
# the sample logs end on 31 October at 22:59 UTC, before October ends in the plans' time zones:
# the demo bills September, the last month they hold whole
DEMO_MONTH := 2026-09
DEMO_IDENTITY := --store $(DEMO_STORE) --account-field http_x_api_key --accounts sample_logs/accounts.csv

.PHONY: demo test test-fast bench lint docs docs-site clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(METERLOG) ingest --store $(DEMO_STORE) \
		--nginx-conf sample_logs/nginx.conf --log-format-name api sample_logs/
	$(METERLOG) status --store $(DEMO_STORE) --format table
	$(METERLOG) usage $(DEMO_IDENTITY) --by month --by account --format table
	$(METERLOG) mau $(DEMO_IDENTITY) --month 2026-09..2026-10 --by account --tz Europe/Berlin --format table
	$(METERLOG) bill $(DEMO_IDENTITY) --month $(DEMO_MONTH) --plan sample_logs/plans.toml --format table
	mkdir -p demo-out
	$(METERLOG) report $(DEMO_IDENTITY) --month $(DEMO_MONTH) --plan sample_logs/plans.toml -o demo-out/report.html
	$(PY) -m tests.support.chromium demo-out/report.html demo-out/report-1280.png 1280 && \
		$(PY) -m tests.support.chromium demo-out/report.html demo-out/report-390.png 390 || \
		echo "demo: no screenshots (chromium missing: apt-get install chromium)"
	@echo "demo: the HTML report is $(CURDIR)/demo-out/report.html (open it in a browser)"
	@test ! -f demo-out/report-390.png || echo "demo: whole-page screenshots at 1280 and 390 px wide: $(CURDIR)/demo-out/report-1280.png, report-390.png"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# PySpark for the Spark engine tests (slow tier; they skip with the reason when it or Java
# is missing)
$(VENV)/.spark-installed: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,spark]' || echo "make: pyspark not installed; the Spark tests will be skipped"
	touch $@

# four workers on two cores: the slow tier's tests mostly wait on processes and servers
test: lint $(VENV)/.spark-installed
	$(VENV)/bin/pytest -q -n 4

# the inner loop: everything but the tests marked slow (servers, browsers, Spark, process kills)
test-fast: $(VENV)/.installed
	$(VENV)/bin/pytest -q -n 3 -m "not slow"

# the pages of docs/ generated from the code (a test checks that each is current)
docs: $(VENV)/.installed
	$(PY) -m meterlog.commands.reference docs

$(VENV)/.docs-installed: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,docs]'
	touch $@

# the manual as a static site in site/ (mkdocs.yml); --strict: a warning, such as a link to a
# heading that does not exist or a page left out of the navigation, fails the build
docs-site: docs $(VENV)/.docs-installed
	$(VENV)/bin/mkdocs build --strict

$(VENV)/.bench-installed: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@

# BENCH_ARGS=--quick for a check in a few minutes; see `python bench/run.py --help`
bench: $(VENV)/.bench-installed
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_STORE) demo-out site .pytest_cache .ruff_cache
