"""The server-sent events parser."""

from __future__ import annotations

from trimtab.sdk.sse import MAX_EVENT_BYTES, EventParser, ServerEvent


def feed(parser: EventParser, text: str) -> list[ServerEvent]:
    events = []
    for line in text.split("\n"):
        event = parser.feed(line)
        if event is not None:
            events.append(event)
    return events


def test_parser__trimtab_stream__yields_named_events_and_skips_comments() -> None:
    parser = EventParser()
    text = (
        ": connected\nretry: 1000\n\n: heartbeat\n\n"
        'id: 7\nevent: flags.changed\ndata: {"etag": "\\"3-1\\""}\n\n'
    )
    assert feed(parser, text) == [ServerEvent("flags.changed", '{"etag": "\\"3-1\\""}', "7")]
    assert parser.retry_ms == 1000
    assert parser.last_id == "7"


def test_parser__multi_line_data__joined_with_newlines_and_default_event_name() -> None:
    parser = EventParser()
    assert feed(parser, "data: a\ndata:b\n\n") == [ServerEvent("message", "a\nb", None)]


def test_parser__event_without_data__not_dispatched() -> None:
    assert feed(EventParser(), "event: flags.changed\n\n") == []


def test_parser__oversized_data__dropped_not_buffered() -> None:
    parser = EventParser()
    chunk = "x" * 1000
    for _ in range(MAX_EVENT_BYTES // 1000 + 2):
        parser.feed("data: " + chunk)
    assert parser.feed("") is None
    assert feed(parser, "data: ok\n\n") == [ServerEvent("message", "ok", None)]
