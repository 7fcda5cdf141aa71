"""The one hard wall: edgewise.runtime imports neither torch, tensorflow nor onnx."""
from __future__ import annotations

import pkgutil
import subprocess
import sys

import edgewise.runtime

BLOCK = "import sys\nfor m in ('torch', 'tensorflow', 'onnx', 'nncf', 'torch_pruning', 'onnx2tf', 'keras'):\n    sys.modules[m] = None\n"


def _runtime_modules() -> list[str]:
    return sorted(
        m.name for m in pkgutil.walk_packages(edgewise.runtime.__path__, prefix="edgewise.runtime.")
    )


def test_runtime_imports_without_host_stack():
    mods = _runtime_modules()
    assert "edgewise.runtime.errors" in mods
    code = BLOCK + "".join(f"import {m}\n" for m in mods) + (
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('scipy', 'matplotlib', 'torch', 'onnxruntime', 'ai_edge_litert', 'tensorflow')"
        " and sys.modules[m] is not None]\nprint(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # nothing heavier than numpy is imported at module level
    assert out.stdout.strip() == "", f"runtime imported at module level: {out.stdout}"


def test_runtime_imports_nothing_above_it():
    import ast
    from pathlib import Path

    root = Path(edgewise.runtime.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                if n.startswith("edgewise") and not n.startswith("edgewise.runtime"):
                    offenders.append(f"{path.name}: {n}")
    assert offenders == []
