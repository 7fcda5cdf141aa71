"""The schema of an artifact's edgewise metadata (``edgewise-artifact/1``) and of a bundle manifest.

An artifact is untrusted input: its metadata is checked when the file is opened (``edgewise.runtime.
artifact.read_metadata``, so ``load_model`` and everything above it), before any buffer is sized from it,
and when a file is written (``edgewise.export``), so a bad artifact can be neither run nor made. Three
layers, each a table:

1. ``KEYS`` (+ ``TASK_KEYS`` per task): every known key's type, range, allowed values and length;
   ``REQUIRED`` keys per task. (``content_sha256``, optional, is only checked for its form here; its value
   is checked against the file by ``edgewise.runtime.content_hash`` before these rules run.) Unknown keys are allowed (a newer exporter may add some), but the whole
   document is bounded: ``MAX_METADATA_BYTES`` and ``validator.MAX_DEPTH`` levels.
2. ``RELATIONS``: keys that must agree with each other (hop <= window; an ECG window is the samples
   axis of ``input_shape``; a mosquito model's log-Mel front end makes exactly the frames of its input).
3. ``check_graph``: keys the graph also knows must agree with the graph's own input/output shapes, read
   from the file by ``edgewise.runtime.graph_io`` (stdlib protobuf / FlatBuffer walkers, before a runtime
   opens the file): the input's rank (``input_layout``) and size (``input_shape``, ``window``, leads),
   the output's classes, samples and heads (a Hydra's ``[batch, heads, 4, samples]``), and the tensor
   names and permutations of ``io``.

Ranges are generous bounds on what an edgewise model can be, chosen so that nothing sized from a valid
document can exhaust a 1-GB device: a window of at most 2^20 samples, an input of at most 2^22 values
(16 MB in float32), a log-Mel frame grid of at most 2^17 FFT inputs per window (the shipped detector
uses 32,256; the front end works on 32 windows at once in float64).
"""
from __future__ import annotations

import math
from typing import Any, Callable

from edgewise.runtime.artifact import LAYOUTS, MANIFEST_SCHEMA, SCHEMA
from edgewise.runtime.errors import ArtifactError
from edgewise.runtime.validator import Rule, check, show

__all__ = [
    "MAX_METADATA_BYTES", "MAX_MANIFEST_BYTES", "TASKS", "KEYS", "TASK_KEYS", "REQUIRED", "RELATIONS",
    "MANIFEST", "validate_metadata", "check_graph", "validate_manifest",
]

MAX_METADATA_BYTES = 1 << 20   # the largest shipped metadata is 9.3 KB
MAX_MANIFEST_BYTES = 8 << 20   # a manifest holds the metadata of several artifacts and every wheel's checksum
MAX_WINDOW = 1 << 20           # samples per model window (35 min of ECG at 500 Hz, 2 min of audio at 8 kHz)
MAX_INPUT = 1 << 22            # values in one model input (16 MB of float32)
MAX_FFT_CELLS = 1 << 17        # frames x n_fft of one log-Mel window
LAYOUT_RANK = {layout: 3 if len(layout) == 3 else 4 for layout in LAYOUTS}  # NCW ... NHWC
TASKS = ("ecg-delineation", "mosquito-detection")  # the values of edgewise.models.spec.Task

_SIZE = Rule("int", min=1, max=MAX_WINDOW)
_NAME = Rule("str", min_len=1, max_len=256)
_TEXT = Rule(("str", "null"), max_len=10_000)
_PERM = Rule("list", min_len=1, max_len=8, unique=True, items=Rule("int", min=0, max=7))
_DICT = Rule("dict")

IO = Rule("dict", keys={
    "input": Rule("dict", keys={"tensor": _NAME, "perm": _PERM,
                                "layout": Rule("str", allowed=(*LAYOUT_RANK, "channels-last"))}),
    "outputs": Rule("list", min_len=1, max_len=64, items=Rule(
        "dict", keys={"name": _NAME, "tensor": _NAME, "perm": _PERM}, required=("name", "tensor"))),
})

# a TFLite file keeps its tensors channels-last (onnx2tf): without the permutations it cannot be fed or read
TFLITE_IO = Rule("dict", required=("input", "outputs"), keys={
    "input": Rule("dict", required=("perm",), keys=IO.keys["input"].keys),
    "outputs": Rule("list", min_len=1, max_len=64, items=Rule(
        "dict", keys={"name": _NAME, "tensor": _NAME, "perm": _PERM}, required=("name", "tensor", "perm"))),
}, what="an object with input.perm and outputs[].perm (how the file's channels-last tensors map to the model's "
        "layout)")

SELFCHECK = Rule("dict", required=("positions", "values", "atol"), keys={
    "v": Rule("int", min=1, max=1000),
    "input": Rule("str", max_len=64),
    "positions": Rule("list", min_len=1, max_len=4096, items=Rule("int", min=0, max=MAX_WINDOW)),
    "values": Rule("list", min_len=1, max_len=4096, items=Rule("list", min_len=1, max_len=4096, items=Rule("number"))),
    "atol": Rule("number", min=0, max=1e6),
})

# every known key of the metadata, whatever the task
KEYS: dict[str, Rule] = {
    "schema": Rule("str", allowed=(SCHEMA,), what=f'"{SCHEMA}" (a newer schema needs a newer edgewise)'),
    "task": Rule("str", allowed=TASKS),
    "name": _NAME,
    "format": Rule("str", allowed=("onnx", "tflite")),
    "precision": Rule("str", allowed=("fp32", "fp16", "int8", "int16")),
    "sample_rate": Rule("int", min=1, max=192_000),
    "window": _SIZE,
    "hop": _SIZE,
    "input_layout": Rule("str", allowed=tuple(LAYOUT_RANK)),
    "input_shape": Rule("list", min_len=2, max_len=3, items=_SIZE),
    "classes": Rule("list", min_len=2, max_len=64, unique=True, items=Rule("str", min_len=1, max_len=64)),
    "heads": Rule("int", min=1, max=64),
    "io": IO,
    "opset": Rule("int", min=1, max=1000),
    "export_atol": Rule("number", min=0, max=1e6),
    "preprocessing": _DICT,
    "selfcheck": SELFCHECK,
    "training": _DICT,
    "metrics": _DICT,
    "quantization": _DICT,
    "source_checkpoint": _TEXT,
    "source_checkpoint_sha256": Rule(("str", "null"), pattern="[0-9a-f]{64}", what="64 hex digits or null"),
    "training_data": _TEXT,
    "edgewise_version": Rule("str", max_len=64),
    "exported_at": Rule("str", max_len=64),
    # optional (artifacts written before it carry none): checked against the file by edgewise.runtime.content_hash
    "content_sha256": Rule("str", pattern="[0-9a-f]{64}", what="64 hex digits (the sha256 of the file with "
                           "this value read as 64 zeros)"),
}

LOGMEL = Rule("dict", required=("kind", "sample_rate", "n_fft", "hop_length", "n_mels"), keys={
    "kind": Rule("str", allowed=("logmel",), what='"logmel" (the mosquito runtime computes log-Mel features only)'),
    "sample_rate": Rule("int", min=1000, max=192_000),
    "n_fft": Rule("int", min=16, max=8192),
    "hop_length": Rule("int", min=1, max=8192),
    "n_mels": Rule("int", min=1, max=512),
    "fmin": Rule("number", min=0, max=96_000),
    "fmax": Rule(("number", "null"), min=0, max=96_000, min_open=True),
    "center": Rule("bool"),
    "pad_mode": Rule("str", allowed=("constant", "reflect")),
    "power": Rule("number", allowed=(1.0, 2.0)),
    "amin": Rule("number", min=0, max=1.0, min_open=True),
    "top_db": Rule(("number", "null"), min=0, max=1000),
    "ref": Rule("str", allowed=("one", "max"), what='"one" (absolute dB) or "max" (dB below each window\'s peak)'),
    "mono": Rule("bool"),
    "resample": Rule("str", allowed=("polyphase-kaiser5",), what='"polyphase-kaiser5" (the resampler the runtime '
                     'implements, edgewise.runtime.features.resample)'),
    "normalisation": Rule("str", max_len=1000),
    "output": Rule("str", max_len=1000),
})

# per task: keys whose rule differs from KEYS
TASK_KEYS: dict[str, dict[str, Rule]] = {
    "ecg-delineation": {
        "sample_rate": Rule("int", min=50, max=20_000),  # the plausible ECG rates `edgewise delineate` accepts
        "input_layout": Rule("str", allowed=("NCW",), what='"NCW" (ECG models take [batch, leads, samples])'),
        "input_shape": Rule("list", min_len=2, max_len=2, items=_SIZE, what="[leads, samples], two integers in "
                            f"1..{MAX_WINDOW}"),
        "classes": Rule("list", min_len=4, max_len=4, unique=True, items=Rule("str", min_len=1, max_len=64),
                        what="4 names (background, P, QRS, T: what delineation decodes)"),
        "preprocessing": Rule("dict", keys={"kind": Rule("str", allowed=("ecg-standardize",))}),
        # edgewise.runtime.ecg.postprocess.post_config: the P-logit offset folded into the model's head
        "postprocess": Rule("dict", keys={"p_edge_offset": Rule("number", min=-100, max=100, min_open=True,
                                                                  max_open=True)}),
    },
    "mosquito-detection": {
        "sample_rate": Rule("int", min=1000, max=192_000),
        "input_layout": Rule("str", allowed=("NCHW", "NHWC")),
        "input_shape": Rule("list", min_len=3, max_len=3, items=_SIZE),
        "preprocessing": LOGMEL,
        "training": Rule("dict", keys={"threshold": Rule("number", min=0, max=1, min_open=True)}),
    },
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "ecg-delineation": ("task", "sample_rate", "window", "hop", "input_layout", "input_shape", "classes"),
    "mosquito-detection": ("task", "sample_rate", "window", "hop", "input_layout", "input_shape", "classes",
                           "preprocessing"),
}


# -- relations between keys: (key blamed, holds(meta), expected(meta)) ------------------------------
def _mel_axes(m: dict[str, Any]) -> tuple[int, int, int]:
    """(channels, mels, frames) of a mosquito input_shape in its layout."""
    a, b, c = m["input_shape"]
    return (a, b, c) if m["input_layout"] == "NCHW" else (c, a, b)


_MEL_SHAPES = {"NCHW": "[1, mels, frames]", "NHWC": "[mels, frames, 1]"}


def _frames(m: dict[str, Any]) -> int:
    p = m["preprocessing"]
    if p.get("center", True):
        return 1 + m["window"] // p["hop_length"]
    return 1 + (m["window"] - p["n_fft"]) // p["hop_length"] if m["window"] >= p["n_fft"] else 0


Relation = tuple[str, Callable[[dict[str, Any]], bool], Callable[[dict[str, Any]], str]]

RELATIONS: dict[str, list[Relation]] = {
    "*": [
        ("hop", lambda m: m["hop"] <= m["window"],
         lambda m: f"at most the window ({m['window']}): a larger hop skips samples"),
        ("input_shape", lambda m: len(m["input_shape"]) == LAYOUT_RANK[m["input_layout"]] - 1,
         lambda m: f"{LAYOUT_RANK[m['input_layout']] - 1} sizes for input_layout {m['input_layout']}"),
        ("input_shape", lambda m: math.prod(m["input_shape"]) <= MAX_INPUT,
         lambda m: f"at most {MAX_INPUT} values per input"),
    ],
    "ecg-delineation": [
        ("window", lambda m: m["window"] == m["input_shape"][1],
         lambda m: f"{m['input_shape'][1]}, the samples axis of input_shape {m['input_shape']}"),
        ("input_shape", lambda m: m["input_shape"][0] <= 64, lambda m: "at most 64 leads"),
    ],
    "mosquito-detection": [
        ("preprocessing.sample_rate", lambda m: m["preprocessing"]["sample_rate"] == m["sample_rate"],
         lambda m: f"the model's sample_rate ({m['sample_rate']})"),
        ("preprocessing.fmax", lambda m: (m["preprocessing"].get("fmin", 0.0) < (m["preprocessing"].get("fmax")
                                          or m["sample_rate"] / 2) <= m["sample_rate"] / 2),
         lambda m: f"above fmin ({m['preprocessing'].get('fmin', 0.0)}) and at most half the sample rate "
                   f"({m['sample_rate'] / 2:g}), or null"),
        ("input_shape", lambda m: _mel_axes(m)[0] == 1,
         lambda m: f"one channel ({m['input_layout']}: {_MEL_SHAPES[m['input_layout']]})"),
        ("preprocessing.n_mels", lambda m: m["preprocessing"]["n_mels"] == _mel_axes(m)[1],
         lambda m: f"{_mel_axes(m)[1]}, the mel axis of input_shape {m['input_shape']}"),
        ("window", lambda m: _frames(m) == _mel_axes(m)[2],
         lambda m: f"a window that the front end cuts into the {_mel_axes(m)[2]} frames of input_shape "
                   f"{m['input_shape']} (hop_length {m['preprocessing']['hop_length']}: it makes {_frames(m)})"),
        ("preprocessing.n_fft", lambda m: _mel_axes(m)[2] * m["preprocessing"]["n_fft"] <= MAX_FFT_CELLS,
         lambda m: f"at most {MAX_FFT_CELLS // _mel_axes(m)[2]} for {_mel_axes(m)[2]} frames "
                   f"(frames x n_fft <= {MAX_FFT_CELLS})"),
    ],
}

_ADVICE = "re-export the model with `edgewise export` (or restore the original file)"


def _value(meta: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        meta = meta.get(part) if isinstance(meta, dict) else None
    return meta


def validate_metadata(meta: Any, *, where: str, fmt: str | None = None, graph: Any = None) -> dict[str, Any]:
    """Check an artifact's metadata against ``KEYS``, its task's ``TASK_KEYS``/``REQUIRED``, the graph
    (``check_graph``, when given) and ``RELATIONS``, in that order (a key the graph contradicts is named
    as such, before the keys that merely disagree with it).

    Args:
        meta: the parsed metadata.
        where: the artifact (a path) for messages.
        fmt: the file's format, when checking a file: a TFLite file needs ``io``.
        graph: ``edgewise.runtime.graph_io.GraphIO`` of the file, when checking a file.

    Returns:
        ``meta``, unchanged.

    Raises:
        ArtifactError: one line naming the file, the key, the value and what was expected.
    """
    try:  # the task first: it selects the rules
        check(meta, Rule("dict", keys={"task": KEYS["task"]}, required=("task",)), key="", where=where,
              error=ArtifactError, noun="metadata key")
        task = meta["task"]
        tflite = fmt == "tflite"
        rule = Rule("dict", keys={**KEYS, **TASK_KEYS[task], **({"io": TFLITE_IO} if tflite else {})},
                    required=REQUIRED[task] + (("io",) if tflite else ()))
        check(meta, rule, key="", where=where, error=ArtifactError, noun="metadata key")
    except ArtifactError as e:
        raise ArtifactError(f"{e}; {_ADVICE}") from None
    if graph is not None:
        check_graph(meta, graph, where=where)
    for key, holds, expected in [*RELATIONS[task], *RELATIONS["*"]]:
        if not holds(meta):
            raise ArtifactError(f"{where}: metadata key {key!r} is {show(_value(meta, key))}: expected "
                                f"{expected(meta)}; {_ADVICE}")
    return meta


# -- the graph -------------------------------------------------------------------------------------
def _mismatch(where: str, key: str, value: Any, graph_says: str) -> ArtifactError:
    return ArtifactError(f"{where}: metadata key {key!r} is {show(value)}, but {graph_says}: the metadata does not "
                         f"describe this graph (edited, or copied from another model); {_ADVICE}")


def _dims(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _model_layout(native: tuple[int | None, ...], perm: list[int], *, forward: bool) -> tuple[int | None, ...]:
    """The model-layout shape of a file tensor: input ``native = x.transpose(perm)``, output
    ``y = native.transpose(perm)``."""
    if forward:
        return tuple(native[p] for p in perm)
    return tuple(native[perm.index(k)] for k in range(len(perm)))


def check_graph(meta: dict[str, Any], graph: Any, *, where: str) -> None:
    """Check a metadata document that passed the key rules against the graph's inputs and outputs.

    Args:
        meta: the metadata.
        graph: ``edgewise.runtime.graph_io.GraphIO`` of the same file.
        where: the artifact (a path) for messages.

    Raises:
        ArtifactError: the metadata says something the graph contradicts.
    """
    if len(graph.inputs) != 1:
        raise ArtifactError(f"{where} has {len(graph.inputs)} graph inputs {[t.name for t in graph.inputs]}; "
                            "edgewise models take exactly one")
    if not graph.outputs:
        raise ArtifactError(f"{where} has no graph outputs")
    io = meta.get("io") or {}
    native_in = graph.inputs[0]
    rank = len(native_in.shape)
    inp = io.get("input") or {}
    if "tensor" in inp and inp["tensor"] != native_in.name:
        raise _mismatch(where, "io.input.tensor", inp["tensor"], f"the graph's input is {native_in.name!r}")
    perm = inp.get("perm") or list(range(rank))
    if sorted(perm) != list(range(rank)):
        raise _mismatch(where, "io.input.perm", perm, f"the graph's input {native_in.name!r} has rank {rank}")
    x = _model_layout(native_in.shape, perm, forward=False)
    layout, want = meta["input_layout"], meta["input_shape"]
    described = f"the graph's input {native_in.name!r} is {_dims(x)} in the model's layout"
    if rank != LAYOUT_RANK[layout]:
        raise _mismatch(where, "input_layout", layout, f"{described} (rank {rank})")
    for axis, (w, g) in enumerate(zip(want, x[1:])):
        if g is not None and g != w:
            key = "window" if meta["task"] == "ecg-delineation" and axis == 1 else "input_shape"
            raise _mismatch(where, key, meta[key], described)
    outputs = _outputs(meta, graph, where)
    if meta["task"] == "ecg-delineation":
        _check_ecg_output(meta, outputs, where)
    else:
        _check_detector_output(meta, outputs, where)


def _outputs(meta: dict[str, Any], graph: Any, where: str) -> list[tuple[str, tuple[int | None, ...]]]:
    """(name, model-layout shape) of the outputs the runtime reads, in order."""
    by_name = {t.name: t for t in graph.outputs}
    listed = (meta.get("io") or {}).get("outputs")
    if not listed:
        return [(t.name, t.shape) for t in graph.outputs]
    out = []
    for i, o in enumerate(listed):
        t = by_name.get(o["tensor"])
        if t is None:
            raise _mismatch(where, f"io.outputs[{i}].tensor", o["tensor"], f"the graph's outputs are {sorted(by_name)}")
        perm = o.get("perm") or list(range(len(t.shape)))
        if sorted(perm) != list(range(len(t.shape))):
            raise _mismatch(where, f"io.outputs[{i}].perm", perm, f"the graph's output {t.name!r} has rank {len(t.shape)}")
        out.append((t.name, _model_layout(t.shape, perm, forward=True)))
    return out


def _check_ecg_output(meta: dict[str, Any], outputs: list, where: str) -> None:
    name, y = outputs[0]
    described = f"the graph's output {name!r} is {_dims(y)} in the model's layout"
    if len(y) not in (3, 4):
        raise ArtifactError(f"{where}: {described}; an ECG delineation model outputs [batch, classes, samples] or "
                            f"[batch, heads, classes, samples]; {_ADVICE}")
    classes, samples = y[-2], y[-1]
    if classes is not None and classes != len(meta["classes"]):
        raise _mismatch(where, "classes", meta["classes"], described)
    if samples is not None and samples != meta["window"]:
        raise _mismatch(where, "window", meta["window"], described)
    heads = y[1] if len(y) == 4 else 1
    if "heads" in meta and heads is not None and heads != meta["heads"]:
        raise _mismatch(where, "heads", meta["heads"], described)


def _check_detector_output(meta: dict[str, Any], outputs: list, where: str) -> None:
    shapes = [y for _, y in outputs]
    name, y = outputs[0]
    described = f"the graph's output {name!r} is {_dims(y)} in the model's layout"
    if len(outputs) > 1:  # one [batch, classes] output per head
        if any(len(s) != 2 for s in shapes):
            raise ArtifactError(f"{where}: outputs {[_dims(s) for s in shapes]} are not heads [batch, classes]; {_ADVICE}")
        heads = len(outputs)
        described = f"the graph has {heads} outputs (heads) {[_dims(s) for s in shapes]}"
    elif len(y) in (2, 3):
        heads = y[1] if len(y) == 3 else 1
    else:
        raise ArtifactError(f"{where}: {described}; a detector outputs [batch, classes] or [batch, heads, classes]; "
                            f"{_ADVICE}")
    for s in shapes:
        if s[-1] is not None and s[-1] != len(meta["classes"]):
            raise _mismatch(where, "classes", meta["classes"], described)
    if "heads" in meta and heads is not None and heads != meta["heads"]:
        raise _mismatch(where, "heads", meta["heads"], described)


# -- bundle manifests --------------------------------------------------------------------------------
_ENTRY = Rule("dict", required=("sha256", "size_bytes"), keys={
    "sha256": Rule("str", pattern="[0-9a-f]{64}", what="64 hex digits (the file's sha256)"),
    "size_bytes": Rule("int", min=0, max=1 << 40),
    "format": Rule("str", allowed=("onnx", "tflite")),
    "kind": Rule("str", allowed=("model", "external-data", "wheel", "bundle")),
    "metadata": _DICT,
    "parity": _DICT,
    "name": Rule(("str", "null"), max_len=256),
    "task": Rule(("str", "null"), allowed=TASKS),
    "precision": Rule(("str", "null"), max_len=16),
    "of": Rule("str", max_len=4096),
})

MANIFEST = Rule("dict", required=("schema", "artifacts"), keys={
    "schema": Rule("str", allowed=(MANIFEST_SCHEMA,), what=f'"{MANIFEST_SCHEMA}" (a newer schema needs a newer edgewise)'),
    "artifacts": Rule("dict", max_len=100_000, values=_ENTRY),
})


def validate_manifest(manifest: Any, *, where: str, error: type[Exception] = ArtifactError) -> dict[str, Any]:
    """Check a bundle's ``manifest.json`` (``MANIFEST``; each entry's ``metadata`` as artifact metadata).

    Raises:
        error: one line naming the file, the key, the value and what was expected.
    """
    check(manifest, MANIFEST, key="", where=where, error=error, noun="manifest key")
    for name, entry in manifest["artifacts"].items():
        if "metadata" in entry:
            try:
                validate_metadata(entry["metadata"], where=f"{where} (artifacts.{name}.metadata)")
            except ArtifactError as e:
                raise error(str(e)) from None
    return manifest
