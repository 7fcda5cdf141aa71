"""Side-by-side: the grouped VAE with and without the adversarial MI term (Németh, AAAI 2020).

Both versions see the same data, split, architecture and seed; only ``adv_weight`` differs. Groups come
from real data: scikit-learn's digits grouped by class, or LUDB lead-II beats grouped by subject (every
subject's beats split alternately into training and held-out halves, so the probe is asked about
subjects it has seen, on beats it has not).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from edgewise.analysis.disentangle._measure import (Measures, extra_error_share, heldout_reconstruction, measure,
                                                  reconstruction_errors)
from edgewise.analysis.disentangle._vae import GroupVAE, VaeConfig, fit_group_vae

__all__ = ["GroupedData", "Comparison", "grouped_digits", "grouped_beats", "validation_split",
           "validation_folds", "compare",
           "training_cost", "analyze_disentangle", "DEFAULTS"]

# Per-dataset defaults, chosen without the held-out split (benchmarks/disentangle.py --validate / --crossfit 3;
# every screen and held-out look is in benchmarks/disentangle_log.md). Two stages: first the reference (the
# plain model's validation MSE: a setting that lowers the ratio by weakening the plain model is not adopted),
# then the adversarial settings by a declared rule. Digits (nested validation split mirrors the held-out
# shape): style_dim 12 (plain ~20 % better than 8), recon_std 0.2, 2.5 % foreign group members (session 9:
# plain MSE unchanged, 5 % makes it 1.6 % worse), weight 1.5 (gap >= 0.5 + 0.05 on every seed, lowest
# maximum cost; wider networks no better). LUDB (3-fold cross-fitting of each subject's training beats,
# rule: mean gap >= 0.55 over seeds 0-2, lowest mean ratio): the pair critic, 5 critic steps, recon_std 0.15,
# a 50-epoch decoder refit, 200 epochs, the 20 % most recognisable observations trimmed from the adversarial
# loss, style_dim 12 (plain 13 % better than 8; 16 no better), hidden 384 (plain MSE 0.0557 vs 0.0590 at 256,
# 512 no better), 5 % foreign group members (session 9: the held-out cost sat in beats unlike any training
# beat of their subject; plain MSE 0.0556 vs 0.0557, 10 % makes it 1.2 % worse), then weight 1.75
# (cross-fitted gap 0.559, ratio 1.021; weight 1.5: gap 0.539). Held out over seeds 0-9: LUDB gap 0.580,
# ratio 1.030; digits gap 0.575, ratio 1.040 (8 of 10 seeds meet both figures on each).
DEFAULTS: dict[str, VaeConfig] = {
    "digits": VaeConfig(adv_weight=1.5, recon_std=0.2, style_dim=12, epochs=200, augment_foreign=0.025),
    "ecg": VaeConfig(adv_weight=1.75, adv_trim=0.2, adversary="pairs", critic_steps=5, recon_std=0.15,
                     decoder_refit_epochs=50, content_dim=24, style_dim=12, group_size=4, groups_per_batch=32,
                     hidden=384, epochs=200, augment_foreign=0.05),
}


@dataclass(frozen=True)
class GroupedData:
    """Standardised observations with their groups, split into training and held-out parts.

    Attributes:
        name: what the data is.
        x_train, x_test: float32 [n, dim] standardised with the training split's mean and std.
        g_train, g_test: int64 [n] group of each observation.
        mean, std: float32 [dim] the standardisation (to map reconstructions back).
        image_shape: (h, w) if the observations are images, else None.
    """

    name: str
    x_train: np.ndarray
    g_train: np.ndarray
    x_test: np.ndarray
    g_test: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    image_shape: tuple[int, int] | None = None


def _standardise(name, x, g, test_mask, image_shape=None) -> GroupedData:
    mean, std = x[~test_mask].mean(0), x[~test_mask].std(0)
    # Floor near-constant features (digits' border pixels): a held-out 1 over a training std of 1e-3
    # would dominate every error measure.
    std = np.maximum(std, 0.1 * std.mean())
    z = ((x - mean) / std).astype(np.float32)
    return GroupedData(name, z[~test_mask], g[~test_mask], z[test_mask], g[test_mask],
                       mean.astype(np.float32), std.astype(np.float32), image_shape)


def grouped_digits(*, test_fraction: float = 0.3, seed: int = 0) -> GroupedData:
    """scikit-learn's digits grouped by class, a stratified random held-out split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    idx = np.arange(len(d.target))
    _, test_idx = train_test_split(idx, test_size=test_fraction, stratify=d.target, random_state=seed)
    mask = np.zeros(len(idx), bool)
    mask[test_idx] = True
    return _standardise("digits by class", d.data.astype(np.float32) / 16.0, d.target.astype(np.int64), mask, (8, 8))


def grouped_beats(data_dir: str | Path, *, max_records: int | None = None) -> GroupedData:
    """LUDB lead-II beats grouped by subject; each subject's beats alternate between the splits."""
    from edgewise.analysis.gin import BeatConfig, ecg_beats

    x, g, ids = ecg_beats(data_dir, BeatConfig(max_records=max_records))
    mask = np.zeros(len(g), bool)
    for s in np.unique(g):
        mask[np.flatnonzero(g == s)[1::2]] = True
    return _standardise(f"LUDB lead-II beats by subject ({len(ids)} subjects)", x, g, mask)


def validation_split(data: GroupedData, fraction: float, *, seed: int = 0) -> GroupedData:
    """Carve a validation split from ``data``'s training part (for choosing settings); the held-out split
    is dropped, so nothing chosen on the result has seen it.

    Every group gives a random ``fraction`` of its training members (rounded down) to validation.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(data.g_train), bool)
    for g in np.unique(data.g_train):
        idx = rng.permutation(np.flatnonzero(data.g_train == g))
        mask[idx[: int(len(idx) * fraction + 1e-9)]] = True
    return GroupedData(f"{data.name}, validation split of the training part", data.x_train[~mask],
                       data.g_train[~mask], data.x_train[mask], data.g_train[mask], data.mean, data.std,
                       data.image_shape)


def validation_folds(data: GroupedData, k: int = 3, *, seed: int = 0) -> list[GroupedData]:
    """Cross-fitting: ``k`` validation splits of ``data``'s training part whose validation members are disjoint.

    Every group's training members are shuffled and dealt round-robin into ``k`` folds; split ``f`` validates
    on fold ``f`` and trains on the rest. The held-out split is dropped, as in :func:`validation_split`.
    Averaging a measure over the splits uses every training observation once for validation, which a
    single split cannot (on LUDB one split's reconstruction ratio moves by +-0.05 with the split alone).
    """
    if k < 2:
        raise ValueError(f"need k >= 2 folds, got {k}")
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(data.g_train), int)
    for g in np.unique(data.g_train):
        idx = rng.permutation(np.flatnonzero(data.g_train == g))
        fold[idx] = np.arange(len(idx)) % k
    return [GroupedData(f"{data.name}, validation fold {f + 1} of {k}", data.x_train[fold != f],
                        data.g_train[fold != f], data.x_train[fold == f], data.g_train[fold == f], data.mean,
                        data.std, data.image_shape) for f in range(k)]


@dataclass(frozen=True)
class Comparison:
    """Both versions measured on the same held-out split.

    Attributes:
        data: the data's name.
        plain, adversarial: their measures.
        gap_closed: (plain style acc - adversarial style acc) / (plain style acc - chance).
        recon_ratio: adversarial recon MSE / plain recon MSE.
        config: the adversarial version's config (the plain one has adv_weight 0).
        train_recon_ratio: the same ratio on the training split (under-fitting shows here too).
    """

    data: str
    plain: Measures
    adversarial: Measures
    gap_closed: float
    recon_ratio: float
    config: VaeConfig
    train_recon_ratio: float = float("nan")

    def summary(self) -> dict:
        return {
            "data": self.data,
            "chance": round(self.plain.chance, 4),
            "style_acc_plain": round(self.plain.style_probe_acc, 4),
            "style_acc_adversarial": round(self.adversarial.style_probe_acc, 4),
            "gap_closed": round(self.gap_closed, 4),
            "recon_mse_plain": round(self.plain.recon_mse, 5),
            "recon_mse_adversarial": round(self.adversarial.recon_mse, 5),
            "recon_ratio": round(self.recon_ratio, 4),
            "train_recon_ratio": round(self.train_recon_ratio, 4),
            "adv_weight": self.config.adv_weight,
            "style_dim": self.config.style_dim,
            "augment_foreign": self.config.augment_foreign,
        }

    def rows(self) -> list[list]:
        """Table rows: one per version."""
        out = []
        for name, m in (("plain", self.plain), (f"adversarial (w={self.config.adv_weight:g})", self.adversarial)):
            out.append([name, m.style_probe_acc, m.style_linear_acc, m.content_probe_acc, m.chance, m.recon_mse])
        return out

    HEADER = ["version", "style→group (MLP probe)", "style→group (linear)", "content→group (MLP)", "chance",
              "held-out recon MSE"]


def _fit_pair(data: GroupedData, config: VaeConfig, progress: bool) -> dict[str, GroupVAE]:
    """The plain (adv_weight 0) and adversarial versions of ``config`` trained on ``data``'s training part."""
    if config.adv_weight <= 0:
        raise ValueError(f"the adversarial version needs adv_weight > 0, got {config.adv_weight}")
    return {name: fit_group_vae(data.x_train, data.g_train, cfg, progress=progress)[0]
            for name, cfg in (("plain", replace(config, adv_weight=0.0)), ("adversarial", config))}


def _train_ratio(models: dict[str, GroupVAE], data: GroupedData, group_size: int) -> float:
    """Adversarial / plain reconstruction MSE on the training part, content pooled over chunks as held out."""
    mse = {k: heldout_reconstruction(m, data.x_train, data.g_train, group_size=group_size) for k, m in models.items()}
    return mse["adversarial"] / mse["plain"]


def compare(data: GroupedData, config: VaeConfig, *, progress: bool = False) -> tuple[Comparison, dict[str, GroupVAE]]:
    """Train the plain (adv_weight 0) and adversarial versions of ``config`` on ``data``; measure both."""
    models = _fit_pair(data, config, progress)
    results = {name: measure(vae, data.x_train, data.g_train, data.x_test, data.g_test, seed=config.seed)
               for name, vae in models.items()}
    p, a = results["plain"], results["adversarial"]
    denom = p.style_probe_acc - p.chance
    gap = (p.style_probe_acc - a.style_probe_acc) / denom if denom > 0 else float("nan")
    train_ratio = _train_ratio(models, data, config.group_size)
    return Comparison(data.name, p, a, gap, a.recon_mse / p.recon_mse, config, train_ratio), models


def training_cost(data: GroupedData, config: VaeConfig) -> float:
    """Reconstruction ratio (adversarial / plain) on the training part of ``data``, both trained on all of it.

    The validation half of the model selection: it keeps the held-out protocol's shape (every training
    observation, the same group sizes and content pooling) and never touches the held-out split. The
    adversarial model's cost is under-fitting, so its training-part ratio tracks the held-out ratio
    (LUDB, classifier critic at weight 1: 1.27 / 1.30 / 1.20 vs 1.22 / 1.25 / 1.24 held out; the pair-critic
    default at hidden 128: 1.105 / 1.118 / 1.081 vs 1.080 / 1.122 / 1.109), while a nested split with fewer
    observations per group does not (1.04 / 0.89 / 1.24 there). Wider networks over-fit the training part
    and the proxy loosens (hidden 256: 1.069 / 1.040 / 1.032 vs 1.133 / 1.078 / 1.028 held out). On digits, where a nested
    split keeps the shape, use its held-out ratio instead (this one over-states the cost: 1.10-1.17).
    Since session 6 LUDB settings are chosen by cross-fitting (:func:`validation_folds`), whose mean
    ratio tracks the held-out one more closely (seeds 0-2: mean absolute difference 0.026 vs 0.064).

    Args:
        data: its training part (x_train [n, dim], g_train [n]) is all that is used.
        config: the adversarial version (adv_weight > 0); the plain one has adv_weight 0.

    Returns:
        adversarial / plain mean squared reconstruction error on the training part.
    """
    return _train_ratio(_fit_pair(data, config, False), data, config.group_size)


def _plot_measures(comp: Comparison, path: Path) -> Path:
    """Two panels: group accuracy of the probes (with chance) and held-out reconstruction, per version."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["plain", f"adversarial (w={comp.config.adv_weight:g})"]
    ms = [comp.plain, comp.adversarial]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    x = np.arange(3)
    for i, (name, m) in enumerate(zip(names, ms)):
        ax1.bar(x + (i - 0.5) * 0.38, [m.style_probe_acc, m.style_linear_acc, m.content_probe_acc], 0.38, label=name)
        ax2.bar(i, m.recon_mse, 0.6, color=f"C{i}")
    ax1.axhline(comp.plain.chance, color="k", ls="--", lw=1, label="chance")
    ax1.set_xticks(x, ["style (MLP)", "style (linear)", "content (MLP)"])
    ax1.set_ylabel("held-out group accuracy")
    ax1.set_ylim(0, 1)
    ax1.legend(fontsize=8)
    ax2.set_xticks([0, 1], ["plain", "adversarial"])
    ax2.set_ylabel("held-out recon MSE (standardised)")
    ax2.set_title(f"ratio {comp.recon_ratio:.3f}; gap closed {comp.gap_closed:.2f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_swaps(models: dict[str, GroupVAE], data: GroupedData, path: Path) -> Path:
    """Per version: decode the content of one test group with the styles of other observations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = np.unique(data.g_test)[:6]
    styles_from = data.x_test[:6]
    fig, axes = plt.subplots(len(models), 1, figsize=(7, 3.2 * len(models)), squeeze=False)
    for ax, (name, vae) in zip(axes[:, 0], models.items()):
        with torch.no_grad():
            s = torch.as_tensor(vae.codes(data.x_test, data.g_test)[0][: len(styles_from)])
            rows = []
            for g in groups:
                sel = np.flatnonzero(data.g_test == g)[: vae.config.group_size]
                c = vae.encode(torch.as_tensor(data.x_test[sel])[None])["gmu"]
                rows.append(vae.decoder(torch.cat([c.expand(len(s), -1), s], -1)).numpy() * data.std + data.mean)
        grid = np.stack(rows)  # [groups, styles, dim]
        if data.image_shape is not None:
            h, w = data.image_shape
            img = grid.reshape(len(groups), len(s), h, w).transpose(0, 2, 1, 3).reshape(len(groups) * h, len(s) * w)
            ax.imshow(img, cmap="gray_r")
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            for i, r in enumerate(grid):
                for j, trace in enumerate(r):
                    ax.plot(np.arange(len(trace)) + j * (len(trace) + 5), trace - 1.5 * i, color=f"C{i}", lw=0.8)
            ax.set_yticks([])
        ax.set_title(f"{name}: rows = content of one group, columns = style of one observation")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_cost_by_group(models: dict[str, GroupVAE], data: GroupedData, path: Path) -> float:
    """Bars of the adversarial model's extra held-out error per group (summed squared error per feature),
    costliest first; returns the share the 5 costliest groups carry (:func:`extra_error_share`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = models["plain"].config.group_size
    err = {name: reconstruction_errors(vae, data.x_test, data.g_test, group_size=k) for name, vae in models.items()}
    labels, gid = np.unique(data.g_test, return_inverse=True)
    extra = np.bincount(gid, weights=err["adversarial"] - err["plain"])
    order = np.argsort(extra)[::-1]
    share = extra_error_share(err["plain"], err["adversarial"], data.g_test, top=5)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.bar(np.arange(len(extra)), extra[order], color=np.where(extra[order] > 0, "C3", "C2"), width=1.0)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel(f"group, costliest first ({len(labels)} groups)")
    ax.set_ylabel("adversarial - plain\nheld-out squared error")
    ax.set_title(f"5 costliest groups carry {share:.0%} of the extra error; "
                 f"{int((extra < 0).sum())} groups reconstruct better with the adversary", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return share


def analyze_disentangle(
    data: str = "digits", *, out: Path | None = None, data_dir: Path | None = None, max_records: int | None = None,
    epochs: int | None = None, adv_weight: float | None = None, style_dim: int | None = None,
    foreign: float | None = None, seed: int = 0, progress: bool = False,
) -> dict:
    """Run the side-by-side comparison; with ``out`` write a report (table, where the cost sits, swaps).

    ``epochs``, ``adv_weight``, ``style_dim`` and ``foreign`` (``VaeConfig.augment_foreign``) override the
    dataset's defaults (``style_dim`` and ``foreign`` change both versions: the plain reference is the same
    architecture and training without the adversarial term).
    """
    if data not in DEFAULTS:
        raise ValueError(f"data must be one of {', '.join(DEFAULTS)}, got {data!r}")
    config = replace(DEFAULTS[data], seed=seed)
    if epochs is not None:
        config = replace(config, epochs=epochs)
    if adv_weight is not None:
        config = replace(config, adv_weight=adv_weight)
    if style_dim is not None:
        config = replace(config, style_dim=style_dim)
    if foreign is not None:
        config = replace(config, augment_foreign=foreign)
    if data == "digits":
        grouped = grouped_digits(seed=seed)
    else:
        from edgewise.data.paths import default_dataset_dir

        data_dir = data_dir or default_dataset_dir("ludb")
        if data_dir is None:
            raise FileNotFoundError("no LUDB folder: pass --data-dir or set EDGEWISE_DATA")
        grouped = grouped_beats(data_dir, max_records=max_records)
    comp, models = compare(grouped, config, progress=progress)
    summary = comp.summary()
    if out is not None:
        from edgewise.reporting import Report

        rep = Report(f"Grouped VAE, with and without the adversarial MI term: {grouped.name}", Path(out))
        rep.text(f"{len(grouped.x_train)} training and {len(grouped.x_test)} held-out observations. "
                 f"Leakage: a probe trained on the frozen style codes of the training split predicts the group "
                 f"of held-out observations; chance is the most frequent held-out group. Reconstruction: held-out "
                 f"observations, their content pooled over held-out members of their group. Both versions share "
                 f"data, split, architecture and seed; only the adversarial weight differs. Gap closed: "
                 f"{comp.gap_closed:.3f} (target >= 0.5); recon ratio: {comp.recon_ratio:.3f} (target <= 1.05; on the "
                 f"training split {comp.train_recon_ratio:.3f}).")
        rep.table(Comparison.HEADER, comp.rows(), caption="held-out split")
        rep.table(["setting", "value"], [[k, v] for k, v in asdict(config).items()], caption="config")
        rep.image(_plot_measures(comp, Path(out) / "measures.png"), caption="leakage and reconstruction")
        top5 = _plot_cost_by_group(models, grouped, Path(out) / "cost_by_group.png")
        rep.image(Path(out) / "cost_by_group.png",
                  caption=f"where the reconstruction cost sits: the 5 costliest groups carry {top5:.0%} of the "
                          f"adversarial model's extra held-out error")
        rep.image(_plot_swaps(models, grouped, Path(out) / "swaps.png"), caption="content/style swaps")
        rep.data = summary
        summary["report"] = str(rep.write())
    return summary
