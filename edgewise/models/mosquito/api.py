"""The mosquito jobs as library calls: train, evaluate, detect (the CLI and the pipeline call these)."""
from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgewise.data.mosquito import Recording, WindowConfig, load_recording_audio, read_recordings, split_recordings
from edgewise.models.mosquito.evaluate import hysteresis_for, metrics_from_clips, score_clips, window_probabilities
from edgewise.models.mosquito.specs import SHIPPED_ARCH, SPECS
from edgewise.models.mosquito.train import TrainConfig, build_window_set, train_model
from edgewise.runtime.errors import InputError
from edgewise.runtime.mosquito import ClipTooShortError, MosquitoDetector, clip_score, windows_and_events

__all__ = ["ArtifactDetector", "PRETRAINED", "DEFAULT_CACHE", "decode_recordings", "load_split", "train_detector",
           "evaluate_detector", "detect_file", "load_detector",
           "split_names", "held_out_recordings"]

PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained" / "mosquito" / f"{SPECS[SHIPPED_ARCH].name}.pt"
DEFAULT_CACHE = Path("/tmp/edgewise-cache/mosquito")
SPLIT = {"val": 0.2, "test": 0.25}


def load_split(data_dir: str | Path, *, sample_rate: int = 8000, seed: int = 0, cache_dir: str | Path | None = DEFAULT_CACHE,
               parts: tuple[str, ...] = ("train", "val", "test")) -> dict[str, tuple[list[Recording], list[np.ndarray]]]:
    """Read the dataset, split by recording, decode the requested parts at ``sample_rate``.

    Files that cannot be decoded are skipped with a warning naming them.
    """
    split = split_recordings(read_recordings(data_dir), seed=seed, **SPLIT)
    return {part: decode_recordings(split[part], sample_rate=sample_rate, cache_dir=cache_dir) for part in parts}


def decode_recordings(recs: list[Recording], *, sample_rate: int = 8000,
                      cache_dir: str | Path | None = DEFAULT_CACHE) -> tuple[list[Recording], list[np.ndarray]]:
    """Decode recordings at ``sample_rate``; files that cannot be decoded are skipped with a warning naming them."""
    kept, audio = [], []
    for r in recs:
        try:
            audio.append(load_recording_audio(r, sample_rate, cache_dir=cache_dir))
            kept.append(r)
        except (InputError, OSError) as e:
            warnings.warn(f"skipping {r.rel}: {e}", stacklevel=2)
    return kept, audio


def _progress(step: int, loss: float, auc: float) -> None:
    print(f"  step {step:5d}  loss {loss:.4f}  val window ROC-AUC {auc:.4f}", file=sys.stderr, flush=True)


def train_detector(data_dir: str | Path, cfg: TrainConfig, *, out: str | Path | None = None, seed: int = 0,
                   cache_dir: str | Path | None = DEFAULT_CACHE, threshold: float = 0.5,
                   progress: Callable[[int, float, float], None] | None = _progress) -> dict[str, Any]:
    """Train on the train recordings, calibrate on val, measure on test; save a checkpoint if ``out``.

    Returns:
        ``{"model", "spec", "metrics" (held-out test), "training"}``.
    """
    from edgewise.models.checkpoint import save_checkpoint

    spec = cfg.spec
    data = load_split(data_dir, sample_rate=spec.sample_rate, seed=seed, cache_dir=cache_dir)
    wcfg = WindowConfig(sample_rate=spec.sample_rate, window_s=spec.window / spec.sample_rate, hop_s=cfg.train_hop_s)
    train = build_window_set(*data["train"], wcfg)
    val = build_window_set(*data["val"], WindowConfig(sample_rate=spec.sample_rate,
                                                      window_s=spec.window / spec.sample_rate,
                                                      hop_s=spec.hop / spec.sample_rate))
    model, log = train_model(cfg, train, val, progress=progress)
    clips = score_clips(model, spec, *data["test"], threshold=threshold)
    metrics = metrics_from_clips(clips, threshold=threshold)
    training = {
        "data": f"{Path(data_dir).name}: labels.csv + segments.csv (weak-label policy of edgewise.data.mosquito)",
        "split": f"by recording, stratified by (set, label), seed {seed}, val {SPLIT['val']}, test {SPLIT['test']}",
        "split_recordings": {k: [r.rel for r in v[0]] for k, v in data.items()},
        "config": {k: v for k, v in cfg.__dict__.items()}, "threshold": threshold, "seed": seed, **log,
    }
    if out is not None:
        save_checkpoint(out, spec=spec, model=model, model_kwargs=dict(cfg.model_kwargs), training=training,
                        metrics=metrics)
    return {"model": model, "spec": spec, "metrics": metrics, "training": training, "clips": clips}


@dataclass
class ArtifactDetector:
    """A device artifact (.onnx/.tflite), shaped like a checkpoint.

    ``model`` is the runtime's ``MosquitoDetector`` (callable: features -> logits), so scoring and detection
    run exactly as on the device (``edgewise.runtime.mosquito``).
    """

    spec: Any
    model: MosquitoDetector
    training: dict[str, Any]
    path: Path


def _load_artifact(path: Path) -> ArtifactDetector:
    from dataclasses import fields

    from edgewise.models.spec import ModelSpec

    det = MosquitoDetector.open(path)
    meta = det.metadata
    try:
        spec = ModelSpec(**{f.name: meta[f.name] for f in fields(ModelSpec) if f.name in meta})
    except (TypeError, ValueError) as e:
        raise InputError(f"{path} does not carry a usable model spec in its metadata ({e}); re-export it") from e
    spec = ModelSpec(**{**spec.__dict__, "input_shape": tuple(spec.input_shape), "classes": tuple(spec.classes)})
    return ArtifactDetector(spec=spec, model=det, training=det.training, path=path)


def load_detector(path: str | Path | None = None):
    """Load a mosquito detector: a checkpoint (default: the shipped one) or an exported .onnx/.tflite artifact.

    Returns:
        ``edgewise.models.checkpoint.Checkpoint`` (torch) or ``ArtifactDetector`` (device runtime); both have
        ``spec``, ``model``, ``training``, ``path``.
    """
    from edgewise.models.checkpoint import load_checkpoint
    from edgewise.models.spec import Task

    path = Path(path) if path is not None else PRETRAINED
    if not path.is_file():
        raise InputError(f"no mosquito model at {path}; train one with `edgewise train mosquito --out {path}`")
    ckpt = _load_artifact(path) if path.suffix.lower() in (".onnx", ".tflite") else load_checkpoint(path)
    if ckpt.spec.task is not Task.MOSQUITO_DETECTION:
        raise InputError(f"{path} is a {ckpt.spec.task.value} model, not a mosquito detector")
    return ckpt


def split_names(ckpt: Any) -> dict[str, list[str]] | None:
    """The recording names (``Recording.rel``) of each part of a checkpoint's split, as training stored them
    (``training["split_recordings"]``); None for a checkpoint saved without them."""
    split = (getattr(ckpt, "training", None) or {}).get("split_recordings")
    if not isinstance(split, dict) or not any(split.values()):
        return None
    return {k: list(v) for k, v in split.items()}


def held_out_recordings(ckpt: Any, data_dir: str | Path, *, seed: int | None = None,
                        cache_dir: str | Path | None = DEFAULT_CACHE) -> tuple[list[Recording], list[np.ndarray], str]:
    """A checkpoint's own test recordings, decoded, and how they were found.

    By name when the checkpoint stores its split, so recordings added to the dataset later never move into
    (or out of) its test part; otherwise (or when ``seed`` is given) by splitting the dataset again with
    the checkpoint's split seed (or ``seed``), as training did."""
    names = split_names(ckpt) if seed is None else None
    if names is not None and names.get("test"):
        wanted = set(names["test"])
        recs, audio = decode_recordings([r for r in read_recordings(data_dir) if r.rel in wanted],
                                        sample_rate=ckpt.spec.sample_rate, cache_dir=cache_dir)
        return recs, audio, f"the checkpoint's own {len(wanted)} test recordings, by name"
    seed = int(ckpt.training.get("seed", 0)) if seed is None else seed
    recs, audio = load_split(data_dir, sample_rate=ckpt.spec.sample_rate, seed=seed, cache_dir=cache_dir,
                             parts=("test",))["test"]
    return recs, audio, f"the test part of the split by recording with seed {seed}"


def evaluate_detector(data_dir: str | Path, *, model_path: str | Path | None = None, seed: int | None = None,
                      cache_dir: str | Path | None = DEFAULT_CACHE) -> dict[str, Any]:
    """Evaluate a checkpoint on the held-out test recordings of its own split (``held_out_recordings``:
    by name when stored, else re-split with its seed; ``seed`` forces a re-split with that seed)."""
    ckpt = load_detector(model_path)
    threshold = float(ckpt.training.get("threshold", 0.5))
    recs, audio, how = held_out_recordings(ckpt, data_dir, seed=seed, cache_dir=cache_dir)
    clips = score_clips(ckpt.model, ckpt.spec, recs, audio, threshold=threshold)
    return {"model": ckpt.spec.name, "checkpoint": str(ckpt.path), "test_recordings": how,
            "seed": int(ckpt.training.get("seed", 0)) if seed is None else seed,
            "metrics": metrics_from_clips(clips, threshold=threshold), "clips": clips}


def detect_file(path: str | Path, ckpt: Any, *, threshold: float | None = None) -> dict[str, Any]:
    """Detect mosquito flight tones in one audio file.

    A file shorter than one window (2 s) is tiled into one window (``edgewise.runtime.mosquito.windows``) and
    flagged ``"short"``. A device artifact (``ArtifactDetector``) runs entirely in the runtime, resampling
    included (``MosquitoDetector.detect``: numpy polyphase in float64, what the live engine computes); a
    checkpoint scores the audio ``edgewise.data.audio.load_audio`` resamples (scipy).

    Returns:
        ``{"input", "sample_rate" (of the file), "p_clip", "windows": [{start_s, end_s, p}], "events": [...],
        "flags": [...]}``; ``p_clip`` is the file's score (``edgewise.runtime.mosquito.clip_score``: mean of its
        top-3 windows); flags name short (tiled), silent or clipped inputs.

    Raises:
        ClipTooShortError: the file holds less than 0.05 s of audio.
    """
    from edgewise.data.audio import load_audio, read_audio

    spec = ckpt.spec
    threshold = float(ckpt.training.get("threshold", 0.5)) if threshold is None else threshold
    try:
        if isinstance(ckpt.model, MosquitoDetector):  # the device path, exactly as edgewise.runtime runs it
            data, rate, _ = read_audio(path)
            res = ckpt.model.detect(data, rate, threshold=threshold)
        else:
            audio = load_audio(path, spec.sample_rate, min_samples=spec.window)
            p, times = window_probabilities(ckpt.model, spec, audio.samples)
            rate, res = audio.source_rate, {"p_clip": round(clip_score(p), 4), "flags": list(audio.flags),
                                            **windows_and_events(p, times, hysteresis_for(threshold))}
    except ClipTooShortError as e:
        raise ClipTooShortError(f"{path}: {e}") from e
    return {"input": str(path), "sample_rate": int(rate), "p_clip": res["p_clip"], "windows": res["windows"],
            "events": res["events"], "flags": res["flags"]}
