"""`trimtab serve --workers 2`: two processes on one port and one database. Every event a
worker acknowledged is stored, a flag change made through either worker reaches SSE streams on
both, the background jobs run in one process only (a scheduled change applies once), a DSN
key's ingest quota holds for both workers together, and connections opened at once are spread
over both workers (whose threads carry their names to the OS)."""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.crash import ENV, SLUG, Ledger, _ok, _stored_event_ids, envelope, setup
from tests.e2e.quota import Run, in_one_minute, send_event
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, LiveServer, read_events, start_server

pytestmark = pytest.mark.live

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SENDERS = 6
EVENTS_PER_SENDER = 60
STREAMS = 4
FLIPS = 3
CONNECTIONS = 32


@pytest.fixture
def workers_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(database_url, tmp_path / "live", args=("--workers", "2"))
    yield server
    server.stop()


def _send(url: str, ledger: Ledger, sender: int, acked: set[str], refused: list[str]) -> None:
    """One SDK: its own connection (the kernel hands connections to either worker)."""
    headers = {
        "Content-Type": "application/x-sentry-envelope",
        "Content-Encoding": "gzip",
        "X-Sentry-Auth": f"Sentry sentry_key={ledger.public_key}, sentry_version=7",
    }
    with httpx.Client(base_url=url, headers=headers, timeout=HTTP_TIMEOUT) as http:
        for n in range(EVENTS_PER_SENDER):
            event_id = uuid.uuid4().hex
            body = envelope(event_id, ledger.public_key, ledger.project_id, f"s{sender}", n)
            response = http.post(f"/api/{ledger.project_id}/envelope/", content=gzip.compress(body))
            if response.status_code == 200 and response.json().get("id") == event_id:
                acked.add(event_id)
            else:
                refused.append(f"{response.status_code} {response.text[:200]}")


def test_workers__every_acknowledged_event_is_stored(workers_server: LiveServer) -> None:
    ledger = setup(workers_server.url)
    acked: set[str] = set()
    refused: list[str] = []
    senders = [
        threading.Thread(target=_send, args=(workers_server.url, ledger, n, acked, refused))
        for n in range(SENDERS)
    ]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    assert refused == []  # no "database is locked" (or anything else) reached a client
    assert len(acked) == SENDERS * EVENTS_PER_SENDER
    with httpx.Client(base_url=f"{workers_server.url}/api/v1", headers=ADMIN) as api:
        deadline = time.monotonic() + WAIT
        stored = _stored_event_ids(api)
        while stored != acked and time.monotonic() < deadline:
            time.sleep(0.5)
            stored = _stored_event_ids(api)
    assert stored == acked


def test_workers__flag_change_through_either_worker__reaches_every_stream(
    workers_server: LiveServer,
) -> None:
    setup(workers_server.url)
    url = f"{workers_server.url}/api/v1/stream?project={SLUG}&environment={ENV}"
    found: list[list[dict[str, object]]] = [[] for _ in range(STREAMS)]
    readers = []
    for n in range(STREAMS):  # each its own connection: some land on each worker
        ready = threading.Event()

        def enough(event: dict[str, object], mine: list[dict[str, object]] = found[n]) -> bool:
            return sum(1 for e in mine if e.get("kind") == "flags.changed") >= FLIPS

        reader = threading.Thread(
            target=read_events, args=(url, ADMIN, found[n], ready, enough), daemon=True
        )
        reader.start()
        assert ready.wait(WAIT)
        readers.append(reader)
    time.sleep(0.2)  # the subscription is registered before ": connected" is sent
    for flip in range(FLIPS):  # each through a new connection, so through either worker
        verb = "off" if flip % 2 == 0 else "on"
        response = httpx.post(
            f"{workers_server.url}/api/v1/projects/{SLUG}/flags/crash-a/environments/{ENV}/{verb}",
            json={"reason": f"flip {flip}"},
            headers=ADMIN,
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 200, response.text
    for reader in readers:
        reader.join(WAIT)
    changes = [[e for e in events if e.get("kind") == "flags.changed"] for events in found]
    assert [len(c) for c in changes] == [FLIPS] * STREAMS, found


def test_workers__background_jobs_run_in_one_process__scheduled_change_applied_once(
    workers_server: LiveServer,
) -> None:
    setup(workers_server.url)
    duties = [line for line in workers_server.log().splitlines() if "trimtab worker" in line]
    assert sorted(line.split(": ", 1)[1] for line in duties) == [
        "runs the background jobs",
        "serves requests only",
    ], workers_server.log()
    flags = f"{workers_server.url}/api/v1/projects/{SLUG}/flags"
    due = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    with httpx.Client(headers=ADMIN, timeout=HTTP_TIMEOUT) as api:
        _ok(
            api.post(
                f"{flags}/crash-b/schedules",
                json={"environment": ENV, "kind": "ramp", "steps": [{"at": due, "percentage": 7}]},
            )
        )
        deadline = time.monotonic() + WAIT * 2  # the schedules job runs every 10 s
        schedule = _ok(api.get(f"{flags}/crash-b/schedules"))[0]
        while schedule["status"] != "done" and time.monotonic() < deadline:
            time.sleep(0.5)
            schedule = _ok(api.get(f"{flags}/crash-b/schedules"))[0]
        assert schedule["status"] == "done", schedule
        audit = _ok(
            api.get(
                f"{workers_server.url}/api/v1/audit",
                params={"project": SLUG, "action": "flag.rollout"},
            )
        )
        flag = _ok(api.get(f"{flags}/crash-b"))
    assert [entry["actor"] for entry in audit] == ["system:scheduler"]
    assert flag["environments"][ENV]["rollout"] == 7


QUOTA = 10
QUOTA_EVENTS = 30


def test_workers__ingest_quota_shared__the_key_s_limit_holds_for_both(
    workers_server: LiveServer, database_url: str
) -> None:
    project_id = setup(workers_server.url).project_id

    def one_at_a_time(run: Run) -> list[httpx.Response]:
        # Each event on its own connection, so either worker may take it; with a limit of 10
        # a worker flushes every event it takes (a tenth of the limit), and the next is sent
        # once the count is shared.
        answers: list[httpx.Response] = []
        for _ in range(QUOTA_EVENTS):
            answers.append(send_event(workers_server.url, project_id, run.public_key))
            assert run.shared(sum(1 for r in answers if r.status_code == 200))
        return answers

    answers = in_one_minute(workers_server.url, database_url, QUOTA, one_at_a_time)
    taken = sum(1 for r in answers if r.status_code == 200)
    # Counted per process, the two would take up to 20. Shared, a worker that has not flushed
    # since the other's last events takes one more on its stale total, flushes it and learns
    # the rest; one more may slip in between its commit and its reading of the total.
    assert QUOTA <= taken <= QUOTA + 2, [r.status_code for r in answers]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; balanced on Linux")
def test_workers__connections_opened_at_once__spread_over_both(
    _sqlite_template: Path, tmp_path: Path
) -> None:
    """Clients that keep their connections (SDKs, a proxy's upstream pool) must not all land
    on one worker: with one shared socket, the worker that woke first accepted every waiting
    connection. Each worker has its own SO_REUSEPORT socket; the kernel hashes connections
    over them, so 32 connections all on one worker is a 1-in-2^31 chance."""
    database = tmp_path / "trimtab.db"
    shutil.copyfile(_sqlite_template, database)
    server = start_server(f"sqlite:///{database}", tmp_path / "live", args=("--workers", "2"))
    clients: list[socket.socket] = []
    try:
        port = int(server.url.rsplit(":", 1)[1])
        # All connected before any request: they wait in the kernel's accept queues together.
        clients = [
            socket.create_connection(("127.0.0.1", port), timeout=WAIT) for _ in range(CONNECTIONS)
        ]
        for client in clients:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: trimtab\r\n\r\n")
        for client in clients:
            assert client.recv(64).startswith(b"HTTP/1.1 200")  # accepted and answered
        held = _connections_held(server.process.pid, port)
        assert sum(held.values()) == CONNECTIONS
        assert len(held) == 2 and min(held.values()) >= 4, held
        # Each worker's own threads carry their names to the OS (`top -H`; trimtab.threads).
        for pid in held:
            names = _thread_names_once(pid, {"ingest-writer", "ingest-quota"})
            assert {"ingest-writer", "ingest-quota"} <= names, names
        # SO_REUSEPORT must not let a second server (same user) share the port unnoticed.
        second = subprocess.run(
            [sys.executable, "-m", "trimtab", "serve", "--port", str(port), "--workers", "2"],
            env={**server.env, "TRIMTAB_DATA_DIR": str(tmp_path / "second")},
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert second.returncode != 0
        assert "address already in use" in second.stderr.lower(), second.stderr[-2000:]
    finally:
        for client in clients:
            client.close()
        server.stop()


def _connections_held(parent: int, port: int) -> dict[int, int]:
    """Worker pid -> established connections on `port` it holds (from /proc)."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                    established.add(fields[9])  # the socket's inode
    held: dict[int, int] = {}
    for pid in _children(parent):
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
        if count := len(inodes & established):
            held[pid] = count
    return held


def _thread_names_once(pid: int, wanted: set[str]) -> set[str]:
    """The OS names of the process's threads, once they include `wanted` (a thread names
    itself as it starts) or WAIT has passed."""
    deadline = time.monotonic() + WAIT
    while True:
        names = set()
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                names.add(Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip())
            except OSError:
                continue  # ended meanwhile
        if wanted <= names or time.monotonic() > deadline:
            return names
        time.sleep(0.1)


def _children(parent: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == parent:
                children.append(int(entry))
    return children
