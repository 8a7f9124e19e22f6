"""Stream-decode an HTTP request body by its Content-Encoding, with a hard cap on the output.

The cap is checked after every step of at most `STEP` output bytes, so a zip bomb costs at most
the cap plus one step of memory before `DecompressionBomb` is raised; it is never inflated in
full. Supported: identity, gzip (also x-gzip, multi-member), deflate (zlib-wrapped as HTTP
says, or raw as some clients send it; told apart by the zlib header), br (needs `brotli`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

from trimtab.core.ingest_errors import (
    BodyTooLarge,
    DecompressionBomb,
    InvalidEncoding,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_ENVELOPE_BYTES",
    "STEP",
    "Decompressor",
    "decompress_body",
]

DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_ENVELOPE_BYTES = 100 * 1024 * 1024
STEP = 256 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
_NAMES = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate", "br": "br"}


def _normalize_encoding(content_encoding: str | None) -> str:
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip().lower()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return "identity"
    if len(codings) == 1 and codings[0] in _NAMES:
        return _NAMES[codings[0]]
    raise InvalidEncoding(
        f"unsupported Content-Encoding {content_encoding!r}: use gzip, deflate, br or none",
        code="unsupported_encoding",
    )


class Decompressor:
    """Decode one request body fed in chunks as they arrive.

    `feed(chunk)` for each chunk, then `finish()` for the decoded bytes. Raises
    `BodyTooLarge` once more than `max_input` bytes were fed, `DecompressionBomb` once the
    output would pass `max_output`, `InvalidEncoding` for a broken or cut-short stream.
    """

    def __init__(
        self,
        content_encoding: str | None,
        *,
        max_output: int = DEFAULT_MAX_ENVELOPE_BYTES,
        max_input: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.encoding = _normalize_encoding(content_encoding)
        self.max_output = max_output
        self.max_input = max_input
        self.bytes_in = 0
        self.bytes_out = 0
        self._parts: list[bytes] = []
        self._zlib: Any = None
        self._brotli: Any = None
        self._pending = b""  # deflate: bytes held until the zlib header can be recognised
        self._done = False  # the compressed stream ended (trailing bytes are then an error)
        self._newline = -1  # offset of the first decoded newline, once found
        self._searched = (0, 0)  # (parts, bytes) searched for it so far
        if self.encoding == "gzip":
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.encoding == "br":
            self._brotli = _new_brotli()

    def feed(self, chunk: bytes) -> None:
        """Decode the next chunk of the body."""
        for _ in self.feed_steps(chunk):
            pass

    def feed_steps(self, chunk: bytes) -> Iterator[int]:
        """Decode the next chunk one step (at most `STEP` output bytes) at a time, yielding the
        decoded size so far after each step.

        Between steps the caller may look at the output (`head`), stop for good (a refused
        body is inflated no further) or hand the rest of the steps to another thread. Run it
        to the end before feeding the next chunk.
        """
        if not chunk:
            return
        self.bytes_in += len(chunk)
        if self.bytes_in > self.max_input:
            raise BodyTooLarge(f"request body is over the {self.max_input} byte limit")
        for piece in self._decode(chunk):
            self._emit(piece)
            yield self.bytes_out

    def first_newline(self) -> int:
        """Offset of the first decoded newline, -1 while none is decoded yet. Each decoded part
        is searched once, however often this is asked."""
        parts, searched = self._searched
        while self._newline < 0 and parts < len(self._parts):
            at = self._parts[parts].find(b"\n")
            if at >= 0:
                self._newline = searched + at
            else:
                parts, searched = parts + 1, searched + len(self._parts[parts])
        self._searched = (parts, searched)
        return self._newline

    def head(self, limit: int) -> bytes:
        """The first `limit` decoded bytes (all of them while fewer are decoded)."""
        out = bytearray()
        for part in self._parts:
            out += part[: limit - len(out)]
            if len(out) >= limit:
                break
        return bytes(out)

    def finish(self) -> bytes:
        """Check the stream ended properly and return the whole decoded body."""
        if self.encoding == "deflate" and self._zlib is None:
            # A body under two bytes never showed its header; decode what is there as raw.
            self._start_deflate(self._pending)
            for piece in self._inflate(self._pending):
                self._emit(piece)
        if self._zlib is not None:
            for piece in self._inflate(b""):
                self._emit(piece)
            if not self._zlib.eof:
                raise InvalidEncoding(f"broken {self.encoding} body: the stream ends early")
            self._emit(self._zlib.flush())
        if self._brotli is not None and not self._brotli.is_finished():
            raise InvalidEncoding("broken br body: the stream ends early")
        return b"".join(self._parts)

    def _emit(self, piece: bytes) -> None:
        if not piece:
            return
        self.bytes_out += len(piece)
        if self.bytes_out > self.max_output:
            self._parts.clear()
            raise DecompressionBomb(
                f"{self.encoding} body inflates to more than the {self.max_output} byte limit"
            )
        self._parts.append(piece)

    def _decode(self, chunk: bytes) -> Iterator[bytes]:
        if self.encoding == "identity":
            yield chunk
        elif self.encoding == "br":
            yield from self._unbrotli(chunk)
        else:
            if self.encoding == "deflate" and self._zlib is None:
                self._pending += chunk
                if len(self._pending) < 2:
                    return
                chunk, self._pending = self._pending, b""
                self._start_deflate(chunk)
            yield from self._inflate(chunk)

    def _start_deflate(self, head: bytes) -> None:
        zlib_wrapped = (
            len(head) >= 2
            and head[0] & 0x0F == 8
            and head[0] >> 4 <= 7
            and ((head[0] << 8) | head[1]) % 31 == 0
        )
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        try:
            while True:
                if self._zlib.eof:
                    data = self._zlib.unused_data + data
                    if not data:
                        return
                    self._next_gzip_member(data)
                piece = self._zlib.decompress(data, STEP)
                data = self._zlib.unconsumed_tail
                yield piece
                # A full step may leave output inside zlib even when all input is consumed.
                if not data and len(piece) < STEP and not self._zlib.eof:
                    return
        except zlib.error as exc:
            raise InvalidEncoding(f"broken {self.encoding} body: {exc}") from None

    def _next_gzip_member(self, data: bytes) -> None:
        if self.encoding == "gzip" and data.startswith(_GZIP_MAGIC):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
            return
        if self.encoding == "gzip" and not data.strip(b"\x00"):
            # Zero padding after the last member is common from tape-era tools; gzip(1) too
            # ignores it.
            self._zlib = _Finished()
            return
        raise InvalidEncoding(f"broken {self.encoding} body: unexpected bytes after the stream")

    def _unbrotli(self, data: bytes) -> Iterator[bytes]:
        decoder = self._brotli
        try:
            if not _BROTLI_HAS_LIMIT:
                # Old brotli cannot bound one call's output; small input slices keep each
                # call's expansion modest (a weaker guarantee than with brotli >= 1.2).
                for i in range(0, len(data), 64):
                    yield decoder.process(data[i : i + 64])
                return
            yield decoder.process(data, output_buffer_limit=STEP)
            while not decoder.can_accept_more_data():
                yield decoder.process(b"", output_buffer_limit=STEP)
        except _brotli_error() as exc:
            raise InvalidEncoding(f"broken br body: {exc}") from None


class _Finished:
    """Stands in for a zlib object once only padding remains."""

    eof = True
    unused_data = b""
    unconsumed_tail = b""

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        if data.strip(b"\x00"):
            raise zlib.error("unexpected bytes after the stream")
        return b""

    def flush(self) -> bytes:
        return b""


_BROTLI_HAS_LIMIT = True


def _new_brotli() -> Any:
    global _BROTLI_HAS_LIMIT
    try:
        import brotli  # imported here: only br bodies need it
    except ImportError:
        raise InvalidEncoding(
            "Content-Encoding br is not available on this server (install brotli)",
            code="unsupported_encoding",
        ) from None
    decoder = brotli.Decompressor()
    _BROTLI_HAS_LIMIT = hasattr(decoder, "can_accept_more_data")
    return decoder


def _brotli_error() -> type[Exception]:
    import brotli

    error: type[Exception] = brotli.error
    return error


def decompress_body(
    body: bytes,
    content_encoding: str | None,
    *,
    max_output: int = DEFAULT_MAX_ENVELOPE_BYTES,
    max_input: int = DEFAULT_MAX_BODY_BYTES,
) -> bytes:
    """Decode a whole body at once; same limits and errors as `Decompressor`."""
    decoder = Decompressor(content_encoding, max_output=max_output, max_input=max_input)
    decoder.feed(body)
    return decoder.finish()
