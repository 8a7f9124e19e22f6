"""Unleash's conformance cases through a real server: each specification file imported with
POST …/import/unleash into its own project, then every case asked of a real UnleashClient
polling that project's /api/client/features over HTTP. Only the cases listed in UNSUPPORTED
(tests/core/test_unleash_specification.py) may answer otherwise."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.core.test_unleash_specification import (
    UNSUPPORTED,
    passes,
    specification_files,
    unleash_answer,
)
from tests.server.test_unleash_api import _client
from tests.support import ThreadedServer


def test_unleash_specification__through_the_server__agrees_but_the_listed_cases(
    client: TestClient, threaded_server: ThreadedServer
) -> None:
    failures = []
    total = 0
    for i, path in enumerate(specification_files()):
        spec = json.loads(path.read_text())
        project = f"spec-{i}"
        created = client.post(
            "/api/v1/projects", json={"slug": project, "environments": ["production"]}
        )
        assert created.status_code == 201, created.text
        imported = client.post(
            f"/api/v1/projects/{project}/environments/production/import/unleash",
            json={"document": spec["state"]},
        )
        assert imported.status_code == 200, imported.text
        keys = set(imported.json()["created"])
        token = client.post(
            "/api/v1/tokens",
            json={
                "name": project,
                "scopes": ["sdk-server"],
                "project": project,
                "environment": "production",
            },
        ).json()["token"]
        unleash = _client(threaded_server.url, token, keys)
        try:
            cases = [(c, False) for c in spec.get("tests", [])]
            cases += [(c, True) for c in spec.get("variantTests", [])]
            for case, variant_test in cases:
                total += 1
                name = case["toggleName"]
                # Feature names that are not trimtab keys are imported lowercased.
                key = name if name in keys or name.lower() not in keys else name.lower()
                answer = unleash_answer(unleash, key, case["context"])
                if not passes(case, answer, variant_test) and (path.stem, name) not in UNSUPPORTED:
                    failures.append(f"{path.stem} {name}: {case['description']} -> {answer}")
        finally:
            unleash.destroy()
    assert total > 250
    assert failures == []
