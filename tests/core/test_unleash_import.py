"""`core.unleash_import` from the JSON cases in tests/cases/unleash_import, and the promise
that matters: an imported document answers every user like UnleashClient on the original."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.core.test_unleash_specification import trimtab_answer
from tests.core.test_unleash_translation import unleash_client
from trimtab.core.evaluation import compile_flags
from trimtab.core.unleash_import import UnleashDocumentError, read_unleash

CASES = Path(__file__).parents[1] / "cases" / "unleash_import"
DOCUMENT = json.loads((CASES / "document.json").read_text())


def load_cases() -> list[Any]:
    return [
        pytest.param(case, id=f"{path.stem}: {case['name']}")
        for path in sorted(CASES.glob("*.json"))
        if path.name != "document.json"
        for case in json.loads(path.read_text())
    ]


@pytest.mark.parametrize("case", load_cases())
def test_read_unleash__json_case(case: dict[str, Any]) -> None:
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(UnleashDocumentError, match=expect["error"]):
            read_unleash(case["document"], environment=case.get("environment"))
        return
    imported = read_unleash(case["document"], environment=case.get("environment"))
    if "flags" in expect:
        assert imported.flags == expect["flags"]
    if "segments" in expect:
        assert imported.segments == expect["segments"]
    problems = [[p.flag, p.path] for p in imported.problems]
    assert problems == expect.get("problems", [])
    flags = compile_flags(imported.flags, imported.segments)
    for check in expect.get("answers", []):
        answer = trimtab_answer(flags, check["flag"], check["context"])
        assert answer["enabled"] is check["enabled"], check
        if "variant" in check:
            assert answer["name"] == check["variant"], check


def users(count: int) -> list[dict[str, Any]]:
    """Contexts with a user id, one in twenty with a session id only (Unleash answers a user
    with neither at random, so they cannot be compared)."""
    contexts = []
    for i in range(count):
        context: dict[str, Any] = {
            "remoteAddress": f"10.{i % 7}.0.{i % 250}" if i % 3 else f"192.168.1.{i % 9}",
            "properties": {
                "country": ["KR", "JP", "DE", "US", "FR"][i % 5],
                "plan": ["free", "beta", "pro"][i % 3],
                "email": f"u{i}@EXAMPLE.com" if i % 4 else f"u{i}@other.org",
            },
        }
        if i % 20:
            context["userId"] = f"user-{i}"
        else:
            context["sessionId"] = f"session-{i}"
        contexts.append(context)
    return contexts


def assert_same_answers(count: int) -> None:
    imported = read_unleash(DOCUMENT)
    flags = compile_flags(imported.flags, imported.segments)
    client = unleash_client(DOCUMENT)
    names = [feature["name"] for feature in DOCUMENT["features"]]
    for context in users(count):
        for name in names:
            ours = trimtab_answer(flags, name, context)
            assert ours["enabled"] is client.is_enabled(name, context), (name, context)
            theirs = client.get_variant(name, context)
            assert (ours["name"], ours.get("payload")) == (
                theirs["name"],
                theirs.get("payload"),
            ), (name, context)


def test_imported_document__10000_users__answer_like_unleash_client() -> None:
    assert_same_answers(10_000)


@pytest.mark.soak
def test_imported_document__100000_users__answer_like_unleash_client() -> None:
    assert_same_answers(100_000)
