"""`edgewise bench report`: per-device table with estimates and errors, the emulated flag, estimates for every
built-in profile not measured, the HTML + PNG, and a corrupt database refused."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from edgewise.devices import estimate as E
from edgewise.devices.errors import StoreError
from edgewise.devices.profiles import known_profiles, this_machine
from edgewise.devices.report import EMULATED_NOTE, collect, report
from edgewise.devices.store import ResultsStore, fingerprint
from edgewise.runtime.platform import cpu_info

ART = Path(__file__).resolve().parents[2] / "edgewise" / "models" / "pretrained"
ECG8 = ART / "ecg" / "ecg-unet-int8.tflite"
MOSQ = ART / "mosquito" / "model.onnx"


def _result(artifact: Path, model_ms: float, **over) -> dict:
    import socket

    cost = E.artifact_cost(artifact)
    info = cpu_info()
    r = {"model": artifact.name, "path": str(artifact), "sha256": cost.sha256, "format": cost.format,
         "precision": cost.precision, "task": cost.task, "runtime": cost.runtime, "runtime_version": "x",
         "threads": 1, "unit": cost.unit, "runs": 50, "p50_ms": model_ms + 0.5, "p90_ms": model_ms + 0.7,
         "p99_ms": model_ms + 1.0, "model_p50_ms": model_ms, "cpu": info.as_dict(), "isa": info.isa,
         "device": "this-machine", "emulated": False, "selfcheck": "ok", "edgewise_version": "0.1.0",
         "time": "2026-12-06T00:00:00+00:00", "hostname": socket.gethostname()}
    r.update(over)
    return r


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "results.sqlite"
    here = this_machine()
    with ResultsStore(path) as store:
        for p, factor in ((ECG8, 2.6), (MOSQ, 1.3)):
            roof, _ = E.roofline_ms(E.artifact_cost(p), here)
            r = _result(p, factor * roof)
            # whoever computed the stored fingerprint, "this machine" is recognised by hostname + CPU
            store.add(r, device="this-machine", profile="this-machine", fingerprint="computed-elsewhere")
        other = _result(MOSQ, 0.05, hostname="another-host", cpu={"arch": "x86_64", "model": "Xeon", "cores": 64,
                                                                    "features": ["avx2"], "isa": "x86_64-avx2"})
        store.add(other, device="this-machine", profile="this-machine", fingerprint=fingerprint(other))
        emu = _result(ECG8, 45.0, emulated=True, isa="aarch64-dotprod", hostname="arm64-testbed",
                      path="/home/pi/edgewise/current/ecg-unet-int8.tflite")  # a device path: found by sha
        store.add(emu, device="arm64-emu", profile="pi5", fingerprint=fingerprint(emu))
    return path


def test_text_report(db):
    text = report(db)
    import socket

    assert f"this-machine (profile this-machine, host {socket.gethostname()})" in text
    assert "this-machine (profile this-machine, host another-host: not this machine, no estimate)" in text
    assert "arm64-emu (profile pi5)" in text
    assert EMULATED_NOTE in text
    emu_line = next(line for line in text.splitlines() if line.startswith("arm64-emu ") and "yes" in line)
    assert "yes*" in emu_line and "n/a*" in emu_line  # an emulated row gets an estimate but no error
    here = [line for line in text.splitlines() if line.startswith("this-machine  ")]
    assert len(here) == 3
    # the two runs from this machine get an estimate and its error; the one from another host cannot
    assert sum(line.rstrip().endswith("%") for line in here) == 2
    assert sum(line.rstrip().endswith("-         -") for line in here) == 1
    # pi5 was only emulated: it still gets estimates, like every other built-in profile nobody measured
    section = text.split("Estimates for built-in profiles not measured")[1]
    header = section.splitlines()[1]
    for name in known_profiles():
        if name != "this-machine":
            assert name in header
    assert "ESTIMATES, not measurements" in text and "Calibrations used" in text


def test_collect_errors_match_the_calibration(db):
    data = collect(db)
    measured = {m["row"]["model"]: m for m in data["measured"]
                if not m["row"]["emulated"] and m["row"]["hostname"] != "another-host"}
    assert len(measured) == 2
    # one run per (isa, precision, runtime): in-sample the estimate reproduces it exactly
    for m in measured.values():
        assert m["error"] == pytest.approx(0.0, abs=1e-3)
        assert m["estimate"].kind == "estimate"
    emu = next(m for m in data["measured"] if m["row"]["emulated"])
    assert emu["error"] is None and emu["estimate"].profile == "pi5"
    assert emu["estimate"].calibration.level == "precision+runtime, other ISA"  # from this machine, never from qemu
    assert {e.profile for e in data["unmeasured"]} == set(known_profiles()) - {"this-machine"}


def test_html_report_and_plot(db, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "rep" / "report.html"
    text = report(db, html=out)
    png = out.with_suffix(".png")
    assert f"wrote {out}" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    page = out.read_text()
    assert 'src="report.png"' in page and "ESTIMATES" in page and EMULATED_NOTE in page and "pi-zero-2w" in page


def test_empty_database(tmp_path):
    assert "no stored results yet" in report(tmp_path / "new.sqlite")
    assert not (tmp_path / "new.sqlite").exists()  # a report never creates a database


def test_corrupt_database_is_refused(tmp_path):
    bad = tmp_path / "results.sqlite"
    bad.write_bytes(b"\x00garbage" * 500)
    before = hashlib.sha256(bad.read_bytes()).hexdigest()
    with pytest.raises(StoreError, match="not an SQLite database"):
        report(bad, html=tmp_path / "r.html")
    assert hashlib.sha256(bad.read_bytes()).hexdigest() == before
    assert not (tmp_path / "r.html").exists()


def test_html_without_matplotlib_is_a_clear_error(db, tmp_path):
    code = ("import sys\nsys.modules['matplotlib'] = None\n"
            "from edgewise.devices.report import report\n"
            f"print(report({str(db)!r}).splitlines()[0])\n"
            "try:\n"
            f"    report({str(db)!r}, html={str(tmp_path / 'r.html')!r})\n"
            "except Exception as e:\n"
            "    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    first, error = out.stdout.strip().splitlines()
    assert first.startswith("edgewise bench report")
    assert error.startswith("DeviceError") and "needs matplotlib" in error
