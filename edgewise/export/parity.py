"""Parity: an exported artifact must compute what the torch model computes.

Each artifact is loaded through ``edgewise.runtime.backends`` — the code the device runs — and fed the
same representative inputs as the torch model. Every output is compared (max abs error against the
tolerance; max rel error = max abs error / max |reference|, reported for scale), and optionally the
post-processed results (e.g. ECG wave lists) must be identical. All failures of all artifacts are
collected into one ``ExportMismatchError``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgewise._quiet import quiet
from edgewise.runtime.errors import ExportMismatchError

PostProcess = Callable[[np.ndarray], Sequence[Any]]


def _compare(name: str, got: np.ndarray, want: np.ndarray, atol: float) -> dict[str, Any]:
    if got.shape != want.shape:
        return {"name": name, "max_abs": float("inf"), "max_rel": float("inf"), "atol": atol, "ok": False,
                "note": f"shape {got.shape} != torch {want.shape}"}
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.abs(want).max()) if want.size else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    ok = bool(np.isfinite(got).all()) and max_abs <= atol
    return {"name": name, "max_abs": max_abs, "max_rel": max_rel, "atol": atol, "ok": ok}


def _postprocess_check(post: PostProcess, got: np.ndarray, want: np.ndarray) -> dict[str, Any]:
    a, b = list(post(got)), list(post(want))
    mismatched = [i for i, (x, y) in enumerate(zip(a, b)) if x != y] + list(range(min(len(a), len(b)), max(len(a), len(b))))
    return {"name": "postprocessed", "examples": len(b), "mismatched": len(mismatched),
            "first_mismatched": mismatched[:5], "ok": not mismatched}


def check_parity(model: Any, artifacts: Sequence[str | Path], inputs: np.ndarray, *, atol: float,
                 postprocess: PostProcess | None = None, inputs_source: str = "given",
                 raise_on_failure: bool = True) -> dict[str, Any]:
    """Compare each artifact with the torch model on ``inputs``.

    Args:
        model: torch module in eval mode.
        artifacts: .onnx/.tflite files carrying edgewise metadata.
        inputs: float32 ``[batch, *input_shape]`` in the model's layout (representative real windows).
        atol: max abs difference allowed on every output (fp32: the spec's ``export_atol``).
        postprocess: maps the first output ``[batch, ...]`` to one comparable result per example
            (e.g. wave lists); artifact and torch results must be identical.
        inputs_source: a short note on where ``inputs`` came from, kept in the record.
        raise_on_failure: raise ``ExportMismatchError`` when anything fails (else only record it).

    Returns:
        ``{"atol", "inputs", "ok", "artifacts": {file name: {"backend", "outputs": [...], "ok"}}}``.

    Raises:
        ExportMismatchError: listing every failing output of every artifact with its max abs/rel error.
    """
    from edgewise.export.onnx import torch_outputs
    from edgewise.runtime.backends import load_model

    inputs = np.ascontiguousarray(inputs, dtype=np.float32)
    ref = torch_outputs(model, inputs)
    record: dict[str, Any] = {"atol": atol, "ok": True, "artifacts": {},
                              "inputs": {"shape": list(inputs.shape), "source": inputs_source}}
    failures: list[dict[str, Any]] = []
    for path in map(Path, artifacts):
        with quiet("the runtime"):  # onnxruntime's / LiteRT's C++ logs while the file is opened
            rt = load_model(path, warmup=0)
        got = rt.run(inputs)
        got = got if isinstance(got, dict) else {rt.output_names[0]: got}
        checks = [_compare(n, got[n], w, atol) if n in got else
                  {"name": n, "max_abs": float("inf"), "max_rel": float("inf"), "atol": atol, "ok": False,
                   "note": f"missing from the artifact (it has {sorted(got)})"} for n, w in ref.items()]
        first = next(iter(ref))
        if postprocess is not None and first in got:
            checks.append(_postprocess_check(postprocess, got[first], ref[first]))
        ok = all(c["ok"] for c in checks)
        record["artifacts"][path.name] = {"format": rt.format, "backend": rt.backend, "outputs": checks, "ok": ok}
        failures += [{"artifact": path.name, **c} for c in checks if not c["ok"]]
    record["ok"] = not failures
    record["failures"] = failures
    if raise_on_failure:
        raise_for(record)
    return record


def raise_for(record: dict[str, Any]) -> None:
    """Raise the one ``ExportMismatchError`` listing every failure in a parity record (if any)."""
    failures = record.get("failures") or []
    if failures:
        err = ExportMismatchError(_message(failures, record["inputs"]["shape"][0]), failures)
        err.record = record  # type: ignore[attr-defined]
        raise err


def _message(failures: list[dict[str, Any]], n: int) -> str:
    parts = []
    for f in failures:
        if f["name"] == "postprocessed":
            parts.append(f"{f['artifact']}: post-processed results differ from torch on {f['mismatched']} of "
                         f"{f['examples']} inputs (first: {f['first_mismatched']})")
        else:
            note = f", {f['note']}" if f.get("note") else ""
            parts.append(f"{f['artifact']}: output {f['name']!r} max abs error {f['max_abs']:.3g} > {f['atol']:.3g} "
                         f"(max rel {f['max_rel']:.3g}{note})")
    return (f"exported artifacts do not compute what the torch model computes on {n} inputs: "
            + "; ".join(parts))
