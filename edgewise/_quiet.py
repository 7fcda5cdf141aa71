"""Keep TensorFlow's, onnx2tf's and LiteRT's log chatter off the console unless ``edgewise --debug``.

TensorFlow's C++ code writes straight to file descriptor 2, below Python: the absl lines
(``I0000 ... devices.cc:67] Number of eligible GPUs``, ``tf_tfl_flatbuffer_helpers.cc:365] Ignored
output_format.``, the cuDNN/cuBLAS factory errors, ``All log messages before absl::InitializeLog() ...``)
and LiteRT's ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.``. ``contextlib.redirect_stderr``
never sees them and ``TF_CPP_MIN_LOG_LEVEL`` stops only some (the absl ones ignore it). So ``quiet()``
points fd 2 at a temporary file while the wrapped library calls run and restores it afterwards; Python
warnings are ignored and the TensorFlow/absl/keras/onnx2tf loggers raised to ERROR meanwhile.

Wrap only the library calls, never a loop that draws a tqdm bar: tqdm writes to fd 2 as well. fd 2 is
one per process, so a block hides what other threads write to stderr meanwhile. If the block raises, the
last captured lines go to the real stderr before the exception propagates, so a failed conversion is
never silent. With ``edgewise --debug`` (``EDGEWISE_DEBUG=1``) nothing is captured or changed.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
import warnings
from typing import IO, Iterator

__all__ = ["DEBUG_ENV", "debug_enabled", "quiet"]

DEBUG_ENV = "EDGEWISE_DEBUG"

# Read by TensorFlow when it is first imported (a user's own setting wins). Level 2 (errors only), not 3:
# errors still reach the capture file and hence the tail printed on failure.
_LIBRARY_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "GRPC_VERBOSITY": "ERROR"}
_LOGGERS = ("tensorflow", "absl", "keras", "h5py", "onnx2tf")

_lock = threading.Lock()
_depth = 0  # a quiet() inside another one leaves the capturing to the outer block


def debug_enabled() -> bool:
    """Whether library logs should reach the console (``edgewise --debug`` sets ``EDGEWISE_DEBUG=1``)."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


@contextlib.contextmanager
def quiet(what: str = "TensorFlow", *, tail: int = 20) -> Iterator[None]:
    """Silence library logging inside the block (fd 2, Python warnings, library loggers) unless debugging.

    Args:
        what: the library named above the captured lines printed when the block raises.
        tail: how many captured lines to print then.
    """
    global _depth
    if debug_enabled():
        yield
        return
    for key, value in _LIBRARY_ENV.items():
        os.environ.setdefault(key, value)
    with _lock:
        _depth += 1
        outer = _depth == 1
    try:
        if outer:
            with _python_quiet(), _captured_fd2(what, tail):
                yield
        else:
            yield
    finally:
        with _lock:
            _depth -= 1


@contextlib.contextmanager
def _python_quiet() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    levels = [lg.level for lg in loggers]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for lg in loggers:
                lg.setLevel(max(lg.level, logging.ERROR))
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@contextlib.contextmanager
def _captured_fd2(what: str, tail: int) -> Iterator[None]:
    """fd 2 -> a temporary file for the block; on an exception its last ``tail`` lines go to the real fd 2."""
    _flush_stderr()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a daemon): nothing to keep clean
        yield
        return
    log = tempfile.TemporaryFile()
    try:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            _flush_stderr()  # Python-level text written in the block belongs to the capture
            os.dup2(saved, 2)
    except Exception:
        _print_tail(log, what, tail)
        raise
    finally:
        os.close(saved)
        log.close()


def _flush_stderr() -> None:
    for stream in {id(s): s for s in (sys.stderr, sys.__stderr__) if s is not None}.values():
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()


def _print_tail(log: IO[bytes], what: str, tail: int) -> None:
    log.seek(0)
    lines = [line for line in log.read().decode("utf-8", "replace").splitlines() if line.strip()][-tail:]
    if lines:
        print(f"edgewise: the last {len(lines)} lines {what} logged before the error:",
              *(f"  {line}" for line in lines), sep="\n", file=sys.stderr, flush=True)
