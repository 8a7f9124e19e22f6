from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trimtab.core.user_agent import (
    contexts_from_user_agent,
    event_user_agent,
    fill_missing_contexts,
)

CASES = json.loads(
    (Path(__file__).parent.parent / "cases" / "user_agent" / "cases.json").read_text()
)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_contexts_from_user_agent__case_file(case: dict[str, Any]) -> None:
    assert contexts_from_user_agent(case["ua"]) == case["expect"]


def test_fill_missing_contexts__sdk_sent_os__keeps_it_and_adds_browser() -> None:
    event: dict[str, Any] = {"contexts": {"os": {"name": "Android", "version": "14"}}}
    fill_missing_contexts(event, CASES[0]["ua"])
    assert event["contexts"]["os"] == {"name": "Android", "version": "14"}
    assert event["contexts"]["browser"]["name"] == "Chrome"


def test_fill_missing_contexts__no_contexts_key__created() -> None:
    event: dict[str, Any] = {}
    fill_missing_contexts(event, CASES[1]["ua"])
    assert set(event["contexts"]) == {"browser", "os", "device"}


def test_contexts_from_user_agent__huge_header__bounded_and_fast() -> None:
    assert contexts_from_user_agent("Mozilla/5.0 " + "(" * 100_000) == {}


def test_event_user_agent__headers_as_dict_or_pairs__found_case_insensitively() -> None:
    ua = CASES[0]["ua"]
    assert event_user_agent({"request": {"headers": {"user-agent": ua}}}) == ua
    assert event_user_agent({"request": {"headers": [["Accept", "*/*"], ["User-Agent", ua]]}}) == ua
    assert event_user_agent({"request": {"headers": "garbage"}}) is None
    assert event_user_agent({}) is None
