"""Change notification: tell every listener about a committed change, never an uncommitted one.

Domain code calls `announce(session, change)` inside its transaction; the change is published
only when that transaction commits (a rollback drops it). Listeners — the SSE stream, caches —
subscribe to a `Notifier`.

`LocalNotifier` fans out inside one process. With many servers on one PostgreSQL, a
LISTEN/NOTIFY notifier takes its place behind the same interface: `announce` then also issues
`pg_notify` in the transaction (PostgreSQL delivers it on commit, to every node).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

_PENDING_KEY = "trimtab.pending_changes"
_NOTIFIER_KEY = "trimtab.notifier"
# A slow consumer must not grow memory without bound: past this, it is told to resync.
SUBSCRIBER_QUEUE_LIMIT = 1000
# The kind of the marker a subscription gets when changes may have been missed.
RESYNC = "resync"


@dataclass(frozen=True)
class Change:
    """Something listeners may care about. `kind` like "flags.changed", "maintenance.changed"."""

    kind: str
    project_id: int
    environment: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    seq: int = 0


class Subscription:
    def __init__(
        self, notifier: LocalNotifier, loop: asyncio.AbstractEventLoop, project_id: int | None
    ) -> None:
        self._notifier = notifier
        self._loop = loop
        self.project_id = project_id
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue(SUBSCRIBER_QUEUE_LIMIT)
        self.overflowed = False

    def _offer(self, change: Change) -> None:
        if self.queue.full():
            # Drop and mark: the consumer resyncs from the store rather than miss silently.
            self.overflowed = True
            return
        self.queue.put_nowait(change)

    def resync(self) -> None:
        """Changes may have been missed (see `LocalNotifier.resync`): mark this subscription
        overflowed and wake its consumer with a `resync` change so it reloads from the store."""
        self._loop.call_soon_threadsafe(self._mark_resync)

    def _mark_resync(self) -> None:
        self.overflowed = True
        if not self.queue.full():
            self.queue.put_nowait(Change(RESYNC, self.project_id or 0))

    def deliver(self, change: Change) -> None:
        if self.project_id is not None and change.project_id != self.project_id:
            return
        self._loop.call_soon_threadsafe(self._offer, change)

    async def __aiter__(self) -> AsyncIterator[Change]:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            yield item

    async def get(self, timeout: float) -> Change | None:
        """The next change, or None when `timeout` seconds pass without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def close(self) -> None:
        self._notifier.unsubscribe(self)


class LocalNotifier:
    """Fan-out to subscribers in this process. Thread-safe: publishers run in worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: set[Subscription] = set()
        self._seq = itertools.count(1)
        # Identifies this process among the nodes sharing one database, so a node ignores the
        # echo of its own changes coming back through PostgreSQL.
        self.node_id = uuid.uuid4().hex[:16]
        # Set by a cross-node relay (PostgreSQL LISTEN/NOTIFY): called inside the announcing
        # transaction, so other nodes hear of the change exactly when it commits.
        self.relay: Callable[[Session, Change], None] | None = None

    def subscribe(self, project_id: int | None = None) -> Subscription:
        subscription = Subscription(self, asyncio.get_running_loop(), project_id)
        with self._lock:
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    def publish(self, change: Change) -> Change:
        stamped = Change(
            change.kind, change.project_id, change.environment, change.data, next(self._seq)
        )
        with self._lock:
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            subscription.deliver(stamped)
        return stamped

    def resync(self) -> None:
        """Tell every subscriber that changes may have been missed (the cross-node listener
        lost its connection for a while): each is marked overflowed and woken, and reloads."""
        with self._lock:
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            subscription.resync()

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)


def bind_notifier(session: Session, notifier: LocalNotifier) -> None:
    """Make `announce()` in this session publish to `notifier` on commit."""
    session.info[_NOTIFIER_KEY] = notifier


def announce(session: Session, change: Change) -> None:
    """Publish `change` once the session's transaction commits (on every node)."""
    session.info.setdefault(_PENDING_KEY, []).append(change)
    notifier: LocalNotifier | None = session.info.get(_NOTIFIER_KEY)
    if notifier is not None and notifier.relay is not None:
        notifier.relay(session, change)


@event.listens_for(Session, "after_commit")
def _publish_pending(session: Session) -> None:
    pending: list[Change] = session.info.pop(_PENDING_KEY, [])
    notifier: LocalNotifier | None = session.info.get(_NOTIFIER_KEY)
    if notifier is not None:
        for change in pending:
            notifier.publish(change)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
