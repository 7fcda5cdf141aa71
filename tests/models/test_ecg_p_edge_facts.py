"""The postprocess facts of a calibrated ECG model (edgewise.models.ecg.calibrate.p_edge_postprocess) and their way
from the checkpoint into an artifact's metadata."""
from __future__ import annotations


def test_offsets_of_calibration_and_recalibration_add_up():
    from edgewise.models.ecg.calibrate import ecg_post, p_edge_postprocess

    assert p_edge_postprocess({}) == {} and ecg_post({}).p_edge_offset == 0.0
    trained = {"calibration": {"p_logit_bias": 2.0}}
    assert p_edge_postprocess(trained) == {"p_edge_offset": 2.0}  # a checkpoint from before the facts existed
    assert ecg_post(trained).p_edge_offset == 2.0
    # a pruning step re-calibrates by -0.5, a second one by -2.0: each adds to what the head carries
    once = {**trained, "postprocess": p_edge_postprocess(trained, -0.5)}
    assert once["postprocess"] == {"p_edge_offset": 1.5}
    twice = {**once, "postprocess": p_edge_postprocess(once, -2.0)}
    assert twice["postprocess"] == {"p_edge_offset": -0.5}  # kept, so a third step adds to the true total
    assert ecg_post(twice).p_edge_offset == -0.5  # <= 0 draws P edges as found
    assert p_edge_postprocess({"calibration": {"p_logit_bias": 0.0}}) == {}
    # a model trained without validation records has no calibration; a recalibration alone still counts
    assert p_edge_postprocess({}, 0.75) == {"p_edge_offset": 0.75}


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


def test_a_pruning_step_writes_the_total_its_head_carries():
    from edgewise.compress.tasks.ecg import EcgTask
    from edgewise.compress.tasks.mosquito import MosquitoTask

    before = {"calibration": {"p_logit_bias": 2.0}, "postprocess": {"p_edge_offset": 1.5}}  # after one earlier step
    assert EcgTask.postprocess_facts(before, {"recalibration": {"p_logit_bias": 0.25}}) == {
        "postprocess": {"p_edge_offset": 1.75}}
    assert EcgTask.postprocess_facts(before, {}) == {"postprocess": {"p_edge_offset": 1.5}}  # no fine-tuning
    assert MosquitoTask.postprocess_facts(before, {}) == {}
