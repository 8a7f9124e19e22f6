"""Guarded flags on a real store: thresholds, the on-vs-off comparison, auto-off effects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.support import flag_errors
from trimtab.domain.errors import InvalidInput
from trimtab.domain.flags import auto_off, flags
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.store import rollups
from trimtab.store.db import Store
from trimtab.store.models import (
    AuditEntry,
    AutoOffRule,
    FlagConfig,
    Notification,
    Organization,
    utcnow,
)

ADMIN = Actor("user", "alice", frozenset({"admin"}))
KEY = "new-payment-page"


@pytest.fixture
def shop(store: Store) -> Store:
    with store.write() as session:
        session.add(Organization(slug="acme", name="acme"))
        session.flush()
        projects.create_project(session, ADMIN, "shop")
        flags.create_flag(
            session, ADMIN, "shop", KEY, environments={"production": {"enabled": False}}
        )
        flags.rollout(session, ADMIN, "shop", KEY, "production", 25)
        flags.set_enabled(session, ADMIN, "shop", KEY, "production", True, None)
    return store


def errors(store: Store, at: datetime, on: int, off: int) -> None:
    with store.write() as session:
        project = projects.get_project(session, ADMIN, "shop")
        counts = {rollups.flag(KEY, True): on, rollups.flag(KEY, False): off}
        rollups.add_counts(session, project.id, "production", at, counts)


def guard_check(store: Store, now: datetime) -> bool:
    with store.write() as session:
        guard = session.scalars(select(AutoOffRule)).one()
        return auto_off.check_rule(session, guard, now)


def enabled(store: Store) -> bool:
    with store.read() as session:
        rows = session.scalars(select(FlagConfig).where(FlagConfig.enabled.is_(True))).all()
        return bool(rows)


def set_auto_off(store: Store, **options: object) -> None:
    with store.write() as session:
        auto_off.set_auto_off(session, ADMIN, "shop", KEY, "production", **options)  # type: ignore[arg-type]


def test_guard__errors_with_flag_on_reach_max_errors__turned_off_audited_notified(
    shop: Store,
) -> None:
    set_auto_off(shop, max_errors=50, compare_off=False)
    now = utcnow() + timedelta(minutes=1)
    errors(shop, now, on=49, off=0)
    assert guard_check(shop, now) is False and enabled(shop)
    errors(shop, now, on=1, off=0)
    assert guard_check(shop, now) is True
    assert not enabled(shop)
    with shop.read() as session:
        config = session.scalars(select(FlagConfig).where(FlagConfig.environment_id == 3)).one()
        assert (
            config.off_reason is not None
            and "50 errors with new-payment-page on" in config.off_reason
        )
        actions = {e.action: e for e in session.scalars(select(AuditEntry))}
        assert actions["flag.off"].after["automatic"] is True
        assert actions["flag.off"].actor == "system:flag-guard"
        assert actions["flag.auto_off"].after["errors_on"] == 50
        [notice] = session.scalars(select(Notification)).all()
        assert notice.kind == "flag.auto_off" and notice.environment == "production"
        guard = session.scalars(select(AutoOffRule)).one()
        assert guard.tripped_at is not None


def test_guard__on_errors_far_above_exposure_share__turned_off(shop: Store) -> None:
    set_auto_off(shop, compare_off=True)
    now = utcnow() + timedelta(minutes=1)
    # 25% rollout, no SDK metrics: the exposure share comes from the rollout percentage.
    errors(shop, now, on=30, off=90)
    assert guard_check(shop, now) is False  # 25% of the errors at 25% exposure
    errors(shop, now, on=60, off=0)
    assert guard_check(shop, now) is True
    with shop.read() as session:
        guard = session.scalars(select(AutoOffRule)).one()
        assert guard.last_result["exposure_source"] == "the rollout percentage"
        assert "clearly exceed" in (guard.tripped_reason or "")


def test_guard__sdk_metrics_known__exposure_from_evaluations(shop: Store) -> None:
    set_auto_off(shop, compare_off=True)
    now = utcnow() + timedelta(minutes=1)
    with shop.write() as session:
        project = projects.get_project(session, ADMIN, "shop")
        # Traffic actually split 50/50 (say, a segment of heavy users): 40 vs 60 errors is fine.
        auto_off.record_exposure(session, project.id, 3, {KEY: {"on": 5000, "off": 5000}}, now)
    errors(shop, now, on=40, off=60)
    assert guard_check(shop, now) is False
    with shop.read() as session:
        result = session.scalars(select(AutoOffRule)).one().last_result
        assert result["exposure_on"] == 0.5 and result["exposure_source"] == "10000 SDK evaluations"


def test_guard__errors_before_the_flag_was_turned_back_on__ignored(shop: Store) -> None:
    set_auto_off(shop, max_errors=50, compare_off=False)
    now = utcnow()
    errors(shop, now - timedelta(minutes=3), on=80, off=0)
    with shop.write() as session:
        flags.set_enabled(session, ADMIN, "shop", KEY, "production", False, "fixing")
    with shop.write() as session:
        flags.set_enabled(session, ADMIN, "shop", KEY, "production", True, "fixed")
    assert guard_check(shop, now + timedelta(seconds=5)) is False
    assert enabled(shop)


def test_guard__flag_off__skipped(shop: Store) -> None:
    set_auto_off(shop, max_errors=1)
    with shop.write() as session:
        flags.set_enabled(session, ADMIN, "shop", KEY, "production", False, None)
    errors(shop, utcnow(), on=100, off=0)
    assert guard_check(shop, utcnow()) is False


def test_set_guard__no_trigger_or_bad_bounds__refused(shop: Store) -> None:
    for options in ({"compare_off": False}, {"max_errors": 0}, {"window_s": 5}):
        with shop.write() as session, pytest.raises(InvalidInput):
            auto_off.set_auto_off(session, ADMIN, "shop", KEY, "production", **options)  # type: ignore[arg-type]


# --- counting starts exactly at the flag's last change (issue 9.11) ------------------------------

T0 = datetime(2030, 1, 7, 10, 0, 0, tzinfo=UTC)  # the test's clock: flag changes happen at T0 + s


class Clock:
    """The clock flag changes read (`domain.flags.flags.utcnow`), moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def at(self, seconds: float) -> datetime:
        self.now = T0 + timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(flags, "utcnow", lambda: clock.now)
    return clock


def received(store: Store, at: datetime, n: int, result: bool = True) -> None:
    with store.read() as session:
        pid = projects.get_project(session, ADMIN, "shop").id
    flag_errors(store, pid, KEY, at, n, result)


def flip(store: Store, clock: Clock, seconds: float, on: bool) -> None:
    clock.at(seconds)
    with store.write() as session:
        flags.set_enabled(session, ADMIN, "shop", KEY, "production", on, "test")


def guarded_on_at(store: Store, clock: Clock, seconds: float, **options: object) -> None:
    """A guard with `options`; the flag off at T0, on again `seconds` later."""
    set_auto_off(store, compare_off=False, **options)
    flip(store, clock, 0, False)
    flip(store, clock, seconds, True)


def last_result(store: Store) -> dict[str, object]:
    with store.read() as session:
        return dict(session.scalars(select(AutoOffRule)).one().last_result)


def test_guard__turned_back_on_seconds_after_auto_off__old_errors_never_trip_it_again(
    shop: Store, clock: Clock
) -> None:
    guarded_on_at(shop, clock, 1, max_errors=12)
    received(shop, T0 + timedelta(seconds=5), 12)
    assert guard_check(shop, T0 + timedelta(seconds=6)) is True and not enabled(shop)
    flip(shop, clock, 7, True)  # someone turns it back on a second later, no new errors
    for second in (9, 21, 35, 59, 75, 130):
        assert guard_check(shop, T0 + timedelta(seconds=second)) is False, second
        assert enabled(shop)
    result = last_result(shop)
    assert result["errors_on"] == 0
    assert result["since"] == (T0 + timedelta(seconds=7)).isoformat()


def test_guard__errors_after_the_change_in_its_minute_and_later__counted(
    shop: Store, clock: Clock
) -> None:
    guarded_on_at(shop, clock, 30, max_errors=12)
    received(shop, T0 + timedelta(seconds=29), 50)  # before the change: never counted
    received(shop, T0 + timedelta(seconds=31), 5)  # after it, in the same minute
    received(shop, T0 + timedelta(seconds=40), 3, result=False)  # the off side
    assert guard_check(shop, T0 + timedelta(seconds=45)) is False
    result = last_result(shop)
    assert (result["errors_on"], result["errors_off"]) == (5, 3)
    # Committed a moment after that check (within ingest's lag): the next check sees it.
    received(shop, T0 + timedelta(seconds=38), 1)
    assert guard_check(shop, T0 + timedelta(seconds=47)) is False
    assert last_result(shop)["errors_on"] == 6
    received(shop, T0 + timedelta(seconds=65), 5)  # the next minute, from the rollups
    assert guard_check(shop, T0 + timedelta(seconds=80)) is False  # 11 < 12
    # Once the change's minute has settled its receive times are kept: the same count.
    assert guard_check(shop, T0 + timedelta(seconds=95)) is False
    received(shop, T0 + timedelta(seconds=96), 1)
    assert guard_check(shop, T0 + timedelta(seconds=97)) is True and not enabled(shop)
    assert last_result(shop)["errors_on"] == 12


def test_guard__window_start_inside_a_minute__errors_before_it_not_counted(
    shop: Store, clock: Clock
) -> None:
    guarded_on_at(shop, clock, 1, max_errors=10, window_s=60)
    received(shop, T0 + timedelta(seconds=20), 6)
    received(shop, T0 + timedelta(seconds=50), 3)
    received(shop, T0 + timedelta(seconds=70), 3)
    # At 10:01:25 the window starts at 10:00:25: the 6 errors of 10:00:20 are out of it.
    assert guard_check(shop, T0 + timedelta(seconds=85)) is False
    assert last_result(shop)["errors_on"] == 6
    # At 10:01:15 they are in: 12 errors in the last minute.
    assert guard_check(shop, T0 + timedelta(seconds=75)) is True
