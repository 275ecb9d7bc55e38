# civgis — two commands do everything on a fresh machine:
#   make demo   build the demo county, import it, validate, report  (output in build/demo/)
#   make test   run the whole test suite (notebooks and browser test included)
# Both create a local virtual environment (.venv) and install what they need first.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= build/demo

.PHONY: demo test lab bench system clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lab]'
	touch $(STAMP)

# System parts the real tests need: headless Chromium and a CJK font.
system:
	@bash scripts/install-system.sh

# compileall: the package's bytecode written once even where PYTHONDONTWRITEBYTECODE is set (as on CI), so each
# of the report's processes does not compile civgis again (~0.3 s a process)
demo: $(STAMP) system
	$(PY) -m compileall -q civgis
	$(PY) -m civgis demo --out $(OUT)

test: $(STAMP) system
	$(PY) -m pytest -q

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf build .pytest_cache
