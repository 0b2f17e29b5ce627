# hemlr-bench: environment, tests and benchmark runs.
#   make run [CONFIG=...]     the workflow of a config (default config.yaml), then its report
#   make test                 the test suite
#   make paper                the authors' RegNet features (workflow/configs/paper.yaml)
#   make bench-tenseal | bench-openfhe | bench-concrete
#   make report [CONFIG=...]  re-merge the tables and re-draw the report of a config
#   make clean                remove results/ (features cache included) and reports/<run>/
# Variables: CORES (default all), SMK_ARGS (extra snakemake arguments, e.g. SMK_ARGS=-n).

SHELL := /bin/bash
.DEFAULT_GOAL := run

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SNAKEMAKE := $(VENV)/bin/snakemake
CORES ?= all
CONFIG ?= config.yaml
SMK_ARGS ?=

.PHONY: run test paper bench-tenseal bench-openfhe bench-concrete report clean

# Python 3.10 exactly (openfhe's wheel and Snakemake 7.32 need it): python3.10 if it answers,
# else an installed pyenv 3.10.x (pyenv's shim exists but fails when 3.10 is not selected).
$(PY):
	@set -e; \
	if python3.10 --version >/dev/null 2>&1; then \
		echo "creating $(VENV) with $$(command -v python3.10)"; \
		python3.10 -m venv $(VENV); \
	elif command -v pyenv >/dev/null 2>&1 && \
		v=$$(pyenv versions --bare | grep -E '^3\.10\.[0-9]+$$' | sort -V | tail -n 1) && [ -n "$$v" ]; then \
		echo "creating $(VENV) with pyenv Python $$v"; \
		PYENV_VERSION=$$v pyenv exec python3.10 -m venv $(VENV); \
	else \
		echo "error: Python 3.10 not found: install it (e.g. 'pyenv install 3.10') so that" \
		     "'python3.10 --version' works, then run make again" >&2; \
		exit 1; \
	fi

# Installs once, again only when pyproject.toml changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[test]'
	touch $@

# $(call workflow,CONFIG[,ARGS]): run the workflow of CONFIG, then render its HTML report.
# Snakemake 7.32 downloads the report's JavaScript and licences while rendering, so without
# internet the HTML step fails: the run's results are complete without it (summary.md, PNGs).
define workflow
$(SNAKEMAKE) --cores $(CORES) --configfile $(1) --rerun-incomplete --show-failed-logs $(2) $(SMK_ARGS)
run=$$($(PY) -c 'import sys; from hemlr.config import load_config; print(load_config(sys.argv[1])["run"])' $(1)) && \
$(SNAKEMAKE) --configfile $(1) --report reports/$$run/report.html || \
echo "warning: HTML report not rendered (see above); results are in reports/$$run/" >&2
endef

run: $(STAMP)
	$(call workflow,$(CONFIG))

test: $(STAMP)
	$(VENV)/bin/pytest -q

paper: $(STAMP)
	$(call workflow,workflow/configs/paper.yaml)

bench-tenseal: $(STAMP)
	$(call workflow,workflow/configs/bench-tenseal.yaml)

bench-openfhe: $(STAMP)
	$(call workflow,workflow/configs/bench-openfhe.yaml)

bench-concrete: $(STAMP)
	$(call workflow,workflow/configs/bench-concrete.yaml)

# Re-runs only the report rule (and whatever is missing upstream).
report: $(STAMP)
	$(call workflow,$(CONFIG),--forcerun report)

clean:
	rm -rf results reports/*/ .snakemake
