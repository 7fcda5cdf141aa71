"""Baseline ITE estimators on one interface, and the registry of every benchmarked method.

* ``ols_interact`` — OLS on ``[x, t, t*x]`` (OLS-2 of Shalit, Johansson & Sontag, ICML 2017).
* ``t_learner_gb`` / ``s_learner_gb`` — meta-learners (Künzel et al., PNAS 2019) with scikit-learn
  gradient boosting: one regressor per arm, or one regressor on ``[x, t]``.
* ``tarnet`` / ``cfr_wass`` — TARNet and CFR-Wass (Shalit et al. 2017): a shared ELU representation
  with one outcome head per arm, sample weights for the treated fraction, and for CFR an entropic
  Wasserstein (Sinkhorn; Cuturi 2013) penalty between the treated and control representations.
  catenets (the reference implementation) needs JAX and an old stack, so these are written here.
* ``dklite`` — the deep-kernel model of ``edgewise.analysis.ite.dklite``; ``dklite_no_var`` is the
  ablation without the counterfactual-variance (overlap) regulariser.

A causal forest is not included: EconML does not co-install with the pinned stack (it downgrades
scikit-learn to 1.6 or pulls numpy 2).

Every estimator has ``fit(x, t, y, *, x_val, t_val, y_val)`` and ``predict_outcomes(x) -> (mu0, mu1)``.
Methods without model selection train on train and validation together.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np


class ITEEstimator(Protocol):
    def fit(self, x: np.ndarray, t: np.ndarray, y: np.ndarray, *, x_val: np.ndarray | None = None,
            t_val: np.ndarray | None = None, y_val: np.ndarray | None = None) -> ITEEstimator: ...

    def predict_outcomes(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


_METHODS: dict[str, Callable[[int], ITEEstimator]] = {}


def register(name: str) -> Callable:
    """Register a factory ``seed -> estimator`` under ``name`` (a duplicate name raises)."""
    def deco(factory: Callable[[int], ITEEstimator]) -> Callable[[int], ITEEstimator]:
        if name in _METHODS:
            raise ValueError(f"ITE method {name!r} is already registered")
        _METHODS[name] = factory
        return factory
    return deco


def available_methods() -> tuple[str, ...]:
    """Names of the registered methods, in registration order."""
    return tuple(_METHODS)


def make_estimator(name: str, *, seed: int = 0) -> ITEEstimator:
    """A fresh, unfitted estimator ``name``; an unknown name lists the known ones."""
    if name not in _METHODS:
        raise ValueError(f"unknown ITE method {name!r}; known: {', '.join(_METHODS)}")
    return _METHODS[name](seed)


def _pool(x, t, y, x_val, t_val, y_val) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train and validation together (for methods that do no model selection)."""
    if x_val is None:
        return np.asarray(x, float), np.asarray(t, int), np.asarray(y, float)
    return (np.concatenate([x, x_val]).astype(float), np.concatenate([t, t_val]).astype(int),
            np.concatenate([y, y_val]).astype(float))


class OLSInteraction:
    """Least squares on ``[1, x, t, t*x]``: a linear outcome per arm."""

    def fit(self, x, t, y, *, x_val=None, t_val=None, y_val=None) -> OLSInteraction:
        x, t, y = _pool(x, t, y, x_val, t_val, y_val)
        self.coef_, *_ = np.linalg.lstsq(self._design(x, t), y, rcond=None)
        return self

    @staticmethod
    def _design(x: np.ndarray, t: np.ndarray) -> np.ndarray:
        t = t.astype(float)[:, None]
        return np.hstack([np.ones_like(t), x, t, t * x])

    def predict_outcomes(self, x):
        x = np.asarray(x, float)
        n = len(x)
        return (self._design(x, np.zeros(n)) @ self.coef_, self._design(x, np.ones(n)) @ self.coef_)


class TLearner:
    """One gradient-boosting regressor per arm (scikit-learn defaults)."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, x, t, y, *, x_val=None, t_val=None, y_val=None) -> TLearner:
        from sklearn.ensemble import GradientBoostingRegressor

        x, t, y = _pool(x, t, y, x_val, t_val, y_val)
        self.models_ = [GradientBoostingRegressor(random_state=self.seed).fit(x[t == a], y[t == a]) for a in (0, 1)]
        return self

    def predict_outcomes(self, x):
        return tuple(m.predict(np.asarray(x, float)) for m in self.models_)


class SLearner:
    """One gradient-boosting regressor on ``[x, t]`` (scikit-learn defaults)."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, x, t, y, *, x_val=None, t_val=None, y_val=None) -> SLearner:
        from sklearn.ensemble import GradientBoostingRegressor

        x, t, y = _pool(x, t, y, x_val, t_val, y_val)
        self.model_ = GradientBoostingRegressor(random_state=self.seed).fit(np.column_stack([x, t]), y)
        return self

    def predict_outcomes(self, x):
        x = np.asarray(x, float)
        col = np.ones((len(x), 1))
        return self.model_.predict(np.hstack([x, 0 * col])), self.model_.predict(np.hstack([x, col]))


@dataclass(frozen=True)
class RepNetConfig:
    """TARNet / CFR hyper-parameters (Shalit et al. 2017's IHDP architecture, shortened training).

    Attributes:
        rep_layers, rep_width: shared representation depth and width.
        head_layers, head_width: per-arm outcome head depth and width.
        alpha: weight of the Wasserstein imbalance penalty (0 = TARNet).
        lr, weight_decay, batch_size: Adam settings.
        epochs, patience: maximum epochs; stop after ``patience`` epochs without better validation loss.
        sinkhorn_lambda, sinkhorn_iters: entropic regularisation (relative to the mean cost) and iterations.
        seed: initialisation and batching seed.
    """

    rep_layers: int = 3
    rep_width: int = 200
    head_layers: int = 3
    head_width: int = 100
    alpha: float = 0.0
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 100
    epochs: int = 300
    patience: int = 30
    sinkhorn_lambda: float = 10.0
    sinkhorn_iters: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("rep_layers", "rep_width", "head_layers", "head_width", "batch_size", "epochs", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.alpha < 0 or self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"need alpha >= 0, lr > 0, weight_decay >= 0; got {self.alpha}, {self.lr}, {self.weight_decay}")


def sinkhorn_distance(a, b, *, lam: float = 10.0, iters: int = 10):
    """Entropic Wasserstein-1 distance between two point clouds with uniform weights.

    Args:
        a: torch float [n, k]; b: torch float [m, k].
        lam: inverse entropic temperature relative to the mean Euclidean cost.
        iters: Sinkhorn iterations (log domain).

    Returns:
        scalar tensor: sum of transport plan times Euclidean cost (plan treated as a constant, as in CFR).
    """
    import torch

    cost = torch.cdist(a, b)
    eps = cost.detach().mean().clamp_min(1e-8) / lam
    log_mu = torch.full((len(a),), -math.log(len(a)), dtype=a.dtype)
    log_nu = torch.full((len(b),), -math.log(len(b)), dtype=a.dtype)
    f = torch.zeros_like(log_mu)
    g = torch.zeros_like(log_nu)
    k = -cost.detach() / eps
    for _ in range(iters):
        f = log_mu - torch.logsumexp(k + g[None, :], dim=1)
        g = log_nu - torch.logsumexp(k + f[:, None], dim=0)
    plan = torch.exp(k + f[:, None] + g[None, :])
    return (plan * cost).sum()


class RepNet:
    """TARNet (``alpha = 0``) or CFR-Wass (``alpha > 0``) with validation early stopping."""

    def __init__(self, config: RepNetConfig = RepNetConfig()):
        self.config = config

    def _build(self, d: int):
        from torch import nn

        cfg = self.config

        def mlp(sizes):
            return nn.Sequential(*[m for a, b in zip(sizes[:-1], sizes[1:]) for m in (nn.Linear(a, b), nn.ELU())])

        rep = mlp([d] + [cfg.rep_width] * cfg.rep_layers)
        heads = nn.ModuleList(
            nn.Sequential(mlp([cfg.rep_width] + [cfg.head_width] * cfg.head_layers), nn.Linear(cfg.head_width, 1))
            for _ in (0, 1))
        return nn.ModuleDict({"rep": rep, "heads": heads})

    def _forward(self, x, t):
        import torch

        h = self.net_["rep"](x)
        out = torch.where(t == 1, self.net_["heads"][1](h).squeeze(1), self.net_["heads"][0](h).squeeze(1))
        return h, out

    def _loss(self, x, t, y, w):
        h, out = self._forward(x, t)
        loss = (w * (out - y) ** 2).mean()
        if self.config.alpha > 0 and 0 < int(t.sum()) < len(t):
            loss = loss + self.config.alpha * sinkhorn_distance(
                h[t == 1], h[t == 0], lam=self.config.sinkhorn_lambda, iters=self.config.sinkhorn_iters)
        return loss

    def fit(self, x, t, y, *, x_val=None, t_val=None, y_val=None) -> RepNet:
        import torch

        cfg = self.config
        x, t, y = np.asarray(x, float), np.asarray(t, int), np.asarray(y, float)
        self.x_mean_, self.x_std_ = x.mean(0), np.where(x.std(0) > 0, x.std(0), 1.0)
        self.y_mean_, self.y_std_ = y.mean(), (y.std() if y.std() > 0 else 1.0)
        u = t.mean()

        def tensors(xx, tt, yy):
            w = tt / (2 * u) + (1 - tt) / (2 * (1 - u))  # CFR's re-weighting for the treated fraction
            return (self._x(xx), torch.as_tensor(tt), torch.as_tensor((yy - self.y_mean_) / self.y_std_, dtype=torch.float32),
                    torch.as_tensor(w, dtype=torch.float32))

        tr = tensors(x, t, y)
        va = tensors(x_val, np.asarray(t_val, int), np.asarray(y_val, float)) if x_val is not None else tr
        gen = torch.Generator().manual_seed(cfg.seed)
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            self.net_ = self._build(x.shape[1])
        opt = torch.optim.Adam(self.net_.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        best, best_state, since = math.inf, None, 0
        for _ in range(cfg.epochs):
            self.net_.train()
            for idx in torch.randperm(len(x), generator=gen).split(cfg.batch_size):
                opt.zero_grad()
                self._loss(*(a[idx] for a in tr)).backward()
                opt.step()
            with torch.no_grad():
                _, out = self._forward(va[0], va[1])
                val = float((va[3] * (out - va[2]) ** 2).mean())
            if val < best:
                best, best_state, since = val, copy.deepcopy(self.net_.state_dict()), 0
            else:
                since += 1
                if since >= cfg.patience:
                    break
        self.net_.load_state_dict(best_state)
        return self

    def _x(self, x):
        import torch

        return torch.as_tensor((np.asarray(x, float) - self.x_mean_) / self.x_std_, dtype=torch.float32)

    def predict_outcomes(self, x):
        import torch

        with torch.no_grad():
            h = self.net_["rep"](self._x(x))
            mu = [self.net_["heads"][a](h).squeeze(1).numpy().astype(float) * self.y_std_ + self.y_mean_ for a in (0, 1)]
        return mu[0], mu[1]


@register("dklite")
def _dklite(seed: int) -> ITEEstimator:
    from edgewise.analysis.ite.dklite import DKLITE, DKLITEConfig

    return DKLITE(DKLITEConfig(seed=seed))


@register("dklite_no_var")
def _dklite_no_var(seed: int) -> ITEEstimator:
    """Ablation: DKLITE without the counterfactual-variance (overlap) regulariser."""
    from edgewise.analysis.ite.dklite import DKLITE, DKLITEConfig

    return DKLITE(DKLITEConfig(reg_var=0.0, seed=seed))


register("tarnet")(lambda seed: RepNet(RepNetConfig(alpha=0.0, seed=seed)))
register("cfr_wass")(lambda seed: RepNet(RepNetConfig(alpha=1.0, seed=seed)))
register("t_learner_gb")(lambda seed: TLearner(seed))
register("s_learner_gb")(lambda seed: SLearner(seed))
register("ols_interact")(lambda seed: OLSInteraction())
