"""Crash rounds against a real `trimtab serve` process: load it, SIGKILL it, restart it, check.

A round runs error reports (Sentry envelopes, as an SDK's transport posts them) and flag changes
(flips and rollouts, each with a unique reason) from several threads, records what the server
acknowledged, kills the process at a moment drawn from a seeded RNG, checks the store's own
integrity while no process holds it, restarts on the same database and checks that:

- every acknowledged event is there (read back through the API), and nothing never sent is;
- every acknowledged flag change is in the audit log, and each flag's state is its last
  acknowledged change, or the one in flight when the process died, but only together with
  that change's audit entry (a change and its audit entry commit together or not at all);
- SQLite: `PRAGMA integrity_check` and `foreign_key_check`; PostgreSQL: amcheck on every B-tree
  index and table.

Used by tests/e2e/test_crash_safety.py (a few short rounds per backend) and by bench/soak.py
(many). Nothing here is timed: waits are bounded by generous deadlines only.
"""

from __future__ import annotations

import gzip
import random
import signal
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, LiveServer, start_server
from trimtab.store.db import Store, normalize_database_url
from trimtab.store.models import AuditEntry

SLUG = "crash"
ENV = "production"
FLAGS = ("crash-a", "crash-b")
INGEST_THREADS = 3
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MAX_CHANGES_PER_FLAG_ROUND = 300  # keeps a round's changes within one audit page (1,000)


@dataclass(frozen=True)
class FlagState:
    enabled: bool
    rollout: float | None


@dataclass
class Pending:
    reason: str
    state: FlagState


@dataclass
class Ledger:
    """What was sent and what the server acknowledged, over every round on one database."""

    project_id: int
    public_key: str
    states: dict[str, FlagState]
    sent_events: set[str] = field(default_factory=set)
    acked_events: set[str] = field(default_factory=set)
    acked_changes: dict[str, str] = field(default_factory=dict)  # reason -> flag
    pending: dict[str, Pending] = field(default_factory=dict)  # flag -> change without answer
    round_changes: set[str] = field(default_factory=set)  # acked in the current round
    errors: Counter[str] = field(default_factory=Counter)  # unexpected, before the kill
    after_kill: Counter[str] = field(default_factory=Counter)  # expected: the server died
    changes_sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, kind: str, killing: threading.Event) -> None:
        with self.lock:
            (self.after_kill if killing.is_set() else self.errors)[kind] += 1


@dataclass
class RoundResult:
    seconds_of_load: float
    events_acked: int
    changes_acked: int
    problems: list[str]


def setup(url: str) -> Ledger:
    """The `crash` project, its DSN key and two flags, through the API."""
    with httpx.Client(base_url=f"{url}/api/v1", headers=ADMIN, timeout=HTTP_TIMEOUT) as api:
        project = _ok(api.post("/projects", json={"slug": SLUG, "environments": [ENV]}))
        dsn = str(project["dsn"])
        public_key = dsn.split("//", 1)[1].split("@", 1)[0]
        states = {}
        for key in FLAGS:
            body = {"key": key, "environments": {ENV: {"enabled": True}}}
            _ok(api.post(f"/projects/{SLUG}/flags", json=body))
            states[key] = _flag_state(api, key)
    return Ledger(int(project["id"]), public_key, states)


def crash_round(
    server: LiveServer, ledger: Ledger, rng: random.Random, *, load_seconds: tuple[float, float]
) -> float:
    """Load `server` until a random moment, then SIGKILL it; the seconds of load it ran."""
    stop, killing = threading.Event(), threading.Event()
    ledger.round_changes = set()
    acked_before = len(ledger.acked_events)
    threads = [
        threading.Thread(
            target=_ingest, args=(server.url, ledger, f"t{i}", stop, killing), daemon=True
        )
        for i in range(INGEST_THREADS)
    ]
    threads += [
        threading.Thread(
            target=_change_flag, args=(server.url, ledger, key, stop, killing), daemon=True
        )
        for key in FLAGS
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    # Kill only once the load is under way (something acknowledged), at a random moment after.
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and server.process.poll() is None:
        with ledger.lock:
            if len(ledger.acked_events) > acked_before and ledger.round_changes:
                break
        time.sleep(0.05)
    time.sleep(rng.uniform(*load_seconds))
    killing.set()
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=WAIT)
    seconds = time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join(timeout=WAIT)
    return seconds


def check(server: LiveServer, database_url: str, ledger: Ledger) -> list[str]:
    """Everything acknowledged is there; what was in flight is all there or not at all."""
    problems: list[str] = []
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=ADMIN, timeout=HTTP_TIMEOUT) as api:
        stored = _stored_event_ids(api)
        missing = ledger.acked_events - stored
        if missing:
            problems.append(
                f"{len(missing)} of {len(ledger.acked_events)} acknowledged events are "
                f"missing, e.g. {sorted(missing)[:3]}"
            )
        never_sent = stored - ledger.sent_events
        if never_sent:
            problems.append(f"{len(never_sent)} stored events were never sent")
        audited = _audited_reasons(api)
        lost = ledger.round_changes - audited
        if lost:
            problems.append(f"{len(lost)} acknowledged flag changes are not in the audit log")
        for key in FLAGS:
            problems += _check_flag(api, key, ledger, audited)
    # Older rounds' changes may be beyond the API's audit page: read them from the store.
    store = Store(database_url)
    try:
        with store.read() as session:
            reasons = set(
                session.scalars(select(AuditEntry.reason).where(AuditEntry.reason.like("crash %")))
            )
    finally:
        store.dispose()
    lost = set(ledger.acked_changes) - reasons
    if lost:
        problems.append(f"{len(lost)} acknowledged flag changes (all rounds) are not audited")
    return problems


def integrity_problems(database_url: str) -> list[str]:
    """The store's own consistency checks, run while no trimtab process has it open."""
    url = make_url(normalize_database_url(database_url))
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(str(url.database), timeout=WAIT) as connection:
            result = [row[0] for row in connection.execute("PRAGMA integrity_check")]
            foreign = connection.execute("PRAGMA foreign_key_check").fetchall()
        problems = [] if result == ["ok"] else [f"integrity_check: {result[:5]}"]
        return problems + ([f"foreign_key_check: {foreign[:5]}"] if foreign else [])
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
            indexes = connection.execute(
                text(
                    "SELECT c.oid::regclass::text FROM pg_index i "
                    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE a.amname = 'btree' AND n.nspname = 'public'"
                )
            ).scalars()
            for index in list(indexes):
                connection.execute(
                    text("SELECT bt_index_check(CAST(:i AS regclass), true)"), {"i": index}
                )
            tables = connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            corrupt = []
            for table in list(tables):
                rows = connection.execute(
                    text("SELECT * FROM verify_heapam(CAST(:t AS regclass))"), {"t": table}
                ).all()
                corrupt += [f"{table}: {row}" for row in rows]
    except Exception as exc:  # amcheck raises on a corrupt index
        return [f"amcheck: {exc}"]
    finally:
        engine.dispose()
    return [f"verify_heapam: {corrupt[:5]}"] if corrupt else []


def run_rounds(
    database_url: str,
    data_dir: Path,
    *,
    rounds: int,
    seed: int,
    load_seconds: tuple[float, float] = (0.5, 3.0),
    report: Callable[[int, RoundResult], None] | None = None,
) -> tuple[Ledger, list[RoundResult]]:
    """`rounds` crash rounds on one database; the server is left stopped."""
    rng = random.Random(seed)
    server = start_server(database_url, data_dir)
    results = []
    try:
        ledger = setup(server.url)
        for number in range(1, rounds + 1):
            events_before, changes_before = len(ledger.acked_events), len(ledger.acked_changes)
            seconds = crash_round(server, ledger, rng, load_seconds=load_seconds)
            problems = integrity_problems(database_url)
            server = start_server(database_url, data_dir)
            problems += check(server, database_url, ledger)
            result = RoundResult(
                seconds,
                len(ledger.acked_events) - events_before,
                len(ledger.acked_changes) - changes_before,
                problems,
            )
            results.append(result)
            if report is not None:
                report(number, result)
    finally:
        server.stop()
    return ledger, results


# -- the load ------------------------------------------------------------------------------------


def envelope(event_id: str, public_key: str, project_id: int, thread: str, n: int) -> bytes:
    """One error event framed as sentry-sdk frames it (envelope header, item header, item)."""
    now = datetime.now(UTC).isoformat()
    event = {
        "event_id": event_id,
        "timestamp": now,
        "platform": "python",
        "level": "error",
        "release": "crash@1.0.0",
        "environment": ENV,
        "fingerprint": [f"crash-{thread}"],
        "exception": {
            "values": [
                {
                    "type": "CrashRoundError",
                    "value": f"report {n} of {thread}",
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "handle",
                                "module": "shop.views",
                                "lineno": 40 + n % 7,
                                "in_app": True,
                                "vars": {"n": n},
                            },
                        ]
                    },
                }
            ]
        },
        "tags": {"thread": thread},
    }
    item = orjson.dumps(event)
    header = {
        "event_id": event_id,
        "sent_at": now,
        "dsn": f"http://{public_key}@127.0.0.1/{project_id}",
        "sdk": {"name": "sentry.python", "version": "2.0.0"},
    }
    return b"\n".join(
        [
            orjson.dumps(header),
            orjson.dumps({"type": "event", "length": len(item)}),
            item,
            b"",
        ]
    )


def _ingest(
    url: str, ledger: Ledger, thread: str, stop: threading.Event, killing: threading.Event
) -> None:
    path = f"/api/{ledger.project_id}/envelope/"
    headers = {
        "Content-Type": "application/x-sentry-envelope",
        "Content-Encoding": "gzip",
        "X-Sentry-Auth": f"Sentry sentry_key={ledger.public_key}, sentry_version=7, "
        "sentry_client=sentry.python/2.0.0",
    }
    with httpx.Client(base_url=url, headers=headers, timeout=HTTP_TIMEOUT) as http:
        n = 0
        while not stop.is_set() and not killing.is_set():
            n += 1
            event_id = uuid.uuid4().hex
            body = gzip.compress(
                envelope(event_id, ledger.public_key, ledger.project_id, thread, n), 1
            )
            with ledger.lock:
                ledger.sent_events.add(event_id)
            try:
                response = http.post(path, content=body)
            except httpx.HTTPError as exc:
                ledger.error(f"ingest {type(exc).__name__}", killing)
                time.sleep(0.1)
                continue
            if response.status_code == 200 and response.json().get("id") == event_id:
                with ledger.lock:
                    ledger.acked_events.add(event_id)
            else:
                ledger.error(f"ingest {response.status_code}", killing)


def _change_flag(
    url: str, ledger: Ledger, key: str, stop: threading.Event, killing: threading.Event
) -> None:
    """Flip and roll out one flag, each change different from the last, until stopped."""
    path = f"/projects/{SLUG}/flags/{key}/environments/{ENV}"
    with httpx.Client(base_url=f"{url}/api/v1", headers=ADMIN, timeout=HTTP_TIMEOUT) as api:
        for _ in range(MAX_CHANGES_PER_FLAG_ROUND):
            if stop.is_set() or killing.is_set():
                return
            with ledger.lock:
                ledger.changes_sent += 1
                seq = ledger.changes_sent
                state = ledger.states[key]
            reason = f"crash {key} #{seq}"
            if seq % 3:
                target = FlagState(not state.enabled, state.rollout)
                verb = "on" if target.enabled else "off"
                request: tuple[str, dict[str, Any]] = (f"{path}/{verb}", {"reason": reason})
            else:
                percentage = float(seq % 97 + 1)
                if percentage == state.rollout:
                    percentage = 100.0 if percentage != 100.0 else 0.0
                target = FlagState(state.enabled, percentage)
                request = (f"{path}/rollout", {"percentage": percentage, "reason": reason})
            with ledger.lock:
                ledger.pending[key] = Pending(reason, target)
            try:
                response = api.post(request[0], json=request[1])
            except httpx.HTTPError as exc:
                ledger.error(f"flag change {type(exc).__name__}", killing)
                return  # in flight when the server died: left pending for the check
            if response.status_code != 200:
                ledger.error(f"flag change {response.status_code}", killing)
                with ledger.lock:
                    del ledger.pending[key]
                continue
            with ledger.lock:
                del ledger.pending[key]
                ledger.states[key] = target
                ledger.acked_changes[reason] = key
                ledger.round_changes.add(reason)


# -- reading back --------------------------------------------------------------------------------


def _ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), f"{response.request.url}: {response.text}"
    return response.json()


def _flag_state(api: httpx.Client, key: str) -> FlagState:
    config = _ok(api.get(f"/projects/{SLUG}/flags/{key}"))["environments"][ENV]
    rollout = config["rollout"]
    return FlagState(bool(config["enabled"]), None if rollout is None else float(rollout))


def _all(api: httpx.Client, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every row of a paged list (offset/limit), read until a short page."""
    rows: list[dict[str, Any]] = []
    while True:
        page = _ok(api.get(path, params={**params, "limit": limit, "offset": len(rows)}))
        rows += page
        if len(page) < limit:
            return rows


def _stored_event_ids(api: httpx.Client) -> set[str]:
    return {
        event["event_id"]
        for issue in _all(api, "/issues", 100, project=SLUG)
        for event in _all(api, f"/issues/{issue['id']}/events", 200)
    }


def _audited_reasons(api: httpx.Client) -> set[str]:
    entries = _ok(api.get("/audit", params={"project": SLUG, "action": "flag.", "limit": 1000}))
    return {entry["reason"] for entry in entries if entry["reason"]}


def _check_flag(api: httpx.Client, key: str, ledger: Ledger, audited: set[str]) -> list[str]:
    state = _flag_state(api, key)
    pending = ledger.pending.pop(key, None)
    if state == ledger.states[key]:
        if pending is not None and pending.reason in audited:
            return [f"{key}: audited change {pending.reason!r} is not in the flag's state"]
        return []
    if pending is not None and state == pending.state:
        if pending.reason not in audited:
            return [f"{key}: change {pending.reason!r} took effect without its audit entry"]
        # Committed before the kill, never answered: it is the flag's last change now.
        ledger.states[key] = state
        ledger.acked_changes[pending.reason] = key
        return []
    return [
        f"{key}: state {state} is neither the last acknowledged {ledger.states[key]} nor "
        f"the change in flight {pending}"
    ]
