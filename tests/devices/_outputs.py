"""Run one artifact on one input and print its raw model outputs and its waves/events as one JSON line.

The same file runs on the host and on the emulated device (numpy + edgewise.runtime only), so the two
sides differ in nothing but the machine:
    python _outputs.py ecg ARTIFACT RECORD        # a WFDB record (lead ii): raw outputs + delineated waves
    python _outputs.py mosquito ARTIFACT AUDIO.npy  # float32 mono at the model's rate: raw logits + events
The mosquito path is `edgewise detect`'s (edgewise.models.mosquito.api.detect_file), rebuilt from the
runtime parts, because `edgewise detect` imports torch, which the device install does not have; the host
test checks it gives `edgewise detect`'s events.
"""
from __future__ import annotations

import base64
import json
import sys

import numpy as np


def _b64(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode()}


def ecg(artifact: str, record: str) -> dict:
    from edgewise.runtime.ecg.delineate import delineate
    from edgewise.runtime.ecg.io import read_ecg_input
    from edgewise.runtime.ecg.model import load_artifact_fn

    fn, info = load_artifact_fn(artifact)
    raw = []

    def recorded(x):
        y = fn(x)
        raw.append(np.array(y, dtype=np.float32))
        return y

    inp = read_ecg_input(record)
    x = inp.signal[list(inp.leads).index("ii")]
    res = delineate(x, inp.fs, recorded, model_fs=info.sample_rate, window=info.window, hop=info.hop,
                    in_channels=info.in_channels, post=info.post)
    return {"raw": _b64(np.concatenate(raw, axis=0)), "waves": [w.to_dict() for w in res.waves]}


def mosquito(artifact: str, audio: str) -> dict:
    from edgewise.runtime.backends import load_model
    from edgewise.runtime.events import HysteresisConfig, merge_events, window_times
    from edgewise.runtime.features.logmel import LogMelConfig, log_mel

    model = load_model(artifact)
    meta = model.metadata
    sr, window, hop = int(meta["sample_rate"]), int(meta["window"]), int(meta["hop"])
    cfg = LogMelConfig.from_dict({k: v for k, v in meta["preprocessing"].items() if k in LogMelConfig.__dataclass_fields__})
    y = np.load(audio).astype(np.float32)
    # edgewise.data.audio.frame_windows (pad_tail): windows every hop, a tail > hop/2 gets a padded window
    n = y.size
    starts = np.array([0]) if n <= window else np.arange(0, n - window + 1, hop)
    if n > window and n - (starts[-1] + window) > hop // 2:
        starts = np.append(starts, starts[-1] + hop)
    w = np.zeros((starts.size, window), np.float32)
    for i, s in enumerate(starts):
        seg = y[s:s + window]
        w[i, :seg.size] = seg
    logits = np.asarray(model.run(log_mel(w, cfg)[:, None]), dtype=np.float64)
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z[:, 1]) / np.exp(z).sum(axis=1)
    times = window_times(len(p), window / sr, hop / sr, duration_s=max(n, 1) / sr)
    thr = float((meta.get("training") or {}).get("threshold", 0.5))
    events = merge_events(p, times, HysteresisConfig(on=thr, off=max(0.0, thr - 0.2), min_gap_s=1.0))
    return {"raw": _b64(logits), "p": [round(float(q), 4) for q in p], "events": [e.to_dict() for e in events]}


if __name__ == "__main__":
    kind, artifact, data = sys.argv[1:4]
    print(json.dumps((ecg if kind == "ecg" else mosquito)(artifact, data)))
