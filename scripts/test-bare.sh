#!/usr/bin/env bash
# The device install: the bare package (numpy + onnxruntime) plus ai-edge-litert and the live sources'
# extras (pyserial, sounddevice), in its own venv, runs
# the runtime and devices tests with no torch, tensorflow or onnx anywhere -- twice: with the newest versions the
# declared ranges resolve to (.venv-bare) and with the oldest they allow (.venv-bare-oldest: the lower
# bounds of pyproject.toml, kept in OLDEST below; change both together).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
OLDEST="numpy==1.24.4 onnxruntime==1.24.1 ai-edge-litert==2.1.6"

bare_venv() {  # $1: folder, $2...: extra pins
  local v=$1; shift
  if [ ! -x "$v/bin/python" ] || [ pyproject.toml -nt "$v/.installed" ] || [ "$0" -nt "$v/.installed" ]; then
    rm -rf "$v"
    $PY -m venv "$v"
    "$v/bin/pip" install -q ".[tflite,serial,mic]" pytest "$@" 2>>"$v/pip.log"
    touch "$v/.installed"
  fi
  # always the checkout's current code (dependencies stay as installed above)
  "$v/bin/pip" install -q --no-deps --force-reinstall . 2>>"$v/pip.log"
}

for v in .venv-bare .venv-bare-oldest; do
  if [ $v = .venv-bare-oldest ]; then bare_venv $v $OLDEST; else bare_venv $v; fi
  echo "== device runtime tests in $v: $($v/bin/python -c 'import numpy, onnxruntime, ai_edge_litert as l; print("numpy", numpy.__version__, "onnxruntime", onnxruntime.__version__, "ai-edge-litert", getattr(l, "__version__", "?"))')"
  # the live tests (serial pty, virtual microphone, browser: ~1.5 min) once, with the newest runtimes
  skip_live=(); [ $v = .venv-bare-oldest ] && skip_live=(--ignore=runtime/live)
  # run from a neutral folder so the checkout's edgewise/ is not imported instead of the installed one
  (cd tests && ../$v/bin/python -m pytest -q -p no:cacheprovider -m "not device" --import-mode=importlib \
     -W ignore::pytest.PytestUnknownMarkWarning \
     --rootdir=. -c /dev/null runtime devices "${skip_live[@]}")
done
