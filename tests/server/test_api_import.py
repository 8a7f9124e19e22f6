"""POST /api/v1/projects/{slug}/environments/{env}/import/unleash: a dry run writes nothing,
an import writes flags and segments in one transaction with an audit entry, and what the
server then serves to a real UnleashClient answers every user like the original document."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.core.test_unleash_translation import unleash_client
from tests.server.test_unleash_api import _client
from tests.support import ThreadedServer

CASES = Path(__file__).parents[1] / "cases" / "unleash_import"
IMPORT = "/api/v1/projects/shop/environments/production/import/unleash"

DOCUMENT: dict[str, Any] = json.loads((CASES / "document.json").read_text())
KEYS = {
    "new-checkout": "new-checkout",
    "Banner.Color": "banner.color",
    "checkout-tips": "checkout-tips",
    "legacy-ips": "legacy-ips",
}


def _shop(client: TestClient) -> None:
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201


def test_import_unleash__dry_run__lists_everything_and_writes_nothing(client: TestClient) -> None:
    _shop(client)
    response = client.post(IMPORT, json={"document": DOCUMENT, "dry_run": True})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["dry_run"] is True
    assert sorted(report["created"]) == sorted(KEYS.values())
    assert report["segments"] == ["beta-testers"]
    reported = {(p["flag"], p["path"]) for p in report["unsupported"]}
    assert ("legacy-ips", "strategies[1]") in reported  # the custom strategy
    assert ("Banner.Color", "name") in reported  # imported under a lowercase key
    assert client.get("/api/v1/projects/shop/flags").json() == []
    assert client.get("/api/v1/projects/shop/segments").json() == []
    assert client.get("/api/v1/audit", params={"action": "flag.import"}).json() == []


def test_import_unleash__import__writes_and_audits_then_reports_unchanged(
    client: TestClient,
) -> None:
    _shop(client)
    response = client.post(IMPORT, json={"document": DOCUMENT})
    assert response.status_code == 200, response.text
    assert sorted(response.json()["created"]) == sorted(KEYS.values())
    flags = {f["key"]: f for f in client.get("/api/v1/projects/shop/flags").json()}
    assert set(flags) == set(KEYS.values())
    assert flags["banner.color"]["type"] == "string"
    (entry,) = client.get("/api/v1/audit", params={"action": "flag.import"}).json()
    assert entry["environment"] == "production"
    again = client.post(IMPORT, json={"document": DOCUMENT}).json()
    assert again["created"] == [] and again["updated"] == []
    assert sorted(again["unchanged"]) == sorted(KEYS.values())
    changed = copy.deepcopy(DOCUMENT)
    changed["features"][0]["strategies"][0]["parameters"]["rollout"] = "60"
    assert client.post(IMPORT, json={"document": changed}).json()["updated"] == ["new-checkout"]


def test_import_unleash__error_midway__nothing_is_written(client: TestClient) -> None:
    _shop(client)
    # banner.color exists as a string flag whose staging config serves a variant the import
    # would remove: the variants update is refused after the segment and other flags were
    # written in the same transaction.
    created = client.post(
        "/api/v1/projects/shop/flags",
        json={
            "key": "banner.color",
            "type": "string",
            "variants": {"plain": "#fff", "red": "#f00"},
            "default_variant": "plain",
            "off_variant": "plain",
        },
    )
    assert created.status_code == 201, created.text
    response = client.post(IMPORT, json={"document": DOCUMENT})
    assert response.status_code == 422, response.text
    assert [f["key"] for f in client.get("/api/v1/projects/shop/flags").json()] == ["banner.color"]
    assert client.get("/api/v1/projects/shop/segments").json() == []
    assert client.get("/api/v1/audit", params={"action": "flag.import"}).json() == []


def test_import_unleash__not_an_unleash_document__refused(client: TestClient) -> None:
    _shop(client)
    response = client.post(IMPORT, json={"document": {"flags": {}}})
    assert response.status_code == 422
    assert "not an Unleash document" in response.text


def test_import_unleash__served_back__unleash_client_agrees_with_the_original_for_2000_users(
    client: TestClient, threaded_server: ThreadedServer
) -> None:
    _shop(client)
    assert client.post(IMPORT, json={"document": DOCUMENT}).status_code == 200
    token = client.post(
        "/api/v1/tokens",
        json={
            "name": "sdk",
            "scopes": ["sdk-server"],
            "project": "shop",
            "environment": "production",
        },
    ).json()["token"]
    original = unleash_client(DOCUMENT)
    served = _client(threaded_server.url, token, set(KEYS.values()))
    try:
        for i in range(2000):
            context = {
                "userId": f"user-{i}",
                "remoteAddress": f"10.0.{i % 3}.{i % 250}" if i % 2 else "172.16.0.1",
                "properties": {
                    "country": ["KR", "JP", "DE", "US"][i % 4],
                    "plan": ["free", "beta"][i % 7 == 0],
                    "email": f"u{i}@example.com" if i % 5 else f"u{i}@other.org",
                },
            }
            for name, key in KEYS.items():
                assert served.is_enabled(key, context) == original.is_enabled(name, context)
                theirs = original.get_variant(name, context)
                ours = served.get_variant(key, context)
                assert (ours["name"], ours.get("payload")) == (
                    theirs["name"],
                    theirs.get("payload"),
                ), (name, context)
    finally:
        served.destroy()


FLAGD = {
    "$evaluators": {"staff": {"ends_with": [{"var": "email"}, "@corp.com"]}},
    "flags": {
        "new-ui": {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {"if": [{"$ref": "staff"}, "on", "off"]},
        },
        "theme": {
            "state": "ENABLED",
            "variants": {"dark": "#000", "light": "#fff"},
            "defaultVariant": "light",
            "targeting": {"fractional": [["dark", 25], ["light", 75]]},
        },
        "timed": {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {"if": [{">": [{"var": "$flagd.timestamp"}, 1]}, "on", "off"]},
        },
    },
}


def test_import_flagd__document__flags_written_and_gaps_reported(client: TestClient) -> None:
    _shop(client)
    response = client.post(
        "/api/v1/projects/shop/environments/staging/import/flagd", json={"document": FLAGD}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert sorted(report["created"]) == ["new-ui", "theme", "timed"]
    assert {(p["flag"], p["path"]) for p in report["unsupported"]} == {
        ("theme", "targeting.fractional"),
        ("timed", "targeting.if[0].>"),
    }
    (flag,) = [f for f in client.get("/api/v1/projects/shop/flags").json() if f["key"] == "theme"]
    assert flag["type"] == "string"


def test_export_then_import_trimtab__round_trip__same_configs(client: TestClient) -> None:
    _shop(client)
    assert client.post(IMPORT, json={"document": DOCUMENT}).status_code == 200
    exported = client.get("/api/v1/projects/shop/export").json()
    assert exported["trimtab"] == 1
    assert {f["key"] for f in exported["flags"]} == set(KEYS.values())
    assert client.post("/api/v1/projects", json={"slug": "copy"}).status_code == 201
    for env in ("development", "staging", "production"):
        imported = client.post(
            f"/api/v1/projects/copy/environments/{env}/import/trimtab",
            json={"document": exported},
        )
        assert imported.status_code == 200, imported.text
        assert imported.json()["unsupported"] == []
    copied = client.get("/api/v1/projects/copy/export").json()
    assert copied["segments"] == exported["segments"]
    assert [(f["key"], f["type"], f["variants"], f["environments"]) for f in copied["flags"]] == [
        (f["key"], f["type"], f["variants"], f["environments"]) for f in exported["flags"]
    ]
    again = client.post(
        "/api/v1/projects/shop/environments/production/import/trimtab",
        json={"document": exported},
    ).json()
    assert again["created"] == [] and again["updated"] == []
    one = client.get("/api/v1/projects/shop/export", params={"env": "staging"}).json()
    assert all(set(f["environments"]) == {"staging"} for f in one["flags"])
