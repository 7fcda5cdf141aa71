"""A grouped-observations VAE with an adversarially estimated style/content mutual-information penalty.

Németh, "Adversarial Disentanglement with Grouped Observations", AAAI 2020: observations come in groups
that share a content factor (a digit class, a subject); each observation has its own style. The
encoder gives a content posterior per observation, accumulated over the group as a product of
Gaussians (the ML-VAE of Bouchacourt, Tomioka & Nowozin, AAAI 2018), and a style posterior per
observation. Nothing in the ELBO stops the style code from also carrying content; the paper adds an
adversarially estimated mutual information I(style; content) to the loss. The default critic is a
classifier of the training group from the style code (H(group) minus its cross-entropy lower-bounds
I(style; group) >= I(style; content), Barber & Agakov 2003); a contrastive critic (InfoNCE, van den
Oord et al. 2018) that matches each style to the pooled contents of the batch's groups is the option
that needs no group identities. A third critic scores pairs of style codes for "same group" (a learned
metric; with k members per group among n, log((n-1)/(k-1)) + its log-probability of the right pairs
is an InfoNCE-style estimate of the information one member's style holds about another's, zero when
the style is independent of the group). It reads what a probe reads, styles of one group clustering, without an
output per group: with ~5 beats per LUDB subject a 160-way classifier critic memorises the training
styles, and the encoder then pays reconstruction to fight points rather than groups. The encoder is
trained to make the critic's belief equal the prior (a confusion target that, unlike minimising the
estimate directly, cannot overshoot). An optional decoder refit ends training: the encoders (and so
every code a probe reads) stay as trained, the decoder fits the final codes.

Six things make the term work (measured on held-out data, see benchmarks/disentangle_log.md):

* the critic sees batch-standardised style codes and is trained on a fresh batch from the whole
  training set at every one of its steps; otherwise the encoder hides the group in dimensions it shrinks
  (a scale-invariant probe still reads them) and in the batch the critic just over-fitted;
* the style encoder and the decoder are conditioned on the content multiplicatively (FiLM, Perez et
  al., AAAI 2018), so one network can express "style relative to this group" and decode it back, which
  is what lets the style drop the group at almost no reconstruction cost;
* a sharp decoder (recon_std 0.25 on standardised features; 0.15 on LUDB beats), so the encoder
  re-expresses style information instead of discarding it under the adversary's pressure;
* enough width and training: a style code independent of the group needs a decoder that maps it back
  differently per group (LUDB: hidden 128 -> 256 and 100 -> 200 epochs took the held-out cost from
  1.08-1.12 to 1.04-1.12 at a wider gap; with a 12-dimensional style code, hidden 256 -> 384 made the plain
  model 3 % and the adversarial one 6 % better held out, mean cost 1.122 -> 1.089 over ten seeds);
* a trimmed adversarial loss (LUDB): the 20 % most recognisable observations of a batch are left out of
  the encoder's term, so a few subjects whose beats carry a factor of their own (atrial flutter waves)
  stay recognisable instead of the whole code paying to hide them (held out with style_dim 8, seeds 0-4:
  ratio 1.037-1.117 -> 1.020-1.079 at a gap of 0.60-0.67);
* foreign group members: each member of a training group is, with probability 0.05 (LUDB; digits 0.025),
  replaced by a random observation of any group. Held out, most of the adversarial model's extra error sat
  in a few beats unlike every training beat of their subject (ventricular extrasystoles, atrial flutter or
  fibrillation: the 5 subjects with the most carried 51-57 % of it). A style code made independent of the
  subject describes a beat relative to its group's content, and such a beat is outside what it learnt;
  with groups that sometimes hold a member that does not belong, both versions learn to encode one by its
  style. The plain model is unchanged (cross-fitted MSE 0.0556 vs 0.0557) and 1.2 % better held out; the
  adversarial one 6.6 % better; over ten held-out seeds the cost fell from 1.089 to 1.030 at a gap of 0.58
  (benchmarks/disentangle_log.md, session 9). On digits the cost fell from 1.072 to 1.040 at a gap of
  0.58.

The cost grows with the reference: at hidden 384 a 12-dimensional style code makes the plain LUDB model 19 %
better held out than an 8-dimensional one, and the adversary must then take more out of the style code. On
the training part the cost is still 1.05-1.11: what the foreign members fixed is the held-out beats, not
the fit. Training on all 12 leads makes the plain lead-II model better still (6-13 %, cross-fitted) but the
adversary pays more there per unit of gap (benchmarks/disentangle_log.md, session 7).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["VaeConfig", "GroupVAE", "GroupSampler", "foreign_members", "StyleContentCritic",
           "StyleGroupCritic", "StylePairCritic", "fit_group_vae", "group_batches"]


@dataclass(frozen=True)
class VaeConfig:
    """Model and training of the grouped VAE.

    Attributes:
        content_dim: size of the group-shared content code.
        style_dim: size of the per-observation style code.
        hidden: width of the encoder's and decoder's two hidden layers.
        recon_std: std of the Gaussian decoder on standardised features (smaller: sharper, less KL pull).
        decoder_std: ``"fixed"``: the decoder's std is ``recon_std`` everywhere; ``"content"``: a per-feature
            log-std predicted from the group's content (starting at ``recon_std``), so a group whose members
            vary a lot explains that spread by its content instead of by its style.
        beta: weight of the KL terms.
        adv_weight: weight of the adversarial MI estimate (0: the plain grouped VAE).
        adv_warmup: fraction of the epochs over which the adversarial weight ramps up linearly from 0
            (the VAE first learns a useful style code, then the adversary cleans it).
        adv_objective: what the encoder minimises: ``"confusion"`` (cross-entropy of the critic's
            belief against the group prior, minus its entropy) or ``"mi"`` (the MI estimate, floored at 0).
        adv_trim: fraction of each batch's observations with the largest adversarial (confusion) loss left
            out of the encoder's term; the critic still learns from them. A few groups with a factor of their
            own (LUDB's atrial-flutter subjects) may then stay recognisable instead of costing reconstruction.
        critic_input: ``"mean"``: the critic sees style posterior means (what a probe reads);
            ``"sample"``: posterior samples (what the decoder reads), so the encoder can also lower the
            MI by adding posterior noise along content directions, which the KL then pulls to zero.
        adversary: ``"classifier"``: a critic predicts the training group from the style code, so
            H(group) - its cross-entropy bounds I(style; group) >= I(style; content) from below
            (Barber & Agakov); ``"contrastive"``: an InfoNCE critic matches each style to the pooled
            contents of the batch's groups, needing no group identities beyond "same group"; ``"pairs"``:
            a critic scores every pair of the batch's style codes for "same group" (a learned metric), so
            it reads what a probe reads (styles of one group clustering) without one output per group
            to memorise.
        film: condition the style encoder and the decoder on the content by FiLM (else: concatenation).
        critic_standardise: the critic sees style codes standardised over the batch (statistics inside
            the graph), so shrinking a dimension does not hide what it carries.
        critic_fresh: each critic step uses a new batch of training groups (else: the VAE's batch).
        critic_hidden: width of the critic's two hidden layers.
        critic_lr: the critic's learning rate.
        critic_steps: critic updates per VAE update (keeps the MI estimate close to its optimum).
        critic_weight_decay: L2 penalty of the critic's Adam (regularises it against memorising groups).
        critic_dropout: dropout after each of the critic's hidden layers while it trains (the encoder's
            adversarial term reads the critic without dropout).
        critic_noise: std of Gaussian noise added to the (standardised) style codes the critic trains on,
            so it only learns group information that survives small perturbations of a code.
        augment_scale: training observations of 1-D signals are multiplied by 1 + U(-a, a) (0: off); the
            same augmentation is used by both versions. It gives each group more effective members but
            also makes the plain version reconstruct worse (LUDB, 0.1/0.1/1: held-out MSE 0.071 -> 0.075),
            which lowers the adversarial/plain ratio without improving the adversarial model.
        augment_offset: ... and shifted by U(-b, b) (a baseline offset, in standardised units).
        augment_shift: ... and moved by a random whole number of samples in [-j, j] (edges repeated).
        augment_foreign: probability that a member of a training group is replaced by a random training
            observation (of any group), in the VAE's batches (not the critic's): groups then sometimes hold a
            member unlike the rest, as held-out groups with an ectopic beat do, and the model learns to encode
            such a member by its style instead of relative to the group's content.
        group_size: observations per group in a batch.
        groups_per_batch: groups per batch.
        epochs: passes over the data (an epoch is len(x) observations).
        lr: Adam learning rate of the VAE.
        lr_schedule: ``"constant"``, or ``"cosine"``: the VAE's learning rate decays to 0 along a half cosine
            over the epochs (the critic keeps its rate), so training ends settled, not at a random point of
            the adversarial game.
        decoder_refit_epochs: after training, this many more epochs of the decoder alone on reconstruction
            with the encoders frozen (the codes, and so every leakage measure, stay as trained); the
            decoder then fits the final codes instead of codes the adversarial game kept moving.
        seed: seeds weights and sampling.
    """

    content_dim: int = 8
    style_dim: int = 8
    hidden: int = 128
    recon_std: float = 0.25
    decoder_std: str = "fixed"
    beta: float = 1.0
    adv_weight: float = 0.0
    adv_warmup: float = 0.3
    adversary: str = "classifier"
    critic_input: str = "mean"
    adv_objective: str = "confusion"
    adv_trim: float = 0.0
    film: bool = True
    critic_standardise: bool = True
    critic_fresh: bool = True
    critic_hidden: int = 128
    critic_lr: float = 2e-3
    critic_steps: int = 10
    critic_weight_decay: float = 0.0
    critic_dropout: float = 0.0
    critic_noise: float = 0.0
    augment_scale: float = 0.0
    augment_offset: float = 0.0
    augment_shift: int = 0
    augment_foreign: float = 0.0
    group_size: int = 8
    groups_per_batch: int = 16
    epochs: int = 100
    lr: float = 1e-3
    lr_schedule: str = "constant"
    decoder_refit_epochs: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("content_dim", "style_dim", "hidden", "critic_hidden", "critic_steps", "groups_per_batch",
                     "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.critic_weight_decay < 0 or self.critic_noise < 0 or not 0 <= self.critic_dropout < 1:
            raise ValueError(f"need critic_weight_decay >= 0, critic_noise >= 0, 0 <= critic_dropout < 1; got "
                             f"{self.critic_weight_decay}, {self.critic_noise}, {self.critic_dropout}")
        if not 0 <= self.augment_scale < 1 or self.augment_offset < 0 or self.augment_shift < 0:
            raise ValueError(f"need 0 <= augment_scale < 1, augment_offset >= 0, augment_shift >= 0; got "
                             f"{self.augment_scale}, {self.augment_offset}, {self.augment_shift}")
        if not 0 <= self.augment_foreign < 1:
            raise ValueError(f"augment_foreign must be a probability in [0, 1), got {self.augment_foreign}")
        if not 0 <= self.adv_warmup <= 1:
            raise ValueError(f"adv_warmup must be a fraction in [0, 1], got {self.adv_warmup}")
        if self.adv_objective not in ("confusion", "mi"):
            raise ValueError(f"adv_objective must be 'confusion' or 'mi', got {self.adv_objective!r}")
        if self.critic_input not in ("mean", "sample"):
            raise ValueError(f"critic_input must be 'mean' or 'sample', got {self.critic_input!r}")
        if self.decoder_refit_epochs < 0:
            raise ValueError(f"decoder_refit_epochs must be >= 0, got {self.decoder_refit_epochs}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if not 0 <= self.adv_trim < 1:
            raise ValueError(f"adv_trim must be a fraction in [0, 1), got {self.adv_trim}")
        if self.decoder_std not in ("fixed", "content"):
            raise ValueError(f"decoder_std must be 'fixed' or 'content', got {self.decoder_std!r}")
        if self.adversary not in ("classifier", "contrastive", "pairs"):
            raise ValueError(f"adversary must be 'classifier', 'contrastive' or 'pairs', got {self.adversary!r}")
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


def _mlp(d_in: int, hidden: int, d_out: int, dropout: float = 0.0) -> nn.Sequential:
    if dropout == 0:
        return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                             nn.Linear(hidden, d_out))
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, d_out))


class _FilmMLP(nn.Module):
    """Two hidden layers whose activations are scaled and shifted by the content (FiLM, Perez et al. 2018).

    Takes the concatenation of an input and the content code, like the plain MLP, so callers do not change;
    the multiplicative conditioning lets one network apply a different map per group.
    """

    def __init__(self, d_in: int, d_cond: int, hidden: int, d_out: int, *, cond_first: bool):
        super().__init__()
        self.d_cond, self.cond_first = d_cond, cond_first
        self.l1, self.l2, self.out = nn.Linear(d_in, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, d_out)
        self.film = nn.Linear(d_cond, 4 * hidden)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.cond_first:
            cond, x = z[..., : self.d_cond], z[..., self.d_cond :]
        else:
            x, cond = z[..., : -self.d_cond], z[..., -self.d_cond :]
        g1, b1, g2, b2 = self.film(cond).chunk(4, -1)
        h = torch.relu(self.l1(x) * (1 + g1) + b1)
        h = torch.relu(self.l2(h) * (1 + g2) + b2)
        return self.out(h)


def _kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) summed over the last axis."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


class GroupVAE(nn.Module):
    """Content encoder (pooled per group), style encoder q(s | x, group content), decoder p(x | c, s).

    The style encoder sees the group's pooled content mean: with it, it can express an observation's
    style relative to its group, which is what lets the adversary remove content from the style code
    without giving up reconstruction.
    """

    def __init__(self, dim: int, config: VaeConfig):
        super().__init__()
        self.config = config
        c, s = config.content_dim, config.style_dim
        self.content_encoder = _mlp(dim, config.hidden, 2 * c)
        if config.film:
            self.style_encoder = _FilmMLP(dim, c, config.hidden, 2 * s, cond_first=False)
            self.decoder = _FilmMLP(s, c, config.hidden, dim, cond_first=True)
        else:
            self.style_encoder = _mlp(dim + c, config.hidden, 2 * s)
            self.decoder = _mlp(c + s, config.hidden, dim)
        if config.decoder_std == "content":  # log(std / recon_std) per feature, from the content
            self.log_std = nn.Linear(c, dim)
            nn.init.zeros_(self.log_std.weight)
            nn.init.zeros_(self.log_std.bias)

    def encode(self, xg: torch.Tensor) -> dict[str, torch.Tensor]:
        """xg: [G, K, dim] -> per-observation content (mu_c, lv_c [G, K, C]), pooled group content
        (gmu, glv [G, C]) and style (mu_s, lv_s [G, K, S]) posteriors."""
        g, k, _ = xg.shape
        mu_c, lv_c = self.content_encoder(xg).chunk(2, -1)
        lv_c = lv_c.clamp(-10, 10)
        gmu, glv = self.pool(mu_c, lv_c)
        mu_s, lv_s = self.style_encoder(torch.cat([xg, gmu[:, None].expand(g, k, -1)], -1)).chunk(2, -1)
        return {"mu_c": mu_c, "lv_c": lv_c, "gmu": gmu, "glv": glv, "mu_s": mu_s, "lv_s": lv_s.clamp(-10, 10)}

    @staticmethod
    def pool(mu_c: torch.Tensor, lv_c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Product of the group's Gaussians: [G, K, C] -> mean, logvar [G, C]."""
        prec = torch.exp(-lv_c)
        var = 1.0 / prec.sum(1)
        return (mu_c * prec).sum(1) * var, var.log()

    def forward(self, xg: torch.Tensor, *, sample: bool = True) -> dict[str, torch.Tensor]:
        """xg: [G, K, dim] groups -> reconstruction [G, K, dim], codes and the per-sample ELBO terms."""
        g, k, _ = xg.shape
        e = self.encode(xg)
        gmu, glv, mu_s, lv_s = e["gmu"], e["glv"], e["mu_s"], e["lv_s"]
        c = gmu + torch.randn_like(gmu) * torch.exp(0.5 * glv) if sample else gmu
        s = mu_s + torch.randn_like(mu_s) * torch.exp(0.5 * lv_s) if sample else mu_s
        recon = self.decoder(torch.cat([c[:, None].expand(g, k, -1), s], -1))
        return {"recon": recon, "nll": self.nll(recon, xg, c), "kl_c": _kl(gmu, glv).mean() / k, "kl_s": _kl(mu_s, lv_s).mean(),
                "content": c, "style_mean": mu_s, "style_sample": s}

    def nll(self, recon: torch.Tensor, xg: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Mean Gaussian negative log-likelihood (up to a constant) of xg [G, K, dim] given the group content c."""
        if self.config.decoder_std == "content":
            log_std = self.log_std(c)[:, None].clamp(-3, 3)  # [G, 1, dim]
            nll = (0.5 * ((recon - xg) / self.config.recon_std).pow(2) * torch.exp(-2 * log_std) + log_std).sum(-1)
        else:
            nll = 0.5 * ((recon - xg) / self.config.recon_std).pow(2).sum(-1)
        return nll.mean()

    @torch.no_grad()
    def codes(self, x: np.ndarray, groups: np.ndarray, *, group_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means for observations inferred in chunks of ``group_size`` members of their group.

        Args:
            x: float [n, dim]; groups: int [n].

        Returns:
            style float32 [n, S] and per-observation content (before pooling) float32 [n, C].
        """
        k = group_size or self.config.group_size
        xt = torch.as_tensor(np.asarray(x, np.float32))
        style = np.zeros((len(xt), self.config.style_dim), np.float32)
        content = np.zeros((len(xt), self.config.content_dim), np.float32)
        for g in np.unique(groups):
            idx = np.flatnonzero(groups == g)
            for start in range(0, len(idx), k):
                sel = idx[start : start + k]
                e = self.encode(xt[sel][None])
                style[sel], content[sel] = e["mu_s"][0].numpy(), e["mu_c"][0].numpy()
        return style, content


class StyleContentCritic(nn.Module):
    """Separable critic T(s, c) = f(s)·g(c): scores that style ``s`` and content ``c`` share a group.

    The separable form (the usual InfoNCE critic) learns to match codes far faster than an MLP on
    the concatenated pair, which keeps the adversary close to its optimum.
    """

    def __init__(self, config: VaeConfig):
        super().__init__()
        self.f = _mlp(config.style_dim, config.critic_hidden, config.critic_hidden)
        self.g = _mlp(config.content_dim, config.critic_hidden, config.critic_hidden)

    def forward(self, s: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """s: [n, S], c: [G, C] -> scores [n, G] of every style against every group's content."""
        return self.f(s) @ self.g(c).T / math.sqrt(self.f[-1].out_features)


class StylePairCritic(nn.Module):
    """Scores pairs of style codes for coming from the same group: [n, S] -> logits [n, n], f(s_i)·f(s_j).

    The diagonal (a code with itself) is -inf; a row's softmax is the critic's belief about which other
    observation of the batch shares its group.
    """

    def __init__(self, config: VaeConfig):
        super().__init__()
        self.f = _mlp(config.style_dim, config.critic_hidden, config.critic_hidden, config.critic_dropout)

    def forward(self, s: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        z = self.f(s)
        logits = z @ z.T / math.sqrt(z.shape[-1])
        return logits.masked_fill(torch.eye(len(s), dtype=torch.bool), float("-inf"))


class StyleGroupCritic(nn.Module):
    """Predicts the training group of an observation from its style code: [n, S] -> logits [n, groups]."""

    def __init__(self, config: VaeConfig, n_groups: int):
        super().__init__()
        self.net = _mlp(config.style_dim, config.critic_hidden, n_groups, config.critic_dropout)

    def forward(self, s: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(s)


def augment(xb: torch.Tensor, config: VaeConfig) -> torch.Tensor:
    """Random amplitude scale, baseline offset and time shift of each 1-D observation.

    Args:
        xb: float [..., dim] observations (samples of a signal along the last axis).
        config: ``augment_scale``, ``augment_offset`` and ``augment_shift``; all 0 returns ``xb`` itself.

    Returns:
        float [..., dim], each observation augmented independently.
    """
    if not (config.augment_scale or config.augment_offset or config.augment_shift):
        return xb
    one = (*xb.shape[:-1], 1)
    if config.augment_shift:
        j = torch.randint(-config.augment_shift, config.augment_shift + 1, one)
        idx = (torch.arange(xb.shape[-1]) - j).clamp(0, xb.shape[-1] - 1)
        xb = xb.gather(-1, idx)
    scale = 1 + config.augment_scale * (2 * torch.rand(one) - 1)
    return xb * scale + config.augment_offset * (2 * torch.rand(one) - 1)


def foreign_members(idx: np.ndarray, p: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Replace each entry of a batch of group members by a random observation of any group with probability ``p``.

    Args:
        idx: int [G, K] members (rows are groups); p: replacement probability; n: number of observations.

    Returns:
        int [G, K], a new array; entries not replaced are unchanged.
    """
    swap = rng.random(idx.shape) < p
    return np.where(swap, rng.integers(0, n, idx.shape), idx)


class GroupSampler:
    """Draws batches of groups: int [G, K] indices, each row K members of one group.

    The G groups of a batch are distinct when there are at least G groups (the critic must tell them
    apart); members are drawn without replacement, with replacement only from groups smaller than K.
    Groups with fewer than 2 members are never drawn. The member lists are built once and the draws are
    vectorised, since the critic asks for a fresh batch at every one of its steps.
    """

    def __init__(self, groups: np.ndarray, config: VaeConfig):
        groups = np.asarray(groups)
        order = np.argsort(groups, kind="stable")
        _, starts, sizes = np.unique(groups[order], return_index=True, return_counts=True)
        keep = sizes >= 2
        if keep.sum() < 2:
            raise ValueError(f"need >= 2 groups with >= 2 observations each, found {int(keep.sum())}")
        self.sizes = sizes[keep]
        self.members = np.full((len(self.sizes), self.sizes.max()), -1, np.int64)  # padded member lists
        for row, (start, size) in enumerate(zip(starts[keep], self.sizes)):
            self.members[row, :size] = order[start : start + size]
        self.k = config.group_size
        self.g = min(config.groups_per_batch, len(self.sizes))
        self.per_epoch = max(1, math.ceil(len(groups) / (self.g * self.k)))

    def draw(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """``n`` batches: int [n, G, K]."""
        pick = np.argsort(rng.random((n, len(self.sizes))), 1)[:, : self.g]  # distinct groups per batch
        size = self.sizes[pick][..., None]  # [n, G, 1]
        keys = rng.random((n, self.g, self.members.shape[1]))
        keys[np.arange(self.members.shape[1]) >= size] = 2.0  # padding sorts last
        distinct = np.argsort(keys, -1)[..., : self.k] if self.members.shape[1] >= self.k else None
        repeat = (rng.random((n, self.g, self.k)) * size).astype(np.int64)
        pos = repeat if distinct is None else np.where(size >= self.k, distinct, repeat)
        return self.members[pick[..., None], pos]

    def epoch(self, rng: np.random.Generator) -> list[np.ndarray]:
        """One epoch of batches (an epoch is len(groups) observations)."""
        return list(self.draw(rng, self.per_epoch))


def group_batches(groups: np.ndarray, config: VaeConfig, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of batches: int [G, K] indices, each row K members of one group (see :class:`GroupSampler`)."""
    return GroupSampler(groups, config).epoch(rng)


def _critic_view(out: dict, gid: torch.Tensor, config: VaeConfig, prior: torch.Tensor):
    """What the critic sees of one batch: style [n, S], content [G, C], target [n] and its prior [groups]."""
    g, k = gid.shape
    s, c = out[f"style_{config.critic_input}"].reshape(g * k, -1), out["content"].detach()
    if config.critic_standardise:
        s = _standardise_batch(s)
    if config.adversary == "classifier":
        return s, c, gid.reshape(-1), prior
    if config.adversary == "pairs":
        n = g * k
        return s, c, torch.arange(g).repeat_interleave(k), (1.0 - torch.eye(n)) / (n - 1)
    return s, c, torch.arange(g).repeat_interleave(k), torch.full((g,), 1.0 / g)


def _positive_logp(logits: torch.Tensor, target: torch.Tensor, pairs: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability [n] the critic gives the right answer, and its log-probabilities [n, m] (finite).

    Classifier/contrastive: the target column. Pairs: the set of other members of the row's group.
    """
    logp = F.log_softmax(logits, -1)
    if not pairs:
        return logp.gather(1, target[:, None])[:, 0], logp
    eye = torch.eye(len(target), dtype=torch.bool)
    same = (target[:, None] == target[None, :]) & ~eye
    return torch.logsumexp(logp.masked_fill(~same, float("-inf")), 1), logp.masked_fill(eye, 0.0)


def _standardise_batch(s: torch.Tensor) -> torch.Tensor:
    """[n, S] -> zero mean, unit std per feature over the batch (gradients flow through the statistics)."""
    return (s - s.mean(0)) / (s.std(0) + 1e-3)


def _train_critic(critic, opt, vae: GroupVAE, xt: torch.Tensor, gid: torch.Tensor, config: VaeConfig,
                  prior: torch.Tensor, rng: np.random.Generator, batch: tuple | None, sampler: GroupSampler) -> None:
    """``config.critic_steps`` updates, each on a fresh batch of training groups (``batch`` None) or all
    on the given (style, content, target) batch."""
    for _ in range(config.critic_steps):
        if batch is None:  # a new batch per step: the critic tracks the whole training set, not one batch
            fresh = torch.as_tensor(sampler.draw(rng)[0])
            with torch.no_grad():
                e = vae.encode(xt[fresh])
                sample = e["mu_s"] + torch.randn_like(e["mu_s"]) * (0.5 * e["lv_s"]).exp()
                view = {"style_mean": e["mu_s"], "style_sample": sample, "content": e["gmu"]}
                s, c, target, _ = _critic_view(view, gid[fresh], config, prior)
        else:
            s, c, target = batch
        if config.critic_noise > 0:
            s = s + config.critic_noise * torch.randn_like(s)
        critic.train()
        opt.zero_grad()
        (-_positive_logp(critic(s, c), target, config.adversary == "pairs")[0].mean()).backward()
        opt.step()
        critic.eval()


def _adversarial_term(critic, s, c, target, tprob, objective: str,
                      trim: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's adversarial loss and the MI estimate (H(prior) - critic cross-entropy, a lower bound).

    ``tprob``: the prior over the critic's answers, [m] shared by every row or [n, m] per row (pairs).
    ``trim``: with the confusion objective, the fraction of rows with the largest loss left out of its mean.
    """
    pairs = tprob.ndim == 2
    pos, logp = _positive_logp(critic(s, c), target, pairs)
    if pairs:  # prior of the right answer: (k - 1) of the n - 1 other members
        k = int((target == target[0]).sum())
        ent_rows = -(tprob * tprob.clamp_min(1e-12).log()).sum(1)
        mi = pos.mean() - math.log((k - 1) / (len(target) - 1))
    else:
        ent_rows = -(tprob * tprob.clamp_min(1e-12).log()).sum()
        mi = pos.mean() - (-ent_rows)
    if objective == "mi":  # the MI estimate itself, floored at independence
        return torch.relu(mi), mi
    # confusion: the critic's belief should equal the prior (0 at the optimum)
    tp = tprob if pairs else tprob[None]
    rows = -(logp * tp).sum(1) - ent_rows
    if trim > 0:  # leave out the rows the critic finds most recognisable
        rows = rows.topk(len(rows) - int(trim * len(rows)), largest=False).values
    return rows.mean(), mi


def fit_group_vae(
    x: np.ndarray, groups: np.ndarray, config: VaeConfig = VaeConfig(), *, progress: bool = False,
    callback: Callable[[int, GroupVAE, nn.Module], None] | None = None,
) -> tuple[GroupVAE, list[dict[str, float]]]:
    """Train the grouped VAE (with the adversarial MI term when ``config.adv_weight > 0``).

    Args:
        x: float [n, dim] standardised observations.
        groups: int [n] group of each observation.
        config: model and schedule.
        progress: show a tqdm bar.
        callback: called as ``callback(epoch, vae, critic)`` after every epoch (diagnostics).

    Returns:
        The trained VAE (eval mode) and per-epoch means of nll, kl_c, kl_s and the MI estimate.
    """
    x = np.asarray(x, np.float32)
    if x.ndim != 2 or np.asarray(groups).shape != (len(x),):
        raise ValueError(f"expected x [n, dim] and groups [n], got {x.shape} and {np.asarray(groups).shape}")
    labels, gid = np.unique(np.asarray(groups), return_inverse=True)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    # The critic draws its batches and noise from its own streams, so the VAE sees the same batches and
    # posterior samples with and without the adversary (common random numbers: the two versions then
    # differ by the adversarial gradient alone, not by a reshuffled training run).
    critic_rng = np.random.default_rng([config.seed, 1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 2)
        critic_torch_state = torch.get_rng_state()
    xt, gidt = torch.as_tensor(x), torch.as_tensor(gid, dtype=torch.int64)
    sampler = GroupSampler(gid, config)
    vae = GroupVAE(x.shape[1], config)
    with torch.random.fork_rng():  # the critic's init must not shift the VAE's sampling: the plain
        torch.manual_seed(config.seed + 1)  # version is then the same whatever the critic settings
        if config.adversary == "classifier":
            critic = StyleGroupCritic(config, len(labels))
        elif config.adversary == "pairs":
            critic = StylePairCritic(config)
        else:
            critic = StyleContentCritic(config)
    prior = torch.bincount(gidt, minlength=len(labels)).float() / len(gid)
    opt = torch.optim.Adam(vae.parameters(), lr=config.lr)
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.epochs) if config.lr_schedule == "cosine"
                else None)
    opt_critic = torch.optim.Adam(critic.parameters(), lr=config.critic_lr, weight_decay=config.critic_weight_decay)
    critic.eval()  # dropout only while the critic trains
    history: list[dict[str, float]] = []
    epochs = range(config.epochs)
    if progress:
        from tqdm import tqdm

        epochs = tqdm(epochs, desc=f"grouped VAE (adv {config.adv_weight:g})", unit="epoch")
    ramp = max(1, round(config.adv_warmup * config.epochs))
    for epoch in epochs:
        weight = config.adv_weight * min(1.0, (epoch + 1) / ramp)
        sums = {"nll": 0.0, "kl_c": 0.0, "kl_s": 0.0, "mi": 0.0}
        batches = sampler.epoch(rng)
        for idx in batches:
            if config.augment_foreign > 0:
                idx = foreign_members(idx, config.augment_foreign, len(x), rng)
            it = torch.as_tensor(idx)
            out = vae(augment(xt[it], config))
            loss = out["nll"] + config.beta * (out["kl_c"] + out["kl_s"])
            mi = torch.zeros(())
            if config.adv_weight > 0:
                s, c, target, tprob = _critic_view(out, gidt[it], config, prior)
                adv, mi = _adversarial_term(critic, s, c, target, tprob, config.adv_objective, config.adv_trim)
                loss = loss + weight * adv
            opt.zero_grad()
            loss.backward()
            opt.step()
            if config.adv_weight > 0:
                batch = None if config.critic_fresh else (s.detach(), c, target)
                with torch.random.fork_rng(devices=[]):
                    torch.set_rng_state(critic_torch_state)
                    _train_critic(critic, opt_critic, vae, xt, gidt, config, prior, critic_rng, batch, sampler)
                    critic_torch_state = torch.get_rng_state()
            for key in ("nll", "kl_c", "kl_s"):
                sums[key] += float(out[key].detach())
            sums["mi"] += float(mi.detach())
        history.append({k: v / len(batches) for k, v in sums.items()})
        if schedule is not None:
            schedule.step()
        if callback is not None:
            callback(epoch, vae, critic)
        if not math.isfinite(history[-1]["nll"]):
            raise FloatingPointError("grouped VAE training diverged; lower lr or raise recon_std")
    if config.decoder_refit_epochs:
        _refit_decoder(vae, xt, sampler, config, rng)
    return vae.eval(), history


def _refit_decoder(vae: GroupVAE, xt: torch.Tensor, sampler: GroupSampler, config: VaeConfig,
                   rng: np.random.Generator) -> None:
    """``config.decoder_refit_epochs`` epochs of the decoder alone (encoders frozen) on the Gaussian NLL."""
    params = list(vae.decoder.parameters()) + (list(vae.log_std.parameters()) if hasattr(vae, "log_std") else [])
    opt = torch.optim.Adam(params, lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.decoder_refit_epochs)
    for _ in range(config.decoder_refit_epochs):
        for idx in sampler.epoch(rng):
            xb = augment(xt[torch.as_tensor(idx)], config)
            with torch.no_grad():
                e = vae.encode(xb)
            g, k, _ = xb.shape
            c = e["gmu"] + torch.randn_like(e["gmu"]) * torch.exp(0.5 * e["glv"])
            s = e["mu_s"] + torch.randn_like(e["mu_s"]) * torch.exp(0.5 * e["lv_s"])
            recon = vae.decoder(torch.cat([c[:, None].expand(g, k, -1), s], -1))
            opt.zero_grad()
            vae.nll(recon, xb, c).backward()
            opt.step()
        sched.step()
