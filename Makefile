# inverselab: `make demo` and `make test` work on a fresh machine with Python >= 3.10 and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0

.PHONY: demo test bench-env clean

# The CPU build of torch is installed first so the package's torch>=2.3 is already met
# (an unpinned torch would pull a multi-GB CUDA build).
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test,seismic,data]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/inverselab demo

# The tests also cover the deepinv bridge: deepinv beside the CPU torch (no-deps, patched torchvision).
$(BIN)/.test-installed: $(BIN)/.installed benchmarks/install_deepinv.sh
	bash benchmarks/install_deepinv.sh $(VENV)
	touch $@

test: $(BIN)/.test-installed
	$(BIN)/python -m pytest -q

# Peers for the benchmarks (astra-toolbox, deepinv, scikit-image) in a separate venv.
bench-env:
	bash benchmarks/setup_peers.sh

clean:
	rm -rf $(VENV) .pytest_cache runs
