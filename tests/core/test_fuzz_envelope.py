"""Property tests of the envelope parser: whatever bytes arrive, the parser answers with an
Envelope or one of its documented `EnvelopeError`s (a 4xx), never another exception (a 500);
and what an SDK frames, it gets back item for item.

Random bytes rarely get past the header line, so most inputs are valid envelopes with a few
mutations: cut short, bytes inserted (newlines, braces, bad UTF-8, NaN, an integer too long to
convert, a lone surrogate escape, a `length`), or a slice removed.
"""

from __future__ import annotations

import base64
import gzip
import zlib
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.core.json_values import json_objects, plain_values
from tests.core.test_envelope import ENCODINGS, _encode
from trimtab.core.envelope import (
    EVENT_ITEM_TYPES,
    Envelope,
    EnvelopeError,
    Limits,
    decode_envelope_body,
    decode_store_body,
    parse_envelope,
    parse_store_body,
)

# Small limits, so the size checks are reached by small inputs too.
SMALL = Limits(max_body_bytes=4096, max_envelope_bytes=4096, max_event_bytes=512, max_items=8)
LIMITS = st.sampled_from([Limits(), SMALL])

ITEM_TYPES = st.sampled_from(
    ["event", "session", "sessions", "attachment", "transaction", "client_report", "x-custom"]
)
PAYLOADS = st.one_of(
    st.binary(max_size=64),
    plain_values.map(orjson.dumps),
    st.text(max_size=30).map(str.encode),
)
ITEM_HEADERS = st.dictionaries(st.sampled_from(["filename", "content_type", "x"]), plain_values)
EVENTS = json_objects.map(orjson.dumps)
TOKENS = st.sampled_from(
    [
        b"\n",
        b"\r\n",
        b"{",
        b"}",
        b'"',
        b"\xff\xfe",
        b"\xc3",
        b"NaN",
        b"-Infinity",
        b"1" * 4301,  # Python refuses to convert integers this long
        b'"\\ud800"',
        b'"length":',
        b'"length":99999,',
        b'"length":-1,',
        b'"type":"event",',
        b"[" * 2000,
        b"\x00",
    ]
)


@st.composite
def items(draw: st.DrawFn) -> tuple[str, dict[str, Any], bytes]:
    """One item as an SDK would frame it: (type, extra headers, payload)."""
    item_type = draw(ITEM_TYPES)
    headers = draw(ITEM_HEADERS)
    payload = draw(EVENTS if item_type == "event" else PAYLOADS)
    return item_type, headers, payload


@st.composite
def envelopes(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any], bytes]]]:
    """A valid envelope's header and items (at most one item of each event type)."""
    header = draw(json_objects)
    drawn = draw(st.lists(items(), max_size=5))
    seen: set[str] = set()
    kept = []
    for item_type, headers, payload in drawn:
        if item_type in EVENT_ITEM_TYPES:
            if item_type in seen:
                continue
            seen.add(item_type)
        kept.append((item_type, headers, payload))
    return header, kept


def frame(
    header: dict[str, Any],
    items: list[tuple[str, dict[str, Any], bytes]],
    lengths: list[bool],
    blank_lines: list[int],
) -> bytes:
    """Serialize an envelope as SDKs do: each payload framed by `length` or by a newline."""
    out = [orjson.dumps(header)]
    for (item_type, headers, payload), with_length, blanks in zip(
        items, lengths, blank_lines, strict=True
    ):
        item_header = {**headers, "type": item_type}
        if with_length or b"\n" in payload:
            item_header["length"] = len(payload)
        out.append(b"\n" * blanks + orjson.dumps(item_header))
        out.append(payload)
    return b"\n".join(out) + b"\n"


@st.composite
def framed_envelopes(draw: st.DrawFn) -> bytes:
    header, kept = draw(envelopes())
    lengths = draw(st.lists(st.booleans(), min_size=len(kept), max_size=len(kept)))
    blanks = draw(st.lists(st.integers(0, 2), min_size=len(kept), max_size=len(kept)))
    return frame(header, kept, lengths, blanks)


@st.composite
def mutated_envelopes(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(framed_envelopes()))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["cut", "insert", "delete", "flip"]))
        if kind == "cut":
            del data[where:]
        elif kind == "insert":
            data[where:where] = draw(st.one_of(TOKENS, st.binary(min_size=1, max_size=8)))
        elif kind == "delete":
            del data[where : where + draw(st.integers(1, 16))]
        elif where < len(data):
            data[where] = draw(st.integers(0, 255))
    return bytes(data)


def _parses_or_refuses(data: bytes, limits: Limits) -> Envelope | None:
    """Parse `data`, touching every item's JSON; a refusal must be an `EnvelopeError`."""
    try:
        parsed = parse_envelope(data, limits)
        for item in parsed.items:
            try:
                item.json()
            except EnvelopeError as exc:
                assert exc.status == 400
        return parsed
    except EnvelopeError as exc:
        assert exc.status in (400, 413)
        assert exc.code and exc.detail
        return None


@given(st.one_of(st.binary(max_size=512), st.binary(max_size=512).map(b"{}\n".__add__)), LIMITS)
def test_parse_envelope__any_bytes__envelope_or_envelope_error(data: bytes, limits: Limits) -> None:
    _parses_or_refuses(data, limits)


@given(mutated_envelopes(), LIMITS)
def test_parse_envelope__mutated_envelope__envelope_or_envelope_error(
    data: bytes, limits: Limits
) -> None:
    _parses_or_refuses(data, limits)


@pytest.mark.parametrize(
    "token",
    [b"1" * 4301, b"NaN", b"[" * 2000, b'"\\ud800"'],
    ids=["long-int", "nan", "deep", "surrogate"],
)
def test_parse_envelope__awkward_json_in_each_place__envelope_or_envelope_error(
    token: bytes,
) -> None:
    # The awkward tokens at the three places JSON is parsed: the header, an item header, the
    # event payload.
    for body in (
        b'{"a":' + token + b"}\n",
        b'{}\n{"type":"event","a":' + token + b"}\n{}\n",
        b'{}\n{"type":"event"}\n{"a":' + token + b"}\n",
    ):
        _parses_or_refuses(body, Limits())


@given(
    st.one_of(mutated_envelopes(), st.binary(max_size=256)),
    st.sampled_from([*ENCODINGS, "gzip, br", "compress", "\x00"]),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 64)),
    LIMITS,
)
def test_decode_envelope_body__any_body_and_encoding__envelope_or_envelope_error(
    data: bytes, encoding: str, encoded: bool, cut: int | None, limits: Limits
) -> None:
    body = _encode(data, encoding) if encoded else data
    if cut is not None:
        body = body[:cut]
    try:
        decode_envelope_body(body, encoding.split("-")[0], limits)
    except EnvelopeError as exc:
        assert exc.status in (400, 413)


@given(
    st.one_of(
        st.binary(max_size=256),
        plain_values.map(orjson.dumps),
        st.binary(max_size=256).map(lambda raw: base64.b64encode(zlib.compress(raw))),
        mutated_envelopes(),
    ),
    LIMITS,
)
def test_parse_store_body__any_bytes__event_or_envelope_error(data: bytes, limits: Limits) -> None:
    try:
        event = parse_store_body(data, limits)
    except EnvelopeError as exc:
        assert exc.status in (400, 413)
        return
    assert isinstance(event, dict)
    try:
        decode_store_body(gzip.compress(data), "gzip", limits)
    except EnvelopeError as exc:
        assert exc.status == 413  # the same body gzipped is refused only for its size


@given(envelopes(), st.data())
def test_parse_envelope__framed_items__round_trip(
    envelope: tuple[dict[str, Any], list[tuple[str, dict[str, Any], bytes]]], data: st.DataObject
) -> None:
    header, kept = envelope
    lengths = data.draw(st.lists(st.booleans(), min_size=len(kept), max_size=len(kept)))
    blanks = data.draw(st.lists(st.integers(0, 2), min_size=len(kept), max_size=len(kept)))
    parsed = parse_envelope(frame(header, kept, lengths, blanks))
    assert parsed.headers == orjson.loads(orjson.dumps(header))
    assert [(item.type, item.payload) for item in parsed.items] == [
        (item_type, payload) for item_type, _, payload in kept
    ]
    for item, (_, headers, _) in zip(parsed.items, kept, strict=True):
        assert {k: v for k, v in item.headers.items() if k not in ("type", "length")} == (
            orjson.loads(orjson.dumps(headers))
        )
    events = [payload for item_type, _, payload in kept if item_type == "event"]
    assert parsed.event == (orjson.loads(events[0]) if events else None)
