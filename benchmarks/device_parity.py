"""Held-out LUDB lead II F1 of the shipped ECG model: torch (host) vs its ONNX and TFLite artifacts run by
``edgewise.runtime`` in the bare device venv (numpy + onnxruntime + ai-edge-litert, no torch/tensorflow/onnx).

    .venv/bin/python benchmarks/device_parity.py        (after `make test` created .venv-bare)
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "edgewise" / "models" / "pretrained" / "ecg"
DEVICE_CODE = """
import json, sys
for m in ('torch', 'tensorflow', 'onnx', 'wfdb', 'scipy'):
    sys.modules[m] = None
from edgewise.runtime.ecg.selftest import selftest
model, data, ids = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
s = selftest(model, data, ids)
print(json.dumps({k: s.wave_f1(k) for k in ('P', 'QRS', 'T')}))
"""


def main() -> None:
    from edgewise.data.paths import default_dataset_dir
    from edgewise.models.ecg.dataset import load_records
    from edgewise.models.ecg.evaluate import evaluate_records
    from edgewise.models.ecg.workflow import heldout_records, load_model_fn

    data = default_dataset_dir("ludb")
    fn, info, training = load_model_fn(SHIPPED / "ecg-unet.pt")
    ids = heldout_records(data, training)
    s = evaluate_records(load_records(data, ids), fn, leads=("ii",), window=info.window, hop=info.hop,
                         post=info.post)["ii"]
    rows = [("torch (host, .venv)", {k: s.wave_f1(k) for k in ("P", "QRS", "T")})]
    bare = REPO / ".venv-bare" / "bin" / "python"
    py = str(bare) if bare.exists() else sys.executable
    for fmt in ("onnx", "tflite"):
        out = subprocess.run([py, "-c", DEVICE_CODE, str(SHIPPED / f"ecg-unet.{fmt}"), str(data), json.dumps(ids)],
                             capture_output=True, text=True, cwd="/", check=True)
        rows.append((f"{fmt} ({'bare device venv' if bare.exists() else 'host venv, host stack blocked'})",
                     json.loads(out.stdout.strip().splitlines()[-1])))
    print(f"held-out LUDB lead II, {len(ids)} records\n")
    print(f"{'model':40} {'P F1':>8} {'QRS F1':>8} {'T F1':>8} {'max |Δ| vs torch':>17}")
    ref = rows[0][1]
    for name, f in rows:
        d = max(abs(f[k] - ref[k]) for k in f)
        print(f"{name:40} {f['P']:8.4f} {f['QRS']:8.4f} {f['T']:8.4f} {d:17.5f}")


if __name__ == "__main__":
    main()
