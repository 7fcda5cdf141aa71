"""Checkpoints: one ``.pt`` file holding the state dict, the spec, the builder kwargs and the model card facts.

Layout (a plain dict saved with ``torch.save``)::

    {"format": "edgewise-checkpoint/1", "spec": ModelSpec.to_metadata(), "model_kwargs": {...},
     "state_dict": {...}, "training": {"data": str, "split": str, "epochs": int, ...},
     "metrics": {...held-out metrics...}, "edgewise_version": str}

``sha256`` of the file is the "source checkpoint hash" that exported artifacts carry.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgewise.models.spec import ModelSpec, build_model, get_spec

FORMAT = "edgewise-checkpoint/1"


@dataclass
class Checkpoint:
    spec: ModelSpec
    model: Any  # torch.nn.Module, in eval mode
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    sha256: str = ""


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, (set, tuple)):
        return list(v)
    return str(v)


def save_checkpoint(path: str | Path, *, spec: ModelSpec, model: Any, model_kwargs: dict[str, Any] | None = None,
                    training: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None) -> str:
    """Write a checkpoint; returns its sha256."""
    import torch

    from edgewise import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    # plain JSON types only, so the file loads with torch.load(weights_only=True)
    training = json.loads(json.dumps(dict(training or {}), default=_plain))
    metrics = json.loads(json.dumps(dict(metrics or {}), default=_plain))
    torch.save(
        {"format": FORMAT, "spec": spec.to_metadata(), "model_kwargs": dict(model_kwargs or {}),
         "state_dict": state, "training": dict(training or {}), "metrics": dict(metrics or {}),
         "edgewise_version": __version__},
        path,
    )
    digest = file_sha256(path)
    # facts without weights, readable where torch is not installed (``edgewise models list``, model cards)
    facts = {"format": FORMAT, "spec": spec.to_metadata(), "model_kwargs": dict(model_kwargs or {}),
             "training": dict(training or {}), "metrics": dict(metrics or {}), "edgewise_version": __version__,
             "sha256": digest, "parameters": int(sum(v.numel() for v in state.values() if v.dtype.is_floating_point))}
    path.with_suffix(".json").write_text(json.dumps(facts, indent=1, default=float))
    return digest


def _stored_geometry(spec: ModelSpec, stored: dict[str, Any]) -> ModelSpec:
    """The registered spec with the window, hop and input shape the checkpoint was trained with (a
    fully convolutional model's window can change between versions; old checkpoints keep theirs)."""
    from dataclasses import replace

    try:
        kw = {"window": int(stored["window"]), "hop": int(stored["hop"]),
              "input_shape": tuple(int(d) for d in stored["input_shape"])}
    except (KeyError, TypeError, ValueError):
        return spec
    if (kw["window"], kw["hop"], kw["input_shape"]) == (spec.window, spec.hop, spec.input_shape):
        return spec
    return replace(spec, **kw)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load a checkpoint written by ``save_checkpoint``; the model is rebuilt from its registered spec."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad file
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"{path} is not a readable edgewise checkpoint ({type(e).__name__}: {first})") from e
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path} is not an edgewise checkpoint (expected format {FORMAT!r})")
    import edgewise.models  # noqa: F401  (registers the specs)

    spec = _stored_geometry(get_spec(blob["spec"]["name"]), blob["spec"])
    model = build_model(spec.name, **blob["model_kwargs"])
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return Checkpoint(spec=spec, model=model, model_kwargs=blob["model_kwargs"], training=blob["training"],
                      metrics=blob["metrics"], path=path, sha256=file_sha256(path))
