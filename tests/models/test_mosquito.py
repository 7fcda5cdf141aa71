"""Mosquito detectors: specs, architectures, temperature scaling, metrics, a tiny training run, checkpoints."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from edgewise.data.mosquito import ClipLabel, Recording, WindowConfig, synthetic_recordings  # noqa: E402
from edgewise.models.mosquito import DSCNN_SPEC, HUMBUG_SPEC, DSCNN, HumBugCNN, frontend  # noqa: E402
from edgewise.models.mosquito.evaluate import ClipResult, metrics_from_clips  # noqa: E402
from edgewise.models.mosquito.train import TrainConfig, build_window_set, fit_temperature, train_model  # noqa: E402
from edgewise.models.spec import build_model, get_spec  # noqa: E402
from edgewise.runtime.events import Event  # noqa: E402

TINY = {"widths": (8, 12, 16)}


def tiny_synthetic_sets(n_train: int = 12, n_val: int = 6, seconds: float = 8.0):
    """Window sets of SYNTHETIC clips (flight tone in noise vs noise) for fast, deterministic training."""
    def make(n, seed):
        clips = synthetic_recordings(n, duration_s=seconds, seed=seed)
        recs = [Recording(path=Path(name), rel=name, label=ClipLabel.WEAK if present else ClipLabel.NEGATIVE,
                          set_name="synthetic", species="", duration_s=seconds, licence="", segments=segs)
                for name, _, present, segs in clips]
        return recs, [y for _, y, _, _ in clips]

    wcfg = WindowConfig(window_s=2.0, hop_s=0.5)
    tr, va = make(n_train, 1), make(n_val, 2)
    return build_window_set(*tr, wcfg), build_window_set(*va, WindowConfig(window_s=2.0, hop_s=1.0)), va


@functools.lru_cache(maxsize=2)  # shared by several tests (and tests/cli): do not mutate the model
def train_tiny(steps: int = 40):
    train, val, _ = tiny_synthetic_sets()
    cfg = TrainConfig(arch="dscnn", steps=steps, batch_size=16, lr=1e-2, eval_every=20, p_mix=0.2, p_synth=0.0,
                      model_kwargs=TINY)
    return train_model(cfg, train, val)


def test_specs_registered_and_consistent():
    for spec in (DSCNN_SPEC, HUMBUG_SPEC):
        assert get_spec(spec.name) is spec
        fe = frontend(spec)
        assert spec.input_shape == (1, fe.n_mels, fe.n_frames(spec.window))
        assert spec.sample_rate == fe.sample_rate == 8000 and spec.classes == ("background", "mosquito")
        meta = spec.to_metadata()
        assert meta["preprocessing"]["kind"] == "logmel" and meta["input_layout"] == "NCHW"
    assert HUMBUG_SPEC.input_shape == (1, 128, 21)  # HumBug: 128 mels, hop 800 at 8 kHz


@pytest.mark.parametrize("name", ["mosquito-dscnn", "mosquito-humbug-cnn"])
def test_models_forward_and_stay_pi_sized(name):
    spec = get_spec(name)
    model = build_model(name).eval()
    x = torch.randn(3, *spec.input_shape)
    assert model(x).shape == (3, 2)
    n = sum(p.numel() for p in model.parameters())
    assert n < 1_000_000, n
    if name == "mosquito-humbug-cnn":  # conv32 - conv64 - dense128 - dense2, as in the paper
        convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        assert [c.out_channels for c in convs] == [32, 64] and [lin.out_features for lin in linears] == [128, 2]


def test_buffers_normalise_and_temperature_scales():
    model = DSCNN(widths=(4, 8)).eval()
    x = torch.randn(2, 1, 64, 63)
    base = model(x)
    model.temperature.fill_(2.0)
    np.testing.assert_allclose(model(x).detach().numpy(), base.detach().numpy() / 2, rtol=1e-5)
    model.in_mean.fill_(3.0)
    model.in_std.fill_(2.0)
    np.testing.assert_allclose(model(x * 2 + 3).detach().numpy(), base.detach().numpy() / 2, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="too small"):
        HumBugCNN(n_mels=8, n_frames=8)


def test_fit_temperature_recovers_the_true_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, size=(20000, 2))
    z = logits / 2.5
    p1 = np.exp(z[:, 1]) / np.exp(z).sum(1)
    y = (rng.random(20000) < p1).astype(int)
    np.testing.assert_allclose(fit_temperature(logits, y), 2.5, rtol=0.06)
    assert fit_temperature(logits, np.zeros(20000, int)) == 1.0  # one class only: nothing to calibrate


def _clip(name, mosquito, p, labels, events=(), dur=10.0):
    p = np.asarray(p, float)
    return ClipResult(name=name, mosquito=mosquito, duration_s=dur, p=p, times=np.zeros((p.size, 2)),
                      labels=np.asarray(labels, float), events=list(events))


def test_metrics_against_hand_computed_values():
    from sklearn.metrics import average_precision_score, roc_auc_score

    clips = [
        _clip("a", True, [0.9, 0.2, 0.7], [1, np.nan, 1]),
        _clip("b", True, [0.4, 0.3], [np.nan, np.nan]),
        _clip("c", False, [0.5, 0.1], [0, 0], events=[Event(0, 2, 0.5)], dur=1800.0),
        _clip("d", False, [0.35, 0.05], [0, 0], dur=1800.0),
    ]
    m = metrics_from_clips(clips, threshold=0.5)
    np.testing.assert_allclose(m["window_roc_auc"], 1.0)  # labelled windows: 0.9, 0.7 vs 0.5, 0.1, 0.35, 0.05
    # clip scores are the means of the top-3 windows: 0.6, 0.35 | 0.3, 0.2 (highest windows 0.9, 0.4 | 0.5, 0.35)
    np.testing.assert_allclose([c.score for c in clips], [0.6, 0.35, 0.3, 0.2])
    np.testing.assert_allclose(m["clip_roc_auc"], roc_auc_score([1, 1, 0, 0], [0.6, 0.35, 0.3, 0.2]))
    np.testing.assert_allclose(m["clip_pr_auc"], average_precision_score([1, 1, 0, 0], [0.6, 0.35, 0.3, 0.2]))
    assert m["clip_roc_auc"] == 1.0 and roc_auc_score([1, 1, 0, 0], [0.9, 0.4, 0.5, 0.35]) == 0.75
    np.testing.assert_allclose(m["false_alarms_per_hour"], 1.0)  # one event in one hour of negatives
    assert m["n_windows"] == {"mosquito": 2, "other": 4, "unlabelled": 3}
    np.testing.assert_allclose(m["clip_recall_at_threshold"], 0.5)  # a raises an event at 0.5 (its 0.9 window), b not
    # recall is decided by the highest window: at 0.65 a's 0.9 window still raises an event, its clip score 0.6 would not
    np.testing.assert_allclose(metrics_from_clips(clips, threshold=0.65)["clip_recall_at_threshold"], 0.5)


def test_tiny_training_learns_synthetic_tones():
    from edgewise.models.mosquito.train import predict_logits

    model, log = train_tiny()
    assert log["val_window_roc_auc"] > 0.9, log
    _, val, _ = tiny_synthetic_sets()
    logits = predict_logits(model, DSCNN_SPEC, val.take(np.arange(len(val)))).astype(np.float64) * log["temperature"]

    def nll(t):
        z = logits / t
        z = z - z.max(1, keepdims=True)
        return np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(val)), val.y.astype(int)])

    assert nll(log["temperature"]) <= nll(1.0) + 1e-9  # calibration never worsens validation NLL
    assert log["train_windows"]["positive"] > 0 and log["train_windows"]["negative"] > 0


@pytest.mark.parametrize("scores, best_step", [((np.nan, 0.5, np.nan, 0.3), 4), ((0.2, np.nan, 0.1, np.nan), 2),
                                               ((np.nan,) * 4, 8)])
def test_train_steps_keeps_the_best_scored_state_and_ranks_nan_lowest(scores, best_step):
    """A NaN score (no usable validation) never displaces a real one; with only NaN the latest state is kept."""
    from edgewise.models.mosquito.loop import train_steps

    train, _, _ = tiny_synthetic_sets(n_train=4)
    cfg = TrainConfig(arch="dscnn", steps=8, batch_size=8, eval_every=2, p_mix=0.0, p_synth=0.0, model_kwargs=TINY)
    seq = iter(scores)

    def ce(net, x, y):
        return torch.nn.functional.cross_entropy(net(x), y, reduction="none")

    model, log = train_steps(build_model("mosquito-dscnn", **TINY), cfg, train, ce, score_fn=lambda m: next(seq))
    assert log["best_step"] == best_step, log
    real = [s for s in scores if s == s]
    assert (log["best_score"] == max(real)) if real else np.isnan(log["best_score"])
    assert [s for _, s in log["scores"]] == pytest.approx(list(scores), nan_ok=True)


def test_train_steps_with_ema_scores_and_keeps_the_moving_average():
    """cfg.ema: validation sees a_t = d_t * a_(t-1) + (1 - d_t) * w_t with d_t = min(ema, (1 + t) / (10 + t)) and
    a_0 the starting weights (w_t: the raw weights after step t), not the raw weights; the best average is returned."""
    from edgewise.models.mosquito.loop import train_steps

    train, _, _ = tiny_synthetic_sets(n_train=4)

    def ce(net, x, y):
        return torch.nn.functional.cross_entropy(net(x), y, reduction="none")

    def flat(m):
        return torch.cat([p.detach().flatten().clone() for p in m.parameters()])

    seen = {}
    for ema in (0.0, 0.6):
        torch.manual_seed(0)
        model = build_model("mosquito-dscnn", **TINY)
        seen[ema] = [(model, flat(model))]
        scores = iter([0.1, 0.3, 0.2, 0.0, 0.1, 0.0])  # the state after step 2 is the best
        cfg = TrainConfig(arch="dscnn", steps=6, batch_size=8, eval_every=1, ema=ema, model_kwargs=TINY)
        out, log = train_steps(model, cfg, train, ce,
                               score_fn=lambda m, _e=ema: (seen[_e].append((m, flat(m))), next(scores))[1])
        assert log["best_step"] == 2 and torch.equal(flat(out), seen[ema][2][1])
        assert all((m is model) == (ema == 0.0) for m, _ in seen[ema][1:])
    avg = seen[0.0][0][1]
    for t in range(1, 7):
        d = min(0.6, (1 + t) / (10 + t))
        avg = d * avg + (1 - d) * seen[0.0][t][1]
        torch.testing.assert_close(seen[0.6][t][1], avg, rtol=0, atol=1e-6)
    assert (seen[0.6][6][1] - seen[0.0][6][1]).abs().max() > 1e-4  # the average is not the raw weights
    with pytest.raises(ValueError, match="ema"):
        TrainConfig(ema=1.0)


def test_training_needs_both_classes():
    train, val, _ = tiny_synthetic_sets(n_train=2, n_val=2)
    train.y[:] = 0
    with pytest.raises(ValueError, match="positive and negative"):
        train_model(TrainConfig(steps=1, model_kwargs=TINY), train, val)
    with pytest.raises(ValueError, match="unknown arch"):
        TrainConfig(arch="resnet")
    with pytest.raises(ValueError, match="p_decoy"):
        TrainConfig(p_decoy=1.5)


def test_decoys_change_training_only_when_asked(monkeypatch):
    """p_decoy = 0 never reaches the decoy code, so the recipe's random stream is what it was before decoys existed
    (every draw of decoy_tones happens inside it); p_decoy > 0 trains on decoys and changes the weights."""
    import edgewise.models.mosquito.loop as loop

    train, val, _ = tiny_synthetic_sets(n_train=16, n_val=8)
    real, calls = loop.decoy_tones, []

    def spy(*a, **k):
        calls.append(k["p"])
        return real(*a, **k)

    monkeypatch.setattr(loop, "decoy_tones", spy)
    weights = {}
    for p in (0.0, 0.5):
        torch.manual_seed(0)
        model, _ = train_model(TrainConfig(steps=3, batch_size=8, eval_every=3, p_decoy=p, model_kwargs=TINY), train, val)
        weights[p] = torch.cat([t.flatten() for t in model.state_dict().values()])
        assert calls == ([] if p == 0 else [p] * 3)
    assert not torch.equal(weights[0.0], weights[0.5])


def test_channel_augmentation_changes_training_only_when_asked(monkeypatch):
    """With p_speed = p_band = p_codec = 0 no channel function runs (the random stream is the one before they
    existed); with any of them > 0 all three are called each step, with their own shares, and the weights change."""
    import edgewise.models.mosquito.loop as loop

    train, val, _ = tiny_synthetic_sets(n_train=16, n_val=8)
    calls = []
    for name in ("speed", "band_limit", "lossy_codec"):
        real = getattr(loop.audio_channel, name)
        monkeypatch.setattr(loop.audio_channel, name,
                            lambda *a, _n=name, _f=real, **k: (calls.append((_n, k["p"])), _f(*a, **k))[1])
    weights = {}
    for ps in ((0.0, 0.0, 0.0), (0.5, 0.0, 1.0)):
        calls.clear()
        torch.manual_seed(0)
        cfg = TrainConfig(steps=2, batch_size=8, eval_every=2, p_speed=ps[0], p_band=ps[1], p_codec=ps[2],
                          model_kwargs=TINY)
        model, _ = train_model(cfg, train, val)
        weights[ps] = torch.cat([t.flatten() for t in model.state_dict().values()])
        want = [] if not any(ps) else [("speed", ps[0]), ("band_limit", ps[1]), ("lossy_codec", ps[2])] * 2
        assert calls == want
    assert not torch.equal(*weights.values())
    with pytest.raises(ValueError, match="p_codec"):
        TrainConfig(p_codec=-0.1)


def test_sweep_decoys_run_only_when_asked(monkeypatch):
    """p_sweep = 0 never calls sweep_decoys; p_sweep > 0 calls it each step with its share."""
    import edgewise.models.mosquito.loop as loop

    train, val, _ = tiny_synthetic_sets(n_train=16, n_val=8)
    calls = []
    real = loop.sweep_decoys

    def spy(*a, **k):
        out = real(*a, **k)
        calls.append((k["p"], int(out[2].sum())))
        return out

    monkeypatch.setattr(loop, "sweep_decoys", spy)
    for p in (0.0, 1.0):
        calls.clear()
        torch.manual_seed(0)
        model, _ = train_model(TrainConfig(steps=2, batch_size=8, eval_every=2, p_sweep=p, model_kwargs=TINY), train, val)
        assert [c[0] for c in calls] == ([] if p == 0 else [p, p])
        assert all(n == 8 for _, n in calls)  # p = 1: every row of the batch was a sweep before mixing
    with pytest.raises(ValueError, match="p_sweep"):
        TrainConfig(p_sweep=1.5)


def test_checkpoint_round_trip_and_detect_file(tmp_path):
    sf = pytest.importorskip("soundfile")
    from edgewise.models.checkpoint import save_checkpoint
    from edgewise.models.mosquito.api import detect_file, load_detector

    model, log = train_tiny(steps=20)
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, spec=DSCNN_SPEC, model=model, model_kwargs=TINY, training={"threshold": 0.5, **log})
    ckpt = load_detector(path)
    x = torch.randn(2, *DSCNN_SPEC.input_shape)
    np.testing.assert_allclose(ckpt.model(x).detach().numpy(), model(x).detach().numpy(), rtol=1e-6, atol=1e-6)
    _, y, _, _ = synthetic_recordings(2, duration_s=5.0, seed=5)[1]
    sf.write(tmp_path / "clip.wav", np.stack([y, y], 1), 8000, subtype="PCM_16")
    res = detect_file(tmp_path / "clip.wav", ckpt)
    assert set(res) == {"input", "sample_rate", "p_clip", "windows", "events", "flags"} and res["sample_rate"] == 8000
    top3 = np.mean(sorted(w["p"] for w in res["windows"])[-3:])  # of window p rounded to 4 decimals
    assert abs(res["p_clip"] - top3) <= 1e-4
    assert [w["start_s"] for w in res["windows"]] == [0.0, 1.0, 2.0, 3.0]
    assert all(0 <= w["p"] <= 1 and w["end_s"] <= 5.0 for w in res["windows"])


def test_onnx_artifact_detects_like_torch(tmp_path):
    """The device path swaps only the model call: same front end, same events, same probabilities."""
    pytest.importorskip("onnxruntime")
    from edgewise.export import export_checkpoint
    from edgewise.models.checkpoint import save_checkpoint
    from edgewise.models.mosquito.api import load_detector
    from edgewise.models.mosquito.evaluate import window_probabilities

    model, log = train_tiny(steps=20)
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, spec=DSCNN_SPEC, model=model, model_kwargs=TINY, training={"threshold": 0.5, **log})
    export_checkpoint(path, to="onnx", out=tmp_path / "art")
    art = load_detector(tmp_path / "art" / "model.onnx")
    assert art.spec == DSCNN_SPEC and art.training["threshold"] == 0.5
    _, y, _, _ = synthetic_recordings(2, duration_s=6.0, seed=7)[1]
    p_torch, t_torch = window_probabilities(model, DSCNN_SPEC, y)
    p_onnx, t_onnx = window_probabilities(art.model, art.spec, y)
    np.testing.assert_allclose(t_onnx, t_torch)
    np.testing.assert_allclose(p_onnx, p_torch, atol=1e-5)  # fp32 graph vs eager: rounding only
