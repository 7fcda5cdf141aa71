"""A bundle passed in (``edgewise deploy --bundle``) is untrusted: its ``bundle.json`` is checked with the same
validator as artifact metadata and manifests before anything is read from it."""
from __future__ import annotations

import json

import pytest

from edgewise.devices.bundle import BUNDLE_INFO, BundleError, open_bundle
from edgewise.runtime.validator import check

GOOD = {"schema": "edgewise-bundle/1", "target": {"arch": "aarch64", "python": "3.11", "glibc": "2.36"},
        "models": ["models/model.onnx"], "install": "edgewise[tflite]==0.1.0", "pip_wheel": "wheels/pip-25.0-py3-none-any.whl",
        "requirements": ["numpy<2,>=1.24"], "edgewise_version": "0.1.0", "created": "2026-12-06T00:00:00+00:00"}


def _bundle(tmp_path, info) -> object:
    (tmp_path / "bundle.json").write_text(info if isinstance(info, str) else json.dumps(info))
    return tmp_path


def test_a_good_bundle_json_opens(tmp_path):
    b = open_bundle(_bundle(tmp_path, GOOD))
    assert b.models == ("models/model.onnx",) and b.target.glibc == "2.36"


@pytest.mark.parametrize("edit, message", [
    ({"schema": "edgewise-bundle/2"}, r"bundle.json key 'schema' is \"edgewise-bundle/2\""),
    ({"models": ["models/../../etc/passwd"]}, r"bundle.json key 'models\[0\]' is \"models/../../etc/passwd\": expected "
                                              r"a path models/<file> inside the bundle"),
    ({"models": ["/etc/passwd"]}, r"'models\[0\]' is \"/etc/passwd\""),
    ({"models": []}, r"'models' is \[\]: expected a list of 1..1000 items"),
    ({"pip_wheel": "wheels/evil.sh"}, r"'pip_wheel' is \"wheels/evil.sh\": expected a path wheels/pip-\*.whl"),
    ({"target": {"arch": "aarch64; rm -rf ~", "python": "3.11"}}, r"'target.arch' is \"aarch64; rm -rf ~\""),
    ({"target": {"arch": "aarch64"}}, r"required bundle.json key 'target.python' is missing"),
    ({"install": 5}, r"'install' is 5: expected a string"),
], ids=["schema", "dotdot", "absolute", "no-models", "pip-wheel", "arch", "no-python", "install-type"])
def test_a_bad_bundle_json_is_one_clear_error(tmp_path, edit, message):
    with pytest.raises(BundleError, match=message) as e:
        open_bundle(_bundle(tmp_path, {**GOOD, **edit}))
    assert "\n" not in str(e.value) and "bundle.json" in str(e.value)


@pytest.mark.parametrize("text, message", [
    ("{not json", r"the bundle description in .*bundle.json is not valid JSON"),
    ("[1]", r"is not a JSON object"),
    ("[" * 100_000 + "]" * 100_000, r"nested deeper than 32 levels"),
    (" " * (2 << 20), r"bundle.json is 2097152 bytes, not a bundle description"),
], ids=["not-json", "array", "deep", "huge"])
def test_an_unreadable_bundle_json_is_one_clear_error(tmp_path, text, message):
    with pytest.raises(BundleError, match=message):
        open_bundle(_bundle(tmp_path, text))


def test_no_bundle_json(tmp_path):
    with pytest.raises(BundleError, match="not an edgewise bundle"):
        open_bundle(tmp_path)


def test_the_rule_accepts_what_build_bundle_writes():
    check({**GOOD, "target": {**GOOD["target"], "glibc": None}}, BUNDLE_INFO, key="", where="b", error=BundleError)
