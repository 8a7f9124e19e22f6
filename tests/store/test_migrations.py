"""The schema the migrations build is the schema the models describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from trimtab.store import db, migrate
from trimtab.store.db import Store
from trimtab.store.models import Base


def test_migrations__applied_to_fresh_store__match_models(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], f"models and migrations disagree: {differences}"


def test_migrations__fresh_store__is_current_and_upgrade_is_idempotent(store: Store) -> None:
    assert migrate.is_current(store)
    migrate.upgrade(store)
    assert migrate.current_revisions(store) == set(migrate.head_revisions())


def test_migrations__empty_database__is_not_current(tmp_path: object) -> None:
    empty = Store(f"sqlite:///{tmp_path}/empty.db")
    assert not migrate.is_current(empty)
    migrate.upgrade(empty)
    assert migrate.is_current(empty)


def test_sqlite__connection__uses_wal_foreign_keys_and_busy_timeout(tmp_path: object) -> None:
    s = Store(f"sqlite:///{tmp_path}/pragmas.db")
    with s.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_sqlite__memory__is_bounded_by_cache_size_and_pool(tmp_path: object) -> None:
    # Each pooled connection's page cache fills as the database grows; its size and the number
    # of connections are what bound SQLite's share of a server's RSS (see store/db.py).
    s = Store(f"sqlite:///{tmp_path}/cache.db")
    try:
        with s.engine.connect() as first, s.engine.connect() as second:
            for connection in (first, second):
                cache = connection.execute(text("PRAGMA cache_size")).scalar()
                assert cache == -db.SQLITE_CACHE_KIB
        assert isinstance(s.engine.pool, QueuePool)
        assert s.engine.pool.size() == db.SQLITE_POOL_SIZE
        assert s.engine.pool._max_overflow == db.SQLITE_MAX_OVERFLOW
        assert db.SQLITE_CACHE_KIB * (db.SQLITE_POOL_SIZE + db.SQLITE_MAX_OVERFLOW) <= 32 * 1024
    finally:
        s.dispose()


def test_migrations__history__has_exactly_one_head() -> None:
    # Feature branches may add parallel heads; a merge revision must join them before release.
    assert len(migrate.head_revisions()) == 1, sorted(migrate.head_revisions())
