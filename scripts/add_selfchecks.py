"""Maintainer step: give every artifact in the shipped folders its self-check reference, refresh manifests.

    .venv/bin/python scripts/add_selfchecks.py [FOLDER ...]     (default: every edgewise/models/pretrained/*)

Artifacts exported since the self-check existed carry it already (``edgewise.export.metadata.add_selfcheck``
runs at export and quantisation); this adds it to older files without touching their graphs, and rewrites
each folder's manifest.json with the new checksums and metadata.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from edgewise.export.metadata import add_selfcheck
from edgewise.models.pretrained import PRETRAINED_DIR
from edgewise.runtime.artifact import MANIFEST_NAME, read_metadata, write_manifest


def main(folders: list[Path]) -> None:
    for folder in folders:
        manifest_path = folder / MANIFEST_NAME
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"artifacts": {}}
        entries = {}
        for name, entry in manifest["artifacts"].items():
            path = folder / name
            if path.suffix in (".onnx", ".tflite"):
                ref = add_selfcheck(path)
                print(f"{path}: self-check on {len(ref['positions'])} positions, tolerance {ref['atol']}")
            entries[name] = {**{k: v for k, v in entry.items() if k not in ("sha256", "size_bytes")},
                             "metadata": read_metadata(path)}
        write_manifest(folder, entries)
        print(f"rewrote {manifest_path}")


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:]]
    main(args or sorted(p for p in PRETRAINED_DIR.iterdir() if (p / MANIFEST_NAME).is_file()))
