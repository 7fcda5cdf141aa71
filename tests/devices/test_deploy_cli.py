"""`edgewise deploy` argument handling that needs no device: model names, device lists, flag conflicts."""
from __future__ import annotations

import pytest

from edgewise._cli.deploy import _devices, _resolve_model
from edgewise.devices.config import Device, add_device
from edgewise.devices.errors import UnknownDeviceError

from .conftest import run_cli


def test_shipped_artifacts_by_file_name(tmp_path):
    assert _resolve_model("ecg-unet-int8.tflite").name == "ecg-unet-int8.tflite"
    with pytest.raises(FileNotFoundError, match="names several shipped artifacts"):
        _resolve_model("ecg-unet")  # .onnx and .tflite
    with pytest.raises(FileNotFoundError, match=r"no artifact file 'nope.onnx'.*shipped: .*model.onnx"):
        _resolve_model("nope.onnx")
    own = tmp_path / "mine.onnx"
    own.write_bytes(b"x")
    assert _resolve_model(str(own)) == own


def test_device_lists(tmp_path):
    cfg = tmp_path / "devices.toml"
    for name in ("pi-a", "pi-b"):
        add_device(Device(name=name, profile="pi5", ssh=f"pi@{name}.local"), cfg)
    assert [d.name for d in _devices("all", cfg)] == ["pi-a", "pi-b"]
    assert [d.name for d in _devices("pi-b, pi-a", cfg)] == ["pi-b", "pi-a"]
    with pytest.raises(ValueError, match="twice"):
        _devices("pi-a,pi-a", cfg)
    with pytest.raises(ValueError, match="'this-machine' has no SSH target"):
        _devices("this-machine", cfg)
    with pytest.raises(UnknownDeviceError, match="unknown device 'pi-c'; known devices: this-machine, pi-a, pi-b"):
        _devices("pi-a,pi-c", cfg)
    with pytest.raises(ValueError, match="no devices with an SSH target"):
        _devices("all", tmp_path / "empty.toml")


@pytest.mark.parametrize("argv, words", [
    (["--rollback", "x.onnx"], "--rollback takes no MODEL"),
    ([], "name at least one MODEL"),
    (["x.onnx", "--keep", "1"], "--keep must be >= 2"),
], ids=["rollback-with-model", "nothing", "keep"])
def test_flag_mistakes_are_one_line(argv, words, tmp_path):
    res = run_cli(["deploy", *argv, "--device", "pi-a", "--config", str(tmp_path / "none.toml")])
    assert res.rc == 2 and len(res.error_lines) == 1 and words in res.error_lines[0]
