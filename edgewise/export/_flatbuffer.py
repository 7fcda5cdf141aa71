"""Write a TFLite model object with identical vectors and leaf tables stored once.

``flatbuffer_utils.write_model`` packs every tensor's shape, quantisation scale and zero point, every
operator's options table and every empty buffer separately, although most are identical: on the
lifted ECG U-Net dozens of tensors share the shape ``[1, L, 1, C]``, every activation has the zero
point vector ``[0]`` and every 9-tap convolution the same ``Conv2DOptions``. FlatBuffers allows several
references to one object (it is a DAG format; ``Builder.CreateSharedString`` does the same for
strings), so this writer keeps one copy of each identical numeric vector and of each table whose fields
are only scalars and vectors. The interpreter reads the same values (outputs bit-identical, tested); a
small int8 file loses ~3 % of its bytes, the graph's fixed cost that decides its size ratio against
the float file. Written by hand because neither the TFLite tools nor ``flatbuffers`` offer it.
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np

_TFLITE_FILE_IDENTIFIER = b"TFL3"


def _leaf_key(obj: Any) -> tuple | None:
    """A hashable key of a table whose fields are scalars, numpy vectors or None; None otherwise."""
    key: list[Any] = [type(obj).__name__]
    for name, v in sorted(vars(obj).items()):
        if v is None or isinstance(v, (bool, int, float, np.integer, np.floating)):
            key.append((name, v))
        elif isinstance(v, np.ndarray):
            key.append((name, v.dtype.str, v.shape, v.tobytes()))
        else:
            return None  # nested tables, strings, lists: packed as they are
    return tuple(key)


def _builder_class() -> type:
    import flatbuffers

    class SharingBuilder(flatbuffers.Builder):
        """A ``flatbuffers.Builder`` that returns the first offset of an identical numpy vector."""

        def __init__(self, size: int):
            super().__init__(size)
            self.vectors: dict[tuple, int] = {}
            self.tables: dict[tuple, int] = {}

        def CreateNumpyVector(self, x: np.ndarray) -> int:  # noqa: N802 (flatbuffers' name)
            key = (x.dtype.str, x.shape, x.tobytes())
            if key not in self.vectors:
                self.vectors[key] = super().CreateNumpyVector(x)
            return self.vectors[key]

    return SharingBuilder


@contextlib.contextmanager
def _sharing_tables(builder_cls: type) -> Iterator[None]:
    """Make every generated ``...T.Pack`` of the TFLite schema reuse an identical leaf table's offset
    when packing into a ``builder_cls`` (restored on exit)."""
    from tensorflow.lite.python import schema_py_generated as schema

    originals: dict[type, Any] = {}
    for name in dir(schema):
        cls = getattr(schema, name)
        if isinstance(cls, type) and name.endswith("T") and callable(getattr(cls, "Pack", None)):
            originals[cls] = cls.Pack

            def pack(self: Any, builder: Any, _orig: Any = cls.Pack) -> int:
                key = _leaf_key(self) if isinstance(builder, builder_cls) else None
                if key is None:
                    return _orig(self, builder)
                if key not in builder.tables:
                    builder.tables[key] = _orig(self, builder)
                return builder.tables[key]

            cls.Pack = pack
    try:
        yield
    finally:
        for cls, fn in originals.items():
            cls.Pack = fn


def write_shared(model: Any, path: str | Path) -> Path:
    """Serialise ``model`` (``schema_py_generated.ModelT``) to ``path`` with shared identical objects.

    Raises:
        ValueError: on a big-endian host (TFLite files are little-endian; use ``flatbuffer_utils``).
    """
    if sys.byteorder == "big":
        raise ValueError("write_shared writes little-endian hosts only; use flatbuffer_utils.write_model")
    cls = _builder_class()
    builder = cls(1024)
    with _sharing_tables(cls):
        builder.Finish(model.Pack(builder), file_identifier=_TFLITE_FILE_IDENTIFIER)
    path = Path(path)
    path.write_bytes(bytes(builder.Output()))
    return path
