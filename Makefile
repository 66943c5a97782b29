# Two entry points for a fresh machine (see README):
#   make report   set up .venv and write the reports on the bundled data into reports/ (suite + one per site)
#   make test     set up .venv and run the whole test suite
# Both create or refresh the virtual environment in .venv (pip only; no conda needed),
# install the package with its Jupyter kernel; the CJK font ships inside the package.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= reports
PYTEST_ARGS ?=

.PHONY: all venv browser report test lab notebooks bench clean

all: test

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (baode-eval)" >/dev/null
	@touch $@

report: venv
	@status=0; \
	$(BIN)/baode-eval report --by site --out $(OUT)/by-site || status=$$?; \
	$(BIN)/baode-eval run --out $(OUT) || status=$$?; \
	exit $$status
	@echo "open $(OUT)/index.html"

test: venv browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Debian's headless chromium + chromium-driver for the report browser test (apt; needs root or
# passwordless sudo). Without them the browser test is skipped locally, and fails under CI=true.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
	  echo "installing chromium and chromium-driver with apt (for the report browser test)"; \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	      chromium chromium-driver fonts-dejavu-core >/dev/null; } \
	  || echo "warning: could not install chromium; the browser test will be skipped"; \
	else echo "warning: no apt-get; install chromium and chromedriver for the browser test"; fi

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
