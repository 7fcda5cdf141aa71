"""Maintainer step: take this machine's folder paths out of the shipped files' facts, weights untouched.

    .venv/bin/python scripts/scrub_machine_paths.py [--check]

Training facts written before 2026-12-07 named the LUDB folder and the ensemble folder by their absolute
path on the machine that trained them (``LUDB 1.0.1 in /work/shared/data/ludb``), and those facts travel
into every shipped file's metadata, manifest and model card. This rewrites each such path to the folder's
own name (``ludb/``), as new training writes it (``models.ensemble.ecg._data_fact``):

1. each checkpoint in a pretrained folder, re-saved with the same weights (its sha256 changes);
2. each .onnx/.tflite file's metadata (``update_metadata``: graph untouched, ``content_sha256`` re-stamped),
   with every reference to the old checkpoint sha256 re-linked to the new one;
3. the model card's text (paths and the checkpoint's sha256), and manifest.json with the new checksums (its other facts kept).

``--check`` lists what would change and exits 1 if anything would. Distillation still records its members'
folder as given (``teachers``: the students' cache key), so run this after a ship script that distils;
``tests/models/test_shipped_facts.py`` fails while a shipped file names a machine folder.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

# an absolute path under a machine's own top-level folders (/work/shared/data/ludb, /tmp/ew-hydra/members-1p-e20/);
# not an ONNX node name (/up.0/ConvTranspose) nor a URL's path. Paths with spaces, under other roots, or Windows
# paths are not recognised.
ROOTS = ("work", "workspace", "tmp", "home", "root", "mnt", "media", "data", "srv", "opt", "var", "usr", "scratch",
         "private", "Users", "Volumes")
PATH = re.compile(r"(?<![\w.:/-])/(?:%s)/(?:[\w.-]+/)*([\w.-]*[\w-])/?" % "|".join(ROOTS))


def pretrained_folders(root: Path) -> list[Path]:
    """The shipped model folders under ``root``: those with a manifest (not ``__pycache__``)."""
    return sorted(p for p in root.iterdir() if (p / "manifest.json").is_file())


def scrub_text(text: str) -> str:
    """Every absolute path in ``text`` replaced by its last part (with a slash when it names a folder)."""
    return PATH.sub(lambda m: m.group(1) + ("" if "." in m.group(1) else "/"), text)


def scrub(value: Any, relink: dict[str, str]) -> Any:
    """``value`` with ``scrub_text`` applied to every string and every string in ``relink`` replaced whole."""
    if isinstance(value, dict):
        return {k: scrub(v, relink) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, relink) for v in value]
    if isinstance(value, str):
        return relink.get(value, scrub_text(value))
    return value


def scrub_folder(folder: Path, *, check: bool) -> list[str]:
    """Scrub one pretrained folder; returns what changed (or would change, with ``check``)."""
    from edgewise.export.metadata import update_metadata
    from edgewise.models.checkpoint import load_checkpoint, save_checkpoint
    from edgewise.runtime.artifact import read_metadata, write_manifest

    changed: list[str] = []
    relink: dict[str, str] = {}
    for pt in sorted(folder.glob("*.pt")):
        ck = load_checkpoint(pt)
        training, metrics = scrub(ck.training, {}), scrub(ck.metrics, {})
        if training == ck.training and metrics == ck.metrics:
            continue
        changed.append(pt.name)
        if not check:
            relink[ck.sha256] = save_checkpoint(pt, spec=ck.spec, model=ck.model, model_kwargs=ck.model_kwargs,
                                          training=training, metrics=metrics)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())["artifacts"] if manifest_path.is_file() else {}
    for path in sorted(p for p in folder.iterdir() if p.suffix in (".onnx", ".tflite")):
        meta = read_metadata(path) or {}
        new = scrub(meta, relink)
        keys = [k for k in new if new[k] != meta.get(k) and k != "content_sha256"]
        if keys:
            changed.append(f"{path.name} ({', '.join(keys)})")
            if not check:
                update_metadata(path, {k: new[k] for k in keys}, merge=False)
        if path.name in manifest and not check:
            manifest[path.name]["metadata"] = read_metadata(path)
    card = folder / "MODEL_CARD.md"
    if card.is_file():
        text = scrub_text(card.read_text())
        for old, new_sha in relink.items():
            text = text.replace(old, new_sha)
        if text != card.read_text():
            changed.append(card.name)
            if not check:
                card.write_text(text)
    if manifest and not check:
        extra = {k: scrub({kk: vv for kk, vv in v.items() if kk not in ("sha256", "size_bytes")}, relink)
                 for k, v in manifest.items()}
        write_manifest(folder, extra)
    return changed


def main() -> int:
    from edgewise.models.pretrained import PRETRAINED_DIR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only list what would change (exit 1 if anything)")
    args = ap.parse_args()
    any_change = False
    for folder in pretrained_folders(PRETRAINED_DIR):
        changed = scrub_folder(folder, check=args.check)
        any_change |= bool(changed)
        print(f"{folder.name}: " + ("; ".join(changed) if changed else "no machine paths"))
    return 1 if args.check and any_change else 0


if __name__ == "__main__":
    sys.exit(main())
