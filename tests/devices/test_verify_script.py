"""The device-side bundle check (stdlib only, run on the device by `edgewise deploy`) fails clearly on a
hostile manifest instead of crashing."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edgewise.devices._device_scripts import VERIFY


@pytest.mark.parametrize("text, says", [
    ("[" * 200_000 + "]" * 200_000, "unreadable"),
    ("not json", "unreadable"),
    ("[1, 2]", "not an edgewise bundle manifest"),
    ('{"artifacts": [1]}', "not an edgewise bundle manifest"),
])
def test_verify_refuses_bad_manifests_in_one_line(tmp_path, text, says):
    (tmp_path / "manifest.json").write_text(text)
    res = subprocess.run([sys.executable, "-c", VERIFY, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-500:]
    problems = json.loads(res.stdout)
    assert len(problems) == 1 and says in problems[0]
