"""Cross-node change fan-out on PostgreSQL with LISTEN/NOTIFY.

`relay()` runs `pg_notify` inside the announcing transaction: PostgreSQL delivers a
notification only when its transaction commits, and never for a rolled-back one, which is the
same promise `announce()` makes locally. Each node runs one listener thread on its own
connection and republishes what other nodes announced to its local subscribers (its own
announcements were already published locally after commit, so echoes are skipped by node id).
A notification sent while the listener's connection was down is never delivered, so after a
reconnect every local subscriber is told to resync (`LocalNotifier.resync`): caches mark
themselves stale and SSE streams close, so SDKs reconnect and fetch the current rules.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import orjson
import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from trimtab.store.notify import Change, LocalNotifier
from trimtab.threads import name_os_thread

log = logging.getLogger("trimtab.store.notify")

CHANNEL = "trimtab_changes"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; changes carry ids and etags only.
MAX_PAYLOAD = 7900


def psycopg_conninfo(sqlalchemy_url: str) -> str:
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PostgresRelay:
    def __init__(self, notifier: LocalNotifier, sqlalchemy_url: str) -> None:
        self.notifier = notifier
        self.conninfo = psycopg_conninfo(sqlalchemy_url)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()
        self.reconnects = 0  # how often the listener came back after losing its connection

    def relay(self, session: Session, change: Change) -> None:
        payload = orjson.dumps(
            {
                "node": self.notifier.node_id,
                "kind": change.kind,
                "project_id": change.project_id,
                "environment": change.environment,
                "data": change.data,
            }
        ).decode()
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"change {change.kind} too large to relay ({len(payload)} bytes)")
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
        )

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="trimtab-listen", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.listening.clear()

    def _run(self) -> None:
        name_os_thread()
        backoff = 0.5
        connected_before = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    if connected_before:
                        self.reconnects += 1
                        self.notifier.resync()
                    connected_before = True
                    backoff = 0.5
                    while not self._stop.is_set():
                        for notification in connection.notifies(timeout=0.5):
                            self._deliver(notification.payload)
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("change listener lost its connection (%s); retrying", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _deliver(self, payload: str) -> None:
        try:
            message: dict[str, Any] = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.warning("ignoring a malformed change notification")
            return
        if message.get("node") == self.notifier.node_id:
            return
        self.notifier.publish(
            Change(
                kind=str(message.get("kind")),
                project_id=int(message.get("project_id", 0)),
                environment=message.get("environment"),
                data=dict(message.get("data") or {}),
            )
        )
