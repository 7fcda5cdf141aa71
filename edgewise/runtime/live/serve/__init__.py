"""The live view: ``edgewise run ... --serve HOST:PORT`` serves a page that draws the stream as it runs.

Standard library only (``http.server`` + server-sent events) and a plain HTML/JS/canvas page with no
build step and nothing loaded from the network. ECG: the last 10 s of trace with P/QRS/T spans, heart
rate, gaps and faults. Mosquito: the probability trace of the last 60 s, the threshold, the events.
"""
from __future__ import annotations

from edgewise.runtime.live.serve.history import History, MinMaxDecimator
from edgewise.runtime.live.serve.server import LiveServer, is_loopback, parse_serve_address

__all__ = ["LiveServer", "History", "MinMaxDecimator", "parse_serve_address", "is_loopback"]
