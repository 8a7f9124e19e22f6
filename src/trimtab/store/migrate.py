"""Alembic, driven from code: `upgrade()` at server start and by `trimtab db upgrade`.

Feature branches of the schema may exist side by side (several heads); `upgrade()` applies
all heads, and readiness means every head is applied.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from trimtab.store.db import Store

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any fixed 64-bit number: serializes migrations when several nodes start at once on PostgreSQL.
_PG_MIGRATION_LOCK = 7_413_019_201


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revisions() -> frozenset[str]:
    # The scripts do not change while a process runs; reading them on every /readyz would.
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(store: Store) -> set[str]:
    with store.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def is_current(store: Store) -> bool:
    return current_revisions(store) == head_revisions()


def upgrade(store: Store, target: str = "heads") -> None:
    with store.engine.connect() as connection:
        sqlite = store.dialect == "sqlite"
        if sqlite:
            # SQLite's rule for schema changes: foreign keys off while they run. A batch
            # migration rebuilds a table and drops the old copy, and with foreign keys on that
            # DROP cascades to every row referencing it (a whole project's environments, flags
            # and deploys). Set on the driver's connection: inside a transaction it is a no-op.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                if store.dialect == "postgresql":
                    connection.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))
                command.upgrade(alembic_config(connection), target)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:  # rolled back: the store stays as it was
                        raise RuntimeError(
                            f"migration left rows without their parent: {broken[:5]}"
                        )
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
