"""Turn a Sentry ingest request body into items: decode, frame and bound it.

Two endpoints feed this module. `/api/<id>/envelope/` bodies are envelopes: a JSON header line,
then items, each a JSON header line and a payload framed by the header's `length` or, without
one, by the next newline (https://develop.sentry.dev/sdk/data-model/envelopes/).
`/api/<id>/store/` bodies are one event as JSON (old SDKs send it base64 + zlib).

Bodies arrive plain or with Content-Encoding gzip, deflate (zlib-wrapped or raw) or br, and are
inflated by `Decompressor` as a stream with a hard cap on output, so a zip bomb is stopped at the
cap instead of being inflated in memory. A server reading the body in chunks does:

    decoder = Decompressor(encoding, max_output=limits.max_envelope_bytes,
                           max_input=limits.max_body_bytes)   # max_event_bytes for /store/
    for chunk in body_chunks: decoder.feed(chunk)
    envelope = parse_envelope(decoder.finish(), limits)

and with the body in hand, `decode_envelope_body` / `decode_store_body` do the same at once.

Every refusal is an `EnvelopeError` carrying the HTTP status, a short machine code and a detail
a client developer can act on:

    EnvelopeError          400 invalid_envelope    framing or header shape is wrong
      InvalidEncoding      400 invalid_compression broken gzip/deflate/br stream
                           400 unsupported_encoding
      TruncatedEnvelope    400 truncated_envelope  an item's `length` runs past the end
      InvalidJson          400 invalid_json
      InvalidUtf8          400 invalid_utf8
      DuplicateItem        400 duplicate_item      a second event/transaction in one envelope
      TooLarge             413 too_large
        BodyTooLarge       413 body_too_large      bytes on the wire over `max_body_bytes`
        DecompressionBomb  413 decompressed_too_large
        EventTooLarge      413 event_too_large
        TooManyItems       413 too_many_items
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from trimtab.core.decompress import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_ENVELOPE_BYTES,
    Decompressor,
    decompress_body,
)
from trimtab.core.event_view import decode_event_view
from trimtab.core.ingest_errors import (
    BodyTooLarge,
    DecompressionBomb,
    DuplicateItem,
    EnvelopeError,
    EventTooLarge,
    InvalidEncoding,
    InvalidJson,
    InvalidUtf8,
    TooLarge,
    TooManyItems,
    TruncatedEnvelope,
)

__all__ = [
    "DEFAULT_LIMITS",
    "BodyTooLarge",
    "DecompressionBomb",
    "Decompressor",
    "DuplicateItem",
    "Envelope",
    "EnvelopeError",
    "EnvelopeItem",
    "EventTooLarge",
    "InvalidEncoding",
    "InvalidJson",
    "InvalidUtf8",
    "Limits",
    "TooLarge",
    "TooManyItems",
    "TruncatedEnvelope",
    "decode_envelope_body",
    "decode_json_object",
    "decode_store_body",
    "decompress_body",
    "envelope_header",
    "parse_envelope",
    "parse_store_body",
    "replace_nul",
]

MIB = 1024 * 1024

# Item types that carry one event; Relay bounds them by the event size and allows one each.
EVENT_ITEM_TYPES = frozenset({"event", "transaction", "security", "raw_security", "nel"})


@dataclass(frozen=True, slots=True)
class Limits:
    """Size bounds for one request, defaults as Relay's.

    `max_body_bytes` bounds the bytes on the wire whatever the encoding, so an uncompressed
    body is held to it too; `max_envelope_bytes` bounds the decoded envelope;
    `max_event_bytes` bounds one event item and a whole decoded /store/ body;
    `max_header_bytes` bounds the envelope header line, which ingest reads before the rest of
    a body that names its key only there.
    """

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_envelope_bytes: int = DEFAULT_MAX_ENVELOPE_BYTES
    max_event_bytes: int = 1 * MIB
    max_items: int = 1000
    max_header_bytes: int = 64 * 1024


DEFAULT_LIMITS = Limits()


class EnvelopeItem:
    """One item: its type, header dict and raw payload bytes.

    `json()` parses the payload on first use and remembers it. `event` items are read (and
    so validated) by `parse_envelope` already, into `event_view()`: the fields ingest reads.
    Items of types trimtab does not know are kept as they are so the caller can decide to skip
    them.
    """

    __slots__ = ("_parsed", "_view", "headers", "payload", "type")

    def __init__(self, type: str, headers: dict[str, Any], payload: bytes) -> None:
        self.type = type
        self.headers = headers
        self.payload = payload
        self._parsed: Any = _UNPARSED
        self._view: dict[str, Any] | None = None

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("content_type")
        return value if isinstance(value, str) else None

    @property
    def filename(self) -> str | None:
        value = self.headers.get("filename")
        return value if isinstance(value, str) else None

    def json(self) -> Any:
        """The payload parsed as JSON (any JSON value); raises InvalidJson / InvalidUtf8."""
        if self._parsed is _UNPARSED:
            self._parsed = _loads(self.payload, f"{self.type} item payload")
        return self._parsed

    def event_view(self) -> dict[str, Any]:
        """An `event` item's fields that ingest reads (`core.event_view`; the whole event when
        that lean read could not vouch for them), with the values `json()` would give."""
        if self._view is None:
            return self._read_event(f"{self.type} item payload")
        return self._view

    def _read_event(self, what: str) -> dict[str, Any]:
        """Read the payload into the view (refusing what `decode_json_object` refuses): where
        the lean read of `core.event_view` cannot vouch for its answer, the whole parse, which
        is then `json()`'s answer too."""
        view = decode_event_view(self.payload)
        if view is None:
            view = self._parsed = decode_json_object(self.payload, what)
        self._view = view
        return view

    def __repr__(self) -> str:
        return f"EnvelopeItem(type={self.type!r}, headers={self.headers!r}, {len(self.payload)} B)"


_UNPARSED: Any = object()


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed envelope: the header dict and the items in body order."""

    headers: dict[str, Any]
    items: list[EnvelopeItem]

    @property
    def event_id(self) -> str | None:
        return _str_or_none(self.headers.get("event_id"))

    @property
    def dsn(self) -> str | None:
        return _str_or_none(self.headers.get("dsn"))

    @property
    def sent_at(self) -> str | None:
        return _str_or_none(self.headers.get("sent_at"))

    @property
    def sdk(self) -> dict[str, Any] | None:
        value = self.headers.get("sdk")
        return value if isinstance(value, dict) else None

    def items_of(self, type: str) -> Iterator[EnvelopeItem]:
        """The items of one type, in body order."""
        return (item for item in self.items if item.type == type)

    @property
    def event(self) -> dict[str, Any] | None:
        """The `event` item's payload as a dict, if the envelope has one."""
        for item in self.items:
            if item.type == "event":
                parsed: dict[str, Any] = item.json()
                return parsed
        return None


def decode_envelope_body(
    body: bytes, content_encoding: str | None, limits: Limits = DEFAULT_LIMITS
) -> Envelope:
    """Decompress (bounded by `limits`) and parse a whole `/envelope/` request body."""
    data = decompress_body(
        body,
        content_encoding,
        max_output=limits.max_envelope_bytes,
        max_input=limits.max_body_bytes,
    )
    return parse_envelope(data, limits)


def decode_store_body(
    body: bytes, content_encoding: str | None, limits: Limits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """Decompress (bounded by the event limit) and parse a whole `/store/` request body."""
    data = decompress_body(
        body, content_encoding, max_output=limits.max_event_bytes, max_input=limits.max_body_bytes
    )
    return parse_store_body(data, limits)


def parse_envelope(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """Split a decoded envelope body into its header and items.

    Blank lines between items are tolerated because SDKs differ in how many newlines they
    write after a payload. `event` payloads are parsed here, so a broken event is a 400 now
    rather than a failure after the client got its 200.
    """
    size = len(data)
    if size > limits.max_envelope_bytes:
        raise TooLarge(
            f"envelope is {size} bytes, over the {limits.max_envelope_bytes} byte limit",
            code="envelope_too_large",
        )
    headers = envelope_header(data, limits, complete=True)
    assert headers is not None  # a complete body always has its header line
    end = data.find(b"\n")
    pos = size + 1 if end < 0 else end + 1
    items: list[EnvelopeItem] = []
    seen_single: set[str] = set()
    while pos < size:
        if data[pos] in _BLANK:
            # Searched in C: a body of 100 MB of blanks must not cost a Python loop per byte.
            next_text = _NOT_BLANK_RE.search(data, pos)
            if next_text is None:
                break
            pos = next_text.start()
        index = len(items)
        if index >= limits.max_items:
            raise TooManyItems(f"envelope has more than {limits.max_items} items")
        header_end = data.find(b"\n", pos)
        if header_end < 0:
            header_end = size
        item_headers = decode_json_object(data[pos:header_end], f"item {index} header")
        item_type = item_headers.get("type")
        if not isinstance(item_type, str) or not item_type:
            raise EnvelopeError(f'item {index} header has no "type"', code="missing_item_type")
        start = min(header_end + 1, size)
        payload, pos = _frame_payload(data, start, item_headers.get("length"), index, item_type)
        if item_type in EVENT_ITEM_TYPES:
            _check_event_item(item_type, payload, index, limits, seen_single)
        item = EnvelopeItem(item_type, item_headers, payload)
        if item_type == "event":
            item._read_event(f"item {index} (event) payload")
        items.append(item)
    return Envelope(headers, items)


def envelope_header(
    head: bytes, limits: Limits = DEFAULT_LIMITS, *, complete: bool
) -> dict[str, Any] | None:
    """The envelope header parsed from the first decoded bytes of a body.

    None while its line is not complete yet (`complete` says `head` is the whole body, so a
    header with no newline after it is complete too). Raises `TooLarge` once the line is over
    `limits.max_header_bytes`, and `EnvelopeError` / `InvalidJson` for a bad one.
    """
    end = head.find(b"\n")
    if end < 0:
        if len(head) <= limits.max_header_bytes and not complete:
            return None
        end = len(head)
    if end > limits.max_header_bytes:
        raise TooLarge(
            f"envelope header line is over the {limits.max_header_bytes} byte limit",
            code="header_too_large",
        )
    if not head[:end].strip():
        raise EnvelopeError("empty body: an envelope starts with a JSON header line")
    return decode_json_object(head[:end], "envelope header")


_BLANK = frozenset(b"\r\n\t ")
_NOT_BLANK_RE = re.compile(rb"[^\r\n\t ]")


def _frame_payload(
    data: bytes, start: int, length: Any, index: int, item_type: str
) -> tuple[bytes, int]:
    """Return (payload, position after it and its newline)."""
    size = len(data)
    if length is None:
        end = data.find(b"\n", start)
        if end < 0:
            end = size
        return data[start:end], end + 1
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise EnvelopeError(
            f"item {index} ({item_type}) has an invalid length {length!r}: use a byte count",
            code="invalid_item_length",
        )
    end = start + length
    if end > size:
        raise TruncatedEnvelope(
            f"item {index} ({item_type}) declares {length} payload bytes but only "
            f"{size - start} remain: the body was cut short or the length is wrong"
        )
    if end < size and data[end] != 0x0A:
        raise EnvelopeError(
            f"item {index} ({item_type}) payload is not followed by a newline after its "
            f"{length} bytes: check that length counts bytes, not characters",
            code="invalid_item_length",
        )
    return data[start:end], end + 1


def _check_event_item(
    item_type: str, payload: bytes, index: int, limits: Limits, seen: set[str]
) -> None:
    if len(payload) > limits.max_event_bytes:
        raise EventTooLarge(
            f"item {index} ({item_type}) is {len(payload)} bytes, over the "
            f"{limits.max_event_bytes} byte event limit"
        )
    if item_type in seen:
        raise DuplicateItem(f"envelope has more than one {item_type} item")
    seen.add(item_type)


def parse_store_body(data: bytes, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Decode a decoded `/store/` body into the event dict.

    Modern SDKs post JSON; very old ones post base64 of a zlib stream, which is accepted too.
    """
    if len(data) > limits.max_event_bytes:
        raise EventTooLarge(
            f"event is {len(data)} bytes, over the {limits.max_event_bytes} byte limit"
        )
    stripped = data.lstrip()
    if stripped[:1] not in (b"{", b""):
        stripped = _unwrap_legacy_store_body(stripped, limits)
    return decode_json_object(stripped, "event")


def _unwrap_legacy_store_body(data: bytes, limits: Limits) -> bytes:
    try:
        packed = binascii.a2b_base64(data)
    except binascii.Error:
        raise InvalidJson("event is neither JSON nor base64-encoded zlib JSON") from None
    try:
        return decompress_body(packed, "deflate", max_output=limits.max_event_bytes)
    except DecompressionBomb:
        raise EventTooLarge(
            f"event inflates to more than the {limits.max_event_bytes} byte limit"
        ) from None
    except InvalidEncoding:
        raise InvalidJson("event is neither JSON nor base64-encoded zlib JSON") from None


def decode_json_object(data: bytes, what: str) -> dict[str, Any]:
    """Parse `data` as a JSON object; `what` names it in the error ("item 0 header")."""
    value = _loads(data, what)
    if not isinstance(value, dict):
        raise InvalidJson(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def _loads(data: bytes, what: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        orjson_error = str(exc)
    # orjson refuses NaN/Infinity (Python's json.dumps writes them for float locals) and
    # lone surrogates (JS SDKs can cut a string between a surrogate pair); the standard
    # library takes both, and this slow path only runs for bodies orjson rejected.
    try:
        return _map_strings(json.loads(data), _pair_surrogates)
    except UnicodeDecodeError as exc:
        raise InvalidUtf8(
            f"{what} is not valid UTF-8 (bad byte at offset {exc.start}): send UTF-8 JSON"
        ) from None
    except (json.JSONDecodeError, RecursionError):
        raise InvalidJson(f"{what} is not valid JSON: {orjson_error}") from None
    except ValueError:
        # Python refuses to convert an integer of more than 4300 digits (CVE-2020-10735).
        raise InvalidJson(f"{what} holds a number too long to read: {orjson_error}") from None


def _pair_surrogates(text: str) -> str:
    # A UTF-16 round trip pairs what can be paired and turns the rest into U+FFFD, so the
    # text can later be encoded as UTF-8 for storage.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def replace_nul(value: Any, raw: bytes) -> Any:
    """`value`, parsed from the JSON `raw`, with U+FFFD for each NUL in its strings and keys.

    JSON carries a NUL only escaped (`\\u0000`), and an event's payload is stored as it came
    (compressed bytes), escape and all. But PostgreSQL text columns cannot hold NUL, so what
    ingest derives from a payload for its indexed columns (titles, culprits, tags, releases,
    environments) is derived from this, on both backends alike. Only JSON with the escape in
    it is walked; other values come back as they are, at the cost of one byte search.
    """
    return _map_strings(value, _replace_nul) if _NUL_ESCAPE.search(raw) else value


# A compiled pattern, not `in`: for this six-byte needle in SDK JSON (full of backslashes)
# `bytes.__contains__` took ~48 us per 37 KB event, the regex engine ~10 us.
_NUL_ESCAPE = re.compile(rb"\\u0000")


def _replace_nul(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def _map_strings(value: Any, fix: Callable[[str], str]) -> Any:
    """`value` with `fix` applied to every string in it, keys included."""
    if isinstance(value, str):
        return fix(value)
    if isinstance(value, dict):
        return {fix(k): _map_strings(v, fix) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, fix) for v in value]
    return value


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
