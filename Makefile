# Two commands on a fresh machine:  make run  (the pipeline)  and  make test  (the test suite).
VENV ?= .venv
PYTHON ?= python3
CORES ?= 1
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-gpu test-slurm lint report reproduce clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[workflow,test]"
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

# Redraw the published figures from the committed captures (no GPU) and compare their data with published/.
reproduce: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) reproduce

test: $(STAMP)
	$(BIN)/python -m pytest

test-gpu: $(STAMP)
	$(BIN)/python -m pytest -m gpu

# As root: a real one-node SLURM (tools/slurm/start-local-slurm.sh), the replay pipeline through it.
test-slurm: $(STAMP)
	PDPROF_SLURM_TEST=1 $(BIN)/python -m pytest -m slurm

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/
	$(BIN)/ruff check src tests tools workflow/scripts benchmarks/*.py
	$(BIN)/ruff format --check src tests tools workflow/scripts benchmarks/*.py

clean:
	rm -rf results .snakemake
