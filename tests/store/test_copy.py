"""`trimtab db copy` moves a store to another database with nothing lost: the demo workspace
goes SQLite -> PostgreSQL -> SQLite with every table's rows and checksum equal, and a server on
the copy serves it; a target that holds data, or the source itself, is refused untouched."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from tests.support import ADMIN_PASSWORD, ADMIN_TOKEN, WAIT, start_server
from trimtab.store import migrate
from trimtab.store.copy import CopyRefused, copy_store, table_checks
from trimtab.store.db import Store
from trimtab.store.models import (
    AlertTarget,
    AuditEntry,
    DeployRun,
    Flag,
    Issue,
    Organization,
    Project,
)


def _trimtab(*args: str, database_url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIMTAB_")}
    env.update(
        TRIMTAB_DATABASE_URL=database_url,
        TRIMTAB_DATA_DIR=str(data_dir),
        TRIMTAB_ADMIN_TOKEN=ADMIN_TOKEN,
        TRIMTAB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        COLUMNS="200",
    )
    return subprocess.run(
        [sys.executable, "-m", "trimtab", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )


def _checks(url: str) -> dict[str, tuple[int, str]]:
    store = Store(url)
    try:
        return table_checks(store)
    finally:
        store.dispose()


def test_db_copy__demo_workspace__round_trips_sqlite_postgres_sqlite_and_serves(
    tmp_path: Path, empty_postgres: Callable[[], str]
) -> None:
    original = f"sqlite:///{tmp_path}/original.db"
    seeded = _trimtab("demo", "seed", database_url=original, data_dir=tmp_path / "data")
    assert seeded.returncode == 0, seeded.stderr
    on_postgres, back = empty_postgres(), f"sqlite:///{tmp_path}/back.db"

    there = _trimtab("db", "copy", "--to", on_postgres, database_url=original, data_dir=tmp_path)
    assert there.returncode == 0, there.stdout + there.stderr
    assert "every table matches" in there.stdout
    again = _trimtab(
        "db", "copy", "--from", on_postgres, "--to", back, "--batch", "7",
        database_url=original, data_dir=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr

    expected = _checks(original)
    assert expected["events"][0] > 0 and expected["flags"][0] > 0
    assert _checks(on_postgres) == expected
    assert _checks(back) == expected

    source = Store(original)
    with source.read() as session:
        flags = sorted(session.scalars(select(Flag.key)))
        issues = sorted((i.id, i.title) for i in session.scalars(select(Issue)))
    source.dispose()
    server = start_server(on_postgres, tmp_path / "served")
    try:
        api = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=WAIT
        )
        served_flags = api.get("/api/v1/projects/shop/flags")
        assert served_flags.status_code == 200, served_flags.text
        assert sorted(f["key"] for f in served_flags.json()) == flags
        served_issues = api.get("/api/v1/issues", params={"project": "shop", "limit": 100})
        assert served_issues.status_code == 200, served_issues.text
        assert sorted((i["id"], i["title"]) for i in served_issues.json()) == issues
        # New rows get ids past the copied ones (the sequences were moved on).
        made = api.post("/api/v1/projects", json={"slug": "after-copy"})
        assert made.status_code == 201, made.text
        api.close()
    finally:
        server.stop()


def _small_source(path: Path) -> Store:
    """A store with a deploy run pointing at a later one (its rollback), and a JSON column
    holding SQL NULL beside one holding a JSON null."""
    store = Store(f"sqlite:///{path}")
    migrate.upgrade(store)
    now = datetime.now(UTC)
    with store.write() as session:
        org = Organization(slug="acme", name="Acme [bold]")
        session.add(org)
        session.flush()
        project = Project(organization_id=org.id, slug="shop", name="shop")
        session.add(project)
        session.flush()
        rollback = DeployRun(id=2, project_id=project.id, environment="prod", kind="rollback")
        rollback.actor = "ci"
        session.add(rollback)
        session.flush()
        session.add(
            DeployRun(
                id=1,
                project_id=project.id,
                environment="prod",
                kind="release",
                actor="ci",
                rollback_run_id=2,
                created_at=now,
            )
        )
        session.add(AuditEntry(actor="a", action="x", target_type="t", target_id="1", after={}))
    with store.engine.begin() as connection:  # one SQL NULL, one JSON null
        connection.execute(text("UPDATE audit_log SET before = NULL"))
        connection.execute(text("UPDATE audit_log SET after = 'null'"))
    return store


def test_copy_store__target_holds_data__refused_untouched_then_replaced_with_force(
    store: Store, tmp_path: Path
) -> None:
    source = _small_source(tmp_path / "source.db")
    with store.write() as session:
        session.add(Organization(slug="there", name="already there"))
    try:
        with pytest.raises(CopyRefused, match=r"already holds data .*organizations"):
            copy_store(source, store)
        with store.read() as session:
            assert session.scalars(select(Organization.slug)).all() == ["there"]

        report = copy_store(source, store, force=True, batch=1)
        assert report.ok, [c for c in report.tables if not c.matches]
        assert table_checks(store) == table_checks(source)
        with store.read() as session:
            assert session.scalars(select(Organization.slug)).all() == ["acme"]
            run = session.get(DeployRun, 1)
            assert run is not None and run.rollback_run_id == 2
            nulls = session.execute(
                select(AuditEntry.before.is_(None), AuditEntry.after.is_(None))
            ).one()
            assert tuple(nulls) == (True, False)  # SQL NULL stays NULL; JSON null stays JSON
        with store.write() as session:  # the next id is past the copied ones
            fresh = DeployRun(project_id=1, environment="prod", kind="release", actor="ci")
            session.add(fresh)
            session.flush()
            assert fresh.id == 3
    finally:
        source.dispose()


def test_copy_store__same_database_or_unmigrated_source__refused(tmp_path: Path) -> None:
    source = _small_source(tmp_path / "source.db")
    same = Store(f"sqlite:///{tmp_path}/../{tmp_path.name}/source.db")
    empty = Store(f"sqlite:///{tmp_path}/empty.db")
    try:
        with pytest.raises(CopyRefused, match="same database"):
            copy_store(source, same, force=True)
        with pytest.raises(CopyRefused, match="not at the latest migration"):
            copy_store(empty, Store(f"sqlite:///{tmp_path}/target.db"))
        assert table_checks(source)["organizations"][0] == 1
    finally:
        for s in (source, same, empty):
            s.dispose()


def test_db_copy__row_the_target_refuses__fails_naming_the_table_target_empty_no_values_shown(
    tmp_path: Path, empty_postgres: Callable[[], str]
) -> None:
    source = _small_source(tmp_path / "source.db")
    with source.write() as session:  # SQLite keeps a name past its column's 64 characters
        project_id = session.scalars(select(Project.id)).one()
        session.add(
            AlertTarget(
                project_id=project_id, name="n" * 65, url="https://x", secret="s3cret-signing"
            )
        )
    source.dispose()
    target = empty_postgres()
    failed = _trimtab(
        "db", "copy", "--from", f"sqlite:///{tmp_path}/source.db", "--to", target,
        database_url=f"sqlite:///{tmp_path}/source.db", data_dir=tmp_path,
    )  # fmt: skip
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "copying table alert_targets: value too long" in failed.stderr
    assert "s3cret-signing" not in failed.stdout + failed.stderr
    assert "n" * 65 not in failed.stdout + failed.stderr
    checks = _checks(target)  # migrated, and not one row kept
    assert checks and all(rows == 0 for rows, _ in checks.values())
