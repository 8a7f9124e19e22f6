"""Migration 0410: environments made before revision rows came with them get theirs."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import column, insert, select, table

from trimtab.store import migrate
from trimtab.store.db import Store
from trimtab.store.models import FlagSetRevision
from trimtab.store.models.base import UTCDateTime

# The tables as 0400 had them (lightweight: the models carry columns added later).
ORGANIZATIONS = table(
    "organizations",
    column("id"),
    column("slug"),
    column("name"),
    column("created_at", UTCDateTime()),
)
PROJECTS = table(
    "projects",
    column("id"),
    column("organization_id"),
    column("slug"),
    column("name"),
    column("created_at", UTCDateTime()),
)
ENVIRONMENTS = table(
    "environments", column("project_id"), column("name"), column("created_at", UTCDateTime())
)


def test_migration_0410__environments_without_revision_row__get_revision_0_and_a_channel(
    store: Store,
) -> None:
    with store.engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection), "0400_merge")
    now = datetime.now(UTC)
    with store.engine.begin() as connection:  # as trimtab before 0410 made them: no revision rows
        org_id = connection.execute(
            insert(ORGANIZATIONS)
            .values(slug="acme", name="acme", created_at=now)
            .returning(ORGANIZATIONS.c.id)
        ).scalar_one()
        project_id = connection.execute(
            insert(PROJECTS)
            .values(organization_id=org_id, slug="shop", name="shop", created_at=now)
            .returning(PROJECTS.c.id)
        ).scalar_one()
        connection.execute(
            insert(ENVIRONMENTS),
            [{"project_id": project_id, "name": n, "created_at": now} for n in ("dev", "prod")],
        )
    migrate.upgrade(store)
    with store.read() as session:
        rows = session.scalars(select(FlagSetRevision)).all()
        assert len(rows) == 2
        assert all(row.revision == 0 and len(row.channel) >= 16 for row in rows)
        assert rows[0].channel != rows[1].channel
        assert {row.project_id for row in rows} == {project_id}
        assert all(row.updated_at.tzinfo is not None for row in rows)
    assert migrate.is_current(store)
