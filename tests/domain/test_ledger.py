"""The version ledger: what runs where is the newest successful row, whatever came later."""

from __future__ import annotations

from datetime import timedelta

from trimtab.domain.releases import ledger
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.store.db import Store
from trimtab.store.models import Deploy, utcnow


def _row(project_id: int, service: str, version: str, result: str, finished_ago: float) -> Deploy:
    at = utcnow() - timedelta(hours=finished_ago)
    return Deploy(
        project_id=project_id,
        environment="production",
        service=service,
        version=version,
        actor="user:mina",
        result=result,
        created_at=at,
        finished_at=at,
    )


def test_current__many_rows__newest_success_by_finish_time(store: Store) -> None:
    with store.write() as session:
        projects.ensure_organization(session, "trimtab")
        project = projects.create_project(session, SYSTEM, "shop")
        rows = [_row(project.id, "api", f"1.0.{n}", "success", 100 - n) for n in range(30)]
        # Written last but finished earlier (a slow step): not what runs now.
        rows.append(_row(project.id, "api", "0.9.9", "success", 200))
        rows.append(_row(project.id, "api", "2.0.0", "failed", 0))
        rows.append(_row(project.id, "web", "5.0.0", "success", 1))
        session.add_all(rows)
    with store.read() as session:
        running = ledger.current(session, project.id, "production", "api")
        assert running is not None and running.version == "1.0.29"
        newest_first = ledger.successful(session, project.id, "production", "api")
        assert [d.version for d in newest_first[:2]] == ["1.0.29", "1.0.28"]
        assert newest_first[-1].version == "0.9.9"
        assert ledger.current(session, project.id, "staging", "api") is None
        status = ledger.status(session, SYSTEM, "shop", "production")
        assert [(s.service, s.version) for s in status] == [("api", "1.0.29"), ("web", "5.0.0")]


def test_status__every_environment__running_and_in_flight_per_service_in_environment_order(
    store: Store,
) -> None:
    with store.write() as session:
        projects.ensure_organization(session, "trimtab")
        project = projects.create_project(session, SYSTEM, "shop")
        rows = [_row(project.id, "api", f"1.0.{n}", "success", 50 - n) for n in range(20)]
        rows += [
            _row(project.id, "web", "5.0.0", "success", 3),
            _row(project.id, "web", "5.1.0", "running", 0),
        ]
        staging = [
            _row(project.id, "api", "1.1.0", "success", 2),
            _row(project.id, "api", "1.2.0", "waiting_confirm", 0),
            _row(project.id, "old-worker", "0.1.0", "success", 900),  # removed since: still shown
            _row(project.id, "search", "0.2.0", "pending", 0),  # first deploy, not done yet
        ]
        for row in staging:
            row.environment = "staging"
        session.add_all([*rows, *staging])
        session.flush()
        rollback = _row(project.id, "api", "1.0.18", "success", 0.5)
        rollback.rollback_of_id = rows[19].id  # 1.0.19 undone
        session.add(rollback)
    with store.read() as session:
        status = ledger.status(session, SYSTEM, "shop")
    assert [(s.environment, s.service, s.version, s.in_flight, s.rollback) for s in status] == [
        ("staging", "api", "1.1.0", "1.2.0 (waiting_confirm)", False),
        ("staging", "old-worker", "0.1.0", None, False),
        ("staging", "search", None, "0.2.0 (pending)", False),
        ("production", "api", "1.0.18", None, True),
        ("production", "web", "5.0.0", "5.1.0 (running)", False),
    ]
