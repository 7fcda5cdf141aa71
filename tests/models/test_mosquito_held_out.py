"""Which recordings a mosquito checkpoint is judged on: its own test recordings, by name when it stores them."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest


def _dataset(root, n=12):
    import soundfile as sf

    rows = ["path,label,set,class,sample_rate,duration_s,license"]
    rng = np.random.default_rng(0)
    for i in range(n):
        label = "mosquito" if i % 2 else "non-mosquito"
        name = f"s{i % 3}/r{i:02d}.wav"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(root / name, (0.1 * rng.standard_normal(8000)).astype(np.float32), 8000)
        rows.append(f"{name},{label},s{i % 3},,8000,1.0,CC0")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")


def _ckpt(split=None, seed=0):
    training = {"seed": seed, **({"split_recordings": split} if split is not None else {})}
    return SimpleNamespace(training=training, spec=SimpleNamespace(sample_rate=8000))


def test_stored_test_names_decide_even_when_data_was_added(tmp_path):
    from edgewise.models.mosquito.api import held_out_recordings, load_split

    _dataset(tmp_path)
    split = {"train": [f"s0/r{i:02d}.wav" for i in (0, 3)], "val": ["s1/r01.wav"], "test": ["s2/r02.wav", "s2/r05.wav"]}
    recs, audio, how = held_out_recordings(_ckpt(split), tmp_path, cache_dir=None)
    assert sorted(r.rel for r in recs) == split["test"] and len(audio) == 2 and "by name" in how
    # a re-split of today's recordings would judge it on others: that is what the stored names prevent
    resplit = sorted(r.rel for r in load_split(tmp_path, seed=0, cache_dir=None, parts=("test",))["test"][0])
    assert resplit != split["test"]
    recs, _, how = held_out_recordings(_ckpt(split), tmp_path, seed=0, cache_dir=None)  # asked for: re-split
    assert sorted(r.rel for r in recs) == resplit and "seed 0" in how


def test_a_checkpoint_without_names_is_split_with_its_seed(tmp_path):
    from edgewise.models.mosquito.api import held_out_recordings, load_split, split_names

    _dataset(tmp_path)
    assert split_names(_ckpt()) is None and split_names(_ckpt({"train": [], "test": []})) is None
    recs, _, how = held_out_recordings(_ckpt(seed=3), tmp_path, cache_dir=None)
    want = load_split(tmp_path, seed=3, cache_dir=None, parts=("test",))["test"][0]
    assert [r.rel for r in recs] == [r.rel for r in want] and "seed 3" in how


@pytest.mark.parametrize("split", [{"train": ["a"], "val": []}, {"train": [], "val": ["b"]}])
def test_compress_needs_train_and_validation_names(split):
    from edgewise.compress.tasks.mosquito import _names

    assert _names(_ckpt(split)) is None
    assert _names(_ckpt({"train": ["a"], "val": ["b"], "test": ["c"]})) == {"train": ["a"], "val": ["b"], "test": ["c"]}
