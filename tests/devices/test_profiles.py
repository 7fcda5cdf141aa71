"""Device profiles: the built-ins, their sources, this machine's detection, and the import wall."""
from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from edgewise.devices import profiles as P
from edgewise.devices.errors import UnknownProfileError
from edgewise.runtime.platform import cpu_info

BUILT_IN = {"pi-zero-2w", "pi3b+", "pi4b", "pi5", "phone-a76", "phone-a55", "this-machine"}
NUMERIC = ("cores", "core", "clock_ghz", "features", "memory_gb", "int8_macs_per_cycle_per_core",
           "fp32_macs_per_cycle_per_core", "mem_bw_gbs", "cache_kb")


def test_built_in_profiles_are_registered():
    assert BUILT_IN <= set(P.known_profiles())


@pytest.mark.parametrize("name", sorted(BUILT_IN - {"this-machine"}))
def test_every_figure_of_a_board_names_its_source(name):
    prof = P.get_profile(name)
    assert prof.arch == "aarch64"
    for key in NUMERIC:
        src = prof.sources.get(key, "")
        assert src, f"{name}.{key} has no source"
        # a figure is either from the vendor's brief/spec or said to be nominal (nobody measured it here)
        assert any(w in src for w in ("vendor", "nominal", "Arm architecture")), f"{name}.{key}: {src}"
    assert "measured here" not in " ".join(prof.sources.values())  # nothing was measured on a Pi here


@pytest.mark.parametrize("name, isa, int8_1thread", [
    ("pi-zero-2w", "aarch64-neon", 8 * 1.0), ("pi3b+", "aarch64-neon", 8 * 1.4), ("pi4b", "aarch64-neon", 8 * 1.5),
    ("pi5", "aarch64-dotprod", 32 * 2.4), ("phone-a76", "aarch64-dotprod", 32 * 2.6),
    ("phone-a55", "aarch64-dotprod", 16 * 1.8)], ids=lambda v: str(v))
def test_isa_and_peak_rates(name, isa, int8_1thread):
    prof = P.get_profile(name)
    assert prof.isa == isa
    assert prof.peak_gmacs("int8") == pytest.approx(int8_1thread)
    # threads beyond the cores do not add peak
    assert prof.peak_gmacs("int8", threads=64) == pytest.approx(int8_1thread * prof.cores)
    assert prof.as_dict()["peak_int8_gmacs"] == pytest.approx(round(int8_1thread * prof.cores, 1))


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(UnknownProfileError, match=r"unknown device profile 'pi6'.*pi4b.*pi5"):
        P.get_profile("pi6")
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        P.get_profile("pi5").peak_gmacs("int4")


def test_register_refuses_a_duplicate():
    with pytest.raises(ValueError, match="already registered"):
        P.register("pi5")(lambda: P.get_profile("pi5"))


def test_profile_validates_its_numbers():
    with pytest.raises(ValueError, match="clock_ghz must be a positive number, got -1.0"):
        P.Profile(name="x", title="x", arch="aarch64", cores=1, core="c", clock_ghz=-1.0, features=(),
                  memory_gb=1, int8_macs_per_cycle_per_core=1, fp32_macs_per_cycle_per_core=1, mem_bw_gbs=1,
                  cache_kb=1)
    with pytest.raises(ValueError, match="profile name 'Bad Name'"):
        P.Profile(name="Bad Name", title="x", arch="aarch64", cores=1, core="c", clock_ghz=1, features=(),
                  memory_gb=1, int8_macs_per_cycle_per_core=1, fp32_macs_per_cycle_per_core=1, mem_bw_gbs=1,
                  cache_kb=1)


def test_this_machine_is_detected():
    prof = P.this_machine()
    info = cpu_info()
    assert prof.name == "this-machine"
    assert prof.arch == platform.machine()
    assert prof.features == info.features and prof.isa == info.isa and prof.cores == info.cores
    assert prof.mem_bw_gbs > 0.1 and prof.cache_kb > 0 and prof.clock_ghz > 0
    assert prof.sources["features"].startswith("measured here")
    assert prof.sources["mem_bw_gbs"].startswith("measured here")
    clock = prof.sources["clock_ghz"]
    assert clock.startswith(("measured here", "guess"))  # a clock is either read from cpufreq or said to be a guess
    if clock.startswith("guess"):
        assert "guess" in prof.notes
    assert P.get_profile("this-machine") is prof  # detected once per process


@pytest.mark.parametrize("features, fields, fp32, int8", [
    ({"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"}, {"vendor_id": "GenuineIntel", "cpu family": "6"}, 32, 128),
    ({"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"}, {"vendor_id": "AuthenticAMD", "cpu family": "25"}, 16, 64),
    ({"avx2", "fma"}, {"vendor_id": "AuthenticAMD", "cpu family": "23"}, 16, 32),
    ({"avx2", "fma", "avx_vnni"}, {"vendor_id": "GenuineIntel", "cpu family": "6"}, 16, 64),
    ({"sse4_2"}, {}, 4, 8),
], ids=["intel-avx512vnni", "zen4-avx512vnni", "zen2-avx2", "intel-avxvnni", "sse-only"])
def test_x86_peak_rates_follow_the_isa(features, fields, fp32, int8):
    got_fp32, got_int8, why_fp32, why_int8 = P._x86_rates(features, fields)
    assert (got_fp32, got_int8) == (fp32, int8)
    assert why_fp32.startswith("derived from the ISA (nominal)") and f"= {fp32:g} fp32" in why_fp32
    assert f"= {int8:g} int8" in why_int8


def test_arm_core_from_cpu_part():
    core, fp32, int8, why, why8 = P._arm_rates({"asimd", "asimddp"}, {"cpu implementer": "0x41", "cpu part": "0xd0b"})
    assert (core, fp32, int8) == ("cortex-a76", 8, 32) and "cortex-a76" in why and "SDOT" in why8
    core, fp32, int8, why, why8 = P._arm_rates({"asimd"}, {"cpu implementer": "0x51", "cpu part": "0x801"})
    assert core is None and int8 == 8 and "core unknown" in why and "no SDOT" in why8


def test_clock_sources(monkeypatch):
    monkeypatch.setattr(P, "_read", lambda path: None)
    ghz, src = P._clock({"cpu mhz": "2596.148"}, "AMD EPYC")
    assert ghz == pytest.approx(2.596) and src.startswith("guess") and "cpu MHz" in src
    ghz, src = P._clock({}, "Intel(R) Xeon(R) CPU @ 2.20GHz")
    assert ghz == pytest.approx(2.2) and "model name" in src
    ghz, src = P._clock({}, "")
    assert ghz == 2.0 and "assumed" in src
    monkeypatch.setattr(P, "_read", lambda path: "1800000" if path.endswith("cpuinfo_max_freq") else None)
    ghz, src = P._clock({"cpu mhz": "600"}, "")
    assert ghz == pytest.approx(1.8) and src.startswith("measured here")


BLOCK = "import sys\nfor m in ('torch', 'tensorflow', 'onnx', 'matplotlib', 'onnx2tf', 'keras'):\n    sys.modules[m] = None\n"


def test_devices_import_without_host_stack():
    mods = ["profiles", "config", "estimate", "store", "report", "errors", "_graph", "_onnx_shapes"]
    code = BLOCK + "".join(f"import edgewise.devices.{m}\n" for m in mods) + (
        "import edgewise._cli.devices\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('scipy', 'matplotlib', 'torch', 'onnxruntime',"
        " 'ai_edge_litert', 'tensorflow', 'onnx') and sys.modules[m] is not None]\n"
        "above = [m for m in sys.modules if m.startswith(('edgewise.models', 'edgewise.compress', 'edgewise.export'))]\n"
        "print(','.join(heavy + above))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"edgewise.devices imported at module level: {out.stdout}"
