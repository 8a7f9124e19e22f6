"""Hourly error rollups: written with the minute rows by ingest and `add_counts`, equal to the
sums of the minute rows, backfilled by migration 0520, pruned by retention, and what
`hourly_counts` reads for whole hours."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from alembic import command
from sqlalchemy import func, select

from trimtab.domain.reports import ingest, retention
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.store import migrate, rollups
from trimtab.store.db import Store
from trimtab.store.models import ErrorRollup, ErrorRollupHour

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _project(store: Store, slug: str = "shop") -> int:
    with store.write() as session:
        projects.ensure_organization(session, "acme")
        return projects.create_project(session, SYSTEM, slug).id


def _event(error: str, environment: str) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "timestamp": T0.timestamp(),
        "level": "error",
        "environment": environment,
        "release": "shop@1.0.0",
        "exception": {"values": [{"type": error, "value": "boom"}]},
    }


def _sums(store: Store, model: Any, column: Any) -> dict[tuple[int, str, str, datetime], int]:
    with store.read() as session:
        rows = session.execute(
            select(model.project_id, model.environment, model.dimension, column, model.count)
        )
        return {(p, e, d, t): n for p, e, d, t, n in rows}


def _minutes_by_hour(store: Store) -> dict[tuple[int, str, str, datetime], int]:
    minutes = _sums(store, ErrorRollup, ErrorRollup.minute)
    return dict(Counter(rollups.hour_rows(minutes)))


def test_ingest__random_events_across_hour_edges__hours_are_the_sums_of_the_minutes(
    store: Store,
) -> None:
    pid = _project(store)
    rng = random.Random(20261201)
    # Received within minutes of three hour edges, in batches that straddle them.
    moments = [
        T0 + timedelta(hours=rng.choice([1, 2, 3]), seconds=rng.randint(-600, 600))
        for _ in range(240)
    ]
    sent = [
        (_event(rng.choice(["ValueError", "KeyError", "OSError"]), rng.choice(["prod", "dev"])), m)
        for m in moments
    ]
    for batch in range(0, len(sent), 37):
        prepared = [
            ingest.prepare_event(pid, e, orjson.dumps(e), m) for e, m in sent[batch : batch + 37]
        ]
        with store.write() as session:
            ingest.store_events(session, prepared)
    hours = _sums(store, ErrorRollupHour, ErrorRollupHour.hour)
    assert hours == _minutes_by_hour(store)
    assert {d for _, _, d, _ in hours} - {rollups.TOTAL} == {
        d for _, _, d, _ in hours if d.startswith("issue:")
    }
    assert sum(n for (_, _, d, _), n in hours.items() if d == rollups.TOTAL) == len(sent)
    assert not any(d.startswith("release:") for _, _, d, _ in hours)  # read per minute only
    # hourly_counts (whole hours from the hour rows, a partial last hour from the minutes)
    # equals the per-hour sums of the minute rows, for any end inside or on an hour.
    with store.read() as session:
        for end in (
            T0 + timedelta(hours=3),
            T0 + timedelta(hours=3, minutes=7),
            T0 + timedelta(hours=4),
        ):
            for environment in (None, "prod", "dev"):
                got = rollups.hourly_counts(session, pid, rollups.TOTAL, T0, end, environment)
                want = [
                    rollups.count_between(
                        session,
                        pid,
                        rollups.TOTAL,
                        T0 + timedelta(hours=h),
                        min(end, T0 + timedelta(hours=h + 1)),
                        environment,
                    )
                    for h in range(len(got))
                ]
                assert got == want
                assert sum(got) == sum(
                    1
                    for (e, _), m in zip(sent, moments, strict=True)
                    if m < end and (environment is None or e["environment"] == environment)
                )


def test_add_counts__hour_rows_for_total_and_issues_only(store: Store) -> None:
    pid = _project(store)
    dims = {rollups.TOTAL: 2, rollups.issue(7): 1, rollups.flag("f", True): 1}
    with store.write() as session:
        rollups.add_counts(session, pid, "production", T0 + timedelta(minutes=59), dims)
        rollups.add_counts(session, pid, "production", T0 + timedelta(minutes=3), dims)
        rollups.add_counts(session, pid, "production", T0 + timedelta(minutes=60), dims)
    assert _sums(store, ErrorRollupHour, ErrorRollupHour.hour) == {
        (pid, "production", rollups.TOTAL, T0): 4,
        (pid, "production", rollups.issue(7), T0): 2,
        (pid, "production", rollups.TOTAL, T0 + timedelta(hours=1)): 2,
        (pid, "production", rollups.issue(7), T0 + timedelta(hours=1)): 1,
    }
    assert _sums(store, ErrorRollupHour, ErrorRollupHour.hour) == _minutes_by_hour(store)


def test_migration_0520__minute_rows_stored_before__backfilled_per_hour(store: Store) -> None:
    pid = _project(store)
    rng = random.Random(7)
    with store.write() as session:
        for _ in range(60):
            at = T0 + timedelta(minutes=rng.randint(-90, 150))
            counts = {
                rollups.TOTAL: rng.randint(1, 5),
                rollups.issue(rng.choice([1, 2])): 1,
                rollups.release("shop@1.0.0"): 1,
                rollups.dependency("db"): 1,
            }
            rollups.add_counts(session, pid, rng.choice(["prod", ""]), at, counts)
    want = _minutes_by_hour(store)
    with store.engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection), "0510_dashboard_speed")
    migrate.upgrade(store)
    assert migrate.is_current(store)
    assert _sums(store, ErrorRollupHour, ErrorRollupHour.hour) == want
    with store.read() as session:
        assert rollups.hourly_counts(
            session, pid, rollups.TOTAL, T0 - timedelta(hours=2), T0 + timedelta(hours=3)
        ) == [
            rollups.count_between(
                session, pid, rollups.TOTAL, T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1)
            )
            for h in range(-2, 3)
        ]


def test_retention__hour_rows_before_the_cutoff__pruned(store: Store) -> None:
    pid = _project(store)
    with store.write() as session:
        for age in (timedelta(days=40), timedelta(days=31), timedelta(days=2)):
            rollups.add_counts(session, pid, "production", T0 - age, {rollups.TOTAL: 3})
    with store.write() as session:
        retention.prune_old_series(session, T0 - timedelta(days=30))
    with store.read() as session:
        hours = session.scalars(select(ErrorRollupHour.hour)).all()
        assert hours == [T0 - timedelta(days=2)]
        assert session.scalar(select(func.count()).select_from(ErrorRollup)) == 1
