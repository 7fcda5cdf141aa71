"""Shipped files name no folder of the machine that trained them (scripts/scrub_machine_paths.py)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from edgewise.models.pretrained import PRETRAINED_DIR
from edgewise.runtime.artifact import read_metadata

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "scrub_machine_paths.py"


def _scrub():
    spec = importlib.util.spec_from_file_location("scrub_machine_paths", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_scrub_text_keeps_folder_names_and_leaves_graph_names_and_urls():
    s = _scrub()
    assert s.scrub_text("LUDB 1.0.1 (160 records in /work/shared/data/ludb)") == "LUDB 1.0.1 (160 records in ludb/)"
    assert s.scrub_text("teachers /tmp/ew-hydra/members-1p-e20, file /root/x/ecg-unet.pt.") == \
        "teachers members-1p-e20/, file ecg-unet.pt."
    for kept in ("/up.0/ConvTranspose", "https://physionet.org/content/ludb/1.0.1/", "P/QRS/T", "ms / window"):
        assert s.scrub_text(kept) == kept


def test_scrub_relinks_a_checkpoint_hash_and_walks_nested_facts():
    s = _scrub()
    facts = {"training": {"data": "in /work/shared/data/ludb", "members": ["/tmp/a/m-0.pt"]}, "sha": "old", "n": 3}
    assert s.scrub(facts, {"old": "new"}) == {"training": {"data": "in ludb/", "members": ["m-0.pt"]}, "sha": "new",
                                              "n": 3}


@pytest.mark.parametrize("folder", sorted(p.name for p in PRETRAINED_DIR.iterdir() if p.is_dir()))
def test_shipped_files_name_no_machine_folder(folder):
    s = _scrub()
    d = PRETRAINED_DIR / folder
    texts = {p.name: p.read_text() for p in d.iterdir() if p.suffix in (".json", ".md")}
    texts.update({p.name: json.dumps(read_metadata(p)) for p in d.iterdir() if p.suffix in (".onnx", ".tflite")})
    assert texts, f"nothing shipped in {d}"
    found = {name: sorted({m.group(0) for m in s.PATH.finditer(t)}) for name, t in texts.items()}
    assert not {k: v for k, v in found.items() if v}, found
