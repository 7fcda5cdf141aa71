"""The ECG delineation model specs: single-lead (shipped) and 12-lead (option)."""
from __future__ import annotations

from edgewise.models.ecg.unet import UNet1d
from edgewise.models.spec import Layout, ModelSpec, Task, register
from edgewise.runtime.ecg.preprocess import PREPROCESSING
from edgewise.runtime.ecg.waves import CLASSES

# 2048 samples (4.1 s, >= 3 beats at 45 bpm) per window, 512 of overlap: 10 s of ECG is three windows.
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
