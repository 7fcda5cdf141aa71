"""`edgewise pipeline ecg` compression stage: the shipped compressed artifacts are verified (sha256 against
manifest.json, held-out F1 against the recorded one) instead of re-made; `--recompress` runs the recipe."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from edgewise.models.pretrained import PRETRAINED_DIR  # noqa: E402

SHIPPED = PRETRAINED_DIR / "ecg"


def _manifest(folder: Path = SHIPPED) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _shipped_copy(dest: Path, names: list[str] | None = None) -> Path:
    """``dest`` with the checkpoint, the listed artifacts (default all) and a manifest of only those."""
    dest.mkdir(parents=True, exist_ok=True)
    man = _manifest()
    keep = {n: e for n, e in man["artifacts"].items() if names is None or n in names}
    for n in [*keep, "ecg-unet.pt", "ecg-unet.json"]:
        shutil.copyfile(SHIPPED / n, dest / n)
    (dest / "manifest.json").write_text(json.dumps({**man, "artifacts": keep}, indent=2))
    return dest


@pytest.fixture(scope="module")
def shipped_ck():
    from edgewise.models.checkpoint import load_checkpoint

    return load_checkpoint(SHIPPED / "ecg-unet.pt")


@pytest.fixture(scope="module")
def verified(shipped_ck, ludb_dir, tmp_path_factory):
    from edgewise.pipelines.ecg_compress import verify_stage
    from edgewise.reporting import Report

    out = tmp_path_factory.mktemp("verify")
    rep = Report("t", out)
    lines: list[str] = []
    res = verify_stage(shipped_ck, rep, out / "compressed", data_dir=ludb_dir, warn=lines.append)
    return res, rep.write().read_text(), lines, out


def test_every_shipped_artifact_is_measured_like_selftest(verified, ludb_dir):
    """Each artifact's F1 equals the device self-test's (its own WFDB reader, an independent path) on the
    test records its metadata names; 'verified' says yes exactly when that F1 matches the recorded one."""
    from edgewise.runtime.ecg.selftest import selftest

    res, text, lines, out = verified
    man = _manifest()["artifacts"]
    onnx_tflite = {n for n, e in man.items() if e["format"] in ("onnx", "tflite")}
    assert {r.name for r in res.rows} == onnx_tflite and {r.precision for r in res.rows} >= {"fp32", "int8"}
    for r in res.rows:
        meta = man[r.name]["metadata"]
        score = selftest(SHIPPED / r.name, ludb_dir, meta["training"]["test_records"])
        np.testing.assert_allclose([r.f1[k] for k in "P QRS T".split()],
                                   [score.wave_f1(k) for k in "P QRS T".split()], rtol=0, atol=1e-12)
        m = meta["metrics"]
        recorded = m.get("test_lead_ii_wave_f1") or m["test_lead_ii"]["wave_f1"]
        agrees = all(abs(score.wave_f1(k) - recorded[k]) <= 1e-6 for k in recorded)
        assert r.checksum_ok and r.sha256 == man[r.name]["sha256"]
        assert r.status() == "yes" if agrees else r.status().startswith("F1 DIFFERS"), r.status()
        assert f"| {r.name} | {r.format} | {r.precision} |" in text
        assert 0 < r.latency_ms < 1000 and 0.5 < r.agreement <= 1.0
    assert res.errors == [] and not any("error" in ln for ln in lines)
    assert "held-out LUDB test records, lead II" in text and "verified" in text
    assert json.loads((out / "compressed" / "verification.json").read_text())["rows"][0]["checksum_ok"] is True


def test_size_ratio_is_against_the_fp32_onnx(verified):
    res, text, _, _ = verified
    ref = next(r for r in res.rows if r.format == "onnx" and r.precision == "fp32")
    int8 = [r for r in res.rows if r.precision == "int8"]
    assert int8
    for r in int8:
        ratio = round(ref.size_bytes / r.size_bytes, 2)
        assert r.size_bytes == (SHIPPED / r.name).stat().st_size and ratio > 2
        assert f"| {round(r.size_bytes / 1024, 1):g} | {ratio:g} |" in text


def test_tampered_artifact_is_a_checksum_error_and_fails_the_run(tmp_path, monkeypatch, capsys):
    """A flipped byte in a copy of the shipped folder: the report and stderr say which file, the report is
    still written in full, and the run ends with an ArtifactError (SYNTHETIC data: no LUDB needed)."""
    import edgewise.models.pretrained as pretrained
    from edgewise.pipelines.ecg import run_ecg_pipeline
    from edgewise.runtime.errors import ArtifactError

    int8 = sorted(n for n, e in _manifest()["artifacts"].items()
                  if e["format"] == "onnx" and e["metadata"]["precision"] == "int8")[0]
    folder = _shipped_copy(tmp_path / "pretrained" / "ecg", ["ecg-unet.onnx", int8])
    data = bytearray((folder / int8).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / int8).write_bytes(bytes(data))
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", folder.parent)

    with pytest.raises(ArtifactError, match=rf"1 shipped artifact\(s\) failed their sha256 check .*{int8}"):
        run_ecg_pipeline(tmp_path / "out", data_dir=None, export=False)
    err = capsys.readouterr().err
    assert f"edgewise: error: shipped artifact {folder / int8} has sha256" in err
    text = (tmp_path / "out" / "report.md").read_text()
    assert f"CHECKSUM ERROR: shipped artifact {folder / int8}" in text and "SYNTHETIC ECG" in text
    assert f"| {int8} | onnx | int8 |" in text and "CHECKSUM MISMATCH" in text
    assert "| ecg-unet.onnx | onnx | fp32 |" in text and "checksum ok (F1 not compared)" in text
    stages = json.loads((tmp_path / "out" / "report.json").read_text())["stage_seconds"]
    assert "compression (shipped artifacts verified)" in stages and stages["total"] > 0


def test_recorded_f1_that_disagrees_is_a_finding_not_a_crash(tmp_path, shipped_ck, ludb_dir):
    """The fp32 ONNX re-stamped with a recorded F1 off by 0.01 (manifest checksum updated): a warning
    naming the difference, status F1 DIFFERS, no checksum error."""
    import onnx

    from edgewise.export.metadata import metadata_json
    from edgewise.pipelines.ecg_compress import verify_shipped
    from edgewise.runtime.artifact import read_metadata, sha256_file

    folder = _shipped_copy(tmp_path / "ecg", ["ecg-unet.onnx"])
    path = folder / "ecg-unet.onnx"
    meta = read_metadata(path)
    wf = meta["metrics"]["test_lead_ii"]["wave_f1"]
    wf["T"] = round(wf["T"] - 0.01, 6)
    proto = onnx.load(str(path))
    next(p for p in proto.metadata_props if p.key == "edgewise").value = metadata_json(meta)
    onnx.save(proto, str(path))
    man = json.loads((folder / "manifest.json").read_text())
    man["artifacts"]["ecg-unet.onnx"].update(sha256=sha256_file(path), size_bytes=path.stat().st_size, metadata=meta)
    (folder / "manifest.json").write_text(json.dumps(man))

    lines: list[str] = []
    res = verify_shipped(shipped_ck, data_dir=ludb_dir, folder=folder, warn=lines.append)
    (row,) = res.rows
    assert res.errors == [] and row.checksum_ok
    assert row.status().startswith("F1 DIFFERS") and row.f1_delta()["T"] == pytest.approx(0.01, abs=1e-6)
    assert any(ln.startswith("edgewise: warning: ecg-unet.onnx: measured held-out lead-II wave F1 differs") and
               "T +0.01" in ln for ln in lines), lines


def test_recompress_progress_ticks_once_per_epoch():
    """The recipe's bar counts fine-tuning epochs from train_unet's per-batch loss hook, adds nothing to
    the loss when there is no hook to wrap, and tops up when a run ends early."""
    from types import SimpleNamespace

    from edgewise.compress.recipe import parse_recipe
    from edgewise.compress.run import _Progress

    recipe = parse_recipe({"name": "t", "step": [
        {"kind": "prune", "ratio": 0.25, "iterations": 2, "finetune_epochs": 3},
        {"kind": "quantize", "formats": ["onnx"], "qat_epochs": 2}]})
    prog = _Progress(recipe, SimpleNamespace(synthetic=False, train=[object()]), enabled=True)
    assert prog.bar.total == 1 + (1 + 2 * 3) + (1 + 2)  # original; prune epochs + measure; PTQ + one QAT round
    seen = []
    out = prog.epochs(3, 4, lambda hook: [seen.append((prog.bar.n, hook(None, None, None))) for _ in range(12)], None)
    assert [n for n, _ in seen[3::4]] == [0, 1, 2] and {h for _, h in seen} == {0.0} and prog.bar.n == 3
    prog.epochs(3, 4, lambda hook: [hook(None, None, None) for _ in range(5)], lambda m, x, lg: 1.5)
    assert prog.bar.n == 6 and len(out) == 12


def test_recompress_runs_the_recipe_with_a_progress_bar(tmp_path, monkeypatch, capsys):
    """--recompress keeps the old path: the recipe runs on the pipeline's checkpoint and the report has
    the recipe's tables (a one-step ONNX recipe on SYNTHETIC ECG keeps this quick)."""
    import edgewise.compress as compress
    from edgewise.pipelines.ecg import run_ecg_pipeline

    recipe = tmp_path / "q.toml"
    recipe.write_text("name = 'tiny'\n[[step]]\nkind = 'quantize'\nformats = ['onnx']\ncalibration_windows = 16\n"
                      "auto_mixed_precision = 0\nqat_epochs = 0\n[budget]\nmax_f1_drop = 1.0\nmin_agreement = 0.0\n")
    monkeypatch.setattr(compress, "default_recipe", lambda task: recipe)
    report = run_ecg_pipeline(tmp_path / "out", data_dir=None, export=False, recompress=True)
    text = report.read_text()
    assert "## 4. Compression" in text and "verified" not in text.split("## 4. Compression")[1].split("##")[0]
    assert "fastest artifact within the accuracy budget" in text and "| ecg-unet-int8-qoperator | onnx | int8 |" in text
    assert "compress tiny: 100%" in capsys.readouterr().err.replace("\r", "\n")
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["compression"]["mode"] == "recompress" and "compression (recipe re-run)" in data["stage_seconds"]


def test_cli_rejects_recompress_with_skip_compress(tmp_path):
    p = subprocess.run([sys.executable, "-m", "edgewise", "pipeline", "ecg", "--out", str(tmp_path / "o"),
                        "--recompress", "--skip-compress"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == ["edgewise: error: --recompress and --skip-compress contradict each other; "
                                             "pass one of them"]
    assert not (tmp_path / "o").exists()
