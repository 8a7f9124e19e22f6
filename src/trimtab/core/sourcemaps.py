"""Source map v3: decode a map, look a generated position up, recover function names.

Pure: bytes in, positions out (no web, no database). A map is the JSON of the spec
(https://tc39.es/ecma426/): `mappings` is a `;`-separated list of generated lines, each a
`,`-separated list of segments of 1, 4 or 5 base64 VLQ fields (generated column, source index,
original line, original column, name index), every field but the generated column relative to
the previous segment of the whole map, the generated column relative to the previous segment
of its line. An index map (`sections`, each with an `offset` and an inline `map`) is read as
its sections; sections by `url` are not fetched.

Positions are 0-based here, as in the spec; stack frames are 1-based (the caller converts).

Function names: a minified frame names the minified function (`s`), and the map's token at
the frame's position names what the throwing line references (`Error`), not the function it is
in. So, like Sentry's processor, `original_function_name` walks the tokens back from the frame
and returns the name of the nearest token whose generated text in the minified source *is*
the minified function name: the declaration of that function.

Every input is bounded (`Limits`); a map beyond a bound or malformed raises `SourceMapError`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

__all__ = [
    "Limits",
    "SourceMap",
    "SourceMapError",
    "Token",
    "decode_vlq_line",
    "parse_source_map",
]

_B64 = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}
_XSSI_PREFIX = b")]}'"
_IDENT_RE = re.compile(r"[A-Za-z_$][\w$]*")


class SourceMapError(ValueError):
    """The bytes are not a usable source map (malformed, or beyond a bound)."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int = 32 * 1024 * 1024
    max_sources: int = 20_000
    max_sections: int = 1_000
    max_segments: int = 5_000_000
    max_name_scan: int = 50_000  # tokens walked back to find a function's declaration


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Token:
    """One mapping: a generated position and the original one it comes from (0-based)."""

    dst_line: int
    dst_col: int
    src: str | None
    src_line: int
    src_col: int
    name: str | None
    source_index: int  # -1 for a segment with no source


def decode_vlq_line(text: str) -> list[list[int]]:
    """The raw VLQ values of one generated line's segments (each field still relative)."""
    segments: list[list[int]] = []
    values: list[int] = []
    value = shift = 0
    for char in text:
        if char == ",":
            if shift:
                raise SourceMapError("VLQ value cut short")
            segments.append(values)
            values = []
            continue
        digit = _B64.get(char)
        if digit is None:
            raise SourceMapError(f"invalid character {char!r} in mappings")
        value += (digit & 31) << shift
        if digit & 32:
            shift += 5
            if shift > 60:
                raise SourceMapError("VLQ value too long")
            continue
        values.append(-(value >> 1) if value & 1 else value >> 1)
        value = shift = 0
    if shift:
        raise SourceMapError("VLQ value cut short")
    if values:
        segments.append(values)
    return segments


class _Plain:
    """A regular (non-index) map: its tokens per generated line, sorted by column."""

    def __init__(self, doc: dict[str, Any], limits: Limits) -> None:
        sources = doc.get("sources") or []
        names = doc.get("names") or []
        mappings = doc.get("mappings", "")
        if not isinstance(sources, list) or not isinstance(names, list):
            raise SourceMapError("sources and names must be lists")
        if not isinstance(mappings, str):
            raise SourceMapError("mappings must be a string")
        if len(sources) > limits.max_sources:
            raise SourceMapError(f"more than {limits.max_sources} sources")
        root = doc.get("sourceRoot")
        prefix = root.rstrip("/") + "/" if isinstance(root, str) and root else ""
        self.sources = [prefix + s if isinstance(s, str) else None for s in sources]
        self.names = [n if isinstance(n, str) else None for n in names]
        contents = doc.get("sourcesContent")
        self.contents: list[str | None] = [
            c if isinstance(c, str) else None
            for c in (contents if isinstance(contents, list) else [])
        ]
        self._content_lines: dict[int, list[str]] = {}
        self.lines = self._decode(mappings, limits)
        self.columns = [[t.dst_col for t in line] for line in self.lines]

    def _decode(self, mappings: str, limits: Limits) -> list[list[Token]]:
        out: list[list[Token]] = []
        src = src_line = src_col = name = 0
        count = 0
        for dst_line, text in enumerate(mappings.split(";")):
            tokens: list[Token] = []
            dst_col = 0
            for seg in decode_vlq_line(text) if text else ():
                count += 1
                if count > limits.max_segments:
                    raise SourceMapError(f"more than {limits.max_segments} mappings")
                dst_col += seg[0]
                if len(seg) == 1:
                    tokens.append(Token(dst_line, dst_col, None, 0, 0, None, -1))
                    continue
                if len(seg) not in (4, 5):
                    raise SourceMapError(f"a segment of {len(seg)} fields")
                src += seg[1]
                src_line += seg[2]
                src_col += seg[3]
                token_name = None
                if len(seg) == 5:
                    name += seg[4]
                    token_name = self.names[name] if 0 <= name < len(self.names) else None
                source = self.sources[src] if 0 <= src < len(self.sources) else None
                tokens.append(Token(dst_line, dst_col, source, src_line, src_col, token_name, src))
            tokens.sort(key=lambda t: t.dst_col)
            out.append(tokens)
        return out

    def lookup(self, line: int, col: int) -> Token | None:
        if not 0 <= line < len(self.lines):
            return None
        i = bisect.bisect_right(self.columns[line], col) - 1
        return self.lines[line][i] if i >= 0 else None

    def tokens_before(self, token: Token) -> Any:
        """The tokens from `token` back to the start of the map, nearest first."""
        line = token.dst_line
        i = bisect.bisect_right(self.columns[line], token.dst_col) - 1
        while line >= 0:
            row = self.lines[line]
            for j in range(i, -1, -1):
                yield row[j]
            line -= 1
            i = len(self.lines[line]) - 1 if line >= 0 else -1

    def source_lines(self, index: int) -> list[str] | None:
        if index not in self._content_lines:
            content = self.contents[index] if 0 <= index < len(self.contents) else None
            if content is None:
                return None
            self._content_lines[index] = content.splitlines()
        return self._content_lines[index]


class SourceMap:
    """A decoded map (regular or index). Build with `parse_source_map`. Its tokens carry
    positions in the whole generated file, whatever section they come from."""

    def __init__(self, sections: list[tuple[int, int, _Plain]], size: int) -> None:
        self._sections = sections  # (line offset, column offset, map), in order
        self._starts = [(line, col) for line, col, _ in sections]
        self.size = size  # bytes of JSON it was decoded from, for cache accounting

    def _section(self, line: int, col: int) -> tuple[int, int, _Plain] | None:
        i = bisect.bisect_right(self._starts, (line, col)) - 1
        return self._sections[i] if i >= 0 else None

    def lookup(self, line: int, col: int) -> Token | None:
        """The token covering generated (line, col), 0-based; None when nothing maps there."""
        found = self._section(line, col)
        if found is None:
            return None
        off_line, off_col, plain = found
        rel_col = col - off_col if line == off_line else col
        token = plain.lookup(line - off_line, rel_col)
        if token is None or token.source_index < 0:
            return None
        return _shift(token, off_line, off_col)

    def context(self, token: Token, lines: int = 5) -> tuple[list[str], str, list[str]] | None:
        """Lines of original source around the token, from `sourcesContent`, when present."""
        found = self._section(token.dst_line, token.dst_col)
        source = found[2].source_lines(token.source_index) if found else None
        if source is None or not 0 <= token.src_line < len(source):
            return None
        at = token.src_line
        return source[max(0, at - lines) : at], source[at], source[at + 1 : at + 1 + lines]

    def original_function_name(
        self, token: Token, minified_name: str, minified_lines: Sequence[str], limits: Limits
    ) -> str | None:
        """The original name of `minified_name`, the function `token` lies in (see module doc)."""
        if not _IDENT_RE.fullmatch(minified_name):
            return None
        found = self._section(token.dst_line, token.dst_col)
        if found is None:
            return None
        off_line, off_col, plain = found
        start = _shift(token, -off_line, -off_col)
        for walked, candidate in enumerate(plain.tokens_before(start)):
            if walked >= limits.max_name_scan:
                return None
            if candidate.name is None:
                continue
            line = candidate.dst_line + off_line
            col = candidate.dst_col + (off_col if candidate.dst_line == 0 else 0)
            if not 0 <= line < len(minified_lines):
                continue
            match = _IDENT_RE.match(minified_lines[line], col)
            if match is not None and match.group() == minified_name:
                return str(candidate.name)
        return None


def _shift(token: Token, lines: int, cols: int) -> Token:
    """The token moved by a section's offset (the column only on the section's first line)."""
    first = token.dst_line == (0 if lines >= 0 else -lines)
    return replace(
        token, dst_line=token.dst_line + lines, dst_col=token.dst_col + (cols if first else 0)
    )


def parse_source_map(data: bytes, limits: Limits = DEFAULT_LIMITS) -> SourceMap:
    """Decode a map (JSON bytes, an optional `)]}'` first line allowed)."""
    if len(data) > limits.max_bytes:
        raise SourceMapError(f"source map larger than {limits.max_bytes} bytes")
    body = data
    if body.startswith(_XSSI_PREFIX):
        body = body.split(b"\n", 1)[1] if b"\n" in body else b""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SourceMapError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise SourceMapError("a source map is a JSON object")
    if doc.get("version", 3) != 3:
        raise SourceMapError(f"unsupported source map version {doc.get('version')!r}")
    sections = doc.get("sections")
    if sections is None:
        return SourceMap([(0, 0, _Plain(doc, limits))], len(data))
    if not isinstance(sections, list) or len(sections) > limits.max_sections:
        raise SourceMapError(f"sections must be a list of at most {limits.max_sections}")
    out: list[tuple[int, int, _Plain]] = []
    for section in sections:
        if not isinstance(section, dict) or not isinstance(section.get("map"), dict):
            raise SourceMapError("only index map sections with an inline map are supported")
        offset = section.get("offset")
        if not isinstance(offset, dict):
            raise SourceMapError("a section needs an offset")
        line, col = offset.get("line"), offset.get("column")
        if not isinstance(line, int) or not isinstance(col, int) or line < 0 or col < 0:
            raise SourceMapError("a section offset is two non-negative integers")
        if out and (line, col) < (out[-1][0], out[-1][1]):
            raise SourceMapError("sections must be in order")
        out.append((line, col, _Plain(section["map"], limits)))
    return SourceMap(out, len(data))
