"""The ECG delineation model specs: single-lead (shipped) and 12-lead (option)."""
from __future__ import annotations

from dataclasses import replace

from edgewise.models.ecg.unet import UNet1d
from edgewise.models.spec import Layout, ModelSpec, Task, register
from edgewise.runtime.ecg.preprocess import PREPROCESSING
from edgewise.runtime.ecg.waves import CLASSES

# 5008 samples (10.0 s at 500 Hz, a multiple of 16 for the four pooling levels) per window: a 10-s
# strip is one model call (zero-padded by 8 samples), with the whole strip as context (its rhythm:
# regular beats with a P wave before each, or fibrillation). Longer signals are windowed by the stream
# (``edgewise.runtime.ecg.stream``). Checkpoints trained with another window keep theirs
# (``edgewise.models.checkpoint``: the stored spec's window wins): until 0.2 the window was 2048 samples.
WINDOW = 5008
HOP = 2496  # offline windowing of recordings longer than 10 s (runtime.ecg.model.offline_hop)

ECG_SPEC = register(
    ModelSpec(
        name="ecg-unet", task=Task.ECG_DELINEATION, sample_rate=500, window=WINDOW, hop=HOP,
        input_layout=Layout.NCW, input_shape=(1, WINDOW), classes=CLASSES,
        preprocessing=dict(PREPROCESSING), export_atol=1e-4, opset=17,
    ),
    lambda **kw: UNet1d(in_channels=1, **kw),
)

ECG_12_SPEC = register(
    ModelSpec(
        name="ecg-unet-12lead", task=Task.ECG_DELINEATION, sample_rate=500, window=WINDOW, hop=HOP,
        input_layout=Layout.NCW, input_shape=(12, WINDOW), classes=CLASSES,
        preprocessing=dict(PREPROCESSING), export_atol=1e-4, opset=17,
    ),
    lambda **kw: UNet1d(in_channels=12, **kw),
)


def ecg_spec_for_window(window: int, spec: ModelSpec = ECG_SPEC) -> ModelSpec:
    """``spec`` with another input window (a fully convolutional U-Net runs on any multiple of 16): what a
    network trained on ``window``-sample crops is saved with (the ensemble members and their students
    keep the 0.1 window of 2048 samples)."""
    if window == spec.window:
        return spec
    if window <= 0 or window % 16:
        raise ValueError(f"window must be a positive multiple of 16, got {window}")
    hop = max(1, min(spec.hop, window - 512)) if window > 512 else window
    return replace(spec, window=window, hop=hop, input_shape=(spec.input_shape[0], window))
