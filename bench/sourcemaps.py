"""Ingest cost of source-map mapping, in one run: the store path (prepare_event + the writer's
store_batch, batches of 100, on a temporary SQLite file) per event, for

- `python`: events with Python frames (nothing to map), with the mapping step in place;
- `python, mapping off`: the same events with `apply_source_maps` replaced by a no-op, the
  baseline the first is compared with (issue 12: within 10 %);
- `js, mapping off` / `js, no bundles`: browser events whose project has no upload, without and
  with the mapping step (one query per batch);
- `js, mapped`: browser events with a debug ID, mapped through an uploaded esbuild map
  (decoded once, then from the cache);

and the read path (`events.event_detail`, what the event page and API call) per event, for
events stored before their map: with no bundle in the project (the baseline), mapped when read
(a cold `ReadCache`), and read again (the cached mapping).

    .venv/bin/python bench/sourcemaps.py [--events 3000] [--rounds 5]

Rounds alternate the variants; the figure is each variant's median of rounds (microseconds
per event, process CPU time).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import statistics
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from trimtab.domain.reports import artifacts, events, ingest, js_mapping
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.store.db import Store
from trimtab.store.migrate import upgrade
from trimtab.store.models import Event

CASE = json.loads(
    (
        Path(__file__).resolve().parents[1] / "tests/cases/sourcemaps/esbuild_two_files.json"
    ).read_text()
)
URL = "https://shop.example/assets/app.min.js"
DEBUG_ID = "0b5a3c1e-8f4d-4b6e-9a2d-7c1e5f3a9b20"
BATCH = 100


def _python_event() -> dict[str, Any]:
    frames = [
        {"filename": f"app/m{i}.py", "module": f"app.m{i}", "function": f"f{i}", "lineno": i,
         "in_app": True}
        for i in range(8)
    ]  # fmt: skip
    return {
        "event_id": uuid.uuid4().hex,
        "platform": "python",
        "release": "shop@1",
        "exception": {
            "values": [{"type": "ValueError", "value": "x", "stacktrace": {"frames": frames}}]
        },
    }


def _js_event() -> dict[str, Any]:
    frames = [
        {"abs_path": URL, "filename": "/assets/app.min.js", "lineno": 1, "colno": c,
         "function": f, "in_app": True}
        for c, f in ((99, "o"), (106, None), (34, "t"))
    ]  # fmt: skip
    return {
        "event_id": uuid.uuid4().hex,
        "platform": "javascript",
        "release": "shop@1",
        "exception": {
            "values": [{"type": "Error", "value": "x", "stacktrace": {"frames": frames}}]
        },
        "debug_meta": {"images": [{"type": "sourcemap", "code_file": URL, "debug_id": DEBUG_ID}]},
    }


def _bundle() -> bytes:
    buffer = io.BytesIO()
    headers = {"debug-id": DEBUG_ID}
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.min.js", CASE["minified"])
        archive.writestr("app.min.js.map", orjson.dumps(CASE["map"]))
        files = {
            name: {"url": f"~/assets/{name}", "type": kind, "headers": headers}
            for name, kind in (("app.min.js", "minified_source"), ("app.min.js.map", "source_map"))
        }
        archive.writestr("manifest.json", orjson.dumps({"files": files}))
    return buffer.getvalue()


def _setup(root: Path) -> tuple[Store, int, int]:
    store = Store(f"sqlite:///{root / 'bench.db'}")
    upgrade(store)
    with store.write() as session:
        projects.ensure_organization(session, "trimtab")
        plain = projects.create_project(session, SYSTEM, "plain").id
        mapped = projects.create_project(session, SYSTEM, "mapped").id
    _upload(store, "mapped")
    return store, plain, mapped


def _upload(store: Store, project: str) -> None:
    data = _bundle()
    checksum = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    with store.write() as session:
        artifacts.store_chunks(session, [(checksum, data)])
    with store.write() as session:
        artifacts.assemble_bundle(session, SYSTEM, [project], checksum, [checksum])


def _run(store: Store, project_id: int, make: Callable[[], dict[str, Any]], n: int) -> float:
    events = [make() for _ in range(n)]
    payloads = [orjson.dumps(e) for e in events]
    now = datetime.now(UTC)
    start = time.process_time()
    for i in range(0, n, BATCH):
        jobs = [
            ingest.IngestJob(project_id, ingest.prepare_event(project_id, e, p, now))
            for e, p in zip(events[i : i + BATCH], payloads[i : i + BATCH], strict=True)
        ]
        with store.write() as session:
            ingest.store_batch(session, jobs)
    return (time.process_time() - start) / n * 1e6


def _reads(store: Store, n: int, rounds: int) -> dict[str, float]:
    """event_detail per event (µs, process CPU): no bundle, mapped when read, cached."""
    with store.write() as session:
        late = projects.create_project(session, SYSTEM, "late").id
    _run(store, late, _js_event, n)  # stored before the map: unmapped
    with store.read() as session:
        stored = list(session.scalars(select(Event).where(Event.project_id == late)))

    def read_all() -> float:
        start = time.process_time()
        with store.read() as session:
            for event in stored:
                events.event_detail(session, event)
        return (time.process_time() - start) / len(stored) * 1e6

    baseline = statistics.median(read_all() for _ in range(rounds))
    _upload(store, "late")
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(rounds):
        js_mapping.READ_CACHE.clear()
        cold.append(read_all())
        warm.append(read_all())
    return {
        "read, no bundle": baseline,
        "read, mapped when read": statistics.median(cold),
        "read, mapping cached": statistics.median(warm),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, plain, mapped = _setup(Path(tmp))
        real = ingest.apply_source_maps
        results: dict[str, list[float]] = {}

        def off(make: Callable[[], dict[str, Any]]) -> float:
            ingest.apply_source_maps = lambda session, events, cache=None: 0  # type: ignore[assignment]
            try:
                return _run(store, plain, make, args.events)
            finally:
                ingest.apply_source_maps = real

        variants: dict[str, Callable[[], float]] = {
            "python, mapping off": lambda: off(_python_event),
            "python": lambda: _run(store, plain, _python_event, args.events),
            "js, mapping off": lambda: off(_js_event),
            "js, no bundles": lambda: _run(store, plain, _js_event, args.events),
            "js, mapped": lambda: _run(store, mapped, _js_event, args.events),
        }
        for r in range(args.rounds):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in order:
                results.setdefault(name, []).append(variants[name]())
        reads = _reads(store, min(args.events, 1000), args.rounds)
        store.dispose()
    print(f"decoded maps: {js_mapping.CACHE.decoded}")
    for name, values in results.items():
        median = statistics.median(values)
        base = statistics.median(results[name.split(",")[0] + ", mapping off"])
        print(f"{name:22} {median:6.0f} us/event  {median / base:.2f}x of mapping off")
    for name, value in reads.items():
        ratio = value / reads["read, no bundle"]
        print(f"{name:22} {value:6.0f} us/event  {ratio:.2f}x of no bundle")


if __name__ == "__main__":
    main()
