"""Write the ECG model card (Markdown) from a checkpoint's facts: data, licence, split, held-out metrics."""
from __future__ import annotations

import json
from pathlib import Path

from edgewise.runtime.ecg.metrics import CSE_2SD_MS


def _table(summary: dict) -> list[str]:
    # "within" is computed here, not read from the stored ``meets_cse``: checkpoints shipped before 0.2 stored
    # 2·SD <= tolerance, twice as strict as the CSE reading (metrics.py)
    rows = ["| boundary | n | Se | PPV | F1 | mean err (ms) | SD (ms) | CSE tolerance 2·σ_CSE (ms) | SD within it |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in summary["boundaries"]:
        tol = CSE_2SD_MS.get(r["boundary"])
        rows.append(f"| {r['boundary']} | {r['n_true']} | {r['se']:.4f} | {r['ppv']:.4f} | {r['f1']:.4f} | "
                    f"{r['mean_ms']:+.1f} | {r['sd_ms']:.1f} | {tol if tol else '—'} | "
                    f"{'—' if tol is None else ('yes' if r['sd_ms'] <= tol else 'no')} |")
    return rows


def _chosen_epoch(history: list[dict]) -> str:
    best = [h["epoch"] for h in history if h.get("best")]
    return f" (epoch {best[-1]} of {len(history)})" if best else ""


def _compressed_section(manifest: Path, parameters: int | None = None) -> list[str]:
    """Rows for the compressed artifacts a ``manifest.json`` beside the checkpoint lists (none: no section);
    ``parameters``: the checkpoint's, for files quantised without pruning."""
    if not manifest.is_file():
        return []
    rows, any_pruned = [], False
    for name, entry in sorted(json.loads(manifest.read_text()).get("artifacts", {}).items()):
        meta = entry.get("metadata") or {}
        if meta.get("precision", "fp32") == "fp32":
            continue
        q, f1 = meta.get("quantization") or {}, (meta.get("metrics") or {}).get("test_lead_ii_wave_f1") or {}
        pruning = ((meta.get("training") or {}).get("compression") or {}).get("pruning") or {}
        own, size = q.get("fp32_size_bytes"), entry.get("size_bytes")
        weights = str(q.get("weights", ""))
        if "per-" not in weights and "per_channel" in q:
            weights += " per-channel" if q["per_channel"] else " per-tensor"
        ratio = f"{own / size:.3f}" if own and size else "—"
        scores = " / ".join(f"{f1[k]:.4f}" for k in ("P", "QRS", "T")) if f1 else "—"
        isas = ", ".join((meta.get("metrics") or {}).get("verified_isa") or []) or "—"
        any_pruned |= bool(pruning)
        rows.append(f"| {name} | weights {weights} | {pruning.get('params_after', parameters or '—')} | "
                    f"{size or 0:,} | {ratio} | {scores} | {isas} |")
    if not rows:
        return []
    return ["## Compressed artifacts (`edgewise compress ecg-unet`, default recipe)", "",
            *(["Pruned, fine-tuned (P offset re-chosen on the validation records) and quantised; held-out F1 on",
               "the same test records, lead II. Size ratio against the same pruned model's fp32 file in the same format."]
              if any_pruned else
              ["Quantised from the trained weights (no pruning: chosen on cross-validated records,",
               "benchmarks/ecg_compress_cv.py); held-out F1 on the same test records, lead II. Size ratio against",
               "the fp32 file in the same format."]),
            "Identical wave lists on the ISAs named (benchmarks/int8_isa.py: AVX2 and arm64 emulated by qemu).", "",
            "| file | precision | parameters | bytes | × own fp32 | P / QRS / T F1 | identical waves on |",
            "|---|---|---|---|---|---|---|",
            *rows, ""]


def _architecture(config: dict) -> list[str]:
    """One line on how the U-Net runs: its kernel and, for a half-rate network, the rate inside it."""
    if not config.get("kernel"):
        return []
    rate = (f"the network runs at 1/{config['decimate']} of the input rate (average-pooled in, a stride-"
            f"{config['decimate']} transposed convolution back to every input sample)" if config.get("decimate", 1) > 1
            else "the network runs at the input rate")
    return [f"- Architecture: 1-D U-Net, widths {config.get('widths')}, kernel {config['kernel']}; {rate}."]


def _distillation(d: dict | None) -> list[str]:
    if not d:
        return []
    return [f"- Distilled from a teacher: {d.get('teacher')} (sha256 `{d.get('teacher_sha256', '?')}`); loss = "
            f"cross-entropy on the annotations + {d.get('weight')} x KL to the teacher's outputs at temperature "
            f"{d.get('temperature')}."]


def write_model_card(path: Path, checkpoint: Path) -> Path:
    facts = json.loads(Path(checkpoint).with_suffix(".json").read_text())
    tr, m, spec = facts["training"], facts["metrics"], facts["spec"]
    lines = [
        f"# Model card: {spec['name']}",
        "",
        "Single-lead ECG delineation: per-sample background / P / QRS / T at 500 Hz, then waves with onset",
        "and offset (`edgewise delineate`). A small 1-D U-Net after Moskalenko, Zolotykh & Osipov,",
        "*Deep Learning for ECG Segmentation* (arXiv 2001.04689).",
        "",
        f"- Parameters: {facts['parameters']:,}; input window {spec['window']} samples "
        f"({spec['window'] / spec['sample_rate']:.2f} s), hop {spec['hop']}; layout {spec['input_layout']}.",
        *([f"- Window: {tr['window_change']}; `delineate` scores a strip of up to 10 s in one call, the live stream "
           "runs it every 128 samples."] if tr.get("window_change") else []),
        f"- Checkpoint sha256: `{facts['sha256']}`; edgewise {facts['edgewise_version']}.",
        f"- Training data: {tr.get('data')}.",
        f"- Split: {tr.get('split')}.",
        f"- Licence of the data: {tr.get('licence', 'n/a')}. The Lobachevsky University Electrocardiography",
        "  Database (Kalyakulina et al., IEEE Access 2020) is distributed by PhysioNet under ODC-By 1.0;",
        "  these weights are derived from it and must carry this attribution.",
        f"- Training config: `{json.dumps(tr.get('config', {}))}`.",
        *_architecture(tr.get("config", {})),
        *_distillation(tr.get("distillation")),
        f"- Epoch selection: {tr.get('epoch_selection', 'best mean wave F1 on the validation records')}"
        f"{_chosen_epoch(tr.get('history', []))}.",
    ]
    cal = tr.get("calibration")
    if cal:
        sweep = ", ".join(f"{r['bias']:+.2f}: {r['mean']:.4f}" for r in cal.get("sweep", []))
        lines += [f"- Decision calibration: P logit {cal['p_logit_bias']:+.2f}, folded into the head's bias; "
                  f"chosen on {cal['chosen_on']} (offset: mean wave F1 — {sweep})."]
    edge = (tr.get("postprocess") or {}).get("p_edge_offset")
    if edge:
        lines += [f"- P edges: P waves are found with the offset and drawn where P wins without it ({edge:+.2f} taken "
                  "off the P logit; `postprocess.p_edge_offset` in every file's metadata), so the offset finds faint "
                  "P waves without widening them."]
    lines += [""]
    if m:
        lines += ["## Held-out metrics (test records, ±150 ms tolerance, inside each lead's annotated span)", "",
                  f"Test records: {', '.join(map(str, m.get('test_records', [])))}.", ""]
        for key, title in (("test_lead_ii", "Lead II"), ("test_all_leads", "All 12 leads pooled")):
            if key not in m:
                continue
            s = m[key]
            wf = s["wave_f1"]
            lines += [f"### {title}: wave F1 P {wf['P']:.4f}, QRS {wf['QRS']:.4f}, T {wf['T']:.4f}", ""]
            lines += _table(s) + [""]
    else:
        lines += ["No held-out metrics: trained on SYNTHETIC ECG only (demo model).", ""]
    lines += _compressed_section(Path(checkpoint).parent / "manifest.json", facts.get("parameters"))
    lines += ["## Intended use and limits", "",
              "Research and engineering evaluation of ECG delineation on edge devices; not a medical device.",
              "Trained on resting 10-s 12-lead recordings of LUDB (adults, many cardiac conditions, 500 Hz);",
              "other rates are resampled. Ambulatory noise, paced rhythms and paediatric ECG are untested.", ""]
    path.write_text("\n".join(lines))
    return path
