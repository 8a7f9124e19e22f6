"""The ingest quota across server processes on one database (tests/e2e/test_two_nodes.py and
tests/server/test_serve_workers.py): a DSN key with a per-minute limit, events sent to real
servers, and the shared count read from the database.

A scenario must run inside one minute of the clock (the quota's window): one that straddles
a minute's edge is run again with a fresh key, so no test depends on how fast it runs. Past a
minute's edge a process drops the old minute's unflushed counts (they decide nothing any more),
so a scenario's waits on the shared count give up at the edge too (`Run.shared`).
"""

from __future__ import annotations

import gzip
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select

from tests.e2e.crash import ADMIN, SLUG, _ok, envelope
from tests.sdk.live import wait_for
from tests.support import HTTP_TIMEOUT
from trimtab.store.db import Store
from trimtab.store.models import IngestQuotaWindow

ATTEMPTS = 5


@dataclass(frozen=True)
class Run:
    """One try of a scenario: its fresh key, the store, and the minute it started in."""

    public_key: str
    store: Store
    minute: int

    def over(self) -> bool:
        """Whether the clock has left the run's minute (the run will be tried again)."""
        return _minute() != self.minute

    def shared(self, events: int) -> bool:
        """Whether the processes' flushes bring the key's shared count to `events` (waits);
        also True once the minute is over, since the run is then discarded."""
        return wait_for(lambda: counted(self.store, self.public_key) == events or self.over())


Scenario = Callable[[Run], list[httpx.Response]]


def _minute() -> int:
    return int(time.time() // 60)


def limited_key(url: str, limit: int) -> str:
    """A new DSN key of the `crash` project (tests.e2e.crash.setup) with `limit` per minute."""
    body = {"name": f"limited-{uuid.uuid4().hex[:8]}", "rate_limit_per_minute": limit}
    response = httpx.post(
        f"{url}/api/v1/projects/{SLUG}/keys", json=body, headers=ADMIN, timeout=HTTP_TIMEOUT
    )
    return str(_ok(response)["public_key"])


def send_event(url: str, project_id: int, public_key: str) -> httpx.Response:
    """One error event on a connection of its own (with workers, either may take it)."""
    event_id = uuid.uuid4().hex
    headers = {
        "Content-Type": "application/x-sentry-envelope",
        "Content-Encoding": "gzip",
        "X-Sentry-Auth": f"Sentry sentry_key={public_key}, sentry_version=7",
    }
    body = gzip.compress(envelope(event_id, public_key, project_id, "quota", 0))
    return httpx.post(
        f"{url}/api/{project_id}/envelope/", content=body, headers=headers, timeout=HTTP_TIMEOUT
    )


def counted(store: Store, public_key: str) -> int:
    """The key's events in the shared rows (what every process has flushed)."""
    with store.read() as session:
        query = select(func.coalesce(func.sum(IngestQuotaWindow.count), 0)).where(
            IngestQuotaWindow.public_key == public_key
        )
        return int(session.scalar(query) or 0)


def in_one_minute(
    url: str, database_url: str, limit: int, scenario: Scenario
) -> list[httpx.Response]:
    """The answers of `scenario(run)`, run on a fresh key with `limit` until one run fits in a
    minute; each answer is checked to be an acceptance or today's 429."""
    store = Store(database_url)
    try:
        for _ in range(ATTEMPTS):
            run = Run(limited_key(url, limit), store, _minute())
            answers = scenario(run)
            if not run.over():
                assert_refusals_as_today(answers)
                return answers
    finally:
        store.dispose()
    raise AssertionError(f"no run of the scenario fitted in one minute in {ATTEMPTS} tries")


def assert_refusals_as_today(answers: list[httpx.Response]) -> None:
    """Every answer is 200 or 429, and a 429 says when to come back, as Sentry SDKs read it."""
    assert {r.status_code for r in answers} <= {200, 429}, [r.text for r in answers]
    for refused in (r for r in answers if r.status_code == 429):
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= 60
        assert refused.headers["x-sentry-rate-limits"] == f"{wait}:error;default;security:key"
        assert refused.json()["error"] == "rate_limited"
