# One-line set-up: `make fuzz` (a short campaign) and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup fuzz test wheel-check bench cflite-dry-run cflite-build clean

$(BIN)/unmapfuzz: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/unmapfuzz

fuzz: setup
	$(BIN)/unmapfuzz fuzz --time 60 --out out/campaign

test: setup
	$(BIN)/python -m pytest

# The installed tool, not the checkout: build the wheel, install it into a
# fresh venv and run `check` and a short campaign from outside the tree.
wheel-check:
	PYTHON=$(PYTHON) .ci/wheel-check

bench: setup
	$(BIN)/unmapfuzz bench

# ClusterFuzzLite's build.sh, run here as the builder image runs it, then each
# target under the service's libFuzzer flags: with a stand-in
# compile_python_fuzzer (seconds), or with real PyInstaller bundles (minutes).
cflite-dry-run: setup
	rm -rf out/cflite && .clusterfuzzlite/dry-run out/cflite

cflite-build: setup
	rm -rf out/cflite && .clusterfuzzlite/dry-run --pyinstaller out/cflite

clean:
	rm -rf $(VENV) out build dist
