"""Cross-process change fan-out on SQLite: the change relay table, polled.

`trimtab serve --workers N` runs N processes on one SQLite file; `LocalNotifier` reaches only
its own process. `relay()` (the notifier's hook, called inside the announcing transaction, like
`pg_notify` on PostgreSQL) adds a row to `change_relay`, so the row exists exactly when the
change commits. Each process polls for rows past the last id it saw and republishes those of
other processes to its local subscribers; its own were published locally after commit.
SQLite writers serialize and ids never go back (AUTOINCREMENT), so polling by id misses nothing.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session

from trimtab.store.models.base import utcnow
from trimtab.store.models.change_relay import ChangeRelayRow
from trimtab.store.notify import Change, LocalNotifier
from trimtab.threads import name_os_thread

log = logging.getLogger("trimtab.store.notify")

POLL_INTERVAL_S = 0.2
KEEP_FOR = timedelta(minutes=5)
PRUNE_EVERY = 200  # relayed changes between two prunes
POLL_BATCH = 500


class SqliteRelay:
    def __init__(self, notifier: LocalNotifier, engine: Engine) -> None:
        self.notifier = notifier
        self.engine = engine
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._relayed = 0
        self._last_id = 0
        self.listening = threading.Event()

    def relay(self, session: Session, change: Change) -> None:
        session.execute(
            insert(ChangeRelayRow).values(
                node=self.notifier.node_id,
                change={
                    "kind": change.kind,
                    "project_id": change.project_id,
                    "environment": change.environment,
                    "data": change.data,
                },
                created_at=utcnow(),
            )
        )
        self._relayed += 1
        if self._relayed % PRUNE_EVERY == 0:
            cutoff = utcnow() - KEEP_FOR
            session.execute(delete(ChangeRelayRow).where(ChangeRelayRow.created_at < cutoff))

    def start(self) -> None:
        if self._thread is not None:
            return
        with self.engine.connect() as connection:
            self._last_id = connection.execute(select(func.max(ChangeRelayRow.id))).scalar() or 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="trimtab-relay-poll", daemon=True)
        self._thread.start()
        self.listening.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.listening.clear()

    def _run(self) -> None:
        name_os_thread()
        while not self._stop.wait(POLL_INTERVAL_S):
            try:
                self.poll()
            except Exception:  # a failed poll is retried at the next tick; nothing is skipped
                log.warning("change relay poll failed; retrying", exc_info=True)

    def poll(self) -> int:
        """Publish the other processes' changes committed since the last poll; how many."""
        query = (
            select(ChangeRelayRow.id, ChangeRelayRow.node, ChangeRelayRow.change)
            .where(ChangeRelayRow.id > self._last_id)
            .order_by(ChangeRelayRow.id)
            .limit(POLL_BATCH)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        published = 0
        for row_id, node, message in rows:
            self._last_id = row_id
            if node == self.notifier.node_id:
                continue
            self._publish(message)
            published += 1
        return published

    def _publish(self, message: dict[str, Any]) -> None:
        self.notifier.publish(
            Change(
                kind=str(message.get("kind")),
                project_id=int(message.get("project_id", 0)),
                environment=message.get("environment"),
                data=dict(message.get("data") or {}),
            )
        )
