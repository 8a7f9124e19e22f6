"""An unmodified UnleashClient, bootstrapped offline from `translate_flags`, answers every JSON
evaluation case Unleash can express exactly like trimtab's evaluator.

Cases marked `"unleash": false` hold rules Unleash cannot express; for them the translation must
report a gap (and for every other case it must not). Cases whose answer is an error other than
TARGETING_KEY_MISSING (bad configs, type mismatches, unknown flags, cycles) have no Unleash
counterpart and are left out.

The client never touches the network: its cache is bootstrapped in memory and
`initialize_client` (registration, polling, metrics) is never called.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from UnleashClient import UnleashClient
from UnleashClient.cache import BaseCache
from UnleashClient.constants import FEATURES_URL
from UnleashClient.utils import InstanceAllowType

from tests.core.test_evaluation import load_cases, run_case
from trimtab.core.evaluation import ErrorCode, Reason, compile_flag, evaluate
from trimtab.core.unleash import (
    UnleashGap,
    context_from_unleash,
    context_to_unleash,
    translate_flags,
)


class _MemoryCache(BaseCache):
    """The features JSON in memory, marked bootstrapped so the client loads it at once."""

    def __init__(self, features: dict[str, Any]) -> None:
        self._data: dict[str, Any] = {FEATURES_URL: json.dumps(features)}
        self.bootstrapped = True

    def set(self, key: str, value: Any) -> None:
        self._data[key] = value

    def mset(self, data: dict[str, Any]) -> None:
        self._data.update(data)

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def exists(self, key: str) -> bool:
        return key in self._data

    def destroy(self) -> None:
        self._data.clear()


def unleash_client(features: dict[str, Any]) -> UnleashClient:
    client = UnleashClient(
        url="http://127.0.0.1:9/",  # discard port: nothing listens, nothing is ever sent
        app_name="trimtab-tests",
        disable_metrics=True,
        disable_registration=True,
        cache=_MemoryCache(features),
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
    )
    names = {feature["name"] for feature in features["features"]}
    assert names <= set(client.feature_definitions()), "the bootstrap was not loaded"
    return client


def comparable(case: dict[str, Any]) -> bool:
    expect = case["expect"]
    return (
        "config_error" not in expect
        and case["flag"] is not None
        and "expected_type" not in case
        and (case["context"] is None or isinstance(case["context"], dict))
        and expect.get("error_code") in (None, ErrorCode.TARGETING_KEY_MISSING)
    )


def translate_case(case: dict[str, Any]) -> Any:
    return translate_flags(
        [case["flag"], *case.get("flags", [])],
        segments=case.get("segments"),
        unhealthy=frozenset(case.get("unhealthy", [])),
    )


def payload_value(variant: dict[str, Any]) -> Any:
    payload = variant["payload"]
    if payload["type"] == "json":
        return json.loads(payload["value"])
    if payload["type"] == "number":
        return float(payload["value"])
    return payload["value"]


@pytest.mark.parametrize("case", [c for c in load_cases() if comparable(c.values[0])])
def test_unleash_client__json_case__agrees_with_trimtab(case: dict[str, Any]) -> None:
    translation = translate_case(case)
    assert (not translation.gaps) == case.get("unleash", True), translation.gaps
    if translation.gaps:
        return
    key = case["flag"]["key"]
    client = unleash_client(translation.features)
    context = context_to_unleash(case["context"] or {})
    result = run_case(case)
    if case["flag"].get("type", "boolean") == "boolean":
        assert client.is_enabled(key, context) is (result.value is True)
        return
    variant = client.get_variant(key, context)
    if result.reason in (Reason.DISABLED, Reason.PREREQUISITE_FAILED):
        assert (variant["name"], variant["feature_enabled"]) == ("disabled", False)
    else:
        assert variant["name"] == result.variant
        assert payload_value(variant) == result.value


def test_unleash_client__25_percent_rollout__includes_the_same_10000_users() -> None:
    config = {
        "key": "new-checkout",
        "enabled": True,
        "default_variant": "off",
        "rules": [{"serve": {"rollout": {"percentage": 25, "variant": "on"}}}],
    }
    flag = compile_flag(config)
    client = unleash_client(translate_flags([config]).features)
    users = [f"user-{i}" for i in range(10_000)]
    ours = {u for u in users if evaluate(flag, {"targetingKey": u}).value is True}
    theirs = {u for u in users if client.is_enabled("new-checkout", {"userId": u})}
    assert 2_300 <= len(ours) <= 2_700
    assert ours == theirs


def test_translate_flags__constraint_and_rollout__becomes_a_flexible_rollout() -> None:
    config = {
        "key": "asia",
        "enabled": True,
        "default_variant": "off",
        "salt": "asia-2024",
        "rules": [
            {
                "constraints": [{"attribute": "country", "operator": "in", "values": ["KR", "JP"]}],
                "segments": ["beta"],
                "serve": {"rollout": {"percentage": 50, "variant": "on"}},
            }
        ],
    }
    beta = [{"attribute": "beta", "operator": "equals", "values": [True]}]
    translation = translate_flags([config], segments={"beta": beta}, segment_ids={"beta": 7})
    assert translation.gaps == ()
    (feature,) = translation.features["features"]
    assert feature["strategies"] == [
        {
            "name": "flexibleRollout",
            "parameters": {"rollout": "50", "stickiness": "userId", "groupId": "asia-2024"},
            "constraints": [
                {
                    "contextName": "country",
                    "operator": "IN",
                    "inverted": False,
                    "caseInsensitive": False,
                    "values": ["KR", "JP"],
                }
            ],
            "segments": [7],
            "variants": [],
            "sortOrder": 0,
        }
    ]
    assert translation.features["segments"] == [
        {
            "id": 7,
            "name": "beta",
            "constraints": [
                {
                    "contextName": "beta",
                    "operator": "IN",
                    "inverted": False,
                    "caseInsensitive": False,
                    "values": ["true"],
                }
            ],
        }
    ]


def test_translate_flags__regex_constraint__is_reported_with_its_path() -> None:
    config = {
        "key": "staff",
        "enabled": True,
        "rules": [
            {
                "constraints": [
                    {"attribute": "email", "operator": "regex", "values": [r"@corp\.example$"]}
                ],
                "serve": {"variant": "on"},
            }
        ],
    }
    (gap,) = translate_flags([config]).gaps
    assert gap == UnleashGap("staff", "rules[0].constraints[0]", gap.message)
    assert "regex" in gap.message


def test_context_to_unleash__targeting_key_and_fields__land_where_unleash_reads_them() -> None:
    context = {"targetingKey": "u1", "sessionId": "s1", "country": "KR", "age": 30, "x": None}
    unleash = context_to_unleash(context)
    assert unleash == {
        "userId": "u1",
        "sessionId": "s1",
        "properties": {"country": "KR", "age": "30"},
    }
    assert context_from_unleash(unleash) == {
        "targetingKey": "u1",
        "sessionId": "s1",
        "country": "KR",
        "age": "30",
    }


def test_translate_flags__custom_strategy__sent_by_name_with_parameters_and_reported() -> None:
    config = {
        "key": "beta-access",
        "enabled": True,
        "default_variant": "off",
        "rules": [
            {
                "constraints": [{"attribute": "country", "operator": "in", "values": ["KR"]}],
                "strategy": {"name": "ActiveForBetaEmails", "parameters": {"emails": "a@b.co"}},
                "serve": {"variant": "on"},
            }
        ],
    }
    translation = translate_flags([config])
    (strategy,) = translation.features["features"][0]["strategies"]
    assert strategy["name"] == "ActiveForBetaEmails"
    assert strategy["parameters"] == {"emails": "a@b.co"}
    assert [c["contextName"] for c in strategy["constraints"]] == ["country"]
    (gap,) = translation.gaps
    assert gap.path == "rules[0].strategy"
    assert "ActiveForBetaEmails" in gap.message


def test_translate_flags__user_with_id_strategy__constraints_without_a_gap() -> None:
    config = {
        "key": "beta-access",
        "enabled": True,
        "default_variant": "off",
        "rules": [
            {
                "strategy": {"name": "userWithId", "parameters": {"userIds": "u1,u2"}},
                "serve": {"variant": "on"},
            }
        ],
    }
    translation = translate_flags([config])
    assert translation.gaps == ()
    (strategy,) = translation.features["features"][0]["strategies"]
    (constraint,) = strategy["constraints"]
    assert (constraint["contextName"], constraint["values"]) == ("userId", ["u1", "u2"])
