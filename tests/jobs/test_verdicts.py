"""The window verdict job: issues and error rates from the store, through core.verdict."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from trimtab.core.sessions import SessionAggregate
from trimtab.domain.releases import stabilization
from trimtab.domain.reports import release_health
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.jobs import verdicts as verdict_job
from trimtab.settings import Settings
from trimtab.store import rollups
from trimtab.store.db import Store
from trimtab.store.models import (
    Issue,
    IssueFacet,
    Notification,
    StabilizationWindow,
    utcnow,
)


def _shop_with_window(store: Store, deployed_ago: timedelta, days: int = 7) -> int:
    now = utcnow()
    deployed_at = now - deployed_ago
    with store.write() as session:
        projects.ensure_organization(session, "trimtab")
        project = projects.create_project(session, SYSTEM, "shop")
        project.created_at = deployed_at - timedelta(days=10)
        stabilization.set_window_settings(session, SYSTEM, project, days, {})
        window = stabilization.open_window(
            session,
            project.id,
            "production",
            release_version="shop@2.3.0",
            release_id=None,
            services=["web-front"],
            run_id=None,
            at=deployed_at,
        )
        assert window is not None
        for hours in range(1, 48):  # a calm baseline: 1 error an hour
            rollups.add_counts(
                session,
                project.id,
                "production",
                deployed_at - timedelta(hours=hours),
                {"total": 1},
            )
        issue = Issue(
            project_id=project.id,
            fingerprint="seat-timeout",
            title="TimeoutError: seat lock",
            first_seen=deployed_at + timedelta(hours=2, minutes=5),
            last_seen=deployed_at + timedelta(hours=2, minutes=30),
            first_release="shop@2.3.0",
            event_count=14,
        )
        old = Issue(
            project_id=project.id,
            fingerprint="old",
            title="KeyError: poster",
            first_seen=deployed_at - timedelta(days=3),
            last_seen=deployed_at + timedelta(hours=1),
            first_release="shop@2.2.0",
            event_count=3,
        )
        # Seen in staging alone: it says nothing of the production deploy.
        elsewhere = Issue(
            project_id=project.id,
            fingerprint="staging-only",
            title="ValueError: staging fixture",
            first_seen=deployed_at + timedelta(hours=1),
            last_seen=deployed_at + timedelta(hours=3),
            first_release="shop@2.3.0",
            event_count=40,
        )
        session.add_all([issue, old, elsewhere])
        session.flush()
        for seen, env in ((issue, "production"), (old, "production"), (elsewhere, "staging")):
            session.add(
                IssueFacet(
                    issue_id=seen.id,
                    key="environment",
                    value=env,
                    count=seen.event_count,
                    first_seen=seen.first_seen,
                    last_seen=seen.last_seen,
                )
            )
        return window.id


def test_verdict_job__issue_first_seen_after_deploy__tied_to_the_release_other_envs_left_out(
    store: Store, settings: Settings
) -> None:
    window_id = _shop_with_window(store, timedelta(hours=8))
    verdict_job.run(store, settings)
    with store.read() as session:
        window = session.get(StabilizationWindow, window_id)
        assert window is not None and window.verdict is not None
        numbers = window.verdict["numbers"]
        tied = numbers["new_issues"]
        assert [i["title"] for i in tied] == ["TimeoutError: seat lock"]
        assert tied[0]["note"] == "first seen 2 h after the deploy"
        assert [i["title"] for i in numbers["cleared_issues"]] == ["KeyError: poster"]
        assert window.verdict_status == "suspicious"  # 14 events in a new issue
        assert window.final_at is None
        assert session.scalars(select(Notification)).first() is None


def test_verdict_job__window_ended__final_verdict_to_the_outbox_once(
    store: Store, settings: Settings
) -> None:
    window_id = _shop_with_window(store, timedelta(days=2), days=1)
    verdict_job.run(store, settings)
    verdict_job.run(store, settings)
    with store.read() as session:
        window = session.get(StabilizationWindow, window_id)
        assert window is not None and window.final_at is not None
        assert window.verdict is not None and window.verdict["final"] is True
        sent = list(session.scalars(select(Notification)))
        assert [n.kind for n in sent] == ["release.verdict"]
        assert "shop@2.3.0" in sent[0].title
        assert sent[0].body["status"] == window.verdict_status


def _sessions(
    store: Store, project_id: int, release: str, started: datetime, ok: int, crashed: int
) -> None:
    aggregate = SessionAggregate(
        release=release,
        environment="production",
        started=started,
        distinct_id=None,
        exited=ok,
        errored=0,
        abnormal=0,
        crashed=crashed,
    )
    with store.write() as session:
        release_health.record_sessions(session, project_id, [], [aggregate])


def test_verdict_job__crash_free_sessions_drop_after_deploy__regressed_with_the_numbers(
    store: Store, settings: Settings
) -> None:
    window_id = _shop_with_window(store, timedelta(hours=8))
    with store.read() as session:
        window = session.get(StabilizationWindow, window_id)
        assert window is not None
        project_id, deployed_at = window.project_id, window.opened_at
    _sessions(store, project_id, "shop@2.2.0", deployed_at - timedelta(hours=5), 995, 5)
    _sessions(store, project_id, "shop@2.3.0", deployed_at + timedelta(hours=3), 970, 30)
    verdict_job.run(store, settings)
    with store.read() as session:
        window = session.get(StabilizationWindow, window_id)
        assert window is not None and window.verdict is not None
        numbers = window.verdict["numbers"]
        assert numbers["crash_free_before"] == 0.995
        assert numbers["crash_free_after"] == 0.97
        assert window.verdict_status == "regressed"
        assert any("crash-free" in reason for reason in window.verdict["reasons"])
