"""The source map decoder, run from tests/cases/sourcemaps/*.json.

A case is {name, description, map, minified, lookups}: each lookup is a 1-based generated
(line, column) with the minified function name a stack frame gives there, and the original
position expected (`source`, 1-based `line` and `column`, the token's `name`, the recovered
`function`, the `context_line`), or null when nothing maps there. `malformed.json` lists maps
refused, with a part of the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from trimtab.core.sourcemaps import (
    DEFAULT_LIMITS,
    Limits,
    SourceMapError,
    decode_vlq_line,
    parse_source_map,
)

CASES_DIR = Path(__file__).resolve().parents[1] / "cases" / "sourcemaps"
CASES = {
    path.stem: json.loads(path.read_text())
    for path in sorted(CASES_DIR.glob("*.json"))
    if path.stem != "malformed"
}
MALFORMED = json.loads((CASES_DIR / "malformed.json").read_text())["cases"]


def _lookups() -> list[Any]:
    return [
        pytest.param(name, lookup, id=f"{name}-{lookup['line']}:{lookup['column']}")
        for name, case in CASES.items()
        for lookup in case["lookups"]
    ]


@pytest.mark.parametrize(("name", "lookup"), _lookups())
def test_lookup__case__original_position_name_and_context(name: str, lookup: Any) -> None:
    case = CASES[name]
    source_map = parse_source_map(orjson.dumps(case["map"]))
    token = source_map.lookup(lookup["line"] - 1, lookup["column"] - 1)
    expect = lookup["expect"]
    if expect is None:
        assert token is None
        return
    assert token is not None
    assert (token.src, token.src_line + 1, token.src_col + 1) == (
        expect["source"],
        expect["line"],
        expect["column"],
    )
    if "name" in expect:
        assert token.name == expect["name"]
    if "function" in expect:
        lines = case["minified"].splitlines()
        found = source_map.original_function_name(token, lookup["function"], lines, DEFAULT_LIMITS)
        assert found == expect["function"]
    if "context_line" in expect:
        context = source_map.context(token)
        assert context is not None and context[1] == expect["context_line"]


@pytest.mark.parametrize("case", MALFORMED, ids=[c["name"] for c in MALFORMED])
def test_parse__malformed_map__refused_with_reason(case: Any) -> None:
    with pytest.raises(SourceMapError, match=case["error"]):
        parse_source_map(orjson.dumps(case["map"]))


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("AAAA", [[0, 0, 0, 0]]),
        ("C,D", [[1], [-1]]),
        ("gB", [[16]]),
        ("2HwcqxB", [[123, 456, 789]]),
    ],
)
def test_decode_vlq_line__known_values(text: str, values: list[list[int]]) -> None:
    assert decode_vlq_line(text) == values


def test_parse__map_beyond_bounds__refused() -> None:
    data = orjson.dumps(CASES["esbuild_two_files"]["map"])
    with pytest.raises(SourceMapError, match="larger than"):
        parse_source_map(data, Limits(max_bytes=len(data) - 1))
    with pytest.raises(SourceMapError, match="more than 3 mappings"):
        parse_source_map(data, Limits(max_segments=3))
    with pytest.raises(SourceMapError, match="more than 1 sources"):
        parse_source_map(data, Limits(max_sources=1))


def test_parse__xssi_prefix__ignored() -> None:
    data = b")]}'\n" + orjson.dumps(CASES["esbuild_two_files"]["map"])
    assert parse_source_map(data).lookup(0, 33) is not None
