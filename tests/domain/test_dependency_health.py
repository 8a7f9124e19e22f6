"""Dependency health on a real store: signals, hysteresis, transitions and their effects."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from trimtab.domain.errors import Forbidden, InvalidInput
from trimtab.domain.flags import dependencies, flags, rule_sets
from trimtab.domain.flags.dependency_health import ProbeResult, check
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.sdk.breaker import BreakerPolicy
from trimtab.sdk.guard import DependencyTracker, Guard
from trimtab.store import rollups
from trimtab.store.db import Store
from trimtab.store.models import (
    AuditEntry,
    Dependency,
    DependencyTransition,
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


# --- an open breaker stays visible for as long as it is open (issue 9.12) ----------------------

SDK = Actor("token", "app", frozenset({"sdk-server"}), project_id=1, environment_id=3)
START = datetime(2030, 1, 7, 10, 0, 0, tzinfo=UTC)


class App:
    """One application process: the SDK's real breaker and report drain on a test clock,
    calling billing-api once a second and reporting every 10 s (and at once on a state
    change, as `FlagClient` does)."""

    def __init__(self, instance: str, first_report_s: int) -> None:
        self.instance = instance
        self.second = 0
        self.changed = False
        self.tracker = DependencyTracker(
            BreakerPolicy(consecutive_failures=3, open_s=10.0),
            clock=lambda: float(self.second),
            on_state_change=lambda *_: setattr(self, "changed", True),
        )
        self.next_report = first_report_s

    def tick(self, store: Store, second: int, billing_up: bool) -> None:
        self.second = second
        # DependencyUnavailable (breaker open) or the failure: the app serves its fallback.
        with contextlib.suppress(Exception), Guard(self.tracker, "billing-api"):
            if not billing_up:
                raise ConnectionError("billing-api refused")
        if second >= self.next_report or self.changed:
            self.changed = False
            self.next_report = second + 10
            for report in self.tracker.drain():
                self.report(store, second, report.state, report.successes, report.failures)

    def report(self, store: Store, second: int, state: str, ok: int = 0, bad: int = 0) -> None:
        with store.write() as session:
            dependencies.record_report(
                session,
                SDK,
                "billing-api",
                successes=ok,
                failures=bad,
                timeouts=0,
                state=state,
                instance=self.instance,
                interval_s=10,
                now=START + timedelta(seconds=second),
            )


def short_window(store: Store) -> None:
    """`--window 5s`, hysteresis off, a check every second: the most sensitive to flapping."""
    with store.write() as session:
        dependencies.update_dependency(
            session,
            ADMIN,
            "shop",
            "billing-api",
            clear_probe=True,
            settings={"window_s": 5, "interval_s": 1, "down_after": 1, "up_after": 1},
        )


def due_checks(store: Store, second: int) -> str:
    """What the dependency-health job does at this second: check what is due."""
    now = START + timedelta(seconds=second)
    with store.write() as session:
        dependency = session.scalars(select(Dependency)).one()
        if dependency.next_check_at <= now:
            check(session, dependency, now)
        return dependency.state


def transitions(store: Store) -> list[str]:
    with store.read() as session:
        rows = session.scalars(select(DependencyTransition).order_by(DependencyTransition.id))
        return [row.to_state for row in rows]


def test_check__steady_outage_with_a_window_shorter_than_re_reports__no_flapping(
    shop: Store,
) -> None:
    short_window(shop)
    apps = [App("a", first_report_s=10), App("b", first_report_s=13)]
    states = []
    for second in range(46):  # 45 s of failure
        for app in apps:
            app.tick(shop, second, billing_up=False)
        states.append(due_checks(shop, second))
    assert transitions(shop) == ["unhealthy"]
    assert states[-30:] == ["unhealthy"] * 30
    # Recovery: the half-open trials succeed, each app reports "closed" at once.
    recovered_at = None
    for second in range(46, 70):
        for app in apps:
            app.tick(shop, second, billing_up=True)
        if all(a.tracker.states()["billing-api"] == "closed" for a in apps):
            recovered_at = recovered_at or second
        if due_checks(shop, second) == "healthy":
            break
    assert recovered_at is not None and second == recovered_at  # healthy at the next check
    assert transitions(shop) == ["unhealthy", "healthy"]


def test_check__one_instance_still_open__unhealthy_until_it_reports_closed(shop: Store) -> None:
    short_window(shop)
    a, b = App("a", 0), App("b", 0)
    a.report(shop, 0, "open")
    b.report(shop, 0, "open")
    assert due_checks(shop, 0) == "unhealthy"
    b.report(shop, 8, "closed")
    assert due_checks(shop, 8) == "unhealthy"  # a's breaker is still open
    a.report(shop, 10, "open")  # its re-report
    assert due_checks(shop, 19) == "unhealthy"  # 9 s later, window 5 s: still visible
    a.report(shop, 20, "closed")
    assert due_checks(shop, 20) == "healthy"


def test_check__instance_gone_quiet_with_its_breaker_open__stale_after_three_intervals(
    shop: Store,
) -> None:
    short_window(shop)
    App("a", 0).report(shop, 0, "open")  # and then the process dies
    assert due_checks(shop, 0) == "unhealthy"
    assert due_checks(shop, 30) == "unhealthy"  # 3 x its 10 s interval
    assert due_checks(shop, 31) == "healthy"


def test_record_report__closed_while_unhealthy__hurries_the_next_check(shop: Store) -> None:
    short_window(shop)
    App("a", 0).report(shop, 0, "open")
    assert due_checks(shop, 0) == "unhealthy"
    with shop.write() as session:
        dependency = session.scalars(select(Dependency)).one()
        dependency.next_check_at = START + timedelta(minutes=5)
    App("a", 0).report(shop, 3, "closed")
    assert due_checks(shop, 3) == "healthy"


def test_record_report__bad_instance_or_interval__refused(shop: Store) -> None:
    for options in ({"instance": "x" * 65}, {"instance": "a\nb"}, {"interval_s": float("nan")}):
        with shop.write() as session, pytest.raises(InvalidInput):
            dependencies.record_report(
                session,
                SDK,
                "billing-api",
                successes=0,
                failures=0,
                timeouts=0,
                state="open",
                **options,  # type: ignore[arg-type]
            )


def test_record_report__too_many_instances__refused_until_quiet_ones_are_forgotten(
    shop: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    short_window(shop)
    monkeypatch.setattr(dependencies, "MAX_REPORTERS_PER_DEPENDENCY", 2)
    App("a", 0).report(shop, 0, "open")
    App("b", 0).report(shop, 0, "closed")
    App("a", 0).report(shop, 5, "closed")  # a known instance always reports
    with pytest.raises(InvalidInput, match="more than 2 SDK instances"):
        App("c", 0).report(shop, 10, "open")
    App("c", 0).report(shop, 31 * 60, "open")  # a and b went quiet 30 min ago
    assert due_checks(shop, 31 * 60) == "unhealthy"
