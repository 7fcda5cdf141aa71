"""Evaluate any ECG model function (torch on the host or an artifact on a runtime) on LUDB records."""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from edgewise.data.ludb import EcgRecord
from edgewise.runtime.ecg.delineate import delineate
from edgewise.runtime.ecg.metrics import DelineationScore, score_waves
from edgewise.runtime.ecg.postprocess import PostprocessConfig

ModelFn = Callable[[np.ndarray], np.ndarray]


def torch_model_fn(model, threads: int | None = None) -> ModelFn:
    """Wrap a torch module as float32 [b, c, w] numpy -> float32 [b, 4, w] numpy."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    model.eval()

    def fn(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()

    return fn


def evaluate_records(records: Iterable[EcgRecord], model_fn: ModelFn, *, leads: Iterable[str] = ("ii",),
                     window: int = 2048, hop: int | None = None, post: PostprocessConfig = PostprocessConfig(),
                     progress: bool = False, in_channels: int = 1) -> dict[str, DelineationScore]:
    """Delineate each requested lead of each record; returns lead -> accumulated score (plus "all").

    A 12-lead model (``in_channels=12``) sees all leads and is scored against each requested lead.
    """
    records = list(records)
    leads = list(leads)
    out: dict[str, DelineationScore] = {lead: DelineationScore() for lead in leads}
    it = [(r, lead) for r in records for lead in leads]
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="evaluating", unit="lead", leave=False)
    for r, lead in it:
        if lead not in r.spans:
            continue
        x = r.signal if in_channels > 1 else r.lead(lead)
        res = delineate(x, r.fs, model_fn, window=window, hop=hop, post=post, in_channels=in_channels)
        out[lead].add(score_waves(r.waves[lead], res.waves, r.fs, span=r.spans[lead]))
    if len(leads) > 1:
        total = DelineationScore()
        for lead in leads:
            total.add(out[lead])
        out["all"] = total
    return out
