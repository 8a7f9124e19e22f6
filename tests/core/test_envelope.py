"""Envelope framing from tests/cases/envelope (NAME.envelope raw body + NAME.json expectation),
the /store/ body, and streaming decompression with its limits (zip bombs included).

An expectation is {"expect": {"headers", "items": [{"type", "headers"?, one of "payload_json",
"payload_text", "payload_base64"}]}} or {"expect_error": {"class", "status", "code",
"detail_contains"}}, with optional "limits" overriding `Limits` fields.
"""

from __future__ import annotations

import base64
import gzip
import json
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import brotli
import pytest

from trimtab.core import envelope as envelope_module
from trimtab.core.decompress import STEP
from trimtab.core.envelope import (
    BodyTooLarge,
    DecompressionBomb,
    Decompressor,
    EnvelopeError,
    EventTooLarge,
    InvalidEncoding,
    InvalidJson,
    InvalidUtf8,
    Limits,
    TooLarge,
    decode_envelope_body,
    decode_store_body,
    decompress_body,
    envelope_header,
    parse_envelope,
    parse_store_body,
    replace_nul,
)

CASES = Path(__file__).resolve().parents[1] / "cases" / "envelope"
MIB = 1024 * 1024


def _cases() -> list[Any]:
    files = sorted(CASES.glob("*.json"))
    assert len(files) >= 25, f"too few cases in {CASES}"
    return [pytest.param(f.stem, id=f.stem) for f in files]


def _load(name: str) -> tuple[bytes, dict[str, Any]]:
    spec = json.loads((CASES / f"{name}.json").read_text())
    return (CASES / f"{name}.envelope").read_bytes(), spec


def _valid_case_names() -> list[str]:
    return [p.values[0] for p in _cases() if "expect" in _load(p.values[0])[1]]


def _check_items(parsed: envelope_module.Envelope, expected: dict[str, Any]) -> None:
    assert parsed.headers == expected["headers"]
    assert len(parsed.items) == len(expected["items"])
    for item, want in zip(parsed.items, expected["items"], strict=True):
        assert item.type == want["type"]
        if "headers" in want:
            assert item.headers == want["headers"]
        if "payload_json" in want:
            assert item.json() == want["payload_json"]
        elif "payload_text" in want:
            assert item.payload == want["payload_text"].encode()
        else:
            assert item.payload == base64.b64decode(want["payload_base64"])


@pytest.mark.parametrize("name", _cases())
def test_parse_envelope__case__gives_expected_items_or_error(name: str) -> None:
    raw, spec = _load(name)
    limits = Limits(**spec.get("limits", {}))
    if "expect" in spec:
        _check_items(parse_envelope(raw, limits), spec["expect"])
        return
    want = spec["expect_error"]
    with pytest.raises(EnvelopeError) as caught:
        parse_envelope(raw, limits)
    assert type(caught.value) is getattr(envelope_module, want["class"])
    assert (caught.value.status, caught.value.code) == (want["status"], want["code"])
    assert want["detail_contains"] in caught.value.detail


def _encode(raw: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(raw)
    if encoding == "deflate-zlib":
        return zlib.compress(raw)
    if encoding == "deflate-raw":
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return packer.compress(raw) + packer.flush()
    if encoding == "br":
        return bytes(brotli.compress(raw))
    return raw


ENCODINGS = ["identity", "gzip", "deflate-zlib", "deflate-raw", "br"]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("chunk_size", [1, 7, 65536])
def test_decompressor__valid_cases_fed_in_chunks__round_trip(
    encoding: str, chunk_size: int
) -> None:
    header = encoding.split("-")[0]
    for name in _valid_case_names():
        raw, spec = _load(name)
        body = _encode(raw, encoding)
        decoder = Decompressor(header)
        for i in range(0, len(body), chunk_size):
            decoder.feed(body[i : i + chunk_size])
        assert decoder.finish() == raw, name
        assert (decoder.bytes_in, decoder.bytes_out) == (len(body), len(raw))
        _check_items(parse_envelope(raw, Limits(**spec.get("limits", {}))), spec["expect"])


def test_decode_envelope_body__real_sdk_envelope_gzipped__gives_the_event() -> None:
    raw, spec = _load("sdk_python_event")
    parsed = decode_envelope_body(gzip.compress(raw), "gzip")
    assert parsed.event == spec["expect"]["items"][0]["payload_json"]
    assert parsed.event_id == spec["expect"]["headers"]["event_id"]
    assert parsed.event is not None and parsed.event_id == parsed.event["event_id"]


def test_envelope__header_accessors__read_the_header() -> None:
    raw, spec = _load("length_framed_items")
    parsed = parse_envelope(raw)
    headers = spec["expect"]["headers"]
    assert (parsed.event_id, parsed.dsn, parsed.sent_at, parsed.sdk) == (
        headers["event_id"],
        headers["dsn"],
        headers["sent_at"],
        headers["sdk"],
    )
    attachment = next(parsed.items_of("attachment"))
    assert (attachment.filename, attachment.content_type) == ("notes.txt", "text/plain")
    assert [i.type for i in parsed.items_of("session")] == ["session"]


def test_envelope_item__json_of_non_json_attachment__raises_invalid_json_lazily() -> None:
    parsed = parse_envelope(b'{}\n{"type":"attachment","length":3}\nabc\n')
    with pytest.raises(InvalidJson):
        parsed.items[0].json()


def test_parse_envelope__nan_and_lone_surrogate_in_event__accepted_and_cleaned() -> None:
    body = b'{}\n{"type":"event"}\n{"extra":{"ratio":NaN},"message":"cut \\ud83d here"}\n'
    event = parse_envelope(body).event
    assert event is not None
    assert event["extra"]["ratio"] != event["extra"]["ratio"]  # NaN
    assert event["message"] == "cut \ufffd here"
    event["message"].encode("utf-8")  # storable


def _gzip_bomb(size: int) -> bytes:
    return gzip.compress(b"\0" * size, compresslevel=9)


def test_decompress__10mb_gzip_bomb_with_1mb_cap__stops_fast_with_small_peak_memory() -> None:
    bomb = _gzip_bomb(10 * MIB)
    tracemalloc.start()
    try:
        with pytest.raises(DecompressionBomb) as caught:
            decompress_body(bomb, "gzip", max_output=1 * MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Peak memory, not time, shows the bomb was cut at the cap (timing is bench/ingest.py's job).
    assert peak < 3 * MIB, f"peak {peak} bytes: the bomb was inflated past the cap"
    assert (caught.value.status, caught.value.code) == (413, "decompressed_too_large")


@pytest.mark.parametrize("encoding", ["deflate-zlib", "deflate-raw", "br"])
def test_decompress__10mb_bomb_in_other_encodings__stops_with_small_peak_memory(
    encoding: str,
) -> None:
    bomb = _encode(b"\0" * (10 * MIB), encoding)
    tracemalloc.start()
    try:
        with pytest.raises(DecompressionBomb):
            decompress_body(bomb, encoding.split("-")[0], max_output=1 * MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MIB


def test_decompressor__bomb_fed_in_chunks__raises_before_the_body_is_all_read() -> None:
    bomb = _gzip_bomb(10 * MIB)
    decoder = Decompressor("gzip", max_output=1 * MIB)
    with pytest.raises(DecompressionBomb):
        for i in range(0, len(bomb), 512):
            decoder.feed(bomb[i : i + 512])
    assert decoder.bytes_in < len(bomb)
    assert decoder.bytes_out <= 1 * MIB + 256 * 1024 + 1


def test_decompressor__more_bytes_than_max_input__raises_body_too_large() -> None:
    decoder = Decompressor(None, max_input=10)
    decoder.feed(b"x" * 10)
    with pytest.raises(BodyTooLarge) as caught:
        decoder.feed(b"x")
    assert (caught.value.status, caught.value.code) == (413, "body_too_large")


def test_decompress__identity_over_max_output__raises_bomb_error() -> None:
    with pytest.raises(DecompressionBomb):
        decompress_body(b"x" * 11, None, max_output=10)


BROKEN = {
    "not gzip at all": (b"{}\n{}", "gzip", "broken gzip body"),
    "gzip cut short": (gzip.compress(b"x" * 1000)[:-12], "gzip", "ends early"),
    "gzip with corrupted data": (
        gzip.compress(b"hello world" * 50)[:12] + b"\xff" * 40,
        "gzip",
        "broken gzip body",
    ),
    "gzip with trailing garbage": (gzip.compress(b"x") + b"garbage", "gzip", "unexpected bytes"),
    "deflate garbage": (b"\xff\xff\xff\xff", "deflate", "broken deflate body"),
    "zlib cut short": (zlib.compress(b"x" * 1000)[:-6], "deflate", "ends early"),
    "br garbage": (b"\xff\xff\xff\xff", "br", "broken br body"),
    "br cut short": (bytes(brotli.compress(b"abc" * 1000))[:-3], "br", "ends early"),
}


@pytest.mark.parametrize("case", BROKEN.values(), ids=BROKEN.keys())
def test_decompress__broken_stream__raises_invalid_encoding(case: tuple[bytes, str, str]) -> None:
    body, encoding, message = case
    with pytest.raises(InvalidEncoding) as caught:
        decompress_body(body, encoding)
    assert (caught.value.status, caught.value.code) == (400, "invalid_compression")
    assert message in caught.value.detail


@pytest.mark.parametrize("header", ["compress", "zstd", "gzip, br", "gzip;q=1"])
def test_decompressor__unsupported_content_encoding__raises_with_code(header: str) -> None:
    with pytest.raises(InvalidEncoding) as caught:
        Decompressor(header)
    assert caught.value.code == "unsupported_encoding"


@pytest.mark.parametrize("header", [None, "", "identity", " GZIP ", "x-gzip", "gzip, identity"])
def test_decompressor__accepted_content_encoding_spellings__decode(header: str | None) -> None:
    body = b'{"a":1}'
    if header and "gzip" in header.lower():
        body = gzip.compress(body)
    assert decompress_body(body, header) == b'{"a":1}'


def test_decompress__concatenated_gzip_members_and_zero_padding__decode_all() -> None:
    body = gzip.compress(b"first ") + gzip.compress(b"second") + b"\0" * 8
    assert decompress_body(body, "gzip") == b"first second"


def test_store_body__json_event__parsed() -> None:
    assert parse_store_body(b' {"message": "hi"}') == {"message": "hi"}
    assert decode_store_body(gzip.compress(b'{"message": "hi"}'), "gzip") == {"message": "hi"}


def test_store_body__legacy_base64_zlib__parsed() -> None:
    body = base64.b64encode(zlib.compress(b'{"message": "from raven"}'))
    assert parse_store_body(body) == {"message": "from raven"}


def test_store_body__over_event_limit__raises_event_too_large() -> None:
    with pytest.raises(EventTooLarge):
        parse_store_body(b'{"m": "' + b"x" * 200 + b'"}', Limits(max_event_bytes=100))
    with pytest.raises(DecompressionBomb):
        decode_store_body(_gzip_bomb(MIB), "gzip", Limits(max_event_bytes=1000))


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"not json", InvalidJson), (b"[1]", InvalidJson), (b'{"m": "\xff"}', InvalidUtf8)],
)
def test_store_body__bad_body__raises_clear_error(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_store_body(body)


def test_errors__every_class__is_a_value_error_with_status_code_and_json() -> None:
    classes = [
        value
        for value in vars(envelope_module).values()
        if isinstance(value, type) and issubclass(value, EnvelopeError)
    ]
    assert len(classes) == 11
    for cls in classes:
        error = cls("what went wrong")
        assert isinstance(error, ValueError)
        assert error.status in (400, 413)
        assert error.as_dict() == {"code": error.code, "detail": "what went wrong"}


def test_parse_envelope__megabytes_of_blank_lines__skipped() -> None:
    # Only correctness here: how fast blank lines are skipped is bench/ingest.py's question.
    body = b'{}\n{"type":"session"}\n{}\n' + b"\n \r\n\t" * (2 * MIB)
    assert [item.type for item in parse_envelope(body).items] == ["session"]


def test_parse_envelope__event_nested_too_deep__raises_invalid_json() -> None:
    body = b'{}\n{"type":"event"}\n{"a":' + b"[" * 5000 + b"]" * 5000 + b"}\n"
    with pytest.raises(InvalidJson):
        parse_envelope(body)


def test_decompressor__feed_steps_stopped_at_the_first_line__inflates_one_step_of_a_bomb() -> None:
    body = gzip.compress(b'{"dsn":"x"}\n' + b"\0" * (50 * MIB), compresslevel=9)
    decoder = Decompressor("gzip", max_output=100 * MIB)
    for _ in decoder.feed_steps(body):
        if decoder.first_newline() >= 0:
            break
    assert decoder.first_newline() == len(b'{"dsn":"x"}')
    assert decoder.head(12) == b'{"dsn":"x"}\n'
    assert decoder.bytes_out <= STEP


def test_decompressor__fed_byte_by_byte__finds_the_first_newline_across_parts() -> None:
    decoder = Decompressor(None)
    for byte in b"abc\ndef\n":
        decoder.feed(bytes([byte]))
        assert decoder.first_newline() == (3 if decoder.bytes_out > 3 else -1)
    assert decoder.head(100) == b"abc\ndef\n"
    assert decoder.finish() == b"abc\ndef\n"


def test_envelope_header__partial_whole_and_over_the_limit() -> None:
    limits = Limits(max_header_bytes=20)
    assert envelope_header(b'{"dsn":', limits, complete=False) is None
    assert envelope_header(b'{"dsn":"a"}\n{"type"', limits, complete=False) == {"dsn": "a"}
    assert envelope_header(b'{"dsn":"a"}', limits, complete=True) == {"dsn": "a"}
    with pytest.raises(TooLarge) as caught:
        envelope_header(b'{"dsn":"' + b"a" * 20, limits, complete=False)
    assert (caught.value.status, caught.value.code) == (413, "header_too_large")
    with pytest.raises(EnvelopeError):
        envelope_header(b"  \n{}", limits, complete=False)
    with pytest.raises(TooLarge):
        parse_envelope(b'{"dsn":"' + b"a" * 20 + b'"}\n', limits)


def test_replace_nul__escaped_nul_in_keys_and_values__replaced_only_where_escaped() -> None:
    raw = b'{"m":"a\\u0000b","t":{"k\\u0000":["\\u0000"]},"n":1}'
    value = json.loads(raw)
    assert replace_nul(value, raw) == {"m": "a\ufffdb", "t": {"k\ufffd": ["\ufffd"]}, "n": 1}
    plain = {"m": "ok"}
    assert replace_nul(plain, b'{"m":"ok"}') is plain  # no escape: not walked
