"""IHDP semi-synthetic benchmark: reader and the literature's evaluation protocol.

The data are the NPCI simulation of Hill (2011), "Bayesian nonparametric modeling for causal
inference" (JCGS 20(1)), as distributed by Shalit, Johansson & Sontag (ICML 2017) and used by CEVAE
(Louizos et al., NeurIPS 2017): one CSV per replication, ``ihdp_npci_<k>.csv``, no header, columns
``treatment, y_factual, y_cfactual, mu0, mu1, x1..x25``. Covariate ``x14`` is coded 1/2 in these
files; the reader recodes it to 0/1 like the other binary covariates.

Protocol (CEVAE / Shalit et al.): per replication, 10 % of the units are held out as the
out-of-sample test set; the remaining 90 % ("in-sample") are split 70/30 into train and validation
(overall 63/27/10). Splits are stratified by treatment and seeded by the replication number, so every
method sees identical splits.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edgewise.runtime.errors import InputError

N_COLUMNS = 30
X14_COLUMN = 13  # zero-based index of x14 among the 25 covariates
_PATTERN = re.compile(r"^ihdp_npci_(\d+)\.csv$")


@dataclass(frozen=True)
class CausalData:
    """One observational data set with known potential outcomes.

    Attributes:
        x: float64 [n, d] covariates.
        t: int64 [n] treatment in {0, 1}.
        y: float64 [n] factual outcome.
        mu0: float64 [n] noiseless outcome under control.
        mu1: float64 [n] noiseless outcome under treatment.
        name: a label for reports (``"ihdp-3"``, ``"synthetic(overlap=2)"``).
        propensity: float64 [n] true P(t=1 | x) when known (synthetic data), else None.
    """

    x: np.ndarray
    t: np.ndarray
    y: np.ndarray
    mu0: np.ndarray
    mu1: np.ndarray
    name: str = ""
    propensity: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.x)
        if self.x.ndim != 2:
            raise InputError(f"expected covariates of shape [n, d], got {self.x.shape}")
        for field_name in ("t", "y", "mu0", "mu1"):
            arr = getattr(self, field_name)
            if arr.shape != (n,):
                raise InputError(f"expected {field_name} of shape ({n},), got {arr.shape}")
        if not np.isin(self.t, (0, 1)).all():
            raise InputError(f"treatment must be 0/1, got values {np.unique(self.t)[:5]}")

    @property
    def ite(self) -> np.ndarray:
        """True individual treatment effect mu1 - mu0, float64 [n]."""
        return self.mu1 - self.mu0

    def subset(self, idx: np.ndarray) -> CausalData:
        """The units ``idx`` (integer indices) as a new ``CausalData``."""
        prop = None if self.propensity is None else self.propensity[idx]
        return CausalData(self.x[idx], self.t[idx], self.y[idx], self.mu0[idx], self.mu1[idx],
                          name=self.name, propensity=prop)


@dataclass(frozen=True)
class Split:
    """Integer unit indices of one replication's train / validation / test parts."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    @property
    def in_sample(self) -> np.ndarray:
        """Train and validation units together (the literature's "within-sample" set)."""
        return np.concatenate([self.train, self.valid])


def list_replications(folder: str | Path) -> dict[int, Path]:
    """Map replication number -> file for every ``ihdp_npci_<k>.csv`` in ``folder``.

    Raises:
        InputError: the folder does not exist or holds no such file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise InputError(f"IHDP folder {folder} {what}; pass a folder of ihdp_npci_<k>.csv files")
    found = {int(m.group(1)): p for p in folder.iterdir() if (m := _PATTERN.match(p.name))}
    if not found:
        raise InputError(f"no ihdp_npci_<k>.csv files in {folder}; expected the NPCI CSV replications")
    return dict(sorted(found.items()))


def load_replication(path: str | Path) -> CausalData:
    """Read one ``ihdp_npci_<k>.csv`` (no header, 30 columns) into ``CausalData``."""
    path = Path(path)
    try:
        raw = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise InputError(f"{path}: not a numeric CSV without header ({e})") from e
    if raw.shape[1] != N_COLUMNS:
        raise InputError(f"{path}: expected {N_COLUMNS} columns (treatment, y_factual, y_cfactual, mu0, mu1, "
                         f"x1..x25), got {raw.shape[1]}")
    if not np.isfinite(raw).all():
        raise InputError(f"{path}: contains non-finite values")
    x = raw[:, 5:].copy()
    codes = np.unique(x[:, X14_COLUMN])
    if set(codes) <= {1.0, 2.0}:  # x14 is coded 1/2 in the NPCI files
        x[:, X14_COLUMN] -= 1.0
    m = _PATTERN.match(path.name)
    name = f"ihdp-{m.group(1)}" if m else path.stem
    return CausalData(x=x, t=raw[:, 0].astype(np.int64), y=raw[:, 1], mu0=raw[:, 3], mu1=raw[:, 4], name=name)


def load_ihdp(folder: str | Path, replications: Sequence[int] | None = None) -> dict[int, CausalData]:
    """Load the requested replications (all found when None) from ``folder``.

    Raises:
        InputError: a requested replication is not in the folder (the message lists those present).
    """
    files = list_replications(folder)
    wanted = list(files) if replications is None else list(replications)
    missing = [k for k in wanted if k not in files]
    if missing:
        raise InputError(f"replications {missing} not in {folder}; available: {_ranges(list(files))}")
    return {k: load_replication(files[k]) for k in wanted}


def protocol_split(t: np.ndarray, *, seed: int, test_frac: float = 0.1, valid_frac: float = 0.3) -> Split:
    """Stratified 90/10 in/out-of-sample split, then 70/30 train/validation of the in-sample part.

    Args:
        t: int [n] treatment indicators (the split keeps their proportion in every part).
        seed: seed of the permutation; use the replication number so all methods share the split.
        test_frac: out-of-sample fraction.
        valid_frac: validation fraction of the in-sample part.
    """
    if not (0 < test_frac < 1 and 0 < valid_frac < 1):
        raise ValueError(f"fractions must lie in (0, 1), got test_frac={test_frac}, valid_frac={valid_frac}")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "test": []}
    for arm in (0, 1):
        idx = rng.permutation(np.flatnonzero(t == arm))
        n_test = int(round(test_frac * len(idx)))
        n_valid = int(round(valid_frac * (len(idx) - n_test)))
        parts["test"].append(idx[:n_test])
        parts["valid"].append(idx[n_test:n_test + n_valid])
        parts["train"].append(idx[n_test + n_valid:])
    return Split(**{k: np.sort(np.concatenate(v)) for k, v in parts.items()})


def _ranges(values: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3,7"``."""
    out: list[str] = []
    for v in sorted(values):
        if out and out[-1].split("-")[-1] == str(v - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{v}"
        else:
            out.append(str(v))
    return ",".join(out)
