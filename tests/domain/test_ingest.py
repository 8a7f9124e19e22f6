"""Storing events: grouping into issues, duplicates, counts, facets, rollups, regressions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from trimtab.domain.reports import events, ingest, issues
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.store import bulk, rollups
from trimtab.store.db import Store
from trimtab.store.models import Event, Issue, IssueFacet, IssueUser, Notification
from trimtab.store.payloads import decompress_payload

NOW = datetime.now(UTC).replace(microsecond=0)


def _project(store: Store) -> int:
    with store.write() as session:
        projects.ensure_organization(session, "acme")
        return projects.create_project(session, SYSTEM, "shop").id


def _event(
    error: str = "ValueError",
    *,
    release: str | None = "shop@1.0.0",
    environment: str = "production",
    user: str | None = "u1",
    tags: dict[str, str] | None = None,
    flags: list[dict[str, Any]] | None = None,
    function: str = "charge",
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "timestamp": NOW.timestamp(),
        "platform": "python",
        "level": "error",
        "environment": environment,
        "exception": {
            "values": [
                {
                    "type": error,
                    "value": "card 4242 declined",
                    "stacktrace": {
                        "frames": [
                            {"module": "shop.payments", "function": function, "in_app": True}
                        ]
                    },
                }
            ]
        },
        "tags": tags or {},
    }
    if release:
        event["release"] = release
    if user:
        event["user"] = {"id": user}
    if flags is not None:
        event["contexts"] = {"flags": {"values": flags}}
    return event


def _store(store: Store, pid: int, *sent: dict[str, Any]) -> list[ingest.StoredEvent]:
    prepared = [ingest.prepare_event(pid, e, orjson.dumps(e), NOW) for e in sent]
    with store.write() as session:
        return ingest.store_events(session, prepared)


def _issue(store: Store, issue_id: int) -> Issue:
    with store.read() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        return issue


def test_store_events__same_error_twice_in_one_batch__one_issue_counted_twice(
    store: Store,
) -> None:
    pid = _project(store)
    first, second = _store(store, pid, _event(user="u1"), _event(user="u2"))
    assert first.issue_id == second.issue_id
    issue = _issue(store, first.issue_id)
    assert (issue.event_count, issue.user_count) == (2, 2)
    assert issue.first_release == "shop@1.0.0" and issue.first_environment == "production"
    assert issue.title == "ValueError: card 4242 declined"
    assert issue.culprit == "shop.payments in charge"


def test_store_events__other_error__second_issue(store: Store) -> None:
    pid = _project(store)
    a, b = _store(store, pid, _event("ValueError"), _event("KeyError"))
    assert a.issue_id != b.issue_id


def test_store_events__retried_event_id__acknowledged_but_counted_once(store: Store) -> None:
    pid = _project(store)
    event = _event()
    (first,) = _store(store, pid, event)
    again, twin = _store(store, pid, event, event)
    assert again.duplicate and twin.duplicate and again.issue_id == first.issue_id
    assert _issue(store, first.issue_id).event_count == 1


def test_store_events__same_user_again__counted_once(store: Store) -> None:
    pid = _project(store)
    (first,) = _store(store, pid, _event(user="u1"))
    _store(store, pid, _event(user="u1"), _event(user=None))
    issue = _issue(store, first.issue_id)
    assert (issue.event_count, issue.user_count) == (3, 1)
    with store.read() as session:
        assert len(session.scalars(select(IssueUser)).all()) == 1


def test_store_events__payload_kept_compressed_exactly_as_sent(store: Store) -> None:
    pid = _project(store)
    event = _event(tags={"feature": "checkout"})
    raw = orjson.dumps(event)
    with store.write() as session:
        ingest.store_events(session, [ingest.prepare_event(pid, event, raw, NOW)])
    with store.read() as session:
        row = session.scalars(select(Event)).one()
        assert decompress_payload(row.payload) == raw
        assert row.payload_size == len(raw)
        detail = events.event_detail(session, row)
    assert detail.data == event
    assert ("feature", "checkout") in [(t.key, t.value) for t in detail.tags]


def test_store_events__facets_count_releases_environments_and_tags(store: Store) -> None:
    pid = _project(store)
    (a, *_) = _store(
        store,
        pid,
        _event(release="shop@1.0.0", tags={"browser": "Firefox"}),
        _event(release="shop@1.1.0", environment="staging", tags={"browser": "Firefox"}),
        _event(release="shop@1.1.0", tags={"browser": "Chrome"}),
    )
    with store.read() as session:
        detail = issues.issue_detail(session, issues.get_issue(session, SYSTEM, a.issue_id), SYSTEM)
    assert {(r.value, r.count) for r in detail.releases} == {
        ("shop@1.0.0", 1),
        ("shop@1.1.0", 2),
    }
    assert {(e.value, e.count) for e in detail.environments} == {
        ("production", 2),
        ("staging", 1),
    }
    browser = next(t for t in detail.tags if t.key == "browser")
    assert [(v.value, v.count) for v in browser.values] == [("Firefox", 2), ("Chrome", 1)]
    assert detail.last_release == "shop@1.1.0"


def _at(event: dict[str, Any], when: datetime) -> dict[str, Any]:
    return {**event, "timestamp": when.timestamp()}


def test_store_events__release_first_seen__the_events_time_as_in_the_issue_header(
    store: Store,
) -> None:
    pid = _project(store)
    day_ago, hour_ago = NOW - timedelta(days=1), NOW - timedelta(hours=1)
    # One batch received now, of events an SDK kept for a while (offline, say).
    (a, *_) = _store(
        store,
        pid,
        _at(_event(release="shop@1.0.0"), day_ago),
        _at(_event(release="shop@1.1.0"), hour_ago),
        _at(_event(release="shop@1.1.0"), NOW - timedelta(minutes=30)),
    )
    # A later batch with an event older still (first seen moves back) and one from a clock
    # a day ahead (bounded to when it was received, as the issue's own last seen is).
    _store(
        store,
        pid,
        _at(_event(release="shop@1.1.0"), hour_ago - timedelta(minutes=5)),
        _at(_event(release="shop@1.1.0"), NOW + timedelta(days=1)),
    )
    with store.read() as session:
        issue = issues.get_issue(session, SYSTEM, a.issue_id)
        detail = issues.issue_detail(session, issue, SYSTEM).model_dump(mode="json")
    by_release = {r["value"]: (r["first_seen"], r["last_seen"]) for r in detail["releases"]}
    assert by_release == {
        "shop@1.0.0": (day_ago.isoformat(), day_ago.isoformat()),
        "shop@1.1.0": ((hour_ago - timedelta(minutes=5)).isoformat(), NOW.isoformat()),
    }
    assert detail["first_seen"] == by_release["shop@1.0.0"][0]
    assert detail["last_seen"] == by_release["shop@1.1.0"][1]


def test_store_events__issue_times_across_batches__kept_to_the_microsecond(store: Store) -> None:
    """Each batch reads its issues back and writes their first/last seen again as plain SQL
    (`store.bulk`), not through the ORM's types: what the ORM then reads is the exact time."""
    pid = _project(store)
    late = NOW - timedelta(minutes=1, microseconds=654_321)
    early = NOW - timedelta(hours=2, microseconds=123_457)
    (first,) = _store(store, pid, {**_event(), "timestamp": late.isoformat()})
    _store(store, pid, {**_event(), "timestamp": early.isoformat()})  # first seen moves back
    _store(store, pid, {**_event(), "timestamp": (NOW - timedelta(hours=1)).isoformat()})
    issue = _issue(store, first.issue_id)
    assert (issue.first_seen, issue.last_seen, issue.event_count) == (early, late, 3)


def test_store_events__rollups_by_total_release_flag_dependency_and_issue(store: Store) -> None:
    pid = _project(store)
    flags = [{"flag": "new-checkout", "result": True}]
    (a, _) = _store(
        store,
        pid,
        _event(flags=flags, tags={"dependency": "payments-api"}),
        _event(release="shop@1.1.0"),
    )
    start, end = NOW - timedelta(minutes=1), NOW + timedelta(minutes=2)
    with store.read() as session:

        def count(dimension: str) -> int:
            return rollups.count_between(session, pid, dimension, start, end, "production")

        assert count(rollups.TOTAL) == 2
        assert count(rollups.release("shop@1.0.0")) == 1
        assert count(rollups.flag("new-checkout", True)) == 1
        assert count(rollups.dependency("payments-api")) == 1
        assert count(rollups.issue(a.issue_id)) == 2


def test_store_events__new_issue__notification_queued_once(store: Store) -> None:
    pid = _project(store)
    _store(store, pid, _event(), _event())
    with store.read() as session:
        kinds = [n.kind for n in session.scalars(select(Notification))]
    assert kinds == ["issue.new"]


def _resolve(store: Store, issue_id: int, **how: Any) -> None:
    with store.write() as session:
        issues.resolve_issue(session, SYSTEM, issue_id, **how)


def test_resolved_issue__event_in_fixed_release__regressed_in_that_release(store: Store) -> None:
    pid = _project(store)
    (a,) = _store(store, pid, _event(release="shop@1.0.0"))
    _resolve(store, a.issue_id, in_release="shop@1.1.0")
    _store(store, pid, _event(release="shop@1.0.9"))  # an old client: expected
    assert _issue(store, a.issue_id).status == "resolved"
    _store(store, pid, _event(release="shop@1.2.0"))
    issue = _issue(store, a.issue_id)
    assert issue.status == "unresolved"
    assert issue.regressed_in_release == "shop@1.2.0" and issue.regressed_at is not None
    with store.read() as session:
        kinds = [n.kind for n in session.scalars(select(Notification).order_by(Notification.id))]
    assert kinds == ["issue.new", "issue.regressed"]


def test_regression__in_another_environment__announced_in_the_regressing_one(
    store: Store,
) -> None:
    # A staging-bound watcher must not hear of production's regression (nor a staging alert
    # rule fire for it); production's must.
    pid = _project(store)
    (a,) = _store(store, pid, _event(environment="staging"))
    _resolve(store, a.issue_id)
    _store(store, pid, _event(environment="production"))
    with store.read() as session:
        sent = {n.kind: n for n in session.scalars(select(Notification))}
    assert sent["issue.new"].environment == "staging"
    assert sent["issue.regressed"].environment == "production"
    assert sent["issue.regressed"].body["environment"] == "production"


def test_resolved_in_next_release__same_release_stays_newer_release_regresses(
    store: Store,
) -> None:
    pid = _project(store)
    (a,) = _store(store, pid, _event(release="shop@1.0.0"))
    _resolve(store, a.issue_id, in_next_release=True)
    assert _issue(store, a.issue_id).status_detail["after"] == "shop@1.0.0"  # type: ignore[index]
    _store(store, pid, _event(release="shop@1.0.0"))
    assert _issue(store, a.issue_id).status == "resolved_in_next_release"
    _store(store, pid, _event(release="shop@1.0.1"))
    issue = _issue(store, a.issue_id)
    assert (issue.status, issue.regressed_in_release) == ("unresolved", "shop@1.0.1")


def test_resolved_in_next_release__names_not_versions__newly_seen_release_regresses(
    store: Store,
) -> None:
    pid = _project(store)
    (a,) = _store(store, pid, _event(release="7f3a2c1"))
    _resolve(store, a.issue_id, in_next_release=True)
    _store(store, pid, _event(release="7f3a2c1"))
    assert _issue(store, a.issue_id).status == "resolved_in_next_release"
    _store(store, pid, _event(release="9b1e0d4"))
    assert _issue(store, a.issue_id).regressed_in_release == "9b1e0d4"


def test_plain_resolve__any_new_event__regresses(store: Store) -> None:
    pid = _project(store)
    (a,) = _store(store, pid, _event(release="shop@1.0.0"))
    _resolve(store, a.issue_id)
    _store(store, pid, _event(release="shop@1.0.0"))
    issue = _issue(store, a.issue_id)
    assert (issue.status, issue.regressed_in_release) == ("unresolved", "shop@1.0.0")


def test_ignored_until_count__resurfaces_after_that_many_more_events(store: Store) -> None:
    pid = _project(store)
    (a,) = _store(store, pid, _event())
    with store.write() as session:
        issues.ignore_issue(session, SYSTEM, a.issue_id, until_count=3)
    _store(store, pid, _event(), _event())
    assert _issue(store, a.issue_id).status == "ignored"
    _store(store, pid, _event())
    issue = _issue(store, a.issue_id)
    assert (issue.status, issue.regressed_at) == ("unresolved", None)


def test_ignored_forever__stays_ignored(store: Store) -> None:
    pid = _project(store)
    (a,) = _store(store, pid, _event())
    with store.write() as session:
        issues.ignore_issue(session, SYSTEM, a.issue_id)
    _store(store, pid, *[_event() for _ in range(5)])
    assert _issue(store, a.issue_id).status == "ignored"


def test_list_issues__filters_by_environment_release_and_status(store: Store) -> None:
    pid = _project(store)
    a, b = _store(
        store,
        pid,
        _event("ValueError", release="shop@1.0.0", environment="staging"),
        _event("KeyError", release="shop@1.1.0"),
    )
    _resolve(store, b.issue_id)
    with store.read() as session:

        def ids(**filters: Any) -> list[int]:
            return [i.id for i, _ in issues.list_issues(session, SYSTEM, project="shop", **filters)]

        assert ids(environment="staging") == [a.issue_id]
        assert ids(release="shop@1.1.0") == [b.issue_id]
        assert ids(status="resolved") == [b.issue_id]
        assert sorted(ids()) == sorted([a.issue_id, b.issue_id])
        facets = session.scalars(select(IssueFacet).where(IssueFacet.key == "level")).all()
        assert {f.value for f in facets} == {"error"}


def test_resolved_in_next_release__new_release_event_dated_before_the_old_release__regresses(
    store: Store,
) -> None:
    """A release never seen before is the newest, even when its event's own clock is behind
    the minute the previous release was first counted."""
    pid = _project(store)
    (a,) = _store(store, pid, _event(release="7f3a2c1"))
    _resolve(store, a.issue_id, in_next_release=True)
    _store(store, pid, _event(release="7f3a2c1"))
    late = _event(release="9b1e0d4")
    late["timestamp"] = (NOW - timedelta(hours=2)).timestamp()
    _store(store, pid, late)
    assert _issue(store, a.issue_id).regressed_in_release == "9b1e0d4"


def test_bulk_rows__a_duplicate_event__sqlalchemy_s_integrity_error_with_the_driver_s_code(
    store: Store,
) -> None:
    """The bulk writes go to the driver directly (on PostgreSQL through psycopg's own cursor,
    in a pipeline); their errors still arrive as SQLAlchemy's, so the ingest writer can tell a
    race lost to another node (a unique violation: tried again) from a bad row."""
    pid = _project(store)
    (stored,) = _store(store, pid, _event())
    with store.read() as session:
        row = session.scalars(select(Event).where(Event.event_id == stored.event_id)).one()
    with pytest.raises(IntegrityError) as raised, store.write() as session:
        moment = bulk.moment(session)
        duplicate = (
            pid,
            row.issue_id,
            row.event_id,
            moment(row.received_at),
            moment(row.timestamp),
            row.level,
            row.environment,
            row.release,
            row.user_key,
            row.payload,
            row.payload_size,
        )
        with bulk.pipeline(session):
            bulk.insert_events(session, [duplicate])
    if store.dialect == "postgresql":
        assert getattr(raised.value.orig, "sqlstate", None) == "23505"
    with store.read() as session:
        kept = session.scalars(select(Event).where(Event.event_id == stored.event_id)).all()
    assert len(kept) == 1


def test_store_events__more_facet_rows_than_one_statement_holds__all_counted(
    store: Store,
) -> None:
    """A batch's facets past one statement's bound parameters (30,000 on PostgreSQL: 5,000 rows
    of 6) go as several statements; every row arrives, counted once."""
    pid = _project(store)
    sent = [
        _event(tags={f"k{t}": f"v{n}" for t in range(60)}, user=None, release=None)
        for n in range(90)
    ]
    (first, *_) = _store(store, pid, *sent)
    with store.read() as session:
        rows = session.scalars(select(IssueFacet).where(IssueFacet.issue_id == first.issue_id))
        counts = {(row.key, row.value): row.count for row in rows}
    assert len([key for key in counts if key[0].startswith("k")]) == 60 * 90 > 5000
    assert all(count == 1 for key, count in counts.items() if key[0].startswith("k"))
