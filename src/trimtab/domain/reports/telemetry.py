"""Envelope items besides events and sessions: log lines are kept, the rest is counted.

`domain.reports.envelopes` hands these items here (pure: no database):
- `log`: its records, bounded by `core.sentry_logs`, join the job (`IngestJob.logs`); records
  over the bounds are counted `log_item`/`invalid`;
- `client_report`: what the SDK says it discarded joins the job's counts as `sdk:<reason>`;
- an item of a type trimtab does not store: counted under its data category as
  `not_supported` (a transaction also counts its spans, as Sentry bills them).

`rate_limits` then says whether the answer carries X-Sentry-Rate-Limits, so the SDK stops
sending the categories trimtab does not store (`core.data_categories`).
"""

from __future__ import annotations

from datetime import datetime

from trimtab.core.data_categories import (
    NOT_SUPPORTED,
    category_of,
    discarded_counts,
    not_supported_rate_limits,
)
from trimtab.core.envelope import EnvelopeError, EnvelopeItem, replace_nul
from trimtab.core.sentry_logs import InvalidLogItem, parse_log_item
from trimtab.domain.reports.ingest import IngestJob

__all__ = ["KEPT_TYPES", "add_item", "count_not_stored", "rate_limits"]

KEPT_TYPES = frozenset({"log", "client_report"})
MAX_LOG_ITEM_BYTES = 5 * 1024 * 1024
_MAX_SPANS = 100_000


def add_item(job: IngestJob, item: EnvelopeItem, received_at: datetime) -> str | None:
    """Add a `log` or `client_report` item to the job; why it was dropped instead, if it was."""
    if item.type == "log":
        return _add_logs(job, item, received_at)
    try:
        report = item.json()
    except EnvelopeError as exc:
        return str(exc)
    for (category, reason), n in discarded_counts(report).items():
        _count(job, category, f"sdk:{reason}", n)
    return None


def _add_logs(job: IngestJob, item: EnvelopeItem, received_at: datetime) -> str | None:
    declared = item.headers.get("item_count")
    lost = declared if isinstance(declared, int) and 0 < declared <= 1_000_000 else 1
    if len(item.payload) > MAX_LOG_ITEM_BYTES:
        _count(job, "log_item", "invalid", lost)
        return f"log item is over {MAX_LOG_ITEM_BYTES} bytes"
    try:
        # PostgreSQL holds no NUL in text or JSONB: bodies and attributes get U+FFFD instead.
        parsed = parse_log_item(replace_nul(item.json(), item.payload), received_at)
    except (EnvelopeError, InvalidLogItem) as exc:
        _count(job, "log_item", "invalid", lost)
        return str(exc)
    job.logs.extend(parsed.records)
    _count(job, "log_item", "invalid", parsed.dropped)
    return None


def count_not_stored(job: IngestJob, item: EnvelopeItem) -> None:
    """Count an item of a type trimtab does not store under its data category."""
    category = category_of(item.type)
    _count(job, category, "not_supported", 1)
    if item.type == "transaction":
        _count(job, "span", "not_supported", _span_count(item))


def _span_count(item: EnvelopeItem) -> int:
    try:
        payload = item.json()
    except EnvelopeError:
        return 0
    spans = payload.get("spans") if isinstance(payload, dict) else None
    # The transaction's own root span counts too, as Sentry counts it.
    return 1 + min(len(spans), _MAX_SPANS) if isinstance(spans, list) else 1


def _count(job: IngestJob, category: str, outcome: str, n: int) -> None:
    if n > 0:
        key = (category, outcome)
        job.usage[key] = job.usage.get(key, 0) + n


def rate_limits(job: IngestJob) -> str | None:
    """The X-Sentry-Rate-Limits value for the answer: set when the envelope carried a
    category trimtab does not store, so the SDK stops sending it."""
    if any(c in NOT_SUPPORTED and o == "not_supported" for c, o in job.usage):
        return not_supported_rate_limits()
    return None
