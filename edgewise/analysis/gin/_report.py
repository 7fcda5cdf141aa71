"""Plots and the report of ``edgewise analyze gin`` (Sorrenson, Rother & Köthe, ICLR 2020).

Three figures per dataset, as in the paper: the sorted latent spectrum, samples drawn per class, and
decodings along the informative latents (each latent swept over ±2 class standard deviations around a
class mean while the others stay at that mean).
"""
from __future__ import annotations

from enum import Enum
from pathlib import Path

import numpy as np
import torch

from edgewise.analysis.gin._artificial import ArtificialConfig, ArtificialResult, run_artificial
from edgewise.analysis.gin._flow import FlowConfig, GinModel, TrainConfig
from edgewise.analysis.gin._latents import Spectrum, traverse
from edgewise.analysis.gin._real import BeatConfig, RealResult, digits_data, ecg_beats, run_real

__all__ = ["GinDataset", "analyze_gin", "plot_spectrum", "plot_traversals", "plot_samples"]

ECG_FLOW = FlowConfig(n_blocks=8, hidden=128, n_hidden_layers=2)
ECG_TRAIN = TrainConfig(epochs=60, lr=1e-3, lr_drop_epoch=45, batch_size=500, noise=0.01)


class GinDataset(str, Enum):
    """What ``edgewise analyze gin`` trains on."""

    ARTIFICIAL = "artificial"
    DIGITS = "digits"
    ECG = "ecg"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_spectrum(spectrum: Spectrum, path: Path, *, title: str) -> Path:
    """Bar chart of the sorted latent standard deviations (log scale), informative ones highlighted."""
    plt = _plt()
    std = spectrum.std[spectrum.order]
    k = spectrum.n_informative
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(np.arange(len(std)), std, color=["C3" if i < k else "C0" for i in range(len(std))])
    ax.set_yscale("log")
    ax.set_xlabel("latent (sorted by spread)")
    ax.set_ylabel("std over data")
    ax.set_title(f"{title}: {k} informative (drop x{spectrum.drop:.2f})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _draw(ax, row: np.ndarray, image_shape: tuple[int, int] | None) -> None:
    if image_shape is None:
        ax.plot(row, lw=1)
    else:
        ax.imshow(row.reshape(image_shape), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])


def plot_traversals(
    model: GinModel, dims: tuple[int, ...], path: Path, *, cls: int = 0, n_steps: int = 7,
    image_shape: tuple[int, int] | None = None, title: str = "",
) -> Path:
    """One row per latent in ``dims``: decodings as that latent moves over ±2 class stds."""
    plt = _plt()
    mu = model.mu[cls].detach().numpy()
    sig = model.logsig[cls].detach().exp().numpy()
    steps = np.linspace(-2, 2, n_steps)
    if image_shape is None:
        fig, axes = plt.subplots(len(dims), 1, figsize=(6, 1.4 * len(dims)), squeeze=False)
        for ax, d in zip(axes[:, 0], dims):
            rows = traverse(model, mu, d, mu[d] + steps * sig[d])
            for r, s in zip(rows, steps):
                ax.plot(r, color=plt.cm.coolwarm((s + 2) / 4), lw=1)
            ax.set_ylabel(f"z{d}", rotation=0, labelpad=15)
    else:
        fig, axes = plt.subplots(len(dims), n_steps, figsize=(n_steps, len(dims)), squeeze=False)
        for i, d in enumerate(dims):
            rows = traverse(model, mu, d, mu[d] + steps * sig[d])
            for j in range(n_steps):
                _draw(axes[i, j], rows[j], image_shape)
            axes[i, 0].set_ylabel(f"z{d}", rotation=0, labelpad=12)
    fig.suptitle(title or f"decodings along the informative latents (class {cls}, -2σ..+2σ)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_samples(
    model: GinModel, classes: list[int], path: Path, *, per_class: int = 8,
    image_shape: tuple[int, int] | None = None, temperature: float = 0.8, seed: int = 0,
) -> Path:
    """``per_class`` samples drawn from each class's latent Gaussian (one row per class)."""
    plt = _plt()
    gen = torch.Generator().manual_seed(seed)
    fig, axes = plt.subplots(len(classes), per_class, figsize=(per_class, len(classes)), squeeze=False)
    for i, c in enumerate(classes):
        xs = model.sample(torch.full((per_class,), c, dtype=torch.int64), temperature=temperature, generator=gen)
        for j in range(per_class):
            _draw(axes[i, j], xs[j].numpy(), image_shape)
            if image_shape is None:
                axes[i, j].set_xticks([])
                axes[i, j].set_yticks([])
    fig.suptitle(f"samples per class (temperature {temperature})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_artificial(res: ArtificialResult, path: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    for ax, z, name in ((axes[0], res.latent_true, "true latent"), (axes[1], res.latent_est, "GIN latent")):
        ax.scatter(z[:, 0], z[:, 1], c=res.labels, s=2, cmap="tab10")
        ax.set_title(name)
    fig.suptitle(f"artificial data: MCC {res.mcc:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _real_section(rep, res: RealResult, out: Path, image_shape, classes: list[int], note: str) -> None:
    stem = res.name.split()[0]
    rep.heading(res.name)
    rep.text(note)
    s = res.summary()
    rep.table(["informative latents", "drop at cut", "final NLL/dim", "max |f⁻¹(f(x))-x|"],
              [[s["informative"], s["drop"], s["final_nll_per_dim"], s["max_reconstruction_error"]]])
    rep.image(plot_spectrum(res.spectrum, out / f"{stem}_spectrum.png", title=res.name), caption="latent spectrum")
    dims = tuple(int(d) for d in res.spectrum.order[: max(res.spectrum.n_informative, 4)][:8])
    rep.image(plot_traversals(res.model, dims, out / f"{stem}_traversals.png", cls=classes[0], image_shape=image_shape),
              caption="decodings along the top latents")
    rep.image(plot_samples(res.model, classes, out / f"{stem}_samples.png", image_shape=image_shape),
              caption="samples per class")


def analyze_gin(
    dataset: GinDataset | str, *, out: Path | None = None, data_dir: Path | None = None,
    beats: BeatConfig = BeatConfig(), seed: int = 0, progress: bool = False,
) -> dict:
    """Run one GIN analysis and (with ``out``) write a report with plots; returns the summary dict."""
    dataset = GinDataset(dataset)
    rep = None
    if out is not None:
        from edgewise.reporting import Report

        out = Path(out)
        rep = Report(f"GIN latent analysis: {dataset.value}", out)
    if dataset is GinDataset.ARTIFICIAL:
        res = run_artificial(ArtificialConfig(seed=seed), progress=progress)
        summary = res.summary()
        if rep is not None:
            rep.text("Sorrenson et al. (ICLR 2020) artificial experiment: 2 informative latents from a "
                     "5-component Gaussian mixture plus 8 noise latents (std 0.01), mixed to 10-D by a random GLOW.")
            rep.table(list(summary), [list(summary.values())])
            rep.image(plot_spectrum(res.spectrum, out / "artificial_spectrum.png", title="artificial"), caption="spectrum")
            rep.image(_plot_artificial(res, out / "artificial_latents.png"), caption="true vs recovered latents")
    elif dataset is GinDataset.DIGITS:
        x, y = digits_data(seed=seed)
        res = run_real("digits (scikit-learn, 8x8)", x, y, progress=progress)
        summary = res.summary()
        if rep is not None:
            _real_section(rep, res, out, (8, 8), list(range(10)), "Conditioned on the digit class; 1797 images, dequantised.")
    else:
        from edgewise.data.paths import default_dataset_dir

        data_dir = data_dir or default_dataset_dir("ludb")
        if data_dir is None:
            raise FileNotFoundError("no LUDB folder: pass --data-dir or set EDGEWISE_DATA")
        x, y, ids = ecg_beats(data_dir, beats)
        res = run_real(f"ecg beats (LUDB lead {beats.lead}, {len(ids)} subjects)", x, y,
                       flow=ECG_FLOW, train=ECG_TRAIN, progress=progress)
        summary = {**res.summary(), "beats": len(x), "subjects": len(ids)}
        if rep is not None:
            _real_section(rep, res, out, None, list(range(min(4, len(ids)))),
                          f"{len(x)} beats of lead {beats.lead} (-{beats.before_s}s..+{beats.after_s}s around the "
                          f"annotated QRS peak, {500 // beats.decimate} Hz), conditioned on the subject.")
    if rep is not None:
        rep.data = summary
        summary["report"] = str(rep.write())
    return summary
