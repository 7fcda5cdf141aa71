"""Torch model definitions, task specs, training loops and the pretrained weights this project trained."""
from __future__ import annotations

from edgewise.models.spec import Layout, ModelSpec, Task, build_model, get_spec, known_specs, register

__all__ = ["Layout", "ModelSpec", "Task", "build_model", "get_spec", "known_specs", "register"]
