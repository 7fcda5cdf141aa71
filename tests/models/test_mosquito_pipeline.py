"""`edgewise pipeline mosquito`: report with metric table and spectrogram; SYNTHETIC fallback says so."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")


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
