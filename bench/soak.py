"""Soak: one `trimtab serve` process under mixed load for a long time, then many crash rounds.

    .venv/bin/python bench/soak.py [--seconds S] [--warmup W] [--crash-rounds N] [--seed N]
    make soak                       # 30 minutes; SOAK_SECONDS, SOAK_WARMUP, SOAK_CRASH_ROUNDS

1. Steady phase, one server process on a fresh SQLite store, for `--seconds` (default 1800):
   - ingest: Sentry envelopes as an SDK's transport posts them (X-Sentry-Auth, gzip);
   - flag evaluation: OFREP single and bulk (sdk-client token) and the SDK rule set
     `GET /api/v1/sdk/flags` (sdk-server token), with and without If-None-Match;
   - flag changes: flips and rollouts through the API;
   - the dashboard: a logged-in session loading the overview, the issue list, an issue and an
     event page;
   - deploys: a service whose command is `true`; releases deployed to staging one after
     another, every fifth followed by a rollback, each run followed until it ends.
   The server's RSS is read from /proc every 5 s. Pass: RSS at the end within 10 % of RSS at the
   end of the warm-up (`--warmup`, default 120 s; medians of the 30 s after the warm-up and the
   last 30 s), no 5xx, no error of any kind (refused connections, timeouts, failed runs).
2. Crash rounds (tests/e2e/crash.py): `--crash-rounds` (default 30) SIGKILLs under ingest and
   flag changes on SQLite, and as many on PostgreSQL when TRIMTAB_TEST_POSTGRES_URL is set;
   every acknowledged event and change must survive and the store must pass its checks.

Prints a figures table (Markdown, for docs/benchmarks.md) and exits 1 when a criterion fails.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from tests.e2e import crash  # noqa: E402
from tests.support import ADMIN_PASSWORD, ADMIN_TOKEN, LiveServer, start_server  # noqa: E402

from trimtab.store import migrate  # noqa: E402
from trimtab.store.db import Store, normalize_database_url  # noqa: E402

SLUG = "soak"
ENV = "production"
FLAGS = ("soak-checkout", "soak-search", "soak-banner")
SERVICE = "soak-web"
# Deploys go to staging: production opens a stabilization window that refuses the next deploy.
DEPLOY_ENV = "staging"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
RSS_EVERY = 5.0
WINDOW = 30.0  # seconds of RSS samples whose median stands for "after warm-up" and "end"
MAX_GROWTH = 0.10


@dataclass
class Tally:
    """Requests and errors per kind of work, shared by the load threads."""

    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    server_errors: Counter[str] = field(default_factory=Counter)
    details: dict[str, str] = field(default_factory=dict)  # the first answer of each error kind
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, kind: str, response: httpx.Response, *ok: int) -> bool:
        with self.lock:
            self.requests[kind] += 1
            if response.status_code >= 500:
                self.server_errors[f"{kind} {response.status_code}"] += 1
            if response.status_code not in ok:
                self.errors[f"{kind} {response.status_code}"] += 1
                self.details.setdefault(f"{kind} {response.status_code}", response.text[:300])
                return False
        return True

    def send(self, kind: str, call: Callable[[], httpx.Response], *ok: int) -> bool:
        """Make one request, counting it and any error; whether it got one of `ok`."""
        try:
            response = call()
        except httpx.HTTPError as exc:
            self.failed(kind, type(exc).__name__)
            return False
        return self.count(kind, response, *ok)

    def failed(self, kind: str, what: str) -> None:
        with self.lock:
            self.requests[kind] += 1
            self.errors[f"{kind} {what}"] += 1


@dataclass
class Shop:
    url: str
    project_id: int
    public_key: str
    client_token: str
    server_token: str


def setup(url: str) -> Shop:
    with httpx.Client(base_url=f"{url}/api/v1", headers=ADMIN, timeout=60) as api:

        def post(path: str, body: dict[str, Any]) -> Any:
            response = api.post(path, json=body)
            if response.status_code not in (200, 201):
                raise RuntimeError(f"setup {path}: {response.status_code} {response.text}")
            return response.json()

        project = post("/projects", {"slug": SLUG, "environments": [DEPLOY_ENV, ENV]})
        for key in FLAGS:
            post(f"/projects/{SLUG}/flags", {"key": key, "environments": {ENV: {"enabled": True}}})
        post(f"/projects/{SLUG}/services", {"name": SERVICE, "command": "true"})
        tokens = {
            scope: post(
                "/tokens",
                {"name": f"soak-{scope}", "scopes": [scope], "project": SLUG, "environment": ENV},
            )["token"]
            for scope in ("sdk-client", "sdk-server")
        }
    public_key = str(project["dsn"]).split("//", 1)[1].split("@", 1)[0]
    return Shop(url, int(project["id"]), public_key, tokens["sdk-client"], tokens["sdk-server"])


# -- the load: one function per kind, each looping until `stop` --------------------------------


def paced(stop: threading.Event, every: float, work: Callable[[], None]) -> None:
    """Call `work` about once per `every` seconds until stopped (a steady load, not a flood)."""
    while not stop.is_set():
        started = time.monotonic()
        work()
        stop.wait(max(0.0, every - (time.monotonic() - started)))


def ingest(shop: Shop, tally: Tally, stop: threading.Event) -> None:
    thread = uuid.uuid4().hex[:8]
    headers = {
        "Content-Type": "application/x-sentry-envelope",
        "Content-Encoding": "gzip",
        "X-Sentry-Auth": f"Sentry sentry_key={shop.public_key}, sentry_version=7, "
        "sentry_client=sentry.python/2.0.0",
    }
    counter = iter(range(1, 1 << 62))
    with httpx.Client(base_url=shop.url, headers=headers, timeout=60) as http:

        def one() -> None:
            event_id = uuid.uuid4().hex
            envelope = crash.envelope(
                event_id, shop.public_key, shop.project_id, thread, next(counter)
            )
            body = gzip.compress(envelope, 1)
            path = f"/api/{shop.project_id}/envelope/"
            tally.send("ingest", lambda: http.post(path, content=body), 200)

        paced(stop, 0.05, one)


def evaluate(shop: Shop, tally: Tally, stop: threading.Event) -> None:
    users = iter(range(1 << 62))
    client = httpx.Client(
        base_url=shop.url, timeout=60, headers={"Authorization": f"Bearer {shop.client_token}"}
    )
    server = httpx.Client(
        base_url=shop.url, timeout=60, headers={"Authorization": f"Bearer {shop.server_token}"}
    )
    etag: str | None = None

    def one() -> None:
        nonlocal etag
        user = next(users)
        context = {"context": {"targetingKey": f"user-{user % 5000}", "country": "KR"}}
        try:
            single = client.post(
                f"/ofrep/v1/evaluate/flags/{FLAGS[user % len(FLAGS)]}", json=context
            )
            tally.count("ofrep single", single, 200)
            bulk = client.post("/ofrep/v1/evaluate/flags", json=context)
            tally.count("ofrep bulk", bulk, 200)
            headers = {"If-None-Match": etag} if etag and user % 2 else {}
            rules = server.get("/api/v1/sdk/flags", headers=headers)
            if tally.count("sdk flags", rules, 200, 304):
                etag = rules.headers.get("etag")
        except httpx.HTTPError as exc:
            tally.failed("evaluation", type(exc).__name__)

    try:
        paced(stop, 0.02, one)
    finally:
        client.close()
        server.close()


def change_flags(shop: Shop, tally: Tally, stop: threading.Event) -> None:
    changes = iter(range(1, 1 << 62))
    with httpx.Client(base_url=f"{shop.url}/api/v1", headers=ADMIN, timeout=60) as api:

        def one() -> None:
            n = next(changes)
            path = f"/projects/{SLUG}/flags/{FLAGS[n % len(FLAGS)]}/environments/{ENV}"
            body: dict[str, Any]
            if n % 2:
                verb = "on" if (n // len(FLAGS)) % 2 else "off"
                url, body = f"{path}/{verb}", {"reason": f"soak #{n}"}
            else:
                url, body = f"{path}/rollout", {"percentage": n % 100, "reason": f"soak #{n}"}
            tally.send("flag change", lambda: api.post(url, json=body), 200)

        paced(stop, 0.5, one)


def _csrf(html: str) -> str | None:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    return match.group(1) if match else None


def dashboard(shop: Shop, tally: Tally, stop: threading.Event) -> None:
    with httpx.Client(base_url=shop.url, timeout=60) as browser:

        def log_in() -> bool:
            page = browser.get("/login")
            csrf = _csrf(page.text)
            form = {"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": csrf or ""}
            response = browser.post("/login", data=form)
            return tally.count("dashboard login", response, 303)

        def one() -> None:
            try:
                overview = browser.get("/")
                if overview.status_code == 303:  # not logged in yet, or the session ended
                    log_in()
                    overview = browser.get("/")
                tally.count("dashboard page", overview, 200)
                issues = browser.get(f"/projects/{SLUG}/issues")
                tally.count("dashboard page", issues, 200)
                found = re.findall(rf"/projects/{SLUG}/issues/(\d+)", issues.text)
                if found:
                    issue = browser.get(f"/projects/{SLUG}/issues/{found[0]}")
                    tally.count("dashboard page", issue, 200)
                    events = re.findall(rf"/projects/{SLUG}/events/([0-9a-f]{{32}})", issue.text)
                    if events:
                        event = browser.get(f"/projects/{SLUG}/events/{events[0]}")
                        tally.count("dashboard page", event, 200)
            except httpx.HTTPError as exc:
                tally.failed("dashboard page", type(exc).__name__)

        paced(stop, 1.0, one)


def deploy(shop: Shop, tally: Tally, stop: threading.Event, deploys: Counter[str]) -> None:
    releases = iter(range(1, 1 << 62))
    with httpx.Client(
        base_url=f"{shop.url}/api/v1/projects/{SLUG}", headers=ADMIN, timeout=60
    ) as api:

        def follow(run: dict[str, Any], kind: str) -> None:
            deadline = time.monotonic() + 300
            while run["state"] in ("running", "waiting_confirm") and time.monotonic() < deadline:
                if stop.wait(0.2):
                    return
                response = api.get(f"/runs/{run['id']}")
                if not tally.count("deploy poll", response, 200):
                    return
                run = response.json()
            deploys[f"{kind} {run['state']}"] += 1
            if run["state"] != "success":
                tally.failed(kind, f"run ended {run['state']}")

        def one() -> None:
            n = next(releases)
            version = f"1.0.{n}"
            try:
                made = api.post(
                    "/releases", json={"version": version, "services": {SERVICE: version}}
                )
                if not tally.count("release", made, 201):
                    return
                run = api.post("/runs", json={"release": version, "environment": DEPLOY_ENV})
                if not tally.count("deploy", run, 202):
                    return
                follow(run.json(), "deploy")
                if n % 5 == 0 and not stop.is_set():
                    body = {"environment": DEPLOY_ENV, "service": SERVICE}
                    back = api.post("/rollbacks", json=body)
                    if tally.count("rollback", back, 202):
                        follow(back.json(), "rollback")
            except httpx.HTTPError as exc:
                tally.failed("deploy", type(exc).__name__)

        paced(stop, 3.0, one)


def rss_bytes(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) * 1024 if match else None


# -- the phases -------------------------------------------------------------------------------


@dataclass
class SteadyResult:
    seconds: float
    samples: list[tuple[float, int]]
    tally: Tally
    deploys: Counter[str]
    rss_warm: float
    rss_end: float

    @property
    def growth(self) -> float:
        return self.rss_end / self.rss_warm - 1 if self.rss_warm else 0.0


def migrated(url: str) -> str:
    """`url` with trimtab's schema in place."""
    store = Store(url)
    migrate.upgrade(store)
    store.dispose()
    return url


def steady(workdir: Path, seconds: float, warmup: float) -> SteadyResult:
    (workdir / "steady").mkdir(parents=True)
    url = migrated(f"sqlite:///{workdir / 'steady' / 'trimtab.db'}")
    server: LiveServer = start_server(url, workdir / "steady")
    tally, deploys = Tally(), Counter[str]()
    stop = threading.Event()
    samples: list[tuple[float, int]] = []
    try:
        shop = setup(server.url)
        workers: list[Callable[[], None]] = [
            lambda: ingest(shop, tally, stop),
            lambda: ingest(shop, tally, stop),
            lambda: evaluate(shop, tally, stop),
            lambda: change_flags(shop, tally, stop),
            lambda: dashboard(shop, tally, stop),
            lambda: deploy(shop, tally, stop, deploys),
        ]
        threads = [threading.Thread(target=w, daemon=True) for w in workers]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        next_report = started + 60
        while (elapsed := time.monotonic() - started) < seconds:
            rss = rss_bytes(server.process.pid)
            if rss is None or server.process.poll() is not None:
                tally.failed("server", "process exited")
                break
            samples.append((elapsed, rss))
            if time.monotonic() >= next_report:
                next_report += 60
                with tally.lock:
                    done, failed = sum(tally.requests.values()), sum(tally.errors.values())
                print(
                    f"  {elapsed / 60:4.1f} min: RSS {rss / 2**20:.0f} MB, {done:,} requests, "
                    f"{failed} errors",
                    flush=True,
                )
            time.sleep(min(RSS_EVERY, max(0.0, seconds - elapsed)))
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        total = time.monotonic() - started
    finally:
        stop.set()
        server.stop()
    log = server.log()
    if "Traceback" in log:
        tally.failed("server log", "traceback")
        print(log[-4000:])
    warm = [rss for t, rss in samples if warmup <= t < warmup + WINDOW] or [samples[0][1]]
    end = [rss for t, rss in samples if t >= samples[-1][0] - WINDOW]
    return SteadyResult(
        total, samples, tally, deploys, statistics.median(warm), statistics.median(end)
    )


def postgres_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    """A fresh, migrated PostgreSQL database beside `admin_url`, and its dropper."""
    admin = make_url(normalize_database_url(admin_url))
    name = f"trimtab_soak_{os.getpid()}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")

    def execute(sql: str) -> None:
        with engine.connect() as connection:
            connection.execute(text(sql))

    execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    execute(f'CREATE DATABASE "{name}"')
    url = migrated(admin.set(database=name).render_as_string(hide_password=False))

    def drop() -> None:
        execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()

    return url, drop


@dataclass
class CrashFigures:
    backend: str
    rounds: int
    events: int
    changes: int
    problems: list[str]
    errors: Counter[str]


def crash_rounds(workdir: Path, backend: str, rounds: int, seed: int) -> CrashFigures:
    drop: Callable[[], None] = lambda: None  # noqa: E731
    if backend == "sqlite":
        (workdir / "crash-sqlite").mkdir(parents=True)
        url = migrated(f"sqlite:///{workdir / 'crash-sqlite' / 'trimtab.db'}")
    else:
        url, drop = postgres_database(os.environ["TRIMTAB_TEST_POSTGRES_URL"])

    def report(number: int, result: crash.RoundResult) -> None:
        state = "ok" if not result.problems else "; ".join(result.problems)
        print(
            f"  {backend} round {number}: {result.seconds_of_load:.1f} s of load, "
            f"{result.events_acked} events and {result.changes_acked} changes acknowledged: "
            f"{state}",
            flush=True,
        )

    try:
        ledger, results = crash.run_rounds(
            url,
            workdir / f"crash-{backend}",
            rounds=rounds,
            seed=seed,
            load_seconds=(0.5, 8.0),
            report=report,
        )
    finally:
        drop()
    problems = [f"round {n}: {p}" for n, r in enumerate(results, 1) for p in r.problems]
    return CrashFigures(
        backend,
        len(results),
        len(ledger.acked_events),
        len(ledger.acked_changes),
        problems,
        ledger.errors,
    )


def table(result: SteadyResult, crashes: list[CrashFigures], args: argparse.Namespace) -> str:
    t = result.tally
    rows = [
        f"Command: `python bench/soak.py --seconds {args.seconds:.0f} --warmup {args.warmup:.0f} "
        f"--crash-rounds {args.crash_rounds} --seed {args.seed}`; load average "
        f"{args.load_before:.1f} before, {os.getloadavg()[0]:.1f} after (on {os.cpu_count()} "
        "cores).",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| steady phase | {result.seconds / 60:.1f} min, warm-up {args.warmup:.0f} s |",
        f"| RSS after warm-up / at the end | {result.rss_warm / 2**20:.1f} MB / "
        f"{result.rss_end / 2**20:.1f} MB |",
        f"| RSS growth (criterion < {MAX_GROWTH:.0%}) | {result.growth:+.1%} |",
        f"| RSS min / max over the run | {min(r for _, r in result.samples) / 2**20:.1f} MB / "
        f"{max(r for _, r in result.samples) / 2**20:.1f} MB |",
    ]
    for kind, count in sorted(t.requests.items()):
        rows.append(f"| {kind} requests | {count:,} ({count / result.seconds:.1f}/s) |")
    for kind, count in sorted(result.deploys.items()):
        rows.append(f"| {kind} runs | {count:,} |")
    rows.append(f"| 5xx responses | {sum(t.server_errors.values())} |")
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(t.errors.items())) or "none"
    rows.append(f"| errors | {errors} |")
    for c in crashes:
        state = "all there, store intact" if not c.problems else f"{len(c.problems)} problems"
        rows.append(
            f"| crash rounds, {c.backend} | {c.rounds} SIGKILLs; {c.events:,} events and "
            f"{c.changes:,} flag changes acknowledged: {state} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    env = os.environ.get
    parser.add_argument("--seconds", type=float, default=float(env("SOAK_SECONDS", "1800")))
    parser.add_argument("--warmup", type=float, default=float(env("SOAK_WARMUP", "120")))
    parser.add_argument("--crash-rounds", type=int, default=int(env("SOAK_CRASH_ROUNDS", "30")))
    parser.add_argument("--seed", type=int, default=int(env("SOAK_SEED", "9")))
    args = parser.parse_args()
    if args.warmup + 2 * WINDOW > args.seconds:
        parser.error("--seconds must leave a minute after the warm-up to compare RSS")
    args.load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="trimtab-soak-") as tmp:
        workdir = Path(tmp)
        print(f"steady phase: {args.seconds:.0f} s of mixed load (warm-up {args.warmup:.0f} s)")
        result = steady(workdir, args.seconds, args.warmup)
        backends = ["sqlite"] + (["postgres"] if env("TRIMTAB_TEST_POSTGRES_URL") else [])
        crashes = []
        for backend in backends if args.crash_rounds > 0 else []:
            print(f"crash rounds on {backend}: {args.crash_rounds}")
            crashes.append(crash_rounds(workdir, backend, args.crash_rounds, args.seed))
    print()
    print(table(result, crashes, args))
    failures = []
    if result.growth >= MAX_GROWTH:
        failures.append(f"RSS grew {result.growth:.1%} after the warm-up")
    if result.tally.server_errors:
        failures.append(f"5xx responses: {dict(result.tally.server_errors)}")
    if result.tally.errors:
        failures.append(f"errors: {dict(result.tally.errors)}")
        failures += [f"  first {kind}: {text}" for kind, text in result.tally.details.items()]
    for c in crashes:
        failures += [f"crash {c.backend} {p}" for p in c.problems]
        if c.errors:
            failures.append(f"crash {c.backend}: errors before a kill: {dict(c.errors)}")
    print()
    print("FAIL:\n  " + "\n  ".join(failures) if failures else "PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
