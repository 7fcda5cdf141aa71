"""IHDP benchmark of DKLITE against its baselines, its uncertainty, and a synthetic overlap study.

Protocol (Shalit, Johansson & Sontag, ICML 2017; Louizos et al., CEVAE, NeurIPS 2017): per
replication a stratified 63/27/10 train/validation/test split seeded by the replication number and
shared by every method; sqrt(PEHE) = RMSE between estimated and true ITE (mu1 - mu0), and ATE error =
|mean estimated ITE - mean true ITE|, both in-sample (train + validation, 90 %) and out-of-sample
(test, 10 %); mean and standard error over replications. DKLITE (Zhang, Bellot & van der Schaar,
AISTATS 2020) also reports the coverage of its ITE credible intervals and how its posterior variance
flags units with poor overlap.

The result is JSON-able: ``{"methods": {name: {"replications": {k: {metric: value}}, "mean": {...},
"se": {...}}}, "uncertainty": {k: {...}}, "seconds": {name: {k: wall s}}, "cpu_seconds": {...}, "protocol": {...}}``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Sequence

import numpy as np

from edgewise.analysis.ite.baselines import available_methods, make_estimator
from edgewise.analysis.ite.ihdp import CausalData, Split, load_ihdp, protocol_split

METRICS = ("pehe_in", "pehe_out", "ate_err_in", "ate_err_out")
DEFAULT_METHODS = ("dklite", "tarnet", "cfr_wass", "t_learner_gb", "s_learner_gb", "ols_interact")


@dataclass(frozen=True)
class BenchmarkConfig:
    """What to run and how to score it.

    Attributes:
        methods: registered method names (``available_methods()``).
        seed: initialisation seed shared by every method and replication (never tuned per replication).
        test_frac: out-of-sample fraction; valid_frac: validation fraction of the in-sample part.
        level: credible level of the DKLITE ITE intervals whose coverage is reported.
        flag_quantile: units whose ITE posterior std exceeds this quantile of the in-sample stds are flagged.
    """

    methods: tuple[str, ...] = DEFAULT_METHODS
    seed: int = 0
    test_frac: float = 0.1
    valid_frac: float = 0.3
    level: float = 0.9
    flag_quantile: float = 0.9

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", tuple(self.methods))
        unknown = [m for m in self.methods if m not in available_methods()]
        if unknown or not self.methods:
            raise ValueError(f"unknown ITE methods {unknown or '(none given)'}; known: {', '.join(available_methods())}")
        if not (0 < self.level < 1 and 0 < self.flag_quantile < 1):
            raise ValueError(f"level and flag_quantile must lie in (0, 1), got {self.level}, {self.flag_quantile}")


def ite_errors(ite_hat: np.ndarray, ite_true: np.ndarray) -> tuple[float, float]:
    """(sqrt(PEHE), |ATE error|) of estimated ITEs against true ones (float [n] each)."""
    return float(np.sqrt(np.mean((ite_hat - ite_true) ** 2))), float(abs(ite_hat.mean() - ite_true.mean()))


def interval_stats(ite_hat: np.ndarray, ite_var: np.ndarray, ite_true: np.ndarray, level: float) -> dict[str, float]:
    """Coverage and mean width of the central ``level`` credible intervals ``ite_hat +- z sd``."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    sd = np.sqrt(np.maximum(ite_var, 0))
    return {"coverage": float(np.mean(np.abs(ite_hat - ite_true) <= z * sd)), "width": float(np.mean(2 * z * sd))}


def _uncertainty(post_in, post_out, data: CausalData, split: Split, cfg: BenchmarkConfig) -> dict[str, float]:
    """DKLITE's interval coverage, and the error of units its variance flags versus the others."""
    ite_in, ite_out = data.ite[split.in_sample], data.ite[split.test]
    out = {f"{k}_in": v for k, v in interval_stats(post_in.ite, post_in.ite_var, ite_in, cfg.level).items()}
    out.update({f"{k}_out": v for k, v in interval_stats(post_out.ite, post_out.ite_var, ite_out, cfg.level).items()})
    sd_all = np.sqrt(np.concatenate([post_in.ite_var, post_out.ite_var]))
    err_all = np.abs(np.concatenate([post_in.ite - ite_in, post_out.ite - ite_out]))
    flagged = sd_all > np.quantile(np.sqrt(post_in.ite_var), cfg.flag_quantile)
    out["flagged_frac"] = float(flagged.mean())
    out["pehe_flagged"] = float(np.sqrt(np.mean(err_all[flagged] ** 2))) if flagged.any() else float("nan")
    out["pehe_unflagged"] = float(np.sqrt(np.mean(err_all[~flagged] ** 2))) if (~flagged).any() else float("nan")
    out["spearman_sd_abs_err"] = _spearman(sd_all, err_all)
    return out


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when either input is constant."""
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def evaluate_replication(data: CausalData, split: Split, cfg: BenchmarkConfig, *, progress=None) -> dict:
    """Fit every method on one replication's split and score it.

    Returns:
        ``{"metrics": {method: {metric: value}}, "seconds": {method: wall s}, "cpu_seconds": {method: s},
        "uncertainty": {...} or None,
        "posterior": (in-sample, out-of-sample) DKLITE posteriors or None}``.
    """
    tr, va = data.subset(split.train), data.subset(split.valid)
    res: dict = {"metrics": {}, "seconds": {}, "cpu_seconds": {}, "uncertainty": None, "posterior": None}
    for name in cfg.methods:
        start, cpu = time.perf_counter(), time.process_time()
        model = make_estimator(name, seed=cfg.seed).fit(tr.x, tr.t, tr.y, x_val=va.x, t_val=va.t, y_val=va.y)
        res["seconds"][name] = time.perf_counter() - start
        res["cpu_seconds"][name] = time.process_time() - cpu
        scores = {}
        for tag, idx in (("in", split.in_sample), ("out", split.test)):
            mu0, mu1 = model.predict_outcomes(data.x[idx])
            scores[f"pehe_{tag}"], scores[f"ate_err_{tag}"] = ite_errors(mu1 - mu0, data.ite[idx])
        res["metrics"][name] = {m: scores[m] for m in METRICS}
        if name == "dklite":
            post = (model.predict(data.x[split.in_sample]), model.predict(data.x[split.test]))
            res["uncertainty"] = _uncertainty(*post, data, split, cfg)
            res["posterior"] = post
        if progress is not None:
            progress.update(1)
    return res


def summarize(per_rep: dict[int, dict[str, float]]) -> dict[str, dict]:
    """``{"replications": ..., "mean": ..., "se": ...}`` over replications (se is None for one replication)."""
    keys = sorted(per_rep)
    vals = {m: np.array([per_rep[k][m] for k in keys]) for m in METRICS}
    se = {m: (float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else None) for m, v in vals.items()}
    return {"replications": {str(k): per_rep[k] for k in keys}, "mean": {m: float(v.mean()) for m, v in vals.items()},
            "se": se}


def run_ihdp(folder: str | Path, replications: Sequence[int] | None = None,
             config: BenchmarkConfig = BenchmarkConfig(), *, progress: bool = False) -> dict:
    """Run the benchmark on the IHDP replications in ``folder`` (all of them when None).

    Returns:
        The JSON-able result described in the module docstring, plus ``"_posteriors"`` (not JSON: the
        DKLITE posteriors per replication, for plots; ``to_json`` drops it).
    """
    data = load_ihdp(folder, replications)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(data) * len(config.methods), desc="ITE benchmark", unit="fit", leave=False)
    per_method: dict[str, dict[int, dict]] = {m: {} for m in config.methods}
    seconds: dict[str, dict[str, float]] = {m: {} for m in config.methods}
    cpu_seconds: dict[str, dict[str, float]] = {m: {} for m in config.methods}
    uncertainty, posteriors = {}, {}
    try:
        for k, rep in data.items():
            split = protocol_split(rep.t, seed=k, test_frac=config.test_frac, valid_frac=config.valid_frac)
            res = evaluate_replication(rep, split, config, progress=bar)
            for m in config.methods:
                per_method[m][k] = res["metrics"][m]
                seconds[m][str(k)] = res["seconds"][m]
                cpu_seconds[m][str(k)] = res["cpu_seconds"][m]
            if res["uncertainty"] is not None:
                uncertainty[str(k)] = res["uncertainty"]
                posteriors[k] = (res["posterior"], rep.ite[split.in_sample], rep.ite[split.test])
    finally:
        if bar is not None:
            bar.close()
    return {"methods": {m: summarize(per_method[m]) for m in config.methods}, "uncertainty": uncertainty,
            "seconds": seconds, "cpu_seconds": cpu_seconds, "protocol": {"split": "stratified 63/27/10 train/valid/test, seed = replication",
                                             "in_sample": "train+valid", "replications": sorted(data),
                                             "seed": config.seed, "level": config.level},
            "_posteriors": posteriors}


def to_json(result: dict, *, methods_only: bool = False) -> dict:
    """The JSON-able part of a ``run_ihdp`` result (only ``{"methods": ...}`` when ``methods_only``)."""
    if methods_only:
        return {"methods": result["methods"]}
    return {k: v for k, v in result.items() if not k.startswith("_")}


def format_table(result: dict) -> str:
    """A plain-text table: mean +- s.e. of every metric per method, best out-of-sample first."""
    def cell(summary: dict, m: str) -> str:
        se = summary["se"][m]
        return f"{summary['mean'][m]:.3f}" + (f" ± {se:.3f}" if se is not None else "")

    names = sorted(result["methods"], key=lambda n: result["methods"][n]["mean"]["pehe_out"])
    header = ["method", "√PEHE in", "√PEHE out", "ATE err in", "ATE err out"]
    rows = [[n] + [cell(result["methods"][n], m) for m in METRICS] for n in names]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    unc = result.get("uncertainty") or {}
    if unc:
        cov = np.mean([u["coverage_out"] for u in unc.values()])
        fl = [u["pehe_flagged"] for u in unc.values() if np.isfinite(u["pehe_flagged"])]
        nf = [u["pehe_unflagged"] for u in unc.values()]
        lines.append(f"dklite: {result['protocol']['level']:.0%} credible-interval coverage out-of-sample {cov:.2f}; "
                     f"√PEHE of high-variance units {np.mean(fl):.3f} vs others {np.mean(nf):.3f}")
    return "\n".join(lines)


def overlap_study(imbalances: Sequence[float] = (0.0, 1.0, 2.0, 4.0), reg_vars: Sequence[float] = (0.0, 1.0), *,
                  n: int = 1000, seeds: Sequence[int] = (0,), epochs: int = 1000) -> dict:
    """DKLITE with and without the counterfactual-variance regulariser on synthetic data of growing imbalance.

    Every setting uses the same split protocol as IHDP. Also reports how well the ITE posterior std ranks
    units by poor overlap (Spearman correlation with ``-min(e, 1 - e)``, e the true propensity).

    Returns:
        ``{"<imbalance>": {"reg_var=<v>": {"pehe_in", "pehe_out", "coverage_out", "spearman_sd_overlap"}}}``
        averaged over ``seeds`` (SYNTHETIC data).
    """
    from edgewise.analysis.ite.dklite import DKLITE, DKLITEConfig
    from edgewise.analysis.ite.synthetic import SyntheticConfig, make_synthetic

    out: dict[str, dict] = {}
    for kappa in imbalances:
        rows: dict[str, list[dict]] = {f"reg_var={v:g}": [] for v in reg_vars}
        for seed in seeds:
            data = make_synthetic(SyntheticConfig(n=n, imbalance=kappa, seed=seed))
            split = protocol_split(data.t, seed=seed)
            tr, va = data.subset(split.train), data.subset(split.valid)
            for v in reg_vars:
                model = DKLITE(DKLITEConfig(reg_var=v, epochs=epochs, seed=seed))
                model.fit(tr.x, tr.t, tr.y, x_val=va.x, t_val=va.t, y_val=va.y)
                p_in, p_out = model.predict(data.x[split.in_sample]), model.predict(data.x[split.test])
                e = data.propensity
                sd = np.sqrt(np.concatenate([p_in.ite_var, p_out.ite_var]))
                poor = -np.minimum(e, 1 - e)[np.concatenate([split.in_sample, split.test])]
                rows[f"reg_var={v:g}"].append({
                    "pehe_in": ite_errors(p_in.ite, data.ite[split.in_sample])[0],
                    "pehe_out": ite_errors(p_out.ite, data.ite[split.test])[0],
                    "coverage_out": interval_stats(p_out.ite, p_out.ite_var, data.ite[split.test], 0.9)["coverage"],
                    "spearman_sd_overlap": _spearman(sd, poor)})
        out[f"{kappa:g}"] = {k: {m: float(np.mean([r[m] for r in v])) for m in v[0]} for k, v in rows.items()}
    return out


def format_overlap(study: dict) -> str:
    """Plain-text table of an ``overlap_study`` result."""
    lines = ["SYNTHETIC overlap study (imbalance 0 = randomised; larger = poorer overlap)",
             "imbalance  setting      √PEHE in  √PEHE out  90% cov out  spearman(sd, poor overlap)"]
    for kappa, settings in study.items():
        for name, r in settings.items():
            lines.append(f"{kappa:<9}  {name:<11}  {r['pehe_in']:<8.3f}  {r['pehe_out']:<9.3f}  "
                         f"{r['coverage_out']:<11.2f}  {r['spearman_sd_overlap']:.2f}")
    return "\n".join(lines)


def write_report(result: dict, out: str | Path) -> Path:
    """Write ``report.md/html/json`` with the table and plots into ``out``; returns the Markdown path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgewise.reporting import Report

    report = Report("Individualized treatment effects on IHDP", Path(out))
    report.text(f"Protocol: {result['protocol']['split']}; in-sample = {result['protocol']['in_sample']}; "
                f"replications {result['protocol']['replications']}; mean ± standard error over replications.")
    names = sorted(result["methods"], key=lambda n: result["methods"][n]["mean"]["pehe_out"])
    rows = [[n] + [result["methods"][n]["mean"][m] for m in METRICS]
            + [result["methods"][n]["se"]["pehe_out"] if result["methods"][n]["se"]["pehe_out"] is not None else float("nan")]
            for n in names]
    report.table(["method", *METRICS, "se pehe_out"], rows, caption="IHDP √PEHE and ATE error")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    means = [result["methods"][n]["mean"]["pehe_out"] for n in names]
    ses = [result["methods"][n]["se"]["pehe_out"] or 0.0 for n in names]
    ax.bar(names, means, yerr=ses, color=["C3" if n == "dklite" else "C0" for n in names], capsize=3)
    ax.set_ylabel("out-of-sample √PEHE")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(Path(out) / "pehe_out.png", dpi=120)
    plt.close(fig)
    report.image(Path(out) / "pehe_out.png", caption="out-of-sample √PEHE, mean ± s.e.")

    posts = result.get("_posteriors") or {}
    if posts:
        fig, ax = plt.subplots(figsize=(5, 4))
        for k, ((p_in, p_out), ite_in, ite_out) in posts.items():
            ax.scatter(np.sqrt(p_in.ite_var), np.abs(p_in.ite - ite_in), s=4, alpha=0.3, color="C0")
            ax.scatter(np.sqrt(p_out.ite_var), np.abs(p_out.ite - ite_out), s=8, alpha=0.8, color="C3")
        ax.set_xlabel("DKLITE ITE posterior std")
        ax.set_ylabel("|ITE error|")
        ax.set_title("blue in-sample, red out-of-sample")
        fig.tight_layout()
        fig.savefig(Path(out) / "dklite_sd_vs_error.png", dpi=120)
        plt.close(fig)
        report.image(Path(out) / "dklite_sd_vs_error.png", caption="units with high posterior variance (poor overlap)")
        unc = result["uncertainty"]
        report.table(["replication", "coverage in", "coverage out", "width out", "√PEHE flagged", "√PEHE others"],
                     [[k, u["coverage_in"], u["coverage_out"], u["width_out"], u["pehe_flagged"], u["pehe_unflagged"]]
                      for k, u in unc.items()], caption=f"DKLITE {result['protocol']['level']:.0%} credible intervals")
    report.data = to_json(result)
    return report.write()
