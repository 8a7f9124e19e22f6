"""How an event's raw JSON is kept: one zstandard frame, optionally with a shipped dictionary.

Events from one SDK repeat the same keys, module names and breadcrumb shapes; a small
dictionary trained on such events (`event_dictionary.zstd` beside this module, when present)
lets each ~40 KB event compress to a fraction of what it would alone. The frame header names
the dictionary id, so old rows stay readable when a new dictionary ships next to the old ones:
`decompress_payload` picks the dictionary by the id the frame names.

Compression runs in the ingest writer thread; zstandard releases the GIL while it works, so it
overlaps with request parsing on the event loop.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import zstandard

__all__ = ["LEVEL", "compress_payload", "decompress_payload", "dictionary_id"]

LEVEL = 3
_DICTIONARY_DIR = Path(__file__).with_name("dictionaries")
_local = threading.local()


@lru_cache(maxsize=1)
def _dictionaries() -> dict[int, zstandard.ZstdCompressionDict]:
    found: dict[int, zstandard.ZstdCompressionDict] = {}
    if _DICTIONARY_DIR.is_dir():
        for path in sorted(_DICTIONARY_DIR.glob("*.zdict")):
            dictionary = zstandard.ZstdCompressionDict(path.read_bytes())
            found[dictionary.dict_id()] = dictionary
    return found


def dictionary_id() -> int:
    """The id of the dictionary new payloads are compressed with; 0 when none ships."""
    return max(_dictionaries(), default=0)


def _compressor() -> zstandard.ZstdCompressor:
    # Compressor objects are not thread-safe; each thread keeps its own.
    compressor: zstandard.ZstdCompressor | None = getattr(_local, "compressor", None)
    if compressor is None:
        current = dictionary_id()
        dictionary = _dictionaries().get(current)
        compressor = zstandard.ZstdCompressor(level=LEVEL, dict_data=dictionary)
        _local.compressor = compressor
    return compressor


def compress_payload(data: bytes) -> bytes:
    """One zstandard frame holding `data` (with its size, for a one-shot decompress)."""
    return bytes(_compressor().compress(data))


def decompress_payload(data: bytes) -> bytes:
    """The bytes `compress_payload` was given."""
    dict_id = zstandard.get_frame_parameters(data).dict_id
    if dict_id:
        dictionary = _dictionaries().get(dict_id)
        if dictionary is None:
            raise ValueError(f"event payload needs zstd dictionary {dict_id}, which is not shipped")
        return bytes(zstandard.ZstdDecompressor(dict_data=dictionary).decompress(data))
    return bytes(zstandard.ZstdDecompressor().decompress(data))
