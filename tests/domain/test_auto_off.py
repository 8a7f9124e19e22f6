"""Guarded flags on a real store: thresholds, the on-vs-off comparison, auto-off effects."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

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
