"""Acceptance: the shipped ECG model's fp32 ONNX and TFLite, run by edgewise.runtime where torch,
tensorflow and onnx cannot be imported, give the same held-out LUDB lead II F1 as torch (within 0.001).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "edgewise" / "models" / "pretrained" / "ecg" / "ecg-unet.pt"

# Runs in a fresh interpreter with the host stack blocked: only numpy + a runtime + edgewise.runtime.
F1_SCRIPT = """
import json, sys
for m in ("torch", "tensorflow", "onnx", "onnx2tf", "keras"):
    sys.modules[m] = None
from pathlib import Path
from edgewise.data.ludb import parse_annotation
from edgewise.runtime.ecg.delineate import delineate
from edgewise.runtime.ecg.io import read_mit_annotation, read_wfdb_signal
from edgewise.runtime.ecg.metrics import DelineationScore, score_waves
from edgewise.runtime.ecg.model import load_artifact_fn

model, root, ids = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
fn, info = load_artifact_fn(model)
total = DelineationScore()
for r in ids:
    sig = read_wfdb_signal(root / str(r))
    x = sig.signal[[n.lower() for n in sig.leads].index("ii")]
    sym, samp = read_mit_annotation(root / f"{r}.ii")
    on = [s for s, y in zip(samp, sym) if y == "("]
    off = [s for s, y in zip(samp, sym) if y == ")"]
    res = delineate(x, sig.fs, fn, window=info.window, hop=info.hop, post=info.post)
    total.add(score_waves(parse_annotation(sym, samp), res.waves, sig.fs, span=(int(min(on)), int(max(off)))))
print(json.dumps({k: total.wave_f1(k) for k in ("P", "QRS", "T")}))
"""


def _torch_f1(model, root: Path, ids: list[int], window: int, hop: int | None, post) -> dict[str, float]:
    from edgewise.data.ludb import parse_annotation
    from edgewise.models.ecg.evaluate import torch_model_fn
    from edgewise.runtime.ecg.delineate import delineate
    from edgewise.runtime.ecg.io import read_mit_annotation, read_wfdb_signal
    from edgewise.runtime.ecg.metrics import DelineationScore, score_waves

    fn = torch_model_fn(model, 1)
    total = DelineationScore()
    for r in ids:
        sig = read_wfdb_signal(root / str(r))
        x = sig.signal[[n.lower() for n in sig.leads].index("ii")]
        sym, samp = read_mit_annotation(root / f"{r}.ii")
        on = [s for s, y in zip(samp, sym) if y == "("]
        off = [s for s, y in zip(samp, sym) if y == ")"]
        res = delineate(x, sig.fs, fn, window=window, hop=hop, post=post)
        total.add(score_waves(parse_annotation(sym, samp), res.waves, sig.fs, span=(int(min(on)), int(max(off)))))
    return {k: total.wave_f1(k) for k in ("P", "QRS", "T")}


@pytest.mark.slow
def test_shipped_ecg_artifacts_match_torch_f1(tmp_path, ludb_dir):
    if not SHIPPED.is_file():
        pytest.skip(f"no shipped ECG checkpoint at {SHIPPED} yet (train it: edgewise train ecg)")
    from edgewise.data.ludb import data_folder, list_records
    from edgewise.export import export_checkpoint, resolve_checkpoint

    ckpt = resolve_checkpoint(SHIPPED)
    arts = {a.format: a.path for a in export_checkpoint(ckpt, to=("onnx", "tflite"), out=tmp_path)}
    present = list_records(ludb_dir)
    seen = set(ckpt.training.get("train_records", [])) | set(ckpt.training.get("val_records", []))
    ids = [i for i in ckpt.training.get("test_records", []) if i in present] or [i for i in present if i not in seen]
    assert ids, "no held-out LUDB records for the shipped model"
    root = data_folder(ludb_dir)
    from edgewise.runtime.ecg.postprocess import post_config

    # the stream hop, as the artifacts use; the checkpoint's post-processing, which its exports carry
    want = _torch_f1(ckpt.model, root, ids, ckpt.spec.window, None, post_config(ckpt.training))
    for fmt, path in arts.items():
        out = subprocess.run([sys.executable, "-c", F1_SCRIPT, str(path), str(root), json.dumps(ids)],
                             capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        got = json.loads(out.stdout.strip().splitlines()[-1])
        for kind in ("P", "QRS", "T"):
            assert abs(got[kind] - want[kind]) <= 1e-3, (fmt, kind, got, want)
