"""The ECG delineation model specs: single-lead (shipped) and 12-lead (option)."""
from __future__ import annotations

from dataclasses import replace

from edgewise.models.ecg.unet import UNet1d
from edgewise.models.spec import Layout, ModelSpec, Task, register
from edgewise.runtime.ecg.preprocess import PREPROCESSING
from edgewise.runtime.ecg.waves import CLASSES

# 2048 samples (4.1 s, >= 3 beats at 45 bpm) per window. Checkpoints keep the window they were trained
# with (``edgewise.models.checkpoint``: the stored spec's window wins), so a whole-strip model (window
# 5008 = 10 s, ``ecg_spec_for_window``; trained with ``TrainConfig.min_crop``) loads as one. Measured and
# not adopted (2026-12-06): trained on whole strips the U-Net overfits (5-fold CV lead II P 0.952 on the
# two folds run, against 0.979 for 2048-sample crops; 16 false P waves on AF records), see CHANGELOG.
WINDOW = 2048
HOP = 1536

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
