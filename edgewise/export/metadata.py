"""The metadata every exported artifact carries, so the device needs nothing else to run it.

One JSON object (schema ``edgewise-artifact/1``, see ``edgewise.runtime.artifact``): the model spec's
facts (task, sample rate, window/hop, input layout and shape, classes, preprocessing, tolerance, opset)
plus the format, precision, how the file's tensors map to the model's layout (``io``), the source
checkpoint's sha256, training data, held-out metrics, the edgewise version and the export time.

``metadata_json`` is how every artifact embeds it: compact JSON (no spaces, sorted keys) with floats
to 6 significant digits (held-out statistics carry no more; full-precision floats were a third of the
metadata, which on a small int8 model is a tenth of the file), without the keys named in
``LOG_KEYS`` (training hyper-parameters, per-epoch history, calibration sweeps, boundary-error tables:
5.6 of the 7.8 KB of the fp32 ECG U-Net's metadata). Those stay in the checkpoint's JSON sidecar, the model card and
the compression report; the artifact keeps the facts the device and ``edgewise evaluate`` need (spec,
layout, quantisation, checkpoint hash, training data and record split, held-out F1). A split given as lists of
recording names (mosquito) is embedded as counts and a sha256 (``split_digest``), the names staying in the checkpoint.

Every file written here carries ``content_sha256`` (``edgewise.runtime.content_hash``): the writers embed
``metadata_json(meta, stamp=True)`` (the key holding 64 ``"0"``), serialize, and ``stamp_bytes`` writes the
file's hash over the zeros before ``check_before_writing`` checks the result as the device will.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from edgewise.runtime import content_hash
from edgewise.runtime.artifact import SCHEMA
from edgewise.runtime.content_hash import KEY as CONTENT_KEY
from edgewise.runtime.metadata_schema import validate_metadata


class Precision(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


class Format(str, Enum):
    ONNX = "onnx"
    TFLITE = "tflite"


FLOAT_DIGITS = 6
# how a number was reached, not what the device or a held-out evaluation needs: training
# hyper-parameters, per-epoch history, calibration sweeps, boundary-error tables; not embedded
LOG_KEYS = frozenset({"config", "history", "sweep", "boundaries"})


def _drop_logs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_logs(v) for k, v in value.items() if k not in LOG_KEYS}
    if isinstance(value, (list, tuple)):
        return [_drop_logs(v) for v in value]
    return value


# lists of recording names (a mosquito checkpoint's split: ~7.6 KB of paths, a fifth of its int8 file) are
# summarised in the artifact as counts and a digest; the names stay in the checkpoint and its JSON sidecar
NAME_LIST_KEYS = frozenset({"split_recordings"})


def _summarise_name_lists(value: Any) -> Any:
    import hashlib

    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in NAME_LIST_KEYS and isinstance(v, dict) and all(isinstance(x, list) for x in v.values()):
                canon = json.dumps({p: sorted(map(str, names)) for p, names in v.items()}, sort_keys=True)
                out[k] = {"n": {p: len(names) for p, names in v.items()},
                          "sha256": hashlib.sha256(canon.encode()).hexdigest(),
                          "names": "in the source checkpoint (training.split_recordings)"}
            else:
                out[k] = _summarise_name_lists(v)
        return out
    return value


def split_digest(split: dict[str, list[str]]) -> str:
    """The ``sha256`` an artifact records for a checkpoint's ``split_recordings`` (to match one to the other)."""
    return _summarise_name_lists({"split_recordings": split})["split_recordings"]["sha256"]


def _round_floats(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{FLOAT_DIGITS}g}")
    if isinstance(value, dict):
        return {k: _round_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round_floats(v) for v in value]
    return value


def metadata_json(metadata: dict[str, Any], *, stamp: bool = False) -> str:
    """The embedded form of ``metadata``: compact, sorted keys, floats to 6 significant digits, no
    ``LOG_KEYS``, lists of recording names (``NAME_LIST_KEYS``) as counts and a digest, and no
    ``content_sha256`` of another file.

    Args:
        metadata: the metadata.
        stamp: hold ``content_sha256`` as 64 ``"0"`` for ``stamp_bytes`` to fill in once the file is
            serialized (what the writers embed); False leaves the key out (a file without it opens, unchecked).

    Raises:
        TypeError: a value is not JSON-able.
    """
    meta = {k: v for k, v in metadata.items() if k != CONTENT_KEY}
    if stamp:
        meta[CONTENT_KEY] = content_hash.PLACEHOLDER
    return json.dumps(_round_floats(_summarise_name_lists(_drop_logs(meta))), sort_keys=True, separators=(",", ":"))


def stamp_bytes(data: bytes) -> bytes:
    """A serialized artifact (written with ``metadata_json(..., stamp=True)``) with its ``content_sha256``
    filled in: the sha256 of the file with that value read as 64 zeros (``edgewise.runtime.content_hash``).
    Same length as ``data``.

    Raises:
        ValueError: the data carries no single ``content_sha256`` entry to fill.
    """
    return content_hash.stamp(data)[0]


def check_before_writing(path: Any, text: str, data: bytes) -> None:
    """Check the embedded metadata ``text`` of the serialized artifact ``data`` about to be written to
    ``path``: the artifact schema and the graph's own shapes (``edgewise.runtime.artifact.check_metadata``),
    and the file as the device will open it (``read_metadata``: its ``content_sha256`` too, when stamped).

    Raises:
        ArtifactError: the metadata breaks the schema, contradicts the graph, or the stamp is wrong.
    """
    from edgewise.runtime.artifact import check_metadata, read_metadata

    check_metadata(path, json.loads(text), data=data)
    read_metadata(path, data=data)


def identity_io(input_name: str, output_names: list[str], rank_in: int, ranks_out: list[int]) -> dict[str, Any]:
    """``io`` for a file whose tensors are in the model's own layout (the ONNX export)."""
    return {
        "input": {"tensor": input_name, "perm": list(range(rank_in))},
        "outputs": [{"name": n, "tensor": n, "perm": list(range(r))} for n, r in zip(output_names, ranks_out)],
    }


def build_metadata(checkpoint: Any, *, fmt: Format | str, io: dict[str, Any],
                   precision: Precision | str = Precision.FP32) -> dict[str, Any]:
    """Build the metadata dict of one artifact.

    Args:
        checkpoint: an ``edgewise.models.checkpoint.Checkpoint``.
        fmt: ``"onnx"`` or ``"tflite"``.
        io: tensor mapping: ``{"input": {"tensor", "perm", "layout"?}, "outputs": [{"name", "tensor", "perm"}]}``
            where the input's ``perm`` takes the model layout to the file's (``native = x.transpose(perm)``)
            and an output's ``perm`` takes the file's layout back (``y = native.transpose(perm)``).
        precision: numeric precision of the artifact.

    Returns:
        A JSON-able dict.

    Raises:
        ValueError: a value (e.g. in the checkpoint's training facts) is not JSON-able.
    """
    from edgewise import __version__

    fmt, precision = Format(fmt), Precision(precision)
    spec = checkpoint.spec
    training = dict(checkpoint.training or {})
    meta: dict[str, Any] = {
        "schema": SCHEMA,
        **spec.to_metadata(),
        "format": fmt.value,
        "precision": precision.value,
        "io": io,
        "source_checkpoint": checkpoint.path.name if checkpoint.path else None,
        "source_checkpoint_sha256": checkpoint.sha256 or None,
        "training_data": training.get("data"),
        "training": training,
        "metrics": dict(checkpoint.metrics or {}),
        "edgewise_version": __version__,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if spec.task.value == "ecg-delineation":  # what delineation needs besides the graph (runtime.ecg.postprocess)
        from edgewise.models.ecg.calibrate import p_edge_postprocess

        post = p_edge_postprocess(training)  # its facts, or those its calibration implies (older checkpoints)
        if post:
            meta["postprocess"] = post
    heads = (getattr(checkpoint, "model_kwargs", None) or {}).get("heads")
    if isinstance(heads, int) and heads > 1:  # a multi-head (Hydra) model: the runtime reports its uncertainty
        meta["heads"] = heads
    try:
        json.dumps(meta, allow_nan=True)
    except TypeError as e:
        raise ValueError(f"artifact metadata for {spec.name!r} is not JSON-able ({e}); "
                         "store plain numbers/strings in the checkpoint's training and metrics") from e
    # the schema before anything is converted (the graph is checked when the file is written)
    validate_metadata(json.loads(metadata_json(meta)), where=f"the metadata built for {spec.name!r}")
    return meta


# facts about one file that a file derived from it (quantised, re-exported) must not inherit
FILE_FACTS = ("selfcheck", CONTENT_KEY)
FILE_METRICS = ("verified_isa", "verified_runtimes")


def without_file_facts(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` minus what was measured on one particular file (its self-check, the ISAs it was verified on)."""
    out = {k: v for k, v in meta.items() if k not in FILE_FACTS}
    if isinstance(out.get("metrics"), dict):
        out["metrics"] = {k: v for k, v in out["metrics"].items() if k not in FILE_METRICS}
    return out


def update_metadata(path: Any, changes: dict[str, Any], *, dest: Any = None, merge: bool = True) -> Any:
    """Rewrite the embedded ``edgewise`` metadata of an .onnx/.tflite file (the graph untouched), with a
    new ``content_sha256`` (``changes`` with no keys re-stamps a file).

    Args:
        path: the artifact.
        changes: top-level keys to set; a dict value for an existing dict key is merged one level deep
            (``{"metrics": {"x": 1}}`` adds ``metrics.x`` and keeps the other metrics).
        dest: where to write (default: in place).
        merge: False replaces each changed top-level key whole.

    Returns:
        ``dest`` (or ``path``).

    Raises:
        ArtifactError: the result breaks the schema or contradicts the graph (nothing is written).
    """
    from pathlib import Path

    import numpy as np

    from edgewise.runtime.artifact import read_metadata

    path, dest = Path(path), Path(dest or path)
    meta = dict(read_metadata(path, validate=False) or {})  # the result is checked: this may repair a file
    for key, value in changes.items():
        old = meta.get(key)
        meta[key] = {**old, **value} if merge and isinstance(old, dict) and isinstance(value, dict) else value
    text = metadata_json(json.loads(json.dumps(meta, default=float)), stamp=True)
    if path.suffix == ".onnx":
        import onnx

        proto = onnx.load(str(path))
        del proto.metadata_props[:]
        entry = proto.metadata_props.add()
        entry.key, entry.value = "edgewise", text
        data = stamp_bytes(proto.SerializeToString())
        check_before_writing(dest, text, data)
        dest.write_bytes(data)
    elif path.suffix == ".tflite":  # rewrite the existing buffer in place (a second one would stay in the file)
        from edgewise._quiet import quiet

        with quiet():
            from tensorflow.lite.tools import flatbuffer_utils

        from edgewise.export.tflite import write_checked

        model = flatbuffer_utils.read_model(str(path))
        entry = next((m for m in model.metadata if m.name in (b"edgewise", "edgewise")), None)
        if entry is None:
            raise ValueError(f"{path} has no edgewise metadata to update (export it with edgewise)")
        model.buffers[entry.buffer].data = np.frombuffer(text.encode(), np.uint8)
        write_checked(model, dest, text)
    else:
        raise ValueError(f"{path}: expected an .onnx or .tflite artifact")
    return dest


def add_selfcheck(path: Any) -> dict[str, Any]:
    """Store the artifact's self-check reference (``edgewise.runtime.selfcheck``) in its metadata.

    The file is opened the way the device opens it and run once on the fixed self-check input; what it
    returns is what every later run (``edgewise bench``, deploy) must reproduce within the tolerance.
    Returns the stored reference.
    """
    from edgewise.runtime.backends import load_model
    from edgewise.runtime.selfcheck import make_reference

    model = load_model(path, warmup=0)
    meta = model.metadata or {}
    ref = make_reference(model, task=str(meta.get("task", "")), precision=str(meta.get("precision", "fp32")),
                         atol=float(meta.get("export_atol") or 1e-4))
    del model
    update_metadata(path, {"selfcheck": ref})
    return ref
