"""Multi-lead consensus: one onset and one offset per wave across the leads of one ECG (numpy only).

The CSE Working Party defines a wave's *global* boundaries on simultaneously recorded leads: the
onset is the earliest onset seen in any lead, the offset the latest offset (Willems et al., "A
reference data base for multilead electrocardiographic computer measurement programs", J Am Coll
Cardiol 10:1313-1321, 1987; CSE Working Party, "Recommendations for measurement standards in
quantitative electrocardiography", Eur Heart J 6:815-825, 1985). Taken literally on automatic
per-lead boundaries, "earliest" and "latest" pick the single worst outlier, so multi-lead delineators
restrict the extreme to leads that can be trusted: Laguna et al. (Comput Biomed Res 27:45-60, 1994;
validated on the CSE database) take the final boundaries from the leads in which the wave's activity
lasts longest; Curtin et al. (IEEE J Transl Eng Health Med 6:1900211, 2018) take the largest group of
lead boundaries lying within 20 ms of each other, then its earliest start and latest end. Lead-to-lead
differences of true QRS onsets reach 5-20 ms (Wanderman et al., Circulation 63:933-937, 1981).

The rule here, per wave kind:

1. **Group** the leads' waves that are the same physical wave: waves overlapping in time are chained
   into one group; a group in which some lead has two waves (a lead that missed the QRS between two T
   waves can bridge them) is split at its widest gap between wave midpoints until every lead appears
   at most once.
2. **Accept** a group found in at least half the leads given (``min_share``): on 12-lead LUDB a wave
   that fewer leads report is more often one lead's error than a wave the others cannot see.
3. **Boundaries**: the global onset is the earliest onset among the leads whose onset lies within
   ``agree_ms`` of the group's median onset; the global offset is the latest offset among those within
   ``agree_ms`` of the median offset. ``agree_ms`` None takes the plain earliest/latest (the CSE
   definition, used for the annotation reference).

``min_share`` and ``agree_ms`` were chosen on the shipped model's training and validation LUDB records
(128 records, never the 32 test records), scoring consensus boundaries against the annotations'
consensus (``benchmarks/ecg_consensus.py --records train``): see ``ConsensusConfig``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edgewise.runtime.ecg.waves import WAVE_KINDS, Wave

__all__ = ["ConsensusConfig", "REFERENCE", "group_waves", "consensus_waves"]


@dataclass(frozen=True)
class ConsensusConfig:
    """Acceptance and outlier rules (see the module docstring).

    ``min_share``: a wave is accepted when at least this share of the leads given found it (rounded
    up, at least one lead): 6 of 12 leads, 2 of 3, 1 of 1. On the training records (12 leads) wave F1
    P/QRS/T against the annotation consensus was 0.974/0.990/0.979 with 1 lead required, 0.9969/
    0.9991/0.9947 with 6, and 0.9958/0.9991/0.9947 with 7; boundary errors hardly change with it.
    ``agree_ms``: per boundary, how far (ms) from the median a lead's boundary may lie and still count;
    None counts every lead. 40 ms for P and QRS (twice the 5-20 ms by which true QRS onsets differ
    between leads) and 150 ms for T, whose ends differ between leads by up to about 100 ms in
    disease (QT dispersion). Training-record RMS errors (ms; 6 of 12 leads) for agree_ms 20 / 40 /
    150 / None: P on 18.3 / 17.9 / 19.3 / 19.3, QRS on 10.5 / 9.7 / 9.8 / 9.8, T off 33.4 / 28.8 /
    25.9 / 25.9: pulling the extremes in further made the global boundaries too narrow against the
    annotations, whose own lead-to-lead spread is wider than the model's.
    """

    min_share: float = 0.5
    agree_ms: tuple[tuple[str, float | None], ...] = (
        ("P on", 40.0), ("P off", 40.0), ("QRS on", 40.0), ("QRS off", 40.0), ("T on", 150.0), ("T off", 150.0))

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_share <= 1.0:
            raise ValueError(f"min_share must be in [0, 1], got {self.min_share}")
        known = {f"{k} {e}" for k in WAVE_KINDS for e in ("on", "off")}
        bad = [b for b, _ in self.agree_ms if b not in known]
        if bad:
            raise ValueError(f"agree_ms: unknown boundaries {bad}; expected some of {sorted(known)}")
        neg = [b for b, v in self.agree_ms if v is not None and v < 0]
        if neg:
            raise ValueError(f"agree_ms must be >= 0 (or None), got a negative value for {neg}")

    def min_leads(self, n_leads: int) -> int:
        """Leads that must find a wave, out of ``n_leads``."""
        return max(1, int(np.ceil(self.min_share * n_leads - 1e-9)))

    def agree(self, boundary: str) -> float | None:
        return dict(self.agree_ms).get(boundary)


# The CSE definition itself (every lead counts, plain earliest onset / latest offset): the reference
# built from per-lead annotations.
REFERENCE = ConsensusConfig(min_share=0.0,
                            agree_ms=tuple((f"{k} {e}", None) for k in WAVE_KINDS for e in ("on", "off")))


def _split(group: list[tuple[int, Wave]]) -> list[list[tuple[int, Wave]]]:
    """Split at the widest midpoint gap until no lead appears twice (step 1)."""
    leads = [lead for lead, _ in group]
    if len(set(leads)) == len(leads) or len(group) < 2:
        return [group]
    g = sorted(group, key=lambda lw: lw[1].onset + lw[1].offset)
    mids = np.array([w.onset + w.offset for _, w in g], dtype=np.float64) / 2
    cut = int(np.argmax(np.diff(mids))) + 1
    return _split(g[:cut]) + _split(g[cut:])


def group_waves(per_lead: Sequence[list[Wave]], kind: str) -> list[list[tuple[int, Wave]]]:
    """Groups of (lead index, wave) of one kind that are one physical wave, in time order (step 1)."""
    items = sorted(((i, w) for i, ws in enumerate(per_lead) for w in ws if w.kind == kind),
                   key=lambda lw: (lw[1].onset, lw[1].offset))
    groups: list[list[tuple[int, Wave]]] = []
    end = None
    for lead, w in items:
        if end is None or w.onset > end:
            groups.append([])
            end = w.offset
        groups[-1].append((lead, w))
        end = max(end, w.offset)
    out = [part for g in groups for part in _split(g)]
    return sorted(out, key=lambda g: min(w.onset for _, w in g))


def _boundary(values: np.ndarray, tol: float | None, earliest: bool) -> int:
    if tol is not None:  # the leads nearest the median always agree (two leads far apart: the median lies between)
        d = np.abs(values - np.median(values))
        values = values[d <= max(tol, d.min())]
    return int(values.min() if earliest else values.max())


def consensus_waves(per_lead: Mapping[str, list[Wave]] | Sequence[list[Wave]], fs: float, *,
                    config: ConsensusConfig = ConsensusConfig()) -> tuple[list[Wave], list[int]]:
    """One wave list for all leads: global onsets/offsets, and for each wave the number of leads that found it.

    Args:
        per_lead: each lead's waves (a mapping lead name -> waves, or a sequence), sample indices at ``fs``.
        fs: sampling rate of the indices, Hz (``agree_ms`` is converted with it).
    Returns:
        waves in time order, and the matching list of supporting lead counts.
    """
    if fs <= 0:
        raise ValueError(f"sampling rate must be positive, got {fs} Hz")
    lists = list(per_lead.values()) if isinstance(per_lead, Mapping) else list(per_lead)
    need = config.min_leads(len(lists))
    found: list[tuple[Wave, int]] = []
    for kind in WAVE_KINDS:
        tol_on, tol_off = (config.agree(f"{kind} {e}") for e in ("on", "off"))
        for g in group_waves(lists, kind):
            if len(g) < need:
                continue
            on = _boundary(np.array([w.onset for _, w in g]), None if tol_on is None else tol_on * fs / 1000, True)
            off = _boundary(np.array([w.offset for _, w in g]), None if tol_off is None else tol_off * fs / 1000,
                            False)
            found.append((Wave(kind, on, max(on, off)), len(g)))
    found.sort(key=lambda ws: (ws[0].onset, ws[0].offset))
    return [w for w, _ in found], [s for _, s in found]
