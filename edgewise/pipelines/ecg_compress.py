"""Pipeline stage: compress the ECG checkpoint with the default recipe and report every artifact.

Paupamah, James & Klein, "Quantisation and Pruning for Neural Network Compression and Regularisation":
prune, fine-tune, quantise; here every artifact is measured (size, F1, latency, fidelity) before one is kept.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edgewise.reporting import Report


def compress_stage(ck: Any, rep: Report, out: Path, *, data_dir: Path | None, recipe: Path | None = None) -> Any:
    """Run the task's default recipe (or ``recipe``) on ``ck`` and add section "4. Compression" to ``rep``.

    With ``data_dir`` None, calibration and evaluation use SYNTHETIC ECG windows (said in the report)
    and pruning is not fine-tuned.

    Returns:
        The ``CompressionResult`` (also when a step missed its budget).
    """
    from edgewise.compress import compress_checkpoint, default_recipe
    from edgewise.compress.report import add_tables
    from edgewise.runtime.errors import BudgetError

    rep.heading("4. Compression")
    path = recipe or default_recipe(ck.spec.task.value)
    error = None
    try:
        res = compress_checkpoint(ck, path, out, data_dir=data_dir)
    except BudgetError as e:
        res, error = e.result, str(e)
    if data_dir is None:
        rep.text("No LUDB folder: calibration, budget checks and the F1 below use SYNTHETIC ECG windows "
                 "(edgewise.data.synthetic_ecg) and pruning is not fine-tuned; these numbers say nothing about real ECG.")
    rep.text(f"Recipe {Path(path).name} ({res.recipe}). Data: {res.data}. Calibration: "
             + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in res.calibration.items()))
    ref = next(r for r in res.rows if r.format == "onnx" and r.step == "original")
    add_tables(rep, res.rows, ref=ref, kept=res.kept, notes=res.notes)
    mixed = [r for r in res.rows if "mixed precision" in r.notes]
    for r in mixed:
        rep.text(f"{r.variant}: {r.notes}.")
    if error:
        rep.text(f"BUDGET MISSED: {error}")
    rep.data["compression"] = res.as_dict()
    return res
