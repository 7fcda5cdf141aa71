"""Model specs of the mosquito detectors (rate, window, layout, front end), registered once."""
from __future__ import annotations

from edgewise.models.mosquito.nets import DSCNN, HumBugCNN
from edgewise.models.spec import Layout, ModelSpec, Task, register
from edgewise.runtime.features.logmel import LogMelConfig

__all__ = ["DSCNN_SPEC", "HUMBUG_SPEC", "SPECS", "frontend"]

SAMPLE_RATE = 8000
WINDOW = 2 * SAMPLE_RATE   # 2-s windows
HOP = SAMPLE_RATE          # one window per second when detecting
CLASSES = ("background", "mosquito")

_DSCNN_FE = LogMelConfig(sample_rate=SAMPLE_RATE, n_fft=512, hop_length=256, n_mels=64, fmin=50.0)
_HUMBUG_FE = LogMelConfig(sample_rate=SAMPLE_RATE, n_fft=2048, hop_length=800, n_mels=128, fmin=0.0)


def _preprocessing(fe: LogMelConfig) -> dict:
    return {"kind": "logmel", **fe.to_dict(), "mono": True, "resample": "polyphase-kaiser5",
            "normalisation": "in-graph (in_mean, in_std buffers)", "output": "temperature-scaled logits"}


DSCNN_SPEC = register(
    ModelSpec(name="mosquito-dscnn", task=Task.MOSQUITO_DETECTION, sample_rate=SAMPLE_RATE, window=WINDOW, hop=HOP,
              input_layout=Layout.NCHW, input_shape=(1, _DSCNN_FE.n_mels, _DSCNN_FE.n_frames(WINDOW)),
              classes=CLASSES, preprocessing=_preprocessing(_DSCNN_FE)),
    lambda **kw: DSCNN(**kw),
)

HUMBUG_SPEC = register(
    ModelSpec(name="mosquito-humbug-cnn", task=Task.MOSQUITO_DETECTION, sample_rate=SAMPLE_RATE, window=WINDOW,
              hop=HOP, input_layout=Layout.NCHW, input_shape=(1, _HUMBUG_FE.n_mels, _HUMBUG_FE.n_frames(WINDOW)),
              classes=CLASSES, preprocessing=_preprocessing(_HUMBUG_FE)),
    lambda **kw: HumBugCNN(**{"n_mels": _HUMBUG_FE.n_mels, "n_frames": _HUMBUG_FE.n_frames(WINDOW), **kw}),
)

SPECS = {"dscnn": DSCNN_SPEC, "humbug": HUMBUG_SPEC}


def frontend(spec: ModelSpec) -> LogMelConfig:
    """The log-Mel front end a spec asks for (the device builds the same from artifact metadata)."""
    pre = dict(spec.preprocessing)
    if pre.get("kind") != "logmel":
        raise ValueError(f"model {spec.name!r} does not use a log-Mel front end (preprocessing kind {pre.get('kind')!r})")
    return LogMelConfig.from_dict({k: v for k, v in pre.items() if k in LogMelConfig.__dataclass_fields__})
