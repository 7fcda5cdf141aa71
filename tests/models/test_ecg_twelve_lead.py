"""The 12-lead option end to end on a small LUDB subset: train (1 epoch), checkpoint, delineate all leads."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_twelve_lead_option(ludb_dir, tmp_path):
    from edgewise.models.checkpoint import load_checkpoint
    from edgewise.models.ecg.workflow import train_ecg

    sub = tmp_path / "ludb" / "data"
    sub.mkdir(parents=True)
    for rec in range(1, 16):
        for p in (ludb_dir / "data").glob(f"{rec}.*"):
            (sub / p.name).symlink_to(p)
    ckpt = train_ecg(tmp_path / "out", data_dir=tmp_path / "ludb", epochs=1, widths=(4, 4, 8, 8, 8),
                     twelve_lead=True, progress=False, log=lambda m: None)
    ck = load_checkpoint(ckpt)
    assert ck.spec.name == "ecg-unet-12lead" and ck.model.down[0][0].in_channels == 12
    assert set(ck.training["test_records"]) <= set(range(1, 16))
    out = subprocess.run([sys.executable, "-m", "edgewise", "delineate", str(sub / "1"), "--model", str(ckpt), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    obj = json.loads(out.stdout)
    assert obj["lead"] == "all" and obj["fs"] == 500
