"""Ingest benchmark: realistic Sentry events from the real sentry-sdk, posted to a real server.

    .venv/bin/python bench/ingest.py [--events N] [--concurrency C] [--rate R]
                                     [--against-bugsink [--bugsink-events M]] [--write-docs]

1. Events: the real `sentry-sdk` captures crashes of `bench/sample_app.py` (about twenty in-app
   frames with locals and context lines), with 20 breadcrumbs, device/os/runtime/browser
   contexts, user, tags and extra, through a transport that keeps the envelopes (~40 KB each).
   Each posted envelope gets its own event id and is gzipped, as SDKs send them; bodies are
   prepared before the clock starts.
2. Server: `trimtab serve` on a fresh SQLite data directory, project and DSN made through the API.
3. Load: a SEPARATE process posts over loopback with a fixed number of connections (burst), then
   at a fixed rate (default 300 events/s); every loop is bounded in count and time.
4. Report: events/s acknowledged, events/s stored and grouped (the issues API shows them all),
   ack latency p50/p99 for both phases, bytes stored per event (database growth / events, and
   the compressed payload), and the server's RSS.

With `--against-bugsink`, the PyPI package `bugsink` is installed in its own venv under
bench/out/ (gitignored), configured for SQLite with its default background worker (snappea),
given a project non-interactively, and loaded the same way in the same run; the ratios are
printed. Bugsink acknowledges before it digests, so its "stored" rate is taken when its database
holds every event.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import re
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
ADMIN_TOKEN = "tt_bench_admin_token_0123456789abcdef"
TEMPLATES = 40  # distinct sentry-sdk events the posted ones are copied from
MAX_SECONDS = 600  # no phase runs longer than this, whatever the options say


# -- 1. events made by the real sentry-sdk -------------------------------------------------


def make_envelopes(count: int = TEMPLATES) -> list[bytes]:
    """Serialized envelopes captured from the real sentry-sdk (one event each)."""
    import sentry_sdk
    from sentry_sdk.envelope import Envelope
    from sentry_sdk.transport import Transport

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import sample_app

    class KeepTransport(Transport):
        def capture_envelope(self, envelope: Envelope) -> None:
            if any(item.type == "event" for item in envelope.items):
                _CAPTURED.append(envelope.serialize())

    client = sentry_sdk.Client(
        dsn="http://0123456789abcdef0123456789abcdef@127.0.0.1:9/1",
        transport=KeepTransport,
        release="shop@2.3.0",
        environment="production",
        max_breadcrumbs=20,
        include_local_variables=True,
        send_default_pii=True,
    )
    for i in range(count):
        with sentry_sdk.new_scope() as scope:
            scope.set_client(client)
            for n in range(20):
                scope.add_breadcrumb(
                    category=["navigation", "ui.click", "http", "query"][n % 4],
                    message=f"step {n}: /movies/{1000 + n}/seats?show=20:15&hall=3",
                    data={"from": f"/movies/{n}", "to": f"/checkout/{n}", "status_code": 200},
                    level="info",
                )
            scope.set_user(
                {
                    "id": f"user-{i % 17}",
                    "email": f"user{i % 17}@example.com",
                    "ip_address": "10.1.2.3",
                }
            )
            scope.set_context(
                "device",
                {"model": "Pixel 8", "family": "Pixel", "arch": "arm64", "memory_size": 8 << 30},
            )
            scope.set_context("os", {"name": "Android", "version": "14", "build": "UQ1A.240205"})
            scope.set_context("browser", {"name": "Chrome", "version": "126.0.6478.71"})
            scope.set_context("runtime", {"name": "CPython", "version": platform.python_version()})
            scope.set_tag("screen", "checkout")
            scope.set_tag("cinema", f"berlin-{i % 3}")
            scope.set_tag("dependency", "payments-api")
            scope.set_extra("basket_id", f"b-{i}")
            scope.set_extra("seat_map", {f"row{r}": list(range(r, r + 20)) for r in range(14)})
            scope.set_extra(
                "recent_orders",
                [{"id": f"o-{i}-{n}", "total": 20 + n, "seats": ["A4", "A5"]} for n in range(40)],
            )
            for k in range(12):  # service-specific logging, as the issue calls it
                scope.set_extra(
                    f"service_log_{k}",
                    [
                        f"{k}.{n} GET /api/seats?show={n}&hall={k} -> 200 in {n * 3} ms"
                        for n in range(10)
                    ],
                )
            try:
                sample_app.checkout(i, f"user-{i % 17}")
            except Exception:
                scope.capture_exception()
    client.flush(timeout=5)
    client.close()
    captured = list(_CAPTURED)
    _CAPTURED.clear()
    return captured


# Module-level, not a local: the SDK sends the locals of every frame on the stack, and the
# envelopes captured so far must not end up inside the next one.
_CAPTURED: list[bytes] = []


def _event_id_of(envelope: bytes) -> str:
    header = json.loads(envelope.split(b"\n", 1)[0])
    event_id: str = header["event_id"]
    return event_id


def prepare_bodies(path: Path, templates: list[bytes], count: int) -> None:
    """Write `count` gzipped envelopes with fresh event ids to `path` (length-prefixed)."""
    ids = [_event_id_of(t).encode() for t in templates]
    with path.open("wb") as out:
        for i in range(count):
            template = templates[i % len(templates)]
            fresh = uuid.uuid4().hex.encode()
            body = gzip.compress(template.replace(ids[i % len(templates)], fresh), 6)
            out.write(struct.pack("<I", len(body)))
            out.write(body)


# -- 3. the load (runs in its own process) ---------------------------------------------------


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, headers: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{headers}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length, chunked, close = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and "close" in value.lower():
                close = True
        if chunked:
            while True:
                size = int((await self.reader.readline()).strip() or b"0", 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await self.reader.readexactly(length)
        if close:
            self.writer.close()
            self.writer = None
        return status


def read_bodies(path: Path) -> list[bytes]:
    data = path.read_bytes()
    bodies, pos = [], 0
    while pos < len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        bodies.append(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return bodies


async def run_load(
    url: str, key: str, bodies: list[bytes], concurrency: int, rate: float | None
) -> dict[str, Any]:
    parts = urlsplit(url)
    project_path = parts.path.rstrip("/")
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = f"{project_path}/envelope/"
    headers = (
        "Content-Type: application/x-sentry-envelope\r\nContent-Encoding: gzip\r\n"
        f"X-Sentry-Auth: Sentry sentry_key={key}, sentry_version=7, "
        "sentry_client=sentry.python/2.0\r\nUser-Agent: sentry.python/2.0\r\n"
    )
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + MAX_SECONDS
    started = time.monotonic()
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(concurrency):
        pool.put_nowait(Connection(host, port))

    async def one(body: bytes, scheduled: float) -> None:
        connection = await pool.get()
        try:
            status = await connection.post(path, headers, body)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            status = 599
            connection = Connection(host, port)
        finally:
            pool.put_nowait(connection)
        # Measured from when the request was due, so a queue in front of the server counts.
        latencies.append(time.monotonic() - scheduled)
        statuses[status] = statuses.get(status, 0) + 1

    if rate is None:

        async def worker(queue: list[bytes]) -> None:
            while queue and time.monotonic() < deadline:
                await one(queue.pop(), time.monotonic())

        queue = list(reversed(bodies))
        await asyncio.gather(*(worker(queue) for _ in range(concurrency)))
    else:
        tasks = []
        for i, body in enumerate(bodies):
            due = started + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() > deadline:
                break
            tasks.append(asyncio.create_task(one(body, due)))
        await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    latencies.sort()
    ok = statuses.get(200, 0)
    return {
        "sent": len(latencies),
        "ok": ok,
        "statuses": statuses,
        "seconds": elapsed,
        "acked_per_s": ok / elapsed if elapsed else 0.0,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        if latencies
        else None,
        "started_at": time.time() - elapsed,
    }


def load_in_subprocess(
    url: str,
    key: str,
    bodies_path: Path,
    concurrency: int,
    rate: float | None,
    skip: int,
    take: int,
) -> dict[str, Any]:
    """Run the load in a separate Python process (not sharing this one's GIL or loop)."""
    command = [
        sys.executable,
        __file__,
        "_load",
        url,
        key,
        str(bodies_path),
        str(concurrency),
        str(rate or 0),
        str(skip),
        str(take),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=MAX_SECONDS + 60)
    if done.returncode != 0:
        raise RuntimeError(f"load process failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _load_main(argv: list[str]) -> None:
    url, key, path, concurrency, rate, skip, take = argv
    bodies = read_bodies(Path(path))[int(skip) : int(skip) + int(take)]
    result = asyncio.run(run_load(url, key, bodies, int(concurrency), float(rate) or None))
    print(json.dumps(result))


# -- 2. servers --------------------------------------------------------------------------------


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        if match:
            total += int(match.group(1)) * 1024
    return total


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes (what they cost, whatever else runs)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


MAIN_THREADS = "main threads (event loops)"


def thread_cpu_seconds(pids: list[int]) -> dict[str, float]:
    """CPU time of the processes' threads by name: every main thread (a worker's event loop,
    the `--workers` parent) under MAIN_THREADS, the others by the name the OS knows them by
    (trimtab names its own: ingest-writer, ingest-decode_N, relay-poll... `trimtab.threads`)."""
    totals: dict[str, float] = {}
    for pid in pids:
        try:
            tids = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in tids:
            try:
                task = Path(f"/proc/{pid}/task/{tid}")
                name = task.joinpath("comm").read_text().strip()
                fields = task.joinpath("stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            key = MAIN_THREADS if tid == pid else name
            ticks = int(fields[11]) + int(fields[12])
            totals[key] = totals.get(key, 0.0) + ticks / os.sysconf("SC_CLK_TCK")
    return totals


def process_tree(pid: int) -> list[int]:
    pids, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            children = []
        for child in map(int, children):
            pids.append(child)
            frontier.append(child)
    return pids


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {seconds} s")


@dataclass
class Target:
    name: str
    process: subprocess.Popen[bytes]
    url: str  # DSN base: http://host:port/<project id>
    key: str
    db_path: Path
    count_stored: Any  # () -> int
    payload_bytes: Any  # () -> tuple[float, float] | None
    extra: dict[str, Any] = field(default_factory=dict)
    size: Any = None  # () -> int, the store's size in bytes; default: the SQLite file's
    cleanup: Any = None  # () -> None, run after the server stopped

    def store_size(self) -> int:
        return int(self.size()) if self.size else db_size(self.db_path)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.cleanup:
            self.cleanup()


def db_size(path: Path) -> int:
    try:
        with sqlite3.connect(path, timeout=30) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error:
        pass
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def start_trimtab(workdir: Path, workers: int = 1, postgres: str | None = None) -> Target:
    """`trimtab serve [--workers N]` on a fresh SQLite data directory, or on a fresh database
    made on the PostgreSQL server `postgres` (dropped again when the target stops)."""
    name = "trimtab" if workers == 1 else f"trimtab --workers {workers}"
    data_dir = workdir / f"trimtab-{workers}-{'pg' if postgres else 'sqlite'}"
    port = free_port()
    env = {
        **os.environ,
        "TRIMTAB_DATA_DIR": str(data_dir),
        "TRIMTAB_ADMIN_TOKEN": ADMIN_TOKEN,
        "TRIMTAB_ADMIN_PASSWORD": "bench-password-not-secret",
    }
    env.pop("TRIMTAB_DATABASE_URL", None)
    database = Database(data_dir / "trimtab.db", postgres)
    if database.url:
        env["TRIMTAB_DATABASE_URL"] = database.url
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (workdir / f"{data_dir.name}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "trimtab", "serve", "--port", str(port), "--log-level", "warning"]
        + (["--workers", str(workers)] if workers > 1 else []),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/readyz", process)
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    project = api.post("/api/v1/projects", json={"slug": "bench"}).raise_for_status().json()
    dsn = urlsplit(project["dsn"])
    key = dsn.username or ""

    def count_stored() -> int:
        issues = api.get("/api/v1/issues", params={"project": "bench", "limit": 500}).json()
        return sum(issue["event_count"] for issue in issues)

    target = Target(
        name,
        process,
        f"{base}/api/{project['id']}",
        key,
        database.path,
        count_stored,
        database.payload_bytes,
        {"issues": lambda: len(api.get("/api/v1/issues", params={"project": "bench"}).json())},
    )
    target.size = database.size
    target.cleanup = database.drop
    return target


class Database:
    """trimtab's store for one run: a SQLite file, or a fresh PostgreSQL database."""

    def __init__(self, path: Path, postgres: str | None) -> None:
        self.path = path
        self.server = postgres
        self.url: str | None = None
        if postgres:
            import psycopg

            self.name = f"trimtab_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(postgres, autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{self.name}"')
            base = postgres.rsplit("/", 1)[0]
            self.url = f"{base}/{self.name}"

    def _pg(self, sql: str) -> Any:
        import psycopg

        assert self.url is not None
        with psycopg.connect(self.url, autocommit=True) as connection:
            return connection.execute(sql).fetchone()

    def size(self) -> int:
        if self.url:
            return int(self._pg("SELECT pg_database_size(current_database())")[0])
        return db_size(self.path)

    def payload_bytes(self) -> tuple[float, float]:
        sql = "SELECT avg(length(payload)), avg(payload_size) FROM events"
        if self.url:
            row = self._pg(sql)
        else:
            with sqlite3.connect(self.path) as connection:
                row = connection.execute(sql).fetchone()
        return float(row[0] or 0), float(row[1] or 0)

    def drop(self) -> None:
        if self.server and self.url:
            import psycopg

            with psycopg.connect(self.server, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# -- bugsink -------------------------------------------------------------------------------


BUGSINK_VENV = OUT / "bugsink-venv"


def bugsink_bin(name: str) -> str:
    return str(BUGSINK_VENV / "bin" / name)


def install_bugsink() -> str:
    if not (BUGSINK_VENV / "bin" / "bugsink-manage").exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(BUGSINK_VENV)], check=True)
        subprocess.run([bugsink_bin("pip"), "install", "-q", "bugsink"], check=True)
    version = subprocess.run(
        [bugsink_bin("bugsink-show-version")], capture_output=True, text=True, check=True
    )
    return version.stdout.strip()


def start_bugsink(workdir: Path) -> Target:
    """Bugsink as its single-server guide sets it up: the generated `singleserver` config (SQLite,
    the snappea background worker), migrations, a superuser, gunicorn with as many workers as
    its Docker config picks (min(cores, 4)) and `bugsink-runsnappea`. Only what HTTPS-less
    loopback needs is changed: the base URL and the secure-cookie/proxy settings."""
    home = workdir / "bugsink"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in list(env):
        if name.startswith(("TRIMTAB_", "DJANGO_")):
            env.pop(name)
    conf = home / "bugsink_conf.py"
    subprocess.run(
        [
            bugsink_bin("bugsink-create-conf"),
            "--template=singleserver",
            "--host=127.0.0.1",
            f"--port={port}",
            f"--base-dir={home / 'data'}",
            f"--output-file={conf}",
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    text = conf.read_text()
    # Bugsink's default quotas (1,000 events per 5 minutes per project) would turn a load
    # test into a quota test: lifted, as for a busy install.
    text += "\n" + "".join(
        f"BUGSINK['{name}'] = 10**9\n"
        for name in (
            "MAX_EVENTS_PER_PROJECT_PER_5_MINUTES",
            "MAX_EVENTS_PER_PROJECT_PER_HOUR",
            "MAX_EVENTS_PER_PROJECT_PER_MONTH",
            "MAX_EVENTS_PER_5_MINUTES",
            "MAX_EVENTS_PER_HOUR",
            "MAX_EVENTS_PER_MONTH",
        )
    )
    text += (
        "\nSECURE_PROXY_SSL_HEADER = None\nSESSION_COOKIE_SECURE = False\n"
        "CSRF_COOKIE_SECURE = False\n"
        f"BUGSINK['BASE_URL'] = 'http://127.0.0.1:{port}'\n"
        "ALLOWED_HOSTS = ['127.0.0.1', 'localhost']\nFORCE_SCRIPT_NAME = None\n"
    )
    conf.write_text(text)
    env["DJANGO_SETTINGS_MODULE"] = "bugsink_conf"
    env["PYTHONPATH"] = str(home)
    (home / "data").mkdir(exist_ok=True)
    manage = [bugsink_bin("bugsink-manage")]
    for args in (["migrate", "-v0"], ["migrate", "snappea", "--database=snappea", "-v0"]):
        subprocess.run(manage + args, check=True, env=env, cwd=home, capture_output=True)
    script = (
        "from django.contrib.auth import get_user_model\n"
        "from teams.models import Team\n"
        "from projects.models import Project\n"
        "User = get_user_model()\n"
        "User.objects.create_superuser(username='admin@example.org', email='admin@example.org',"
        " password='admin')\n"
        "team = Team.objects.create(name='bench')\n"
        "project = Project.objects.create(name='bench', team=team)\n"
        "print(project.id, project.sentry_key.hex)\n"
    )
    made = subprocess.run(
        [*manage, "shell", "-c", script],
        check=True,
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
    )
    project_id, key = made.stdout.split()[-2:]
    log = (workdir / "bugsink.log").open("wb")
    server = subprocess.Popen(
        [
            bugsink_bin("gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(min(os.cpu_count() or 1, 4)),
            "--access-logfile",
            "-",
            "bugsink.wsgi",
        ],
        env=env,
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = subprocess.Popen(
        [bugsink_bin("bugsink-runsnappea")],
        env=env,
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/", server)
    db_path = home / "data" / "db.sqlite3"

    def count_stored() -> int:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as connection:
            return int(connection.execute("SELECT count(*) FROM events_event").fetchone()[0])

    target = Target(
        "bugsink",
        server,
        f"{base}/api/{project_id}",
        key,
        db_path,
        count_stored,
        lambda: None,
    )
    target.extra["worker"] = worker
    return target


# -- 4. one run ----------------------------------------------------------------------------


def measure(
    target: Target,
    bodies_path: Path,
    events: int,
    concurrency: int,
    rate: float,
    rate_events: int,
    warmup: tuple[int, int] = (0, 0),
) -> dict[str, Any]:
    """`warmup`: (first body, count) sent and stored before anything is measured, the same for
    every server: a running server has made its first issues, filled its caches and opened its
    connections; the figures are of that server, not of its first second."""

    def pids() -> list[int]:
        worker = target.extra.get("worker")
        return process_tree(target.process.pid) + (process_tree(worker.pid) if worker else [])

    if warmup[1]:
        warm = load_in_subprocess(
            target.url, target.key, bodies_path, concurrency, None, warmup[0], warmup[1]
        )
        deadline = time.monotonic() + MAX_SECONDS
        while target.count_stored() < warm["ok"] and time.monotonic() < deadline:
            time.sleep(0.2)
    size_before = target.store_size()
    stored_before = target.count_stored()
    cpu_before = cpu_seconds(pids())
    threads_before = thread_cpu_seconds(pids())
    burst = load_in_subprocess(target.url, target.key, bodies_path, concurrency, None, 0, events)
    # Stored and grouped: until the API (trimtab) / database (bugsink) shows every event.
    deadline = time.monotonic() + MAX_SECONDS
    stored = target.count_stored() - stored_before
    while stored < burst["ok"] and time.monotonic() < deadline:
        time.sleep(0.5)
        stored = target.count_stored() - stored_before
    visible_after = time.time() - burst["started_at"]
    cpu_burst = cpu_seconds(pids()) - cpu_before
    threads_burst = {
        name: seconds - threads_before.get(name, 0.0)
        for name, seconds in thread_cpu_seconds(pids()).items()
    }
    rss_after_burst = rss_bytes(pids())
    steady = load_in_subprocess(
        target.url, target.key, bodies_path, max(concurrency, 64), rate, events, rate_events
    )
    stored_total = target.count_stored() - stored_before
    deadline = time.monotonic() + MAX_SECONDS
    while stored_total < burst["ok"] + steady["ok"] and time.monotonic() < deadline:
        time.sleep(0.5)
        stored_total = target.count_stored() - stored_before
    size_after = target.store_size()
    result = {
        "burst": burst,
        "stored": stored,
        "stored_per_s": stored / visible_after if visible_after else 0.0,
        "cpu_ms_per_event": 1000 * cpu_burst / stored if stored else None,
        # The threads that used a tenth of a millisecond per event or more, busiest first.
        "cpu_ms_per_event_by_thread": {
            name: round(1000 * seconds / stored, 3)
            for name, seconds in sorted(threads_burst.items(), key=lambda item: -item[1])
            if stored and 1000 * seconds / stored >= 0.1
        },
        "steady": steady,
        "bytes_per_event": (size_after - size_before) / stored_total if stored_total else None,
        "payload": target.payload_bytes(),
        "rss_mb_after_burst": rss_after_burst / 2**20,
        "rss_mb_end": rss_bytes(pids()) / 2**20,
        "events_stored": stored_total,
    }
    if "issues" in target.extra:
        result["issues"] = target.extra["issues"]()
    return result


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(
            (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line),
            cpu,
        )
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version()}


def report(name: str, r: dict[str, Any]) -> list[str]:
    b, s = r["burst"], r["steady"]
    payload = r["payload"]
    lines = [
        f"{name}: {b['ok']} of {b['sent']} events acknowledged in {b['seconds']:.1f} s "
        f"(statuses {b['statuses']})",
        f"  acknowledged:        {b['acked_per_s']:8.0f} events/s",
        f"  stored and grouped:  {r['stored_per_s']:8.0f} events/s ({r['stored']} visible)",
        f"  ack latency (burst): p50 {b['p50_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms",
        f"  ack latency at {s['sent'] / s['seconds']:.0f}/s: p50 {s['p50_ms']:.1f} ms, "
        f"p99 {s['p99_ms']:.1f} ms (statuses {s['statuses']})",
    ]
    if r["bytes_per_event"] is not None:
        lines.append(
            f"  stored per event:    {r['bytes_per_event'] / 1024:8.1f} KB (database growth)"
        )
    if payload:
        lines.append(
            f"  payload per event:   {payload[0] / 1024:8.1f} KB compressed of "
            f"{payload[1] / 1024:.1f} KB raw"
        )
    lines.append(
        f"  server RSS:          {r['rss_mb_after_burst']:8.0f} MB after the burst, "
        f"{r['rss_mb_end']:.0f} MB at the end ({r['events_stored']} events)"
    )
    if r.get("cpu_ms_per_event") is not None:
        lines.append(f"  server CPU:          {r['cpu_ms_per_event']:8.2f} ms per event (burst)")
    for thread, ms in r.get("cpu_ms_per_event_by_thread", {}).items():
        lines.append(f"    {thread + ':':<32} {ms:5.2f} ms")
    if "issues" in r:
        lines.append(f"  issues:              {r['issues']:8d}")
    return lines


DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:ingest:start -->", "<!-- bench:ingest:end -->"


def _row(name: str, r: dict[str, Any]) -> str:
    b, s = r["burst"], r["steady"]
    stored = r["bytes_per_event"]
    rate = s["sent"] / s["seconds"] if s["seconds"] else 0
    return (
        f"| {name} | {b['acked_per_s']:,.0f} | {r['stored_per_s']:,.0f} | "
        f"{b['p50_ms']:.0f} / {b['p99_ms']:.0f} | {rate:.0f}/s: {s['p50_ms']:.0f} / "
        f"{s['p99_ms']:.0f} | {stored / 1024:.1f} KB | {r['rss_mb_end']:.0f} MB "
        f"({r['events_stored']:,} events) | {r.get('cpu_ms_per_event') or 0:.2f} ms |"
    )


def write_docs(results: dict[str, Any], args: argparse.Namespace) -> None:
    """Replace the ingest section of docs/benchmarks.md with these results."""
    info = results["machine"]
    t = results["trimtab"]
    lines = [
        START,
        "## Ingest (`bench/ingest.py`)",
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, "
        f"{time.strftime('%Y-%m-%d')}. Command: `python bench/ingest.py "
        f"{' '.join(sys.argv[1:])}`. The machine was shared with other work: load average "
        f"{results['load_before']:.1f} before the run, {results['load_after']:.1f} after it "
        "(on 2 cores); server CPU per event is the figure least moved by neighbours.",
        "",
        f"Events: made by the real sentry-sdk ({results['raw_kb']:.1f} KB raw each: 22 in-app "
        "frames with locals and context lines, 20 breadcrumbs, device/os/runtime/browser "
        "contexts, user, tags, extra), gzipped, posted over loopback by a separate process with "
        f"{args.concurrency} connections (burst), then at a fixed {args.rate:.0f} events/s. "
        f"trimtab on a fresh {'PostgreSQL database' if args.postgres else 'SQLite data directory'}"
        ", Bugsink on SQLite. Each server first stores "
        f"{args.warmup} events, not measured (warm-up). Latencies p50 / p99 in ms.",
        "",
        "| server | acked/s | stored and grouped/s | burst ack ms | fixed-rate ack ms | "
        "stored per event | RSS at the end | server CPU per event |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        _row("trimtab", t),
    ]
    if "trimtab_workers" in results:
        lines.append(_row(f"`{results['trimtab_workers']['name']}`", results["trimtab_workers"]))
    if "bugsink" in results:
        lines.append(_row(f"Bugsink {results.get('bugsink_version', '')}", results["bugsink"]))
    payload = t["payload"]
    lines += [
        "",
        f"trimtab keeps each event's JSON zstd-compressed: {payload[0] / 1024:.1f} KB of "
        f"{payload[1] / 1024:.1f} KB raw; {t['issues']} issues.",
    ]
    if "bugsink" in results:
        g = results["bugsink"]
        cpu_ratio = (g.get("cpu_ms_per_event") or 0) / (t.get("cpu_ms_per_event") or 1e-9)
        lines.append(
            f"Ratios trimtab / Bugsink: acknowledged "
            f"{t['burst']['acked_per_s'] / g['burst']['acked_per_s']:.1f}x, stored and grouped "
            f"{t['stored_per_s'] / max(g['stored_per_s'], 1e-9):.1f}x, server CPU per event "
            f"{cpu_ratio:.1f}x"
            " less"
            + (
                f"; with `{results['trimtab_workers']['name']}`: stored and grouped "
                f"{results['trimtab_workers']['stored_per_s'] / max(g['stored_per_s'], 1e-9):.1f}x"
                if "trimtab_workers" in results
                else ""
            )
            + ". Bugsink ran as its "
            "single-server guide sets it up (gunicorn, min(cores, 4) workers, the snappea "
            "worker digesting in the background); its stored rate counts rows in its database."
        )
    lines.append(END)
    replace_section(START, END, "\n".join(lines))


def replace_section(start: str, end: str, section: str) -> None:
    """Put `section` (from `start` to `end`, markers included) in docs/benchmarks.md, in place
    of the one between those markers, else at the end."""
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\nFigures from `make bench`.\n"
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOCS.write_text(text)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_load":
        _load_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="burst events (default 5000)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections in the burst")
    parser.add_argument("--rate", type=float, default=300.0, help="fixed rate of phase two")
    parser.add_argument("--rate-seconds", type=float, default=10.0, help="length of phase two")
    parser.add_argument("--against-bugsink", action="store_true", help="also load Bugsink")
    parser.add_argument("--bugsink-events", type=int, default=1000, help="Bugsink burst events")
    parser.add_argument(
        "--workers", type=int, default=1, help="also run `serve --workers N` in the same run"
    )
    parser.add_argument(
        "--postgres", metavar="URL", help="trimtab on a fresh database of this PostgreSQL server"
    )
    parser.add_argument(
        "--warmup", type=int, default=300, help="events each server stores before measuring"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    # A terminated benchmark still stops the servers it started (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    events = max(1, min(args.events, 1_000_000))
    rate_events = max(1, int(args.rate * min(args.rate_seconds, 120)))
    info = machine()
    print(f"machine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}")
    started = time.monotonic()
    templates = make_envelopes()
    sizes = [len(t) for t in templates]
    print(
        f"{len(templates)} sentry-sdk events, {statistics.mean(sizes) / 1024:.1f} KB raw each "
        f"(made in {time.monotonic() - started:.1f} s)"
    )
    results: dict[str, Any] = {"machine": info, "raw_kb": statistics.mean(sizes) / 1024}
    results["load_before"] = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="trimtab-bench-") as tmp:
        workdir = Path(tmp)
        bodies_path = workdir / "bodies.bin"
        total = max(events, args.bugsink_events if args.against_bugsink else 0) + rate_events
        warmup = (total, max(0, min(args.warmup, 10_000)))
        prepare_bodies(bodies_path, templates, total + warmup[1])
        print(f"{total} gzipped envelopes prepared")
        runs = [("trimtab", 1)]
        if args.workers > 1:
            runs.append(("trimtab_workers", min(args.workers, 16)))
        for key, workers in runs:
            target = start_trimtab(workdir, workers, args.postgres)
            try:
                results[key] = measure(
                    target, bodies_path, events, args.concurrency, args.rate, rate_events, warmup
                )
            finally:
                target.stop()
            results[key]["name"] = target.name
            print("\n".join(report(target.name, results[key])))
        if "trimtab_workers" in results:
            one, many = results["trimtab"], results["trimtab_workers"]
            print(
                f"\nratios ({many['name']} / trimtab): "
                f"stored and grouped {many['stored_per_s'] / max(one['stored_per_s'], 1e-9):.2f}x"
            )
        if args.against_bugsink:
            results["bugsink_version"] = install_bugsink()
            print(f"\n{results['bugsink_version']}")
            bugsink = start_bugsink(workdir)
            try:
                results["bugsink"] = measure(
                    bugsink,
                    bodies_path,
                    args.bugsink_events,
                    args.concurrency,
                    args.rate,
                    min(rate_events, args.bugsink_events),
                    warmup,
                )
            finally:
                bugsink.extra["worker"].terminate()
                bugsink.stop()
            print("\n".join(report("bugsink", results["bugsink"])))
            g = results["bugsink"]
            for key in ("trimtab", "trimtab_workers"):
                if key in results:
                    t = results[key]
                    print(
                        f"ratios ({t['name']} / bugsink): acknowledged "
                        f"{t['burst']['acked_per_s'] / g['burst']['acked_per_s']:.1f}x, "
                        f"stored and grouped "
                        f"{t['stored_per_s'] / max(g['stored_per_s'], 1e-9):.1f}x"
                    )
    results["load_after"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    if args.write_docs:
        write_docs(results, args)


if __name__ == "__main__":
    main()
