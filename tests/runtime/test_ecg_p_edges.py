"""P edges of a calibrated model (PostprocessConfig.p_edge_offset): P waves are found on the calibrated scores and
drawn where P wins without the offset; block sizes still never change the result; artifacts name the offset."""
from __future__ import annotations

import numpy as np
import pytest

from edgewise.runtime.ecg.postprocess import PostprocessConfig, post_config
from edgewise.runtime.ecg.stream_waves import WaveTracker

FS = 500


def _scores(core: tuple[int, int] = (10, 49), beats: int = 8) -> np.ndarray:
    """Calibrated logits [4, n] of a regular rhythm (400-sample RR): per beat a P wave the calibrated scores call
    at 400..460 (P logit 1 over background 0) whose offset-free core is ``core`` (P logit 3), then QRS and T."""
    z = np.zeros((4, 400 * beats + 600), np.float32)
    for b in range(beats):
        o = 200 + 400 * b
        z[1, o : o + 61] = 1.0
        z[1, o + core[0] : o + core[1] + 1] = 3.0
        z[2, o + 80 : o + 121] = 5.0
        z[3, o + 220 : o + 321] = 4.0
    return z


def _run(z: np.ndarray, post: PostprocessConfig, blocks: list[int] | None = None):
    wt = WaveTracker(FS, post)
    out = []
    if blocks is None:
        out += wt.push(z)
    else:
        i = 0
        for b in blocks:
            out += wt.push(z[:, i : i + b])
            i += b
    out += wt.flush()
    return sorted(out, key=lambda w: (w.onset, w.offset))


def test_p_edges_come_from_the_offset_free_core():
    z = _scores()
    found = [w for w in _run(z, PostprocessConfig()) if w.kind == "P"]
    drawn = _run(z, PostprocessConfig(p_edge_offset=2.0))
    p = [w for w in drawn if w.kind == "P"]
    assert len(found) == len(p) >= 6  # the same P waves are kept: the rules judge the calibrated ones
    assert all((w.onset - 200) % 400 == 0 and w.offset - w.onset == 60 for w in found)
    assert all((w.onset - 210) % 400 == 0 and w.offset - w.onset == 39 for w in p)
    others = [w for w in drawn if w.kind != "P"]
    assert others == [w for w in _run(z, PostprocessConfig()) if w.kind != "P"]  # QRS and T untouched


def test_a_core_shorter_than_a_p_wave_keeps_the_found_edges():
    z = _scores(core=(25, 34))  # 10 samples = 20 ms < the 30-ms minimum P duration
    assert _run(z, PostprocessConfig(p_edge_offset=2.0)) == _run(z, PostprocessConfig())


def test_offset_larger_than_the_core_margin_keeps_the_found_edges():
    z = _scores()
    assert _run(z, PostprocessConfig(p_edge_offset=5.0)) == _run(z, PostprocessConfig())  # no sample is P without it
    assert _run(z, PostprocessConfig(p_edge_offset=-1.0)) == _run(z, PostprocessConfig())  # could only widen


def test_the_offline_mask_path_refuses_an_offset_it_cannot_apply():
    from edgewise.runtime.ecg.postprocess import probabilities_to_waves

    with pytest.raises(ValueError, match="stream engine"):
        probabilities_to_waves(_scores(), FS, PostprocessConfig(p_edge_offset=2.0))


def test_block_sizes_do_not_change_the_edges():
    z = _scores()
    post = PostprocessConfig(p_edge_offset=2.0)
    rng = np.random.default_rng(3)
    blocks = list(rng.integers(1, 97, size=z.shape[1]))
    assert _run(z, post, blocks) == _run(z, post)


def test_post_config_reads_metadata_and_refuses_nonsense():
    assert post_config({}) == PostprocessConfig()
    assert post_config({"postprocess": {"p_edge_offset": 2}}).p_edge_offset == 2.0
    assert post_config({"postprocess": {"p_edge_offset": -1}}).p_edge_offset == -1.0  # draws edges as found
    with pytest.raises(ValueError, match="p_edge_offset"):
        post_config({"postprocess": {"p_edge_offset": 1e3}})
    with pytest.raises(ValueError, match="dict"):
        post_config({"postprocess": 3})

