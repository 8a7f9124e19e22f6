"""Unleash's own conformance cases (the npm package @unleash/client-specification), every case
of every file, both ways:

1. imported (`core.unleash_import.read_unleash`) and answered by trimtab's evaluator;
2. imported, translated back (`core.unleash.translate_flags`, what /api/client/features
   serves) and answered by the real Python UnleashClient.

The package is installed from the npm registry at test time into the shared npm cache (as the
browser tests do). Cases trimtab deliberately does not support are listed in UNSUPPORTED, with
the reason, and nowhere else; the pass counts per file are the table in docs/compatibility.md,
which this test checks.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import npm_modules
from tests.core.test_unleash_translation import unleash_client
from trimtab.core.evaluation import compile_flags, evaluate_key
from trimtab.core.flags.unleash_values import payload
from trimtab.core.unleash import context_from_unleash, translate_flags
from trimtab.core.unleash_import import DISABLED, read_unleash

PACKAGE = "@unleash/client-specification@6.1.0"
DOCS = Path(__file__).parents[2] / "docs" / "compatibility.md"

# (file stem, toggle name) -> why trimtab answers otherwise. The only list of such cases.
UNSUPPORTED: dict[tuple[str, str], str] = {
    ("18-utf8-flag-names", "Feature.UTF-8.Hellø_Wørld"): (
        "trimtab flag keys are ASCII letters, digits, '.', '_', ':', '-': the feature is "
        "reported and not imported"
    ),
    ("18-utf8-flag-names", "Feature.UTF-8.😊_φriend_你好_🌍"): (
        "trimtab flag keys are ASCII letters, digits, '.', '_', ':', '-': the feature is "
        "reported and not imported"
    ),
}


def specification_files() -> list[Path]:
    root = npm_modules([PACKAGE]) / "@unleash" / "client-specification" / "specifications"
    index = json.loads((root / "index.json").read_text())
    return [root / name for name in index]


def trimtab_answer(flags: dict[str, Any], name: str, context: dict[str, Any]) -> dict[str, Any]:
    """What trimtab's evaluator answers, in Unleash's terms (isEnabled and getVariant)."""
    ours = context_from_unleash(context)
    ours.setdefault("currentTime", datetime.now(UTC).isoformat())  # as Unleash SDKs do
    flag = flags.get(name)
    if flag is None:
        return {"enabled": False, "name": DISABLED, "feature_enabled": False}
    result = evaluate_key(flags, name, ours)
    if flag.type == "boolean":
        enabled = result.value is True
        return {"enabled": enabled, "name": DISABLED, "feature_enabled": enabled}
    if result.variant in (None, DISABLED):
        return {"enabled": False, "name": DISABLED, "feature_enabled": False}
    return {
        "enabled": True,
        "name": result.variant,
        "feature_enabled": True,
        "payload": payload(flag.type, result.value),
    }


def unleash_answer(client: Any, name: str, context: dict[str, Any]) -> dict[str, Any]:
    """What UnleashClient answers from the features trimtab serves back."""
    variant = client.get_variant(name, context)
    answer = {
        "enabled": client.is_enabled(name, context),
        "name": variant["name"],
        "feature_enabled": variant.get("feature_enabled", False),
    }
    if variant.get("payload"):
        answer["payload"] = variant["payload"]
    return answer


def normalized_payload(value: dict[str, Any] | None) -> Any:
    if value is None:
        return None
    if value.get("type") == "json":
        return ("json", json.loads(value["value"]))
    if value.get("type") == "number":
        return ("number", float(value["value"]))
    return (value.get("type"), value.get("value"))


def passes(case: dict[str, Any], answer: dict[str, Any], variant_test: bool) -> bool:
    expected = case["expectedResult"]
    if not variant_test:
        return answer["enabled"] is expected
    if answer["name"] != expected["name"] or (answer["name"] == DISABLED and expected["enabled"]):
        return False
    if expected.get("feature_enabled", expected["enabled"]) != answer["feature_enabled"]:
        return False
    return "payload" not in expected or normalized_payload(
        expected["payload"]
    ) == normalized_payload(answer.get("payload"))


def run_file(path: Path) -> dict[str, Any]:
    """Every case of one file through both paths: counts and the failing cases."""
    spec = json.loads(path.read_text())
    imported = read_unleash(spec["state"])
    flags = compile_flags(imported.flags, imported.segments)
    translation = translate_flags(imported.flags, segments=imported.segments)
    client = unleash_client(translation.features)
    report: dict[str, Any] = {"cases": 0, "trimtab": 0, "unleash": 0, "failures": []}
    cases = [(c, False) for c in spec.get("tests", [])]
    cases += [(c, True) for c in spec.get("variantTests", [])]
    for case, variant_test in cases:
        report["cases"] += 1
        for surface, answer in (
            ("trimtab", trimtab_answer(flags, case["toggleName"], case["context"])),
            ("unleash", unleash_answer(client, case["toggleName"], case["context"])),
        ):
            if passes(case, answer, variant_test):
                report[surface] += 1
            else:
                report["failures"].append((surface, case["toggleName"], case["description"]))
    return report


def documented_counts() -> dict[str, tuple[int, int, int]]:
    rows = re.findall(r"^\| `([\w-]+)` \| (\d+) \| (\d+) \| (\d+) \|", DOCS.read_text(), re.M)
    return {stem: (int(c), int(t), int(u)) for stem, c, t, u in rows}


def test_unleash_specification__every_case__passes_both_ways_but_the_listed_ones() -> None:
    files = specification_files()
    assert len(files) >= 22
    total = passed_trimtab = passed_unleash = 0
    counts = {}
    unexpected = []
    for path in files:
        report = run_file(path)
        counts[path.stem] = (report["cases"], report["trimtab"], report["unleash"])
        total += report["cases"]
        passed_trimtab += report["trimtab"]
        passed_unleash += report["unleash"]
        for surface, toggle, description in report["failures"]:
            if (path.stem, toggle) not in UNSUPPORTED:
                unexpected.append(f"{path.stem} [{surface}] {toggle}: {description}")
    assert unexpected == []
    assert passed_trimtab >= 0.98 * total
    assert passed_unleash >= 0.98 * total
    assert counts == documented_counts(), "update the table in docs/compatibility.md"


@pytest.mark.parametrize("stem", sorted({stem for stem, _ in UNSUPPORTED}))
def test_unleash_specification__unsupported_cases__are_reported_by_the_import(stem: str) -> None:
    (path,) = [p for p in specification_files() if p.stem == stem]
    imported = read_unleash(json.loads(path.read_text())["state"])
    reported = {problem.flag for problem in imported.problems}
    assert {toggle for s, toggle in UNSUPPORTED if s == stem} <= reported
