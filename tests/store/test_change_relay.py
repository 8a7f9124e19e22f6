"""Changes announced by one server process reach the subscribers of another on the same database
(`serve --workers N`): SQLite through the change relay table, PostgreSQL through LISTEN/NOTIFY.
Two `Store`s on one database stand for two processes: each has its own notifier and node id."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.support import WAIT
from trimtab.store.db import Store
from trimtab.store.notify import Change, announce


@pytest.fixture
def two_processes(database_url: str) -> Iterator[tuple[Store, Store]]:
    stores = (Store(database_url), Store(database_url))
    for store in stores:
        store.share_changes_across_processes()
        store.start_listening()
    yield stores
    for store in stores:
        store.dispose()


def _announce(store: Store, change: Change, *, fail: bool = False) -> None:
    with store.write() as session:
        announce(session, change)
        if fail:
            raise RuntimeError("rolled back")


async def test_relay__change_committed_in_one_process__reaches_the_other_once(
    two_processes: tuple[Store, Store],
) -> None:
    first, second = two_processes
    heard = second.notifier.subscribe()
    own = first.notifier.subscribe()
    # Until the other process listens (PostgreSQL's listener connects in a thread), announce a
    # ping now and then; SQLite's relay hears every row from its start on.
    deadline = time.monotonic() + WAIT
    while True:
        await asyncio.to_thread(_announce, first, Change("ping", 1))
        if await heard.get(timeout=1) is not None:
            break
        assert time.monotonic() < deadline, "the second process never heard a change"
    while await heard.get(timeout=0.5) is not None:  # pings announced before it listened
        pass
    while await own.get(timeout=0.1) is not None:
        pass

    with pytest.raises(RuntimeError):
        await asyncio.to_thread(
            _announce, first, Change("flags.changed", 1, "production", {"etag": "no"}), fail=True
        )
    change = Change("flags.changed", 1, "production", {"etag": "abc"})
    await asyncio.to_thread(_announce, first, change)

    got = await heard.get(timeout=WAIT)
    assert got is not None
    assert (got.kind, got.project_id, got.environment, got.data) == (
        "flags.changed",
        1,
        "production",
        {"etag": "abc"},
    )
    # Its own process heard it once, from its own commit, not again through the relay.
    mine = await own.get(timeout=WAIT)
    assert mine is not None and mine.data == {"etag": "abc"}
    assert await heard.get(timeout=1) is None
    assert await own.get(timeout=1) is None
