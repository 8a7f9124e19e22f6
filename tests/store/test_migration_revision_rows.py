"""Migration 0410: environments made before revision rows came with them get theirs."""

from __future__ import annotations

from alembic import command
from sqlalchemy import select

from trimtab.store import migrate
from trimtab.store.db import Store
from trimtab.store.models import Environment, FlagSetRevision, Organization, Project


def test_migration_0410__environments_without_revision_row__get_revision_0_and_a_channel(
    store: Store,
) -> None:
    with store.engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection), "0400_merge")
    with store.write() as session:  # as trimtab before 0410 made them: no revision rows
        org = Organization(slug="acme", name="acme")
        session.add(org)
        session.flush()
        project = Project(organization_id=org.id, slug="shop", name="shop")
        session.add(project)
        session.flush()
        session.add_all(Environment(project_id=project.id, name=n) for n in ("dev", "prod"))
    migrate.upgrade(store)
    with store.read() as session:
        rows = session.scalars(select(FlagSetRevision)).all()
        assert len(rows) == 2
        assert all(row.revision == 0 and len(row.channel) >= 16 for row in rows)
        assert rows[0].channel != rows[1].channel
        assert {row.project_id for row in rows} == {project.id}
        assert all(row.updated_at.tzinfo is not None for row in rows)
    assert migrate.is_current(store)
