"""Hinton et al.'s distillation term (2015): temperature-softened KL from a teacher's logits to a student's.

Shared by single-model training with a teacher (``edgewise.models.ecg.train.distillation_hook``) and the
ensemble distillation steps (``edgewise.compress.distill``: plain KD and Hydra).
"""
from __future__ import annotations


def softened_kl(teacher_logits, student_logits, temperature: float, *, dim: int = -2):
    """T^2 * KL(softmax(t/T) || softmax(s/T)) summed over the class axis ``dim`` (-2 for ECG [..., c, w]: [..., w];
    -1 for a detector's [..., c]: [...]). T^2 keeps gradient sizes comparable across temperatures."""
    import torch.nn.functional as F

    t = F.log_softmax(teacher_logits / temperature, dim=dim)
    s = F.log_softmax(student_logits / temperature, dim=dim)
    return (t.exp() * (t - s)).sum(dim=dim) * temperature**2
