# inverselab: `make demo` and `make test` work on a fresh machine with Python >= 3.10 and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0

.PHONY: demo test docs bench-env clean

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

# The documentation site in docs/_build/html: Sphinx with warnings as errors; runs every example
# of the gallery (INVERSELAB_DOCS_GALLERY=0 skips them).
$(BIN)/.docs-installed: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@

docs: $(BIN)/.docs-installed
	TQDM_DISABLE=1 $(BIN)/sphinx-build -b html -W --keep-going docs docs/_build/html

# Peers for the benchmarks (astra-toolbox, deepinv, scikit-image) in a separate venv.
bench-env:
	bash benchmarks/setup_peers.sh

clean:
	rm -rf $(VENV) .pytest_cache runs

# Mutation testing of the core functions listed in tools/mutation/config.toml, with cosmic-ray;
# resumable (run it again to go on). Options through MUTATE_ARGS, e.g. MUTATE_ARGS="mri --limit 20"
# or MUTATE_ARGS="--minutes 60" (see docs/mutation.md).
.PHONY: mutate
mutate: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet "cosmic-ray==8.7.0"
	nice -n 19 $(BIN)/python tools/mutation/run_mutation.py $(MUTATE_ARGS)
