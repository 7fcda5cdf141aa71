"""Per-model facts, once: sample rate, window, classes, input layout, export tolerance, opset.

A ``ModelSpec`` travels into every exported artifact's metadata (``to_metadata``), so the device
needs nothing else to run the model correctly. Specs live in one registry filled by ``register``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Callable


class Task(str, Enum):
    ECG_DELINEATION = "ecg-delineation"
    MOSQUITO_DETECTION = "mosquito-detection"


class Layout(str, Enum):
    NCW = "NCW"      # [batch, channels, samples]  (1-D signals, torch's layout)
    NWC = "NWC"      # [batch, samples, channels]  (TFLite's preferred 1-D layout)
    NCHW = "NCHW"    # [batch, channels, mels, frames]
    NHWC = "NHWC"


@dataclass(frozen=True)
class ModelSpec:
    """What an exported model needs to carry.

    Attributes:
        name: registry key, e.g. ``"ecg-unet"``.
        task: the task the model solves.
        sample_rate: input sample rate in Hz (signals at other rates are resampled at the edges).
        window: samples per model input window (at ``sample_rate``).
        hop: samples between consecutive windows when a long signal is windowed.
        input_layout: layout of the model input tensor.
        input_shape: input shape without the batch dimension, in ``input_layout``.
        classes: output class names, in output order.
        preprocessing: JSON-able parameters of the front end the runtime applies before the model.
        export_atol: max abs difference on logits allowed between torch and an fp32 artifact.
        opset: ONNX opset for export.
    """

    name: str
    task: Task
    sample_rate: int
    window: int
    hop: int
    input_layout: Layout
    input_shape: tuple[int, ...]
    classes: tuple[str, ...]
    preprocessing: dict[str, Any] = field(default_factory=dict)
    export_atol: float = 1e-4
    opset: int = 17

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", Task(self.task))
        object.__setattr__(self, "input_layout", Layout(self.input_layout))
        if self.sample_rate <= 0 or self.window <= 0 or self.hop <= 0:
            raise ValueError(
                f"sample_rate, window and hop must be positive, got {self.sample_rate}, {self.window}, {self.hop}"
            )
        if self.hop > self.window:
            raise ValueError(f"hop {self.hop} is larger than window {self.window}: samples would be skipped")
        if not self.classes:
            raise ValueError("a model spec needs at least one class name")

    def to_metadata(self) -> dict[str, Any]:
        """JSON-able dict for artifact metadata (enums as their values)."""
        d = asdict(self)
        d["task"] = self.task.value
        d["input_layout"] = self.input_layout.value
        d["input_shape"] = list(self.input_shape)
        d["classes"] = list(self.classes)
        return d


_SPECS: dict[str, ModelSpec] = {}
_BUILDERS: dict[str, Callable[..., Any]] = {}
# packages that register specs when imported (they import torch, so they load on first lookup)
MODEL_PACKAGES = ("edgewise.models.ecg", "edgewise.models.mosquito")


def _load_packages() -> None:
    import importlib

    for name in MODEL_PACKAGES:
        importlib.import_module(name)


def register(spec: ModelSpec, builder: Callable[..., Any]) -> ModelSpec:
    """Register a spec and the function that builds its torch module. Raises on a duplicate name."""
    if spec.name in _SPECS:
        raise ValueError(f"model spec {spec.name!r} is already registered")
    _SPECS[spec.name] = spec
    _BUILDERS[spec.name] = builder
    return spec


def get_spec(name: str) -> ModelSpec:
    if name not in _SPECS:
        _load_packages()
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(_SPECS)) or 'none'}") from None


def build_model(name: str, **kwargs: Any) -> Any:
    get_spec(name)
    return _BUILDERS[name](**kwargs)


def known_specs() -> list[str]:
    _load_packages()
    return sorted(_SPECS)
