PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: setup browser reanalysis gallery test bench calibration clean

# PYTHONWARNINGS: setuptools' notice that an editable install's folder may shadow the package is known and
# harmless here (the folder is the package).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# The report test opens the HTML report in headless Chromium (Debian's package).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

reanalysis: $(STAMP)
	$(BIN)/bayesmeta reanalyze models/haic.toml --out reports/haic

# The full report of every paper: the first case and the gallery (models/gallery/<case>.toml -> reports/<case>/).
GALLERY := magnesium_mi parkinson_offtime glp1_mace hackshaw_ets normand_stroke

gallery: reanalysis
	@for c in $(GALLERY); do $(BIN)/bayesmeta reanalyze models/gallery/$$c.toml --out reports/$$c || exit 1; done

# The suite on TEST_WORKERS processes (pytest-xdist); tests/conftest.py keeps files that share fixtures together.
TEST_WORKERS ?= 2

# The package's bytecode is written once up front (compileall writes it even where PYTHONDONTWRITEBYTECODE is set),
# so the test workers and the processes they start do not each compile bayesmeta's sources again.
test: $(STAMP) browser
	$(BIN)/python -m compileall -q bayesmeta >/dev/null
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Simulation-based calibration and interval coverage of the engines (figures and tables in reports/calibration).
calibration: $(STAMP)
	$(BIN)/python -m bayesmeta.batch.calibration --out reports/calibration

clean:
	rm -rf $(VENV) reports .cache .pytest_cache
