"""Flag benchmarks: local evaluation, flip propagation, OFREP throughput.

    .venv/bin/python bench/flags.py            # print the figures
    .venv/bin/python bench/flags.py --write    # and put them in docs/benchmarks.md

1. Local evaluation, in one run, on the same three flags and the same users:
   trimtab's `FlagClient.bool_value` (the public SDK call, counting included), UnleashClient
   (bootstrapped offline from `core.unleash.translate_flags`, so it holds the same rules) and
   GrowthBook's Python SDK (`set_attributes` + `is_on`: how GrowthBook evaluates for a user).
   Best of several repeats, in ns per evaluation.
2. Flip -> SDK: a real `trimtab serve` process on loopback and a real FlagClient on its SSE
   stream; 200 flips through the API, each timed from sending the flip to the SDK holding it.
3. OFREP: single-flag evaluations per second against one server process, from a load
   generator in another process (a minimal keep-alive HTTP/1.1 client, so the generator is
   not the bottleneck), bounded in requests and time.

    .venv/bin/python bench/flags.py --nodes 2 --postgres URL [--write]

   Flip through node A -> SDK on node B: two `trimtab serve` processes on one fresh PostgreSQL
   database (made on the server at URL, dropped after), flips sent to node A's API, a
   FlagClient streaming from node B; the change crosses via PostgreSQL LISTEN/NOTIFY.

Needs the bench extra: `pip install -e '.[dev,bench]'` (GrowthBook).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "tt_bench_admin_token_0123456789abcdef"
USERS = 1000
REPEATS = 5

FLAGS: list[dict[str, Any]] = [
    {"key": "kill-switch", "enabled": True},
    {
        "key": "rollout-25",
        "enabled": True,
        "default_variant": "off",
        "rules": [{"id": "quarter", "serve": {"rollout": {"percentage": 25, "variant": "on"}}}],
    },
    {
        "key": "asia-50",
        "enabled": True,
        "default_variant": "off",
        "rules": [
            {
                "id": "asia",
                "constraints": [{"attribute": "country", "operator": "in", "values": ["KR", "JP"]}],
                "serve": {"rollout": {"percentage": 50, "variant": "on"}},
            }
        ],
    },
]
LABELS = {
    "kill-switch": "(a) kill switch",
    "rollout-25": "(b) sticky 25% rollout",
    "asia-50": "(c) country in [KR, JP] + 50%",
}
GROWTHBOOK_FEATURES = {
    "kill-switch": {"defaultValue": True},
    "rollout-25": {
        "defaultValue": False,
        "rules": [{"force": True, "coverage": 0.25, "hashAttribute": "id"}],
    },
    "asia-50": {
        "defaultValue": False,
        "rules": [
            {
                "condition": {"country": {"$in": ["KR", "JP"]}},
                "force": True,
                "coverage": 0.5,
                "hashAttribute": "id",
            }
        ],
    },
}
COUNTRIES = ["KR", "JP", "US", "DE", "FR", "BR"]


def contexts() -> list[dict[str, Any]]:
    return [
        {"targetingKey": f"user-{i}", "country": COUNTRIES[i % len(COUNTRIES)]}
        for i in range(USERS)
    ]


def time_per_call(
    fn: Callable[[dict[str, Any]], Any], users: list[dict[str, Any]], n: int
) -> float:
    """Best-of-REPEATS ns per call of fn over `n` calls cycling through `users`."""
    rounds = max(1, n // len(users))
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter_ns()
        for _ in range(rounds):
            for user in users:
                fn(user)
        best = min(best, (time.perf_counter_ns() - started) / (rounds * len(users)))
    return best


# --- 1. local evaluation ---------------------------------------------------------------------


def trimtab_client(directory: Path) -> Any:
    from trimtab.sdk import FlagClient

    path = directory / "bootstrap.json"
    path.write_text(json.dumps({"etag": '"bench"', "flags": FLAGS, "segments": {}}))
    # Nothing listens on port 9: the client runs from the bootstrap file, as offline as the others.
    return FlagClient("http://127.0.0.1:9", "tt_bench", bootstrap_path=path, start=False)


def unleash_client() -> Any:
    from UnleashClient import UnleashClient
    from UnleashClient.cache import BaseCache
    from UnleashClient.constants import FEATURES_URL

    from trimtab.core.unleash import translate_flags

    features = translate_flags(FLAGS).features

    class Bootstrapped(BaseCache):  # type: ignore[misc]
        def __init__(self) -> None:
            self._data: dict[str, Any] = {FEATURES_URL: json.dumps(features)}
            self.bootstrapped = True

        def set(self, key: str, value: Any) -> None:
            self._data[key] = value

        def mset(self, data: dict[str, Any]) -> None:
            self._data.update(data)

        def get(self, key: str, default: Any = None) -> Any:
            return self._data.get(key, default)

        def exists(self, key: str) -> bool:
            return key in self._data

        def destroy(self) -> None:
            self._data.clear()

    return UnleashClient(
        url="http://127.0.0.1:9/",
        app_name="trimtab-bench",
        disable_metrics=True,
        disable_registration=True,
        cache=Bootstrapped(),
    )


def local_evaluation() -> list[dict[str, Any]]:
    from growthbook import GrowthBook

    from trimtab.core.evaluation import compile_flags, evaluate
    from trimtab.core.unleash import context_to_unleash

    users = contexts()
    unleash_users = [context_to_unleash(u) for u in users]
    gb_users = [{"id": u["targetingKey"], "country": u["country"]} for u in users]
    with tempfile.TemporaryDirectory() as tmp:
        client = trimtab_client(Path(tmp))
        unleash = unleash_client()
        growthbook = GrowthBook(features=GROWTHBOOK_FEATURES)
        compiled = compile_flags(FLAGS)
        rows = []
        for flag in FLAGS:
            key = flag["key"]
            core_flag = compiled[key]

            def gb_eval(attributes: dict[str, Any], key: str = key) -> bool:
                growthbook.set_attributes(attributes)
                return bool(growthbook.is_on(key))

            shares = {
                "trimtab": sum(client.bool_value(key, False, u) for u in users) / USERS,
                "unleash": sum(unleash.is_enabled(key, u) for u in unleash_users) / USERS,
                "growthbook": sum(gb_eval(a) for a in gb_users) / USERS,
            }
            # Same rules and same hashing: Unleash must agree with trimtab user by user.
            agree = sum(
                client.bool_value(key, False, u) == unleash.is_enabled(key, uu)
                for u, uu in zip(users, unleash_users, strict=True)
            )
            row = {
                "flag": LABELS[key],
                "trimtab_ns": time_per_call(
                    lambda u, k=key: client.bool_value(k, False, u), users, 300_000
                ),
                "core_ns": time_per_call(lambda u, f=core_flag: evaluate(f, u), users, 300_000),
                "growthbook_ns": time_per_call(gb_eval, gb_users, 30_000),
                "unleash_ns": time_per_call(
                    lambda u, k=key: unleash.is_enabled(k, u), unleash_users, 10_000
                ),
                "on_share": shares,
                "unleash_agreement": agree / USERS,
            }
            row["x_growthbook"] = row["growthbook_ns"] / row["trimtab_ns"]
            row["x_unleash"] = row["unleash_ns"] / row["trimtab_ns"]
            rows.append(row)

    return rows


# --- a real server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, directory: Path, database_url: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        directory.mkdir(parents=True, exist_ok=True)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TRIMTAB_")},
            "TRIMTAB_DATABASE_URL": database_url or f"sqlite:///{directory / 'bench.db'}",
            "TRIMTAB_DATA_DIR": str(directory),
            "TRIMTAB_ADMIN_TOKEN": ADMIN_TOKEN,
            "TRIMTAB_ADMIN_PASSWORD": "bench password 123",
        }
        self.log = (directory / "server.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trimtab",
                "serve",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError("trimtab serve did not start")
        self.admin = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
        )

    def setup(self) -> str:
        """Project `bench` with the bench flags in production; returns an sdk-server token."""
        self.admin.post(
            "/api/v1/projects", json={"slug": "bench", "environments": ["production"]}
        ).raise_for_status()
        for flag in [*FLAGS, {"key": "flip", "enabled": False}]:
            config = {k: v for k, v in flag.items() if k != "key"}
            body = {"key": flag["key"], "environments": {"production": config}}
            self.admin.post("/api/v1/projects/bench/flags", json=body).raise_for_status()
        body = {
            "name": "bench",
            "scopes": ["sdk-server"],
            "project": "bench",
            "environment": "production",
        }
        response = self.admin.post("/api/v1/tokens", json=body)
        response.raise_for_status()
        return str(response.json()["token"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


# --- 2. propagation --------------------------------------------------------------------------


def propagation(
    server: Server, secret: str, flips: int = 200, sdk_on: Server | None = None
) -> dict[str, float]:
    """Flips through `server`'s API, timed until a FlagClient streaming from `sdk_on` (the same
    server unless given: another node on the same database) holds each."""
    from trimtab.sdk import FlagClient

    arrived = threading.Event()
    expected = {"value": False}
    client = FlagClient((sdk_on or server).url, secret, poll_interval=3600, metrics_interval=0)

    def changed() -> None:
        if client.bool_value("flip", not expected["value"]) is expected["value"]:
            arrived.set()

    client.on_change(changed)
    try:
        if not client.wait_until_ready(10):
            raise RuntimeError("the SDK got no rules")
        deadline = time.monotonic() + 10
        while not client.stream_connected and time.monotonic() < deadline:
            time.sleep(0.01)
        latencies = []
        for i in range(flips):
            expected["value"] = i % 2 == 0
            arrived.clear()
            action = "on" if expected["value"] else "off"
            started = time.perf_counter()
            server.admin.post(
                f"/api/v1/projects/bench/flags/flip/environments/production/{action}", json={}
            ).raise_for_status()
            if not arrived.wait(5):
                raise RuntimeError(f"flip {i} did not reach the SDK in 5 s")
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)
    finally:
        client.close()
    latencies.sort()
    return {
        "flips": flips,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max_ms": latencies[-1],
    }


# --- 3. OFREP throughput ---------------------------------------------------------------------


async def _load(
    url: str, secret: str, seconds: float, limit: int, connections: int, target: str = "ofrep"
) -> dict[str, Any]:
    """A minimal keep-alive HTTP/1.1 client: `connections` loops of request -> response.
    `target` "healthz" sends GET /healthz instead: the server's floor cost per request;
    "sdk-flags" fetches the whole rule set as trimtab's SDKs do (GET /api/v1/sdk/flags)."""
    host, port = url.removeprefix("http://").split(":")
    sent = 0
    ok = 0
    errors = 0
    deadline = time.monotonic() + seconds

    async def worker(index: int) -> None:
        nonlocal sent, ok, errors
        reader, writer = await asyncio.open_connection(host, int(port))
        bodies = [
            json.dumps(
                {"context": {"targetingKey": f"user-{index}-{j}", "country": COUNTRIES[j % 6]}}
            ).encode()
            for j in range(50)
        ]
        requests = [
            (
                f"POST /ofrep/v1/evaluate/flags/asia-50 HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {secret}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
            for body in bodies
        ]
        if target == "healthz":
            requests = [f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()]
        elif target == "sdk-flags":
            requests = [
                f"GET /api/v1/sdk/flags HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {secret}\r\n\r\n".encode()
            ]
        j = 0
        while sent < limit and time.monotonic() < deadline:
            sent += 1
            writer.write(requests[j % len(requests)])
            j += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 200"):
                ok += 1
            else:
                errors += 1
        writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    elapsed = time.monotonic() - started
    return {"requests": ok + errors, "ok": ok, "errors": errors, "seconds": elapsed}


def ofrep_throughput(
    server: Server, secret: str, seconds: float = 10.0, limit: int = 200_000, target: str = "ofrep"
) -> dict[str, Any]:
    # Warm up (token cache, compiled rule set), then measure from a separate process.
    for _ in range(50):
        httpx.post(
            f"{server.url}/ofrep/v1/evaluate/flags/asia-50",
            json={"context": {"targetingKey": "warm", "country": "KR"}},
            headers={"Authorization": f"Bearer {secret}"},
        )
    args = [sys.executable, __file__, "--load", server.url, secret, str(seconds), str(limit)]
    args += ["--target", target]
    output = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=True)
    result: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    result["per_second"] = result["ok"] / result["seconds"]
    return result


# --- report ----------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def markdown(local: list[dict[str, Any]], flips: dict[str, float], ofrep: dict[str, Any]) -> str:
    m = machine()
    lines = [
        "<!-- bench:flags:start -->",
        "## Flags (`bench/flags.py`)",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, {m['date']}. "
        "Shared with other work while measuring: treat small differences as noise.",
        "",
        "### Local evaluation (ns per evaluation, best of 5, 1,000 users)",
        "",
        "| flag | trimtab SDK | (core alone) | GrowthBook | UnleashClient "
        "| GrowthBook / trimtab | Unleash / trimtab |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in local:
        lines.append(
            f"| {row['flag']} | {row['trimtab_ns']:.0f} | {row['core_ns']:.0f} | "
            f"{row['growthbook_ns']:.0f} | {row['unleash_ns']:.0f} | "
            f"{row['x_growthbook']:.1f}x | {row['x_unleash']:.1f}x |"
        )
    lines += [
        "",
        "trimtab: `FlagClient.bool_value` from a bootstrap file (evaluation counting included); "
        "UnleashClient bootstrapped offline with the same rules (it agreed with trimtab for "
        + ", ".join(f"{r['unleash_agreement']:.0%}" for r in local)
        + " of users); GrowthBook: `set_attributes` + `is_on`, its own hashing (share served "
        + ", ".join(f"{r['on_share']['growthbook']:.0%}" for r in local)
        + " vs trimtab "
        + ", ".join(f"{r['on_share']['trimtab']:.0%}" for r in local)
        + ").",
        "Targets: <= 1,000 ns kill switch, <= 2,000 ns constraint + rollout, >= 3x GrowthBook, "
        ">= 20x UnleashClient.",
        "",
        "### Flip -> SDK propagation",
        "",
        f"{flips['flips']:.0f} flips through the API of one `trimtab serve` process (SQLite) on "
        "loopback, each timed from sending the flip until a FlagClient on the SSE stream holds "
        f"it: **p50 {flips['p50_ms']:.1f} ms, p99 {flips['p99_ms']:.1f} ms** "
        f"(max {flips['max_ms']:.1f} ms). "
        "Targets: p50 <= 50 ms, p99 <= 250 ms.",
        "",
        "### OFREP throughput",
        "",
        f"`POST /ofrep/v1/evaluate/flags/asia-50` against one server process, 16 keep-alive "
        f"connections from a load generator in another process on the same machine: "
        f"**{ofrep['per_second']:,.0f} evaluations/s** ({ofrep['ok']:,} OK, "
        f"{ofrep['errors']} errors in {ofrep['seconds']:.1f} s). Target: >= 5,000/s. "
        f"For scale, the same load generator gets {ofrep['healthz_per_second']:,.0f} requests/s "
        "from `GET /healthz` (the app's simplest FastAPI route, sync, no auth) on that process: "
        "the two cores, shared with the load generator and other work, are the limit here. "
        f"Whole rule sets as trimtab's SDKs fetch them (`GET /api/v1/sdk/flags`, 200 with the "
        f"document): {ofrep['sdk_flags_per_second']:,.0f}/s.",
        "<!-- bench:flags:end -->",
    ]
    return "\n".join(lines)


def nodes_markdown(flips: dict[str, float], load: tuple[float, float, float]) -> str:
    m = machine()
    return "\n".join(
        [
            "<!-- bench:flags-nodes:start -->",
            "## Flags across two nodes (`bench/flags.py --nodes 2`)",
            "",
            f"Machine: {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, {m['date']}; "
            f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) "
            "when the run started, the machine shared with other work.",
            "",
            f"{flips['flips']:.0f} flips through the API of node A, each timed until a "
            "FlagClient on the SSE stream of node B holds it: two `trimtab serve` processes on "
            "one PostgreSQL database on the same machine, the change crossing through "
            f"PostgreSQL LISTEN/NOTIFY: **p50 {flips['p50_ms']:.1f} ms, "
            f"p99 {flips['p99_ms']:.1f} ms** (max {flips['max_ms']:.1f} ms). "
            "Target: p99 < 1 s. For scale, the same flips with the FlagClient on node A "
            f"itself, same run: p50 {flips['same_node_p50_ms']:.1f} ms, "
            f"p99 {flips['same_node_p99_ms']:.1f} ms. See docs/scaling.md.",
            "<!-- bench:flags-nodes:end -->",
        ]
    )


def two_nodes(postgres_url: str, flips: int) -> dict[str, float]:
    """Flip -> SDK across two server processes on a fresh database made on `postgres_url`."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from trimtab.store.db import normalize_database_url

    admin_url = normalize_database_url(postgres_url)
    name = f"trimtab_bench_{os.getpid()}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    servers: list[Server] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # One after the other: the first migrates the fresh database.
            servers.append(Server(Path(tmp) / "a", url))
            servers.append(Server(Path(tmp) / "b", url))
            secret = servers[0].setup()
            across = propagation(servers[0], secret, flips, sdk_on=servers[1])
            # The same flips with the SDK on node A itself, under the same load, for scale.
            same = propagation(servers[0], secret, flips)
            across["same_node_p50_ms"] = same["p50_ms"]
            across["same_node_p99_ms"] = same["p99_ms"]
            return across
    finally:
        for server in servers:
            server.stop()
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def write_docs(section: str, marker: str = "flags") -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nFigures from `make bench`.\n"
    pattern = re.compile(rf"<!-- bench:{marker}:start -->.*?<!-- bench:{marker}:end -->", re.S)
    text = pattern.sub(section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    path.write_text(text.rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--flips", type=int, default=200)
    parser.add_argument("--ofrep-seconds", type=float, default=10.0)
    parser.add_argument("--load", nargs=4, metavar=("URL", "TOKEN", "SECONDS", "LIMIT"))
    parser.add_argument("--target", default="ofrep", choices=["ofrep", "healthz", "sdk-flags"])
    parser.add_argument(
        "--nodes", type=int, default=1, choices=[1, 2], help="2: flip via node A, SDK on node B"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TRIMTAB_TEST_POSTGRES_URL"),
        help="PostgreSQL server for --nodes 2 (a fresh database is made there and dropped)",
    )
    args = parser.parse_args()
    if args.nodes == 2:
        if not args.postgres:
            parser.error("--nodes 2 needs --postgres URL (or TRIMTAB_TEST_POSTGRES_URL)")
        load = os.getloadavg()
        flips = two_nodes(args.postgres, args.flips)
        print(f"A -> B propagation: p50 {flips['p50_ms']:.1f} ms  p99 {flips['p99_ms']:.1f} ms")
        print(
            f"A -> A propagation: p50 {flips['same_node_p50_ms']:.1f} ms  "
            f"p99 {flips['same_node_p99_ms']:.1f} ms"
        )
        section = nodes_markdown(flips, load)
        if args.write:
            write_docs(section, "flags-nodes")
            print("wrote docs/benchmarks.md")
        else:
            print(section)
        return
    if args.load:
        url, secret, seconds, limit = args.load
        load = _load(url, secret, float(seconds), int(limit), 16, args.target)
        print(json.dumps(asyncio.run(load)))
        return
    local = local_evaluation()
    for row in local:
        print(
            f"{row['flag']:32} trimtab {row['trimtab_ns']:7.0f} ns (core {row['core_ns']:5.0f})"
            f"  growthbook {row['growthbook_ns']:7.0f} ns ({row['x_growthbook']:.1f}x)"
            f"  unleash {row['unleash_ns']:7.0f} ns ({row['x_unleash']:.1f}x)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        try:
            secret = server.setup()
            flips = propagation(server, secret, args.flips)
            print(f"propagation: p50 {flips['p50_ms']:.1f} ms  p99 {flips['p99_ms']:.1f} ms")
            ofrep = ofrep_throughput(server, secret, args.ofrep_seconds)
            print(f"OFREP: {ofrep['per_second']:,.0f} evaluations/s ({ofrep['errors']} errors)")
            floor = ofrep_throughput(server, secret, args.ofrep_seconds / 2, target="healthz")
            ofrep["healthz_per_second"] = floor["per_second"]
            print(f"GET /healthz, same load: {floor['per_second']:,.0f}/s")
            rules = ofrep_throughput(server, secret, args.ofrep_seconds / 2, target="sdk-flags")
            ofrep["sdk_flags_per_second"] = rules["per_second"]
            print(f"GET /api/v1/sdk/flags, same load: {rules['per_second']:,.0f}/s")
        finally:
            server.stop()
    section = markdown(local, flips, ofrep)
    if args.write:
        write_docs(section)
        print("wrote docs/benchmarks.md")
    else:
        print(section)


if __name__ == "__main__":
    main()
