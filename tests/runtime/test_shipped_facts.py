"""Shipped files name no folder of the machine that trained them (scripts/scrub_machine_paths.py), and every
checkpoint hash they quote is their checkpoint's (numpy only: runs where torch is not installed)."""
from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import pytest

from edgewise.models.pretrained import PRETRAINED_DIR
from edgewise.runtime.artifact import read_metadata, sha256_file

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "scrub_machine_paths.py"


@functools.lru_cache(maxsize=1)
def _scrub():
    spec = importlib.util.spec_from_file_location("scrub_machine_paths", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_scrub_text_keeps_folder_names_and_leaves_graph_names_and_urls():
    s = _scrub()
    assert s.scrub_text("LUDB 1.0.1 (160 records in /work/shared/data/ludb)") == "LUDB 1.0.1 (160 records in ludb/)"
    assert s.scrub_text("teachers /tmp/ew-hydra/members-1p-e20/, file /root/x/ecg-unet.pt.") == \
        "teachers members-1p-e20/, file ecg-unet.pt."
    for kept in ("/up.0/ConvTranspose", "https://physionet.org/content/ludb/1.0.1/", "P/QRS/T", "ms / window"):
        assert s.scrub_text(kept) == kept


def test_scrub_relinks_a_checkpoint_hash_and_walks_nested_facts():
    s = _scrub()
    facts = {"training": {"data": "in /work/shared/data/ludb", "members": ["/tmp/a/m-0.pt"]}, "sha": "old", "n": 3}
    assert s.scrub(facts, {"old": "new"}) == {"training": {"data": "in ludb/", "members": ["m-0.pt"]}, "sha": "new",
                                              "n": 3}


FOLDERS = [p.name for p in _scrub().pretrained_folders(PRETRAINED_DIR)]


def test_the_shipped_folders_are_found():
    assert {"ecg", "ecg-hydra", "mosquito"} <= set(FOLDERS)


@pytest.mark.parametrize("folder", FOLDERS)
def test_shipped_files_name_no_machine_folder(folder):
    s = _scrub()
    d = PRETRAINED_DIR / folder
    texts = {p.name: p.read_text() for p in d.iterdir() if p.suffix in (".json", ".md")}
    texts.update({p.name: json.dumps(read_metadata(p)) for p in d.iterdir() if p.suffix in (".onnx", ".tflite")})
    assert texts, f"nothing shipped in {d}"
    found = {name: sorted({m.group(0) for m in s.PATH.finditer(t)}) for name, t in texts.items()}
    assert not {k: v for k, v in found.items() if v}, found


@pytest.mark.parametrize("folder", FOLDERS)
def test_shipped_files_quote_their_own_checkpoint_hash(folder):
    """A metadata-only rewrite of a checkpoint (its sha256 changes) must re-link every file that names it: an fp32
    file by ``source_checkpoint_sha256``, a compressed one by ``metrics.uncompressed_model.checkpoint_sha256`` (its
    ``source_checkpoint_sha256`` is the compression run's own intermediate checkpoint; ``pipelines.ecg_compress``
    reads the lineage the same way)."""
    d = PRETRAINED_DIR / folder
    ckpts = {sha256_file(p) for p in d.glob("*.pt")}
    for side in d.glob("*.json"):
        facts = json.loads(side.read_text())
        if "sha256" in facts and side.with_suffix(".pt").is_file():
            assert facts["sha256"] == sha256_file(side.with_suffix(".pt")), side.name
    quoted = 0
    for p in d.iterdir():
        if p.suffix not in (".onnx", ".tflite"):
            continue
        meta = read_metadata(p) or {}
        sha = meta.get("source_checkpoint_sha256") if meta.get("precision") == "fp32" else \
            ((meta.get("metrics") or {}).get("uncompressed_model") or {}).get("checkpoint_sha256")
        if sha and ckpts:
            assert sha in ckpts, f"{p.name} quotes checkpoint {sha[:12]}, not the shipped one"
            quoted += 1
    assert quoted or not ckpts, f"no file in {folder} quotes its checkpoint"
