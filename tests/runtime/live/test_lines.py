"""The text-line parser and indexer shared by the serial and stdin sources, and ``open_source``'s spec parsing."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edgewise.runtime.errors import InputError
from edgewise.runtime.live.sources import Block, Fault, Gap, open_source
from edgewise.runtime.live.sources.lines import LineIndexer, LineParser


def _feed_bytewise(parser: LineParser, data: bytes):
    """Every byte its own read: the worst chunking a cable can do."""
    out = [parser.feed(data[k: k + 1]) for k in range(len(data))]
    return np.concatenate([o.values for o in out]), [f for o in out for f in o.faults]


@pytest.mark.parametrize("data", [
    b"1.5,2\n-3e-2;4\n5\t6\n7 8\n", b"1.5,2\r\n-3e-2;4\r\n5\t6\r\n7 8\r\n", b"1.5,2\r-3e-2;4\r5\t6\r7 8\r",
    b"\n\n1.5 , 2\n\n-3e-2 ;4\n  5\t\t6  \n7 8\n",
], ids=["lf", "crlf", "cr", "blank-lines-and-padding"])
def test_separators_and_line_ends(data):
    parser = LineParser(column=1)
    values, faults = _feed_bytewise(parser, data)
    np.testing.assert_array_equal(values[:, 0], [2, 4, 6, 8])
    assert faults == []
    assert parser.flush(cut=True).faults == []  # nothing left over


def test_garbage_partial_and_runaway_lines():
    parser = LineParser(column=[0, 2], max_line_bytes=64)
    p = parser.feed(b"1,2,3\nBOOT v1.2\n\xff\xfe\n4,5\n6,7,8\n" + b"9" * 100)
    np.testing.assert_array_equal(p.values, [[1, 3], [6, 8]])
    assert [(row, kind) for row, kind, _ in p.faults] == [(1, "garbage"), (1, "garbage"), (1, "partial"),
                                                          (2, "garbage")]
    assert "wrong baud rate" in p.faults[-1][2]
    tail = parser.feed(b"1,2")
    assert len(tail.values) == 0
    cut = parser.flush(cut=True)
    assert [k for _, k, _ in cut.faults] == ["partial"] and len(cut.values) == 0
    parser.feed(b"1,2,3")
    np.testing.assert_array_equal(parser.flush(cut=False).values, [[1, 3]])  # EOF: the last line counts


def test_bad_arguments_are_clear():
    with pytest.raises(InputError, match="column must be"):
        LineParser(column=-1)
    with pytest.raises(InputError, match="timestamp_unit must be one of"):
        LineParser(timestamp_column=1, timestamp_unit="us")


def test_indexer_splits_blocks_and_places_faults():
    parser, indexer = LineParser(), LineIndexer(100, block_samples=4)
    items = indexer.items(parser.feed(b"".join(b"%d\n" % k for k in range(6)) + b"x\ny\n6\n7\n"))
    assert [(type(i).__name__, i.start if not isinstance(i, Fault) else i.at) for i in items] == [
        ("Block", 0), ("Block", 4), ("Fault", 6), ("Block", 6)]
    assert items[2].count == 2 and "(+1 more)" in items[2].detail
    np.testing.assert_array_equal(np.concatenate([i.samples for i in items if isinstance(i, Block)])[:, 0],
                                  np.arange(8))


def test_timestamps_size_gaps_locally_and_tolerate_jitter_and_resets():
    parser = LineParser(column=0, timestamp_column=1, timestamp_unit="ms")
    indexer = LineIndexer(250, block_samples=100)  # 4 ms per sample
    t = [0, 4, 8.5, 12, 16, 36, 40, 44, 3, 7]  # jitter at 8.5; 4 lost before 36; a sensor reset at 3
    items = indexer.items(parser.feed(b"".join(b"%d,%g\n" % (k, ms) for k, ms in enumerate(t))))
    gaps = [i for i in items if isinstance(i, Gap)]
    assert gaps == [Gap(5, 4, "dropped")]
    blocks = [i for i in items if isinstance(i, Block)]
    assert [(b.start, len(b.samples)) for b in blocks] == [(0, 5), (9, 5)]
    # the next read continues the sensor's clock: a jump across reads is a gap too
    more = indexer.items(parser.feed(b"10,11\n11,31\n"))
    assert [type(i).__name__ for i in more] == ["Block", "Gap", "Block"] and more[1].samples == 4
    indexer.after_outage("disconnected")
    assert indexer.items(parser.feed(b"12,51\n"))[0] == Gap(20, 4, "disconnected")


@pytest.mark.parametrize("spec, message", [
    ("usb:/dev/x", "unknown source 'usb:/dev/x'"),
    ("serial:", "unknown source"),
    ("file:", "unknown source"),
    ("stdin:foo", "unknown source"),
])
def test_unknown_specs_list_the_accepted_forms(spec, message):
    with pytest.raises(InputError, match=message + ".*serial:PATH, mic, mic:NAME_OR_INDEX, file:PATH, stdin"):
        open_source(spec)


def test_line_sources_need_a_rate_and_numeric_columns():
    with pytest.raises(InputError, match="needs the writer's sample rate"):
        open_source("stdin")
    with pytest.raises(InputError, match="a number or a list like 0,2"):
        open_source("stdin", rate=250, column="ii")
    assert open_source("stdin", rate=250, column="0,2").channels == 2


@pytest.mark.parametrize("module, spec, extra", [
    ("serial", "serial:/dev/ttyUSB0", "edgewise[serial]"),
    ("sounddevice", "mic", "edgewise[mic]"),
], ids=["pyserial", "sounddevice"])
def test_a_missing_library_names_its_extra(module, spec, extra):
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from edgewise.runtime.errors import BackendMissingError\n"
            "from edgewise.runtime.live.sources import open_source\n"
            "try:\n"
            f"    open_source({spec!r}, rate=250)\n"
            "except BackendMissingError as e:\n"
            "    print(e)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert f"pip install '{extra}'" in p.stdout
