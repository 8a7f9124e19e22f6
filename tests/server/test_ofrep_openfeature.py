"""The real `openfeature-sdk` with the real `openfeature-provider-ofrep`, pointed at a server over
HTTP, agrees with the JSON evaluation cases: each case's flags are created through the API and
evaluated through the provider. Providers are set with `set_provider_and_wait`: plain
`set_provider` initializes in a thread, and an evaluation before READY gets the code default."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode

from tests.server.flag_setup import ofrep_reason, put_case_on_server, server_cases
from tests.support import ThreadedServer

CASES = server_cases()


def _details(client: Any, flag: dict[str, Any], expected: Any, context: EvaluationContext) -> Any:
    key = flag["key"]
    kind = flag.get("type", "boolean")
    if kind == "boolean":
        return client.get_boolean_details(
            key, not expected if isinstance(expected, bool) else False, context
        )
    if kind == "string":
        return client.get_string_details(key, "code-default", context)
    if kind == "number":
        if isinstance(expected, int):
            return client.get_integer_details(key, -1, context)
        return client.get_float_details(key, -1.5, context)
    return client.get_object_details(key, {"code": "default"}, context)


def _context(raw: dict[str, Any]) -> EvaluationContext:
    attributes = {k: v for k, v in raw.items() if k != "targetingKey"}
    return EvaluationContext(targeting_key=raw.get("targetingKey"), attributes=attributes)


def test_openfeature_ofrep_provider__json_cases__agree_with_the_core(
    threaded_server: ThreadedServer,
) -> None:
    assert len(CASES) > 50
    checked = 0
    for param in CASES:
        case = param.values[0]
        flag = case["flag"]
        expect = case["expect"]
        if flag.get("type") == "json" and not isinstance(expect.get("value"), dict | list):
            continue  # OpenFeature object flags are objects or lists only
        _, token = put_case_on_server(threaded_server.url, case)
        provider = OFREPProvider(
            threaded_server.url,
            headers_factory=lambda token=token: {"Authorization": f"Bearer {token}"},
        )
        domain = f"case-{checked}"
        api.set_provider_and_wait(provider, domain)
        client = api.get_client(domain)
        details = _details(client, flag, expect.get("value"), _context(case["context"]))
        name = param.id
        if expect.get("error_code") == "TARGETING_KEY_MISSING":
            assert details.error_code == ErrorCode.TARGETING_KEY_MISSING, name
        else:
            assert details.error_code is None, (name, details.error_message)
            assert json.dumps(details.value, sort_keys=True) == json.dumps(
                expect["value"], sort_keys=True
            ), name  # JSONB does not keep key order
            assert details.variant == expect["variant"], name
            assert details.reason == ofrep_reason(expect["reason"]), name
        checked += 1
    assert checked > 50
    api.clear_providers()


def test_openfeature_ofrep_provider__unknown_flag__code_default_with_flag_not_found(
    threaded_server: ThreadedServer,
) -> None:
    case = {"flag": {"key": "present", "enabled": True}, "context": {}}
    _, token = put_case_on_server(threaded_server.url, case)
    provider = OFREPProvider(threaded_server.url, headers_factory=lambda: {"X-API-Key": token})
    api.set_provider_and_wait(provider, "unknown-flag")
    details = api.get_client("unknown-flag").get_boolean_details("absent", True)
    assert (details.value, details.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    present = api.get_client("unknown-flag").get_boolean_details("present", False)
    assert (present.value, present.reason) == (True, "STATIC")
    api.clear_providers()


@pytest.mark.parametrize("header", ["Bearer tt_not_a_token", None])
def test_openfeature_ofrep_provider__bad_token__code_default(
    threaded_server: ThreadedServer, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    provider = OFREPProvider(threaded_server.url, headers_factory=lambda: headers)
    api.set_provider_and_wait(provider, "bad-token")
    details = api.get_client("bad-token").get_boolean_details("anything", True)
    assert details.value is True
    assert details.error_code == ErrorCode.GENERAL
    api.clear_providers()
