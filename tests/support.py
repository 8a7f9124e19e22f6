"""Helpers shared by tests: free ports, a live `trimtab serve` process, running the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import orjson

from trimtab.demo import workspace
from trimtab.domain.reports import ingest
from trimtab.store.db import Store

ADMIN_TOKEN = "tt_test_admin_token_0123456789abcdef"
ADMIN_PASSWORD = "correct horse battery staple"

# How long a test waits for anything it waits on (a server to be ready, a change to arrive, a
# request to be answered). Generous on purpose: on a shared 2-core machine at load 20 a server
# can take a minute to start. A test waits on a condition up to this long and never asserts a
# duration, so a slow machine makes the suite slower, never red.
WAIT = float(os.environ.get("TRIMTAB_TEST_WAIT", "180"))
# httpx's default of 5 s is a speed assumption; requests from tests get the generous deadline.
HTTP_TIMEOUT = httpx.Timeout(WAIT)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    database_url: str,
    data_dir: Path,
    extra_env: dict[str, str] | None = None,
    *,
    port: int | None = None,
    args: tuple[str, ...] = (),
) -> LiveServer:
    """Start `python -m trimtab serve` (on `port`, else a free one); wait for /readyz 200."""
    port = port or free_port()
    env = {
        **os.environ,
        "TRIMTAB_DATABASE_URL": database_url,
        "TRIMTAB_DATA_DIR": str(data_dir),
        "TRIMTAB_ADMIN_TOKEN": ADMIN_TOKEN,
        "TRIMTAB_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **(extra_env or {}),
    }
    log_path = data_dir / f"server-{port}-{time.monotonic_ns()}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trimtab",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
                *args,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, env, log_path)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"trimtab serve exited early:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"trimtab serve not ready in {WAIT:.0f} s:\n{server.log()}")


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def assert_demo_workspace(store: Store) -> None:
    """The store holds the demo workspace, as it does for a test marked `demo_workspace`
    (tests/conftest.py copies its database from a seeded template)."""
    with store.read() as session:
        seeded = workspace.demo_dsn(session, "http://testserver") is not None
    assert seeded, "no demo workspace: mark the test (or its module) pytest.mark.demo_workspace"


def seed_demo(server: LiveServer) -> None:
    """`trimtab demo seed` on the live server's database (project `shop` and its history)."""
    seeded = subprocess.run(
        [sys.executable, "-m", "trimtab", "demo", "seed"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert seeded.returncode == 0, seeded.stderr


def run_cli(*args: str, url: str, token: str | None, timeout: float = WAIT) -> CliResult:
    """Run the real `trimtab` CLI as a process, as a CI pipeline would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIMTAB_")}
    env["TRIMTAB_URL"] = url
    if token:
        env["TRIMTAB_TOKEN"] = token
    env["COLUMNS"] = "200"
    proc = subprocess.run(
        [sys.executable, "-m", "trimtab", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


class ThreadedServer:
    """The app served by uvicorn in a thread of the test process: real HTTP (for streaming
    and for third-party clients), while the test can still reach the app's Store directly."""

    def __init__(self, app: object, port: int | None = None) -> None:
        import threading

        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + WAIT
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("threaded uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def read_events(
    url: str,
    headers: dict[str, str],
    found: list[dict[str, object]],
    ready: threading.Event,
    until: Callable[[dict[str, object]], bool] = lambda event: True,
) -> None:
    """Read a server-sent-event stream (in a thread): set `ready` once connected, append each
    event's data to `found`, and return after the first event `until` accepts."""
    with httpx.stream("GET", url, headers=headers, timeout=HTTP_TIMEOUT) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith(": connected"):
                ready.set()
            if line.startswith("data: "):
                found.append(orjson.loads(line[6:]))
                if until(found[-1]):
                    return


def flag_errors(
    store: Store, project_id: int, key: str, at: datetime, n: int, result: bool = True
) -> None:
    """`n` error events received at `at` in production that evaluated flag `key` to `result`,
    stored by ingest itself (events, issues, rollups), as a guard on the flag counts them."""
    sent = []
    for _ in range(n):
        event = {
            "event_id": uuid.uuid4().hex,
            "timestamp": at.timestamp(),
            "environment": "production",
            "exception": {"values": [{"type": "ValueError", "value": "card declined"}]},
            "contexts": {"flags": {"values": [{"flag": key, "result": result}]}},
        }
        sent.append(ingest.prepare_event(project_id, event, orjson.dumps(event), at))
    with store.write() as session:
        ingest.store_events(session, sent)
