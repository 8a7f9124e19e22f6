"""Dependency health on a real store: signals, hysteresis, transitions and their effects."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from trimtab.domain.errors import Forbidden, InvalidInput
from trimtab.domain.flags import dependencies, flags, rule_sets
from trimtab.domain.flags.dependency_health import ProbeResult, check
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.store import rollups
from trimtab.store.db import Store
from trimtab.store.models import (
    AuditEntry,
    Dependency,
    FlagSetRevision,
    Notification,
    Organization,
    utcnow,
)

ADMIN = Actor("user", "alice", frozenset({"admin"}))
DEPLOYER = Actor("token", "ci", frozenset({"deploy"}))
FALLBACK = {"variant": "off", "dependencies": ["billing-api"]}
BAD_PROBE = ProbeResult(ok=False, status=500, error="HTTP 500 (expected 200)", elapsed_ms=3.0)
GOOD_PROBE = ProbeResult(ok=True, status=200, error=None, elapsed_ms=2.0)


@pytest.fixture
def shop(store: Store) -> Store:
    with store.write() as session:
        session.add(Organization(slug="acme", name="acme"))
        session.flush()
        projects.create_project(session, ADMIN, "shop")
        flags.create_flag(
            session,
            ADMIN,
            "shop",
            "new-payment-page",
            environments={"production": {"enabled": True, "fallback": FALLBACK}},
        )
        dependencies.create_dependency(
            session,
            ADMIN,
            "shop",
            "billing-api",
            probe_url="http://billing.internal/health",
            settings={"down_after": 2, "up_after": 3, "max_errors": 20},
        )
    return store


def run_check(store: Store, now: datetime, probe: ProbeResult | None = None) -> str:
    with store.write() as session:
        dependency = session.scalars(select(Dependency)).one()
        check(session, dependency, now, probe)
        return dependency.state


def unhealthy(store: Store) -> frozenset[str]:
    with store.read() as session:
        project = projects.get_project(session, ADMIN, "shop")
        return rule_sets.unhealthy_dependencies(session, project.id)


def test_check__bad_probes__unhealthy_only_after_down_after_in_a_row(shop: Store) -> None:
    now = utcnow()
    assert run_check(shop, now, BAD_PROBE) == "healthy"
    assert run_check(shop, now + timedelta(seconds=10), GOOD_PROBE) == "healthy"  # streak reset
    assert run_check(shop, now + timedelta(seconds=20), BAD_PROBE) == "healthy"
    assert run_check(shop, now + timedelta(seconds=30), BAD_PROBE) == "unhealthy"
    assert unhealthy(shop) == {"billing-api"}


def test_check__recovery__needs_up_after_good_checks(shop: Store) -> None:
    now = utcnow()
    for i in range(2):
        run_check(shop, now + timedelta(seconds=i), BAD_PROBE)
    assert run_check(shop, now + timedelta(seconds=10), GOOD_PROBE) == "unhealthy"
    assert run_check(shop, now + timedelta(seconds=20), GOOD_PROBE) == "unhealthy"
    assert run_check(shop, now + timedelta(seconds=30), GOOD_PROBE) == "healthy"
    assert unhealthy(shop) == frozenset()


def test_transition__bumps_revision_audits_notifies_and_shows_on_the_flag(shop: Store) -> None:
    with shop.read() as session:
        before = {r.environment_id: r.revision for r in session.scalars(select(FlagSetRevision))}
    now = utcnow()
    for i in range(2):
        run_check(shop, now + timedelta(seconds=i), BAD_PROBE)
    with shop.read() as session:
        after = {r.environment_id: r.revision for r in session.scalars(select(FlagSetRevision))}
        assert len(after) == 3  # every environment's flag set, since the dependency is shared
        assert all(after[env] > before.get(env, 0) for env in after)
        actions = [e.action for e in session.scalars(select(AuditEntry))]
        assert "dependency.unhealthy" in actions and "flag.fallback" in actions
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "flag.fallback")
        ).one()
        assert (entry.target_id, entry.environment) == ("new-payment-page", "production")
        assert entry.actor == "system:dependency-health"
        assert entry.after["automatic"] is True
        [notice] = session.scalars(select(Notification)).all()
        assert notice.kind == "flag.fallback"
        assert notice.title == "billing-api failing: new-payment-page serving fallback"
        project = projects.get_project(session, ADMIN, "shop")
        status = dependencies.fallback_status(session, project.id, ["billing-api", "pay-library"])
        assert status is not None
        assert status.message.endswith("UTC: billing-api failing")
        detail = dependencies.dependency_detail(session, ADMIN, "shop", "billing-api")
        assert [(h.from_state, h.to_state) for h in detail.history] == [("healthy", "unhealthy")]
        assert detail.flags[0].serving == "fallback"


def test_check__sdk_reports_failure_rate_with_volume__bad(shop: Store) -> None:
    sdk = Actor("token", "app", frozenset({"sdk-server"}), project_id=1, environment_id=3)
    now = utcnow()
    with shop.write() as session:
        dependencies.record_report(
            session,
            sdk,
            "billing-api",
            successes=2,
            failures=3,
            timeouts=3,
            state="closed",
            now=now,
        )
    assert run_check(shop, now) == "healthy"  # 8 calls < min_calls 10: not enough to judge
    with shop.write() as session:
        dependencies.record_report(
            session,
            sdk,
            "billing-api",
            successes=0,
            failures=2,
            timeouts=0,
            state="closed",
            now=now,
        )
    assert run_check(shop, now + timedelta(seconds=1)) == "healthy"  # 8 of 10 failed: 1 bad
    assert run_check(shop, now + timedelta(seconds=2)) == "unhealthy"  # down_after = 2
    # Outside the 30 s window the reports no longer count.
    for i in range(3):
        run_check(shop, now + timedelta(seconds=40 + i))
    assert unhealthy(shop) == frozenset()


def test_check__error_reports_tagged_with_the_dependency__bad_at_max_errors(shop: Store) -> None:
    now = utcnow()
    with shop.write() as session:
        project = projects.get_project(session, ADMIN, "shop")
        rollups.add_counts(
            session, project.id, "production", now, {rollups.dependency("billing-api"): 25}
        )
    run_check(shop, now)
    assert run_check(shop, now + timedelta(seconds=10)) == "unhealthy"
    with shop.read() as session:
        reason = session.scalars(select(Dependency)).one().state_reason
    assert reason == "25 error reports in 5 min"
    # Ten minutes later those errors are out of the window.
    for i in range(3):
        run_check(shop, now + timedelta(minutes=10, seconds=i))
    assert unhealthy(shop) == frozenset()


def test_record_report__open_breaker__hurries_the_next_check(shop: Store) -> None:
    sdk = Actor("token", "app", frozenset({"sdk-server"}), project_id=1, environment_id=3)
    now = utcnow()
    with shop.write() as session:
        dependency = session.scalars(select(Dependency)).one()
        dependency.next_check_at = now + timedelta(minutes=5)
        dependencies.record_report(
            session, sdk, "billing-api", successes=0, failures=5, timeouts=0, state="open", now=now
        )
        assert dependency.next_check_at == now


def test_create_dependency__deploy_token__forbidden(shop: Store) -> None:
    with shop.write() as session, pytest.raises(Forbidden):
        dependencies.create_dependency(session, DEPLOYER, "shop", "other")


@pytest.mark.parametrize(
    ("probe_url", "settings"),
    [
        ("file:///etc/passwd", {}),
        ("http://", {}),
        (None, {"interval_s": 0}),
        (None, {"failure_rate": 2}),
        (None, {"down_after": 1.5}),
        (None, {"bogus": 1}),
    ],
)
def test_create_dependency__bad_settings__refused(
    shop: Store, probe_url: str | None, settings: dict[str, float]
) -> None:
    with shop.write() as session, pytest.raises(InvalidInput):
        dependencies.create_dependency(
            session, ADMIN, "shop", "other", probe_url=probe_url, settings=settings
        )
