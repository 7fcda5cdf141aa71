"""What a compression run needs from its task: the data, the metric, the budget, the calibration checks.

``edgewise.compress.run`` is one orchestrator for every task (prune -> quantise -> measure -> keep); the task
of the checkpoint supplies the rest (issue 21: "make the task a parameter rather than a second copy of the
pipeline"):

- ``load``: training parts (fine-tuning, calibration), validation parts (the budget) and test parts (what
  is reported and stamped into the files), plus the fixed windows fidelity and latency are measured on;
- ``score``: the task's metric on a part, higher is better (ECG: wave F1 of P, QRS, T; mosquito: window
  and clip ROC-AUC);
- ``max_drop``: the recipe's budget on that metric;
- ``check_calibration``: refuse calibration windows unlike the device input;
- ``finetuner``/``trainable``: fine-tuning for prune and QAT steps (ECG only so far: the mosquito task
  takes quantize steps, and a recipe asking it for more fails before anything runs);
- ``stamp``: the held-out metrics written into a kept artifact's metadata (what the deploy chooser reads);
- ``postprocess_facts``: training facts a fine-tuned model's post-processing follows (ECG: the P offset).

Tasks: ``edgewise.compress.tasks.ecg`` (LUDB) and ``edgewise.compress.tasks.mosquito`` (the mosquito dataset).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["EvalData", "task_for"]


@dataclass
class EvalData:
    """Parts for fine-tuning (train), budget checks (val) and reporting (test), plus fixed windows.

    The parts are whatever the task scores (ECG: LUDB records; mosquito: ``heads_eval.Part`` windows).
    ``calibration``, ``fidelity_windows`` and ``latency_windows`` are model inputs as the device feeds them.
    """

    train: Any
    val: Any
    test: Any
    calibration: np.ndarray
    fidelity_windows: np.ndarray
    latency_windows: np.ndarray
    source: str
    synthetic: bool = False


def task_for(spec: Any) -> Any:
    """The compression task of a model spec (``spec.task``) or of a task name: ``EcgTask`` or ``MosquitoTask``."""
    task = spec if isinstance(spec, str) else getattr(getattr(spec, "task", None), "value", None)
    if task == "ecg-delineation":
        from edgewise.compress.tasks.ecg import EcgTask

        return EcgTask()
    if task == "mosquito-detection":
        from edgewise.compress.tasks.mosquito import MosquitoTask

        return MosquitoTask()
    raise ValueError(f"no compression task for {task!r}; known: ecg-delineation, mosquito-detection")
