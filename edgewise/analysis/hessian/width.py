"""The width experiment: gradient curvature and its G/H split over training, for MLPs of growing width.

Tests the claim of Littwin & Wolf, "On the Convex Behavior of Deep Neural Networks in Relation to the
Layers' Width": the wider the network, the more nearly orthogonal the gradient is to the residual H
(|ĝᵀHĝ| / ĝᵀGĝ shrinks with width), and the curvature along the gradient ĝᵀ∇²Lĝ is positive, large at
the start and end of training and near zero in between. Data: scikit-learn's ``load_digits``
(1,797 real 8×8 handwritten digits, shipped with scikit-learn, no download).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from edgewise.analysis.hessian.curvature import CurvatureSplit, TrackConfig, track_training

__all__ = ["Activation", "WidthConfig", "WidthRun", "digits_data", "make_mlp", "run_width_experiment",
           "summarise", "plot_width_runs", "verdicts", "write_width_report", "width_experiment"]


class Activation(str, Enum):
    RELU = "relu"
    TANH = "tanh"


@dataclass(frozen=True)
class WidthConfig:
    """The width experiment.

    Attributes:
        widths: hidden widths to compare.
        depth: hidden layers per MLP.
        activation: hidden nonlinearity.
        n_probe: training samples on which curvature is measured (fixed subset).
        track: SGD schedule and measuring interval.
        seed: seed of the data split and the initialisation.
    """

    widths: tuple[int, ...] = (16, 64, 256, 1024)
    depth: int = 2
    activation: Activation = Activation.RELU
    n_probe: int = 512
    track: TrackConfig = field(default_factory=lambda: TrackConfig(steps=600, lr=0.05, batch_size=64, every=20))
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.widths or any(int(w) < 1 for w in self.widths):
            raise ValueError(f"widths must be positive integers, got {self.widths}")
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth}")
        if self.n_probe < 1:
            raise ValueError(f"n_probe must be >= 1, got {self.n_probe}")
        object.__setattr__(self, "activation", Activation(self.activation))


@dataclass
class WidthRun:
    """One width's trajectory and held-out accuracy."""

    width: int
    n_params: int
    records: list[CurvatureSplit]
    test_accuracy: float


def digits_data(seed: int = 0) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """scikit-learn digits scaled to [0, 1]: ``((x_train [1347, 64], y_train), (x_test [450, 64], y_test))``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x / 16.0, y, test_size=0.25, random_state=seed, stratify=y)
    as_t = lambda a, dt: torch.as_tensor(a, dtype=dt)  # noqa: E731
    return (as_t(xtr, torch.float32), as_t(ytr, torch.long)), (as_t(xte, torch.float32), as_t(yte, torch.long))


def make_mlp(
    n_in: int, width: int, n_out: int, *, depth: int = 2, activation: Activation = Activation.RELU
) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units with PyTorch's default initialisation."""
    act = {Activation.RELU: nn.ReLU, Activation.TANH: nn.Tanh}[Activation(activation)]
    layers: list[nn.Module] = []
    d = n_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), act()]
        d = width
    layers.append(nn.Linear(d, n_out))
    return nn.Sequential(*layers)


def run_width_experiment(
    config: WidthConfig = WidthConfig(), *, progress: Callable[[int, CurvatureSplit], None] | None = None,
) -> list[WidthRun]:
    """Train one MLP per width on digits and track ĝᵀ∇²Lĝ = ĝᵀGĝ + ĝᵀHĝ on a fixed probe set.

    Args:
        config: widths, depth, schedule.
        progress: called as ``progress(width, record)`` after each measurement.

    Returns:
        One ``WidthRun`` per width, in the order of ``config.widths``.
    """
    (xtr, ytr), (xte, yte) = digits_data(config.seed)
    probe = [(xtr[: config.n_probe], ytr[: config.n_probe])]
    loss_fn = nn.CrossEntropyLoss()
    runs = []
    for width in config.widths:
        torch.manual_seed(config.seed)
        model = make_mlp(xtr.shape[1], int(width), 10, depth=config.depth, activation=config.activation)
        cb = (lambda r, w=width: progress(w, r)) if progress else None
        records = track_training(model, loss_fn, (xtr, ytr), probe, config.track, callback=cb)
        with torch.no_grad():
            acc = float((model(xte).argmax(1) == yte).float().mean())
        runs.append(WidthRun(int(width), sum(p.numel() for p in model.parameters()), records, acc))
    return runs


def summarise(run: WidthRun) -> dict[str, float]:
    """Numbers that test the claim, per width.

    ``mean_abs_ratio``: mean over training of |ĝᵀHĝ| / ĝᵀGĝ (small = gradient ⟂ H);
    ``frac_positive``: share of measurements with ĝᵀ∇²Lĝ > 0; ``init``: ĝᵀ∇²Lĝ at step 0;
    ``start``/``middle``/``end``: ĝᵀ∇²Lĝ
    averaged over the first, middle and last fifth of the measurements, and ``middle_over_edges``
    the middle value over the mean of start and end (≪ 1 = "near zero in between").
    """
    tot = np.array([r.total for r in run.records])
    ratio = np.array([abs(r.residual) / r.ggn if r.ggn > 0 else np.nan for r in run.records])
    k = max(1, len(tot) // 5)
    mid0 = max(0, len(tot) // 2 - k // 2)
    start, middle, end = tot[:k].mean(), tot[mid0 : mid0 + k].mean(), tot[-k:].mean()
    edges = (start + end) / 2
    return {
        "width": run.width,
        "n_params": run.n_params,
        "final_loss": run.records[-1].loss,
        "test_accuracy": run.test_accuracy,
        "init": float(tot[0]),
        "mean_abs_ratio": float(np.nanmean(ratio)),
        "max_abs_ratio": float(np.nanmax(ratio)),
        "frac_positive": float((tot > 0).mean()),
        "start": float(start),
        "middle": float(middle),
        "end": float(end),
        "middle_over_edges": float(middle / edges) if edges != 0 else float("nan"),
    }


def plot_width_runs(runs: list[WidthRun], out: Path) -> list[Path]:
    """Write ``curvature.png`` (ĝᵀ∇²Lĝ, ĝᵀGĝ, ĝᵀHĝ) and ``ratio.png`` (ĝᵀHĝ/ĝᵀGĝ, loss) to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), sharex=True)
    for run in runs:
        s = [r.step for r in run.records]
        for ax, key in zip(axes, ("total", "ggn", "residual")):
            ax.plot(s, [getattr(r, key) for r in run.records], label=f"width {run.width}")
    for ax, t in zip(axes, ("ĝᵀ∇²Lĝ (curvature along the gradient)", "ĝᵀGĝ", "ĝᵀHĝ")):
        ax.set_title(t)
        ax.set_xlabel("SGD step")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.axhline(0, color="k", lw=0.5)
    axes[0].legend()
    fig.tight_layout()
    p1 = out / "curvature.png"
    fig.savefig(p1, dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for run in runs:
        s = [r.step for r in run.records]
        axes[0].plot(s, [r.ratio for r in run.records], label=f"width {run.width}")
        axes[1].plot(s, [r.loss for r in run.records], label=f"width {run.width}")
    axes[0].set_title("ĝᵀHĝ / ĝᵀGĝ")
    axes[0].axhline(0, color="k", lw=0.5)
    axes[1].set_title("training loss (probe set)")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("SGD step")
    axes[0].legend()
    fig.tight_layout()
    p2 = out / "ratio.png"
    fig.savefig(p2, dpi=110)
    plt.close(fig)
    return [p1, p2]


def verdicts(summaries: list[dict[str, float]], *, orthogonal_below: float = 0.1,
             near_zero_below: float = 0.25) -> dict[str, dict]:
    """Compare the measured summaries with the paper's three claims (measured, not assumed).

    Args:
        summaries: ``summarise`` output per width, in increasing width.
        orthogonal_below: the widest net's mean |ĝᵀHĝ|/ĝᵀGĝ below which "nearly orthogonal" holds.
        near_zero_below: ``middle_over_edges`` below which the middle of training is "near zero".
    """
    from scipy.stats import spearmanr

    s = sorted(summaries, key=lambda d: d["width"])
    ratios = [d["mean_abs_ratio"] for d in s]
    rho = float(spearmanr([d["width"] for d in s], ratios)[0]) if len(s) > 1 else float("nan")
    wide = s[-1]
    return {
        "gradient_orthogonal_to_H_grows_with_width": {
            "agree": bool(len(s) > 1 and rho < 0 and wide["mean_abs_ratio"] < orthogonal_below),
            "evidence": f"mean |gHg|/gGg by width {[round(r, 4) for r in ratios]}, Spearman rho {rho:.2f}",
        },
        "curvature_along_gradient_positive": {
            "agree": bool(wide["frac_positive"] >= 0.9),
            "evidence": f"share of positive gT(Hess)g: {[round(d['frac_positive'], 3) for d in s]}",
        },
        "near_zero_between_start_and_end": {
            "agree": bool(wide["middle_over_edges"] < near_zero_below),
            "evidence": (f"widest net: gT(Hess)g at init {wide['init']:.3g}, first fifth {wide['start']:.3g}, "
                         f"middle {wide['middle']:.3g}, last fifth {wide['end']:.3g} "
                         f"(middle/edges {wide['middle_over_edges']:.2f}; near zero means < {near_zero_below})"),
        },
    }


def write_width_report(runs: list[WidthRun], out: Path, config: WidthConfig) -> dict:
    """Plots, a table, ``trajectories.csv`` and a report (md/html/json) in ``out``; returns the summary."""
    from edgewise.reporting import Report

    out = Path(out)
    rep = Report("Hessian structure and layer width (Littwin & Wolf)", out)
    summaries = [summarise(r) for r in runs]
    verdict = verdicts(summaries)
    rep.text(f"Data: scikit-learn digits (real, 1,347 train / 450 test). MLPs with {config.depth} hidden "
             f"{config.activation.value} layers, SGD lr {config.track.lr}, batch {config.track.batch_size}, "
             f"{config.track.steps} steps; curvature measured every {config.track.every} steps on "
             f"{config.n_probe} fixed training samples along the unit full-batch gradient g.")
    keys = ["width", "n_params", "final_loss", "test_accuracy", "mean_abs_ratio", "max_abs_ratio",
            "frac_positive", "init", "start", "middle", "end", "middle_over_edges"]
    rep.heading("Per width")
    rep.table(keys, [[d[k] for k in keys] for d in summaries],
              caption="ratio = |gᵀHg| / gᵀGg; init/start/middle/end = gᵀ∇²Lg at step 0 and over "
                      "fifths of training")
    rep.heading("Against the paper's claims")
    rep.table(["claim", "agree", "evidence"], [[k, v["agree"], v["evidence"]] for k, v in verdict.items()])
    for p in plot_width_runs(runs, out):
        rep.image(p, caption=p.stem)
    lines = ["width,step,loss,grad_norm,total,ggn,residual"]
    lines += [f"{r.width},{x.step},{x.loss},{x.grad_norm},{x.total},{x.ggn},{x.residual}"
              for r in runs for x in r.records]
    (out / "trajectories.csv").write_text("\n".join(lines) + "\n")
    rep.data = {"summaries": summaries, "verdicts": verdict}
    rep.write()
    return {"out": str(out), "summaries": summaries, "verdicts": verdict}


def width_experiment(
    config: WidthConfig, out: Path, *, progress: Callable[[int, CurvatureSplit], None] | None = None
) -> dict:
    """Run the width experiment and write its report into ``out`` (what ``edgewise analyze hessian`` does)."""
    runs = run_width_experiment(config, progress=progress)
    return write_width_report(runs, out, config)
