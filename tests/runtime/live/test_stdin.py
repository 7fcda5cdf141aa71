"""StdinSource: lines piped into a real process's standard input, and a silent pipe that ``stop`` ends."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time

import numpy as np

from edgewise.runtime.live.sources.stdin import StdinSource

from ._collect import collect, kinds

# the reader: a separate process whose own stdin is the pipe, as `... | edgewise run ecg --source stdin`
READER = """
import json, sys
import numpy as np
from edgewise.runtime.live.sources import Block, Fault, open_source
src = open_source("stdin", rate=500, column=sys.argv[2])
items = list(src)
x = np.concatenate([i.samples for i in items if isinstance(i, Block)])
np.save(sys.argv[1], x)
starts = [i.start for i in items if isinstance(i, Block)]
print(json.dumps({"counters": src.counters, "channels": src.channels, "blocks": len(starts),
                  "faults_at": [i.at for i in items if isinstance(i, Fault)]}))
"""


def _pipe_through_reader(tmp_path, payload: bytes, column: str = "0") -> tuple[np.ndarray, dict]:
    out = tmp_path / "x.npy"
    p = subprocess.Popen([sys.executable, "-c", READER, str(out), column], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # written in uneven pieces, as a pipe delivers them: lines are cut across reads
    for k in range(0, len(payload), 777):
        p.stdin.write(payload[k: k + 777])
        p.stdin.flush()
    p.stdin.close()
    stdout, stderr = p.stdout.read(), p.stderr.read()
    p.wait(timeout=60)
    assert p.returncode == 0, stderr.decode()
    return np.load(out), json.loads(stdout)


def test_piped_lines_arrive_exactly(tmp_path, lead_ii):
    # tab-separated "time<TAB>value" with CRLF, blank lines, a header, and no newline at the very end
    lines = [f"{k / 500:.3f}\t{float(v)!r}" for k, v in enumerate(lead_ii)]
    payload = ("time\tii\r\n" + "\r\n".join(lines[:2500]) + "\r\n\r\n" + "\r\n".join(lines[2500:])).encode()
    x, info = _pipe_through_reader(tmp_path, payload, column="1")
    np.testing.assert_array_equal(x[:, 0], lead_ii)
    assert info["counters"] == {"garbage": 1} and info["faults_at"] == [0]  # the header line
    assert info["channels"] == 1


def test_several_columns_and_short_lines(tmp_path):
    payload = b"1;2;3\n4 5 6\n7,8\n9,10,11\nbad,12,13\n"
    x, info = _pipe_through_reader(tmp_path, payload, column="0,2")
    np.testing.assert_array_equal(x, [[1, 3], [4, 6], [9, 11]])
    assert info["counters"] == {"partial": 1, "garbage": 1} and info["channels"] == 2


def test_stop_ends_a_silent_pipe_promptly():
    r, w = os.pipe()
    try:
        with os.fdopen(r, "rb", buffering=0) as stream:
            source = StdinSource(250, stream=stream)
            t0 = time.monotonic()
            items = collect(source, lambda it: False, timeout=0.3)
            took = time.monotonic() - t0
    finally:
        os.close(w)
    assert items == [] and took < 0.45


def test_a_slow_writers_lines_are_gathered_into_blocks():
    r, w = os.pipe()

    took = {}

    def sensor():  # one line every 10 ms for 0.2 s (longer on a busy machine)
        t0 = time.monotonic()
        for k in range(20):
            os.write(w, f"{k}\n".encode())
            time.sleep(0.01)
        took["s"] = time.monotonic() - t0
        os.close(w)

    with os.fdopen(r, "rb", buffering=0) as stream:
        source = StdinSource(100, stream=stream, block_seconds=0.1)
        t = threading.Thread(target=sensor)
        t.start()
        items = list(source)
        t.join()
    assert kinds(items) == ["block"]
    np.testing.assert_array_equal(np.concatenate([i.samples for i in items])[:, 0], np.arange(20))
    # one read per 0.1 s (not a block per line): 2-3 blocks when the writer keeps its 10 ms pace
    assert 2 <= len(items) <= math.ceil(took["s"] / 0.1) + 1, ([len(i.samples) for i in items], took)
