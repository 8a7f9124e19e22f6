"""Map an event's minified JavaScript frames at ingest, through the project's uploaded maps.

The ingest writer calls `apply_source_maps` on a batch before storing it, in its transaction
(the bundles are in the same database). Only events that `prepare_event` marked as having
JavaScript frames are looked at; a project with no bundle costs one indexed query per batch,
and only an event of a project with bundles is parsed again, so ingest of other events is
unchanged. For each frame (`core.js_frames`): the map of its debug ID first, else the map of
its URL among the bundles of the event's release and dist. A mapped event is stored mapped
(the minified frames kept beside: `raw_stacktrace` and each frame's `data.minified`) and
grouped again on the mapped frames, so one bug is one issue across builds whose minified
names differ. An unmapped frame keeps `data.sourcemap_error`, the reason.

An event stored before its map was uploaded is mapped when read (`map_stored_event`, for the
event page and API), never stored again nor regrouped; the result is cached per event and
bundles state (`ReadCache`).

Decoded maps are cached per process in a bounded LRU (by decoded JSON size), keyed by the
blob's sha1: content-addressed, so an entry can never be stale (a blob id could be reused after
a restore, or by another database in the same process).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trimtab.core.event_fields import EventFields
from trimtab.core.grouping import GroupingResult, group_event
from trimtab.core.js_frames import MapSource, js_frame_count, map_event
from trimtab.core.sourcemaps import SourceMap, SourceMapError, parse_source_map
from trimtab.domain.errors import NotFound
from trimtab.domain.reports.artifacts import bundle_url_candidates, map_url_for, read_blob
from trimtab.store.models import ArtifactBundle, ArtifactFile, SourceBlob


class Mappable(Protocol):
    """What the writer's prepared event (`ingest.PreparedEvent`) offers this module."""

    project_id: int
    payload: bytes
    fields: EventFields
    grouping: GroupingResult
    has_js_frames: bool
    stored_payload: bytes | None  # the payload compressed ahead; cleared when mapping changes it


__all__ = [
    "MapCache",
    "Mappable",
    "ReadCache",
    "apply_source_maps",
    "has_bundles",
    "map_stored_event",
]

_MINIFIED_KINDS = ("minified_source", "indexed_ram_bundle")


@dataclass(frozen=True, slots=True)
class _Found:
    row: ArtifactFile
    checksum: str  # of its blob


class MapCache:
    """Decoded maps and minified files by sha1, least recently used out past `max_bytes`."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024, max_entries: int = 256) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._items: OrderedDict[tuple[str, str], tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.decoded = 0  # how many maps were decoded (tests and benchmarks read it)
        # (project, debug ID) -> its map and minified file: a debug ID names one build's
        # content, so a found pair stays right; only what was found is kept (a map uploaded
        # later must be seen), and a pair whose blob is gone is dropped when read.
        self._by_debug_id: OrderedDict[tuple[int, str], tuple[_Found, _Found | None]] = (
            OrderedDict()
        )

    def _get(self, key: tuple[str, str]) -> Any:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found[0] if found is not None else None

    def _put(self, key: tuple[str, str], value: Any, size: int) -> None:
        with self._lock:
            self._items[key] = (value, size)
            self._bytes += size
            while self._items and (
                self._bytes > self.max_bytes or len(self._items) > self.max_entries
            ):
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def found_by_debug_id(
        self, project_id: int, debug_id: str
    ) -> tuple[_Found, _Found | None] | None:
        with self._lock:
            return self._by_debug_id.get((project_id, debug_id))

    def remember_debug_id(
        self, project_id: int, debug_id: str, found: tuple[_Found, _Found | None] | None
    ) -> None:
        with self._lock:
            if found is None:
                self._by_debug_id.pop((project_id, debug_id), None)
                return
            self._by_debug_id[(project_id, debug_id)] = found
            while len(self._by_debug_id) > self.max_entries * 16:
                self._by_debug_id.popitem(last=False)

    def source_map(self, session: Session, file: _Found) -> SourceMap | str:
        found = self._get(("map", file.checksum))
        if found is None:
            data = read_blob(session, file.row.blob_id)
            try:
                found = parse_source_map(data)
                self.decoded += 1
            except SourceMapError as exc:
                found = f"the source map cannot be read: {exc}"
            self._put(("map", file.checksum), found, len(data))
        return found  # type: ignore[no-any-return]

    def minified_lines(self, session: Session, file: _Found) -> list[str]:
        found = self._get(("min", file.checksum))
        if found is None:
            data = read_blob(session, file.row.blob_id)
            found = data.decode("utf-8", "replace").splitlines()
            self._put(("min", file.checksum), found, len(data))
        return found  # type: ignore[no-any-return]


CACHE = MapCache()


class _Resolver:
    """Answers `core.js_frames` for one event: (debug ID, abs_path) -> MapSource or why not."""

    def __init__(
        self,
        session: Session,
        project_id: int,
        release: str | None,
        dist: str | None,
        cache: MapCache,
    ) -> None:
        self.session = session
        self.project_id = project_id
        self.release = release
        self.dist = dist
        self.cache = cache

    def __call__(self, debug_id: str | None, abs_path: str) -> MapSource | str:
        return self._resolve(debug_id, abs_path)  # map_event asks once per file

    def _files(self, *conditions: Any) -> list[_Found]:
        query = (
            select(ArtifactFile, SourceBlob.checksum)
            .join(SourceBlob, SourceBlob.id == ArtifactFile.blob_id)
            .where(ArtifactFile.project_id == self.project_id, *conditions)
            .order_by(ArtifactFile.id.desc())
            .limit(20)
        )
        return [_Found(row, checksum) for row, checksum in self.session.execute(query)]

    def _resolve(self, debug_id: str | None, abs_path: str) -> MapSource | str:
        if debug_id is not None:
            known = self.cache.found_by_debug_id(self.project_id, debug_id)
            if known is not None:
                try:
                    return self._source(*known, "debug_id")
                except NotFound:  # pruned since: look again
                    self.cache.remember_debug_id(self.project_id, debug_id, None)
            files = self._files(ArtifactFile.debug_id == debug_id)
            maps = [f for f in files if f.row.kind == "source_map"]
            if maps:
                minified = next((f for f in files if f.row.kind in _MINIFIED_KINDS), None)
                self.cache.remember_debug_id(self.project_id, debug_id, (maps[0], minified))
                return self._source(maps[0], minified, "debug_id")
        by_release = self._by_release(abs_path)
        if isinstance(by_release, MapSource):
            return by_release
        if debug_id is not None:
            return f"no uploaded bundle has debug ID {debug_id}"
        return by_release

    def _by_release(self, abs_path: str) -> MapSource | str:
        if self.release is None:
            return "the frame has no debug ID and the event no release"
        bundles = select(ArtifactBundle.id).where(
            ArtifactBundle.project_id == self.project_id,
            ArtifactBundle.release == self.release,
            ArtifactBundle.dist.is_(None)
            if self.dist is None
            else ArtifactBundle.dist == self.dist,
        )
        candidates = bundle_url_candidates(abs_path)
        minified = self._files(
            ArtifactFile.bundle_id.in_(bundles),
            ArtifactFile.url.in_(candidates),
            ArtifactFile.kind != "source_map",
        )
        if minified:
            first = minified[0].row
            wanted = bundle_url_candidates(map_url_for(first.url, first.sourcemap))
        else:
            wanted = [c + ".map" for c in candidates]
        maps = self._files(
            ArtifactFile.bundle_id.in_(bundles),
            ArtifactFile.url.in_(wanted),
            ArtifactFile.kind == "source_map",
        )
        if not maps:
            dist = f", dist {self.dist}" if self.dist else ""
            return f"no source map for {abs_path[:200]} in release {self.release}{dist}"
        return self._source(maps[0], minified[0] if minified else None, "release")

    def _source(self, map_file: _Found, minified: _Found | None, found_by: str) -> MapSource | str:
        decoded = self.cache.source_map(self.session, map_file)
        if isinstance(decoded, str):
            return decoded
        lines = self.cache.minified_lines(self.session, minified) if minified else None
        return MapSource(decoded, map_file.row.url, found_by, lines)


def has_bundles(session: Session, project_id: int) -> bool:
    query = select(ArtifactBundle.id).where(ArtifactBundle.project_id == project_id).limit(1)
    return session.scalar(query) is not None


def _bundles_state(session: Session, project_id: int) -> tuple[int, int]:
    """How many bundles the project has and the newest's id: changes with every upload and
    every prune, so a read mapped under one state is right while the state is the same."""
    query = select(func.count(ArtifactBundle.id), func.max(ArtifactBundle.id)).where(
        ArtifactBundle.project_id == project_id
    )
    count, newest = session.execute(query).one()
    return int(count or 0), int(newest or 0)


class ReadCache:
    """Events mapped when read, as JSON, keyed by the event and its project's bundles state;
    least recently used out past `max_bytes`. Opening an event page again costs one indexed
    query and a JSON decode, not a mapping."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[Any, ...], bytes | None] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.mapped = 0  # how many reads mapped an event (tests read it)

    def get(self, key: tuple[Any, ...]) -> tuple[bool, bytes | None]:
        with self._lock:
            if key not in self._items:
                return False, None
            self._items.move_to_end(key)
            return True, self._items[key]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def put(self, key: tuple[Any, ...], value: bytes | None) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._bytes += len(value or b"") + 100
            while self._items and self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped or b"") + 100


READ_CACHE = ReadCache()


def map_stored_event(
    session: Session,
    project_id: int,
    event_id: str,
    event: dict[str, Any],
    release: str | None,
    dist: str | None,
    cache: MapCache = CACHE,
    read_cache: ReadCache = READ_CACHE,
) -> dict[str, Any] | None:
    """The stored event with the frames no map matched at ingest mapped by the bundles stored
    now (its map was uploaded after it), each frame still unmapped saying why; None when it
    has no such frame or the project no bundle. Only for showing: the stored event and its
    grouping stay as they are."""
    if not js_frame_count(event):
        return None
    count, newest = _bundles_state(session, project_id)
    if count == 0:
        return None  # the event page says the project has none (`has_bundles`)
    # The event ID is random, so the key is one event even across databases in one process.
    key = (project_id, event_id, count, newest, release, dist)
    hit, found = read_cache.get(key)
    if hit:
        return orjson.loads(found) if found is not None else None
    mapped = map_event(event, _Resolver(session, project_id, release, dist, cache))
    read_cache.mapped += 1
    read_cache.put(key, orjson.dumps(mapped) if mapped is not None else None)
    return mapped


def apply_source_maps(session: Session, events: Sequence[Mappable], cache: MapCache = CACHE) -> int:
    """Map the JavaScript frames of the batch's events in place; returns how many changed."""
    with_bundles: dict[int, bool] = {}
    changed = 0
    for prepared in events:
        if not prepared.has_js_frames:
            continue
        prepared.has_js_frames = False  # a batch retried job by job maps once
        project_id = prepared.project_id
        if project_id not in with_bundles:
            with_bundles[project_id] = has_bundles(session, project_id)
        if not with_bundles[project_id]:
            continue
        event = orjson.loads(prepared.payload)  # as sent, not as prepare_event enriched it
        if not isinstance(event, dict):
            continue
        dist = event.get("dist")
        resolver = _Resolver(
            session,
            project_id,
            prepared.fields.release,
            dist if isinstance(dist, str) else None,
            cache,
        )
        mapped = map_event(event, resolver)
        if mapped is None:
            continue
        prepared.payload = orjson.dumps(mapped)
        prepared.stored_payload = None  # compressed before the mapping: stale
        prepared.grouping = group_event(mapped)
        changed += 1
    return changed
