"""Release ordering, from tests/cases/versions/cases.json."""

from __future__ import annotations

import json
import random
from datetime import datetime
from functools import cmp_to_key
from pathlib import Path
from typing import Any

import pytest

from trimtab.core.versions import (
    UncomparableReleases,
    compare_releases,
    is_release_at_or_after,
    parse_release,
)

CASES = json.loads(
    (Path(__file__).resolve().parents[1] / "cases" / "versions" / "cases.json").read_text()
)


def _date(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@pytest.mark.parametrize(
    "case", CASES["parse"], ids=[c["input"] or "empty" for c in CASES["parse"]]
)
def test_parse_release__case__gives_parts_or_none(case: dict[str, Any]) -> None:
    parsed = parse_release(case["input"])
    if case["expected"] is None:
        assert parsed is None
        return
    assert parsed is not None
    got = {
        "package": parsed.package,
        "version": parsed.version,
        "numbers": list(parsed.numbers),
        "prerelease": list(parsed.prerelease),
        "build": parsed.build,
    }
    assert got == case["expected"]


@pytest.mark.parametrize(
    "case", CASES["compare"], ids=[f"{c['a']}-vs-{c['b']}" for c in CASES["compare"]]
)
def test_compare_releases__case__orders_both_ways_or_refuses(case: dict[str, Any]) -> None:
    a_date, b_date = _date(case.get("a_date")), _date(case.get("b_date"))
    if "error" in case:
        with pytest.raises(UncomparableReleases, match=case["error"]):
            compare_releases(case["a"], case["b"], a_date, b_date)
        return
    assert compare_releases(case["a"], case["b"], a_date, b_date) == case["expected"]
    assert compare_releases(case["b"], case["a"], b_date, a_date) == -case["expected"]


@pytest.mark.parametrize(
    "case",
    CASES["at_or_after"],
    ids=[f"{c['release']}-vs-{c['fixed_in']}" for c in CASES["at_or_after"]],
)
def test_is_release_at_or_after__case__gives_expected(case: dict[str, Any]) -> None:
    got = is_release_at_or_after(
        case["release"],
        case["fixed_in"],
        _date(case.get("release_date")),
        _date(case.get("fixed_in_date")),
        if_unknown=case.get("if_unknown", True),
    )
    assert got is case["expected"]


def test_compare_releases__semver_spec_example__sorts_in_spec_order() -> None:
    # The precedence example of semver.org 11.4, shuffled and sorted back.
    spec_order = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
    ]
    shuffled = spec_order[:]
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled, key=cmp_to_key(compare_releases)) == spec_order
