"""A recipe whose first step is distill: an ensemble folder in, a quantised Hydra out, heads intact
(a tiny ensemble on a few real LUDB records, so it runs in seconds; accuracy is not the point here)."""
from __future__ import annotations

import numpy as np
import pytest

from edgewise.compress.recipe import parse_recipe

TRAIN, VAL, TEST = [1, 2, 3], [4, 5], [6, 7]


@pytest.fixture(scope="module")
def ensemble(ludb_dir, tmp_path_factory):
    from edgewise.models.ecg.dataset import lead_examples, load_records
    from edgewise.models.ecg.train import TrainConfig
    from edgewise.models.ensemble.members import train_members

    out = tmp_path_factory.mktemp("ensemble")
    examples = lead_examples(load_records(ludb_dir, TRAIN))
    cfg = TrainConfig(epochs=1, batch=8, widths=(4, 6, 8, 10, 12), kernel=5, threads=1)
    facts = {"data": f"LUDB in {ludb_dir}", "train_records": TRAIN, "val_records": VAL, "test_records": TEST}
    train_members(examples, out, members=2, config=cfg, training=facts, progress=False, log=None)
    return out


def test_compress_distils_an_ensemble_into_a_quantised_hydra(ensemble, ludb_dir, tmp_path):
    from edgewise.compress import compress_checkpoint
    from edgewise.runtime.artifact import read_metadata
    from edgewise.runtime.backends import load_model

    recipe = parse_recipe({"name": "hydra-tiny", "eval_records": 2, "budget": {"max_f1_drop": 1.0},
                           "step": [{"kind": "distill", "phase1_epochs": 1, "phase2_epochs": 1, "init_member": 0},
                                    {"kind": "quantize", "formats": ["onnx"], "calibration_windows": 16,
                                     "auto_mixed_precision": 0}]})
    res = compress_checkpoint(ensemble, recipe, tmp_path / "out", data_dir=ludb_dir, log=lambda m: None)
    steps = {(r.variant, r.format, r.step) for r in res.rows}
    assert ("ensemble", "torch", "teacher") in steps
    assert ("ecg-unet-hydra", "onnx", "original") in steps
    assert not res.missed
    int8 = [r for r in res.rows if r.format == "onnx" and r.precision == "int8"]
    assert int8 and "onnxruntime" in res.kept  # (the faster file within budget is kept: for a tiny net, fp32)
    kept = int8[0]
    meta = read_metadata(kept.path)
    assert meta["heads"] == 2 and meta["name"] == "ecg-unet-hydra"
    out = np.asarray(load_model(kept.path, threads=1).run(np.zeros((1, 1, 2048), np.float32)))
    assert out.shape == (1, 2, 4, 2048)
    assert (tmp_path / "out" / "distill" / "hydra.pt").is_file()


def test_a_distill_recipe_needs_an_ensemble_and_real_data(tmp_path):
    from edgewise.compress import compress_checkpoint

    recipe = parse_recipe({"step": [{"kind": "distill"}]})
    with pytest.raises(ValueError, match="not a folder with ensemble.json"):
        compress_checkpoint(tmp_path, recipe, tmp_path / "out", data_dir=None)
    (tmp_path / "ensemble.json").write_text('{"members": []}')
    with pytest.raises(ValueError, match="pass --data"):
        compress_checkpoint(tmp_path, recipe, tmp_path / "out", data_dir=None)


def test_cli_compress_takes_the_ensemble_folder(ensemble, ludb_dir, tmp_path):
    import json
    import subprocess
    import sys

    rec = tmp_path / "hydra.toml"
    rec.write_text('name = "hydra-cli"\neval_records = 2\n[budget]\nmax_f1_drop = 1.0\n'
                   '[[step]]\nkind = "distill"\nphase1_epochs = 1\nphase2_epochs = 1\n')
    res = subprocess.run([sys.executable, "-m", "edgewise", "compress", str(ensemble), "--recipe", str(rec),
                          "--out", str(tmp_path / "out"), "--data", str(ludb_dir), "--json"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert {r["variant"] for r in got["rows"]} == {"ensemble", "ecg-unet-hydra"}
    bad = subprocess.run([sys.executable, "-m", "edgewise", "compress", str(tmp_path), "--recipe", str(rec)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "not a folder with ensemble.json" in bad.stderr
    assert "Traceback" not in bad.stderr
