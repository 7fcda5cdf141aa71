"""Model specs of the mosquito detectors (rate, window, layout, front end), registered once."""
from __future__ import annotations

from edgewise.models.mosquito.nets import DSCNN, HumBugCNN
from edgewise.models.spec import Layout, ModelSpec, Task, register
from edgewise.runtime.features.logmel import LogMelConfig

__all__ = ["DSCNN_SPEC", "DSCNN_ROBUST_SPEC", "HUMBUG_SPEC", "SHIPPED_ARCH", "SPECS", "frontend"]

SAMPLE_RATE = 8000
WINDOW = 2 * SAMPLE_RATE   # 2-s windows
HOP = SAMPLE_RATE          # one window per second when detecting
CLASSES = ("background", "mosquito")

_DSCNN_FE = LogMelConfig(sample_rate=SAMPLE_RATE, n_fft=512, hop_length=256, n_mels=64, fmin=50.0)
# issue 21 "no shortcuts": mel bands end at 3.4 kHz, below the 4-kHz band edge where the anti-alias filters of
# different decode and resample paths differ (8-kHz native vs 16/44.1-kHz audio resampled on the device); the dB
# floor is 80 dB below each window's peak (top_db), so digital silence sits at the same level whatever the gain
# (with the absolute amin floor a clip with zeros moved by up to 0.27 at +20 dB); dB are read below each window's
# peak (ref="max"), so every window spans [-80, 0] dB at any gain: the float model removes each window's mean level in
# the graph anyway (a constant per window changes none of its outputs), but an int8 file quantises its input with
# one fixed range, which absolute dB overran at +20 dB (clip scores moved by up to 0.14 in the INT8 TFLite)
_ROBUST_FE = LogMelConfig(sample_rate=SAMPLE_RATE, n_fft=512, hop_length=256, n_mels=64, fmin=50.0, fmax=3400.0,
                          top_db=80.0, ref="max")
_HUMBUG_FE = LogMelConfig(sample_rate=SAMPLE_RATE, n_fft=2048, hop_length=800, n_mels=128, fmin=0.0)


def _preprocessing(fe: LogMelConfig, normalisation: str = "in-graph (in_mean, in_std buffers)") -> dict:
    return {"kind": "logmel", **fe.to_dict(), "mono": True, "resample": "polyphase-kaiser5",
            "normalisation": normalisation, "output": "temperature-scaled logits"}


DSCNN_SPEC = register(
    ModelSpec(name="mosquito-dscnn", task=Task.MOSQUITO_DETECTION, sample_rate=SAMPLE_RATE, window=WINDOW, hop=HOP,
              input_layout=Layout.NCHW, input_shape=(1, _DSCNN_FE.n_mels, _DSCNN_FE.n_frames(WINDOW)),
              classes=CLASSES, preprocessing=_preprocessing(_DSCNN_FE)),
    lambda **kw: DSCNN(**kw),
)

# the DS-CNN without the two shortcuts the shipped one reads: recording level (each window's mean log-Mel level is
# removed in the graph) and the band edge (mel bands to 3.4 kHz)
DSCNN_ROBUST_SPEC = register(
    ModelSpec(name="mosquito-dscnn-robust", task=Task.MOSQUITO_DETECTION, sample_rate=SAMPLE_RATE, window=WINDOW,
              hop=HOP, input_layout=Layout.NCHW, input_shape=(1, _ROBUST_FE.n_mels, _ROBUST_FE.n_frames(WINDOW)),
              classes=CLASSES,
              preprocessing=_preprocessing(_ROBUST_FE, "in-graph: per-window mean removed, then (in_mean, in_std)")),
    lambda **kw: DSCNN(**{"window_norm": True, **kw}),
)

HUMBUG_SPEC = register(
    ModelSpec(name="mosquito-humbug-cnn", task=Task.MOSQUITO_DETECTION, sample_rate=SAMPLE_RATE, window=WINDOW,
              hop=HOP, input_layout=Layout.NCHW, input_shape=(1, _HUMBUG_FE.n_mels, _HUMBUG_FE.n_frames(WINDOW)),
              classes=CLASSES, preprocessing=_preprocessing(_HUMBUG_FE)),
    lambda **kw: HumBugCNN(**{"n_mels": _HUMBUG_FE.n_mels, "n_frames": _HUMBUG_FE.n_frames(WINDOW), **kw}),
)

SPECS = {"dscnn": DSCNN_SPEC, "dscnn-robust": DSCNN_ROBUST_SPEC, "humbug": HUMBUG_SPEC}
SHIPPED_ARCH = "dscnn-robust"  # the recipe of the shipped detector (0.2); "dscnn" was 0.1's


def frontend(spec: ModelSpec) -> LogMelConfig:
    """The log-Mel front end a spec asks for (the device builds the same from artifact metadata)."""
    pre = dict(spec.preprocessing)
    if pre.get("kind") != "logmel":
        raise ValueError(f"model {spec.name!r} does not use a log-Mel front end (preprocessing kind {pre.get('kind')!r})")
    return LogMelConfig.from_dict({k: v for k, v in pre.items() if k in LogMelConfig.__dataclass_fields__})
