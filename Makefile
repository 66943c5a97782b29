# Two entry points for a fresh machine (see README):
#   make report   set up .venv and write the report on the bundled data into reports/
#   make test     set up .venv and run the whole test suite
# Both create or refresh the virtual environment in .venv (pip only; no conda needed),
# install the package with its Jupyter kernel; the CJK font ships inside the package.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= reports
PYTEST_ARGS ?=

.PHONY: all venv report test lab notebooks bench clean

all: test

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (baode-eval)" >/dev/null
	@touch $@

report: venv
	$(BIN)/baode-eval run --out $(OUT)
	@echo "open $(OUT)/index.html"

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Re-execute the notebooks in place so that their stored outputs (the nbval baselines) are fresh.
notebooks: venv
	$(BIN)/python -m baode_eval.notebooks_refresh

# JupyterLab for exploring (kept out of the test install: it slows every nbformat import).
lab: venv
	$(BIN)/python -m pip install --quiet -e '.[test,interactive]'
	$(BIN)/jupyter lab notebooks/

bench: venv
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
