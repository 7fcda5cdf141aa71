"""What onnxruntime's int8 kernels compute on the CPU this test runs on, against the exact integer result.

The fixtures (make_int8_isa_fixtures.py) are one QLinearConv whose uint8 x int8 products overflow an int16
when added in pairs. The truth depends on the ISA, and the test reads which one it is on
(``edgewise.runtime.platform``): x86 without VNNI adds pairs into a saturating int16 (vpmaddubsw), VNNI
and arm64 accumulate in int32. CI runs this file natively, under ``qemu-x86_64 -cpu max`` (an AVX2-only
x86) and in the arm64 test bed (scripts/test-isa.sh).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from edgewise.runtime.platform import cpu_info, isa_label, u8s8_pairs_saturate  # noqa: E402

FIX = Path(__file__).parent / "fixtures"


def _run(name: str, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(FIX / f"int8_sat_{name}.onnx"), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@pytest.fixture(scope="module")
def io():
    return dict(np.load(FIX / "int8_sat_io.npz"))


def test_seven_bit_weights_are_exact_on_every_isa(io):
    # 255 * 64 * 2 = 32640 < 32767: no pair can overflow, so every ISA gives the exact integer result,
    # bit for bit (requantisation included)
    np.testing.assert_array_equal(_run("reduced", io["x"]), io["exact_reduced"], err_msg=cpu_info().isa)


def test_eight_bit_weights_saturate_exactly_where_the_isa_adds_pairs_in_int16(io):
    y, exact = _run("full", io["x"]), io["exact_full"]
    info = cpu_info()
    if u8s8_pairs_saturate(info):  # x86 without VNNI: the overflowed pairs are clipped at 32767
        assert not np.array_equal(y, exact), f"{info.isa}: expected saturated sums, got the exact result"
        assert float((exact - y).min()) >= 0.0  # clipping only ever lowers these all-positive sums
    else:  # VNNI or arm64: int32 accumulation, exact
        np.testing.assert_array_equal(y, exact, err_msg=info.isa)


@pytest.mark.parametrize(("arch", "features", "label", "saturates"), [
    ("x86_64", ["avx2", "fma"], "x86_64-avx2", True),
    ("x86_64", ["avx2", "avx512f", "avx512bw"], "x86_64-avx512", True),
    ("x86_64", ["avx2", "avx512f", "avx512bw", "avx512_vnni"], "x86_64-avx512vnni", False),
    ("x86_64", ["avx2", "avx_vnni"], "x86_64-avxvnni", False),
    ("aarch64", ["asimd"], "aarch64-neon", False),
    ("aarch64", ["asimd", "asimddp"], "aarch64-dotprod", False),
], ids=["avx2", "avx512", "vnni", "avxvnni", "a72", "a76"])
def test_isa_labels_and_which_isas_saturate(arch, features, label, saturates):
    from edgewise.runtime.platform import CpuInfo

    assert isa_label(arch, features) == label
    assert u8s8_pairs_saturate(CpuInfo(arch, "", 1, tuple(features), label)) is saturates


def test_cpu_info_describes_this_process():
    import platform

    info = cpu_info()
    assert info.arch == platform.machine() and info.cores >= 1
    assert info.isa == isa_label(info.arch, info.features)
    if info.arch == "x86_64":
        assert "sse4_2" in info.features  # every x86-64 that runs these wheels has it
    assert set(info.as_dict()) == {"arch", "model", "cores", "features", "isa"}
