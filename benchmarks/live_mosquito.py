"""Live mosquito detection through a virtual microphone: detection latency on mosquito recordings, and the
false events over minutes of negative audio, as ``edgewise run mosquito --source mic`` meets them.

    sudo .venv/bin/python benchmarks/live_mosquito.py [--minutes 5] [--positives 12] [--model M] [--json OUT]

A PulseAudio null sink is the room (scripts/testbed/vmic.sh); ``paplay`` plays one long recording into
it while ``edgewise run mosquito --source mic:pulse --jsonl`` listens through sounddevice:
1. positives: up to ``--positives`` mosquito recordings the shipped model never trained or validated on
   (its test split and sources added to ../shared/data since), one per positive source in turn, at most
   8 s each, each after 3 s of silence; detection latency = wall time from the recording's first sample
   leaving paplay to the ``event_open`` line on the run's stdout;
2. negatives: ``--minutes`` of negative recordings the model never saw (shuffled, seed 0, 0.25 s of
   silence between clips); every final ``event`` in that stretch is a false event, attributed to the
   clip that was playing.
Needs root (apt packages and PulseAudio as in ../shared/TESTBEDS.md §2).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "mosquito"
MODEL = REPO / "edgewise" / "models" / "pretrained" / "mosquito" / "model.onnx"
RATE = 48000


def _load(path: Path) -> np.ndarray:
    from edgewise.data.audio import load_audio

    return load_audio(path, RATE).samples.astype(np.float32)


def _split(model: Path) -> dict[str, list[str]]:
    """The recordings the model trained and validated on: from its source checkpoint's JSON sidecar (artifacts
    carry only counts and a digest of the names, checked here)."""
    from edgewise.export.metadata import split_digest
    from edgewise.runtime.artifact import read_metadata

    meta = read_metadata(model)
    sidecar = model.parent / Path(meta["source_checkpoint"]).with_suffix(".json").name
    split = json.loads(sidecar.read_text())["training"]["split_recordings"]
    recorded = meta["training"]["split_recordings"]
    if isinstance(recorded, dict) and "sha256" in recorded and recorded["sha256"] != split_digest(split):
        raise SystemExit(f"{sidecar} does not hold the split {model} was trained on")
    return split


def _clips(model: Path, n_pos: int, minutes: float) -> tuple[list, list]:
    split = _split(model)
    seen = set(split["train"]) | set(split["val"])
    rows = [r for r in csv.DictReader(open(DATA / "labels.csv")) if r["path"] not in seen]
    rng = np.random.default_rng(0)
    pos = [r for r in rows if r["label"] == "mosquito" and float(r["duration_s"]) >= 3.0]
    by_set: dict[str, list] = {}
    for r in rng.permutation(pos).tolist():
        by_set.setdefault(r["set"], []).append(r)
    picked = []
    while len(picked) < n_pos and any(by_set.values()):
        for s in sorted(by_set):
            if by_set[s] and len(picked) < n_pos:
                picked.append(by_set[s].pop())
    # negatives are the recordings without mosquitoes: weakly labelled ones ("mosquito-present (weak)",
    # "mosquito-weak") have mosquitoes somewhere, "unknown" ones no truth
    neg = [r for r in rng.permutation([r for r in rows if r["label"] == "non-mosquito"]).tolist()]
    take, total = [], 0.0
    for r in neg:
        if total >= minutes * 60:
            break
        take.append(r)
        total += min(float(r["duration_s"]), 30.0) + 0.25
    return picked, take


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--positives", type=int, default=12)
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import soundfile as sf

    pos, neg = _clips(args.model, args.positives, args.minutes)
    parts, spans = [], []  # spans: (kind, rel, set, start_s, end_s) in the played file
    t = 0.0
    for r in pos:
        y = _load(DATA / r["path"])[: 8 * RATE]
        parts += [np.zeros(3 * RATE, np.float32), y]
        spans.append(("mosquito", r["path"], r["set"], t + 3.0, t + 3.0 + y.size / RATE))
        t += 3.0 + y.size / RATE
    parts.append(np.zeros(3 * RATE, np.float32))
    t += 3.0
    neg_start = t
    for r in neg:
        y = _load(DATA / r["path"])[: 30 * RATE]
        parts += [y, np.zeros(RATE // 4, np.float32)]
        spans.append(("negative", r["path"], r["set"], t, t + y.size / RATE))
        t += y.size / RATE + 0.25
    audio = np.clip(np.concatenate(parts), -1, 1)
    tmp = Path(tempfile.mkdtemp(prefix="edgewise-live-mosq-"))
    wav = tmp / "room.wav"
    sf.write(wav, audio, RATE, subtype="PCM_16")
    print(f"{len(pos)} mosquito recordings ({neg_start:.0f} s) then {(t - neg_start) / 60:.1f} min of "
          f"{len(neg)} negative recordings, played into a virtual microphone ...", file=sys.stderr)

    vmic = ["bash", str(REPO / "scripts" / "testbed" / "vmic.sh")]
    subprocess.run(vmic + ["up", str(tmp / "pa")], check=True)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp / "pa" / "xdg"), HOME=str(tmp / "pa" / "home"),
               PULSE_SERVER=f"unix:{tmp}/pa/native")
    proc = player = None
    records: list[tuple[float, dict]] = []
    try:
        cmd = [str(REPO / ".venv" / "bin" / "edgewise"), "run", "mosquito", "--source", "mic:pulse", "--jsonl",
               "--model", str(args.model)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)

        def read() -> None:
            for line in proc.stdout:
                records.append((time.monotonic(), json.loads(line)))

        th = threading.Thread(target=read, daemon=True)
        th.start()
        t_end = time.monotonic() + 30
        while not any(r["type"] == "window" for _, r in records):
            if time.monotonic() > t_end:
                raise SystemExit("edgewise run mosquito scored no window in 30 s")
            time.sleep(0.05)
        t_first = next(tt for tt, r in records if r["type"] == "window")
        first_window = next(r for _, r in records if r["type"] == "window")
        stream_t0 = t_first - first_window["end_s"]  # wall time of the stream's sample 0 (+ delivery delay)
        t_play = time.monotonic()
        player = subprocess.Popen(["paplay", "--device=vmic_sink", str(wav)], env=env)
        player.wait(t + 120)
        time.sleep(3.0)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        th.join(5)
    finally:
        for p in (player, proc):
            if p is not None and p.poll() is None:
                p.kill()
        subprocess.run(vmic + ["down", str(tmp / "pa")], check=False)

    offset = t_play - stream_t0  # file time = stream time - offset
    opens = [(tt - t_play, r) for tt, r in records if r["type"] == "event_open"]
    events = [r for _, r in records if r["type"] == "event"]
    rows = []
    for kind, rel, src, a, b in spans:
        if kind != "mosquito":
            continue
        hit = [w for w, r in opens if a - 0.5 <= w <= b + 3.0]
        rows.append({"clip": rel, "source": src, "seconds": round(b - a, 2),
                     "latency_s": round(hit[0] - a, 3) if hit else None})
    false = []
    for e in events:
        fa, fb = e["start_s"] - offset, e["end_s"] - offset
        if fa < neg_start - 1.0:
            continue
        clip = next(((rel, src) for kind, rel, src, a, b in spans if kind == "negative" and a <= fb and fa <= b),
                    ("(silence)", ""))
        false.append({"start_s": round(fa, 2), "end_s": round(fb, 2), "p": e["p"], "clip": clip[0], "source": clip[1]})
    neg_hours = (t - neg_start) / 3600
    lat = np.array([r["latency_s"] for r in rows if r["latency_s"] is not None])
    end = next((r for _, r in records if r["type"] == "end"), {})
    result = {"model": args.model.name, "positives": rows, "detected": int(lat.size), "n_positives": len(rows),
              "latency_s": {"median": float(np.median(lat)) if lat.size else None,
                            "max": float(lat.max()) if lat.size else None},
              "negative_minutes": round(neg_hours * 60, 2), "false_events": false,
              "false_events_per_hour": len(false) / neg_hours, "end": end}
    print("\n| mosquito recording (unseen) | source | s | detected after |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['clip']} | {r['source']} | {r['seconds']} | "
              f"{'%.2f s' % r['latency_s'] if r['latency_s'] is not None else 'MISSED'} |")
    print(f"\ndetected {lat.size} / {len(rows)}; latency median {result['latency_s']['median']} s, "
          f"max {result['latency_s']['max']} s (target: within 3 s of the start)")
    print(f"\nnegative audio: {neg_hours * 60:.1f} min of {len(neg)} unseen recordings; false events {len(false)} "
          f"({len(false) / neg_hours:.0f} per hour)")
    if false:
        print("\n| false event (file s) | p | clip | source |\n|---|---|---|---|")
        for f in false:
            print(f"| {f['start_s']}-{f['end_s']} | {f['p']} | {f['clip']} | {f['source']} |")
    print(f"\nsource faults: {end.get('source_faults')}; run: {end.get('records')}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
