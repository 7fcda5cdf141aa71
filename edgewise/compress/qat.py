"""Quantisation-aware fine-tuning (QAT): fine-tune with the int8 rounding in the loop, then quantise.

When post-training quantisation (PTQ) misses the accuracy budget, the float model is fine-tuned with
fake quantisation (Jacob et al., "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference", CVPR 2018; Paupamah, James & Klein, "Quantisation and Pruning for
Neural Network Compression and Regularisation"): every forward pass rounds the conv weights and the
activations the quantiser will quantise (every conv's input, ReLU and ConvTranspose outputs, the model's
output) to the int8 grid, gradients pass the rounding unchanged (straight-through estimator), so the
weights move to where rounding costs little.

The fake quantisation mirrors the scheme of ``edgewise.compress.quantize_onnx`` (onnxruntime's static
quantiser): weights symmetric per output channel with scale ``max|w| / L`` (L = 64: the 7-bit grid
``quantize_onnx`` uses by default so that every ISA computes the same; 127 for 8-bit), recomputed every
step; activations uint8 asymmetric per tensor, ranges tracked by ``torch.ao.quantization``'s
moving-average min/max observers (updated in training mode only). After fine-tuning the fake
quantisation is removed with the weights left ON the int8 grid, and the ordinary PTQ converters
(onnxruntime, the TFLite converter) quantise the float model: they re-derive exactly the grid the
weights were trained on, and calibrate activation ranges on the same real windows as PTQ.

NNCF's torch backend was tried first: it JIT-compiles a C++ extension at first use (minutes, a
compiler on the host, and a lock file that hangs the next run when a build is interrupted), and its
stripped export still carries float weights (../shared/DEPENDENCIES.md); ``torch.ao``'s fake-quant
modules are part of torch.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

_QAT_ATTR = "_edgewise_qat"


@dataclass(frozen=True)
class QatConfig:
    """Quantisation-aware fine-tuning.

    Attributes:
        epochs: fine-tuning epochs (each one pass over the training examples).
        lr: peak learning rate (one-cycle schedule); small, the model is already trained.
        distill_weight: weight of KL(float model || fake-quantised model) (added to the label loss).
        val_every: validate (and keep the best epoch) every this many epochs.
        per_channel: per-output-channel weight scales, as the quantiser that follows will use.
        labels: also fit the labels; default False: distillation only, so the int8 model follows the
            float model it replaces (the budget is measured against it), decision calibration included
            (e.g. a P-logit offset chosen on validation records, which a label loss pulls back).
        weight_levels: L of the symmetric weight grid ``-L..L``: 64 for onnxruntime with ``reduce_range``
            (the default of ``quantize_onnx``: 7-bit weights give the same results on every ISA), 127 for
            full 8-bit weights (the TFLite converter).
        freeze_bn: batch norms keep their running statistics and normalise with them while fine-tuning
            (Jacob et al. 2018; Krishnamoorthi 2018): the exported graph folds exactly those statistics
            into the convs, and a few steps on augmented crops would otherwise move them.
    """

    epochs: int = 3
    lr: float = 5e-4
    distill_weight: float = 1.0
    val_every: int = 1
    per_channel: bool = True
    labels: bool = False
    freeze_bn: bool = True
    weight_levels: int = 64

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.val_every < 1:
            raise ValueError(f"qat epochs and val_every must be >= 1, got {self.epochs}, {self.val_every}")
        if not 0 < self.lr < 1:
            raise ValueError(f"qat lr must be in (0, 1), got {self.lr}")
        if self.weight_levels not in (64, 127):
            raise ValueError(f"qat weight_levels must be 64 (7-bit, reduce_range) or 127 (8-bit), got {self.weight_levels}")
        if self.distill_weight < 0 or (not self.labels and self.distill_weight == 0):
            raise ValueError(f"qat distill_weight must be >= 0 (> 0 without labels), got {self.distill_weight}")


def _interleaved(module: Any) -> bool:
    """A 1-D transposed conv that ``edgewise.compress.onnx_upsample`` rewrites (kernel = stride, no padding)."""
    import torch

    return (isinstance(module, torch.nn.ConvTranspose1d) and module.kernel_size == module.stride
            and module.padding == (0,) and module.output_padding == (0,) and module.dilation == (1,)
            and module.groups == 1)


def _weight_quantizer(axis: int, per_channel: bool, levels: int = 64, flatten_from: int | None = None) -> Any:
    """``flatten_from``: treat dims ``flatten_from..`` as one channel axis (a ConvTranspose1d weight [C_in, C_out,
    k] gets one scale per (C_out, k) pair, as the 1x1 conv it is rewritten into has)."""
    import torch

    class WeightFakeQuant(torch.nn.Module):
        """int8 symmetric fake quantisation of a conv weight: scale = max|w| / levels per output channel
        (or over the whole tensor), values -levels..levels, as onnxruntime's quantiser computes it."""

        enabled = True

        def forward(self, w: torch.Tensor) -> torch.Tensor:
            if not self.enabled:
                return w
            if flatten_from is not None:
                return self._plain(w.flatten(flatten_from)).reshape(w.shape)
            return self._plain(w)

        def _plain(self, w: torch.Tensor) -> torch.Tensor:
            dims = [d for d in range(w.ndim) if d != axis] if per_channel else list(range(w.ndim))
            scale = (w.detach().abs().amax(dim=dims) / float(levels)).clamp_min(1e-12).float()
            if not per_channel:
                return torch.fake_quantize_per_tensor_affine(w, float(scale), 0, -levels, levels)
            zero = torch.zeros_like(scale, dtype=torch.int32)
            return torch.fake_quantize_per_channel_affine(w, scale, zero, axis, -levels, levels)

    return WeightFakeQuant()


def _activation_quantizer() -> Any:
    import torch
    from torch.ao.quantization import FakeQuantize, MovingAverageMinMaxObserver

    class ActFakeQuant(torch.nn.Module):
        """uint8 asymmetric per-tensor fake quantisation; the range observer learns in training mode
        (or while ``observe`` is True: calibration)."""

        def __init__(self) -> None:
            super().__init__()
            self.observe = False
            self.fq = FakeQuantize(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255,
                                   dtype=torch.quint8, qscheme=torch.per_tensor_affine)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.training or self.observe:
                self.fq.enable_observer()
            else:
                self.fq.disable_observer()
            return self.fq(x)

    return ActFakeQuant()


def prepare_qat(model: Any, calibration: Any, *, per_channel: bool = True, weight_levels: int = 64) -> Any:
    """A copy of ``model`` with fake quantisation of every conv weight and of the activations the quantiser
    quantises (conv inputs, ReLU and ConvTranspose outputs, the model output).

    Per-channel weight grids are exact even though the exported graph folds batch norms into the convs:
    folding scales each output channel by a constant, which scales its grid alike. Per-tensor grids are
    not invariant to that, so per-tensor QAT of a batch-normed model is approximate.

    Args:
        model: torch module of Conv1d/Conv2d/ConvTranspose layers (e.g. ``UNet1d``).
        calibration: float32 ``[n, *input_shape]`` real windows; their min/max start every activation
            range, as post-training calibration does.
        per_channel: per-output-channel weight scales (as the quantiser will use), else one per tensor.
        weight_levels: the weight grid ``-L..L`` (64: onnxruntime with reduce_range, 127: 8-bit).

    Returns:
        The prepared copy (train it like the original; ``strip_qat`` turns it back into a plain model).

    Raises:
        ValueError: the model has no conv layer to quantise.
    """
    import torch
    from torch.nn.utils import parametrize

    convs = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d)
    qat = copy.deepcopy(model)
    handles = []
    for module in list(qat.modules()):
        if not isinstance(module, convs):
            continue
        transposed = isinstance(module, (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d))
        if transposed and _interleaved(module):
            # quantize_onnx runs it as a 1x1 int8 conv to C_out x k channels (compress.onnx_upsample): one scale
            # per (output channel, tap) on the reduced-range grid, like every other conv
            quantizer = _weight_quantizer(1, per_channel, weight_levels, flatten_from=1)
        else:
            # other transposed convs run in float from 8-bit weights (quantize_onnx.int8_weights_for_float_ops):
            # no integer products there, so no reduced range either
            quantizer = _weight_quantizer(int(transposed), per_channel, 127 if transposed else weight_levels)
        parametrize.register_parametrization(module, "weight", quantizer)
        module.add_module("qat_input", _activation_quantizer())
        handles.append(module.register_forward_pre_hook(lambda mod, args: (mod.qat_input(args[0]), *args[1:])))
    if not handles:
        raise ValueError(f"{type(model).__name__} has no Conv/ConvTranspose layer: nothing to quantise-aware train")
    for module in list(qat.modules()):  # tensors the quantiser requantises: conv(+ReLU) and float ConvTranspose outputs
        if isinstance(module, (torch.nn.ReLU, torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d)):
            module.add_module("qat_output", _activation_quantizer())
            handles.append(module.register_forward_hook(lambda mod, args, out: mod.qat_output(out)))
    qat.add_module("qat_output", _activation_quantizer())
    handles.append(qat.register_forward_hook(lambda mod, args, out: mod.qat_output(out)))
    setattr(qat, _QAT_ATTR, handles)
    _calibrate(qat, calibration)
    return qat


def _calibrate(qat: Any, x: Any) -> None:
    """Start every activation range at the min/max of the FLOAT model's activations on ``x``, as the
    quantiser's calibration does (ranges seen through fake quantisation would shift zero points)."""
    import numpy as np
    import torch

    quantizers = [m for m in qat.modules() if hasattr(m, "observe") or hasattr(m, "enabled")]
    for m in quantizers:
        if hasattr(m, "observe"):
            m.observe = True
            m.fq.disable_fake_quant()
        else:
            m.enabled = False
    try:
        with torch.no_grad():
            qat.eval()(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    finally:
        for m in quantizers:
            if hasattr(m, "observe"):
                m.observe = False
                m.fq.enable_fake_quant()
            else:
                m.enabled = True


def strip_qat(qat: Any) -> Any:
    """Remove the fake quantisation in place, leaving each conv weight on its int8 grid; returns ``qat``."""
    import torch
    from torch.nn.utils import parametrize

    for h in getattr(qat, _QAT_ATTR, []):
        h.remove()
    for module in qat.modules():
        if parametrize.is_parametrized(module, "weight"):
            with torch.no_grad():
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        for name in ("qat_input", "qat_output"):
            if name in module._modules:
                del module._modules[name]
        if "train" in module.__dict__:  # a frozen batch norm
            del module.train
    if hasattr(qat, _QAT_ATTR):
        delattr(qat, _QAT_ATTR)
    return qat.eval()


def _freeze_batch_norms(model: Any) -> None:
    """Keep every batch norm in eval mode whatever ``model.train()`` asks (``strip_qat`` undoes it)."""
    import types

    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
            m.train = types.MethodType(lambda self, mode=True: self, m)


def distill_hook(teacher: Any, weight: float) -> Callable | None:
    """``loss_hook`` for ``train_unet``: ``weight`` x mean per-sample KL(teacher || student), or None."""
    if weight <= 0:
        return None
    import torch
    import torch.nn.functional as F

    teacher = teacher.eval()

    def hook(model, x, logits):
        with torch.no_grad():
            p = F.log_softmax(teacher(x), dim=1)
        q = F.log_softmax(logits, dim=1)
        return weight * (p.exp() * (p - q)).sum(dim=1).mean()

    return hook


def quantization_aware_finetune(model: Any, examples: list, calibration: Any, *, config: QatConfig = QatConfig(),
                                val_fn: Callable[[Any], float] | None = None, seed: int = 0,
                                log: Callable[[str], None] = print) -> tuple[Any, list[dict]]:
    """Fine-tune ``model`` with int8 fake quantisation in the loop; return a plain float copy.

    Args:
        model: trained float ECG U-Net (left untouched; it is also the distillation teacher).
        examples: ``edgewise.models.ecg.dataset.LeadExample`` training examples.
        calibration: float32 ``[n, *input_shape]`` windows that start the activation ranges.
        config: epochs, learning rate, distillation weight.
        val_fn: ``val_fn(model) -> float`` (higher is better), called on the fake-quantised model to
            keep the best epoch.
        seed: crop/shuffle seed.
        log: progress lines.

    Returns:
        ``(float model with int8-grid weights, training history)``.
    """
    from edgewise.models.ecg.train import TrainConfig, crop_config, train_unet

    import dataclasses

    import numpy as np

    if not config.labels:  # zero label weights: the label loss vanishes, crops are drawn uniformly
        examples = [dataclasses.replace(ex, weight=np.zeros_like(ex.weight)) for ex in examples]
    qat = prepare_qat(model, calibration, per_channel=config.per_channel, weight_levels=config.weight_levels)
    if config.freeze_bn:
        _freeze_batch_norms(qat)
    cfg = TrainConfig(epochs=config.epochs, lr=config.lr, threads=1, val_every=config.val_every, seed=seed,
                      **crop_config(int(np.asarray(calibration).shape[-1])))
    qat, history = train_unet(examples, val_fn, config=cfg, model=qat, progress=False, log=log,
                              loss_hook=distill_hook(model, config.distill_weight))
    return strip_qat(qat), history
