"""Representative inputs for the parity check, per task: real windows when the data is at hand.

A per-task dispatch table; a task without an entry (or without its data on this machine) gets seeded
Gaussian inputs, and the parity record says so.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np


def ecg_windows(spec: Any, training: dict[str, Any], *, n_records: int = 3,
                data_dir: Path | None = None) -> tuple[np.ndarray, str] | None:
    """Up to ``n_records`` LUDB records cut into model windows, standardised as the device does.

    Prefers the checkpoint's test records, then records it never trained on. Returns None without LUDB.

    Returns:
        ``(float32 [windows, leads, window], source note)`` or None.
    """
    from edgewise.data.paths import default_dataset_dir

    root = data_dir or default_dataset_dir("ludb")
    if root is None:
        return None
    from edgewise.data.ludb import list_records, read_record
    from edgewise.runtime.ecg.preprocess import standardized_window
    from edgewise.runtime.ecg.stitch import window_starts

    present = list_records(root)
    seen = set(training.get("train_records", [])) | set(training.get("val_records", []))
    ids = [i for i in training.get("test_records", []) if i in present] or [i for i in present if i not in seen]
    ids = (ids or present)[:n_records]
    leads = spec.input_shape[0]
    wins = []
    for rid in ids:
        rec = read_record(root, rid)
        x = rec.signal if leads == len(rec.leads) else rec.lead("ii")[None]
        if x.shape[0] != leads:
            return None
        wins += [standardized_window(x[:, s:s + spec.window], spec.window)
                 for s in window_starts(x.shape[1], spec.window, spec.hop)]
    if not wins:
        return None
    note = f"real: {len(wins)} windows of LUDB records {ids} ({'12 leads' if leads == 12 else 'lead II'})"
    return np.stack(wins).astype(np.float32), note


_BY_TASK: dict[str, Callable[..., tuple[np.ndarray, str] | None]] = {"ecg-delineation": ecg_windows}


def task_inputs(spec: Any, training: dict[str, Any]) -> tuple[np.ndarray, str] | None:
    """Real representative inputs for the spec's task, or None when there is no reader or no data."""
    fn = _BY_TASK.get(spec.task.value)
    if fn is None:
        return None
    try:
        out = fn(spec, training)
    except (OSError, ImportError, ValueError):  # unreadable data must not block an export
        return None
    if out is None or tuple(out[0].shape[1:]) != tuple(spec.input_shape):
        return None
    return out
