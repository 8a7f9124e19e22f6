"""`core.sentry_logs` and `core.data_categories`: a `log` item's payload -> bounded records;
item types -> data categories; the rate-limit header; client reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from trimtab.core.data_categories import (
    NOT_SUPPORTED,
    category_of,
    discarded_counts,
    not_supported_rate_limits,
)
from trimtab.core.sentry_logs import InvalidLogItem, LogLimits, parse_log_item

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TRACE = "771a43a4192642f0b136d5159a501700"


def _line(**fields: Any) -> dict[str, Any]:
    return {"timestamp": NOW.timestamp() - 1.5, "trace_id": TRACE, "level": "info",
            "body": "charging card", **fields}  # fmt: skip


def test_parse_log_item__python_sdk_shape__records_with_plain_attributes() -> None:
    payload = {
        "items": [
            _line(
                attributes={
                    "order": {"value": 42, "type": "integer"},
                    "paid": {"value": False, "type": "boolean"},
                    "amount": {"value": 24.5, "type": "double"},
                    "sentry.environment": {"value": "production", "type": "string"},
                    "sentry.release": {"value": "shop@2.3.0", "type": "string"},
                    "seats": {"value": ["A4", "A5"], "type": "array"},
                },
                span_id="b0e6f15b45c36b12",
                severity_number=9,
            )
        ]
    }

    parsed = parse_log_item(payload, NOW)

    (record,) = parsed.records
    assert parsed.dropped == 0
    assert record.timestamp == NOW - timedelta(seconds=1.5)
    assert record.trace_id == TRACE and record.level == "info" and record.body == "charging card"
    assert record.attributes == {
        "order": 42,
        "paid": False,
        "amount": 24.5,
        "sentry.environment": "production",
        "sentry.release": "shop@2.3.0",
        "seats": '["A4","A5"]',
    }
    assert record.environment == "production" and record.release == "shop@2.3.0"


def test_parse_log_item__over_the_bounds__cut_and_counted() -> None:
    limits = LogLimits(max_records=3, max_body_chars=5, max_attributes=2, max_value_chars=4)
    attributes = {f"k{i}": {"value": "abcdefgh", "type": "string"} for i in range(10)}
    payload = {
        "items": [
            _line(body="0123456789", attributes=attributes),
            _line(body=""),  # no body: not a log line
            "not an object",
            _line(),
            _line(),
        ]
    }

    parsed = parse_log_item(payload, NOW, limits)

    assert [r.body for r in parsed.records] == ["01234"]
    assert parsed.records[0].attributes == {"k0": "abcd", "k1": "abcd"}
    assert parsed.dropped == 4  # two past max_records, one without a body, one not an object


@pytest.mark.parametrize(
    ("level", "timestamp", "trace_id", "want_level", "want_time", "want_trace"),
    [
        ("WARNING", "2026-12-01T11:00:00Z", TRACE.upper(), "warn", NOW - timedelta(hours=1), TRACE),
        ("nonsense", NOW.timestamp() + 3 * 86400, "short", "info", NOW, None),
        (None, float("nan"), None, "info", NOW, None),
        ("fatal", 5.0, "771a43a4-1926-42f0-b136-d5159a501700", "fatal", NOW, TRACE),
    ],
)
def test_parse_log_item__odd_fields__normalized(
    level: Any,
    timestamp: Any,
    trace_id: Any,
    want_level: str,
    want_time: datetime,
    want_trace: str | None,
) -> None:
    line = _line(level=level, timestamp=timestamp, trace_id=trace_id)

    (record,) = parse_log_item({"items": [line]}, NOW).records

    assert (record.level, record.timestamp, record.trace_id) == (want_level, want_time, want_trace)


@pytest.mark.parametrize("payload", [[], {"logs": []}, "text", None, {"items": "x"}])
def test_parse_log_item__not_a_log_payload__refused(payload: Any) -> None:
    with pytest.raises(InvalidLogItem):
        parse_log_item(payload, NOW)


def test_category_of__sdk_item_types__sentry_categories() -> None:
    assert category_of("event") == "error"
    assert category_of("transaction") == "transaction"
    assert category_of("replay_recording") == "replay"
    assert category_of("check_in") == "monitor"
    assert category_of("log") == "log_item"
    assert category_of("something-new") == "default"


def test_not_supported_rate_limits__names_only_what_trimtab_does_not_store() -> None:
    header = not_supported_rate_limits()

    retry_after, categories, scope, reason = header.split(":")
    assert int(retry_after) == 86400 and scope == "organization" and reason == "not_supported"
    named = set(categories.split(";"))
    assert named == set(NOT_SUPPORTED)
    kept = {"error", "default", "security", "session", "attachment", "user_report", "feedback"}
    assert not named & (kept | {"log_item", "internal"})


def test_discarded_counts__client_report__summed_and_bounded() -> None:
    report = {
        "timestamp": 1764590400.0,
        "discarded_events": [
            {"reason": "ratelimit_backoff", "category": "transaction", "quantity": 3},
            {"reason": "ratelimit_backoff", "category": "transaction", "quantity": 2},
            {"reason": "sample_rate", "category": "span", "quantity": 7},
            {"reason": "bad", "category": "span", "quantity": -1},
            {"reason": "bad", "category": 5, "quantity": 1},
            "junk",
        ],
    }

    assert discarded_counts(report) == {
        ("transaction", "ratelimit_backoff"): 5,
        ("span", "sample_rate"): 7,
    }
    assert discarded_counts([1, 2]) == {}
