"""The postprocess facts of a calibrated ECG model (edgewise.models.ecg.calibrate.p_edge_postprocess) and their way
from the checkpoint into an artifact's metadata."""
from __future__ import annotations


def test_offsets_of_calibration_and_recalibration_add_up():
    from edgewise.models.ecg.calibrate import p_edge_postprocess

    assert p_edge_postprocess({}) == {}
    assert p_edge_postprocess({"calibration": {"p_logit_bias": 2.0}}) == {"p_edge_offset": 2.0}
    pruned = {"calibration": {"p_logit_bias": 2.0},
              "compression": {"pruning": {"recalibration": {"p_logit_bias": -0.5}}}}
    assert p_edge_postprocess(pruned) == {"p_edge_offset": 1.5}
    assert p_edge_postprocess({"calibration": {"p_logit_bias": 0.0}}) == {}


def test_the_facts_travel_from_checkpoint_to_artifact_and_runtime():
    from pathlib import Path

    from edgewise.export import resolve_checkpoint
    from edgewise.export.metadata import build_metadata
    from edgewise.runtime.ecg.model import load_artifact_fn

    shipped = Path(__file__).resolve().parents[2] / "edgewise" / "models" / "pretrained" / "ecg"
    ckpt = resolve_checkpoint(shipped / "ecg-unet.pt")
    meta = build_metadata(ckpt, fmt="onnx", io={})
    assert meta["postprocess"] == ckpt.training["postprocess"] == {"p_edge_offset": 2.0}
    for name in ("ecg-unet.onnx", "ecg-unet-int8.onnx", "ecg-unet.tflite", "ecg-unet-int8.tflite"):
        _, info = load_artifact_fn(shipped / name)
        assert info.post.p_edge_offset == 2.0, name  # the shipped files draw P edges without the offset
