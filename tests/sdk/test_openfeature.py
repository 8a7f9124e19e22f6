"""TrimtabProvider through the real openfeature-sdk: local evaluation, types, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode

from trimtab.sdk import FlagClient
from trimtab.sdk.openfeature import TrimtabProvider, context_of

FLAGS = [
    {
        "key": "new-payment-page",
        "enabled": True,
        "default_variant": "off",
        "rules": [
            {
                "id": "asia",
                "constraints": [{"attribute": "country", "operator": "in", "values": ["KR"]}],
                "serve": {"variant": "on"},
            }
        ],
    },
    {
        "key": "limit",
        "type": "number",
        "enabled": True,
        "variants": {"a": 3, "b": 2.5},
        "default_variant": "a",
        "off_variant": "b",
    },
    {
        "key": "ratio",
        "type": "number",
        "enabled": False,
        "variants": {"a": 3, "b": 2.5},
        "default_variant": "a",
        "off_variant": "b",
    },
    {
        "key": "layout",
        "type": "json",
        "enabled": True,
        "variants": {"a": {"cols": 2}, "b": {}},
        "default_variant": "a",
        "off_variant": "b",
    },
]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[OpenFeatureClient]:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps({"etag": '"1-1"', "flags": FLAGS}))
    flags = FlagClient("http://127.0.0.1:9", "tt_key", bootstrap_path=path, start=False)
    api.set_provider(TrimtabProvider(flags))
    yield api.get_client()
    api.shutdown()


def test_provider__targeting_match__value_variant_and_reason(client: OpenFeatureClient) -> None:
    kr = EvaluationContext(targeting_key="user-1", attributes={"country": "KR"})
    details = client.get_boolean_details("new-payment-page", False, kr)
    assert (details.value, details.variant, details.reason) == (True, "on", "TARGETING_MATCH")
    us = EvaluationContext(targeting_key="user-1", attributes={"country": "US"})
    assert client.get_boolean_value("new-payment-page", True, us) is False


def test_provider__numbers_and_objects__typed_as_asked(client: OpenFeatureClient) -> None:
    assert client.get_integer_value("limit", 0) == 3
    assert client.get_float_value("limit", 0.0) == 3.0
    assert client.get_float_value("ratio", 0.0) == 2.5  # off: the off variant
    details = client.get_integer_details("ratio", 7)
    assert details.value == 7 and details.error_code == ErrorCode.TYPE_MISMATCH
    assert client.get_object_value("layout", {}) == {"cols": 2}


def test_provider__missing_flag_or_wrong_type__code_default_and_error_code(
    client: OpenFeatureClient,
) -> None:
    missing = client.get_boolean_details("nope", True)
    assert missing.value is True and missing.error_code == ErrorCode.FLAG_NOT_FOUND
    mismatch = client.get_string_details("new-payment-page", "x")
    assert mismatch.value == "x" and mismatch.error_code == ErrorCode.TYPE_MISMATCH


def test_context_of__targeting_key__becomes_targetingKey() -> None:
    context = EvaluationContext(targeting_key="u", attributes={"country": "KR"})
    assert context_of(context) == {"country": "KR", "targetingKey": "u"}
    assert context_of(None) == {}
