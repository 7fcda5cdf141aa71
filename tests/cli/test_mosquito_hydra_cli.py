"""The mosquito side of issue 23 at the command line: `train mosquito --members`, `detect --json` with epistemic."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _edgewise(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgewise", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)


@pytest.fixture(scope="module")
def hydra_pt(tmp_path_factory) -> Path:
    """A 3-head mosquito Hydra checkpoint with random weights whose heads disagree, and a one-head DS-CNN."""
    import torch

    from edgewise.models.checkpoint import save_checkpoint
    from edgewise.models.mosquito.hydra import MOSQUITO_HYDRA_SPEC, HydraDSCNN
    from edgewise.models.mosquito.specs import DSCNN_SPEC

    folder = tmp_path_factory.mktemp("hydra")
    torch.manual_seed(0)
    net = HydraDSCNN(heads=3).eval()
    with torch.no_grad():
        for k, h in enumerate(net.heads):
            h.fc.bias.copy_(torch.tensor([0.0, 3.0 * (k - 1)]))
        net.in_mean.fill_(-60.0), net.in_std.fill_(20.0)
    save_checkpoint(folder / "hydra.pt", spec=MOSQUITO_HYDRA_SPEC, model=net, model_kwargs={"heads": 3},
                    training={"threshold": 0.5, "uncertainty_threshold": 0.05})
    save_checkpoint(folder / "one.pt", spec=DSCNN_SPEC, model=net.head_as_dscnn(0), training={"threshold": 0.5})
    return folder / "hydra.pt"


@pytest.fixture(scope="module")
def wav(tmp_path_factory) -> Path:
    sf = pytest.importorskip("soundfile")
    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    t = np.arange(16000 * 5) / 16000
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * 550 * t)).astype(np.float32), 16000)
    return path


def test_detect_json_reports_epistemic_per_window(hydra_pt, wav):
    res = _edgewise("detect", str(wav), "--model", str(hydra_pt), "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert len(out["windows"]) == 4 and all(w["epistemic"] > 0 and "unfamiliar" in w for w in out["windows"])
    assert out["uncertainty"]["threshold"] == 0.05 and out["uncertainty"]["suppress"] is False
    supp = json.loads(_edgewise("detect", str(wav), "--model", str(hydra_pt), "--json", "--suppress-unfamiliar",
                                "--uncertainty-threshold", "0").stdout)
    assert supp["events"] == [] and supp["uncertainty"]["unfamiliar_windows"] == 4
    assert [w["p"] for w in supp["windows"]] == [w["p"] for w in out["windows"]]
    # the clip score: the mean of the top-3 windows' mean-of-heads p, also when unfamiliar windows raise no event
    assert abs(out["p_clip"] - sum(sorted(w["p"] for w in out["windows"])[-3:]) / 3) <= 1e-4
    assert supp["p_clip"] == out["p_clip"]
    text = _edgewise("detect", str(wav), "--model", str(hydra_pt), "--uncertainty-threshold", "0")
    assert "4 unfamiliar window(s)" in text.stdout


def test_one_head_model_refuses_to_suppress(hydra_pt, wav):
    one = hydra_pt.with_name("one.pt")
    res = _edgewise("detect", str(wav), "--model", str(one), "--json")
    assert res.returncode == 0 and "epistemic" not in res.stdout and "uncertainty" not in json.loads(res.stdout)
    bad = _edgewise("detect", str(wav), "--model", str(one), "--suppress-unfamiliar")
    assert bad.returncode == 2 and "has one head" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow  # decodes the whole dataset (cached after the first run) and trains two members for 2 steps
def test_train_members_is_cached_and_resumable(mosquito_dir, tmp_path):
    args = ("train", "mosquito", "--members", "2", "--steps", "2", "--eval-every", "1", "--batch-size", "8",
            "--data", str(mosquito_dir), "--out", str(tmp_path))
    first = _edgewise(*args, "--only", "1")
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "member-1.pt").is_file() and not (tmp_path / "ensemble.json").exists()
    second = _edgewise(*args)
    assert second.returncode == 0, second.stderr
    assert "member 1: cached" in second.stderr and "member 0: cached" not in second.stderr
    man = json.loads((tmp_path / "ensemble.json").read_text())
    assert man["members"] == ["member-0.pt", "member-1.pt"] and man["task"] == "mosquito-detection"
    facts = [json.loads((tmp_path / f"member-{k}.json").read_text())["training"] for k in (0, 1)]
    assert [f["seed"] for f in facts] == [0, 1] and facts[0]["split_fingerprint"] == facts[1]["split_fingerprint"]
    assert facts[0]["ood_sources"] and 0 < facts[0]["threshold"] <= 1
    assert facts[0]["config"]["arch"] == "dscnn-robust" and facts[0]["config"]["p_decoy"] == 0.1  # the shipped recipe
    # another recipe (no decoys, channel augmentation) is another member
    plain = _edgewise(*args, "--p-decoy", "0", "--p-codec", "0.5", "--only", "0")
    assert plain.returncode == 0 and "member 0: cached" not in plain.stderr, plain.stderr
    config = json.loads((tmp_path / "member-0.json").read_text())["training"]["config"]
    assert config["p_decoy"] == 0.0 and config["p_codec"] == 0.5 and config["p_band"] == 0.0
    # two recipes in one folder are no ensemble: the manifest goes until member 1 is of member 0's recipe too
    assert not (tmp_path / "ensemble.json").exists() and "removed until every member matches" in plain.stderr
    both = _edgewise(*args, "--p-decoy", "0", "--p-codec", "0.5")
    assert both.returncode == 0 and "member 0: cached" in both.stderr and "member 1: cached" not in both.stderr
    assert json.loads((tmp_path / "ensemble.json").read_text())["config"]["p_codec"] == 0.5


def test_humbug_members_are_refused_before_any_work(tmp_path):
    res = _edgewise("train", "mosquito", "--members", "2", "--arch", "humbug", "--out", str(tmp_path / "m"))
    assert res.returncode == 2 and "the humbug baseline has no Hydra" in res.stderr
    assert not (tmp_path / "m").exists() and "Traceback" not in res.stderr


def test_source_bagged_members_leave_their_sources_out_and_are_retrained_when_bagging_changes(mosquito_dir, tmp_path):
    args = ("train", "mosquito", "--members", "2", "--steps", "2", "--eval-every", "1", "--batch-size", "8",
            "--data", str(mosquito_dir), "--out", str(tmp_path))
    plain = _edgewise(*args)
    assert plain.returncode == 0, plain.stderr
    bagged = _edgewise(*args, "--leave-sources-out")
    assert bagged.returncode == 0, bagged.stderr
    assert "cached" not in bagged.stderr  # the plain members are not the bagged ones
    facts = [json.loads((tmp_path / f"member-{k}.json").read_text())["training"] for k in (0, 1)]
    left = [set(f["left_out_sources"]) for f in facts]
    assert left[0] and left[1] and not left[0] & left[1]
    from edgewise.data.mosquito import read_recordings

    positive = {r.set_name for r in read_recordings(mosquito_dir) if r.mosquito}
    assert (left[0] | left[1]) <= set(facts[0]["train_sources"]) - positive  # negative-only training sources
    assert json.loads((tmp_path / "ensemble.json").read_text())["leave_sources_out"] is True
    again = _edgewise(*args, "--leave-sources-out")
    assert "member 0: cached" in again.stderr and "member 1: cached" in again.stderr


def test_leave_sources_out_needs_members(tmp_path):
    res = _edgewise("train", "mosquito", "--leave-sources-out", "--out", str(tmp_path / "m.pt"))
    assert res.returncode == 2 and "add --members M" in res.stderr and "Traceback" not in res.stderr
