"""Sentry data categories: what an envelope item counts as, which ones trimtab does not store,
and the `X-Sentry-Rate-Limits` value that tells an SDK to stop sending those.

SDKs and Relay rate-limit and report discards per *data category*, not per item type
(https://develop.sentry.dev/sdk/foundations/transport/rate-limiting/): a `replay_event` and a
`replay_recording` are both `replay`, a `check_in` is `monitor`, a `log` is `log_item`.

The header is a comma-separated list of `retry_after:categories:scope:reason_code`, categories
separated by `;`. sentry-python and the JavaScript SDKs honour it on any status, 200 included,
and stop sending the named categories until `retry_after` seconds have passed. trimtab names
only the categories it does not store: never error, default, security, session, attachment,
user_report / feedback or log_item, or an SDK would stop sending what trimtab keeps.
A client report (`client_report` item) lists what the SDK itself discarded, per category and
reason; `discarded_counts` reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "NOT_SUPPORTED",
    "NOT_SUPPORTED_RETRY_AFTER",
    "category_of",
    "discarded_counts",
    "not_supported_rate_limits",
]

# The categories of the item types SDKs send (both sentry-python's and @sentry/core's maps).
_CATEGORY_OF = {
    "event": "error",
    "transaction": "transaction",
    "span": "span",
    "profile": "profile",
    "profile_chunk": "profile_chunk",
    "replay_event": "replay",
    "replay_recording": "replay",
    "replay_video": "replay",
    "check_in": "monitor",
    "statsd": "metric_bucket",
    "metric_buckets": "metric_bucket",
    "trace_metric": "trace_metric",
    "client_report": "internal",
    "log": "log_item",
    "otel_log": "log_item",
    "attachment": "attachment",
    "session": "session",
    "sessions": "session",
    "user_report": "user_report",
    "feedback": "feedback",
    "security": "security",
    "raw_security": "security",
    "nel": "security",
}

# What trimtab never stores, so an SDK may as well not send it. `profile_chunk` is its own
# category for sentry-python, `profile` for the JavaScript SDKs: both are named.
NOT_SUPPORTED = (
    "transaction",
    "span",
    "profile",
    "profile_chunk",
    "replay",
    "monitor",
    "metric_bucket",
    "trace_metric",
)
NOT_SUPPORTED_RETRY_AFTER = 86_400  # a day: the SDK asks again after a restart or a day
_MAX_NAME = 64
_MAX_ENTRIES = 100
_MAX_QUANTITY = 1_000_000_000


def category_of(item_type: str) -> str:
    """The data category of an envelope item type; `default` for types Sentry does not map."""
    return _CATEGORY_OF.get(item_type, "default")


def not_supported_rate_limits(retry_after: int = NOT_SUPPORTED_RETRY_AFTER) -> str:
    """The X-Sentry-Rate-Limits value that stops an SDK sending what trimtab does not store."""
    return f"{retry_after}:{';'.join(NOT_SUPPORTED)}:organization:not_supported"


def discarded_counts(report: Any) -> dict[tuple[str, str], int]:
    """(category, reason) -> quantity from a client report's `discarded_events` (and, from
    newer SDKs, `rate_limited_events` / `filtered_events`), bounded; malformed entries are
    skipped."""
    out: dict[tuple[str, str], int] = {}
    if not isinstance(report, Mapping):
        return out
    seen = 0
    for field in ("discarded_events", "rate_limited_events", "filtered_events"):
        entries = report.get(field)
        if not isinstance(entries, list):
            continue
        for entry in entries[:_MAX_ENTRIES]:
            seen += 1
            if seen > _MAX_ENTRIES or not isinstance(entry, Mapping):
                continue
            category, reason, quantity = (
                entry.get("category"),
                entry.get("reason"),
                entry.get("quantity"),
            )
            if not isinstance(category, str) or not category:
                continue
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
                continue
            reason_text = reason if isinstance(reason, str) and reason else "unknown"
            key = (category[:_MAX_NAME], reason_text[:_MAX_NAME])
            out[key] = min(out.get(key, 0) + quantity, _MAX_QUANTITY)
    return out
