"""Pipeline stage: export the ECG checkpoint to ONNX + TFLite, check parity on real windows, report sizes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgewise.reporting import Report


def ecg_postprocess(scores: np.ndarray) -> list:
    """Per-window scores [b, 4, w] -> one wave list per window (parity: identical wave lists)."""
    from edgewise.runtime.ecg.postprocess import probabilities_to_waves

    return [tuple(probabilities_to_waves(s, 500)) for s in np.asarray(scores)]


def export_stage(ck: Any, rep: Report, out: Path, *, records: list, data_dir: Path | None) -> list:
    from edgewise.export import export_checkpoint
    from edgewise.pipelines.ecg import real_windows

    rep.heading("3. Export (ONNX, TFLite) and parity")
    if records:
        x = real_windows(records, n=16, window=ck.spec.window)
        source = f"16 real windows of held-out LUDB records {sorted({r.record_id for r in records})}"
    else:
        from edgewise.data.synthetic_ecg import synthetic_ecg
        from edgewise.runtime.ecg.preprocess import standardize

        x = np.stack([standardize(synthetic_ecg(s)[0][None, : ck.spec.window]) for s in range(8)])
        source = "8 SYNTHETIC ECG windows (no LUDB folder)"
    arts = export_checkpoint(ck, to=("onnx", "tflite"), out=out, inputs=x, postprocess=ecg_postprocess)
    rows = []
    for a in arts:
        p = a.parity
        outs = [o for o in p.get("outputs", []) if "max_abs" in o]
        post = [o for o in p.get("outputs", []) if o.get("name") == "postprocessed"]
        rows.append([a.format, a.path.name, a.size_bytes, max((o["max_abs"] for o in outs), default=float("nan")),
                     p.get("atol"), "identical" if post and post[0]["ok"] else ("DIFFER" if post else "n/a"),
                     "yes" if p.get("ok") else "NO"])
    rep.text(f"Parity inputs: {source}. Each artifact is loaded through edgewise.runtime (the device code) and "
             "compared with torch: max abs error on logits, and identical wave lists after post-processing.")
    rep.table(["format", "file", "bytes", "max abs err", "atol", "wave lists", "parity"], rows)
    rep.data["export"] = [{"format": a.format, "path": str(a.path), "size_bytes": a.size_bytes, "parity": a.parity}
                          for a in arts]
    return arts
