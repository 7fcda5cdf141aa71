"""``edgewise run ecg|mosquito``: a model live on a stream (serial sensor, microphone, file, stdin).

Runs with numpy + one runtime (onnxruntime or LiteRT) only; pyserial / sounddevice / soundfile are
needed only by the source that uses them. Models must be device artifacts (.onnx / .tflite).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

SOURCE_HELP = ("serial:/dev/ttyUSB0 | mic | mic:NAME_OR_INDEX | file:PATH | stdin "
               "(file: wav/flac, WFDB record, CSV, npy)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, help=SOURCE_HELP)
    p.add_argument("--model", type=Path, help="device artifact (.onnx/.tflite); default: on a deployed device the "
                   "release's recorded default, else the shipped one")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per line (type: wave/hr/event/window/gap/fault)")
    p.add_argument("--realtime", action="store_true", help="file source: replay at the recording's own pace")
    p.add_argument("--loop", type=int, default=1, help="file source: replay N times back to back (0: forever)")
    p.add_argument("--rate", type=float, help="sampling rate in Hz (required for serial, stdin, CSV and npy)")
    p.add_argument("--log", type=Path, metavar="DIR", help="also write rotating JSONL + CSV logs into DIR")
    p.add_argument("--serve", metavar="HOST:PORT",
                   help="serve a live page (e.g. 127.0.0.1:8080; another host only if you name it)")
    p.add_argument("--threads", type=int, default=1)


def run_ecg_args(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--baud", type=int, default=115200, help="serial: baud rate")
    p.add_argument("--wait", action="store_true", help="serial: wait for a port that is not plugged in yet")
    p.add_argument("--column", type=int, default=0, help="serial/stdin/CSV: which number of a line is the ECG sample")
    p.add_argument("--timestamp-column", type=int, help="serial/stdin: a column holding timestamps (gaps from them)")
    p.add_argument("--timestamp-unit", choices=("s", "ms"), default="ms")
    p.add_argument("--lead", default=None, help="WFDB/CSV file source: lead name or index (default ii, else the first)")


def run_mosquito_args(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--threshold", type=float, help="operating threshold (default: the model's)")


def _model(path: Path | None, folder: str) -> Path:
    if path is not None:
        if not path.exists():
            raise FileNotFoundError(f"no model file at {path}")
        if path.suffix.lower() not in (".onnx", ".tflite"):
            raise ValueError(f"{path}: edgewise run takes a device artifact (.onnx/.tflite); "
                             f"export a checkpoint with `edgewise export {path}`")
        return path
    from edgewise._cli._defaults import release_default

    recorded = release_default({"ecg": "ecg-delineation", "mosquito": "mosquito-detection"}[folder])
    if recorded is not None:
        return recorded
    from edgewise.models.pretrained import default_model

    return default_model(folder, prefer=("onnx", "tflite"))


def _writers(args: argparse.Namespace, task: str) -> list:
    from edgewise.runtime.live.output import JsonlWriter, RotatingLog, TextWriter

    writers = [JsonlWriter(sys.stdout) if args.jsonl else TextWriter(sys.stdout)]
    if args.log is not None:
        writers.append(RotatingLog(args.log, task))
    return writers


def _go(args: argparse.Namespace, task: str, source, engine, samples_to_server: bool, **extra) -> int:
    from edgewise.runtime.live.runner import run_live

    writers = _writers(args, task)
    server = None
    if args.serve:
        from edgewise.runtime.live.serve import LiveServer, is_loopback, parse_serve_address

        host, port = parse_serve_address(args.serve)
        server = LiveServer(host, port, task=task, fs=source.rate, **extra)
        server.start()
        print(f"edgewise: live page at {server.url}", file=sys.stderr, flush=True)
        if not is_loopback(host):
            print(f"edgewise: warning: the live page is reachable from the network at {host} (no authentication)",
                  file=sys.stderr, flush=True)
    try:
        end = run_live(source, engine, writers, server=server, samples_to_server=samples_to_server)
    finally:
        for w in writers[1:]:
            w.close()
        if server is not None:
            server.close()
    return 1 if end["reason"] == "error" else 0


def run_ecg(args: argparse.Namespace) -> int:
    """delineate ECG live (P, QRS, T waves and heart rate) from a serial sensor, a file or stdin"""
    from edgewise.runtime.ecg.model import load_artifact_fn
    from edgewise.runtime.live.ecg_live import EcgLive
    from edgewise.runtime.live.sources import open_source

    model = _model(args.model, "ecg")
    fn, info = load_artifact_fn(model, threads=args.threads)
    if info.in_channels != 1:
        raise ValueError(f"{model} takes {info.in_channels} leads; edgewise run streams one lead")
    column = args.lead if args.source.startswith("file:") else args.column
    source = open_source(args.source, rate=args.rate, baud=args.baud, column=column, realtime=args.realtime,
                         loop=args.loop, timestamp_column=args.timestamp_column, timestamp_unit=args.timestamp_unit,
                         wait=args.wait)
    engine = EcgLive(fn, source_fs=source.rate, model_fs=info.sample_rate, name=model.name, window=info.window,
                     post=info.post)
    return _go(args, "ecg", source, engine, samples_to_server=True)


def run_mosquito(args: argparse.Namespace) -> int:
    """detect mosquito flight tones live from a microphone, a file or stdin (events and window probabilities)"""
    from edgewise.runtime.live.mosquito_stream import MosquitoStream
    from edgewise.runtime.live.sources import open_source
    from edgewise.runtime.mosquito.detector import load_detector

    model = _model(args.model, "mosquito")
    detector = load_detector(model, threads=args.threads)
    source = open_source(args.source, rate=args.rate, realtime=args.realtime, loop=args.loop)
    engine = MosquitoStream(detector, source_rate=source.rate, threshold=args.threshold)
    return _go(args, "mosquito", source, engine, samples_to_server=False)
