"""Compression recipes: a TOML file listing the steps (``prune``, ``quantize``), their parameters and
the accuracy budget.

Example (like ``edgewise/compress/recipes/ecg-pruned.toml``; the ECG task's default ``recipes/ecg.toml`` is
its quantize step alone, chosen on cross-validated records: ``benchmarks/ecg_compress_cv.py``)::

    [budget]
    max_f1_drop = 0.005          # every wave's F1 may drop at most this much (0.5 points)

    [[step]]
    kind = "prune"
    ratio = 0.5                  # share of channels removed in every prunable layer
    importance = "taylor"        # or "magnitude"
    iterations = 2               # iterative schedule: prune a bit, fine-tune, repeat
    finetune_epochs = 6

    [[step]]
    kind = "quantize"
    formats = ["onnx", "tflite"]

Every table and key is checked: an unknown key is rejected with the allowed set, so a misspelt
parameter never silently falls back to a default. Types, ranges and allowed values are one table per
table (``RECIPE``, ``BUDGET``, ``STEP_RULES``), checked by the same small validator as artifact metadata
(``edgewise.runtime.validator``) before any dataclass is built; a recipe file is at most 1 MB.

A ``distill`` step (first, at most once) turns an ensemble into one Hydra (or, ``student = "plain"``, one
plainly distilled network); ``edgewise compress`` then takes the ensemble's folder as its model::

    [[step]]
    kind = "distill"
    student = "hydra"
    phase1_epochs = 10           # the one-head student on the ensemble mean (Hydra's phase 1 = plain KD)
    phase2_epochs = 20           # every head on its own member
    temperature = 2.0
    phase2_temperature = 1.0     # 0: the same as temperature
    hard_weight = 0.5            # + the annotations' cross-entropy (Hydra: on the heads' mean)
    init_member = 0              # phase 1 starts from that member's weights (-1: from scratch)

``recipes/ecg-hydra.toml`` is that step followed by the default INT8 step.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from edgewise.runtime.validator import MAX_DEPTH, Rule, bracket_depth, check, size_text

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
DEFAULT_RECIPES = {"ecg-delineation": RECIPES_DIR / "ecg.toml", "mosquito-detection": RECIPES_DIR / "mosquito.toml"}
PRUNED_RECIPE = RECIPES_DIR / "ecg-pruned.toml"  # prune (round_to 8) + INT8: smaller, measurably less accurate
HYDRA_RECIPE = RECIPES_DIR / "ecg-hydra.toml"  # for an ensemble folder: distil a Hydra, then INT8
MAX_RECIPE_BYTES = 1 << 20


class StepKind(str, Enum):
    PRUNE = "prune"
    QUANTIZE = "quantize"
    DISTILL = "distill"


class Student(str, Enum):
    HYDRA = "hydra"   # shared body + one head per member: keeps the ensemble's uncertainty
    PLAIN = "plain"   # one head on the ensemble mean (Hinton et al.): the baseline


class Importance(str, Enum):
    MAGNITUDE = "magnitude"
    TAYLOR = "taylor"


class PruneMode(str, Enum):
    STRUCTURED = "structured"      # channels physically removed: smaller and faster dense models
    UNSTRUCTURED = "unstructured"  # weights zeroed: smaller when compressed, dense latency unchanged


class QuantFormat(str, Enum):
    QDQ = "qdq"
    QOPERATOR = "qoperator"


class TfliteIO(str, Enum):
    FLOAT = "float"
    INT8 = "int8"


class Activations(str, Enum):
    INT8 = "int8"
    INT16 = "int16"
    AUTO = "auto"  # int8, and the int16-activation variant too when int8 misses the budget


def _enum(cls: type[Enum], value: Any, what: str) -> Enum:
    try:
        return cls(value)
    except ValueError:
        raise ValueError(f"{what} must be one of {[e.value for e in cls]}, got {value!r}") from None


@dataclass(frozen=True)
class Budget:
    """Accuracy budget of a recipe.

    Attributes:
        max_f1_drop: ECG: largest allowed drop of each wave's F1 (P, QRS, T) against the uncompressed model,
            as a fraction (0.005 = 0.5 points), measured on the validation records.
        max_auc_drop: mosquito: largest allowed drop of the window and of the clip ROC-AUC against the
            uncompressed model (0.005 = 0.5 points, the deploy chooser's budget), on the validation recordings.
        min_agreement: smallest allowed per-sample argmax agreement with the uncompressed model.
    """

    max_f1_drop: float = 0.005
    max_auc_drop: float = 0.005
    min_agreement: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.max_f1_drop <= 1:
            raise ValueError(f"budget.max_f1_drop must be in [0, 1] (0.005 = 0.5 F1 points), got {self.max_f1_drop}")
        if not 0 <= self.max_auc_drop <= 1:
            raise ValueError(f"budget.max_auc_drop must be in [0, 1] (0.005 = 0.5 points), got {self.max_auc_drop}")
        if not 0 <= self.min_agreement <= 1:
            raise ValueError(f"budget.min_agreement must be in [0, 1], got {self.min_agreement}")


@dataclass(frozen=True)
class PruneStep:
    """Structured (or unstructured) pruning with an iterative prune/fine-tune schedule."""

    ratio: float = 0.5
    importance: Importance = Importance.TAYLOR
    mode: PruneMode = PruneMode.STRUCTURED
    iterations: int = 2
    finetune_epochs: int = 6
    finetune_lr: float = 1e-3
    distill_weight: float = 1.0  # fine-tuning adds this x KL(uncompressed || pruned) per sample (0: off)
    # kept channels rounded to a multiple of this (torch-pruning's round_to): int8 GEMM kernels work on
    # blocks of 4-16 channels, so 21 channels cost about what 24 do (1: no rounding)
    round_to: int = 1
    kind: StepKind = StepKind.PRUNE

    def __post_init__(self) -> None:
        object.__setattr__(self, "importance", _enum(Importance, self.importance, "prune.importance"))
        object.__setattr__(self, "mode", _enum(PruneMode, self.mode, "prune.mode"))
        if not 0 < self.ratio < 1:
            raise ValueError(f"prune.ratio must be in (0, 1) (share of channels removed), got {self.ratio}")
        if self.iterations < 1 or self.finetune_epochs < 0:
            raise ValueError(f"prune.iterations must be >= 1 and finetune_epochs >= 0, "
                             f"got {self.iterations}, {self.finetune_epochs}")
        if self.distill_weight < 0:
            raise ValueError(f"prune.distill_weight must be >= 0, got {self.distill_weight}")
        if not 1 <= self.round_to <= 64:
            raise ValueError(f"prune.round_to must be in 1..64 (channels), got {self.round_to}")
        if not 0 < self.finetune_lr < 1:
            raise ValueError(f"prune.finetune_lr must be in (0, 1), got {self.finetune_lr}")


@dataclass(frozen=True)
class QuantizeStep:
    """Post-training static INT8 quantisation, calibrated on real windows; when it misses the budget,
    quantisation-aware fine-tuning (``qat_epochs``), then mixed precision and int16 activations."""

    formats: tuple[str, ...] = ("onnx", "tflite")
    onnx_format: QuantFormat = QuantFormat.QOPERATOR
    per_channel: bool = True          # ONNX weights: one scale per output channel
    # ONNX weights on a 7-bit grid: u8s8 products cannot saturate on x86 without VNNI, so the int8 file
    # computes the same scores on AVX2, VNNI and arm64 (edgewise.compress.quantize_onnx, benchmarks/int8_isa.py)
    onnx_reduce_range: bool = True
    # TFLite weights: per channel costs 12 bytes per output channel twice (weight and bias scales,
    # int64 zero points the schema requires), ~8 KB on the pruned ECG U-Net; per tensor costs ~0
    tflite_per_channel: bool = True
    tflite_io: TfliteIO = TfliteIO.FLOAT
    activations: Activations = Activations.AUTO
    calibration_windows: int = 64
    min_calibration_windows: int = 16
    keep_fp32: tuple[str, ...] = ()   # ONNX node names kept in float (mixed precision)
    auto_mixed_precision: int = 3     # when the budget is missed: keep up to this many sensitive layers in fp32
    qat_epochs: int = 0               # when PTQ misses the budget: quantisation-aware fine-tuning epochs (0: off)
    qat_lr: float = 5e-4
    qat_labels: bool = False          # QAT fits the labels too (default: distillation from the float model only)
    kind: StepKind = StepKind.QUANTIZE

    def __post_init__(self) -> None:
        formats = tuple(self.formats)
        bad = [f for f in formats if f not in ("onnx", "tflite")]
        if bad or not formats:
            raise ValueError(f"quantize.formats must be a non-empty subset of ['onnx', 'tflite'], got {list(formats)}")
        object.__setattr__(self, "formats", formats)
        object.__setattr__(self, "keep_fp32", tuple(self.keep_fp32))
        object.__setattr__(self, "onnx_format", _enum(QuantFormat, self.onnx_format, "quantize.onnx_format"))
        object.__setattr__(self, "tflite_io", _enum(TfliteIO, self.tflite_io, "quantize.tflite_io"))
        object.__setattr__(self, "activations", _enum(Activations, self.activations, "quantize.activations"))
        if self.min_calibration_windows < 1 or self.calibration_windows < self.min_calibration_windows:
            raise ValueError(f"quantize.calibration_windows ({self.calibration_windows}) must be >= "
                             f"min_calibration_windows ({self.min_calibration_windows}) >= 1")
        if self.auto_mixed_precision < 0:
            raise ValueError(f"quantize.auto_mixed_precision must be >= 0, got {self.auto_mixed_precision}")
        if self.qat_epochs < 0 or not 0 < self.qat_lr < 1:
            raise ValueError(f"quantize.qat_epochs must be >= 0 and qat_lr in (0, 1), got {self.qat_epochs}, {self.qat_lr}")


@dataclass(frozen=True)
class DistillStep:
    """Distillation of an ensemble into one network (``edgewise.compress.distill``)."""

    # defaults: the setting measured best on LUDB (benchmarks/hydra_ecg.py, README "Ensembles and Hydra")
    student: Student = Student.HYDRA
    phase1_epochs: int = 10
    phase2_epochs: int = 20
    lr: float = 1e-3            # phase 1
    phase2_lr: float = 1e-3
    temperature: float = 2.0
    phase2_temperature: float = 1.0   # 0: the same as temperature
    hard_weight: float = 0.5
    init_member: int = 0              # phase 1 starts from this member's weights; -1: from scratch
    head_blocks: int = 1
    kind: StepKind = StepKind.DISTILL

    def __post_init__(self) -> None:
        object.__setattr__(self, "student", _enum(Student, self.student, "distill.student"))
        if self.phase1_epochs < 1 or self.phase2_epochs < 0:
            raise ValueError(f"distill.phase1_epochs must be >= 1 and phase2_epochs >= 0, "
                             f"got {self.phase1_epochs}, {self.phase2_epochs}")
        if not self.temperature > 0 or self.phase2_temperature < 0:
            raise ValueError(f"distill.temperature must be > 0 and phase2_temperature >= 0 (0: the same), "
                             f"got {self.temperature}, {self.phase2_temperature}")

    def config(self, base: Any) -> Any:
        """The ``DistillConfig`` of this step on the members' ``TrainConfig`` ``base``."""
        from dataclasses import replace

        from edgewise.compress.distill import DistillConfig

        return DistillConfig(phase1=replace(base, epochs=self.phase1_epochs, lr=self.lr),
                             phase2=replace(base, epochs=max(1, self.phase2_epochs), lr=self.phase2_lr),
                             temperature=self.temperature, head_blocks=self.head_blocks,
                             hard_weight=self.hard_weight, phase2_temperature=self.phase2_temperature or None,
                             init_member=None if self.init_member < 0 else self.init_member)


STEP_TYPES: dict[StepKind, type] = {StepKind.PRUNE: PruneStep, StepKind.QUANTIZE: QuantizeStep,
                                    StepKind.DISTILL: DistillStep}


def _one_of(cls: type[Enum]) -> Rule:
    return Rule("str", allowed=tuple(e.value for e in cls))


_FRACTION = Rule("number", min=0, max=1)
_OPEN_FRACTION = Rule("number", min=0, max=1, min_open=True, max_open=True)
_EPOCHS = Rule("int", min=0, max=10_000)
_WINDOWS = Rule("int", min=1, max=1_000_000)
# one rule per dataclass field (tests/compress/test_recipe.py keeps the key sets equal)
BUDGET = Rule("dict", closed=True, keys={"max_f1_drop": _FRACTION, "max_auc_drop": _FRACTION,
                                        "min_agreement": _FRACTION})
STEP_RULES: dict[StepKind, Rule] = {
    StepKind.PRUNE: Rule("dict", closed=True, keys={
        "kind": _one_of(StepKind), "ratio": _OPEN_FRACTION, "importance": _one_of(Importance),
        "mode": _one_of(PruneMode), "iterations": Rule("int", min=1, max=100), "finetune_epochs": _EPOCHS,
        "finetune_lr": _OPEN_FRACTION, "distill_weight": Rule("number", min=0, max=1000),
        "round_to": Rule("int", min=1, max=64),
    }),
    StepKind.QUANTIZE: Rule("dict", closed=True, keys={
        "kind": _one_of(StepKind),
        "formats": Rule("list", min_len=1, max_len=2, unique=True, items=Rule("str", allowed=("onnx", "tflite"))),
        "onnx_format": _one_of(QuantFormat), "per_channel": Rule("bool"), "onnx_reduce_range": Rule("bool"),
        "tflite_per_channel": Rule("bool"), "tflite_io": _one_of(TfliteIO), "activations": _one_of(Activations),
        "calibration_windows": _WINDOWS, "min_calibration_windows": _WINDOWS,
        "keep_fp32": Rule("list", max_len=10_000, items=Rule("str", min_len=1, max_len=1024)),
        "auto_mixed_precision": Rule("int", min=0, max=10_000), "qat_epochs": _EPOCHS, "qat_lr": _OPEN_FRACTION,
        "qat_labels": Rule("bool"),
    }),
    StepKind.DISTILL: Rule("dict", closed=True, keys={
        "kind": _one_of(StepKind), "student": _one_of(Student), "phase1_epochs": Rule("int", min=1, max=10_000),
        "phase2_epochs": _EPOCHS, "lr": _OPEN_FRACTION, "phase2_lr": _OPEN_FRACTION,
        "temperature": Rule("number", min=0, max=100, min_open=True), "phase2_temperature": Rule("number", min=0, max=100),
        "hard_weight": Rule("number", min=0, max=100), "init_member": Rule("int", min=-1, max=1000),
        "head_blocks": Rule("int", min=1, max=16),
    }),
}
RECIPE = Rule("dict", closed=True, keys={
    "budget": Rule("dict"), "step": Rule("list", max_len=64, items=Rule("dict")),
    "name": Rule("str", min_len=1, max_len=256), "eval_records": Rule("int", min=0, max=1_000_000),
})


@dataclass(frozen=True)
class Recipe:
    """An ordered list of steps and the budget they must keep."""

    steps: tuple[DistillStep | PruneStep | QuantizeStep, ...]
    budget: Budget = field(default_factory=Budget)
    name: str = "recipe"
    eval_records: int = 0   # cap on validation records used for budget checks (0 = all)

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a recipe needs at least one [[step]] (kind = 'distill', 'prune' or 'quantize')")
        kinds = [s.kind for s in self.steps]
        if any(kinds.count(k) > 1 for k in StepKind):
            raise ValueError(f"a recipe has at most one step of each kind, got {[k.value for k in kinds]}")
        if StepKind.DISTILL in kinds and kinds[0] != StepKind.DISTILL:
            raise ValueError("distill comes first: it makes the network the other steps compress")
        if StepKind.QUANTIZE in kinds and StepKind.PRUNE in kinds and kinds.index(StepKind.QUANTIZE) < kinds.index(StepKind.PRUNE):
            raise ValueError("prune before quantize: a quantised graph cannot be pruned")
        if self.eval_records < 0:
            raise ValueError(f"eval_records must be >= 0, got {self.eval_records}")


def _build(cls: type, table: dict[str, Any], rule: Rule, where: str, **fixed: Any) -> Any:
    check(table, rule, key="", where=where, error=ValueError)  # keys, types, ranges, allowed values
    try:
        return cls(**{**table, **fixed})
    except TypeError as e:
        raise ValueError(f"{where}: {e}") from e


def parse_recipe(data: dict[str, Any], *, name: str = "recipe") -> Recipe:
    """Build a ``Recipe`` from the parsed TOML dict (every key checked)."""
    check(data, RECIPE, key="", where="the recipe's top level", error=ValueError)
    steps = []
    for i, table in enumerate(data.get("step", [])):
        if "kind" not in table:
            raise ValueError(f"[[step]] #{i + 1} needs kind = one of {[k.value for k in StepKind]}")
        kind = _enum(StepKind, table["kind"], f"[[step]] #{i + 1} kind")
        steps.append(_build(STEP_TYPES[kind], table, STEP_RULES[kind], f"[[step]] #{i + 1} ({kind.value})", kind=kind))
    budget = _build(Budget, dict(data.get("budget", {})), BUDGET, "[budget]")
    return Recipe(steps=tuple(steps), budget=budget, name=str(data.get("name", name)),
                  eval_records=int(data.get("eval_records", 0)))


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a TOML recipe file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: invalid TOML, unknown keys or bad values (the message names them).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no recipe at {path}; the default ECG recipe is {DEFAULT_RECIPES['ecg-delineation']}")
    if path.stat().st_size > MAX_RECIPE_BYTES:
        raise ValueError(f"{path} is {path.stat().st_size} bytes; a recipe is at most {size_text(MAX_RECIPE_BYTES)}")
    try:
        text = path.read_text(encoding="utf-8")
        if bracket_depth(text, toml=True) > MAX_DEPTH:  # before the recursive parser sees it
            raise ValueError(f"{path} nests arrays or tables deeper than {MAX_DEPTH} levels; a recipe needs 2")
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise ValueError(f"{path} is not valid TOML ({e})") from e
    try:
        return parse_recipe(data, name=path.stem)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e


def default_recipe(task: str) -> Path:
    """The default recipe file of a task (``"ecg-delineation"``, ``"mosquito-detection"``)."""
    try:
        return DEFAULT_RECIPES[task]
    except KeyError:
        raise ValueError(f"no default compression recipe for task {task!r}; known: {sorted(DEFAULT_RECIPES)}; "
                         "pass --recipe FILE") from None
