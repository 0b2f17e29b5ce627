# hemlr-bench: environment, tests and benchmark runs.
#   make run [CONFIG=...]     the workflow of a config (default config.yaml), then its report
#   make test                 the test suite
#   make lint                 snakemake --lint on the default config and every named config
#   make paper                the authors' RegNet features (workflow/configs/paper.yaml)
#   make converge             20 encrypted iterations past the depth wall (workflow/configs/converge.yaml)
#   make scaling              server time against n and the ring, with the cost model (workflow/configs/scaling.yaml)
#   make bench-NAME           the benchmark workflow/configs/bench-NAME.yaml, e.g. bench-openfhe
#                             (an unknown or missing NAME fails, listing the available ones)
#   make report [CONFIG=...]  re-merge the tables and re-draw the report of a config
#   make clean                remove results/ (features cache included; not the results store
#                             results/history/) and reports/<run>/
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

# One benchmark per workflow/configs/bench-NAME.yaml; every named config is linted.
BENCHMARKS := $(sort $(patsubst workflow/configs/bench-%.yaml,bench-%,$(wildcard workflow/configs/bench-*.yaml)))
NAMED_CONFIGS := $(sort $(wildcard workflow/configs/*.yaml))
comma := ,
space := $() $()

.PHONY: run test lint paper converge nn scaling $(BENCHMARKS) bench bench- report clean

# make run / make report (run is the default goal) with a CONFIG that is not a file stop here,
# before the environment is built and before snakemake starts.
ifneq ($(filter run report,$(or $(MAKECMDGOALS),$(.DEFAULT_GOAL))),)
ifeq ($(shell test -f '$(CONFIG)' && echo found),)
$(error CONFIG=$(CONFIG): no such config file (give an existing one, e.g. CONFIG=workflow/configs/paper.yaml))
endif
endif

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

# $(call workflow,CONFIG[,ARGS]): run the workflow of CONFIG (its report rule writes the
# self-contained reports/<run>/report.html), then try Snakemake's own report beside it.
# Snakemake 7.32 downloads that report's JavaScript and licences while rendering, so without
# internet this last step fails: the run's results are complete without it.
define workflow
$(SNAKEMAKE) --cores $(CORES) --configfile $(1) --rerun-incomplete --show-failed-logs $(2) $(SMK_ARGS)
run=$$($(PY) -c 'import sys; from hemlr.config import load_config; print(load_config(sys.argv[1])["run"])' $(1)) && \
$(SNAKEMAKE) --configfile $(1) --report reports/$$run/snakemake-report.html || \
echo "warning: snakemake --report not rendered (see above); reports/$$run/report.html has the results" >&2
endef

run: $(STAMP)
	$(call workflow,$(CONFIG))

test: $(STAMP)
	$(VENV)/bin/pytest -q

paper: $(STAMP)
	$(call workflow,workflow/configs/paper.yaml)

converge: $(STAMP)
	$(call workflow,workflow/configs/converge.yaml)

nn: $(STAMP)
	$(call workflow,workflow/configs/nn.yaml)

scaling: $(STAMP)
	$(call workflow,workflow/configs/scaling.yaml)

$(BENCHMARKS): bench-%: $(STAMP)
	$(call workflow,workflow/configs/bench-$*.yaml)

# make bench- or make bench: no NAME (otherwise make's built-in rules would turn bench- into
# the benchmark '.o').
bench bench-:
	@echo "error: a benchmark name is needed: make bench-NAME;" \
	     "available: $(or $(subst $(space),$(comma) ,$(BENCHMARKS)),none)" >&2
	@exit 1

# Any other bench-NAME (checked before the environment is built).
bench-%:
	@echo "error: no benchmark '$*': workflow/configs/bench-$*.yaml does not exist;" \
	     "available: $(or $(subst $(space),$(comma) ,$(BENCHMARKS)),none)" >&2
	@exit 1

# Re-runs only the report rule (and whatever is missing upstream).
report: $(STAMP)
	$(call workflow,$(CONFIG),--forcerun report)

# Fails on any lint finding but LINT_ACCEPTED, which Snakemake reports for every rule. Every
# rule runs in the project's environment (.venv: pyproject.toml's pins plus the project), and
# no conda env file can describe it truthfully under Snakemake 7.32: it builds the env from a
# copy of the file in <workdir>/.snakemake/conda/, so a relative path to the project finds it
# only when snakemake runs in the repository root (not with --directory or --conda-prefix);
# it keys the env on the file's text, so pyproject.toml's changes would never rebuild it; and
# it appends its own site-packages (.venv's) to each job's sys.path, so a package missing from
# the env would silently come from .venv. tests/test_workflow.py accepts the same finding.
LINT_ACCEPTED := Specify a conda environment or container for each rule.

# stdin: the JSON of `snakemake --lint json`; argv: the accepted title, then the command linted.
define LINT_CHECK
import json, sys
accepted, command = sys.argv[1:]
try:
    found = json.load(sys.stdin)
except ValueError:
    sys.exit(f"error: `{command}` failed (see above)")
bad = 0
for kind in ("snakefiles", "rules"):
    for item in found[kind]:
        where = f"rule {item['for']['rule']}" if "rule" in item["for"] else item["for"]["snakefile"]
        for lint in item["lints"]:
            if lint["title"] == accepted:
                print(f"  accepted: {where}: {lint['title']}")
            else:
                bad += 1
                print(f"  LINT: {where}: {lint['title']}\n    {lint['body']}", *lint["links"], sep="\n    ")
sys.exit(f"error: `{command}`: {bad} finding(s) to fix" if bad else None)
endef
export LINT_CHECK

lint: $(STAMP)
	@for c in '' $(NAMED_CONFIGS); do \
		cmd="snakemake --lint$${c:+ --configfile $$c}"; \
		echo "== $$cmd"; \
		$(SNAKEMAKE) --lint json $${c:+--configfile "$$c"} | $(PY) -c "$$LINT_CHECK" '$(LINT_ACCEPTED)' "$$cmd" || exit 1; \
	done

# The results store (results/history/, hemlr history) outlives a clean: it is the runs' record.
clean:
	if [ -d results ]; then find results -mindepth 1 -maxdepth 1 ! -name history -exec rm -rf {} +; fi
	rm -rf reports/*/ .snakemake
