"""Distillation of an ensemble into one network: plain knowledge distillation and Hydra.

- Plain KD (Hinton et al. 2015; the baseline): one U-Net matched to the ensemble's mean prediction by
  temperature-scaled KL, per sample. It keeps the mean, so accuracy, but not the members' disagreement.
- Hydra (Tran et al., "Hydra: Preserving Ensemble Diversity for Model Distillation", ../shared/PAPERS.md):
  phase 1 is exactly plain KD (the "Hinton head"); phase 2 copies that head M times
  (``HydraUNet1d.from_unet``) and trains body and heads so head m matches member m, again by
  temperature-scaled KL. The heads' spread then reproduces the ensemble's epistemic uncertainty.

Loss per sample: T^2 * KL(softmax(teacher / T) || softmax(student / T)), summed over classes and
averaged over samples (all samples of a crop: the teachers' soft targets exist outside the annotated
span too) and, in phase 2, over heads. T^2 keeps gradient sizes comparable across temperatures.
``hard_weight`` > 0 adds Hinton et al.'s second term, the cross-entropy with the annotations inside the
annotated span: on the one head in phase 1, and in phase 2 on the heads' *mean* probability (so the
labels pull the average towards the truth without pulling every head to the same answer, which would
erase the diversity Hydra is there to keep). Phase 2 may use its own temperature.
Training uses the members' loop (``edgewise.models.ensemble.loop``): the same crops and augmentation,
one process or data parallel under torchrun.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

from edgewise.models.ecg.dataset import LeadExample
from edgewise.models.ecg.train import TrainConfig
from edgewise.models.ensemble.distributed import DistContext
from edgewise.models.ensemble.loop import all_weights, train_loop
from edgewise.models.soft_targets import softened_kl as _kl


def cached_student(path, facts: dict, *, phase_defaults: dict | None = None) -> bool:
    """True when the student checkpoint ``path`` exists and its side facts (``.json``) name exactly these
    distillation settings ``facts`` (then it is loaded, not distilled again).

    ``phase_defaults``: the phases' training-config defaults (JSON form). A key that the stored ``phase1`` /
    ``phase2`` lacks then reads as its default (``edgewise.models.ensemble.cache.config_matches``), so a field
    added to the training config since the student was made does not make it stale while the run asks for the
    field's default."""
    import json
    from pathlib import Path

    from edgewise.models.ensemble.cache import config_matches

    side = Path(path).with_suffix(".json")
    if not (Path(path).is_file() and side.is_file()):
        return False
    stored = json.loads(side.read_text()).get("training", {}).get("distill")
    if phase_defaults is None or not isinstance(stored, dict) or set(stored) != set(facts):
        return stored == facts
    return all(config_matches(stored[k], v, phase_defaults) if k in ("phase1", "phase2") and isinstance(v, dict)
               else stored[k] == v for k, v in facts.items())


@dataclass(frozen=True)
class DistillConfig:
    """A ``distill`` step: ``phase1`` / ``phase2`` trainings (phase2 unused for plain KD; each the task's own
    training config: ECG ``edgewise.models.ecg.train.TrainConfig`` in epochs, mosquito
    ``edgewise.models.mosquito.train.TrainConfig`` in steps, ``edgewise.compress.distill_mosquito``), temperature T
    (``phase2_temperature``: phase 2's, default T), the weight of the hard-label term, decoder levels per
    head, the number of heads (0: one per teacher) and ``init_member``: start phase 1 from that member's
    weights (a warm start) instead of from scratch."""

    phase1: TrainConfig = TrainConfig(epochs=20)
    phase2: TrainConfig = TrainConfig(epochs=10, lr=1e-3)
    temperature: float = 2.0
    head_blocks: int = 1
    heads: int = 0
    hard_weight: float = 0.0
    phase2_temperature: float | None = None
    init_member: int | None = None

    def __post_init__(self) -> None:
        for name in ("temperature", "phase2_temperature"):
            t = getattr(self, name)
            if t is not None and not t > 0:
                raise ValueError(f"{name} must be > 0, got {t}")
        if self.hard_weight < 0:
            raise ValueError(f"hard_weight must be >= 0, got {self.hard_weight}")
        if self.init_member is not None and self.init_member < 0:
            raise ValueError(f"init_member must be >= 0, got {self.init_member}")
        if self.head_blocks < 1 or self.heads < 0:
            raise ValueError(f"head_blocks must be >= 1 and heads >= 0, got {self.head_blocks}, {self.heads}")


def teacher_logits(teachers: Sequence, x) -> "object":
    """Stacked member logits float32 [b, M, classes, w] (no gradients)."""
    import torch

    with torch.inference_mode():
        return torch.stack([t(x) for t in teachers], dim=1)


def _mean_kl(teacher_logits, student_logits, temperature: float, *, dim: int = -2):
    """KL from the ensemble's mean softened prediction, members on axis 1: teacher [b, M, c, w], student
    [b, c, w] -> [b, w] (``dim=-1``: teacher [b, M, c], student [b, c] -> [b])."""
    import torch
    import torch.nn.functional as F

    lt = F.log_softmax(teacher_logits / temperature, dim=dim)
    log_mean = torch.logsumexp(lt, dim=1) - torch.log(torch.tensor(float(lt.shape[1])))
    s = F.log_softmax(student_logits / temperature, dim=dim)
    return (log_mean.exp() * (log_mean - s)).sum(dim=dim) * temperature**2


def _hard(student_logits, y, span, heads: bool):
    """Cross-entropy with the annotations on the span: [b, w]; ``heads``: of the mean over dim 1."""
    import torch
    import torch.nn.functional as F

    logp = F.log_softmax(student_logits, dim=-2)
    if heads:
        logp = torch.logsumexp(logp, dim=1) - torch.log(torch.tensor(float(logp.shape[1])))
    return -logp.gather(-2, y.unsqueeze(-2)).squeeze(-2) * span


def _frozen(teachers: Sequence) -> list:
    for t in teachers:
        t.eval()
        for p in t.parameters():
            p.requires_grad_(False)
    return list(teachers)


def distill_plain(teachers: Sequence, examples: list[LeadExample], *, config: DistillConfig = DistillConfig(),
                  ctx: DistContext = DistContext(), student=None, progress: bool = False,
                  log: Callable[[str], None] | None = None, desc: str = "plain KD"):
    """Plain KD (Hydra's phase 1): a ``UNet1d`` shaped like the first teacher, matched to the ensemble mean.

    Returns (student in eval mode, history).
    """
    import torch

    from edgewise.models.ecg.unet import UNet1d

    teachers = _frozen(teachers)
    cfg, T = config.phase1, config.temperature
    if student is None and config.init_member is not None:  # warm start: a copy of one member
        import copy

        if config.init_member >= len(teachers):
            raise ValueError(f"init_member {config.init_member} but only {len(teachers)} teachers")
        student = copy.deepcopy(teachers[config.init_member])
        for p in student.parameters():
            p.requires_grad_(True)
    if student is None:
        torch.manual_seed(cfg.seed)
        student = UNet1d(1, 4, widths=cfg.widths, kernel=cfg.kernel, context=cfg.context)

    a = config.hard_weight

    def loss(net, x, y, span):
        out = net(x)
        kd = _mean_kl(teacher_logits(teachers, x), out, T)
        return kd + a * _hard(out, y, span, heads=False) if a else kd

    hist = train_loop(student, examples, loss, config=cfg, weight_fn=all_weights, ctx=ctx, progress=progress,
                      desc=desc, log=log)
    return student, hist


def distill_hydra(teachers: Sequence, examples: list[LeadExample], *, config: DistillConfig = DistillConfig(),
                  phase1=None, ctx: DistContext = DistContext(), progress: bool = False,
                  log: Callable[[str], None] | None = None):
    """Hydra's two phases; ``phase1``: an already distilled one-head ``UNet1d`` (e.g. the plain-KD student,
    which is phase 1 by definition) to skip phase 1.

    Returns (``HydraUNet1d`` with one head per teacher, in eval mode; {"phase1": history, "phase2": history}).
    """
    from edgewise.models.ecg.hydra import HydraUNet1d

    teachers = _frozen(teachers)
    hist1: list[dict] = []
    if phase1 is None:
        phase1, hist1 = distill_plain(teachers, examples, config=config, ctx=ctx, progress=progress, log=log,
                                      desc="Hydra phase 1")
    m = config.heads or len(teachers)
    if m != len(teachers):
        raise ValueError(f"Hydra needs one head per teacher: {len(teachers)} teachers, heads={config.heads}")
    hydra = HydraUNet1d.from_unet(phase1, heads=m, head_blocks=config.head_blocks)
    T = config.phase2_temperature or config.temperature
    a = config.hard_weight

    def loss(net, x, y, span):
        out = net(x)
        kd = _kl(teacher_logits(teachers, x), out, T).mean(dim=1)  # [b, M, w] -> mean over heads
        return kd + a * _hard(out, y, span, heads=True) if a else kd

    hist2 = train_loop(hydra, examples, loss, config=config.phase2, weight_fn=all_weights, ctx=ctx,
                       progress=progress, desc="Hydra phase 2", log=log)
    return hydra, {"phase1": hist1, "phase2": hist2}


def with_seed(config: DistillConfig, seed: int) -> DistillConfig:
    """The same distillation with another seed (both phases)."""
    return replace(config, phase1=replace(config.phase1, seed=seed), phase2=replace(config.phase2, seed=seed))



def finetune_heads(net, teacher, examples: list[LeadExample], *, config: TrainConfig, temperature: float = 1.0,
                   hard_weight: float = 0.5, ctx: DistContext = DistContext(),
                   log: Callable[[str], None] | None = None):
    """Fine-tune a pruned multi-head network for ``config.epochs``: head m matched to head m of ``teacher``
    (the network before pruning) by KL, plus the annotations on the heads' mean (``hard_weight``), so
    pruning keeps both the accuracy and the heads' disagreement. Returns (net in eval mode, history).
    """
    teacher = _frozen([teacher])[0]

    def loss(n, x, y, span):
        import torch

        out = n(x)
        with torch.inference_mode():
            t = teacher(x)
        kd = _kl(t, out, temperature).mean(dim=1)
        return kd + hard_weight * _hard(out, y, span, heads=True) if hard_weight else kd

    hist = train_loop(net, examples, loss, config=config, weight_fn=all_weights, ctx=ctx, desc="fine-tune heads",
                      log=log)
    return net, hist
