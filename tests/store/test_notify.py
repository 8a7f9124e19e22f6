"""Changes reach listeners only after their transaction commits."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.support import WAIT
from trimtab.store.db import Store
from trimtab.store.notify import RESYNC, Change, announce


async def test_announce__commit__delivered_once(store: Store) -> None:
    subscription = store.notifier.subscribe(project_id=7)
    await asyncio.to_thread(_write_and_announce, store, Change("flags.changed", 7, "production"))
    change = await subscription.get(timeout=2)
    assert change is not None and change.kind == "flags.changed" and change.seq > 0
    assert await subscription.get(timeout=0.05) is None


async def test_announce__rollback__never_delivered(store: Store) -> None:
    subscription = store.notifier.subscribe()

    def fail() -> None:
        with store.write() as session:
            announce(session, Change("flags.changed", 1))
            raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        await asyncio.to_thread(fail)
    assert await subscription.get(timeout=0.1) is None


async def test_subscription__other_project__filtered(store: Store) -> None:
    mine = store.notifier.subscribe(project_id=1)
    await asyncio.to_thread(_write_and_announce, store, Change("flags.changed", 2))
    assert await mine.get(timeout=0.1) is None
    mine.close()
    assert store.notifier.subscriber_count == 0


def _write_and_announce(store: Store, change: Change) -> None:
    with store.write() as session:
        announce(session, change)


async def test_announce__other_node_on_postgres__delivered_on_commit_only(
    store: Store, database_url: str
) -> None:
    if store.dialect != "postgresql":
        pytest.skip("one node only on SQLite: LISTEN/NOTIFY is PostgreSQL's")
    other_node = Store(database_url)
    other_node.start_listening()
    try:
        relay = other_node._relay
        assert relay is not None and await asyncio.to_thread(relay.listening.wait, 5)
        subscription = other_node.notifier.subscribe(project_id=3)

        def fail() -> None:
            with store.write() as session:
                announce(session, Change("flags.changed", 3, "production", {"etag": "lost"}))
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            await asyncio.to_thread(fail)
        change = Change("flags.changed", 3, "production", {"etag": '"7-2"'})
        await asyncio.to_thread(_write_and_announce, store, change)
        received = await subscription.get(timeout=5)
        assert received is not None
        assert (received.kind, received.environment, received.data) == (
            "flags.changed",
            "production",
            {"etag": '"7-2"'},
        )
        assert await subscription.get(timeout=0.2) is None
    finally:
        other_node.dispose()


async def test_listener_reconnects__every_subscriber_told_to_resync(
    store: Store, database_url: str
) -> None:
    """Notices sent while the listener's connection was down are lost: after it reconnects each
    local subscriber gets a `resync` marker and is marked overflowed (caches reload, SSE streams
    close), and notices flow again."""
    if store.dialect != "postgresql":
        pytest.skip("one node only on SQLite: LISTEN/NOTIFY is PostgreSQL's")
    node = Store(database_url)
    node.start_listening()
    try:
        relay = node._relay
        assert relay is not None and await asyncio.to_thread(relay.listening.wait, WAIT)
        subscription = node.notifier.subscribe(project_id=3)

        def cut_listener() -> int:
            with store.engine.connect() as connection, connection.begin():
                return len(
                    connection.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND query LIKE 'LISTEN %'"
                        )
                    ).all()
                )

        assert await asyncio.to_thread(cut_listener) == 1
        received = await subscription.get(timeout=WAIT)
        assert received is not None and received.kind == RESYNC
        assert subscription.overflowed and relay.reconnects == 1

        change = Change("flags.changed", 3, "production", {"etag": '"8-1"'})
        await asyncio.to_thread(_write_and_announce, store, change)
        after = await subscription.get(timeout=WAIT)
        assert after is not None and after.data == {"etag": '"8-1"'}
    finally:
        node.dispose()
