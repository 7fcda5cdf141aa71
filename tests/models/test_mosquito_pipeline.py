"""`edgewise pipeline mosquito`: report with metric table and spectrogram; SYNTHETIC fallback says so."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edgewise.data.paths import default_dataset_dir

pytest.importorskip("torch")
pytest.importorskip("matplotlib")
MOSQUITO_DATA = default_dataset_dir("mosquito")


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    from edgewise.models.checkpoint import save_checkpoint
    from edgewise.models.mosquito import DSCNN_SPEC
    from tests.models.test_mosquito import TINY, train_tiny

    model, log = train_tiny(steps=20)
    path = tmp_path_factory.mktemp("m") / "tiny.pt"
    save_checkpoint(path, spec=DSCNN_SPEC, model=model, model_kwargs=TINY, training={"threshold": 0.5, "seed": 0, **log})
    return path


def test_pipeline_without_data_is_loudly_synthetic(tmp_path, tiny_ckpt, monkeypatch):
    import edgewise.data.paths as paths
    from edgewise.pipelines.mosquito import run_pipeline

    monkeypatch.setattr(paths, "default_dataset_dir", lambda name: None)
    report = run_pipeline(tmp_path / "out", model_path=tiny_ckpt, export=False)
    md = report.read_text()
    assert "SYNTHETIC" in md.splitlines()[0] and "say NOTHING about real recordings" in md
    assert "| window ROC-AUC |" in md and "synthetic-0" in md
    pngs = sorted((tmp_path / "out").glob("detections_*.png"))
    assert len(pngs) >= 1 and all(p.stat().st_size > 10_000 and p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert 0.0 <= data["evaluation"]["clip_roc_auc"] <= 1.0 and data["evaluation"]["n_clips"]["mosquito"] == 10


def test_pipeline_rejects_a_folder_without_labels(tmp_path, tiny_ckpt):
    from edgewise.pipelines.mosquito import run_pipeline

    with pytest.raises(FileNotFoundError, match="labels.csv"):
        run_pipeline(tmp_path / "out", data_dir=tmp_path, model_path=tiny_ckpt, export=False)


def _clip(name, mosquito, p, source):
    from edgewise.models.mosquito.evaluate import ClipResult, hysteresis_for
    from edgewise.runtime.events import merge_events, window_times

    p = np.asarray(p, float)
    times = window_times(len(p), 2.0, 1.0, duration_s=len(p) + 1.0)
    return ClipResult(name=name, mosquito=mosquito, duration_s=len(p) + 1.0, p=p, times=times,
                      labels=np.full(len(p), float(mosquito)), events=merge_events(p, times, hysteresis_for(0.5)),
                      source=source, threshold=0.5)


def test_reliability_and_alarm_curve_on_known_clips():
    from edgewise.pipelines.mosquito_analysis import alarm_curve, reliability

    rng = np.random.default_rng(0)
    p = rng.uniform(size=20000)
    calibrated = reliability(p, rng.uniform(size=p.size) < p)
    assert calibrated["ece"] < 0.02 and sum(b["n"] for b in calibrated["bins"]) == p.size
    over = reliability(np.full(1000, 0.95), np.r_[np.ones(500), np.zeros(500)])
    assert over["ece"] == pytest.approx(0.45) and [b["bin"] for b in over["bins"]] == ["0.9-1.0"]
    clips = [_clip("m1", True, [0.2, 0.97, 0.4], "a"), _clip("m2", True, [0.6, 0.55], "a"),
             _clip("n1", False, [0.9, 0.1, 0.1, 0.92], "b"), _clip("n2", False, [0.3, 0.2], "c")]
    curve = {c["threshold"]: c for c in alarm_curve(clips, thresholds=(0.5, 0.95, 0.99))}
    hours = (5.0 + 3.0) / 3600  # the negatives' own lengths
    assert curve[0.5]["clip_recall"] == 1.0 and curve[0.5]["false_alarms_per_hour"] == pytest.approx(2 / hours)
    assert curve[0.95]["clip_recall"] == 0.5 and curve[0.95]["false_alarms_per_hour"] == 0.0
    assert curve[0.99]["clip_recall"] == 0.0


@pytest.mark.skipif(MOSQUITO_DATA is None, reason="needs ../shared/data/mosquito")
def test_pipeline_report_judges_held_out_clips_by_source(tmp_path):
    from edgewise.pipelines.mosquito import run_pipeline

    report = run_pipeline(tmp_path / "out", export=False)
    md = report.read_text()
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    held = data["held_out"]
    assert "abuzz_phone_species" in held["by_source"] and "urbansound8k_clips" in held["by_source"]
    assert all(s in md for s in ("by recording source", "worst false alarms", "worst misses", "reliability"))
    worst = held["false_alarms"]["by_clip"][0]
    assert worst["source"] and worst["name"].startswith(worst["source"] + "/")
    assert 0 <= held["reliability"]["ece"] <= 1 and len(held["alarm_curve"]) >= 10
    png = tmp_path / "out" / "held_out_curves.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 20_000
