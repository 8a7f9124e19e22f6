"""Events mapped when read (`js_mapping.map_stored_event`): an event stored before its map is
mapped once the map is uploaded, the answer is cached per event and bundles state, and a new
upload is seen at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from tests.domain.test_artifacts import _bundle, _upload, shop  # noqa: F401 (fixture)
from trimtab.domain.reports.js_mapping import MapCache, ReadCache, map_stored_event
from trimtab.store.db import Store

CASE = json.loads(
    (
        Path(__file__).resolve().parents[1] / "cases" / "sourcemaps" / "esbuild_two_files.json"
    ).read_text()
)
URL = "https://shop.example/assets/app.min.js"
DEBUG_ID = "c0ffee00-0000-4000-8000-000000000001"


def _event(debug_id: str = DEBUG_ID) -> dict[str, Any]:
    frame = {"abs_path": URL, "filename": "/assets/app.min.js", "lineno": 1, "colno": 34}
    return {
        "platform": "javascript",
        "exception": {
            "values": [{"type": "Error", "stacktrace": {"frames": [frame | {"function": "t"}]}}]
        },
        "debug_meta": {"images": [{"type": "sourcemap", "code_file": URL, "debug_id": debug_id}]},
    }


def _upload_build(store: Store, debug_id: str, marker: str = "") -> None:
    headers = {"debug-id": debug_id, "sourcemap": "app.min.js.map"}
    files = {
        "files/_/_/app.min.js": ("~/assets/app.min.js", CASE["minified"].encode(), headers),
        "files/_/_/app.min.js.map": (
            "~/assets/app.min.js.map",
            orjson.dumps(CASE["map"]) + marker.encode(),
            {"debug-id": debug_id},
        ),
    }
    _upload(store, _bundle(files))


def _read(store: Store, project_id: int, event: dict[str, Any], cache: ReadCache) -> Any:
    with store.read() as session:
        return map_stored_event(
            session, project_id, "e1" * 16, event, None, None, MapCache(), cache
        )


def _top(mapped: dict[str, Any]) -> dict[str, Any]:
    frame: dict[str, Any] = mapped["exception"]["values"][0]["stacktrace"]["frames"][-1]
    return frame


def test_map_stored_event__no_bundle__none(store: Store, shop: int) -> None:  # noqa: F811
    assert _read(store, shop, _event(), ReadCache()) is None


def test_map_stored_event__map_uploaded_after__mapped_and_cached(
    store: Store,
    shop: int,  # noqa: F811
) -> None:
    cache = ReadCache()
    _upload_build(store, "0" * 8 + DEBUG_ID[8:])  # another build: this event's is not there
    unmapped = _read(store, shop, _event(), cache)
    assert unmapped is not None
    assert (
        _top(unmapped)["data"]["sourcemap_error"] == f"no uploaded bundle has debug ID {DEBUG_ID}"
    )
    assert _read(store, shop, _event(), cache) == unmapped and cache.mapped == 1, "cached"

    _upload_build(store, DEBUG_ID, marker=" ")  # its map arrives: the next read sees it
    mapped = _read(store, shop, _event(), cache)
    assert cache.mapped == 2
    top = _top(mapped)
    assert (top["filename"], top["lineno"], top["function"]) == ("src/seats.js", 4, "reserveSeat")
    assert "sourcemap_error" not in top["data"]
    assert _read(store, shop, _event(), cache) == mapped and cache.mapped == 2


def test_read_cache__past_its_bytes__oldest_dropped() -> None:
    cache = ReadCache(max_bytes=350)
    for i in range(3):
        cache.put(("k", i), b"x" * 100)
    assert cache.get(("k", 0)) == (False, None)
    assert cache.get(("k", 2)) == (True, b"x" * 100)


def test_store_batch__payload_compressed_before_the_mapping__mapped_one_is_stored(
    store: Store,
    shop: int,  # noqa: F811
) -> None:
    # The writer compresses payloads before its transaction (`compress_payloads`); mapping,
    # inside it, changes the payload: what is stored must be the mapped event.
    from datetime import UTC, datetime

    from sqlalchemy import select

    from trimtab.domain.reports.ingest import (
        IngestJob,
        compress_payloads,
        prepare_event,
        store_batch,
    )
    from trimtab.store.models import Event
    from trimtab.store.payloads import decompress_payload

    _upload_build(store, DEBUG_ID)
    event = _event()
    job = IngestJob(shop)
    job.event = prepare_event(shop, event, orjson.dumps(event), datetime.now(UTC))
    compress_payloads([job])
    assert job.event.stored_payload is not None
    with store.write() as session:
        store_batch(session, [job])
    with store.read() as session:
        stored = session.scalars(select(Event.payload).where(Event.project_id == shop)).one()
    frame = _top(orjson.loads(decompress_payload(stored)))
    assert frame["function"] != "t" and frame["lineno"] != 1, frame
