"""Sentry structured logs: a `log` envelope item's payload -> bounded log records.

SDKs with logs switched on (sentry-python `enable_logs=True` + `sentry_sdk.logger`, the
JavaScript SDKs' `enableLogs` + `Sentry.logger`) batch their log lines into one item
(https://develop.sentry.dev/sdk/telemetry/logs/):

    {"type": "log", "item_count": 2, "content_type": "application/vnd.sentry.items.log+json"}
    {"items": [{"timestamp": 1764604800.123, "trace_id": "<32 hex>", "level": "info",
                "body": "charging card", "severity_number": 9,
                "attributes": {"order": {"value": 42, "type": "integer"}, ...}}, ...]}

Everything here is client input, so everything is bounded: records per item, body length,
attribute count, key and value sizes. A record without a body is not a log line and is
dropped (counted); the rest are cut to their bounds, never refused, as a log line is worth
more cut than lost. Timestamps are seconds since the epoch (also accepted as RFC 3339 text);
one missing, absurd or more than a day ahead is the time the envelope arrived.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

__all__ = [
    "LEVELS",
    "InvalidLogItem",
    "LogLimits",
    "LogRecord",
    "ParsedLogs",
    "parse_log_item",
    "trace_id_of",
]

LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")
_LEVEL_ALIASES = {"warning": "warn", "critical": "fatal", "err": "error", "log": "info"}
_FUTURE = timedelta(days=1)
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class LogLimits:
    """Bounds on one `log` item: what is over them is cut (or, for records, counted as
    dropped)."""

    max_records: int = 1000  # Sentry SDKs flush at 100; Relay takes a few thousand
    max_body_chars: int = 8192
    max_attributes: int = 64
    max_key_chars: int = 128
    max_value_chars: int = 1024


DEFAULT_LOG_LIMITS = LogLimits()


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One log line as trimtab keeps it. `attributes` maps a key to its plain value (a string,
    bool, int or float), the SDK's `{"value", "type"}` wrapping taken off."""

    timestamp: datetime
    trace_id: str | None  # 32 lowercase hex digits
    level: str  # one of LEVELS
    body: str
    attributes: dict[str, str | bool | int | float]

    @property
    def environment(self) -> str | None:
        value = self.attributes.get("sentry.environment")
        return value if isinstance(value, str) else None

    @property
    def release(self) -> str | None:
        value = self.attributes.get("sentry.release")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class ParsedLogs:
    records: list[LogRecord]
    dropped: int  # records over the count bound or without a body


class InvalidLogItem(ValueError):
    """The payload is not `{"items": [...]}` (nor one bare log record)."""


def parse_log_item(
    payload: Any, received_at: datetime, limits: LogLimits = DEFAULT_LOG_LIMITS
) -> ParsedLogs:
    """The records of a `log` item's parsed JSON payload. Raises `InvalidLogItem` when the
    payload has no records at all in a shape Sentry defines."""
    if isinstance(payload, Mapping) and isinstance(payload.get("items"), list):
        raw_records: list[Any] = payload["items"]
    elif isinstance(payload, Mapping) and "body" in payload:
        raw_records = [payload]  # early SDK builds sent one record per item
    else:
        raise InvalidLogItem('a log item\'s payload is {"items": [...]}')
    records: list[LogRecord] = []
    dropped = max(0, len(raw_records) - limits.max_records)
    for raw in raw_records[: limits.max_records]:
        record = _record(raw, received_at, limits)
        if record is None:
            dropped += 1
        else:
            records.append(record)
    return ParsedLogs(records, dropped)


def _record(raw: Any, received_at: datetime, limits: LogLimits) -> LogRecord | None:
    if not isinstance(raw, Mapping):
        return None
    body = raw.get("body")
    if not isinstance(body, str) or not body:
        return None
    return LogRecord(
        timestamp=_timestamp(raw.get("timestamp"), received_at),
        trace_id=trace_id_of(raw.get("trace_id")),
        level=_level(raw.get("level")),
        body=body[: limits.max_body_chars],
        attributes=_attributes(raw.get("attributes"), limits),
    )


def trace_id_of(value: Any) -> str | None:
    """A trace id as 32 lowercase hex digits (dashes dropped), or None."""
    if not isinstance(value, str):
        return None
    text = value.replace("-", "").lower()
    return text if len(text) == 32 and set(text) <= _HEX else None


def _timestamp(value: Any, received_at: datetime) -> datetime:
    moment: datetime | None = None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        try:
            moment = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            moment = None
    elif isinstance(value, str) and len(value) <= 64:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    if moment is None or moment.year < 2000 or moment > received_at + _FUTURE:
        return received_at
    return moment.astimezone(UTC)


def _level(value: Any) -> str:
    if not isinstance(value, str):
        return "info"
    text = value.lower()[:16]
    text = _LEVEL_ALIASES.get(text, text)
    return text if text in LEVELS else "info"


def _attributes(raw: Any, limits: LogLimits) -> dict[str, str | bool | int | float]:
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, str | bool | int | float] = {}
    for key, wrapped in raw.items():
        if len(out) >= limits.max_attributes:
            break
        if not isinstance(key, str) or not key:
            continue
        value = wrapped.get("value") if isinstance(wrapped, Mapping) else wrapped
        plain = _plain(value, limits)
        if plain is not None:
            out[key[: limits.max_key_chars]] = plain
    return out


def _plain(value: Any, limits: LogLimits) -> str | bool | int | float | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        # JSON columns and JavaScript readers hold 64 bits; a bigger number is kept as text.
        return value if -(2**63) <= value < 2**63 else str(value)[: limits.max_value_chars]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value[: limits.max_value_chars]
    if isinstance(value, list):
        # An array attribute (newer SDKs) is kept as its JSON text, cut like a string.
        try:
            text = orjson.dumps(value[: limits.max_attributes]).decode()
        except orjson.JSONEncodeError:
            return None
        return text[: limits.max_value_chars]
    return None
