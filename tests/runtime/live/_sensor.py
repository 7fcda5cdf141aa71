"""A serial ECG sensor played by a process: writes samples of a ``.npy`` as text lines into a pty link.

    python tests/runtime/live/_sensor.py LINK VALUES.npy --rate 500 [--counter] [--timestamps]
        [--inject-every N] [--seconds S] [--crlf]

``--rate 0`` writes as fast as the pty takes it; otherwise line i is written at ``t0 + i / rate`` (an
absolute schedule, like a sensor's ADC clock). A line is ``value[,counter][,t_ms]``; the value is the
float32 sample written with ``repr`` of its float64 value (read back as float32, bit-exact).
``--inject-every N`` writes, after every N samples, a garbage line, a binary-noise line and a line cut
short (a value without its counter, so a reader that needs two numbers sees it as partial; needs
``--counter``). When the cable is pulled (a write fails), the sensor keeps sampling on its clock:
samples due while the link is gone are lost, and it re-opens the link every 10 ms until it is back.
Writes the whole file, looping over it, for ``--seconds`` (default: one pass), then exits.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _open(link: str) -> int | None:
    try:
        return os.open(link, os.O_WRONLY | os.O_NOCTTY)
    except OSError:
        return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("link")
    ap.add_argument("values")
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--counter", action="store_true")
    ap.add_argument("--timestamps", action="store_true")
    ap.add_argument("--inject-every", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=0.0)
    ap.add_argument("--crlf", action="store_true")
    a = ap.parse_args()
    values = np.load(a.values).astype(np.float32).reshape(-1)
    total = round(a.seconds * a.rate) if a.seconds and a.rate else len(values)
    end = b"\r\n" if a.crlf else b"\n"
    fd = _open(a.link)
    t0 = time.monotonic()
    next_try = 0.0
    for i in range(total):
        if a.rate:
            delay = t0 + i / a.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        if fd is None:
            if time.monotonic() < next_try:
                continue  # unplugged: this sample is lost
            fd = _open(a.link)
            next_try = time.monotonic() + 0.01
            if fd is None:
                continue
        fields = [repr(float(values[i % len(values)]))]
        if a.counter:
            fields.append(str(i))
        if a.timestamps:
            fields.append(f"{1000.0 * i / a.rate:.3f}")
        line = ",".join(fields).encode() + end
        if a.inject_every and i and i % a.inject_every == 0:
            line = b"lead off!" + end + b"\xff\xfe\x00\x81" + end + fields[0].encode() + end + line
        try:
            os.write(fd, line)
        except OSError:
            os.close(fd)
            fd = None
            next_try = time.monotonic() + 0.01
    if fd is not None:
        os.close(fd)


if __name__ == "__main__":
    main()
