"""The GIN flow and its maximum-likelihood training under a class-conditional Gaussian latent.

Sorrenson, Rother & Köthe, "Disentanglement by Nonlinear ICA with General Incompressible-flow
Networks (GIN)", ICLR 2020. A GIN is a RealNVP-style stack of affine couplings whose log-scales sum to
zero, so every block (and the whole flow) preserves volume: ``log|det J| = 0`` for any input. We use
the authors' own framework, FrEIA (``FrEIA.modules.GINCouplingBlock``: subtracts the mean log-scale,
soft-clamped with atan at ``clamp``), interleaved with fixed random permutations.

Training maximises the likelihood of ``z = f(x)`` under a Gaussian whose mean and (diagonal) standard
deviation are learnt per class. Because the volume is fixed, the flow cannot shrink everything: it
puts the data's variation into a few latents and lets the others collapse to the noise level; those
few are the informative latents.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["FlowConfig", "TrainConfig", "GinModel", "build_flow", "fit_gin", "jacobian_logdet"]


@dataclass(frozen=True)
class FlowConfig:
    """Shape of a GIN (or, for generating test data, a GLOW) flow.

    Attributes:
        n_blocks: coupling blocks, each followed by a fixed random permutation.
        hidden: width of the coupling subnets' hidden layers.
        n_hidden_layers: hidden layers per subnet (ReLU between).
        clamp: soft clamp of the log-scales (FrEIA's ``clamp``; scales stay within exp(±clamp)).
        coupling: ``"gin"`` (volume-preserving) or ``"glow"`` (not; used to mix artificial data).
        init_identity: zero the subnets' last layers so the flow starts as a permutation (as the
            authors train their GIN); False gives a random nonlinear map (the paper's data mixer).
        seed: seeds the subnet weights and the permutations.
    """

    n_blocks: int = 8
    hidden: int = 10
    n_hidden_layers: int = 2
    clamp: float = 2.0
    coupling: str = "gin"
    init_identity: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_blocks < 1 or self.hidden < 1 or self.n_hidden_layers < 1:
            raise ValueError(
                f"n_blocks, hidden and n_hidden_layers must be >= 1, got {self.n_blocks}, "
                f"{self.hidden}, {self.n_hidden_layers}"
            )
        if not self.clamp > 0:
            raise ValueError(f"clamp must be > 0, got {self.clamp}")
        if self.coupling not in ("gin", "glow"):
            raise ValueError(f"coupling must be one of 'gin', 'glow', got {self.coupling!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Maximum-likelihood training (defaults: the paper's artificial experiment).

    Attributes:
        epochs: passes over the data.
        lr: Adam learning rate.
        lr_drop_epoch: epoch at which the learning rate is multiplied by ``lr_drop`` (paper: 50 of 80).
        lr_drop: the factor (paper: 0.1).
        batch_size: samples per step (paper: 1000).
        weight_decay: Adam weight decay on the flow.
        noise: std of fresh Gaussian noise added to every batch (the authors use 0.01); it sets the
            floor the uninformative latents collapse to.
        empirical_vars: use each batch's per-class latent mean and std (the authors' default) instead
            of learnt ones; the class statistics are then set from the whole data after training.
        seed: seeds the latent parameters and batch order.
    """

    epochs: int = 80
    lr: float = 1e-2
    lr_drop_epoch: int = 50
    lr_drop: float = 0.1
    batch_size: int = 1000
    weight_decay: float = 0.0
    noise: float = 0.01
    empirical_vars: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.noise < 0:
            raise ValueError(f"noise must be >= 0, got {self.noise}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if not self.lr > 0 or not 0 < self.lr_drop <= 1:
            raise ValueError(f"need lr > 0 and 0 < lr_drop <= 1, got lr={self.lr}, lr_drop={self.lr_drop}")


def _subnet(hidden: int, n_layers: int):
    def make(c_in: int, c_out: int) -> nn.Module:
        layers: list[nn.Module] = [nn.Linear(c_in, hidden), nn.ReLU()]
        for _ in range(n_layers - 1):
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        layers.append(nn.Linear(hidden, c_out))
        return nn.Sequential(*layers)

    return make


def build_flow(dim: int, config: FlowConfig = FlowConfig()) -> nn.Module:
    """A FrEIA ``SequenceINN`` of ``n_blocks`` couplings and random permutations on ``dim`` features.

    Call it as ``z, log_jac = flow(x)`` and ``x, _ = flow(z, rev=True)`` with ``x: float32 [batch, dim]``.
    """
    try:
        import FrEIA.framework as Ff
        import FrEIA.modules as Fm
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("GIN needs FrEIA: pip install 'edgewise[analysis]'") from e
    if dim < 2:
        raise ValueError(f"a coupling flow needs at least 2 features, got {dim}")
    block = Fm.GINCouplingBlock if config.coupling == "gin" else Fm.GLOWCouplingBlock
    # FrEIA's PermuteRandom reseeds numpy's global generator: keep the caller's state intact.
    state = np.random.get_state()
    try:
        torch.manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        flow = Ff.SequenceINN(dim)
        for _ in range(config.n_blocks):
            flow.append(block, subnet_constructor=_subnet(config.hidden, config.n_hidden_layers), clamp=config.clamp)
            flow.append(Fm.PermuteRandom, seed=int(rng.integers(2**31)))
    finally:
        np.random.set_state(state)
    if config.init_identity:
        with torch.no_grad():
            for block in flow.module_list:
                for sub in (getattr(block, "subnet1", None), getattr(block, "subnet2", None)):
                    if sub is not None:
                        sub[-1].weight.zero_()
                        sub[-1].bias.zero_()
    return flow


class GinModel(nn.Module):
    """A GIN flow plus the per-class Gaussian of its latent space.

    Attributes:
        flow: the invertible network, ``x [batch, dim] -> z [batch, dim]``.
        mu: float32 [n_classes, dim] class means in latent space.
        logsig: float32 [n_classes, dim] class log standard deviations.
    """

    def __init__(self, dim: int, n_classes: int, flow_config: FlowConfig = FlowConfig(), *, seed: int = 0):
        super().__init__()
        if n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {n_classes}")
        self.dim, self.n_classes = dim, n_classes
        self.flow = build_flow(dim, flow_config)
        gen = torch.Generator().manual_seed(seed)
        self.mu = nn.Parameter(torch.randn(n_classes, dim, generator=gen) / math.sqrt(dim))
        self.logsig = nn.Parameter(torch.zeros(n_classes, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float32 [batch, dim] -> z: float32 [batch, dim]."""
        return self.flow(x)[0]

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """z: float32 [batch, dim] -> x: float32 [batch, dim]."""
        return self.flow(z, rev=True)[0]

    def nll(self, x: torch.Tensor, y: torch.Tensor, *, empirical: bool = False) -> torch.Tensor:
        """Mean negative log-likelihood per dimension (nats, constant 0.5·log 2π dropped).

        Args:
            x: float32 [batch, dim] data.
            y: int64 [batch] class of each sample.
            empirical: use the batch's own per-class mean and std (every class present needs >= 2
                samples) instead of ``mu``/``logsig``.
        """
        z, log_jac = self.flow(x)
        if empirical:
            classes, inverse, counts = torch.unique(y, return_inverse=True, return_counts=True)
            keep = counts[inverse] >= 2  # a class seen once in the batch has no std
            if not bool(keep.any()):
                raise ValueError("empirical class statistics need >= 2 samples of some class per batch")
            logsig_c = torch.stack([z[y == c].std(0, unbiased=False) for c in classes]).clamp_min(1e-12).log()
            nll = 0.5 * self.dim + logsig_c[inverse].sum(1) - log_jac
            nll = nll[keep]
        else:
            mu, logsig = self.mu[y], self.logsig[y]
            nll = 0.5 * (((z - mu) * torch.exp(-logsig)) ** 2).sum(1) + logsig.sum(1) - log_jac
        return nll.mean() / self.dim

    @torch.no_grad()
    def set_class_stats(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Set ``mu``/``logsig`` to each class's latent mean and std over ``x [n, dim]``, ``y [n]``."""
        z = self(x)
        for c in range(self.n_classes):
            zc = z[y == c]
            if len(zc) >= 2:
                self.mu[c] = zc.mean(0)
                self.logsig[c] = zc.std(0).clamp_min(1e-12).log()

    @torch.no_grad()
    def sample(self, y: torch.Tensor, *, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw x for classes ``y: int64 [n]`` -> float32 [n, dim]."""
        eps = torch.randn(len(y), self.dim, generator=generator)
        return self.inverse(self.mu[y] + temperature * eps * torch.exp(self.logsig[y]))


def _as_tensors(x: np.ndarray, y: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected data as float [samples, features], got shape {x.shape}")
    if y is None:
        y = np.zeros(len(x), dtype=np.int64)
    y = np.asarray(y)
    if y.shape != (len(x),):
        raise ValueError(f"expected one class label per sample ({len(x)}), got labels of shape {y.shape}")
    if y.min() < 0:
        raise ValueError(f"class labels must be 0..n_classes-1, got minimum {y.min()}")
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)


def fit_gin(
    x: np.ndarray,
    y: np.ndarray | None = None,
    *,
    flow: FlowConfig = FlowConfig(),
    train: TrainConfig = TrainConfig(),
    n_classes: int | None = None,
    progress: bool = False,
) -> tuple[GinModel, list[float]]:
    """Train a GIN by maximum likelihood under a class-conditional Gaussian latent.

    Args:
        x: float [samples, features] data.
        y: int [samples] class labels 0..C-1 (None: one class).
        flow: the flow's shape.
        train: optimiser schedule.
        n_classes: number of classes (default: ``max(y) + 1``).
        progress: show a tqdm bar.

    Returns:
        The trained model (eval mode) and the mean NLL per dimension of each epoch.
    """
    xt, yt = _as_tensors(x, y)
    n_classes = int(n_classes or int(yt.max()) + 1)
    model = GinModel(xt.shape[1], n_classes, flow, seed=train.seed)
    opt = torch.optim.Adam(
        [{"params": model.flow.parameters(), "weight_decay": train.weight_decay},
         {"params": [model.mu, model.logsig], "weight_decay": 0.0}],
        lr=train.lr,
    )
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=train.lr_drop_epoch, gamma=train.lr_drop)
    if not train.empirical_vars:  # start the learnt class Gaussians at the data's own statistics
        model.set_class_stats(xt, yt)
    gen = torch.Generator().manual_seed(train.seed)
    history: list[float] = []
    epochs = range(train.epochs)
    if progress:
        from tqdm import tqdm

        epochs = tqdm(epochs, desc="GIN", unit="epoch")
    model.train()
    for _ in epochs:
        perm = torch.randperm(len(xt), generator=gen)
        total, used = 0.0, 0
        for idx in perm.split(train.batch_size):
            yb = yt[idx]
            if train.empirical_vars and int(torch.bincount(yb).max()) < 2:
                continue  # no class twice in this batch: no std to measure
            xb = xt[idx] + train.noise * torch.randn(len(idx), xt.shape[1], generator=gen)
            loss = model.nll(xb, yb, empirical=train.empirical_vars)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            total, used = total + float(loss.detach()) * len(idx), used + len(idx)
        if used == 0:
            raise ValueError(
                f"no batch of {train.batch_size} held two samples of one class; raise batch_size "
                "or train with empirical_vars=False"
            )
        sched.step()
        history.append(total / used)
        if not math.isfinite(history[-1]):
            raise FloatingPointError(f"GIN training diverged (NLL {history[-1]}); lower the learning rate")
    model.eval()
    if train.empirical_vars:
        model.set_class_stats(xt, yt)
    return model, history


def jacobian_logdet(flow: nn.Module, x: torch.Tensor, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """log|det J| of ``flow`` at each row of ``x``, from the full autograd Jacobian (not the flow's claim).

    Args:
        flow: maps ``[batch, dim]`` to ``(z, log_jac)`` (a FrEIA flow) or to ``z``.
        x: [batch, dim] points.
        dtype: precision of the computation (float64 measures the architecture, float32 what runs).

    Returns:
        [batch] log absolute Jacobian determinants.
    """
    f = copy.deepcopy(flow).to(dtype)
    xd = x.detach().to(dtype)

    def summed(inp: torch.Tensor) -> torch.Tensor:
        out = f(inp)
        out = out[0] if isinstance(out, tuple) else out
        return out.sum(0)  # rows are independent: d(sum_b z_b)/dx_b is row b's Jacobian

    jac = torch.autograd.functional.jacobian(summed, xd)  # [dim, batch, dim]
    return torch.linalg.slogdet(jac.permute(1, 0, 2))[1]
