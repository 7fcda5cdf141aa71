"""The mosquito main job: model -> held-out evaluation -> detections on a sample (spectrogram with
events) -> export (ONNX, TFLite, parity on real windows) -> report (Markdown + HTML + JSON).

Real recordings come from ``../shared/data/mosquito`` (or ``--data``); without them the job evaluates on
SYNTHETIC flight tones in noise and says so in every heading that shows a number.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from edgewise.reporting import Report

__all__ = ["run_pipeline", "plot_detections"]

METRIC_HEADER = ["window ROC-AUC", "window PR-AUC", "clip ROC-AUC", "clip PR-AUC", "false alarms / h",
                 "threshold", "mosquito clips", "other clips", "negative hours"]


def metric_row(m: dict[str, Any]) -> list[Any]:
    return [m["window_roc_auc"], m["window_pr_auc"], m["clip_roc_auc"], m["clip_pr_auc"], m["false_alarms_per_hour"],
            m["threshold"], m["n_clips"]["mosquito"], m["n_clips"]["other"], m["negative_hours"]]


def plot_detections(path: Path, y: np.ndarray, spec: Any, p: np.ndarray, times: np.ndarray, events: list, *,
                    truth: tuple[tuple[float, float], ...] = (), title: str = "", threshold: float | None = None) -> Path:
    """Log-Mel spectrogram (runtime front end) with detected events shaded and the probability trace below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgewise.models.mosquito.specs import frontend
    from edgewise.runtime.features.logmel import hz_to_mel, log_mel

    fe = frontend(spec)
    S = log_mel(y, fe)
    dur = y.size / spec.sample_rate
    fig, (a0, a1) = plt.subplots(2, 1, figsize=(11, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    a0.imshow(S, origin="lower", aspect="auto", extent=(0, dur, 0, fe.n_mels), cmap="magma",
              vmin=np.percentile(S, 5), vmax=S.max())
    ticks = [250, 500, 1000, 2000, 4000]
    mel_pos = (hz_to_mel(ticks) - hz_to_mel(fe.fmin)) / (hz_to_mel(fe.fmax or fe.sample_rate / 2) - hz_to_mel(fe.fmin))
    a0.set_yticks(mel_pos * fe.n_mels, [f"{t}" for t in ticks])
    a0.set_ylabel("Hz (mel scale)")
    for e in events:
        a0.axvspan(e.start_s, e.end_s, ymin=0.94, ymax=1.0, color="cyan", alpha=0.9, lw=0)
        a0.axvline(e.start_s, color="cyan", lw=1, ls="--")
        a0.axvline(e.end_s, color="cyan", lw=1, ls="--")
        a0.text(e.start_s + 0.05, fe.n_mels * 0.86, f"p={e.p:.2f}", color="cyan", fontsize=8)
    for s, e in truth:
        a0.plot([s, e], [1, 1], color="lime", lw=4, solid_capstyle="butt")
    a0.set_title(title + "\ncyan: detected events (hysteresis); green bar: labelled mosquito segments", fontsize=9)
    mid = times.mean(axis=1) if len(times) else np.zeros(0)
    a1.plot(mid, p, "o-", color="k", ms=3)
    if threshold is not None:
        a1.axhline(threshold, color="r", lw=0.8, ls=":")
    a1.set_ylim(-0.03, 1.03)
    a1.set_ylabel("p(mosquito)")
    a1.set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _model(data_dir: Path | None, model_path: Path | None, train: bool, steps: int, out: Path, rep: Report):
    from edgewise.models.mosquito.api import PRETRAINED, load_detector, train_detector
    from edgewise.models.mosquito.specs import SHIPPED_ARCH, SPECS
    from edgewise.models.mosquito.train import recipe

    rep.heading("1. Model")
    if train or (model_path is None and not PRETRAINED.is_file()):
        if data_dir is None:
            raise FileNotFoundError("no shipped mosquito model and no data to train one: pass --data DIR or --model PATH")
        name = SPECS[SHIPPED_ARCH].name
        print(f"training {name} for {steps} steps on {data_dir} ...", file=sys.stderr)
        ckpt_path = out / f"{name}.pt"
        train_detector(data_dir, recipe(SHIPPED_ARCH, steps=steps), out=ckpt_path)
        model_path = ckpt_path
    ckpt = load_detector(model_path)
    n_params = sum(p.numel() for p in ckpt.model.parameters())
    rep.text(f"Model {ckpt.spec.name} from {ckpt.path} (sha256 {ckpt.sha256[:12]}), {n_params} parameters, "
             f"input {list(ckpt.spec.input_shape)} ({ckpt.spec.input_layout.value}) = log-Mel of "
             f"{ckpt.spec.window / ckpt.spec.sample_rate:.1f}-s windows at {ckpt.spec.sample_rate} Hz, hop "
             f"{ckpt.spec.hop / ckpt.spec.sample_rate:.1f} s; temperature {float(ckpt.model.temperature):.3f}; "
             f"operating threshold {ckpt.training.get('threshold', 0.5)}.")
    return ckpt


def _evaluate(ckpt: Any, data_dir: Path | None, rep: Report) -> tuple[list, list, list]:
    from edgewise.data.mosquito import synthetic_recordings
    from edgewise.models.mosquito.api import held_out_recordings
    from edgewise.models.mosquito.evaluate import ClipResult, hysteresis_for, metrics_from_clips, score_clips, window_probabilities
    from edgewise.runtime.events import merge_events

    threshold = float(ckpt.training.get("threshold", 0.5))
    if data_dir is not None:
        rep.heading("2. Held-out evaluation on real recordings (split by recording)")
        recs, audio, how = held_out_recordings(ckpt, data_dir)
        clips = score_clips(ckpt.model, ckpt.spec, recs, audio, threshold=threshold)
        m = metrics_from_clips(clips, threshold=threshold)
        rep.text(f"Test recordings of the checkpoint's own split ({ckpt.training.get('split', 'by recording')}; {how}); "
                 "never seen in training or calibration. Per window: weakly labelled recordings count only windows "
                 "overlapping crowd/model segments; per clip: the mean of its top-3 window probabilities.")
        rep.table(METRIC_HEADER, [metric_row(m)], caption=f"{data_dir}: held-out test recordings")
        from edgewise.pipelines.mosquito_analysis import held_out_analysis

        rep.text("The same clips by recording source, as curves, and for calibration. These are the shipped model's "
                 "test recordings, split by recording; judged by source with the model retrained per fold "
                 "(leave-one-source-out), see benchmarks/mosquito_by_source.py and the README.")
        rep.data["held_out"] = held_out_analysis(rep, clips, rep.out, threshold=threshold)
    else:
        rep.heading("2. Evaluation on SYNTHETIC audio (no real data found)")
        rep.text("SYNTHETIC: no mosquito data folder was found, so the model is scored on synthetic flight tones "
                 "in noise. These numbers say NOTHING about real recordings; pass --data DIR.")
        syn = synthetic_recordings(20, sample_rate=ckpt.spec.sample_rate)
        recs, audio, clips = [], [], []
        for name, y, present, segs in syn:
            p, times = window_probabilities(ckpt.model, ckpt.spec, y)
            lab = np.array([float(any(min(b, e) - max(a, s) >= 0.5 for s, e in segs)) for a, b in times])
            clips.append(ClipResult(name=name, mosquito=present, duration_s=y.size / ckpt.spec.sample_rate, p=p,
                                    times=times, labels=lab, events=merge_events(p, times, hysteresis_for(threshold))))
            recs.append(segs)
            audio.append(y)
        m = metrics_from_clips(clips, threshold=threshold)
        rep.table(METRIC_HEADER, [metric_row(m)], caption="SYNTHETIC audio, 20 clips")
    rep.data["evaluation"] = m
    rows = [[c.name, "yes" if c.mosquito else "no", round(c.score, 3), len(c.events), round(c.duration_s, 1)]
            for c in sorted(clips, key=lambda c: -c.score)]
    rep.table(["recording", "mosquito", "clip score", "events", "seconds"], rows, caption="per recording")
    return recs, audio, clips


def _sample_plots(ckpt: Any, recs: list, audio: list, clips: list, rep: Report, out: Path) -> None:
    rep.heading("3. Detections on samples")
    pos = [i for i, c in enumerate(clips) if c.mosquito and c.events]
    neg = [i for i, c in enumerate(clips) if not c.mosquito]
    thr = float(ckpt.training.get("threshold", 0.5))
    # the most telling positive: detections over part of the clip (share above threshold nearest 1/2)
    picks = ([min(pos, key=lambda i: (abs(np.mean(clips[i].p >= thr) - 0.5), -clips[i].duration_s))] if pos else []) + \
            ([max(neg, key=lambda i: clips[i].peak)] if neg else [])  # the negative nearest an alarm
    for k, i in enumerate(picks):
        c = clips[i]
        truth = recs[i].segments if hasattr(recs[i], "segments") else tuple(recs[i])
        png = plot_detections(out / f"detections_{k}.png", audio[i], ckpt.spec, c.p, c.times, c.events, truth=truth,
                              title=f"{c.name} ({'mosquito' if c.mosquito else 'no mosquito'})",
                              threshold=float(ckpt.training.get("threshold", 0.5)))
        rep.image(png, caption=f"{c.name}: {len(c.events)} event(s)")
    rep.data["samples"] = [clips[i].name for i in picks]


def _export(ckpt: Any, audio: list, rep: Report, out: Path) -> None:
    from edgewise.data.audio import frame_windows
    from edgewise.models.mosquito.train import features

    rep.heading("4. Export (ONNX, TFLite) and parity")
    try:
        from edgewise.export import export_checkpoint

        wins = np.concatenate([frame_windows(y, ckpt.spec.window, ckpt.spec.hop).x[:2] for y in audio[:8]])
        x = features(wins, ckpt.spec).numpy()
        arts = export_checkpoint(ckpt, to=("onnx", "tflite"), out=out / "export", inputs=x)
    except ImportError as e:
        rep.text(f"Export skipped: {e}")
        return
    rows = [[a.format, a.path.name, a.size_bytes, a.parity.get("atol"), "yes" if a.parity.get("ok") else "NO"]
            for a in arts]
    rep.text(f"Parity inputs: log-Mel features of {len(x)} windows of the evaluated recordings; each artifact is "
             "loaded through edgewise.runtime and compared with torch.")
    rep.table(["format", "file", "bytes", "atol", "parity"], rows)
    rep.data["export"] = [{"format": a.format, "path": str(a.path), "size_bytes": a.size_bytes, "parity": a.parity}
                          for a in arts]


def run_pipeline(out: str | Path, *, data_dir: str | Path | None = None, model_path: str | Path | None = None,
                 train: bool = False, steps: int = 1500, export: bool = True) -> Path:
    """Run the mosquito main job and write ``report.md``/``report.html``/``report.json`` into ``out``."""
    import torch

    from edgewise.data.paths import default_dataset_dir

    torch.set_num_threads(1)
    out = Path(out)
    data = Path(data_dir) if data_dir is not None else default_dataset_dir("mosquito")
    if data is not None and not (data / "labels.csv").is_file():
        raise FileNotFoundError(f"{data} has no labels.csv; pass --data with the mosquito dataset layout")
    rep = Report("edgewise pipeline mosquito" + ("" if data is not None else " (SYNTHETIC evaluation)"), out)
    ckpt = _model(data, Path(model_path) if model_path else None, train, steps, out, rep)
    recs, audio, clips = _evaluate(ckpt, data, rep)
    _sample_plots(ckpt, recs, audio, clips, rep, out)
    if export:
        _export(ckpt, audio, rep, out)
    rep.heading("Data and licences")
    rep.text("Real audio: HumBug Zooniverse / HumBugDB (Kiskin et al. 2020/2021, CC-BY 4.0 where stated) and other "
             "sources with their own licences (labels.csv); several are non-commercial or unknown and are used "
             "for evaluation only. See edgewise/models/pretrained/mosquito/MODEL_CARD.md.")
    return rep.write()
