"""`unleash-client` (Node, from npm) against a live server: for 10,000 ASCII targeting keys it
answers exactly like OFREP on rollouts, constraints and variant weights, whether it polls the
full features, polls the delta endpoint, or asks to stream (refused, so it polls at once).
Its filters (namePrefix, project, tags) reach the server."""

from __future__ import annotations

from typing import Any

import httpx

from tests.server.unleash_node import (
    FLAG_TYPES,
    contexts,
    expected_answer,
    ofrep_answers,
    run_node_client,
    seed_project,
)
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, ThreadedServer
from trimtab.core.unleash import context_to_unleash

MODES = {
    "full": {"type": "polling", "format": "full"},
    "delta": {"type": "polling", "format": "delta"},
    "streaming": {"type": "streaming"},
}


def test_unleash_node__10000_ascii_ids__agree_with_ofrep_in_every_mode(
    threaded_server: ThreadedServer,
) -> None:
    token = seed_project(threaded_server.url, "shop", "sdk-server")
    items = contexts(10_000)
    ofrep = ofrep_answers(threaded_server.url, token, items)
    got = run_node_client(threaded_server.url, token, [context_to_unleash(c) for c in items], MODES)
    for mode in MODES:
        answers = got[mode]["answers"]
        assert len(answers) == len(items)
        mismatches = [
            (items[i]["targetingKey"], key, answers[i][key], expected)
            for i in range(len(items))
            for key, flag_type in FLAG_TYPES.items()
            if answers[i][key] != (expected := expected_answer(flag_type, ofrep[i][key]))
        ]
        assert mismatches == [], f"{mode}: {len(mismatches)} disagreements, {mismatches[:5]}"
    # The rules really split the population (a constant answer would agree trivially).
    for key in FLAG_TYPES:
        assert len({str(a[key]) for a in got["full"]["answers"]}) > 1, key


def _tagged(url: str) -> None:
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=HTTP_TIMEOUT
    ) as http:
        for key in ("new-checkout", "upload-limit"):
            patched = http.patch(f"/api/v1/projects/shop/flags/{key}", json={"tags": ["checkout"]})
            assert patched.status_code == 200, patched.text


def test_unleash_node__filters__only_the_matching_features(
    threaded_server: ThreadedServer,
) -> None:
    token = seed_project(threaded_server.url, "shop", "sdk-server")
    _tagged(threaded_server.url)
    items: list[dict[str, Any]] = [context_to_unleash(c) for c in contexts(3)]
    cases = {
        "prefix": ({"namePrefix": "new-"}, {"new-checkout"}),
        "tag": (
            {"tags": [{"name": "simple", "value": "checkout"}]},
            {"new-checkout", "upload-limit"},
        ),
        "project": ({"projectName": "shop"}, set(FLAG_TYPES)),
        "other-project": ({"projectName": "elsewhere"}, set()),
    }
    for name, (filters, expected) in cases.items():
        got = run_node_client(
            threaded_server.url,
            token,
            items,
            {"delta": {"type": "polling", "format": "delta"}},
            flags={},
            filters=filters,
        )
        assert got["delta"]["features"] == len(expected), name
