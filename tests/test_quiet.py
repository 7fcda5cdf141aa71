"""``edgewise._quiet``: library logs stay off the console (fd 2 included) unless ``--debug``.

Each case runs in a fresh interpreter: what is under test is file descriptor 2 of a real process (pytest's
own capture replaces ``sys.stderr`` and would hide whether Python-level text went through fd 2).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgewise._quiet import DEBUG_ENV

REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "tests" / "runtime" / "fixtures"

# what TensorFlow/absl/LiteRT print: absl ("E0000 00:00:... cuda_dnn.cc:8579] ..."), TSL
# ("2026-01-01 12:00:00.000000: I tensorflow/..."), the absl preamble and LiteRT's delegate line
LIBRARY_LOG = re.compile(r"^[IWEF]\d{4} |^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |cuda|XNNPACK delegate|"
                         r"absl::InitializeLog")


def _log_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if LIBRARY_LOG.search(line)]

# what a library does: C++ on fd 2, Python text on sys.stderr, a warning, a logger record
NOISE = """
import logging, os, sys, warnings
os.write(2, b"E0000 00:00:1796514099.701228 14894 cuda_dnn.cc:8579] Unable to register cuDNN factory\\n")
print("W0000 00:00:1796514106.512219 14894 tf_tfl_flatbuffer_helpers.cc:365] Ignored output_format.", file=sys.stderr)
warnings.warn("a keras deprecation")
logging.basicConfig()
logging.getLogger("tensorflow").warning("a tensorflow warning")
"""


def _env(debug: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (DEBUG_ENV, "TF_CPP_MIN_LOG_LEVEL")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    if debug:
        env[DEBUG_ENV] = "1"
    return env


def _run(code: str, *, debug: bool = False, args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          env=_env(debug), timeout=60)


def test_block_hides_every_kind_of_log_and_restores_fd2():
    code = "from edgewise._quiet import quiet\nwith quiet():\n" + textwrap.indent(NOISE, "    ") + """
import os, sys
os.write(2, b"fd 2 after\\n")
print("sys.stderr after", file=sys.stderr)
"""
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "fd 2 after\nsys.stderr after\n"


def test_debug_lets_every_kind_of_log_through():
    proc = _run("from edgewise._quiet import quiet\nwith quiet():\n" + textwrap.indent(NOISE, "    "), debug=True)
    assert proc.returncode == 0, proc.stderr
    for text in ("cuda_dnn.cc:8579]", "Ignored output_format.", "a keras deprecation", "a tensorflow warning"):
        assert text in proc.stderr
    assert len(_log_lines(proc.stderr)) == 2


@pytest.mark.parametrize("nested", [False, True], ids=["one-block", "nested-blocks"])
def test_failure_shows_the_last_captured_lines_once(nested):
    code = f"""
    import os, sys
    from edgewise._quiet import quiet
    try:
        with quiet("onnx2tf"):
            with (quiet() if {nested} else open(os.devnull)):
                for i in range(30):
                    os.write(2, f"line {{i}}\\n".encode())
                raise ValueError("boom")
    except ValueError as e:
        print(f"caught {{e}}", file=sys.stderr)
    """
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "edgewise: the last 20 lines onnx2tf logged before the error:"
    assert lines[1:] == [f"  line {i}" for i in range(10, 30)] + ["caught boom"]


def test_runtime_backend_replays_its_capture_on_failure_only():
    code = """
    import os, sys
    from edgewise.runtime.backends._litert import _quiet_fd2
    with _quiet_fd2():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
    try:
        with _quiet_fd2():
            os.write(2, b"ERROR: tensor 3 has no buffer\\n")
            raise ValueError("allocate_tensors failed")
    except ValueError:
        pass
    os.write(2, b"fd 2 after\\n")
    """
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "ERROR: tensor 3 has no buffer\nfd 2 after\n"


@pytest.mark.parametrize("argv, seen", [(["models", "list"], None), (["--debug", "models", "list"], "1")],
                         ids=["plain", "debug"])
def test_cli_debug_sets_the_switch_for_the_command_only(monkeypatch, argv, seen):
    import edgewise._cli.models as leaf
    from edgewise.cli import main

    monkeypatch.delenv(DEBUG_ENV, raising=False)
    during = []
    monkeypatch.setattr(leaf, "list_models", lambda args: during.append(os.environ.get(DEBUG_ENV)))
    assert main(argv) == 0
    assert during == [seen] and DEBUG_ENV not in os.environ


TF_CONVERSION = """
import os, sys
from pathlib import Path
import numpy as np
from edgewise._quiet import quiet
from edgewise.runtime.backends import get_backend

with quiet():
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    def f(x):
        return tf.nn.relu(2.0 * x)

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    Path(sys.argv[1]).write_bytes(conv.convert())
session = get_backend("litert").open(Path(sys.argv[1]), threads=1)
print(session.run(np.array([[-1, 0, 1, 2]], np.float32))[0].tolist())
os.write(2, b"fd 2 after\\n")
print("sys.stderr after", file=sys.stderr)
"""


@pytest.mark.slow  # two TensorFlow imports, run side by side: ~15 s on a 2-core host
def test_tensorflow_conversion_and_litert_are_silent_unless_debug(tmp_path):
    pytest.importorskip("tensorflow")
    procs = {debug: subprocess.Popen([sys.executable, "-c", TF_CONVERSION, str(tmp_path / f"{debug}.tflite")],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(debug))
             for debug in (False, True)}
    (out, err), (dout, derr) = (procs[d].communicate(timeout=180) for d in (False, True))
    assert procs[False].returncode == 0 and procs[True].returncode == 0, err + derr
    assert out == dout == "[[0.0, 0.0, 2.0, 4.0]]\n"
    assert _log_lines(err) == [], err
    assert err.endswith("fd 2 after\nsys.stderr after\n")
    # the same run with --debug shows the TensorFlow and LiteRT lines (the delegate one on every CPU host)
    assert "XNNPACK delegate" in derr and len(_log_lines(derr)) >= 2, derr
