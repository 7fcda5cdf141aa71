"""A grouped-observations VAE with an adversarially estimated style/content mutual-information penalty.

Németh, "Adversarial Disentanglement with Grouped Observations", AAAI 2020: observations come in groups
that share a content factor (a digit class, a subject); each observation has its own style. The
encoder gives a content posterior per observation, accumulated over the group as a product of
Gaussians (the ML-VAE of Bouchacourt, Tomioka & Nowozin, AAAI 2018), and a style posterior per
observation. Nothing in the ELBO stops the style code from also carrying content; the paper adds an
adversarially estimated mutual information I(style; content) to the loss. Our estimate is contrastive
(InfoNCE, van den Oord et al. 2018): a critic T(s, c) scores the style of each observation in a batch
against the pooled content of every group in the batch and is trained to pick its own group;
log G minus its cross-entropy lower-bounds the mutual information. The encoder is trained to make
the critic's choice uniform over the groups (a confusion target that, unlike minimising the estimate
directly, cannot overshoot past independence). No group labels are used beyond "same group".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["VaeConfig", "GroupVAE", "StyleContentCritic", "fit_group_vae", "group_batches"]


@dataclass(frozen=True)
class VaeConfig:
    """Model and training of the grouped VAE.

    Attributes:
        content_dim: size of the group-shared content code.
        style_dim: size of the per-observation style code.
        hidden: width of the encoder's and decoder's two hidden layers.
        recon_std: std of the Gaussian decoder on standardised features (smaller: sharper, less KL pull).
        beta: weight of the KL terms.
        adv_weight: weight of the adversarial MI estimate (0: the plain grouped VAE).
        critic_hidden: width of the critic's two hidden layers.
        critic_lr: the critic's learning rate.
        critic_steps: critic updates per VAE update (keeps the MI estimate close to its optimum).
        group_size: observations per group in a batch.
        groups_per_batch: groups per batch.
        epochs: passes over the data (an epoch is len(x) observations).
        lr: Adam learning rate of the VAE.
        seed: seeds weights and sampling.
    """

    content_dim: int = 8
    style_dim: int = 8
    hidden: int = 256
    recon_std: float = 0.3
    beta: float = 1.0
    adv_weight: float = 0.0
    critic_hidden: int = 128
    critic_lr: float = 1e-3
    critic_steps: int = 3
    group_size: int = 8
    groups_per_batch: int = 16
    epochs: int = 60
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("content_dim", "style_dim", "hidden", "critic_hidden", "critic_steps", "groups_per_batch",
                     "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.group_size < 2:
            raise ValueError(f"group_size must be >= 2 (a group shares content), got {self.group_size}")
        if self.groups_per_batch < 2:
            raise ValueError(f"groups_per_batch must be >= 2 (the critic pairs styles with other groups), "
                             f"got {self.groups_per_batch}")
        if not self.recon_std > 0 or self.beta < 0 or self.adv_weight < 0 or not self.lr > 0:
            raise ValueError(
                f"need recon_std > 0, beta >= 0, adv_weight >= 0, lr > 0; got {self.recon_std}, "
                f"{self.beta}, {self.adv_weight}, {self.lr}"
            )


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, d_out))


def _kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) summed over the last axis."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


class GroupVAE(nn.Module):
    """Encoder to (content, style) posteriors, content pooled per group, decoder from both."""

    def __init__(self, dim: int, config: VaeConfig):
        super().__init__()
        self.config = config
        c, s = config.content_dim, config.style_dim
        self.encoder = _mlp(dim, config.hidden, 2 * (c + s))
        self.decoder = _mlp(c + s, config.hidden, dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: [..., dim] -> content mean, content logvar [..., C], style mean, style logvar [..., S]."""
        c, s = self.config.content_dim, self.config.style_dim
        mu_c, lv_c, mu_s, lv_s = self.encoder(x).split([c, c, s, s], -1)
        return mu_c, lv_c.clamp(-10, 10), mu_s, lv_s.clamp(-10, 10)

    @staticmethod
    def pool(mu_c: torch.Tensor, lv_c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Product of the group's Gaussians: [G, K, C] -> mean, logvar [G, C]."""
        prec = torch.exp(-lv_c)
        var = 1.0 / prec.sum(1)
        return (mu_c * prec).sum(1) * var, var.log()

    def forward(self, xg: torch.Tensor, *, sample: bool = True) -> dict[str, torch.Tensor]:
        """xg: [G, K, dim] groups -> reconstruction [G, K, dim], codes and the per-sample ELBO terms."""
        g, k, _ = xg.shape
        mu_c, lv_c, mu_s, lv_s = self.encode(xg)
        gmu, glv = self.pool(mu_c, lv_c)
        c = gmu + torch.randn_like(gmu) * torch.exp(0.5 * glv) if sample else gmu
        s = mu_s + torch.randn_like(mu_s) * torch.exp(0.5 * lv_s) if sample else mu_s
        recon = self.decoder(torch.cat([c[:, None].expand(g, k, -1), s], -1))
        nll = 0.5 * ((recon - xg) / self.config.recon_std).pow(2).sum(-1)
        return {"recon": recon, "nll": nll.mean(), "kl_c": _kl(gmu, glv).mean() / k, "kl_s": _kl(mu_s, lv_s).mean(),
                "content": c, "style_mean": mu_s}

    @torch.no_grad()
    def style(self, x: torch.Tensor) -> np.ndarray:
        """x: [n, dim] -> float32 [n, S] style posterior means."""
        return self.encode(x)[2].numpy()

    @torch.no_grad()
    def content(self, x: torch.Tensor) -> np.ndarray:
        """x: [n, dim] -> float32 [n, C] per-observation content posterior means (before pooling)."""
        return self.encode(x)[0].numpy()


class StyleContentCritic(nn.Module):
    """T(s, c) -> score that style ``s`` and content ``c`` come from the same group."""

    def __init__(self, config: VaeConfig):
        super().__init__()
        self.net = _mlp(config.style_dim + config.content_dim, config.critic_hidden, 1)

    def forward(self, s: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """s: [n, S], c: [G, C] -> scores [n, G] of every style against every group's content."""
        n, g = len(s), len(c)
        pairs = torch.cat([s[:, None].expand(n, g, -1), c[None].expand(n, g, -1)], -1)
        return self.net(pairs).squeeze(-1)


def group_batches(groups: np.ndarray, config: VaeConfig, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of batches: int [G, K] indices, each row K members of one group.

    The G groups of a batch are distinct when there are at least G groups (the critic must tell them
    apart); members are drawn with replacement only from groups smaller than K.
    """
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    members = [m for m in members if len(m) >= 2]
    if len(members) < 2:
        raise ValueError(f"need >= 2 groups with >= 2 observations each, found {len(members)}")
    n_groups = min(config.groups_per_batch, len(members))
    per_batch = n_groups * config.group_size
    out = []
    for _ in range(max(1, math.ceil(len(groups) / per_batch))):
        pick = rng.choice(len(members), n_groups, replace=False)
        out.append(np.stack([rng.choice(members[p], config.group_size, replace=len(members[p]) < config.group_size)
                             for p in pick]))
    return out


def _train_critic(critic, opt, s: torch.Tensor, c: torch.Tensor, target: torch.Tensor, steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(critic(s, c), target).backward()
        opt.step()


def fit_group_vae(
    x: np.ndarray, groups: np.ndarray, config: VaeConfig = VaeConfig(), *, progress: bool = False
) -> tuple[GroupVAE, list[dict[str, float]]]:
    """Train the grouped VAE (with the adversarial MI term when ``config.adv_weight > 0``).

    Args:
        x: float [n, dim] standardised observations.
        groups: int [n] group of each observation.
        config: model and schedule.
        progress: show a tqdm bar.

    Returns:
        The trained VAE (eval mode) and per-epoch means of nll, kl_c, kl_s and the MI estimate.
    """
    x = np.asarray(x, np.float32)
    if x.ndim != 2 or np.asarray(groups).shape != (len(x),):
        raise ValueError(f"expected x [n, dim] and groups [n], got {x.shape} and {np.asarray(groups).shape}")
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    xt = torch.as_tensor(x)
    vae, critic = GroupVAE(x.shape[1], config), StyleContentCritic(config)
    opt = torch.optim.Adam(vae.parameters(), lr=config.lr)
    opt_critic = torch.optim.Adam(critic.parameters(), lr=config.critic_lr)
    history: list[dict[str, float]] = []
    epochs = range(config.epochs)
    if progress:
        from tqdm import tqdm

        epochs = tqdm(epochs, desc=f"grouped VAE (adv {config.adv_weight:g})", unit="epoch")
    for _ in epochs:
        sums = {"nll": 0.0, "kl_c": 0.0, "kl_s": 0.0, "mi": 0.0}
        batches = group_batches(np.asarray(groups), config, rng)
        for idx in batches:
            out = vae(xt[torch.as_tensor(idx)])
            loss = out["nll"] + config.beta * (out["kl_c"] + out["kl_s"])
            g, k = idx.shape
            s, c = out["style_mean"].reshape(g * k, -1), out["content"].detach()
            target = torch.arange(g).repeat_interleave(k)
            if config.adv_weight > 0:
                logp = F.log_softmax(critic(s, c), -1)
                mi = math.log(g) + logp.gather(1, target[:, None]).mean()  # InfoNCE bound on I(style; content)
                loss = loss + config.adv_weight * (-logp.mean(1).mean() - math.log(g))  # 0 when uniform
            else:
                mi = torch.zeros(())
            opt.zero_grad()
            loss.backward()
            opt.step()
            if config.adv_weight > 0:
                _train_critic(critic, opt_critic, s.detach(), c, target, config.critic_steps)
            for key in ("nll", "kl_c", "kl_s"):
                sums[key] += float(out[key].detach())
            sums["mi"] += float(mi.detach())
        history.append({k: v / len(batches) for k, v in sums.items()})
        if not math.isfinite(history[-1]["nll"]):
            raise FloatingPointError("grouped VAE training diverged; lower lr or raise recon_std")
    return vae.eval(), history
