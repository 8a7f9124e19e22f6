"""Map the JavaScript frames of a Sentry event through source maps (pure: a resolver is given).

Which frames: those of `exception.values[*].stacktrace`, `stacktrace` and `threads` with an
`abs_path` (else a `filename`: `@sentry/browser` sends only that, the script's URL) and a
1-based `lineno` and `colno`. Which map: the caller's resolver is asked with
the frame's debug ID — from `debug_meta.images` of type `sourcemap`, whose `code_file` is the
frame's `abs_path` (what `sentry-cli sourcemaps inject` and the SDKs produce) — and its
`abs_path`; it answers with a `MapSource` or the reason there is none.

A mapped frame gets the original `abs_path`, `filename`, `lineno`, `colno`, `function` (from the
map's names, see `core.sourcemaps`), the context lines from `sourcesContent`, and
`data.minified` with what the frame said before; a source under `node_modules/` is not in-app.
An unmapped frame keeps its values and gets `data.sourcemap_error`, the reason. The exception
keeps its frames as sent in `raw_stacktrace`, as Sentry does. The event passed in is not
changed: `map_event` returns a new one (None when it has no JavaScript frame left to map: a
mapped frame is never mapped twice, so a stored event can be mapped again when it is read).
"""

from __future__ import annotations

import copy
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from trimtab.core.sourcemaps import DEFAULT_LIMITS, SourceMap

__all__ = [
    "MapSource",
    "Resolver",
    "debug_ids_of",
    "js_frame_count",
    "map_event",
    "source_filename",
]

MAX_FRAMES = 250  # per stack, as grouping reads them
_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*")
_CONTEXT_LINE_MAX = 1000  # a minified library as sourcesContent would make one huge line


@dataclass(frozen=True, slots=True)
class MapSource:
    """A frame's map: the decoded map, its URL (sources are relative to it), how it was found,
    and the lines of the minified file when it was uploaded too (for function names)."""

    source_map: SourceMap
    map_url: str
    found_by: str  # "debug_id" or "release"
    minified_lines: Sequence[str] | None = None


# (debug ID or None, abs_path) -> the map, or why there is none
Resolver = Callable[[str | None, str], "MapSource | str"]


def debug_ids_of(event: dict[str, Any]) -> dict[str, str]:
    """abs_path -> debug ID, from `debug_meta.images` of type `sourcemap`."""
    meta = event.get("debug_meta")
    images = meta.get("images") if isinstance(meta, dict) else None
    out: dict[str, str] = {}
    for image in images[:1000] if isinstance(images, list) else ():
        if not isinstance(image, dict) or image.get("type") != "sourcemap":
            continue
        code_file, debug_id = image.get("code_file"), image.get("debug_id")
        if isinstance(code_file, str) and isinstance(debug_id, str):
            out[code_file] = debug_id.lower()
    return out


def _stacks(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The stacktrace objects of the event (each has a `frames` list), and their owners."""
    found: list[dict[str, Any]] = []
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else exception
    for holder in values[-25:] if isinstance(values, list) else ():
        if isinstance(holder, dict) and isinstance(holder.get("stacktrace"), dict):
            found.append(holder)
    if isinstance(event.get("stacktrace"), dict):
        found.append(event)
    threads = event.get("threads")
    threads = threads.get("values") if isinstance(threads, dict) else threads
    for thread in threads[:50] if isinstance(threads, list) else ():
        if isinstance(thread, dict) and isinstance(thread.get("stacktrace"), dict):
            found.append(thread)
    return [h for h in found if isinstance(h["stacktrace"].get("frames"), list)]


def _is_js_frame(frame: Any) -> bool:
    """A frame a map could map, not mapped yet (a mapped frame keeps `data.minified`)."""
    # The column first: only JavaScript frames have one, and ingest asks this of every frame
    # of every event, Python's too.
    return (
        isinstance(frame, dict)
        and type(frame.get("colno")) is int
        and frame["colno"] > 0
        and type(frame.get("lineno")) is int
        and frame["lineno"] > 0
        and _frame_url(frame) is not None
        and not (isinstance(frame.get("data"), dict) and "minified" in frame["data"])
    )


def _frame_url(frame: dict[str, Any]) -> str | None:
    """Where the frame's code was loaded from: `abs_path`, else `filename` (what the browser
    SDK sends), as Sentry reads them."""
    for key in ("abs_path", "filename"):
        value = frame.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def js_frame_count(event: dict[str, Any]) -> int:
    """How many frames a source map could map (cheap: ingest asks it of every event)."""
    return sum(
        1
        for holder in _stacks(event)
        for frame in holder["stacktrace"]["frames"][-MAX_FRAMES:]
        if _is_js_frame(frame)
    )


def source_filename(source: str) -> str:
    """The filename shown for a map's source: no scheme or host, no leading ./ ../ /.

    >>> source_filename("webpack://shop/./src/seats.js"), source_filename("../src/seats.js")
    ('src/seats.js', 'src/seats.js')
    """
    path = _SCHEME_RE.sub("", source)
    while True:
        stripped = path.removeprefix("./").removeprefix("../").removeprefix("/")
        if stripped == path:
            return path
        path = stripped


def _source_url(map_url: str, source: str) -> str:
    if _SCHEME_RE.match(source) or source.startswith("/"):
        return source
    return posixpath.normpath(posixpath.join(posixpath.dirname(map_url), source))


def map_event(event: dict[str, Any], resolve: Resolver) -> dict[str, Any] | None:
    """A copy of `event` with its JavaScript frames mapped, or marked with why they could not
    be; None when the event has no JavaScript frame."""
    if js_frame_count(event) == 0:
        return None
    out = copy.deepcopy(event)
    debug_ids = debug_ids_of(out)
    answers: dict[tuple[str | None, str], MapSource | str] = {}

    def once(debug_id: str | None, abs_path: str) -> MapSource | str:
        # Frames of one file share one answer: the resolver is asked once per file.
        key = (debug_id, abs_path)
        if key not in answers:
            answers[key] = resolve(debug_id, abs_path)
        return answers[key]

    mapped = 0
    for holder in _stacks(out):
        stack = holder["stacktrace"]
        raw_frames = [_as_sent(f) for f in stack["frames"]]
        frames = stack["frames"]
        start = max(0, len(frames) - MAX_FRAMES)
        here = 0
        for i in range(start, len(frames)):
            if _is_js_frame(frames[i]):
                frames[i], ok = _map_frame(frames[i], debug_ids, once)
                here += ok
        if here and "raw_stacktrace" not in holder:
            holder["raw_stacktrace"] = {**stack, "frames": raw_frames}
        mapped += here
    # Unmapped frames still say why (the event page shows it), so the copy is kept either way.
    return out


def _as_sent(frame: Any) -> Any:
    """A frame for `raw_stacktrace`: without the reason an earlier mapping added."""
    frame = copy.deepcopy(frame)
    data = frame.get("data") if isinstance(frame, dict) else None
    if isinstance(data, dict) and "sourcemap_error" in data:
        rest = {k: v for k, v in data.items() if k != "sourcemap_error"}
        if rest:
            frame["data"] = rest
        else:
            del frame["data"]
    return frame


def _map_frame(
    frame: dict[str, Any], debug_ids: dict[str, str], resolve: Resolver
) -> tuple[dict[str, Any], bool]:
    abs_path = _frame_url(frame) or ""
    found = resolve(debug_ids.get(abs_path), abs_path)
    raw_data = frame.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    if isinstance(found, str):
        return {**frame, "data": {**data, "sourcemap_error": found}}, False
    token = found.source_map.lookup(frame["lineno"] - 1, frame["colno"] - 1)
    if token is None or token.src is None:
        reason = f"line {frame['lineno']}, column {frame['colno']} is not in the source map"
        return {**frame, "data": {**data, "sourcemap_error": reason}}, False
    minified = {
        k: frame[k] for k in ("abs_path", "filename", "lineno", "colno", "function") if k in frame
    }
    new = dict(frame)
    new["abs_path"] = _source_url(found.map_url, token.src)
    new["filename"] = source_filename(token.src)
    new["lineno"] = token.src_line + 1
    new["colno"] = token.src_col + 1
    function = frame.get("function")
    if isinstance(function, str) and found.minified_lines is not None:
        original = found.source_map.original_function_name(
            token, function, found.minified_lines, DEFAULT_LIMITS
        )
        if original:
            new["function"] = original
    context = found.source_map.context(token)
    for key in ("pre_context", "context_line", "post_context"):
        new.pop(key, None)
    if context is not None:
        pre, line, post = context
        new["pre_context"] = [s[:_CONTEXT_LINE_MAX] for s in pre]
        new["context_line"] = line[:_CONTEXT_LINE_MAX]
        new["post_context"] = [s[:_CONTEXT_LINE_MAX] for s in post]
    if "/node_modules/" in f"/{new['filename']}":
        new["in_app"] = False
    # A frame no map matched at ingest and mapped when read loses the old reason.
    new["data"] = {
        **{k: v for k, v in data.items() if k != "sourcemap_error"},
        "sourcemap": found.map_url,
        "resolved_with": found.found_by,
        "minified": minified,
    }
    return new, True
