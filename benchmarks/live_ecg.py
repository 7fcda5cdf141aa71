"""Live ECG through a virtual serial port: latency, CPU, lost samples, and equality with offline delineation.

    sudo .venv/bin/python benchmarks/live_ecg.py [--record 1] [--lead ii] [--minutes 5] [--model M]
                                                 [--block-ms 20] [--json OUT]

A LUDB record (lead II, looped to ``--minutes``) is written as text lines, one sample per line, into one
end of a socat pty pair (scripts/testbed/serial-pair.sh) at its own rate (500 Hz), in ``--block-ms``
bursts as a microcontroller's UART buffer would; ``edgewise run ecg --source serial:... --rate 500
--jsonl`` reads the other end. Measured:
- latency: for every wave, the time from writing its offset sample into the port to reading its JSON
  line from the run's stdout (p50/p95/p99/max; also after the 10-s warm-up, during which P waves wait
  for the rhythm to be judged);
- CPU: user+system time of the run process over the streaming (from its first record to the last
  sample + 3 s), as a share of one core; peak RSS;
- lost samples: the run's "end" record counts every sample it received;
- equality: the live wave list against ``delineate`` on the same looped signal (all of it, and outside
  the first and last model window).
The run is stopped with SIGTERM 3 s after the last sample (a clean shutdown flushes the tail).
"""
from __future__ import annotations

import argparse
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
LUDB = REPO.parent / "shared" / "data" / "ludb" / "data"
SHIPPED = REPO / "edgewise" / "models" / "pretrained" / "ecg" / "ecg-unet-int8.onnx"


def _cpu_seconds(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _pct(a: np.ndarray, q: float) -> float:
    return float(np.percentile(a, q)) if a.size else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", default="1")
    ap.add_argument("--lead", default="ii")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--model", type=Path, default=SHIPPED)
    ap.add_argument("--block-ms", type=float, default=20.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from edgewise.runtime.ecg.delineate import delineate
    from edgewise.runtime.ecg.io import read_wfdb_signal
    from edgewise.runtime.ecg.model import load_artifact_fn

    sig = read_wfdb_signal(LUDB / args.record)
    one = sig.signal[sig.leads.index(args.lead)].astype(np.float32)
    fs = float(sig.fs)
    x = np.tile(one, int(np.ceil(args.minutes * 60 * fs / one.size)))
    n = x.size
    lines = [f"{v:.5f}\n".encode() for v in x]
    # what the sensor sends is what offline gets: the text's own rounding
    x_sent = np.array([float(s) for s in lines], np.float32)
    fn, info = load_artifact_fn(args.model)
    ref = delineate(x_sent, fs, fn, window=info.window, post=info.post).waves  # at the live stream's hop (128), as `run ecg` runs

    tmp = Path(tempfile.mkdtemp(prefix="edgewise-live-ecg-"))
    pair = ["bash", str(REPO / "scripts" / "testbed" / "serial-pair.sh")]
    subprocess.run(pair + ["up", str(tmp)], check=True)
    proc = None
    try:
        cmd = [str(REPO / ".venv" / "bin" / "edgewise"), "run", "ecg", "--source", f"serial:{tmp}/ttyECG-host",
               "--rate", str(fs), "--jsonl", "--model", str(args.model)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        records: list[tuple[float, dict]] = []
        started = threading.Event()

        def reader() -> None:
            for line in proc.stdout:
                rec = json.loads(line)
                records.append((time.monotonic(), rec))
                if rec.get("type") == "start":
                    started.set()

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        if not started.wait(30):
            raise SystemExit(f"edgewise run did not start: {proc.stderr.read()[-2000:]}")
        time.sleep(0.5)  # the port is open: lines written now are read
        cpu0, wall0 = _cpu_seconds(proc.pid), time.monotonic()
        fd = os.open(tmp / "ttyECG-sensor", os.O_WRONLY | os.O_NOCTTY)
        write_time = np.zeros(n)
        t0 = time.monotonic()
        i = 0
        block = args.block_ms / 1000
        print(f"replaying {n / fs:.0f} s of LUDB {args.record} lead {args.lead} at {fs:g} Hz "
              f"in {args.block_ms:g}-ms bursts ...", file=sys.stderr)
        while i < n:
            due = min(n, int((time.monotonic() - t0) * fs))
            if due > i:
                os.write(fd, b"".join(lines[i:due]))
                write_time[i:due] = time.monotonic()
                i = due
            time.sleep(max(0.0, t0 + (i / fs) + block - time.monotonic()))
        time.sleep(3.0)
        cpu1, wall1 = _cpu_seconds(proc.pid), time.monotonic()
        rss = _peak_rss_mb(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        th.join(10)
        os.close(fd)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        subprocess.run(pair + ["down", str(tmp)], check=False)

    from edgewise.runtime.ecg.waves import Wave

    waves = [(t, Wave(r["wave"], r["onset"], r["offset"])) for t, r in records if r["type"] == "wave"]
    end = next((r for _, r in records if r["type"] == "end"), {})
    faults = [r for _, r in records if r["type"] in ("fault", "gap")]
    lat = np.array([t - write_time[min(w.offset, n - 1)] for t, w in waves if w.offset < n])
    # steady state: after the warm-up and before the last model window (whose waves wait for the stream's end)
    steady = [(t, w) for t, w in waves if w.onset >= 10 * fs and w.offset < n - info.window]
    warm = np.array([t - write_time[w.offset] for t, w in steady])
    by_kind = {k: np.array([t - write_time[w.offset] for t, w in steady if w.kind == k]) for k in ("P", "QRS", "T")}
    key = lambda w: (w.onset, w.offset, w.kind)  # noqa: E731
    got = sorted((w for _, w in waves), key=key)
    want = sorted(ref, key=key)
    win = info.window
    inner = lambda ws: sorted((w for w in ws if w.onset >= win and w.offset < n - win), key=key)  # noqa: E731
    cpu = (cpu1 - cpu0) / (wall1 - wall0)
    result = {
        "record": args.record, "lead": args.lead, "model": args.model.name, "seconds": n / fs, "fs": fs,
        "block_ms": args.block_ms, "samples_written": n, "samples_received": end.get("samples"),
        "faults": faults, "waves_live": len(got), "waves_offline": len(want),
        "equal_all": got == want, "equal_inner": inner(got) == inner(want),
        "latency_s": {"p50": _pct(lat, 50), "p95": _pct(lat, 95), "p99": _pct(lat, 99), "max": float(lat.max())},
        "latency_steady_s": {"p50": _pct(warm, 50), "p99": _pct(warm, 99), "max": float(warm.max()),
                             **{f"p99_{k}": _pct(v, 99) for k, v in by_kind.items()}},
        "cpu_share_of_one_core": cpu, "peak_rss_mb": rss, "end": end,
    }
    print(f"\n| measure | value |\n|---|---|")
    print(f"| replay | {n / fs:.0f} s of LUDB {args.record} lead {args.lead}, {fs:g} Hz, {args.block_ms:g}-ms bursts, {args.model.name} |")
    print(f"| samples written / received | {n} / {end.get('samples')} (faults/gaps: {len(faults)}) |")
    print(f"| waves live / offline | {len(got)} / {len(want)}; identical: {got == want} "
          f"(outside first/last window: {inner(got) == inner(want)}) |")
    print(f"| latency offset -> JSON line, all waves | p50 {result['latency_s']['p50']:.3f} s, p95 "
          f"{result['latency_s']['p95']:.3f} s, p99 {result['latency_s']['p99']:.3f} s, max {result['latency_s']['max']:.3f} s |")
    st = result["latency_steady_s"]
    print(f"| latency after the 10-s warm-up, before the last window ({warm.size} waves) | p50 {st['p50']:.3f} s, "
          f"p99 {st['p99']:.3f} s (P {st['p99_P']:.3f}, QRS {st['p99_QRS']:.3f}, T {st['p99_T']:.3f}), max {st['max']:.3f} s |")
    print(f"| CPU (share of one core) | {100 * cpu:.1f} % |")
    print(f"| peak RSS | {rss:.0f} MB |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
