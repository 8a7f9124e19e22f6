"""Sentry log lines and the counts of what was not stored, through the writer's `store_batch`
on a real database (SQLite and PostgreSQL): read by trace around an event, searched across an
issue, bounded by the daily quota, pruned by retention."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from trimtab.domain.errors import InvalidInput
from trimtab.domain.reports import events, ingest, logs, usage
from trimtab.domain.reports.envelopes import envelope_job
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.store.db import Store

NOW = datetime.now(UTC).replace(microsecond=0)
TRACE_A = "a" * 32
TRACE_B = "b" * 32


def _project(store: Store) -> int:
    with store.write() as session:
        projects.ensure_organization(session, "acme")
        return projects.create_project(session, SYSTEM, "shop").id


def _envelope(*items: tuple[dict[str, Any], Any]) -> bytes:
    lines = [b"{}"]
    for header, payload in items:
        data = orjson.dumps(payload)
        lines += [orjson.dumps({**header, "length": len(data)}), data]
    return b"\n".join(lines) + b"\n"


def _line(body: str, trace: str, seconds: float, level: str = "info") -> dict[str, Any]:
    return {
        "timestamp": NOW.timestamp() + seconds,
        "trace_id": trace,
        "level": level,
        "body": body,
        "attributes": {"sentry.environment": {"value": "production", "type": "string"}},
    }


def _send(store: Store, pid: int, body: bytes, **options: Any) -> None:
    job = envelope_job(body, pid, received_at=NOW).job
    with store.write() as session:
        ingest.store_batch(session, [job], **options)


def _error(trace: str) -> tuple[dict[str, Any], dict[str, Any]]:
    event = {
        "event_id": uuid.uuid4().hex,
        "timestamp": NOW.timestamp(),
        "platform": "python",
        "environment": "production",
        "exception": {"values": [{"type": "ValueError", "value": "card declined"}]},
        "contexts": {"trace": {"trace_id": trace, "span_id": "1" * 16}},
    }
    return {"type": "event"}, event


def test_store_batch__log_lines_of_a_trace__shown_around_its_event_and_searchable(
    store: Store,
) -> None:
    pid = _project(store)
    lines = [
        _line("loading basket", TRACE_A, -3),
        _line("charging card 4242", TRACE_A, -1, "warn"),
        _line("rolled back payment", TRACE_A, 2, "error"),
        _line("unrelated request", TRACE_B, -2),
    ]
    _send(store, pid, _envelope(({"type": "log", "item_count": 4}, {"items": lines})))
    header, event = _error(TRACE_A)
    _send(store, pid, _envelope((header, event)))

    with store.read() as session:
        around = logs.event_logs(session, SYSTEM, event["event_id"])
        issue_id = events.get_event(session, SYSTEM, event["event_id"]).issue_id
        found = logs.issue_logs(session, SYSTEM, issue_id, query="CARD")
        every = logs.issue_logs(session, SYSTEM, issue_id)
        errors_only = logs.issue_logs(session, SYSTEM, issue_id, level="error")
        counts = usage.project_usage(session, SYSTEM, "shop", now=NOW)

    assert around.trace_id == TRACE_A
    assert [line.body for line in around.before] == ["loading basket", "charging card 4242"]
    assert [line.body for line in around.after] == ["rolled back payment"]
    assert around.before[1].level == "warn" and around.before[1].environment == "production"
    assert [line.body for line in found] == ["charging card 4242"]
    assert [line.body for line in every] == [
        "rolled back payment",
        "charging card 4242",
        "loading basket",
    ]  # newest first, the other trace's line not among them
    assert [line.body for line in errors_only] == ["rolled back payment"]
    assert [(c.category, c.outcome, c.count) for c in counts] == [("log_item", "stored", 4)]


def test_store_batch__wildcards_in_a_log_search__matched_literally(store: Store) -> None:
    pid = _project(store)
    lines = [_line("100% done", TRACE_A, -1), _line("1000 done", TRACE_A, -1)]
    header, event = _error(TRACE_A)
    _send(store, pid, _envelope(({"type": "log"}, {"items": lines}), (header, event)))

    with store.read() as session:
        issue_id = events.get_event(session, SYSTEM, event["event_id"]).issue_id
        found = logs.issue_logs(session, SYSTEM, issue_id, query="0%")
        with pytest.raises(InvalidInput):
            logs.issue_logs(session, SYSTEM, issue_id, query="x" * 201)

    assert [line.body for line in found] == ["100% done"]


def test_store_batch__over_the_daily_quota__lines_counted_not_stored(store: Store) -> None:
    pid = _project(store)
    batch = {"items": [_line(f"line {i}", TRACE_A, i) for i in range(3)]}
    _send(store, pid, _envelope(({"type": "log"}, batch)), max_logs_per_day=4)
    _send(store, pid, _envelope(({"type": "log"}, batch)), max_logs_per_day=4)
    header, event = _error(TRACE_A)
    _send(store, pid, _envelope((header, event)))

    with store.read() as session:
        around = logs.event_logs(session, SYSTEM, event["event_id"], around=200)
        counts = usage.project_usage(session, SYSTEM, "shop", now=NOW)

    assert len(around.before) + len(around.after) == 4
    assert {(c.outcome, c.count) for c in counts} == {("stored", 4), ("over_quota", 2)}


def test_store_batch__transactions_and_client_reports__counted_per_category_and_day(
    store: Store,
) -> None:
    pid = _project(store)
    transaction = {"type": "transaction", "spans": [{}] * 5}
    report = {"discarded_events": [{"reason": "ratelimit_backoff", "category": "transaction",
                                    "quantity": 7}]}  # fmt: skip
    _send(store, pid, _envelope(({"type": "transaction"}, transaction)))
    _send(store, pid, _envelope(({"type": "transaction"}, transaction)))
    _send(store, pid, _envelope(({"type": "client_report"}, report), ({"type": "check_in"}, {})))

    with store.read() as session:
        counts = usage.project_usage(session, SYSTEM, "shop", now=NOW)
        later = usage.project_usage(session, SYSTEM, "shop", now=NOW + timedelta(days=3), days=1)

    assert [(c.category, c.outcome, c.count) for c in counts] == [
        ("span", "not_supported", 12),
        ("transaction", "sdk:ratelimit_backoff", 7),
        ("transaction", "not_supported", 2),
        ("monitor", "not_supported", 1),
    ]
    assert counts[0].first_day == counts[0].last_day == usage.day_of(NOW)
    assert later == []


def test_prune_old_logs__lines_received_before_the_cutoff__removed(store: Store) -> None:
    pid = _project(store)
    _send(store, pid, _envelope(({"type": "log"}, {"items": [_line("old", TRACE_A, 0)]})))
    header, event = _error(TRACE_A)
    _send(store, pid, _envelope((header, event)))

    with store.write() as session:
        kept = logs.prune_old_logs(session, NOW - timedelta(days=1))
    with store.write() as session:
        removed = logs.prune_old_logs(session, datetime.now(UTC) + timedelta(seconds=1))
    with store.read() as session:
        around = logs.event_logs(session, SYSTEM, event["event_id"])

    assert (kept, removed) == (0, 1)
    assert around.before == [] and around.after == []
