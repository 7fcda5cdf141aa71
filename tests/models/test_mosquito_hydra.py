"""The mosquito Hydra (issue 23): the net, its budget, its checkpoint and artifacts, and the window-level scoring."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgewise.models.mosquito.hydra import MOSQUITO_HYDRA_SPEC, HydraDSCNN, count_macs
from edgewise.models.mosquito.nets import DSCNN

X = torch.randn(4, 1, 64, 63, generator=torch.Generator().manual_seed(0))


def _trained_looking(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights and batch-norm statistics (a fresh net's are all alike), eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return net.eval()


def test_from_dscnn_starts_every_head_as_the_student():
    net = _trained_looking(DSCNN(), 1)
    net.in_mean.fill_(-40.0), net.in_std.fill_(12.0), net.temperature.fill_(1.7)
    hydra = HydraDSCNN.from_dscnn(net, heads=3).eval()
    out = hydra(X)
    assert out.shape == (4, 3, 2)
    for k in range(3):
        torch.testing.assert_close(out[:, k], net(X), rtol=0, atol=1e-6)
        torch.testing.assert_close(hydra.head_as_dscnn(k)(X), net(X), rtol=0, atol=1e-6)


def test_a_window_normalised_student_keeps_its_normalisation_in_every_head():
    net = _trained_looking(DSCNN(window_norm=True), 2)
    net.in_std.fill_(12.0)
    hydra = HydraDSCNN.from_dscnn(net, heads=2).eval()
    assert hydra.window_norm and hydra.head_as_dscnn(1).window_norm
    torch.testing.assert_close(hydra(X)[:, 1], net(X), rtol=0, atol=1e-6)
    torch.testing.assert_close(hydra.head_as_dscnn(0)(X + 10.0), net(X), rtol=0, atol=1e-5)


def test_heads_are_independent():
    hydra = _trained_looking(HydraDSCNN(heads=4), 2)
    with torch.no_grad():
        hydra.heads[2].fc.bias.add_(5.0)
    out = hydra(X)
    torch.testing.assert_close(out[:, 2, 0] - out[:, 1, 0], out[:, 2, 0] - out[:, 1, 0])
    assert not torch.allclose(out[:, 2], out[:, 1]) and torch.allclose(out[:, 0], hydra.head_as_dscnn(0)(X), atol=1e-6)


def test_macs_budget_and_closed_form():
    m1 = count_macs(DSCNN())
    # stem 3x3 stride 2 to 32x32 and four separable blocks at 32x32, 16x16, 8x8, 4x4, plus the classifier
    want = (32 * 32 * 24 * 9 + 32 * 32 * (24 * 9 + 24 * 48) + 16 * 16 * (48 * 9 + 48 * 64)
            + 8 * 8 * (64 * 9 + 64 * 96) + 4 * 4 * (96 * 9 + 96 * 96) + 96 * 2)
    assert m1 == want
    five = count_macs(HydraDSCNN(heads=5))
    assert five == m1 + 4 * (4 * 4 * (96 * 9 + 96 * 96) + 96 * 2)
    assert five <= 1.3 * m1  # issue 23: Hydra MACs <= 1.3x one member


@pytest.mark.parametrize("kw,msg", [({"heads": 0}, "heads must be >= 1"), ({"head_blocks": 0}, "head_blocks must be in"),
                                    ({"head_blocks": 5}, "head_blocks must be in")], ids=["heads", "blocks0", "blocks5"])
def test_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        HydraDSCNN(**kw)


def test_checkpoint_round_trip_through_the_spec_registry(tmp_path):
    from edgewise.models.checkpoint import load_checkpoint, save_checkpoint

    hydra = _trained_looking(HydraDSCNN(heads=3, head_blocks=2), 3)
    save_checkpoint(tmp_path / "h.pt", spec=MOSQUITO_HYDRA_SPEC, model=hydra,
                    model_kwargs={"heads": 3, "head_blocks": 2}, training={"threshold": 0.9})
    ck = load_checkpoint(tmp_path / "h.pt")
    assert ck.spec.name == "mosquito-dscnn-hydra" and ck.spec.task.value == "mosquito-detection"
    torch.testing.assert_close(ck.model(X), hydra(X))


def test_robust_members_get_the_robust_hydra_which_survives_a_checkpoint(tmp_path):
    from edgewise.models.checkpoint import load_checkpoint, save_checkpoint
    from edgewise.models.mosquito.hydra import MOSQUITO_ROBUST_HYDRA_SPEC, hydra_spec_for
    from edgewise.models.mosquito.specs import DSCNN_ROBUST_SPEC, HUMBUG_SPEC

    assert hydra_spec_for(DSCNN_ROBUST_SPEC) is MOSQUITO_ROBUST_HYDRA_SPEC and hydra_spec_for("mosquito-dscnn") is MOSQUITO_HYDRA_SPEC
    # the student reads exactly its members' input: front end (bands to 3.4 kHz, top_db) and shape
    assert MOSQUITO_ROBUST_HYDRA_SPEC.preprocessing == DSCNN_ROBUST_SPEC.preprocessing
    assert MOSQUITO_ROBUST_HYDRA_SPEC.input_shape == DSCNN_ROBUST_SPEC.input_shape
    with pytest.raises(ValueError, match="no Hydra student"):
        hydra_spec_for(HUMBUG_SPEC)
    net = _trained_looking(DSCNN(window_norm=True), 4)
    net.in_std.fill_(12.0)
    hydra = HydraDSCNN.from_dscnn(net, heads=3).eval()
    save_checkpoint(tmp_path / "h.pt", spec=hydra_spec_for(DSCNN_ROBUST_SPEC), model=hydra,
                    model_kwargs={"heads": 3, "head_blocks": 1}, training={"threshold": 0.9})
    ck = load_checkpoint(tmp_path / "h.pt")
    # rebuilt from the registry, the loaded Hydra still removes each window's level (a plain Hydra would not)
    assert ck.spec.name == "mosquito-dscnn-robust-hydra" and ck.model.window_norm
    torch.testing.assert_close(ck.model(X + 10.0), hydra(X), rtol=0, atol=1e-5)


def test_exported_hydra_keeps_its_heads_on_the_device_runtime(tmp_path):
    """fp32 ONNX through the runtime detector: [n, heads, 2], metadata heads, epistemic per window = torch's."""
    pytest.importorskip("onnxruntime")
    from edgewise.export.onnx import export_onnx
    from edgewise.runtime.mosquito import MosquitoDetector
    from edgewise.runtime.uncertainty import decompose

    hydra = _trained_looking(HydraDSCNN(heads=3), 4)
    hydra.in_mean.fill_(-30.0), hydra.in_std.fill_(15.0)
    meta = {**MOSQUITO_HYDRA_SPEC.to_metadata(), "heads": 3, "uncertainty_threshold": 0.01,
            "training": {"threshold": 0.6}}
    path = export_onnx(hydra, tmp_path / "h.onnx", input_shape=(1, 64, 63), opset=17, metadata=meta)
    det = MosquitoDetector.open(path)
    assert det.heads == 3 and det.uncertainty_threshold == 0.01
    y = np.random.default_rng(0).standard_normal(8000 * 5).astype(np.float32) * 0.1
    p, epi, times, _ = det.window_uncertainty(y)
    w = np.stack([y[s:s + 16000] for s in (0, 8000, 16000, 24000)])
    with torch.no_grad():
        z = hydra(torch.from_numpy(det.features(w))).numpy()
    probs = torch.softmax(torch.from_numpy(z), dim=-1).numpy()
    np.testing.assert_allclose(p[:4], probs[..., 1].mean(axis=1), atol=1e-5)
    np.testing.assert_allclose(epi[:4], decompose(probs, head_axis=1, class_axis=2).epistemic, atol=1e-5)
    rep = det.detect(y, 8000)
    assert all("epistemic" in w and "unfamiliar" in w for w in rep["windows"])
    assert rep["uncertainty"]["threshold"] == 0.01
    supp = det.detect(y, 8000, suppress=True, uncertainty_threshold=0.0)
    assert supp["events"] == [] and supp["uncertainty"]["unfamiliar_windows"] == sum(e > 0 for e in epi)


def test_fit_heads_temperature_recovers_the_generating_temperature():
    from edgewise.models.mosquito.loop import fit_heads_temperature

    rng = np.random.default_rng(0)
    z = rng.normal(size=(20000, 1, 2)) * 4
    true_t = 2.5
    p1 = 1 / (1 + np.exp(-(z[:, 0, 1] - z[:, 0, 0]) / true_t))
    y = (rng.random(20000) < p1).astype(int)
    assert abs(fit_heads_temperature(z, y) - true_t) < 0.15
    assert fit_heads_temperature(z, np.zeros(20000, int)) == 1.0  # one class: nothing to fit


# -- window-level scoring (edgewise.models.mosquito.heads_eval) ----------------------------------------
def _part(labels, clips, mosquito, durations):
    from edgewise.models.mosquito.heads_eval import Part

    n = len(labels)
    clip = np.asarray(clips)
    times = np.zeros((n, 2))
    for c in set(clips):
        idx = np.flatnonzero(clip == c)
        times[idx, 0] = np.arange(len(idx)) * 3.0  # 3 s apart: no two windows merge into one event
        times[idx, 1] = times[idx, 0] + 2.0
    return Part(x=np.zeros((n, 1, 2, 2), np.float32), labels=np.asarray(labels, float), times=times, clip=clip,
                names=[f"c{i}" for i in range(len(mosquito))], sources=["s"] * len(mosquito),
                mosquito=np.asarray(mosquito, bool), duration_s=np.asarray(durations, float))


def test_nll_and_ece_closed_forms():
    from edgewise.models.mosquito.heads_eval import ece, nll

    p = np.array([0.9, 0.9, 0.2, 0.6, 0.5])
    y = np.array([1, 0, 0, 1, np.nan])
    assert nll(p, y) == pytest.approx(-(np.log(0.9) + np.log(0.1) + np.log(0.8) + np.log(0.6)) / 4)
    # bins of confidence: 0.9 (two windows, one right), 0.8 (right), 0.6 (right)
    assert ece(p, y) == pytest.approx(0.5 * abs(0.5 - 0.9) + 0.25 * abs(1 - 0.8) + 0.25 * abs(1 - 0.6))


def test_alarms_suppression_and_matched_recall():
    from edgewise.models.mosquito.heads_eval import alarms, choose_uncertainty_threshold, fa_at_recall

    # clip 0 mosquito (2 windows), clip 1 negative 3600 s with two separate alarms, the first unfamiliar
    part = _part([1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1], [True, False], [4.0, 3600.0])
    p = np.array([0.95, 0.3, 0.99, 0.1, 0.97, 0.1])
    epi = np.array([0.01, 0.0, 0.4, 0.0, 0.02, 0.0])
    a = alarms(part, p, 0.9)
    assert (a["clip_recall"], a["false_alarms"], a["window_recall"]) == (1.0, 2, 0.5)
    assert a["false_alarms_per_hour"] == pytest.approx(2.0)
    s = alarms(part, p, 0.9, epistemic=epi, tau=0.1)
    assert (s["clip_recall"], s["false_alarms"], s["suppressed_windows"]) == (1.0, 1, 1)
    # the 0.2 and 0.5 quantiles (0, 0.005) would suppress the detected mosquito window (0.01); 0.9 (0.21) does not
    choice = choose_uncertainty_threshold(part, p, epi, 0.9, keep=1.0, quantiles=np.array([0.2, 0.5, 0.9]))
    assert choice["tau"] == pytest.approx(np.quantile(epi, 0.9)) and choice["val_window_recall_kept"] == 1.0
    assert choice["val_false_alarms_per_hour"][1] < choice["val_false_alarms_per_hour"][0]
    m0, m1 = fa_at_recall(part, p, 1.0), fa_at_recall(part, p, 1.0, epistemic=epi, tau=0.1)
    assert m1["false_alarms_per_hour"] < m0["false_alarms_per_hour"] and m1["clip_recall"] == 1.0


def test_uncertainty_of_one_head_is_zero_and_of_disagreeing_heads_positive():
    from edgewise.models.mosquito.heads_eval import uncertainty

    one = uncertainty(np.array([[0.9], [0.2]]))
    np.testing.assert_allclose(one["epistemic"], 0.0, atol=1e-7)
    two = uncertainty(np.array([[0.01, 0.99], [0.5, 0.5]]))
    assert two["epistemic"][0] > 0.5 and two["epistemic"][1] == pytest.approx(0.0, abs=1e-7)
    np.testing.assert_allclose(two["p"], [0.5, 0.5])


def test_ensemble_split_by_source_with_a_holdout(mosquito_dir):
    from edgewise.data.mosquito import ClipLabel, read_recordings
    from edgewise.models.ensemble.mosquito import ensemble_split, ood_sources
    from edgewise.models.mosquito.sources import FIXED_TEST, FIXED_VAL

    recs = [r for r in read_recordings(mosquito_dir) if r.label is not ClipLabel.UNKNOWN]
    a, b = ensemble_split(recs), ensemble_split(recs)
    assert a.fingerprint() == b.fingerprint()
    parts = {k: {r.rel for r in v} for k, v in a.items()}
    assert sum(len(v) for v in parts.values()) == len({r.rel for r in recs if r.set_name in
                                                      set(a.fold.train) | set(a.fold.val) | set(a.fold.test)})
    for x in parts:
        for y in parts:
            assert x == y or not parts[x] & parts[y]
    train_src = {r.set_name for r in a["train"]}
    assert {r.set_name for r in a["id_holdout"]} <= train_src and not train_src & (set(FIXED_TEST) | set(FIXED_VAL))
    assert 0.05 < len(parts["id_holdout"]) / (len(parts["id_holdout"]) + len(parts["train"])) < 0.15
    assert any(r.mosquito for r in a["id_holdout"]) and any(not r.mosquito for r in a["id_holdout"])
    oods = ood_sources(a)
    assert oods and not {r.set_name for r in a["test"] if r.mosquito} & set(oods)
    assert set(oods) <= set(FIXED_TEST)
    assert ensemble_split(recs, holdout=0.0)["id_holdout"] == []
    assert json.dumps(a.facts())  # what a checkpoint stores is plain JSON


def test_source_bagging_leaves_each_negative_source_out_of_one_member(mosquito_dir):
    from edgewise.data.mosquito import ClipLabel, read_recordings
    from edgewise.models.ensemble.mosquito import ensemble_split, left_out_sources

    split = ensemble_split([r for r in read_recordings(mosquito_dir) if r.label is not ClipLabel.UNKNOWN])
    pos = {r.set_name for r in split["train"] if r.mosquito}
    neg = {r.set_name for r in split["train"]} - pos
    assert len(neg) >= 3  # the test data has negative-only training sources to deal
    out = left_out_sources(split, 3)
    assert len(out) == 3 and sorted(s for g in out for s in g) == sorted(neg)  # each once, never a positive source
    assert max(map(len, out)) - min(map(len, out)) <= 1
    assert left_out_sources(split, 3) == out and left_out_sources(split, 1) == [[]]


def test_measure_and_alarm_comparison_on_a_two_head_function():
    """A model whose heads disagree exactly on the 'unfamiliar' windows: OOD AUROC 1, suppression removes them."""
    from edgewise.models.mosquito.heads_eval import alarm_comparison, measure

    rng = np.random.default_rng(0)

    def part(n_clips, mosquito, odd):
        labels = np.repeat(np.where(mosquito, 1.0, 0.0), 4)
        pt = _part(labels, np.repeat(np.arange(n_clips), 4), mosquito, np.full(n_clips, 3600.0))
        # feature 0: the evidence for a mosquito; feature 1: 1 on unfamiliar windows (heads disagree there)
        pt.x[:, 0, 0, 0] = np.where(labels == 1, 3.0, -3.0) + rng.normal(size=labels.size) * 0.1
        pt.x[:, 0, 0, 1] = odd
        return pt

    def fn(x):
        z, o = x[:, 0, 0, 0], x[:, 0, 0, 1]
        h0 = np.stack([np.zeros_like(z), z + 6 * o], axis=1)
        h1 = np.stack([np.zeros_like(z), z - 6 * o], axis=1)
        return np.stack([h0, h1], axis=1)

    mos = np.array([True, False, True, False])
    parts = {"val": part(4, mos, 0.0), "test": part(4, mos, 0.0), "id_holdout": part(4, mos, 0.0),
             "ood": part(4, np.zeros(4, bool), 1.0)}
    parts["test"].x[8:12, 0, 0, 1] = 1.0            # the third test clip (a mosquito) is unfamiliar...
    parts["test"].x[12:16, 0, 0, 1] = 1.0           # ...and so is the fourth, a negative that now fires on one head
    row, u = measure(fn, parts)
    assert row["heads"] == 2 and row["ood_auroc_epistemic"] == 1.0 and row["window_roc_auc"] > 0.5
    cmp = alarm_comparison(u, parts, threshold=0.9, keep=1.0)
    assert cmp["test_with"]["suppressed_windows"] == 8
    assert cmp["test_with"]["false_alarms_per_hour"] <= cmp["test_without"]["false_alarms_per_hour"]
