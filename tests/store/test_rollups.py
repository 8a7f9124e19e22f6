"""Error-rate rollups: upserted per minute, read back per window and per hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.store import rollups
from trimtab.store.db import Store

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _project(store: Store) -> int:
    with store.write() as session:
        projects.ensure_organization(session, "acme")
        return projects.create_project(session, SYSTEM, "shop").id


def test_add_counts__same_minute_twice__summed(store: Store) -> None:
    pid = _project(store)
    dims = {rollups.TOTAL: 1, rollups.flag("new-payment-page", True): 1}
    with store.write() as session:
        rollups.add_counts(session, pid, "production", T0 + timedelta(seconds=5), dims)
    with store.write() as session:
        rollups.add_counts(session, pid, "production", T0 + timedelta(seconds=50), dims)
    with store.read() as session:
        window = (T0, T0 + timedelta(minutes=1))
        assert rollups.count_between(session, pid, rollups.TOTAL, *window) == 2
        assert rollups.count_between(session, pid, "flag:new-payment-page=on", *window) == 2
        assert (
            rollups.count_between(session, pid, rollups.TOTAL, *window, environment="staging") == 0
        )


def test_hourly_counts__zero_filled_per_hour(store: Store) -> None:
    pid = _project(store)
    with store.write() as session:
        rollups.add_counts(
            session, pid, None, T0 + timedelta(minutes=10), {rollups.release("shop@2.3.0"): 3}
        )
        rollups.add_counts(
            session,
            pid,
            None,
            T0 + timedelta(hours=2, minutes=59),
            {rollups.release("shop@2.3.0"): 4},
        )
    with store.read() as session:
        hours = rollups.hourly_counts(
            session, pid, "release:shop@2.3.0", T0, T0 + timedelta(hours=3)
        )
    assert hours == [3, 0, 4]


def test_hourly_counts__summed_by_the_database__utc_hours_whatever_the_session_zone(
    store: Store,
) -> None:
    """Minutes of one hour land in its bucket, the hour's edges exact; on PostgreSQL a session
    in a half-hour zone (India, +05:30) must not shift the hours."""
    pid = _project(store)
    with store.write() as session:
        for minute, n in ((0, 1), (59, 2), (60, 5), (119, 7), (121, 11)):
            rollups.add_counts(
                session, pid, "production", T0 + timedelta(minutes=minute), {rollups.TOTAL: n}
            )
    with store.read() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL TIME ZONE 'Asia/Kolkata'"))
        hours = rollups.hourly_counts(
            session, pid, rollups.TOTAL, T0, T0 + timedelta(hours=3), "production"
        )
    assert hours == [3, 12, 11]
