"""Release health: sessions counted once, worst state kept, users distinct, rates per window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from trimtab.core.sessions import parse_session, parse_sessions
from trimtab.domain.reports import release_health
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.store.db import Store

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
RELEASE = "shop@2.3.0"


def _project(store: Store) -> int:
    with store.write() as session:
        projects.ensure_organization(session, "acme")
        return projects.create_project(session, SYSTEM, "shop").id


def _update(
    sid: str,
    status: str = "ok",
    *,
    did: str | None = None,
    errors: int = 0,
    init: bool = False,
    started: datetime = T0,
    release: str = RELEASE,
    environment: str = "production",
) -> Any:
    payload: dict[str, Any] = {
        "sid": sid,
        "status": status,
        "errors": errors,
        "init": init,
        "started": started.isoformat(),
        "timestamp": (started + timedelta(minutes=1)).isoformat(),
        "attrs": {"release": release, "environment": environment},
    }
    if did:
        payload["did"] = did
    return parse_session(payload, received_at=started)


def _record(store: Store, pid: int, updates: list[Any], aggregates: list[Any] = ()) -> None:  # type: ignore[assignment]
    with store.write() as session:
        release_health.record_sessions(session, pid, updates, list(aggregates))


def _only(store: Store, pid: int, **filters: Any) -> release_health.ReleaseHealth:
    with store.read() as session:
        rows = release_health.health_for_project(session, pid, **filters)
    assert len(rows) == 1
    return rows[0]


def test_record_sessions__update_stream_of_one_session__counted_once(store: Store) -> None:
    pid = _project(store)
    _record(store, pid, [_update("s1", init=True, did="u1")])
    _record(store, pid, [_update("s1", did="u1")])
    _record(store, pid, [_update("s1", "exited", did="u1")])
    health = _only(store, pid)
    assert (health.sessions, health.crashed, health.users) == (1, 0, 1)
    assert health.rates.sessions == 100.0


def test_record_sessions__init_and_crash_in_one_batch__one_crashed_session(store: Store) -> None:
    pid = _project(store)
    _record(store, pid, [_update("s1", init=True, did="u1"), _update("s1", "crashed", did="u1")])
    _record(store, pid, [_update("s2", init=True, did="u2"), _update("s2", "exited", did="u2")])
    health = _only(store, pid)
    assert (health.sessions, health.crashed, health.users, health.crashed_users) == (2, 1, 2, 1)
    assert health.rates.sessions == 50.0 and health.rates.users == 50.0


def test_record_sessions__late_exited_after_crash__stays_crashed(store: Store) -> None:
    pid = _project(store)
    _record(store, pid, [_update("s1", "crashed", init=True)])
    _record(store, pid, [_update("s1", "exited")])
    health = _only(store, pid)
    assert (health.crashed, health.healthy) == (1, 0)


def test_record_sessions__errored_and_abnormal__exclusive_states(store: Store) -> None:
    pid = _project(store)
    _record(
        store,
        pid,
        [
            _update("a", "exited", errors=2, init=True),
            _update("b", "abnormal", errors=1, init=True),
            _update("c", "exited", init=True),
        ],
    )
    health = _only(store, pid)
    assert (health.sessions, health.errored, health.abnormal, health.crashed) == (3, 1, 1, 0)
    assert health.healthy == 1
    # Abnormal sessions are not crashes.
    assert health.rates.sessions == 100.0


def test_record_sessions__one_user_many_sessions__one_user(store: Store) -> None:
    pid = _project(store)
    _record(store, pid, [_update(f"s{i}", "exited", did="u1", init=True) for i in range(5)])
    _record(store, pid, [_update("s9", "crashed", did="u1", init=True)])
    health = _only(store, pid)
    assert (health.sessions, health.users, health.crashed_users) == (6, 1, 1)
    assert health.rates.users == 0.0


def test_record_sessions__aggregates__added_and_users_distinct_with_single_sessions(
    store: Store,
) -> None:
    pid = _project(store)
    payload = {
        "attrs": {"release": RELEASE, "environment": "production"},
        "aggregates": [
            {"started": T0.isoformat(), "did": "u1", "exited": 8, "crashed": 2},
            {"started": (T0 + timedelta(minutes=1)).isoformat(), "exited": 10},
        ],
    }
    _record(store, pid, [], parse_sessions(payload))
    _record(store, pid, [], parse_sessions(payload))  # a second batch adds up
    _record(store, pid, [_update("s1", "exited", did="u1", init=True)])
    health = _only(store, pid)
    assert (health.sessions, health.crashed, health.users, health.crashed_users) == (41, 4, 1, 1)


def test_health_for_project__per_release_and_environment(store: Store) -> None:
    pid = _project(store)
    _record(
        store,
        pid,
        [
            _update("a", "exited", init=True, release="shop@2.2.0"),
            _update("b", "crashed", init=True),
            _update("c", "exited", init=True, environment="staging"),
        ],
    )
    with store.read() as session:
        rows = release_health.health_for_project(session, pid)
        keys = {(r.release, r.environment): r.crashed for r in rows}
        assert keys == {
            ("shop@2.2.0", "production"): 0,
            (RELEASE, "production"): 1,
            (RELEASE, "staging"): 0,
        }
        production = release_health.health_for_project(session, pid, environment="production")
        assert {r.release for r in production} == {"shop@2.2.0", RELEASE}


def test_crash_free_between__compares_windows_before_and_after(store: Store) -> None:
    pid = _project(store)
    before = [_update(f"b{i}", "exited", did=f"u{i}", init=True, started=T0) for i in range(10)]
    after = [
        _update(
            f"a{i}",
            "crashed" if i < 2 else "exited",
            did=f"u{i}",
            init=True,
            started=T0 + timedelta(hours=3),
        )
        for i in range(10)
    ]
    _record(store, pid, before + after)
    with store.read() as session:
        rates_before = release_health.crash_free_between(
            session, pid, "production", T0, T0 + timedelta(hours=1)
        )
        rates_after = release_health.crash_free_between(
            session, pid, "production", T0 + timedelta(hours=2), T0 + timedelta(hours=4)
        )
        everything = release_health.crash_free_between(
            session, pid, None, T0, T0 + timedelta(hours=4)
        )
        nothing = release_health.crash_free_between(
            session, pid, "staging", T0, T0 + timedelta(hours=4)
        )
    assert rates_before.sessions == 100.0 and rates_before.users == 100.0
    assert rates_after.sessions == 80.0 and rates_after.users == 80.0
    assert everything.sessions == 90.0 and everything.users == 80.0  # 10 distinct users
    assert nothing.sessions is None and nothing.users is None


def test_hourly_health__zero_filled_series(store: Store) -> None:
    pid = _project(store)
    _record(
        store,
        pid,
        [
            _update("a", "crashed", init=True, started=T0 + timedelta(minutes=10)),
            _update("b", "exited", init=True, started=T0 + timedelta(hours=2, minutes=5)),
        ],
    )
    with store.read() as session:
        series = release_health.hourly_health(
            session, pid, RELEASE, "production", T0, T0 + timedelta(hours=3)
        )
    assert [(h.sessions, h.crashed) for h in series] == [(1, 1), (0, 0), (1, 0)]
    assert series[1].hour == T0 + timedelta(hours=1)
    assert series[1].rates.sessions is None


@pytest.mark.parametrize("status", ["crashed", "abnormal"])
def test_record_sessions__same_session_in_two_projects__kept_apart(
    store: Store, status: str
) -> None:
    pid = _project(store)
    with store.write() as session:
        other = projects.create_project(session, SYSTEM, "other").id
    _record(store, pid, [_update("s1", status, init=True)])
    _record(store, other, [_update("s1", "exited", init=True)])
    assert _only(store, pid).healthy == 0
    assert _only(store, other).healthy == 1
