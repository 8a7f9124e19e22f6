"""Dashboard benchmark: every dashboard page, timed over HTTP against a large store.

    .venv/bin/python bench/dashboard.py [--events N] [--requests R] [--keep] [--write-docs]

1. Fill: one project with `--events` events (default 1,000,000) in 10,000 issues over the last
   90 days, 500 flags, 200 releases of four services, 2,000 deploy runs and five dependencies.
   Projects, services, releases, flags, dependencies and issue triage go through the domain
   functions the API calls; events go through ingest's own `prepare_event` and `store_events`
   (grouping, zstd payloads, facets, distinct users, per-minute rollups, notifications) in
   batches of 2,000, straight to the store instead of over HTTP, which would take hours. Deploy
   runs and their steps are written as rows with their past times, as the demo seed writes
   them (a runner cannot run two thousand deploys in the past). Issue popularity follows Zipf
   (the busiest issue holds about a tenth of the events); new issues appear all through the 90
   days; each event carries the release live at its time, an environment, a user, tags, and
   for some issues a `dependency` tag and flag results.
   With `--keep` the filled SQLite file stays in bench/out/ and is reused by the next run with
   the same size (for 12 hours, so "the last 24 hours" still has events).
2. PostgreSQL (when TRIMTAB_TEST_POSTGRES_URL is set): a fresh database is created, given a
   copy of the SQLite store by `trimtab db copy`'s own code (store/copy.py: every table checked),
   analyzed (as autovacuum would), and dropped at the end.
3. Pages: every GET route of the dashboard's routers (found in the app, so new pages are timed
   without changing this file), path parameters filled from the store: the busiest issue, its
   latest event, the flag most events carry, the newest release, the newest production deploy
   run, a dependency. The issue list is also timed with each filter. Each page is requested
   `--requests` times (after two warm-up requests) by a logged-in session over keep-alive HTTP
   against a real `trimtab serve` process: p50 / p95 in ms, and the CPU time the server process
   and its PostgreSQL backends spent per request (read from /proc), which the machine's other
   work moves least. Target: p95 <= 200 ms.

Prints a Markdown table per backend (for docs/benchmarks.md) and exits 1 when a page misses
the target or answers anything but 200.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import re
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import cpu_seconds, machine, process_tree, replace_section  # noqa: E402
from bench.soak import postgres_database  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from tests.support import ADMIN_PASSWORD, start_server  # noqa: E402

from trimtab.domain.flags import dependencies, flags  # noqa: E402
from trimtab.domain.releases import services, stabilization  # noqa: E402
from trimtab.domain.releases.releases import create_release  # noqa: E402
from trimtab.domain.reports import ingest, issues  # noqa: E402
from trimtab.domain.spine import projects  # noqa: E402
from trimtab.domain.spine.actors import Actor  # noqa: E402
from trimtab.settings import Settings  # noqa: E402
from trimtab.store import copy as store_copy  # noqa: E402
from trimtab.store import migrate  # noqa: E402
from trimtab.store.db import Store  # noqa: E402
from trimtab.store.models import (  # noqa: E402
    AuditEntry,
    Deploy,
    DeployRun,
    Event,
    Issue,
    Release,
    utcnow,
)

OUT = ROOT / "bench" / "out"
SLUG = "cinema"
ACTOR = Actor(kind="user", name="bench-fill", scopes=frozenset({"admin"}))
TARGET_MS = 200.0
DAYS = 90
ISSUES = 10_000
FLAGS = 500
RELEASES = 200
RUNS = 2_000
BATCH = 2_000
SERVICES = ("api", "web", "worker", "billing")
DEPENDENCIES = ("payments-api", "billing-api", "search", "inventory", "mailer")
ENVIRONMENTS = (("production", 0.7), ("staging", 0.2), ("development", 0.1))
KEEP_HOURS = 12
MAX_SECONDS = 600  # no page is timed for longer than this, whatever --requests says


# -- 1. the fill -----------------------------------------------------------------------------


@dataclass
class Shape:
    """What the fill made that the pages need: ids and names to put in the paths."""

    now: datetime
    issue_id: int = 0
    event_id: str = ""
    flag: str = ""
    release: str = ""
    run_id: int = 0
    query: str = ""
    fill_seconds: float = 0.0

    def params(self) -> dict[str, str]:
        return {
            "slug": SLUG,
            "issue_id": str(self.issue_id),
            "event_id": self.event_id,
            "key": self.flag,
            "version": self.release,
            "run_id": str(self.run_id),
            "name": DEPENDENCIES[0],
            "service": SERVICES[0],
            "environment": "production",
            "env": "production",
        }


@dataclass
class IssueKind:
    """One of the 10,000 issues: what its events have in common."""

    number: int
    error: str
    noun: str
    level: str
    born: float  # seconds after the start of the 90 days
    dependency: str | None
    flags: tuple[str, ...]


ERRORS = ("ValueError", "KeyError", "TimeoutError", "ConnectionError", "TypeError", "RuntimeError")
NOUNS = ("seat", "basket", "payment", "ticket", "refund", "voucher", "show", "hall", "session")


def _kinds(rng: random.Random, span: float) -> list[IssueKind]:
    kinds = []
    for n in range(ISSUES):
        kinds.append(
            IssueKind(
                number=n,
                error=ERRORS[n % len(ERRORS)],
                noun=NOUNS[(n // len(ERRORS)) % len(NOUNS)],
                level="warning" if n % 11 == 0 else ("fatal" if n % 97 == 0 else "error"),
                # The busiest issues are old; the rest appear all through the 90 days.
                born=0.0 if n < 20 else rng.random() * span * 0.98,
                dependency=DEPENDENCIES[n % len(DEPENDENCIES)] if n % 10 == 3 else None,
                flags=tuple(f"flag-{(n + i) % 40:03d}" for i in range(n % 3)),
            )
        )
    return kinds


def _frame(path: str, function: str, lineno: int, line: str, variables: dict[str, Any]) -> Any:
    return {
        "filename": path,
        "abs_path": f"/srv/cinema/{path}",
        "module": path.removesuffix(".py").replace("/", "."),
        "function": function,
        "lineno": lineno,
        "context_line": line,
        "pre_context": ["", "    # look the booking up before charging"],
        "post_context": ["    return result"],
        "vars": variables,
        "in_app": True,
    }


def _event(
    kind: IssueKind, rng: random.Random, at: datetime, release: str, environment: str
) -> dict[str, Any]:
    n, noun = kind.number, kind.noun
    user = rng.randrange(40_000)
    tags = {"region": ("eu-west", "eu-central", "us-east")[user % 3], "screen": noun}
    if kind.dependency:
        tags["dependency"] = kind.dependency
    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "timestamp": at.timestamp(),
        "platform": "python",
        "level": kind.level,
        "release": release,
        "environment": environment,
        "server_name": f"web-{user % 8}",
        "tags": tags,
        "contexts": {
            "runtime": {"name": "CPython", "version": "3.12.4"},
            "os": {"name": "Linux", "version": "6.1"},
        },
        "breadcrumbs": {
            "values": [
                {
                    "timestamp": at.timestamp() - 5 + i,
                    "category": ("http", "query", "navigation")[i % 3],
                    "message": f"GET /api/{noun}s/{user + i} -> 200",
                    "level": "info",
                }
                for i in range(5)
            ]
        },
        "exception": {
            "values": [
                {
                    "type": kind.error,
                    "value": f"{noun} {user % 500} could not be booked (case {n})",
                    "mechanism": {"type": "generic", "handled": False},
                    "stacktrace": {
                        "frames": [
                            _frame("cinema/app.py", "dispatch", 88, "    return view(request)", {}),
                            _frame(
                                f"cinema/{noun}s.py",
                                f"book_{noun}_{n}",
                                40 + n % 300,
                                f"    result = {noun}s.reserve(request.{noun}_id)",
                                {"request": f"<Request /{noun}s/{user}>", "attempt": 1},
                            ),
                            _frame(
                                f"cinema/store/{noun}s.py",
                                f"reserve_{n % 50}",
                                120 + n % 40,
                                f"    raise {kind.error}(msg)",
                                {"msg": f"'{noun} {user % 500} could not be booked'"},
                            ),
                        ]
                    },
                }
            ]
        },
    }
    if user % 5:  # a fifth of the events come from visitors not logged in
        event["user"] = {"id": f"user-{user}", "email": f"user{user}@example.com"}
    if kind.flags:
        values = [{"flag": key, "result": (user + i) % 2 == 0} for i, key in enumerate(kind.flags)]
        event["contexts"]["flags"] = {"values": values}
    return event


def _pick_environment(rng: random.Random) -> str:
    roll = rng.random()
    for name, share in ENVIRONMENTS:
        if roll < share:
            return name
        roll -= share
    return ENVIRONMENTS[0][0]


def fill(store: Store, events: int, seed: int = 90) -> Shape:
    """Fill an empty, migrated store (see the module docstring); what the pages need."""
    rng = random.Random(seed)
    now = utcnow().replace(microsecond=0)
    start = now - timedelta(days=DAYS) + timedelta(hours=1)  # inside the 90-day retention
    span = (now - start).total_seconds()
    shape = Shape(now=now)
    began = time.monotonic()
    with store.write() as session:
        # What `trimtab serve` does on a fresh store before anything else can be made.
        projects.ensure_organization(session, Settings.from_env().org_slug)
        release_times = _fill_config(session, rng, start, span)
    print(f"  project, services, releases, runs, flags: {time.monotonic() - began:.0f} s")
    kinds = _kinds(rng, span)
    with store.read() as session:
        versions = list(session.scalars(select(Release.version).order_by(Release.created_at)))
    plan = _event_plan(rng, kinds, events, span)
    project_id = _project_id(store)
    began = time.monotonic()
    for offset in range(0, len(plan), BATCH):
        prepared = []
        for seconds, number in plan[offset : offset + BATCH]:
            at = start + timedelta(seconds=seconds)
            live = max(0, bisect.bisect_right(release_times, seconds) - 1)
            if live and rng.random() < 0.1:  # not every host has the newest release yet
                live -= 1
            body = _event(kinds[number], rng, at, versions[live], _pick_environment(rng))
            prepared.append(ingest.prepare_event(project_id, body, orjson.dumps(body), at))
        with store.write() as session:
            ingest.store_events(session, prepared)
        done = offset + len(prepared)
        if done % 50_000 < BATCH or done == len(plan):
            rate = done / max(time.monotonic() - began, 1e-9)
            print(f"  {done:,} events stored ({rate:,.0f}/s)", flush=True)
    _triage(store, rng)
    with store.read() as session:
        busiest = session.scalars(select(Issue).order_by(Issue.event_count.desc()).limit(1)).one()
        shape.issue_id = busiest.id
        shape.query = busiest.title.split(":", 1)[0]
        shape.event_id = session.scalars(
            select(Event.event_id)
            .where(Event.issue_id == busiest.id)
            .order_by(Event.received_at.desc())
            .limit(1)
        ).one()
        shape.flag = "flag-000"
        shape.release = versions[-1]
        shape.run_id = session.scalars(
            select(DeployRun.id)
            .where(DeployRun.environment == "production")
            .order_by(DeployRun.created_at.desc())
            .limit(1)
        ).one()
    return shape


def _project_id(store: Store) -> int:
    with store.read() as session:
        return projects.get_project(session, ACTOR, SLUG).id


def _event_plan(
    rng: random.Random, kinds: list[IssueKind], events: int, span: float
) -> list[tuple[float, int]]:
    """(seconds after the start, issue number) for every event, in time order: one event per
    issue first, the rest Zipf-distributed, each after its issue was born."""
    weights = [1.0 / (k.number + 1) for k in kinds]
    numbers = list(range(min(events, len(kinds))))
    numbers += rng.choices(range(len(kinds)), weights=weights, k=max(0, events - len(kinds)))
    plan = [
        (kinds[n].born + rng.random() * (span - kinds[n].born), n)
        for n in numbers  # uniform between the issue's birth and now
    ]
    plan.sort()
    return plan


def release_version(n: int) -> str:
    """The name of the n-th release (0: the oldest)."""
    return f"cinema@3.{n // 10}.{n % 10}"


def _fill_config(session: Any, rng: random.Random, start: datetime, span: float) -> list[float]:
    """Project, services, releases, deploy runs, flags, dependencies; the release times."""
    projects.create_project(session, ACTOR, SLUG, name="Cinema (benchmark)")
    for name in SERVICES:
        services.create_service(
            session, ACTOR, SLUG, name, services.ServiceFields(command="true"), manual=False
        )
    release_times = [span * i / RELEASES for i in range(RELEASES)]
    releases = []
    for i, seconds in enumerate(release_times):
        version = release_version(i)
        release = create_release(
            session, ACTOR, SLUG, version, dict.fromkeys(SERVICES, version.split("@")[1])
        )
        release.created_at = start + timedelta(seconds=seconds)
        releases.append(release)
    project = projects.get_project(session, ACTOR, SLUG)
    _fill_runs(session, rng, project.id, releases, start, span)
    for n in range(FLAGS):
        live = {"enabled": n % 3 != 0}
        flags.create_flag(
            session,
            ACTOR,
            SLUG,
            f"flag-{n:03d}",
            description=f"Benchmark flag {n}: the {NOUNS[n % len(NOUNS)]} page's new flow.",
            owner=("front-end", "backend", "payments")[n % 3],
            tags=[NOUNS[n % len(NOUNS)], f"team-{n % 7}"],
            environments={"staging": {"enabled": True}, "production": live},
        )
        if n < 100:
            for env in ("staging", "production"):
                flags.record_evaluations(
                    session,
                    project.id,
                    env,
                    {f"flag-{n:03d}": {"on": 1000 + n, "off": 3000 - n}},
                    start + timedelta(seconds=span - 3600 * (n % 48)),
                )
    for name in DEPENDENCIES:
        dependencies.create_dependency(
            session, ACTOR, SLUG, name, description=f"{name} (benchmark)"
        )
    return release_times


def _fill_runs(
    session: Any,
    rng: random.Random,
    project_id: int,
    releases: list[Release],
    start: datetime,
    span: float,
) -> None:
    """2,000 finished deploy runs, ten per release (staging, production, development, some
    rollbacks, a few failed or cancelled), each with a step per service and its audit entry."""
    per_release = RUNS // len(releases)
    gap = span / len(releases)
    last_production: tuple[DeployRun, Release] | None = None
    for i, release in enumerate(releases):
        for j in range(per_release):
            environment = ("staging", "production", "development")[j % 3]
            rollback = j == per_release - 1 and i > 0
            target = releases[i - 1] if rollback else release
            roll = rng.random()
            state = "failed" if roll < 0.05 else ("cancelled" if roll < 0.07 else "success")
            at = start + timedelta(seconds=gap * i + gap * (j + 0.5) / (per_release + 1))
            run = DeployRun(
                project_id=project_id,
                environment=environment,
                kind="rollback" if rollback else "release",
                release_id=target.id,
                state=state,
                waves=[list(SERVICES)],
                actor=("user:mina", "token:ci")[j % 2],
                created_at=at,
                finished_at=at + timedelta(minutes=4),
                error="step api failed: exit code 1" if state == "failed" else None,
            )
            session.add(run)
            session.flush()
            for service in SERVICES:
                failed = state == "failed" and service == SERVICES[0]
                result = (
                    "failed" if failed else ("cancelled" if state == "cancelled" else "success")
                )
                session.add(
                    Deploy(
                        project_id=project_id,
                        environment=environment,
                        service=service,
                        version=target.services[service],
                        command="true",
                        actor=run.actor,
                        result=result,
                        created_at=at,
                        started_at=at + timedelta(seconds=20),
                        finished_at=at + timedelta(minutes=3),
                        output_tail=f"[trimtab] $ true\n[trimtab] exit code {int(failed)}\n",
                        release_id=target.id,
                        release_version=target.version,
                        run_id=run.id,
                        wave=0,
                    )
                )
            session.add(
                AuditEntry(
                    at=at,
                    actor=run.actor,
                    action="rollback.start" if rollback else "deploy.start",
                    target_type="deploy_run",
                    target_id=str(run.id),
                    project_id=project_id,
                    environment=environment,
                    after={"release": target.version, "waves": run.waves},
                )
            )
            if environment == "production" and state == "success" and not rollback:
                last_production = (run, release)
    if last_production is not None:
        run, release = last_production
        stabilization.open_window(
            session,
            project_id,
            "production",
            release_version=release.version,
            release_id=release.id,
            services=list(SERVICES),
            run_id=run.id,
            at=run.finished_at or run.created_at,
        )
    session.flush()


def _triage(store: Store, rng: random.Random) -> None:
    """Resolve about a sixth of the issues and ignore a few, as a team would."""
    with store.read() as session:
        ids = list(session.scalars(select(Issue.id).order_by(Issue.id)))
        latest = session.scalars(
            select(Release.version).order_by(Release.created_at.desc()).limit(1)
        ).one()
    with store.write() as session:
        for n, issue_id in enumerate(ids):
            if n == 0:
                continue  # the busiest issue stays open
            if n % 6 == 0:
                in_release = latest if n % 12 == 0 else None
                issues.resolve_issue(session, ACTOR, issue_id, in_release=in_release)
            elif n % 25 == 1:
                issues.ignore_issue(session, ACTOR, issue_id, until_count=rng.randrange(10, 1000))


# -- 2. stores: the cached SQLite file, the PostgreSQL copy -----------------------------------


def migrated_store(url: str) -> Store:
    store = Store(url)
    migrate.upgrade(store)
    return store


def sqlite_store(events: int, keep: bool, workdir: Path) -> tuple[Path, Shape]:
    """The filled SQLite file (reused from bench/out/ with --keep) and its shape."""
    folder = OUT / f"dashboard-{events}" if keep else workdir / "sqlite"
    path, marker = folder / "trimtab.db", folder / "shape.json"
    if keep and marker.exists():
        cached = json.loads(marker.read_text())
        age = utcnow() - datetime.fromisoformat(cached["now"])
        if age < timedelta(hours=KEEP_HOURS):
            print(f"reusing {path} (filled {age.total_seconds() / 3600:.1f} h ago)")
            cached["now"] = datetime.fromisoformat(cached["now"])
            return path, Shape(**cached)
        print(f"{path} is {age} old: filling it again")
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("trimtab.db*"):
        stale.unlink()
    marker.unlink(missing_ok=True)
    print(f"filling {path} with {events:,} events")
    began = time.monotonic()
    store = migrated_store(f"sqlite:///{path}")
    try:
        shape = fill(store, events)
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.dispose()
    shape.fill_seconds = time.monotonic() - began
    print(f"filled in {shape.fill_seconds:.0f} s, {path.stat().st_size / 2**20:,.0f} MiB")
    marker.write_text(json.dumps({**shape.__dict__, "now": shape.now.isoformat()}))
    return path, shape


def copy_store(source: Path, url: str) -> None:
    """Every row of the SQLite store into the fresh PostgreSQL database at `url` with the
    store's own copy (`trimtab db copy`: sequences moved on, every table checked), then ANALYZE
    (autovacuum's job on a live store)."""
    began = time.monotonic()
    reader, target = Store(f"sqlite:///{source}"), Store(url)

    def progress(table: str, rows: int) -> None:
        if rows > 10_000:
            print(f"  {table}: {rows:,} rows", flush=True)

    try:
        report = store_copy.copy_store(reader, target, force=True, batch=5000, progress=progress)
        if not report.ok:
            differ = [check.table for check in report.tables if not check.matches]
            raise SystemExit(f"the PostgreSQL copy differs from the store in {differ}")
        with target.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    finally:
        reader.dispose()
        target.dispose()
    print(f"copied to PostgreSQL in {time.monotonic() - began:.0f} s")


# -- 3. the pages ------------------------------------------------------------------------------


@dataclass
class Page:
    label: str
    path: str
    times_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    size: int = 0
    cpu_ms: float = 0.0  # CPU of the server (and its PostgreSQL backends) per request

    def percentile(self, share: float) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0

    @property
    def ok(self) -> bool:
        return set(self.statuses) == {200} and self.percentile(0.95) <= TARGET_MS


def dashboard_routes() -> list[str]:
    """Path templates of every GET route the dashboard's routers serve (not the login form)."""
    from fastapi.routing import APIRoute

    from trimtab.server.app import create_app

    app = create_app(Settings.from_env(database_url="sqlite://"), run_jobs=False)
    paths = []
    for prefix, route in _walk(app.routes, ""):
        if not isinstance(route, APIRoute) or "GET" not in route.methods:
            continue
        if not route.endpoint.__module__.startswith("trimtab.server.dashboard"):
            continue
        path = prefix + route.path
        if path == "/login" or "stream" in path or "stream" in route.name:
            continue  # the login form is not behind a session; streams never end
        paths.append(path)
    return paths


def _walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, Any]]:
    # FastAPI 0.165 keeps an included router as one entry holding the router's own routes.
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is None:
            yield prefix, route
        else:
            context = getattr(route, "include_context", None)
            yield from _walk(inner.routes, prefix + (getattr(context, "prefix", "") or ""))


def pages_for(shape: Shape) -> tuple[list[Page], list[str]]:
    """Pages to time, and the routes left out (a path parameter this file cannot fill)."""
    params = shape.params()
    pages, skipped = [], []
    for template in dashboard_routes():
        names = re.findall(r"{(\w+)(?::\w+)?}", template)
        if any(name not in params for name in names):
            skipped.append(template)
            continue
        path = re.sub(r"{(\w+)(?::\w+)?}", lambda m: params[m.group(1)], template)
        pages.append(Page(template, path))
        if template == "/projects/{slug}/issues":
            filters = {
                "environment": "environment=production",
                "newest release": f"release={shape.release}",
                # Few recent issues saw the oldest release: the list reads further to fill a page.
                "oldest release": f"release={release_version(0)}",
                "query": f"q={shape.query}",
                "status resolved": "status=resolved",
                "all statuses": "status=",
                "first seen, page 5": "sort=first_seen&page=5",
            }
            for label, query in filters.items():
                pages.append(Page(f"{template} ({label})", f"{path}?{query}"))
    return pages, skipped


def log_in(client: httpx.Client) -> None:
    form = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    data = {
        "username": "admin",
        "password": ADMIN_PASSWORD,
        "csrf_token": match[1] if match else "",
    }
    answer = client.post("/login", data=data)
    if answer.status_code != 303:
        raise RuntimeError(f"login failed: {answer.status_code} {answer.text[:300]}")


def serving_pids(server_pid: int, database: str | None) -> list[int]:
    """The server process, its children and the PostgreSQL backends serving `database`
    (found by the process title PostgreSQL gives them: "postgres: ... user database ...")."""
    pids = process_tree(server_pid)
    if database:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if title.startswith("postgres:") and f" {database} " in title:
                pids.append(int(entry.name))
    return pids


def time_pages(url: str, pages: list[Page], requests: int, pids: Callable[[], list[int]]) -> None:
    with httpx.Client(base_url=url, timeout=120) as client:
        log_in(client)
        for page in pages:
            deadline = time.monotonic() + MAX_SECONDS
            for n in range(requests + 2):
                if n == 2:
                    cpu_before = cpu_seconds(pids())
                began = time.perf_counter()
                response = client.get(page.path)
                elapsed = 1000 * (time.perf_counter() - began)
                if n < 2:  # warm-up: caches, the first query plan
                    continue
                page.times_ms.append(elapsed)
                page.statuses[response.status_code] = page.statuses.get(response.status_code, 0) + 1
                page.size = len(response.content)
                if time.monotonic() > deadline:
                    break
            page.cpu_ms = 1000 * (cpu_seconds(pids()) - cpu_before) / len(page.times_ms)
            mark = "" if page.ok else "  <-- MISSES"
            print(
                f"  {page.label}: p50 {page.percentile(0.5):.0f} ms, "
                f"p95 {page.percentile(0.95):.0f} ms, CPU {page.cpu_ms:.0f} ms/request "
                f"{page.statuses}{mark}",
                flush=True,
            )


def measure(database_url: str, data_dir: Path, shape: Shape, requests: int) -> dict[str, Any]:
    pages, skipped = pages_for(shape)
    load_before = os.getloadavg()[0]
    server = start_server(database_url, data_dir)
    database = make_url(database_url).database if database_url.startswith("postgres") else None
    try:
        time_pages(server.url, pages, requests, lambda: serving_pids(server.process.pid, database))
    finally:
        server.stop()
    return {
        "pages": pages,
        "skipped": skipped,
        "load": (load_before, os.getloadavg()[0]),
    }


# -- 4. the report -----------------------------------------------------------------------------


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    backends = list(results)
    head = "| page | " + " | ".join(f"{b}: p50 / p95 ms, CPU ms" for b in backends) + " |"
    lines = [head, "|---|" + "---:|" * len(backends)]
    labels = [page.label for page in results[backends[0]]["pages"]]
    for label in labels:
        cells = []
        for backend in backends:
            page = next((p for p in results[backend]["pages"] if p.label == label), None)
            if page is None:
                cells.append("-")
                continue
            p95 = page.percentile(0.95)
            cell = f"{page.percentile(0.5):.0f} / {p95:.0f}"
            if not page.ok:
                cell = f"**{cell}**" + ("" if set(page.statuses) == {200} else f" {page.statuses}")
            cell += f", {page.cpu_ms:.0f}"
            cells.append(cell)
        lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
    return lines


def write_docs(results: dict[str, dict[str, Any]], info: dict[str, Any], args: Any) -> None:
    """Replace this store size's dashboard section of docs/benchmarks.md with these results."""
    start = f"<!-- bench:dashboard:{args.events}:start -->"
    end = f"<!-- bench:dashboard:{args.events}:end -->"
    loads = ", ".join(
        f"{name} {r['load'][0]:.1f} before / {r['load'][1]:.1f} after"
        for name, r in results.items()
    )
    lines = [
        start,
        f"## Dashboard pages, {args.events:,} events (`bench/dashboard.py`)",
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, "
        f"{time.strftime('%Y-%m-%d')}. Command: `python bench/dashboard.py "
        f"{' '.join(sys.argv[1:])}`. Shared with other work: load average {loads}.",
        "",
        f"Store: {args.events:,} events in {ISSUES:,} issues over {DAYS} days, {FLAGS} flags, "
        f"{RELEASES} releases, {RUNS:,} deploy runs (filled in {info['fill_s']:,.0f} s through "
        "ingest's `prepare_event`/`store_events` and the domain functions; the PostgreSQL "
        "store is a row-for-row copy, analyzed). Each page requested "
        f"{args.requests} times by a logged-in session over HTTP (keep-alive, loopback) "
        f"after two warm-ups; target p95 <= {TARGET_MS:.0f} ms, misses in bold. CPU: "
        "CPU time of the server process (and of its PostgreSQL backends) per request, the "
        "figure the machine's other work moves least.",
        "",
        *table(results),
    ]
    skipped = sorted({s for r in results.values() for s in r["skipped"]})
    if skipped:
        lines += [
            "",
            "Not timed (a path parameter the benchmark cannot fill): "
            + ", ".join(f"`{s}`" for s in skipped),
        ]
    lines.append(end)
    replace_section(start, end, "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the store")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--keep", action="store_true", help="keep and reuse the SQLite store")
    parser.add_argument(
        "--backend", choices=("both", "sqlite", "postgres"), default="both", help="what to time"
    )
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    args.events = max(ISSUES, min(args.events, 5_000_000))
    args.requests = max(5, min(args.requests, 1000))
    # A terminated benchmark still stops its server and drops its database (finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    info: dict[str, Any] = machine()
    print(f"machine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}")
    results: dict[str, dict[str, Any]] = {}
    postgres = os.environ.get("TRIMTAB_TEST_POSTGRES_URL")
    with tempfile.TemporaryDirectory(prefix="trimtab-dashboard-") as tmp:
        workdir = Path(tmp)
        path, shape = sqlite_store(args.events, args.keep, workdir)
        info["fill_s"] = shape.fill_seconds
        if args.backend in ("both", "sqlite"):
            print("SQLite:")
            results["SQLite"] = measure(f"sqlite:///{path}", workdir / "s", shape, args.requests)
        if args.backend in ("both", "postgres") and postgres:
            url, drop = postgres_database(postgres)  # fresh and migrated
            try:
                copy_store(path, url)
                print("PostgreSQL:")
                results["PostgreSQL"] = measure(url, workdir / "p", shape, args.requests)
            finally:
                drop()
        elif args.backend == "postgres":
            parser.error("TRIMTAB_TEST_POSTGRES_URL is not set")
    print()
    print("\n".join(table(results)))
    if args.write_docs:
        write_docs(results, info, args)
    missed = [p.label for r in results.values() for p in r["pages"] if not p.ok]
    if missed:
        print(f"\n{len(missed)} page(s) miss the target: {', '.join(missed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
