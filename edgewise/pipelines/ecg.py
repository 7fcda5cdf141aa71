"""The ECG main job: model -> held-out evaluation -> export (ONNX, TFLite, parity) -> compression ->
delineate a sample -> report (Markdown + HTML with a coloured strip, the metric tables and stage times).

The compression stage verifies the shipped compressed artifacts (``ecg_compress.verify_stage``: checksums,
held-out F1 against the recorded one, latency, size) unless ``recompress`` is set or a model was just
trained (nothing shipped was made from it): then the recipe runs again (``ecg_compress.compress_stage``).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edgewise.reporting import Report

ALL_LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")


def _score_rows(summary: dict) -> list[list[Any]]:
    return [[r["boundary"], r["n_true"], r["se"], r["ppv"], r["f1"], r["mean_ms"], r["sd_ms"],
             r["cse_2sd_ms"] if r["cse_2sd_ms"] else "—"] for r in summary["boundaries"]]


SCORE_HEADER = ["boundary", "n", "Se", "PPV", "F1", "mean err ms", "SD ms", "CSE tolerance ms"]


def real_windows(records, n: int = 16, window: int = 2048, seed: int = 0) -> np.ndarray:
    """float32 [n, 1, window] standardised real ECG windows (parity and calibration inputs)."""
    from edgewise.runtime.ecg.preprocess import standardized_window

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        r = records[i % len(records)]
        lead = r.signal[rng.integers(r.signal.shape[0])]
        s = int(rng.integers(0, max(1, len(lead) - window + 1)))
        out.append(standardized_window(lead[None, s : s + window], window))
    return np.stack(out).astype(np.float32)


def _synthetic_eval(model_fn, info, rep: Report) -> dict:
    from edgewise.data.synthetic_ecg import SYNTHETIC_LABEL, synthetic_ecg
    from edgewise.runtime.ecg.delineate import delineate
    from edgewise.runtime.ecg.metrics import DelineationScore, score_waves

    total = DelineationScore()
    for seed in range(20):
        x, _, waves = synthetic_ecg(seed)
        res = delineate(x, 500, model_fn, window=info.window, hop=info.hop, post=info.post)
        total.add(score_waves(waves, res.waves, 500))
    rep.text(f"No LUDB folder was found: the model is evaluated on {SYNTHETIC_LABEL} (20 records). "
             "These numbers say nothing about real ECG.")
    rep.table(SCORE_HEADER, _score_rows(total.summary()), caption="SYNTHETIC ECG, 20 records")
    return total.summary()


class _Stages:
    """Wall time per stage, for the report's last table."""

    def __init__(self) -> None:
        self.t0 = self.last = time.time()
        self.rows: list[list[Any]] = []

    def lap(self, name: str) -> None:
        now = time.time()
        self.rows.append([name, round(now - self.last, 1)])
        self.last = now

    def add_to(self, rep: Report) -> None:
        total = round(time.time() - self.t0, 1)
        rep.text(f"Pipeline time {total:.0f} s.")
        rep.table(["stage", "seconds"], self.rows + [["total", total]], caption="wall time per stage")
        rep.data["stage_seconds"] = {**{n: s for n, s in self.rows}, "total": total}


def run_ecg_pipeline(out: str | Path, *, data_dir: Path | None, train: bool = False, epochs: int = 60,
                     export: bool = True, compress: bool = True, recompress: bool = False, log=print) -> Path:
    """Run the ECG job and write ``out/report.md`` (+ .html, .json); returns the Markdown path.

    Raises:
        ArtifactError: after the report is written, when a shipped compressed artifact's sha256 does not
            match ``manifest.json`` (an F1 that differs from the recorded one is a finding in the report).
    """
    from edgewise.models.ecg.dataset import load_records
    from edgewise.models.ecg.workflow import evaluate_ecg, load_model_fn, train_ecg
    from edgewise.models.pretrained import PRETRAINED_DIR
    from edgewise.pipelines.ecg_plots import plot_strip
    from edgewise.runtime.ecg.delineate import delineate

    out = Path(out)
    rep = Report("edgewise pipeline ecg", out)
    stages = _Stages()
    rep.heading("1. Model")
    if train:
        ckpt = train_ecg(out / "model", data_dir=data_dir, epochs=epochs, log=log)
        rep.text(f"Trained for {epochs} epochs: {ckpt}.")
    else:
        ckpt = PRETRAINED_DIR / "ecg" / "ecg-unet.pt"
        if not ckpt.is_file():
            raise FileNotFoundError(f"the shipped checkpoint {ckpt} is missing; run with --train")
        rep.text(f"Shipped checkpoint {ckpt.name} (model card: {ckpt.parent / 'MODEL_CARD.md'}).")
    fn, info, training = load_model_fn(ckpt)
    from edgewise.models.checkpoint import load_checkpoint
    from edgewise.models.ecg.unet import count_macs

    ck = load_checkpoint(ckpt)
    n_params = sum(p.numel() for p in ck.model.parameters())
    macs = count_macs(ck.model, 5000)
    rep.table(["parameters", "MACs per 10 s (500 Hz, 1 lead)", "window", "hop", "training data"],
              [[n_params, macs, info.window, info.hop, training.get("data", "?")]])
    rep.data["model"] = {"checkpoint": str(ckpt), "parameters": n_params, "macs_10s": macs}
    stages.lap("model" + (" (training)" if train else ""))

    rep.heading("2. Held-out evaluation")
    records = []
    if data_dir is not None:
        res = evaluate_ecg(ckpt, data_dir, leads=ALL_LEADS, progress=True)
        rep.text(f"LUDB records never used for training or validation: {len(res['records'])} "
                 f"({', '.join(map(str, res['records'][:40]))}{' …' if len(res['records']) > 40 else ''}). "
                 "±150 ms tolerance, inside each lead's annotated span.")
        for lead, title in (("ii", "lead II"), ("all", "all 12 leads pooled")):
            wf = res["scores"][lead]["wave_f1"]
            rep.text(f"{title}: wave F1 P {wf['P']:.4f}, QRS {wf['QRS']:.4f}, T {wf['T']:.4f}")
            rep.table(SCORE_HEADER, _score_rows(res["scores"][lead]), caption=title)
        per_lead = [[lead] + [res["scores"][lead]["wave_f1"][k] for k in ("P", "QRS", "T")] for lead in ALL_LEADS]
        rep.table(["lead", "P F1", "QRS F1", "T F1"], per_lead, caption="wave F1 per lead")
        rep.data["evaluation"] = res
        records = load_records(data_dir, res["records"][:8])
    else:
        rep.data["evaluation"] = {"synthetic": _synthetic_eval(fn, info, rep)}
    stages.lap("held-out evaluation")

    if export:
        from edgewise.pipelines.ecg_export import export_stage

        export_stage(ck, rep, out / "artifacts", records=records, data_dir=data_dir)
        stages.lap("export (ONNX, TFLite, parity)")
    checksum_errors: list[str] = []
    if compress:
        from edgewise.pipelines.ecg_compress import compress_stage, verify_stage

        if recompress or train:
            compress_stage(ck, rep, out / "compressed", data_dir=data_dir, progress=True)
            if train and not recompress:
                rep.text("A model was trained in this run, so the shipped compressed artifacts (made from the shipped "
                         "checkpoint) say nothing about it: the recipe was run on the new model.")
            stages.lap("compression (recipe re-run)")
        else:
            ver = verify_stage(ck, rep, out / "compressed", data_dir=data_dir)
            checksum_errors = ver.errors
            log(f"compression: {len(ver.rows)} shipped artifacts checked against manifest.json"
                + (" on SYNTHETIC ECG (checksums only)" if ver.synthetic else " (sha256, held-out F1)") + ": "
                + (f"{len(ver.errors)} checksum error(s), {len(ver.findings)} finding(s), see the report"
                   if ver.errors or ver.findings else "all verified"))
            stages.lap("compression (shipped artifacts verified)")

    rep.heading("Sample delineation")
    if records:
        r = records[0]
        res_s = delineate(r.lead("ii"), r.fs, fn, window=info.window, hop=info.hop, post=info.post)
        png = plot_strip(r.lead("ii"), r.fs, res_s.waves, out / "strip.png", reference=r.waves["ii"],
                         title=f"LUDB record {r.record_id}, lead II (held out)")
        rep.image(png, caption=f"LUDB record {r.record_id} lead II: edgewise (top) vs reference annotation (bottom)")
    else:
        from edgewise.data.synthetic_ecg import synthetic_ecg

        x, _, waves = synthetic_ecg(123)
        res_s = delineate(x, 500, fn, window=info.window, hop=info.hop, post=info.post)
        png = plot_strip(x, 500, res_s.waves, out / "strip.png", reference=waves, title="SYNTHETIC ECG")
        rep.image(png, caption="SYNTHETIC ECG: edgewise (top) vs exact synthetic boundaries (bottom)")
    stages.lap("sample delineation")
    stages.add_to(rep)
    path = rep.write()
    if checksum_errors:
        from edgewise.runtime.errors import ArtifactError

        raise ArtifactError(f"{len(checksum_errors)} shipped artifact(s) failed their sha256 check "
                            f"({'; '.join(checksum_errors)}); report written to {path}")
    return path
