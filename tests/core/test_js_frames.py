"""Mapping an event's JavaScript frames (`core.js_frames`), with the esbuild case's map."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from trimtab.core.js_frames import MapSource, debug_ids_of, js_frame_count, map_event
from trimtab.core.sourcemaps import parse_source_map

CASE = json.loads(
    (
        Path(__file__).resolve().parents[1] / "cases" / "sourcemaps" / "esbuild_two_files.json"
    ).read_text()
)
URL = "https://shop.example/assets/app.min.js"
SOURCE = MapSource(
    parse_source_map(orjson.dumps(CASE["map"])),
    "~/assets/app.min.js.map",
    "debug_id",
    CASE["minified"].splitlines(),
)


def _event(frames: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "exception": {"values": [{"type": "Error", "stacktrace": {"frames": frames}}]},
        "debug_meta": {"images": [{"type": "sourcemap", "code_file": URL, "debug_id": "AB-1"}]},
    }


def _frame(col: int, function: str | None = None) -> dict[str, Any]:
    frame = {"abs_path": URL, "filename": "/assets/app.min.js", "lineno": 1, "colno": col}
    return frame | ({"function": function} if function else {})


def test_map_event__debug_id_frame__original_file_line_function_and_minified_kept() -> None:
    asked: list[tuple[str | None, str]] = []

    def resolve(debug_id: str | None, abs_path: str) -> MapSource | str:
        asked.append((debug_id, abs_path))
        return SOURCE

    event = _event([_frame(99, "o"), _frame(34, "t")])
    mapped = map_event(event, resolve)
    assert mapped is not None
    top = mapped["exception"]["values"][0]["stacktrace"]["frames"][-1]
    assert (top["filename"], top["lineno"], top["colno"], top["function"]) == (
        "src/seats.js", 4, 11, "reserveSeat",
    )  # fmt: skip
    assert top["abs_path"] == "~/src/seats.js"
    assert top["context_line"].strip().startswith("throw new Error")
    assert top["data"]["minified"] == _frame(34, "t")
    assert mapped["exception"]["values"][0]["raw_stacktrace"]["frames"][-1] == _frame(34, "t")
    assert asked == [("ab-1", URL)]  # one question per file, debug IDs lower-cased
    assert event["exception"]["values"][0]["stacktrace"]["frames"][-1] == _frame(34, "t")


def test_map_event__no_map__frame_kept_with_reason() -> None:
    mapped = map_event(_event([_frame(34, "t")]), lambda d, p: "no bundle for that debug ID")
    assert mapped is not None
    frame = mapped["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert frame["function"] == "t" and frame["data"]["sourcemap_error"] == (
        "no bundle for that debug ID"
    )
    assert "raw_stacktrace" not in mapped["exception"]["values"][0]


def test_map_event__position_outside_map__reason_names_it() -> None:
    frame = _frame(34, "t") | {"lineno": 9}
    mapped = map_event(_event([frame]), lambda d, p: SOURCE)
    assert mapped is not None
    reason = mapped["exception"]["values"][0]["stacktrace"]["frames"][0]["data"]["sourcemap_error"]
    assert reason == "line 9, column 34 is not in the source map"


def test_js_frame_count__python_frames__zero() -> None:
    event = _event([{"filename": "app.py", "lineno": 3, "function": "f"}])
    assert js_frame_count(event) == 0 and map_event(event, lambda d, p: SOURCE) is None


def test_debug_ids_of__only_sourcemap_images() -> None:
    event = _event([])
    event["debug_meta"]["images"].append({"type": "elf", "code_file": "x", "debug_id": "y"})
    assert debug_ids_of(event) == {URL: "ab-1"}


def test_map_event__frame_unmapped_before__mapped_later_without_the_old_reason() -> None:
    before = map_event(_event([_frame(34, "t")]), lambda d, p: "no bundle for that debug ID")
    assert before is not None
    later = map_event(before, lambda d, p: SOURCE)
    assert later is not None
    values = later["exception"]["values"][0]
    top = values["stacktrace"]["frames"][-1]
    assert top["function"] == "reserveSeat" and "sourcemap_error" not in top["data"]
    assert top["data"]["minified"]["function"] == "t"
    assert values["raw_stacktrace"]["frames"][-1] == _frame(34, "t"), "as sent"


def test_map_event__browser_sdk_frame_with_filename_only__mapped_by_it() -> None:
    """@sentry/browser sends the script's URL as `filename` and no `abs_path`."""
    frame = {"filename": URL, "lineno": 1, "colno": 34, "function": "t", "in_app": True}
    asked: list[tuple[str | None, str]] = []

    def resolve(debug_id: str | None, abs_path: str) -> MapSource | str:
        asked.append((debug_id, abs_path))
        return SOURCE

    mapped = map_event(_event([frame]), resolve)
    assert mapped is not None and asked == [("ab-1", URL)]
    top = mapped["exception"]["values"][0]["stacktrace"]["frames"][-1]
    assert (top["filename"], top["function"]) == ("src/seats.js", "reserveSeat")
    assert top["data"]["minified"] == {k: v for k, v in frame.items() if k != "in_app"}
