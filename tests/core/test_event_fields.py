"""Indexed event fields, from tests/cases/event_fields/*.json, plus the bounds on each.

A case gives an `event` (or `event_from_grouping_case`, the name of a grouping case whose
event to use), `received_at`, optional `client_ip`, and `expect`: the fields to check
(timestamps as ISO strings, tags as pairs, flags as dicts).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from trimtab.core.event_fields import (
    MAX_FLAGS,
    MAX_TAG_VALUE,
    MAX_TAGS,
    extract_fields,
    feature_flags,
    normalize_level,
    parse_timestamp,
    tags,
    user_key,
    with_client_ip,
)

CASES_DIR = Path(__file__).resolve().parents[1] / "cases"
RECEIVED = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)


def _cases() -> list[Any]:
    files = sorted((CASES_DIR / "event_fields").glob("*.json"))
    assert len(files) >= 5
    return [pytest.param(json.loads(f.read_text()), id=f.stem) for f in files]


def _event(case: dict[str, Any]) -> dict[str, Any]:
    if "event_from_grouping_case" in case:
        path = CASES_DIR / "grouping" / f"{case['event_from_grouping_case']}.json"
        event: dict[str, Any] = json.loads(path.read_text())["event"]
        return event
    inline: dict[str, Any] = case["event"]
    return inline


def _as_json(fields: Any) -> dict[str, Any]:
    got = dataclasses.asdict(fields)
    got["timestamp"] = fields.timestamp.isoformat()
    got["tags"] = [list(pair) for pair in fields.tags]
    return got


@pytest.mark.parametrize("case", _cases())
def test_extract_fields__case__gives_expected_fields(case: dict[str, Any]) -> None:
    received = datetime.fromisoformat(case["received_at"])
    got = _as_json(extract_fields(_event(case), received, case.get("client_ip")))
    for field, expected in case["expect"].items():
        assert got[field] == expected, field


def test_extract_fields__real_sdk_event__keeps_its_id_and_time() -> None:
    event = json.loads((CASES_DIR / "grouping" / "sdk_python_zero_division.json").read_text())
    sent = event["event"]
    fields = extract_fields(sent, datetime(2100, 1, 1, tzinfo=UTC))
    assert fields.event_id == sent["event_id"]
    assert fields.timestamp == datetime.fromisoformat(sent["timestamp"])


def test_tags__hostile_sizes__are_bounded() -> None:
    event = {"tags": {"x" * 500: "long key"} | {f"k{i}": "v" * 1000 for i in range(150)}}
    got = tags(event)
    assert len(got) == MAX_TAGS
    assert all(len(k) <= 200 and len(v) <= MAX_TAG_VALUE for k, v in got)
    assert got[0] == ("x" * 199 + "…", "long key")
    assert got[1][1].endswith("…")


def test_extract_fields__hostile_strings__bounded_to_their_limits() -> None:
    event = {
        "release": "r" * 1000,
        "environment": "e" * 1000,
        "transaction": "t" * 1000,
        "platform": "p" * 1000,
        "user": {"id": "u" * 1000},
    }
    fields = extract_fields(event, RECEIVED)
    assert fields.release is not None and len(fields.release) == 200
    assert fields.environment is not None and len(fields.environment) == 64
    assert fields.transaction is not None and len(fields.transaction) == 200
    assert len(fields.platform) == 200
    assert fields.user_key is not None and len(fields.user_key) == 200


def test_feature_flags__more_than_the_limit__keeps_the_most_recent() -> None:
    values = [{"flag": f"f{i}", "result": i % 2 == 0} for i in range(MAX_FLAGS + 50)]
    got = feature_flags({"contexts": {"flags": {"values": values}}})
    assert len(got) == MAX_FLAGS
    assert got[-1].flag == f"f{MAX_FLAGS + 49}"
    assert got[0].flag == "f50"


def test_feature_flags__long_names_and_object_results__bounded() -> None:
    values = [{"flag": "n" * 500, "result": {"a": list(range(1000))}}]
    (got,) = feature_flags({"contexts": {"flags": {"values": values}}})
    assert len(got.flag) == 200
    assert isinstance(got.result, str) and len(got.result) <= MAX_TAG_VALUE


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("fatal", "fatal"),
        ("Warning", "warning"),
        ("warn", "warning"),
        ("critical", "fatal"),
        ("log", "info"),
        ("verbose", "error"),
        (None, "error"),
    ],
)
def test_normalize_level__spelling__maps_to_a_known_level(raw: Any, expected: str) -> None:
    assert normalize_level(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        ("1714557600", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("2024-05-01T10:00:00z", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("yesterday", None),
        (float("nan"), None),
        (1e20, None),
        (True, None),
        ([2024], None),
    ],
)
def test_parse_timestamp__value__gives_aware_utc_or_none(raw: Any, expected: Any) -> None:
    assert parse_timestamp(raw) == expected


def test_extract_fields__timestamp_within_clock_skew__kept() -> None:
    soon = RECEIVED + timedelta(seconds=30)
    assert extract_fields({"timestamp": soon.isoformat()}, RECEIVED).timestamp == soon


def test_user_key__auto_ip_without_client_ip__is_none() -> None:
    assert user_key({"user": {"ip_address": "{{auto}}"}}) is None


def test_with_client_ip__auto_ip__replaced_by_the_client_address_rest_kept() -> None:
    event = {"message": "x", "user": {"id": "7", "ip_address": "{{auto}}"}}
    assert with_client_ip(event, "198.51.100.7") == {
        "message": "x",
        "user": {"id": "7", "ip_address": "198.51.100.7"},
    }
    assert event["user"]["ip_address"] == "{{auto}}"  # the caller's dict is not changed


@pytest.mark.parametrize(
    ("user", "client_ip"),
    [
        ({"ip_address": "10.0.0.1"}, "198.51.100.7"),  # an address of its own
        ({"id": "7"}, "198.51.100.7"),
        ({"ip_address": "{{auto}}"}, None),
        ({"ip_address": "{{auto}}"}, "testclient"),  # a peer that is no IP address
    ],
)
def test_with_client_ip__nothing_to_resolve__none(
    user: dict[str, Any], client_ip: str | None
) -> None:
    assert with_client_ip({"user": user}, client_ip) is None
