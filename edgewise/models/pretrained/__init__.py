"""The models this project trained and ships, with their artifacts (no torch needed to list them)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PRETRAINED_DIR = Path(__file__).resolve().parent
_FORMATS = {".pt": "torch", ".onnx": "onnx", ".tflite": "tflite"}

__all__ = ["PRETRAINED_DIR", "shipped_artifacts", "default_model"]


def _describe(path: Path) -> dict[str, Any]:
    fmt = _FORMATS[path.suffix]
    row: dict[str, Any] = {"name": path.stem, "format": fmt, "path": str(path), "size_bytes": path.stat().st_size,
                           "folder": path.parent.name}
    if fmt == "torch":
        side = path.with_suffix(".json")
        facts = json.loads(side.read_text()) if side.is_file() else {}
        spec = facts.get("spec", {})
        row.update(task=spec.get("task"), precision="fp32", model=spec.get("name"))
        heads = (facts.get("model_kwargs") or {}).get("heads")
    else:
        from edgewise.runtime.artifact import read_metadata

        try:
            meta = read_metadata(path) or {}
        except Exception as e:  # a broken shipped file should show up in the list, not hide it
            meta = {"error": str(e)}
        row.update(task=meta.get("task"), precision=meta.get("precision", "?"), model=meta.get("name"),
                   error=meta.get("error"))
        heads = meta.get("heads")
    if isinstance(heads, int) and heads > 1:  # a multi-head (Hydra) model: its uncertainty comes with it
        row["heads"] = heads
    return row


def shipped_artifacts(task: str | None = None) -> list[dict[str, Any]]:
    """Every shipped checkpoint/artifact, with task, format, precision, size and path."""
    rows = [_describe(p) for p in sorted(PRETRAINED_DIR.rglob("*")) if p.suffix in _FORMATS and p.is_file()]
    return [r for r in rows if task is None or r.get("task") == task]


def default_model(folder: str, prefer: tuple[str, ...] = ("onnx", "torch", "tflite")) -> Path:
    """The shipped model of a task folder (``"ecg"``, ``"mosquito"``): its fp32 ONNX if shipped, else the checkpoint.

    Falls back to the torch checkpoint only where onnxruntime cannot be imported.
    """
    rows = [r for r in shipped_artifacts() if r["folder"] == folder and r.get("precision") in ("fp32", None)]
    for fmt in prefer:
        for r in rows:
            if r["format"] == fmt and not r.get("error"):
                return Path(r["path"])
    raise FileNotFoundError(f"no shipped {folder} model in {PRETRAINED_DIR / folder}; train one with "
                            f"`edgewise train {folder} --out DIR` and pass --model")
