"""DSNs and X-Sentry-Auth headers, from tests/cases/dsn/cases.json."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from trimtab.core.dsn import (
    DsnError,
    SentryAuthError,
    format_dsn,
    parse_dsn,
    parse_sentry_auth,
)

CASES = json.loads(
    (Path(__file__).resolve().parents[1] / "cases" / "dsn" / "cases.json").read_text()
)


@pytest.mark.parametrize("case", CASES["dsn"], ids=[c["input"] or "empty" for c in CASES["dsn"]])
def test_parse_dsn__case__gives_parts_or_error(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(DsnError, match=case["error"]):
            parse_dsn(case["input"])
        return
    dsn = parse_dsn(case["input"])
    assert dataclasses.asdict(dsn) == case["expected"]
    assert dsn.envelope_url == case["envelope_url"]
    if "store_url" in case:
        assert dsn.store_url == case["store_url"]
    if "formatted" in case:
        assert str(dsn) == case["formatted"]


def test_format_dsn__parsed_back__gives_same_parts() -> None:
    text = format_dsn("http", "k3y", "127.0.0.1", 8000, "12")
    assert text == "http://k3y@127.0.0.1:8000/12"
    assert (parse_dsn(text).public_key, parse_dsn(text).project_id) == ("k3y", "12")


@pytest.mark.parametrize(
    "case", CASES["auth"], ids=[c["input"][:40] or "empty" for c in CASES["auth"]]
)
def test_parse_sentry_auth__case__gives_fields_or_error(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(SentryAuthError, match=case["error"]):
            parse_sentry_auth(case["input"])
        return
    assert dataclasses.asdict(parse_sentry_auth(case["input"])) == case["expected"]
