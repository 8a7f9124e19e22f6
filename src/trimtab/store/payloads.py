"""How an event's raw JSON is kept: one zstandard frame (level 3).

A ~37 KB event from the Python SDK (twenty frames with locals and context lines, breadcrumbs,
contexts) keeps in about 4.5 KB: SDK events repeat their keys, paths and source lines, and
zstandard finds the repeats inside one event. A dictionary trained on SDK events would shave
more, but is not needed for the ≤ 8 KB per event target (docs/benchmarks.md), so none ships.

Compression runs in the ingest writer thread; zstandard releases the GIL while it works, so it
overlaps with request parsing on the event loop.
"""

from __future__ import annotations

import threading

import zstandard

__all__ = ["LEVEL", "compress_payload", "decompress_payload"]

LEVEL = 3
_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    # Compressor objects are not thread-safe; each thread keeps its own.
    compressor: zstandard.ZstdCompressor | None = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = zstandard.ZstdCompressor(level=LEVEL)
        _local.compressor = compressor
    return compressor


def compress_payload(data: bytes) -> bytes:
    """One zstandard frame holding `data` (with its size, for a one-shot decompress)."""
    return bytes(_compressor().compress(data))


def decompress_payload(data: bytes) -> bytes:
    """The bytes `compress_payload` was given."""
    return bytes(zstandard.ZstdDecompressor().decompress(data))
