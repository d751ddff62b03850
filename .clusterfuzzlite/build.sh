#!/bin/bash -eu
# Build the service fuzz targets into $OUT (ClusterFuzzLite and OSS-Fuzz run
# this inside base-builder-python; .clusterfuzzlite/dry-run runs it here).
#
# For each fuzzers/NAME.py: $OUT/NAME (compile_python_fuzzer: a PyInstaller
# bundle and its wrapper), $OUT/NAME_seed_corpus.zip (corpus/ as inputs of
# that target) and $OUT/NAME.dict (its libFuzzer dictionary).
set -euo pipefail
cd "$SRC/unmapfuzz"

# The image's atheris is built against the image's libFuzzer: keep it, and
# install unmapfuzz with the rest of its dependencies.
python3 -m pip install --no-deps .
requirements=$(mktemp)
python3 - <<'PY' > "$requirements"
from importlib.metadata import requires
print("\n".join(r for r in requires("unmapfuzz") or [] if not r.startswith("atheris") and "extra ==" not in r))
PY
python3 -m pip install -r "$requirements"

# PyInstaller follows imports but not package data: the known list and the
# corpus are read through importlib.resources from unmapfuzz.corpus.
for fuzzer in fuzzers/*_fuzzer.py; do
  compile_python_fuzzer "$fuzzer" --collect-data unmapfuzz.corpus --hidden-import unmapfuzz.corpus
done

python3 -m unmapfuzz targets --write "$OUT"
