# Two commands: `make run` (whole default workflow) and `make test` (test suite).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
CORES  ?= all
STAMP  := $(VENV)/.installed

.PHONY: run test setup dryrun report clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

dryrun: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) -n

report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --report report.html

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf results logs .snakemake
