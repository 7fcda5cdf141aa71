"""The rhythm flag's features and decision on beat lists built from known waves."""
import numpy as np

from edgewise.runtime.ecg.intervals import beats_to_json, build_beats
from edgewise.runtime.ecg.rhythm import MIN_BEATS, classify_rhythm, rhythm_features
from edgewise.runtime.ecg.waves import Wave

FS = 500
MODEL = {"intercept": 5.0, "p_fraction": -10.0, "log_rr_irregularity": 1.5, "threshold": 0.5, "fitted_on": "test"}


def _waves(qrs_onsets, with_p: bool) -> list[Wave]:
    out = []
    for q in qrs_onsets:
        if with_p:
            out.append(Wave("P", q - 80, q - 30))
        out += [Wave("QRS", q, q + 45), Wave("T", q + 120, q + 200)]
    return out


def test_sinus_and_fibrillation_features_and_flags():
    regular = np.arange(300, 4800, 400)
    sinus = build_beats(_waves(regular, with_p=True), FS)
    f = rhythm_features(sinus)
    assert f["p_fraction"] == 1.0 and f["rr_irregularity"] == 0.0 and f["n_beats"] == len(regular)
    rng = np.random.default_rng(0)
    irregular = np.cumsum(rng.integers(220, 520, 14)) + 100
    af = build_beats(_waves(irregular[irregular < 4800], with_p=False), FS)
    g = rhythm_features(af)
    assert g["p_fraction"] == 0.0 and g["rr_irregularity"] > 0.1
    assert classify_rhythm(sinus, MODEL)["rhythm"] == "sinus"
    out = classify_rhythm(af, MODEL)
    assert out["rhythm"] == "af" and out["p_af"] > 0.9


def test_too_few_beats_or_unfitted_model_is_unknown():
    few = build_beats(_waves(np.arange(300, 300 + 400 * (MIN_BEATS - 1), 400), with_p=True), FS)
    assert rhythm_features(few) is None
    assert classify_rhythm(few, MODEL) == {"rhythm": "unknown", "p_af": None, "features": None}
    many = build_beats(_waves(np.arange(300, 4800, 400), with_p=True), FS)
    assert classify_rhythm(many, {**MODEL, "fitted_on": "not fitted"})["rhythm"] == "unknown"


def test_summary_carries_the_rhythm_and_dict_beats_work():
    beats, summary = beats_to_json(_waves(np.arange(300, 4800, 400), with_p=True), FS, n=5000)
    assert set(summary["rhythm"]) == {"rhythm", "p_af", "features"}
    assert rhythm_features(beats) == rhythm_features(build_beats(_waves(np.arange(300, 4800, 400), True), FS, n=5000))


def test_shipped_model_flags_held_out_ludb_records(ludb_dir):
    """On held-out LUDB records (never trained on), the shipped INT8 TFLite model's delineation gives the
    rhythm flag: sinus records 16 and 26 sinus, atrial fibrillation records 129 and 173 af (the device's
    own WFDB reader, so this runs in the device venvs too)."""
    from edgewise.models.pretrained import PRETRAINED_DIR
    from edgewise.runtime.ecg.delineate import delineate
    from edgewise.runtime.ecg.io import read_wfdb_signal
    from edgewise.runtime.ecg.model import load_artifact_fn

    data = ludb_dir / "data" if (ludb_dir / "data").is_dir() else ludb_dir
    fn, info = load_artifact_fn(PRETRAINED_DIR / "ecg" / "ecg-unet-int8.tflite")
    for rid, want in ((16, "sinus"), (26, "sinus"), (129, "af"), (173, "af")):
        r = read_wfdb_signal(data / str(rid))
        x = r.signal[[n.lower() for n in r.leads].index("ii")]
        res = delineate(x, r.fs, fn, window=info.window, hop=info.hop, post=info.post)
        _, summary = beats_to_json(res.waves, r.fs, n=x.shape[-1])
        assert summary["rhythm"]["rhythm"] == want, (rid, summary["rhythm"])
