# Two commands: `make run` (whole default workflow) and `make test` (test suite); `make test-cluster`
# runs the workflow through a local single-node SLURM cluster (tests/test_cluster.py, root).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
CORES  ?= all
STAMP  := $(VENV)/.installed

.PHONY: run test test-cluster setup dryrun report clean browser

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

# the report test drives Debian's Chromium through its chromedriver
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

test: $(STAMP) browser
	$(BIN)/python -m pytest

# starts profiles/slurm/local-cluster.sh where no SLURM answers (installs slurm-wlm and munge: root)
test-cluster: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -m cluster -s tests/test_cluster.py

clean:
	rm -rf results logs .snakemake
