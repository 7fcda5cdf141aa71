"""Deploy bundles: wheel tags for a target, requirements from edgewise's own metadata, a real bundle for the device."""
from __future__ import annotations

import json
import zipfile

import pytest

from edgewise.devices.bundle import BundleError, Target, _requirements, build_bundle, probe_device
from edgewise.runtime.artifact import verify_manifest

from .conftest import shipped


def test_pip_args_list_every_manylinux_tag_up_to_the_glibc():
    args = Target("aarch64", "3.11", "2.36").pip_args()
    plats = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    # pip matches platform tags literally: every step from 2.17 (the first aarch64 manylinux) to 2.36
    assert plats[0] == "manylinux_2_17_aarch64" and "manylinux_2_36_aarch64" in plats
    assert "manylinux_2_37_aarch64" not in plats and "manylinux2014_aarch64" in plats
    assert args[args.index("--abi") + 1] == "cp311" and "--only-binary=:all:" in args
    x86 = Target("x86_64", "3.10", "2.31").pip_args()
    assert "manylinux_2_5_x86_64" in x86 and "manylinux_2_31_x86_64" in x86


def test_a_non_glibc_device_is_refused():
    with pytest.raises(BundleError, match="not glibc"):
        Target("aarch64", "3.11", None).pip_args()


def test_requirements_come_from_the_wheel_metadata(tmp_path):
    whl = tmp_path / "edgewise-0.1.0-py3-none-any.whl"
    meta = "\n".join(["Metadata-Version: 2.4", "Name: edgewise", "Version: 0.1.0",
                      "Requires-Dist: numpy<2,>=1.24", "Requires-Dist: onnxruntime<1.33,>=1.24.1",
                      'Requires-Dist: ai-edge-litert<2.4,>=2.1.6; extra == "tflite"',
                      'Requires-Dist: torch==2.13.0; extra == "host"',
                      "Requires-Dist: tomli>=1.1; python_version < \"3.11\" and extra == \"tflite\""])
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("edgewise-0.1.0.dist-info/METADATA", meta)
    assert _requirements(whl) == ["ai-edge-litert<2.4,>=2.1.6", "numpy<2,>=1.24", "onnxruntime<1.33,>=1.24.1",
                                  'tomli>=1.1; python_version < "3.11"']


def test_bundle_refuses_what_is_not_an_artifact(tmp_path):
    ckpt = next(p for p in (shipped()[0].parent).glob("*.pt"))
    with pytest.raises(BundleError, match="only .onnx/.tflite"):
        build_bundle([ckpt], Target("aarch64", "3.11", "2.36"), tmp_path / "b")
    a = shipped()[0]
    twin = tmp_path / "other" / a.name
    twin.parent.mkdir()
    twin.write_bytes(a.read_bytes())
    with pytest.raises(BundleError, match="both named"):
        build_bundle([a, twin], Target("aarch64", "3.11", "2.36"), tmp_path / "c")


@pytest.mark.device
def test_probe_and_bundle_for_the_device(device, tmp_path):
    from edgewise.devices.ssh import SshSession, SshTarget

    with SshSession(SshTarget.from_device(device)) as s:
        info = probe_device(s, root="~/edgewise/releases")
    assert (info["arch"], info["python_version"], info["glibc"]) == ("aarch64", "3.11", "2.36")
    assert info["emulated"] and "qemu-user" in info["cpu_model"] and info["free_bytes"] > 0
    arts = shipped()
    b = build_bundle(arts, Target(info["arch"], info["python_version"], info["glibc"]), tmp_path / "bundle")
    manifest = verify_manifest(b.path)  # every file, wheels included, is checksummed
    files = {p.relative_to(b.path).as_posix() for p in b.path.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["artifacts"]) == files
    wheels = sorted(f.split("/")[1] for f in files if f.startswith("wheels/"))
    for name in ("numpy-", "onnxruntime-", "ai_edge_litert-", "edgewise-0", "pip-"):
        assert any(w.startswith(name) for w in wheels), name
    native = [w for w in wheels if not w.endswith("none-any.whl")]
    assert native and all("aarch64" in w for w in native), native
    assert sorted(b.models) == sorted(f"models/{a.name}" for a in arts)
    info_json = json.loads((b.path / "bundle.json").read_text())
    assert info_json["target"] == {"arch": "aarch64", "python": "3.11", "glibc": "2.36"}
    assert info_json["install"].startswith("edgewise[tflite]==")
