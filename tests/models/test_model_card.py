"""The ECG model card: written from the checkpoint's facts, with the compressed artifacts of its manifest."""
from __future__ import annotations

import json
import shutil

from edgewise.models.pretrained import PRETRAINED_DIR


def test_card_lists_compressed_artifacts_from_the_manifest(tmp_path):
    from edgewise.models.ecg.model_card import write_model_card

    src = PRETRAINED_DIR / "ecg"
    ckpt = tmp_path / "ecg-unet.pt"
    shutil.copyfile(src / "ecg-unet.json", tmp_path / "ecg-unet.json")  # the card reads the JSON sidecar only
    card = write_model_card(tmp_path / "MODEL_CARD.md", ckpt).read_text()
    assert "Compressed artifacts" not in card  # no manifest beside it: no section
    facts = json.loads((src / "ecg-unet.json").read_text())
    assert f"{facts['parameters']:,}" in card and facts["sha256"] in card
    manifest = {"schema": "x", "artifacts": {
        "m-int8.tflite": {"size_bytes": 1000, "metadata": {
            "precision": "int8", "quantization": {"weights": "int8 per-tensor", "fp32_size_bytes": 3600},
            "metrics": {"test_lead_ii_wave_f1": {"P": 0.99, "QRS": 1.0, "T": 0.995}},
            "training": {"compression": {"pruning": {"params_after": 74745}}}}},
        "m.onnx": {"size_bytes": 5000, "metadata": {"precision": "fp32"}}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    card = write_model_card(tmp_path / "MODEL_CARD.md", ckpt).read_text()
    row = next(line for line in card.splitlines() if line.startswith("| m-int8.tflite"))
    assert row == "| m-int8.tflite | weights int8 per-tensor | 74745 | 1,000 | 3.600 | 0.9900 / 1.0000 / 0.9950 | — |"
    assert "| m.onnx" not in card  # fp32 files are the model itself, not compressed artifacts
