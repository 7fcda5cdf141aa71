"""Pipeline stage 4: the compressed ECG artifacts.

By default the stage verifies the compressed artifacts the project ships (``edgewise/models/pretrained/ecg``)
instead of making them again (re-pruning and fine-tuning take ~6 minutes on a 2-core host): each file's
sha256 against ``manifest.json``, then each file loaded through ``edgewise.runtime`` (the device code)
and measured as ``edgewise.compress.run`` measured it when it was made — held-out LUDB lead-II wave F1 on
the test records named in its metadata, single-thread latency on 10 s of ECG, size, agreement with the
uncompressed model — and its F1 compared with the one recorded in its metadata. ``compress_stage`` runs
the recipe again (``edgewise pipeline ecg --recompress``).

Paupamah, James & Klein, "Quantisation and Pruning for Neural Network Compression and Regularisation":
prune, fine-tune, quantise; here every artifact is measured (size, F1, latency, fidelity) before one is kept.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgewise.reporting import Report

WAVES = ("P", "QRS", "T")
# the manifest stores floats to 6 significant digits (edgewise.export.metadata.metadata_json): an F1 in
# [0.1, 1] read back is within 5e-7 of the measured one; more than 1e-6 means the file or the scoring changed
F1_TOLERANCE = 1e-6


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class VerifiedArtifact:
    """One shipped artifact: its checksum against the manifest and what was measured on it now."""

    name: str
    format: str
    precision: str
    size_bytes: int
    sha256: str
    manifest_sha256: str | None
    recorded_f1: dict[str, float] | None = None
    f1: dict[str, float] = field(default_factory=dict)
    latency_ms: float = float("nan")
    agreement: float = float("nan")
    mean_kl: float = float("nan")
    error: str = ""

    @property
    def checksum_ok(self) -> bool:
        return bool(self.sha256) and self.sha256 == self.manifest_sha256

    def f1_delta(self) -> dict[str, float]:
        """Measured minus recorded wave F1 (empty without a recorded or a measured F1)."""
        if not self.recorded_f1 or not self.f1:
            return {}
        return {k: self.f1[k] - float(self.recorded_f1.get(k, float("nan"))) for k in WAVES}

    @property
    def f1_ok(self) -> bool | None:
        d = self.f1_delta()
        return None if not d else all(abs(v) <= F1_TOLERANCE for v in d.values())  # NaN: not ok

    def status(self) -> str:
        if not self.sha256:
            return "MISSING"
        if not self.checksum_ok:
            return "CHECKSUM MISMATCH"
        if self.error:
            return "LOAD FAILED"
        if self.f1_ok is False:
            return f"F1 DIFFERS (max |Δ| {max(abs(v) for v in self.f1_delta().values()):.2g})"
        return "yes" if self.f1_ok else "checksum ok (F1 not compared)"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "checksum_ok": self.checksum_ok, "f1_ok": self.f1_ok, "status": self.status()}


@dataclass
class Verification:
    """The shipped artifacts as verified: rows, checksum errors (``errors``) and F1/lineage ``findings``."""

    folder: Path
    data: str
    synthetic: bool
    rows: list[VerifiedArtifact]
    errors: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "data": self.data, "synthetic": self.synthetic,
                "rows": [r.as_dict() for r in self.rows], "errors": self.errors, "findings": self.findings}


def _recorded_f1(meta: dict[str, Any]) -> dict[str, float] | None:
    """Held-out lead-II wave F1 in an artifact's metadata: ``test_lead_ii_wave_f1`` (compressed files,
    written by ``edgewise.compress.run.stamp_metrics``) or ``test_lead_ii.wave_f1`` (fp32 exports)."""
    m = meta.get("metrics") or {}
    f1 = m.get("test_lead_ii_wave_f1") or (m.get("test_lead_ii") or {}).get("wave_f1")
    return {k: float(f1[k]) for k in WAVES if k in f1} if f1 else None


def _test_data(ck: Any, data_dir: Path | None, metas: list[dict[str, Any]]) -> tuple[list, str]:
    """Held-out test records (LUDB ``EcgRecord``s or SYNTHETIC ``(x, fs, waves)``) and where they came from."""
    if data_dir is None:
        from edgewise.data.synthetic_ecg import SYNTHETIC_LABEL, synthetic_ecg

        # the seeds edgewise.compress.run uses for its SYNTHETIC test records
        return ([(x, 500, w) for x, _, w in (synthetic_ecg(s) for s in range(100, 110))],
                f"{SYNTHETIC_LABEL}, 10 records: checksums and parity only, no comparison with the recorded LUDB F1")
    from edgewise.models.ecg.dataset import load_records

    ids = next((list(t["test_records"]) for t in [m.get("training") or {} for m in metas] if t.get("test_records")),
               list((ck.training or {}).get("test_records") or []))
    if not ids:
        raise ValueError("neither the shipped artifacts' metadata nor the checkpoint name the held-out test records "
                         "(training.test_records); run the pipeline with --recompress")
    return load_records(data_dir, ids), f"LUDB {data_dir}: {len(ids)} held-out test records, lead II"


def _measure(row: VerifiedArtifact, path: Path, test: list, fid_x: np.ndarray, ref_logits: np.ndarray,
             ten_s: np.ndarray) -> None:
    from edgewise.compress.report import fidelity, latency_p50, wave_f1
    from edgewise.runtime.ecg.model import load_artifact_fn

    fn, info = load_artifact_fn(path, threads=1)
    row.f1 = wave_f1(fn, test, window=info.window, hop=info.hop, post=info.post)
    row.latency_ms = latency_p50(fn, ten_s)
    row.agreement, row.mean_kl = fidelity(ref_logits, fn(fid_x))


def verify_shipped(ck: Any, *, data_dir: Path | None, folder: Path | None = None,
                   warn: Callable[[str], None] = _stderr) -> Verification:
    """Check and measure every ONNX/TFLite artifact listed in ``folder/manifest.json``.

    Args:
        ck: the uncompressed checkpoint the artifacts came from (agreement and mean KL are against it).
        data_dir: LUDB folder; None: SYNTHETIC ECG (checksums and parity only).
        folder: the shipped folder (default ``edgewise/models/pretrained/ecg``).
        warn: receives one line per checksum error (``edgewise: error: ...``) and finding (``warning``).

    Returns:
        A ``Verification``; a checksum mismatch or an F1 disagreement is recorded there, not raised.

    Raises:
        ArtifactError: no readable ``manifest.json`` in ``folder``.
    """
    from edgewise.compress.calibration import synthetic_windows, windows_from_records
    from edgewise.compress.tasks.ecg import ten_seconds
    from edgewise.models.ecg.evaluate import torch_model_fn
    from edgewise.models.pretrained import PRETRAINED_DIR
    from edgewise.runtime.artifact import MANIFEST_NAME, sha256_file
    from edgewise.runtime.errors import ArtifactError

    folder = Path(folder or PRETRAINED_DIR / "ecg")
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ArtifactError(f"cannot verify the shipped ECG artifacts: no readable {MANIFEST_NAME} in {folder} ({e}); "
                            "reinstall edgewise, or run the pipeline with --recompress") from e
    listed = manifest.get("artifacts", {}).items()
    entries = sorted(((n, e) for n, e in listed if e.get("format") in ("onnx", "tflite")),
                     key=lambda ne: (ne[1].get("metadata", {}).get("precision") != "fp32", ne[1]["format"], ne[0]))
    metas = [e.get("metadata") or {} for _, e in entries]
    test, source = _test_data(ck, data_dir, metas)
    w, hop = ck.spec.window, ck.spec.hop
    if data_dir is None:
        fid_x, ten_s = synthetic_windows(16, window=w, seed=1), ten_seconds(test[0][0], w, hop)
    else:  # the windows edgewise.compress.run measured agreement and latency on
        fid_x, ten_s = windows_from_records(test, 32, window=w, seed=1), ten_seconds(test[0].lead("ii"), w, hop)
    ref_logits = torch_model_fn(ck.model, 1)(fid_x)
    res = Verification(folder, source, data_dir is None, [])

    def say(kind: str, line: str) -> None:
        (res.errors if kind == "error" else res.findings).append(line)
        warn(f"edgewise: {kind}: {line}")

    for (name, entry), meta in zip(entries, metas):
        path = folder / name
        here = path.is_file()
        row = VerifiedArtifact(name, entry["format"], str(meta.get("precision", "?")),
                               path.stat().st_size if here else 0, sha256_file(path) if here else "", entry.get("sha256"))
        res.rows.append(row)
        if not row.checksum_ok:
            say("error", f"shipped artifact {path} " + ("is missing" if not row.sha256 else
                f"has sha256 {row.sha256[:16]}…, {MANIFEST_NAME} says {str(row.manifest_sha256)[:16]}… "
                "(corrupt or replaced file)"))
            if not row.sha256:
                continue
        try:
            _measure(row, path, test, fid_x, ref_logits, ten_s)
        except Exception as e:  # a corrupt file can fail anywhere inside a backend: reported, not raised
            row.error = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            say("warning", f"{name} could not be loaded or run: {row.error}")
            continue
        if data_dir is not None:
            for line in _compare_f1(row, path, meta):
                say("warning", line)
            named = (meta.get("training") or {}).get("test_records")
            if named and [r.record_id for r in test] != list(named):
                say("warning", f"{name}'s metadata names other test records than the ones measured on "
                               f"({len(named)} ids): its recorded F1 is not comparable")
        for line in _lineage(name, meta, ck):
            say("warning", line)
    return res


def _compare_f1(row: VerifiedArtifact, path: Path, manifest_meta: dict[str, Any]) -> list[str]:
    """Set ``row.recorded_f1`` from the file's own metadata (what travels to the device; else the
    manifest's copy) and say where the measured F1, or the manifest's copy, disagrees with it."""
    from edgewise.runtime.artifact import read_metadata

    own = _recorded_f1(read_metadata(path) or {})
    listed = _recorded_f1(manifest_meta)
    row.recorded_f1 = own or listed
    out = []
    if own and listed and any(not abs(own[k] - listed.get(k, float("nan"))) <= F1_TOLERANCE for k in own):
        out.append(f"{row.name}: manifest.json records wave F1 {_f1_text(listed)} but the file's own metadata "
                   f"{_f1_text(own)}")
    if row.f1_ok is False:
        d = row.f1_delta()
        out.append(f"{row.name}: measured held-out lead-II wave F1 differs from its metadata by "
                   + ", ".join(f"{k} {d[k]:+.2g}" for k in WAVES)
                   + f" (measured {_f1_text(row.f1)}, recorded {_f1_text(row.recorded_f1)}; "
                     f"tolerance {F1_TOLERANCE:g})")
    return out


def _f1_text(f1: dict[str, float] | None) -> str:
    return "/".join(f"{(f1 or {}).get(k, float('nan')):.6f}" for k in WAVES)


def _lineage(name: str, meta: dict[str, Any], ck: Any) -> list[str]:
    """A finding when the artifact was not made from the pipeline's checkpoint (agreement then compares
    different models)."""
    m = meta.get("metrics") or {}
    source = (m.get("uncompressed_model") or {}).get("checkpoint_sha256") if meta.get("precision") != "fp32" \
        else meta.get("source_checkpoint_sha256")
    if not source or not ck.sha256 or source == ck.sha256:
        return []
    return [f"{name} was made from checkpoint sha256 {source[:16]}…, not from the pipeline's checkpoint "
            f"({ck.sha256[:16]}…): its agreement and F1 change compare different models"]


def _size_parts(rows: list[VerifiedArtifact], folder: Path) -> list[list[Any]]:
    """Bytes by part (``edgewise.compress.sizes``) of each loadable artifact; empty without onnx/tensorflow."""
    from edgewise.compress.sizes import PARTS, breakdown

    out = []
    for r in rows:
        if r.checksum_ok and not r.error:
            try:
                parts = breakdown(folder / r.name)
            except ImportError:
                return []
            out.append([r.name, *[parts[p] for p in PARTS], r.size_bytes])
    return out


def add_verification_tables(rep: Report, res: Verification) -> None:
    """The per-artifact table of the recompress path, for the shipped artifacts, plus their size breakdown."""
    from edgewise.compress.sizes import PARTS

    ref = next((r for r in res.rows if r.format == "onnx" and r.precision == "fp32" and r.f1), None)
    rows = []
    for r in res.rows:
        change = "/".join(f"{r.f1[k] - ref.f1[k]:+.5f}" for k in WAVES) if ref and r.f1 else "—"
        rows.append([r.name, r.format, r.precision, round(r.size_bytes / 1024, 1),
                     round(ref.size_bytes / r.size_bytes, 2) if ref and r.size_bytes else "—",
                     *[r.f1.get(k, float("nan")) for k in WAVES], change,
                     _f1_text(r.recorded_f1) if r.recorded_f1 else "—", r.latency_ms,
                     round(ref.latency_ms / r.latency_ms, 2) if ref and r.latency_ms == r.latency_ms else "—",
                     r.agreement, r.mean_kl, r.status()])
    which = "SYNTHETIC ECG" if res.synthetic else "held-out LUDB test records, lead II"
    rep.table(["artifact", "format", "precision", "KiB", "size ×", "P F1", "QRS F1", "T F1",
               "F1 change vs fp32 P/QRS/T", "recorded F1 P/QRS/T", "latency ms", "speed ×", "agree", "mean KL",
               "verified"], rows,
              caption=f"shipped artifacts, each loaded through edgewise.runtime; F1 on {which}; size and speed ratios "
                      f"and F1 changes against {ref.name if ref else 'the fp32 ONNX (not measured)'}; "
                      "latency: 10 s of ECG, 1 thread, median; agree / mean KL: per-sample argmax agreement with "
                      "and KL from the uncompressed torch model; verified: sha256 equals manifest.json and "
                      f"measured F1 within {F1_TOLERANCE:g} of the recorded one")
    parts = _size_parts(res.rows, res.folder)
    if parts:
        rep.table(["artifact", *PARTS, "file"], parts, caption="bytes by part (edgewise.compress.sizes): "
                  "int8 shrinks weights 4x; scales, zero points, names, metadata and structure do not shrink")


def verify_stage(ck: Any, rep: Report, out: Path, *, data_dir: Path | None, folder: Path | None = None,
                 warn: Callable[[str], None] = _stderr) -> Verification:
    """Verify the shipped compressed artifacts (``verify_shipped``) and add section "4. Compression" to ``rep``.

    Also writes ``out/verification.json``. Checksum errors and F1 findings are said in the report and
    on stderr; the caller decides whether a checksum error fails the run.
    """
    rep.heading("4. Compression (shipped artifacts, verified)")
    res = verify_shipped(ck, data_dir=data_dir, folder=folder, warn=warn)
    rep.text(f"The compressed artifacts in {res.folder} were made by `edgewise compress` with the default recipe; "
             "this stage checks them instead of making them again (`edgewise pipeline ecg --recompress` re-runs "
             f"the recipe). Data: {res.data}.")
    if res.synthetic:
        rep.text("No LUDB folder: F1, agreement and latency below are measured on SYNTHETIC ECG and say nothing about "
                 "real ECG; the F1 recorded in each artifact's metadata (LUDB) is not compared.")
    add_verification_tables(rep, res)
    for e in res.errors:
        rep.text(f"CHECKSUM ERROR: {e}.")
    for f in res.findings:
        rep.text(f"FINDING: {f}.")
    if not res.errors and not res.findings:
        ok = "checksums match manifest.json" + ("" if res.synthetic else
                                                  f"; every measured F1 equals the recorded one (±{F1_TOLERANCE:g})")
        rep.text(f"All {len(res.rows)} shipped artifacts verified: {ok}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "verification.json").write_text(json.dumps(res.as_dict(), indent=1, default=float))
    rep.data["compression"] = {"mode": "verify-shipped", **res.as_dict()}
    return res


def compress_stage(ck: Any, rep: Report, out: Path, *, data_dir: Path | None, recipe: Path | None = None,
                   progress: bool = True) -> Any:
    """Run the task's default recipe (or ``recipe``) on ``ck`` and add section "4. Compression" to ``rep``.

    With ``data_dir`` None, calibration and evaluation use SYNTHETIC ECG windows (said in the report)
    and pruning is not fine-tuned.

    Returns:
        The ``CompressionResult`` (also when a step missed its budget).
    """
    from edgewise.compress import compress_checkpoint, default_recipe
    from edgewise.compress.report import add_tables
    from edgewise.runtime.errors import BudgetError

    rep.heading("4. Compression")
    path = recipe or default_recipe(ck.spec.task.value)
    error = None
    try:
        res = compress_checkpoint(ck, path, out, data_dir=data_dir, progress=progress)
    except BudgetError as e:
        res, error = e.result, str(e)
    if data_dir is None:
        rep.text("No LUDB folder: calibration, budget checks and the F1 below use SYNTHETIC ECG windows "
                 "(edgewise.data.synthetic_ecg) and pruning is not fine-tuned; these numbers say nothing about real ECG.")
    rep.text(f"Recipe {Path(path).name} ({res.recipe}). Data: {res.data}. Calibration: "
             + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in res.calibration.items()))
    ref = next(r for r in res.rows if r.format == "onnx" and r.step == "original")
    add_tables(rep, res.rows, ref=ref, kept=res.kept, notes=res.notes)
    mixed = [r for r in res.rows if "mixed precision" in r.notes]
    for r in mixed:
        rep.text(f"{r.variant}: {r.notes}.")
    if error:
        rep.text(f"BUDGET MISSED: {error}")
    rep.data["compression"] = {"mode": "recompress", **res.as_dict()}
    return res
