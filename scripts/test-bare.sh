#!/usr/bin/env bash
# The device install: the bare package (numpy + onnxruntime) plus ai-edge-litert, in its own venv,
# runs the runtime tests with no torch, tensorflow or onnx anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
V=.venv-bare
if [ ! -x $V/bin/python ] || [ pyproject.toml -nt $V/.installed ]; then
  rm -rf $V
  $PY -m venv $V
  $V/bin/pip install -q . ai-edge-litert pytest 2>>$V/pip.log
  touch $V/.installed
fi
# always the checkout's current code (dependencies stay as installed above)
$V/bin/pip install -q --no-deps --force-reinstall . 2>>$V/pip.log
# run from a neutral folder so the checkout's edgewise/ is not imported instead of the installed one
cd tests && ../$V/bin/python -m pytest -q -p no:cacheprovider -m "not device" --import-mode=importlib --rootdir=. -c /dev/null runtime
