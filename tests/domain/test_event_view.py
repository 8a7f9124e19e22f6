"""The lean read of an event (`core.event_view`) gives ingest what the whole parse gives it.

`prepare_event` (grouping, indexed fields, derived tags and contexts, JavaScript frame count,
the "{{auto}}" address) is run on the view and on the whole event of the same payload and must
come out equal: for real sentry-sdk events, for every event of the grouping and event-field
cases, and for generated ones in Sentry's shape with any JSON value where a field is expected.
Where the view cannot vouch for its values it answers None, and the whole parse decides, as
before: refusals stay refusals.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import sentry_sdk
from hypothesis import given, settings
from hypothesis import strategies as st
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from tests.core.json_values import any_values, awkward_scalars
from tests.core.test_fuzz_grouping import EVENTS, IRRELEVANT, IRRELEVANT_FRAME
from trimtab.core.envelope import EnvelopeError, decode_json_object, parse_envelope
from trimtab.core.event_view import decode_event_view
from trimtab.domain.reports.ingest import PreparedEvent, prepare_event

CASES = Path(__file__).resolve().parents[1] / "cases"
AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _prepared(event: dict[str, Any], payload: bytes, client_ip: str | None) -> PreparedEvent:
    return prepare_event(7, event, payload, AT, fallback_event_id="ab" * 16, client_ip=client_ip)


def _assert_same_as_whole(payload: bytes, client_ip: str | None = "203.0.113.9") -> bool:
    """The view's PreparedEvent equals the whole event's; False when there is no view."""
    view = decode_event_view(payload)
    if view is None:
        return False
    whole = decode_json_object(payload, "event")
    assert _prepared(view, payload, client_ip) == _prepared(whole, payload, client_ip)
    return True


def _sdk_events() -> list[bytes]:
    """Events made by the real sentry-sdk: an exception with locals and context lines, a chained
    one, a message with a stack, breadcrumbs, tags, user, contexts, extra."""
    payloads: list[bytes] = []

    class KeepTransport(Transport):
        def capture_envelope(self, envelope: Envelope) -> None:
            payloads.extend(i.payload.get_bytes() for i in envelope.items if i.type == "event")

    client = sentry_sdk.Client(
        dsn="http://public@127.0.0.1:9/1",
        transport=KeepTransport,
        release="shop@1.4.0",
        environment="production",
        attach_stacktrace=True,
        include_local_variables=True,
        send_default_pii=True,
    )
    with sentry_sdk.new_scope() as scope:
        scope.set_client(client)
        scope.set_tag("dependency", "billing-api")
        scope.set_user({"id": "u-42", "email": "ana@example.com", "ip_address": "{{auto}}"})
        scope.set_context("device", {"model": "Pixel 8", "family": "Pixel"})
        scope.set_extra("cart", {"items": list(range(50)), "note": "ünïcødé ✓ 🎉"})
        for n in range(12):
            scope.add_breadcrumb(category="ui.click", message=f"clicked {n}")

        def charge(amount: float, currency: str) -> None:
            secret_local = {"card": "4242", "nested": [{"deep": [1, 2, 3]}]}
            raise ValueError(f"card declined for {amount} {currency}: {secret_local['card']}")

        def checkout() -> None:
            try:
                charge(12.5, "EUR")
            except ValueError as exc:
                raise RuntimeError("checkout failed") from exc

        try:
            checkout()
        except RuntimeError:
            sentry_sdk.capture_exception()
        sentry_sdk.capture_message("payment page fell back to the old UI", level="warning")
    client.close()
    assert len(payloads) == 2
    return payloads


def test_event_view__real_sentry_sdk_events__same_prepared_event() -> None:
    for payload in _sdk_events():
        assert _assert_same_as_whole(payload)
        assert _assert_same_as_whole(payload, client_ip=None)
        # What the view leaves out is what the events are mostly made of.
        view = decode_event_view(payload)
        assert view is not None and "breadcrumbs" not in view and "extra" not in view
        assert len(orjson.dumps(view)) < len(payload) / 2


def test_event_view__every_grouping_and_event_fields_case__same_prepared_event() -> None:
    events = [
        json.loads(path.read_text())["event"]
        for folder in ("grouping", "event_fields")
        for path in sorted((CASES / folder).glob("*.json"))
        if "event" in json.loads(path.read_text())
    ]
    assert len(events) > 40
    for event in events:
        payload = json.dumps(event).encode()
        assert _assert_same_as_whole(payload) or decode_event_view(payload) is None


def test_parse_envelope__event_item__read_as_the_view_whole_on_demand() -> None:
    event = {"event_id": "a" * 32, "message": "hi", "extra": {"big": "x" * 1000}}
    body = b'{}\n{"type":"event"}\n' + orjson.dumps(event) + b"\n"
    item = parse_envelope(body).items[0]
    assert "extra" not in item.event_view()
    assert item.json() == event  # the whole payload, parsed when asked


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b'{"message":"x","extra":{"k":"\xff\xfe"}}', "invalid UTF-8 in a skipped field"),
        (b'{"message":"x","extra":{"k":"\xed\xa0\x80"}}', "a UTF-8-encoded surrogate, skipped"),
        (b'{"message":"x","extra":{"k":"\\ud800"}}', "a lone surrogate escape"),
        (b'{"message":"x","extra":{"k":NaN}}', "NaN"),
        (b'{"message":123456789012345678901234567890}', "an integer past 64 bits"),
        (b'{"message":"x","extra":{"n":' + b"1" * 5000 + b"}}", "5,000 digits, skipped"),
        (b'{"message":"x","extra":{"n":-' + b"7" * 4301 + b"}}", "4,301 digits, skipped"),
        (b'{"message":"x","extra":' + b"[" * 1100 + b"]" * 1100 + b"}", "nested too deep"),
        (b'{"exception":{"values":["not an object"]}}', "a shape the schema does not describe"),
        (b'["not an object"]', "not an object"),
    ],
)
def test_event_view__what_it_cannot_vouch_for__none(payload: bytes, why: str) -> None:
    assert decode_event_view(payload) is None, why


def test_event_view__recursion_limit_raised__none_so_the_whole_parse_decides() -> None:
    # msgspec would then go deeper than orjson does.
    payload = b'{"message":"x","extra":' + b"[" * 1100 + b"]" * 1100 + b"}"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        assert decode_event_view(payload) is None
    finally:
        sys.setrecursionlimit(limit)


# Generated events: grouping's shapes, plus what the indexed fields, derived tags and contexts
# read, each field also any JSON value; frames carry what the view skips.
_FRAME_EXTRA = st.fixed_dictionaries(
    {}, optional={"colno": st.integers(-1, 50), "data": any_values, "platform": any_values}
)
_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "platform": st.one_of(st.sampled_from(["python", "javascript", "node"]), any_values),
        "environment": st.one_of(st.sampled_from(["production", " ", ""]), any_values),
        "release": st.one_of(st.sampled_from(["shop@1.4.0", "x" * 300]), any_values),
        "user": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "id": any_values,
                    "email": any_values,
                    "username": any_values,
                    "ip_address": st.one_of(st.just("{{auto}}"), any_values),
                },
            ),
            any_values,
        ),
        "tags": st.one_of(
            st.dictionaries(st.text(max_size=6), st.one_of(st.text(max_size=6), any_values)),
            st.lists(st.lists(st.text(max_size=6), min_size=2, max_size=2), max_size=3),
            any_values,
        ),
        "contexts": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "browser": st.fixed_dictionaries({"name": any_values, "version": any_values}),
                    "os": any_values,
                    "device": st.fixed_dictionaries({}, optional={"model": any_values}),
                    "flags": st.fixed_dictionaries(
                        {
                            "values": st.lists(
                                st.fixed_dictionaries(
                                    {"flag": any_values, "result": any_values},
                                    optional={"variant": any_values, "reason": any_values},
                                ),
                                max_size=3,
                            )
                        }
                    ),
                },
            ),
            any_values,
        ),
        "request": st.one_of(
            st.fixed_dictionaries(
                {
                    "headers": st.one_of(
                        st.just({"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"}),
                        st.just([["user-agent", "Mozilla/5.0 (iPhone) Safari/604.1"]]),
                        any_values,
                    )
                },
                optional={"data": any_values, "url": any_values},
            ),
            any_values,
        ),
        "event_id": st.one_of(st.just("9f" * 16), any_values),
        "timestamp": st.one_of(st.just("2026-12-01T11:59:00Z"), st.just(1764590340.5), any_values),
        "debug_meta": any_values,
        "number": awkward_scalars,
    },
)


def _with_frames_extra(event: Any, extra: dict[str, Any]) -> Any:
    """`event` with `extra` added to every frame dict in it."""
    if isinstance(event, dict):
        if "function" in event or "filename" in event or "module" in event:
            return {**{k: _with_frames_extra(v, extra) for k, v in event.items()}, **extra}
        return {k: _with_frames_extra(v, extra) for k, v in event.items()}
    if isinstance(event, list):
        return [_with_frames_extra(v, extra) for v in event]
    return event


@settings(max_examples=300, deadline=None)
@given(
    EVENTS,
    IRRELEVANT,
    _FIELDS,
    IRRELEVANT_FRAME,
    _FRAME_EXTRA,
    st.sampled_from([None, "203.0.113.9"]),
    st.booleans(),
)
def test_event_view__generated_events__same_prepared_event_or_none(
    grouping: dict[str, Any],
    irrelevant: dict[str, Any],
    fields: dict[str, Any],
    frame_irrelevant: dict[str, Any],
    frame_extra: dict[str, Any],
    client_ip: str | None,
    ascii_only: bool,
) -> None:
    # Hypothesis raises the recursion limit while it runs a test, and the view then steps
    # aside (msgspec would go deeper than orjson): the default, as in a server process.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        event = {**irrelevant, **fields, **grouping}
        _check_generated(
            _with_frames_extra(event, frame_irrelevant | frame_extra), client_ip, ascii_only
        )
    finally:
        sys.setrecursionlimit(limit)


def _check_generated(event: dict[str, Any], client_ip: str | None, ascii_only: bool) -> None:
    # As Python's json writes it (NaN and integers past 64 bits included), as SDKs send them;
    # written as UTF-8 a lone surrogate makes bytes that are not UTF-8, which is refused.
    text = json.dumps(event, ensure_ascii=ascii_only)
    payload = text.encode("utf-8", "surrogatepass")
    try:
        decode_json_object(payload, "event")
    except EnvelopeError:  # refused by the whole parse (bad JSON, not UTF-8): no view either
        assert decode_event_view(payload) is None
        return
    _assert_same_as_whole(payload, client_ip)
