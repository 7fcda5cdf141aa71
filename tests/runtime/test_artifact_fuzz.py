"""Artifacts are untrusted input: every edited key and every damaged file ends in one clear error line.

The shipped ECG (int8 ONNX and TFLite) and mosquito (ONNX and TFLite) artifacts are mutated at test
time (no mutated file is committed): each metadata key, top-level and nested, gets a wrong type, a
negative, zero, huge, non-integer and NaN value, an unknown value, or goes missing; the document is
replaced by an oversized, too deep, non-JSON, non-object one or removed; and the files are truncated
and have bytes flipped. Every case runs the real CLI (``edgewise.cli.main``: ``delineate`` for ECG,
``detect`` -- or ``run mosquito`` from a .npy where soundfile is missing, as on the bare device install
-- for mosquito) inside ONE child process, which reports each exit code and stderr, and its own peak
RSS; a few representative cases also run as ``python -m edgewise`` in their own process.

A metadata mutation the schema accepts (a missing optional key, an empty free-form table, a free-text
value, a zero where zero is meaningful) must run normally (exit 0); every other one must exit non-zero
with exactly one ``edgewise: error:`` line naming the file and the key. Metadata mutations re-stamp the
file's ``content_sha256`` (as ``update_metadata`` would), so that the edit is what gets judged.

Every truncated or bit-flipped file must end in one such line too: the shipped artifacts carry
``content_sha256`` (``edgewise.runtime.content_hash``), so a flip that only changes a weight is refused
like any other. A flip inside the metadata's JSON is refused by the hash, or, where it breaks the JSON
before the hash can be read, as "not valid JSON" (or, in the hash's own value, by the schema). The one
exception: a flip inside the key name ``"content_sha256"`` that leaves valid JSON makes the file read as
one written before the key existed; nothing else in the file changed, so it may run.
Never a traceback, never more than ``MAX_RSS_MB``.

Runs in the bare device venv (numpy + onnxruntime + LiteRT only): files are rewritten with the stdlib
writers of ``tests/runtime/_mutate.py``.
"""
from __future__ import annotations

import copy
import json
import math
import os
import random
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from edgewise.runtime.artifact import METADATA_KEY, metadata_spans, read_metadata

from ._mutate import with_metadata

# ~1,700 child-process cases: seconds natively, many minutes under ISA emulation, and nothing in them
# depends on the instruction set (scripts/test-isa.sh deselects "slow"; the host and both device venvs run it)
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PRETRAINED = REPO / "edgewise" / "models" / "pretrained"
ARTIFACTS = {
    "ecg-int8.onnx": (PRETRAINED / "ecg" / "ecg-unet-int8.onnx", "ecg"),
    "ecg-int8.tflite": (PRETRAINED / "ecg" / "ecg-unet-int8.tflite", "ecg"),
    "mosquito.onnx": (PRETRAINED / "mosquito" / "model.onnx", "mosquito"),
    "mosquito.tflite": (PRETRAINED / "mosquito" / "model.tflite", "mosquito"),
}
MAX_RSS_MB = 300
FLIPS = 24  # seeded random single-bit flips per file, plus every 8th byte of its first 256
JSON_FLIPS = 8  # ... and seeded random flips inside its metadata's JSON text

# -- what the schema accepts (independent of its implementation: the intended contract) -------------
# keys an artifact may lack (the runtime has a default or does not need them)
OPTIONAL = {"schema", "name", "format", "precision", "heads", "opset", "export_atol", "selfcheck", "training",
            "metrics", "quantization", "source_checkpoint", "source_checkpoint_sha256", "training_data",
            "edgewise_version", "exported_at", "content_sha256", "io.input.tensor", "io.input.layout", "selfcheck.v",
            "selfcheck.input", "selfcheck.positions[0]", "training.threshold"}
OPTIONAL_ONNX = {"io", "io.input", "io.input.perm", "io.outputs", "io.outputs[0].perm"}  # identity layouts
OPTIONAL_ECG = {"preprocessing", "preprocessing.kind", "preprocessing.center", "preprocessing.scale",
                "preprocessing.eps", "preprocessing.min_seconds", "preprocessing.scope",
                "postprocess", "postprocess.p_edge_offset"}  # none: P edges as found (files before 2026-12-07)
# (a missing "ref" reads as absolute dB, as every file written before the key existed)
OPTIONAL_LOGMEL = {f"preprocessing.{k}" for k in ("fmin", "fmax", "center", "pad_mode", "power", "amin", "top_db",
                                                   "ref", "mono", "resample", "normalisation", "output")}
# free-form tables and texts: emptied or set to "XYZ", still a runnable artifact
FREE = {"metrics", "quantization", "training", "source_checkpoint", "training_data", "edgewise_version",
        "exported_at", "name", "io.outputs[0].name", "selfcheck.input", "preprocessing.normalisation",
        "preprocessing.output"}
FREE_ONNX = {"io", "io.input"}
FREE_ECG = {"preprocessing", "preprocessing.center", "preprocessing.scale", "preprocessing.scope", "postprocess"}
# where zero is a meaningful value
ZERO_OK = {"export_atol", "selfcheck.atol", "preprocessing.fmin", "preprocessing.top_db", "selfcheck.positions[0]",
           "preprocessing.min_seconds", "preprocessing.eps", "postprocess.p_edge_offset"}


def _accepted(key: str, kind: str, task: str, fmt: str) -> bool:
    if task == "ecg" and key.startswith("preprocessing.") and key != "preprocessing.kind":
        return True  # the ECG front end is fixed in code: only preprocessing.kind is checked
    if kind in ("extra", "heads-1"):
        return True
    if kind == "missing":
        return key in OPTIONAL | (OPTIONAL_ONNX if fmt == "onnx" else set()) | (
            OPTIONAL_ECG if task == "ecg" else OPTIONAL_LOGMEL)
    if kind in ("empty", "unknown"):
        return key in FREE | (FREE_ONNX if fmt == "onnx" else set()) | (FREE_ECG if task == "ecg" else set())
    if kind == "zero":
        return key in ZERO_OK
    return False


# -- mutations --------------------------------------------------------------------------------------
def _paths(meta: dict) -> list[tuple[str, tuple]]:
    """(dotted key, path) of every key worth mutating: top level, and the tables the device reads."""
    out = [(k, (k,)) for k in meta]
    for table in ("io", "preprocessing", "selfcheck", "training"):
        if isinstance(meta.get(table), dict):
            sub = meta[table]
            keys = ["threshold"] if table == "training" else list(sub)
            out += [(f"{table}.{k}", (table, k)) for k in keys if k in sub]
    if isinstance(meta.get("io"), dict):
        io = meta["io"]
        out += [(f"io.input.{k}", ("io", "input", k)) for k in io.get("input", {})]
        if io.get("outputs"):
            out += [(f"io.outputs[0].{k}", ("io", "outputs", 0, k)) for k in io["outputs"][0]]
    if isinstance(meta.get("selfcheck"), dict) and meta["selfcheck"].get("positions"):
        out.append(("selfcheck.positions[0]", ("selfcheck", "positions", 0)))
    return out


def _replace(value):
    """Mutation kind -> value, for a key currently holding ``value``."""
    wrong = {str: 123, bool: "yes", list: {"x": 1}, dict: [1, 2], type(None): [1]}.get(type(value), "abc")
    out = {"type": wrong, "negative": -5, "zero": 0, "huge": 10 ** 12, "nan": float("nan")}
    if isinstance(value, int) and not isinstance(value, bool):
        out["fraction"] = 2.5
    if isinstance(value, str):
        out["unknown"] = "XYZ"
    if isinstance(value, (list, dict)):
        out["empty"] = type(value)()
    return out


def _set(meta: dict, path: tuple, value, delete: bool = False) -> dict:
    meta = copy.deepcopy(meta)
    node = meta
    for p in path[:-1]:
        node = node[p]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return meta


def metadata_cases(meta: dict) -> list[tuple[str, str, bytes | None]]:
    """(dotted key, kind, new metadata text or None for no metadata)."""
    cases = []
    for key, path in _paths(meta):
        node = meta
        for p in path:
            node = node[p]
        for kind, value in _replace(node).items():
            cases.append((key, kind, json.dumps(_set(meta, path, value)).encode()))
        cases.append((key, "missing", json.dumps(_set(meta, path, None, delete=True)).encode()))
    deep: list = []
    for _ in range(40):
        deep = [deep]
    cases += [
        ("", "oversized", json.dumps({**meta, "padding": "x" * (2 << 20)}).encode()),
        ("", "deep", json.dumps({**meta, "nested": deep}).encode()),
        ("", "very-deep", json.dumps({**meta, "nested": "@"}).encode().replace(b'"@"', b"[" * 100_000 + b"]" * 100_000)),
        ("", "not-json", b"{'task': 'ecg-delineation'"),
        ("", "not-an-object", b"[1, 2, 3]"),
        ("", "bad-utf8", b'{"task": "\xff\xfe"}'),
        ("", "removed", None),
        ("unknown_extra_key", "extra", json.dumps({**meta, "unknown_extra_key": {"a": [1, 2]}}).encode()),
        ("heads", "heads-1", json.dumps({**meta, "heads": 1}).encode()),   # a single-head graph: 1 is right
        ("heads", "heads-3", json.dumps({**meta, "heads": 3}).encode()),   # ... 3 contradicts the graph
        ("heads", "heads-huge", json.dumps({**meta, "heads": 10 ** 6}).encode()),
    ]
    return cases


def byte_cases(data: bytes, seed: int) -> list[tuple[str, bytes, str]]:
    """(name, damaged file, where: "file" or, for a flip, "json" (inside the metadata's JSON text) or
    "hash-key" (inside the key name ``"content_sha256"`` of that text))."""
    rng = random.Random(seed)
    start, end = metadata_spans(data)[METADATA_KEY]
    key = data.find(b'"content_sha256"', start, end)
    assert key > 0, "the shipped artifacts carry content_sha256"
    out = [(f"truncated-{frac}", data[:int(len(data) * frac)], "file") for frac in (0.0, 0.01, 0.1, 0.5, 0.9, 0.999)]
    out.append(("truncated-1-byte", data[:-1], "file"))
    positions = list(range(0, 256, 8)) + [rng.randrange(len(data)) for _ in range(FLIPS)] + [
        rng.randrange(start, end) for _ in range(JSON_FLIPS)]
    for pos in positions:
        bad = bytearray(data)
        bad[pos] ^= 1 << rng.randrange(8)
        where = "hash-key" if key <= pos < key + 16 else "json" if start <= pos < end else "file"
        out.append((f"flip-{pos}", bytes(bad), where))
    return out


# -- the child process: every case through edgewise.cli.main, peak RSS ------------------------------
# peak RSS of this process image: VmHWM (reset by exec; ru_maxrss is not: a child forked from a big pytest
# would report the parent's size)
PEAK_MB = r"""
def peak_mb():
    try:
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

DRIVER = PEAK_MB + r"""
import contextlib, functools, io, json, sys, time, traceback
import edgewise.cli as cli
cli.build_parser = functools.lru_cache(maxsize=None)(cli.build_parser)  # one parser for all cases
cases = json.load(open(sys.argv[1]))
results = {}
t0 = time.perf_counter()
for case in cases:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = cli.main(case["argv"])
        except SystemExit as e:
            rc = e.code
        except BaseException as e:
            rc = "exception"
            err.write(traceback.format_exc())
    results[case["id"]] = {"rc": rc, "stderr": err.getvalue()}
print(json.dumps({"results": results, "seconds": time.perf_counter() - t0, "maxrss_mb": peak_mb()}))
"""


def _inputs(folder: Path) -> dict[str, Path]:
    t = np.arange(5000) / 500
    ecg = np.sin(2 * np.pi * 1.2 * t) ** 20 + 0.01 * np.random.default_rng(0).standard_normal(t.size)
    np.save(folder / "sig.npy", ecg.astype(np.float32))
    tone = (0.3 * np.sin(2 * np.pi * 600 * np.arange(3 * 8000) / 8000)).astype(np.float32)
    np.save(folder / "tone.npy", tone)
    with wave.open(str(folder / "tone.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((tone * 32767).astype("<i2").tobytes())
    return {"sig": folder / "sig.npy", "npy": folder / "tone.npy", "wav": folder / "tone.wav"}


def _argv(task: str, model: Path, inputs: dict[str, Path]) -> list[str]:
    if task == "ecg":
        return ["delineate", str(inputs["sig"]), "--fs", "500", "--model", str(model), "--json"]
    try:
        import soundfile  # noqa: F401  (the host install reads audio files; the bare device install does not)
    except ImportError:
        return ["run", "mosquito", "--source", f"file:{inputs['npy']}", "--rate", "8000", "--model", str(model),
                "--jsonl"]
    return ["detect", str(inputs["wav"]), "--model", str(model), "--json"]


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("fuzz")
    inputs = _inputs(folder)
    cases, expect = [], {}
    for art, (src, task) in ARTIFACTS.items():
        fmt = src.suffix[1:]
        data = src.read_bytes()
        meta = read_metadata(src)
        for i, (key, kind, text) in enumerate(metadata_cases(meta)):
            cid = f"{art}:{key or 'document'}:{kind}"
            model = folder / f"{art.split('.')[0]}-m{i}.{fmt}"
            model.write_bytes(with_metadata(data, fmt, text))
            cases.append({"id": cid, "argv": _argv(task, model, inputs)})
            ok = bool(key) and _accepted(key, kind, task, fmt)
            expect[cid] = {"group": f"{art}-metadata", "file": model.name, "key": key, "accepted": ok}
        for name, bad, where in byte_cases(data, seed=len(cases)):
            cid = f"{art}:{name}"
            model = folder / f"{art.split('.')[0]}-{name}.{fmt}"
            model.write_bytes(bad)
            cases.append({"id": cid, "argv": _argv(task, model, inputs)})
            expect[cid] = {"group": f"{art}-bytes", "file": model.name, "key": None, "where": where,
                           "accepted": None if where == "hash-key" else False}
    (folder / "cases.json").write_text(json.dumps(cases))
    start = time.perf_counter()
    child = subprocess.run([sys.executable, "-c", DRIVER, str(folder / "cases.json")], capture_output=True,
                           text=True, timeout=600, cwd=folder, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    report.update(expect=expect, wall=time.perf_counter() - start, native_stderr=child.stderr, folder=folder,
                  inputs=inputs, cases=cases)
    print(f"\nartifact fuzz: {len(cases)} cases in {report['seconds']:.1f} s, peak RSS {report['maxrss_mb']:.0f} MB")
    return report


def _problems(report: dict, group: str) -> tuple[list[str], int]:
    bad, n = [], 0
    for cid, want in report["expect"].items():
        if want["group"] != group:
            continue
        n += 1
        got = report["results"][cid]
        lines = got["stderr"].strip().splitlines()
        if got["rc"] == "exception" or "Traceback" in got["stderr"]:
            bad.append(f"{cid}: traceback: {got['stderr'][-300:]}")
        elif want["accepted"] is True:
            if got["rc"] != 0:
                bad.append(f"{cid}: should run (the schema allows it), got rc {got['rc']}: {lines[-1:]}")
        elif want["accepted"] is None and got["rc"] == 0:
            continue  # a flip in the key name content_sha256: an unstamped file, otherwise intact
        elif got["rc"] in (0, None):
            bad.append(f"{cid}: accepted, but must be refused")
        elif len(lines) != 1 or not lines[0].startswith("edgewise: error: "):
            bad.append(f"{cid}: expected one 'edgewise: error:' line, got {len(lines)}: {lines[:3]}")
        elif want["file"] not in lines[0]:
            bad.append(f"{cid}: the error does not name the file: {lines[0]}")
        elif want["key"] and f"'{want['key']}" not in lines[0] and want["key"] not in lines[0]:
            bad.append(f"{cid}: the error does not name the key {want['key']!r}: {lines[0]}")
        elif want.get("where") == "json" and "content_sha256" not in lines[0] and "not valid JSON" not in lines[0]:
            bad.append(f"{cid}: a flip in the metadata's JSON, refused neither by its hash nor as broken JSON: "
                       f"{lines[0]}")
    return bad, n


@pytest.mark.parametrize("group", [f"{a}-{k}" for a in ARTIFACTS for k in ("metadata", "bytes")])
def test_every_mutation_ends_in_one_clear_line(fuzz, group):
    bad, n = _problems(fuzz, group)
    assert n > 0
    assert not bad, f"{len(bad)} of {n} cases:\n" + "\n".join(bad[:40])


def test_the_fuzz_run_stays_small(fuzz):
    assert fuzz["maxrss_mb"] < MAX_RSS_MB, f"peak RSS {fuzz['maxrss_mb']:.0f} MB"
    assert len(fuzz["cases"]) > 800
    # nothing reached the terminal below Python either (runtime logs would be lines beside the error)
    assert fuzz["native_stderr"].strip() == "", fuzz["native_stderr"][-2000:]


def test_the_reported_cases_as_separate_processes(fuzz, tmp_path):
    """The issue's cases, each through ``python -m edgewise`` as a user runs it."""
    src = ARTIFACTS["ecg-int8.onnx"][0]
    meta = read_metadata(src)
    cases = {"window": -5, "window ": 1_000_000_000, "sample_rate": "abc", "input_layout": "XYZ", "classes": []}
    for i, (key, value) in enumerate(cases.items()):
        model = tmp_path / f"edited{i}.onnx"
        model.write_bytes(with_metadata(src.read_bytes(), "onnx", json.dumps({**meta, key.strip(): value}).encode()))
        out = subprocess.run([sys.executable, "-m", "edgewise", *_argv("ecg", model, fuzz["inputs"])],
                             capture_output=True, text=True, timeout=120, cwd=REPO)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1, out.stderr
        assert lines[0].startswith(f"edgewise: error: {model}: metadata key '{key.strip()}' is {json.dumps(value)}: "
                                   "expected "), lines[0]
    big = tmp_path / "padded.onnx"
    big.write_bytes(with_metadata(src.read_bytes(), "onnx", json.dumps({**meta, "pad": "x" * (50 << 20)}).encode()))
    code = PEAK_MB + ("import runpy, sys\nsys.argv = ['edgewise', *sys.argv[1:]]\n"
                      "try:\n    runpy.run_module('edgewise', run_name='__main__')\nfinally:\n    print(peak_mb())")
    out = subprocess.run([sys.executable, "-c", code, *_argv("ecg", big, fuzz["inputs"])], capture_output=True,
                         text=True, timeout=120, cwd=REPO)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "is 52" in out.stderr and "the limit is 1 MB" in out.stderr
    assert float(out.stdout.strip().splitlines()[-1]) < MAX_RSS_MB  # the 50-MB file is read once, never decoded


def test_mosquito_cli_refuses_an_edited_artifact_in_its_own_process(fuzz, tmp_path):
    src = ARTIFACTS["mosquito.tflite"][0]
    meta = read_metadata(src)
    pre = {**meta["preprocessing"], "n_fft": 1 << 20}
    model = tmp_path / "edited.tflite"
    model.write_bytes(with_metadata(src.read_bytes(), "tflite", json.dumps({**meta, "preprocessing": pre}).encode()))
    out = subprocess.run([sys.executable, "-m", "edgewise", *_argv("mosquito", model, fuzz["inputs"])],
                         capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert f"{model}: metadata key 'preprocessing.n_fft' is 1048576: expected an integer in 16..8192" in out.stderr


def test_case_counts_are_reported(fuzz):
    n_meta = sum(1 for e in fuzz["expect"].values() if e["group"].endswith("metadata"))
    n_bytes = len(fuzz["expect"]) - n_meta
    refused = sum(1 for cid, e in fuzz["expect"].items() if fuzz["results"][cid]["rc"] not in (0, None))
    print(f"\nartifact fuzz: {n_meta} metadata + {n_bytes} byte-level cases, {refused} refused with one line, "
          f"{len(fuzz['expect']) - refused} ran; child {fuzz['seconds']:.1f} s, wall {fuzz['wall']:.1f} s, "
          f"peak RSS {fuzz['maxrss_mb']:.0f} MB")
    why: dict[str, int] = {}
    for cid, e in fuzz["expect"].items():
        if e["group"].endswith("bytes"):
            got = fuzz["results"][cid]
            line = got["stderr"]
            kind = ("ran" if got["rc"] in (0, None) else "content hash" if "does not match its content_sha256" in line
                    else "hash value (schema)" if "content_sha256" in line else "not valid JSON"
                    if "not valid JSON" in line else "other (structure, graph, runtime)")
            why[kind] = why.get(kind, 0) + 1
    print("  byte-level cases: " + ", ".join(f"{v} {k}" for k, v in sorted(why.items(), key=lambda kv: -kv[1])))
    assert math.isfinite(fuzz["seconds"]) and refused > n_meta // 2
