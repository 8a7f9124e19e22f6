"""`core.flagd_import` and `core.flag_imports.read_trimtab` from the JSON cases in
tests/cases/flagd_import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trimtab.core.evaluation import compile_flags, evaluate_key
from trimtab.core.flagd_import import FlagdDocumentError, read_flagd

CASES = Path(__file__).parents[1] / "cases" / "flagd_import"


def load_cases() -> list[Any]:
    return [
        pytest.param(case, id=f"{path.stem}: {case['name']}")
        for path in sorted(CASES.glob("*.json"))
        for case in json.loads(path.read_text())
    ]


@pytest.mark.parametrize("case", load_cases())
def test_read_flagd__json_case(case: dict[str, Any]) -> None:
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(FlagdDocumentError, match=expect["error"]):
            read_flagd(case["document"])
        return
    imported = read_flagd(case["document"])
    if "flags" in expect:
        assert imported.flags == expect["flags"]
    assert [[p.flag, p.path] for p in imported.problems] == expect.get("problems", [])
    flags = compile_flags(imported.flags, imported.segments)
    for check in expect.get("answers", []):
        result = evaluate_key(flags, check["flag"], check["context"])
        assert result.variant == check["variant"], check
