"""Deploy's default selection: where the timings come from (store, measurement, estimate) and what is recorded."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgewise.devices.autoselect import Measure, SelectConfig, Selection, runtime_versions
from edgewise.devices.config import Device
from edgewise.devices.store import ResultsStore
from edgewise.runtime.defaults import DEFAULTS_NAME, read_defaults, recorded_default

ART = Path(__file__).resolve().parents[2] / "edgewise" / "models" / "pretrained"
DEVICE = Device(name="pi-test", profile="pi4b", ssh="pi@pi-test.local")
WHEELS = [Path("wheels/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl"),
          Path("wheels/ai_edge_litert-2.3.0-cp311-cp311-manylinux_2_27_aarch64.whl"),
          Path("wheels/numpy-1.26.4-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl")]
# made-up device timings (ms); the accuracy is each real file's own (what is within budget is recomputed below)
MS = {"ecg-unet.onnx": 160.0, "ecg-unet.tflite": 140.0, "ecg-unet-int8.onnx": 40.0,
      "ecg-unet-int8.tflite": 55.0, "model.onnx": 2.0, "model.tflite": 2.5}


@pytest.fixture()
def bundle(tmp_path) -> Path:
    """A bundle-shaped folder (models/<file>) with the shipped ECG and mosquito artifacts."""
    folder = tmp_path / "bundle"
    (folder / "models").mkdir(parents=True)
    for name in MS:
        src = ART / ("mosquito" if name.startswith("model.") else "ecg") / name
        (folder / "models" / name).symlink_to(src)
    return folder


def _models(folder: Path) -> list[str]:
    return sorted(f"models/{p.name}" for p in (folder / "models").iterdir())


def _selection(bundle: Path, *, emulated: bool = False, **config) -> Selection:
    return Selection(SelectConfig(**config), bundle, _models(bundle), WHEELS, DEVICE, emulated=emulated)


def _results(sel: Selection, *, runs: int = 50, version: dict | None = None, **over) -> list[dict]:
    """Bench results as the device's `edgewise bench --json` reports them (the timings of MS)."""
    version = version or {"onnx": "1.32.0", "tflite": "2.3.0"}
    out = []
    for c in sel.candidates:
        out.append({"model": c.name, "path": f"/home/pi/edgewise/releases/r/{c.model}", "sha256": c.sha256,
                    "format": c.format, "precision": c.precision, "task": c.task,
                    "runtime": "onnxruntime" if c.format == "onnx" else "litert", "runtime_version": version[c.format],
                    "threads": 1, "runs": runs, "p50_ms": MS[c.name], "model_p50_ms": MS[c.name] * 0.9,
                    "cpu": {"arch": "aarch64", "model": "Raspberry Pi 4", "cores": 4, "features": ["neon"]},
                    "isa": "aarch64-neon", "device": "this-machine", "emulated": False, "selfcheck": "ok",
                    "hostname": "pi-test", **over})
    return out


def _within(names) -> dict[str, bool]:
    """Each ECG file within 0.2 wave-F1 points of the best fp32 file, recomputed from the metadata."""
    from edgewise.runtime.artifact import read_metadata

    meta = {n: read_metadata(ART / "ecg" / n) for n in names}
    f1 = {n: m["metrics"].get("test_lead_ii_wave_f1") or m["metrics"]["test_lead_ii"]["wave_f1"] for n, m in meta.items()}
    best = {k: max(f1[n][k] for n in names if meta[n]["precision"] == "fp32") for k in ("P", "QRS", "T")}
    return {n: all(best[k] - f1[n][k] <= 0.002 + 1e-12 for k in best) for n in names}


def _write(doc: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DEFAULTS_NAME).write_text(json.dumps(doc))
    return folder


def test_runtime_versions_from_wheel_names():
    assert runtime_versions(WHEELS) == {"onnxruntime": "1.32.0", "litert": "2.3.0"}


def test_emulated_device_gets_the_hosts_estimate_and_no_measurement(bundle, tmp_path):
    sel = _selection(bundle, emulated=True, db=tmp_path / "none.sqlite")
    assert not sel.measure and sel.selfcheck_runs is None and sel.warmup == 0
    doc, choices = sel.finish([])
    ecg = choices["ecg-delineation"]
    assert ecg.timing == "estimate" and "host estimate for pi4b" in ecg.reason and "the device is emulated" in ecg.reason
    rows = {r["model"]: r for r in ecg.rows}
    assert {n: r["within_budget"] for n, r in rows.items()} == _within(rows)
    assert ecg.within_budget
    assert ecg.p50_ms == pytest.approx(min(r["p50_ms"] for r in ecg.rows if r["within_budget"]), abs=1e-4)
    assert not (tmp_path / "none.sqlite").exists()  # a lookup never creates the database
    # what deploy writes is what the device reads back
    release = _write(doc, tmp_path / "release")
    (release / "models").symlink_to(bundle / "models")
    assert read_defaults(release)["tasks"]["ecg-delineation"]["model"] == ecg.model


def test_real_device_without_stored_results_measures_and_files_them(bundle, tmp_path):
    db = tmp_path / "results.sqlite"
    sel = _selection(bundle, db=db, measure_runs=20)
    assert sel.measure and sel.selfcheck_runs == 20 and sel.warmup == 5
    doc, choices = sel.finish(_results(sel, runs=20))
    ok = _within([n for n in MS if n.startswith("ecg-")])
    want = min((n for n in ok if ok[n]), key=MS.get)
    assert {t: c.name for t, c in choices.items()} == {"ecg-delineation": want, "mosquito-detection": "model.onnx"}
    ecg = choices["ecg-delineation"]
    assert ecg.reason.startswith(f"chose {want}: ") and "vs 160 ms fp32 ONNX (measured during deploy: 20 runs), " \
        "P/QRS/T wave F1 within 0.2 points of fp32" in ecg.reason
    faster = [n for n in ok if MS[n] < MS[want]]  # out of budget
    assert ("is faster" in ecg.reason and "points below" in ecg.reason) == bool(faster)
    with ResultsStore(db) as store:
        rows = store.query(device="pi-test")
    assert len(rows) == 6 and {r["profile"] for r in rows} == {"pi4b"} and {r["runs"] for r in rows} == {20}
    # the next deploy of the same files finds them and measures nothing
    again = _selection(bundle, db=db)
    assert not again.measure
    _, choices = again.finish([])
    assert choices["ecg-delineation"].timing == "stored" and choices["ecg-delineation"].name == ecg.name
    runtime = "litert 2.3.0" if want.endswith(".tflite") else "onnxruntime 1.32.0"  # the chosen file's runtime
    assert f"stored bench results: 20 runs, {runtime}" in choices["ecg-delineation"].reason


def test_stored_results_of_another_runtime_version_or_device_do_not_count(bundle, tmp_path):
    db = tmp_path / "results.sqlite"
    probe = _selection(bundle, db=db)
    with ResultsStore(db) as store:
        for r in _results(probe, version={"onnx": "1.24.1", "tflite": "2.3.0"}):
            store.add(r, device="pi-test", profile="pi4b", fingerprint="f")
        for r in _results(probe):
            store.add(r, device="another-pi", profile="pi4b", fingerprint="g")
    sel = _selection(bundle, db=db)
    assert sel.measure  # the ONNX files ran on an older onnxruntime there; the current ones on another device
    assert {t.source for t in sel.stored.values()} == {"stored"} and len(sel.stored) == 3  # the TFLite files


def test_a_corrupt_store_is_a_warning_and_is_left_untouched(bundle, tmp_path):
    db = tmp_path / "results.sqlite"
    db.write_bytes(b"not a database at all" * 300)
    before = db.read_bytes()
    sel = _selection(bundle, db=db)
    assert sel.measure and "bench results not read" in sel.warnings[0]
    doc, choices = sel.finish(_results(sel))
    assert choices["ecg-delineation"].timing == "measured" and choices["ecg-delineation"].within_budget
    assert "were not filed" in sel.warnings[1] and "bench results not read" in doc["note"]
    assert db.read_bytes() == before


@pytest.mark.parametrize("measure, emulated, measures, source", [
    ("never", False, False, "estimate"), ("always", True, True, "measured"), ("auto", True, False, "estimate"),
    ("auto", False, True, "measured")], ids=["never", "always-emulated", "auto-emulated", "auto-real"])
def test_when_deploy_measures(bundle, tmp_path, measure, emulated, measures, source):
    sel = _selection(bundle, emulated=emulated, measure=measure, db=tmp_path / "r.sqlite")
    assert sel.measure is measures
    _, choices = sel.finish(_results(sel, emulated=emulated) if measures else _results(sel, runs=1))
    assert {c.timing for c in choices.values()} == {source}


def test_overrides_and_no_auto_select(bundle, tmp_path):
    sel = _selection(bundle, emulated=True, overrides=("ecg-unet.onnx",), db=tmp_path / "r.sqlite")
    doc, choices = sel.finish([])
    assert choices["ecg-delineation"].timing == "override" and choices["ecg-delineation"].name == "ecg-unet.onnx"
    assert doc["tasks"]["ecg-delineation"]["reason"] == "chose ecg-unet.onnx: named with --default"
    assert choices["mosquito-detection"].timing == "estimate"
    doc, choices = _selection(bundle, auto=False, overrides=("model.tflite",)).finish([])
    assert doc["auto_select"] is False and list(doc["tasks"]) == ["mosquito-detection"]
    doc, _ = _selection(bundle, auto=False).finish([])
    assert doc["tasks"] == {}
    with pytest.raises(ValueError, match=r"--default nope.onnx: is not one of the deployed artifacts \(ecg-unet"):
        _selection(bundle, overrides=("nope.onnx",))
    with pytest.raises(ValueError, match=r"--default model: names several deployed artifacts \(model.onnx, model.tflite\)"):
        _selection(bundle, overrides=("model",))
    with pytest.raises(ValueError, match="are both ecg-delineation artifacts"):
        _selection(bundle, overrides=("ecg-unet.onnx", "ecg-unet.tflite"))


def test_config_is_checked():
    assert SelectConfig(measure="never").measure is Measure.NEVER
    with pytest.raises(ValueError, match=r"measure must be one of \['auto', 'always', 'never'\], got 'sometimes'"):
        SelectConfig(measure="sometimes")
    with pytest.raises(ValueError, match="measure_runs must be a positive integer, got 0"):
        SelectConfig(measure_runs=0)


def test_recorded_default_round_trip(bundle, tmp_path):
    """The device side (edgewise.runtime.defaults) finds the file deploy recorded."""
    doc, choices = _selection(bundle, emulated=True, db=tmp_path / "r.sqlite").finish([])
    release = _write(doc, tmp_path / "release")
    (release / "models").mkdir()
    for c in choices.values():
        (release / c.model).write_bytes((bundle / c.model).read_bytes())
    rec = recorded_default("mosquito-detection", release=release, warn=pytest.fail)
    assert rec.path == (release / choices["mosquito-detection"].model).resolve()
    assert rec.reason == choices["mosquito-detection"].reason


def test_an_unreadable_artifact_is_left_to_the_devices_checksum_check(bundle):
    """Deploy builds the selection before copying: a tampered file must not fail here, but on the device."""
    art = bundle / "models" / "model.onnx"
    data = bytearray(art.read_bytes())
    art.unlink()
    data[len(data) // 2] ^= 0x01
    art.write_bytes(bytes(data))
    sel = _selection(bundle, emulated=True)
    assert "model.onnx" not in {c.name for c in sel.candidates} and len(sel.candidates) == 5
    assert len(sel.unreadable) == 1 and "content does not match" in sel.unreadable[0]
