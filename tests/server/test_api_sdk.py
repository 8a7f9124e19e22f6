"""/api/v1/sdk: rule sets with ETags, evaluation metrics, dependency guard reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete, event, select

from tests.sdk.live import make_flag, sdk_project, token, wait_for
from tests.support import WAIT
from trimtab.store.db import Store
from trimtab.store.models import (
    Dependency,
    DependencyReportBucket,
    FlagEvaluationBucket,
    FlagSetRevision,
)


def sdk(client: TestClient, secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_sdk_flags__sdk_server_token__rule_set_with_etag_then_304(client: TestClient) -> None:
    secret = sdk_project(client)
    make_flag(
        client, "new-payment-page", fallback={"variant": "off", "dependencies": ["billing-api"]}
    )
    response = client.get("/api/v1/sdk/flags", headers=sdk(client, secret))
    assert response.status_code == 200
    body = response.json()
    assert body["project"] == "shop" and body["environment"] == "production"
    assert body["etag"] == response.headers["etag"]
    assert body["stream"] == "/api/v1/stream"
    assert body["unhealthy"] == []
    [flag] = body["flags"]
    assert flag["key"] == "new-payment-page" and flag["enabled"] is True
    again = client.get(
        "/api/v1/sdk/flags", headers={**sdk(client, secret), "If-None-Match": body["etag"]}
    )
    assert again.status_code == 304
    assert again.headers["etag"] == body["etag"]


def test_sdk_flags__flag_flipped__new_etag(client: TestClient) -> None:
    secret = sdk_project(client)
    make_flag(client, "kill")
    first = client.get("/api/v1/sdk/flags", headers=sdk(client, secret)).json()["etag"]
    path = "/api/v1/projects/shop/flags/kill/environments/production/kill"
    assert client.post(path, json={"reason": "incident"}).status_code == 200
    response = client.get(
        "/api/v1/sdk/flags", headers={**sdk(client, secret), "If-None-Match": first}
    )
    assert response.status_code == 200
    assert response.json()["etag"] != first
    assert response.json()["flags"][0]["enabled"] is False


def test_sdk_flags__client_and_api_tokens__403(client: TestClient) -> None:
    sdk_project(client)
    browser = token(client, ["sdk-client"], "shop", "production")
    reader = token(client, ["read"], "shop", None)
    for secret in (browser, reader):
        response = client.get("/api/v1/sdk/flags", headers=sdk(client, secret))
        assert response.status_code == 403, response.text
    assert client.get("/api/v1/sdk/flags").status_code == 403  # the admin: no environment


def test_sdk_flags__unchanged_rule_set__served_without_reading_flags(
    client: TestClient, store: Store
) -> None:
    secret = sdk_project(client)
    make_flag(client, "kill")
    first = client.get("/api/v1/sdk/flags", headers=sdk(client, secret))
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        for _ in range(3):
            again = client.get("/api/v1/sdk/flags", headers=sdk(client, secret))
            assert again.content == first.content
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    # At most the revision check (once a second) and the token recheck: never the rules.
    assert not [s for s in statements if "flag_configs" in s or "segments" in s], statements


def test_sdk_flags__token_of_one_environment__only_that_environments_rules(
    client: TestClient,
) -> None:
    secret = sdk_project(client)
    assert client.post("/api/v1/projects/shop/environments", json={"name": "staging"}).is_success
    make_flag(client, "prod-only")
    make_flag(client, "staging-only", environment="staging")
    staging = token(client, ["sdk-server"], "shop", "staging")
    production = client.get("/api/v1/sdk/flags", headers=sdk(client, secret)).json()
    other = client.get("/api/v1/sdk/flags", headers=sdk(client, staging)).json()
    assert production["environment"] == "production" and other["environment"] == "staging"
    assert production["etag"] != other["etag"]
    enabled = {f["key"]: f["enabled"] for f in production["flags"]}
    assert enabled == {"prod-only": True, "staging-only": False}
    enabled = {f["key"]: f["enabled"] for f in other["flags"]}
    assert enabled == {"prod-only": False, "staging-only": True}


def test_sdk_flags__revoked_token__refused_within_a_second(client: TestClient) -> None:
    secret = sdk_project(client)
    assert client.get("/api/v1/sdk/flags", headers=sdk(client, secret)).status_code == 200
    [listed] = client.get("/api/v1/tokens", params={"project": "shop"}).json()
    assert client.delete(f"/api/v1/tokens/{listed['id']}").is_success
    assert wait_for(
        lambda: client.get("/api/v1/sdk/flags", headers=sdk(client, secret)).status_code == 401,
        timeout=WAIT,
        interval=0.1,
    )


def test_sdk_flags__environment_without_revision_row__revision_0_and_nothing_written(
    client: TestClient, store: Store
) -> None:
    secret = sdk_project(client)
    with store.write() as session:  # as an environment made before revision rows came with it
        session.execute(delete(FlagSetRevision))
    response = client.get("/api/v1/sdk/flags", headers=sdk(client, secret))
    assert response.status_code == 200
    assert response.headers["etag"].endswith('-0"')
    with store.read() as session:
        assert session.scalars(select(FlagSetRevision)).all() == []


def test_environment_created__revision_row_with_a_stream_channel(
    client: TestClient, store: Store
) -> None:
    sdk_project(client)
    assert client.post("/api/v1/projects/shop/environments", json={"name": "staging"}).is_success
    with store.read() as session:
        rows = session.scalars(select(FlagSetRevision)).all()
    assert len(rows) == 2
    assert all(row.revision == 0 and len(row.channel) >= 16 for row in rows)
    assert rows[0].channel != rows[1].channel


def test_sdk_flags__no_token__401(anon_client: TestClient) -> None:
    assert anon_client.get("/api/v1/sdk/flags").status_code == 401


def test_sdk_metrics__counts__recorded_as_evaluations_and_exposure(
    client: TestClient, store: Store
) -> None:
    secret = sdk_project(client)
    make_flag(client, "kill")
    now = datetime.now(UTC)
    body = {
        "start": (now - timedelta(seconds=60)).isoformat(),
        "end": now.isoformat(),
        "counts": {"kill": {"on": 40, "off": 2}},
    }
    response = client.post("/api/v1/sdk/metrics", json=body, headers=sdk(client, secret))
    assert response.status_code == 202, response.text
    shown = client.get("/api/v1/projects/shop/flags/kill").json()
    assert shown["environments"]["production"]["evaluations"] == 42
    with store.read() as session:
        rows = session.scalars(select(FlagEvaluationBucket)).all()
        assert sorted((r.variant, r.count) for r in rows) == [("off", 2), ("on", 40)]


def test_sdk_metrics__bad_counts__422_and_nothing_written(client: TestClient, store: Store) -> None:
    secret = sdk_project(client)
    now = datetime.now(UTC).isoformat()
    for counts in ({"kill": {"on": -1}}, {"kill": {"on": "many"}}, {"kill": 3}):
        body = {"start": now, "end": now, "counts": counts}
        response = client.post("/api/v1/sdk/metrics", json=body, headers=sdk(client, secret))
        assert response.status_code == 422, response.text
    with store.read() as session:
        assert session.scalars(select(FlagEvaluationBucket)).all() == []


def test_sdk_dependency_report__unknown_name__registered_and_counted(
    client: TestClient, store: Store
) -> None:
    secret = sdk_project(client)
    body = {"successes": 3, "failures": 5, "timeouts": 1, "state": "open", "window_s": 10}
    path = "/api/v1/sdk/dependencies/billing-api/report"
    response = client.post(path, json=body, headers=sdk(client, secret))
    assert response.status_code == 202, response.text
    assert client.post(path, json=body, headers=sdk(client, secret)).status_code == 202
    with store.read() as session:
        dependency = session.scalars(select(Dependency)).one()
        assert dependency.name == "billing-api"
        # Counted in 5-second buckets: the two reports may straddle an edge, so summed.
        buckets = session.scalars(select(DependencyReportBucket)).all()
        assert 1 <= len(buckets) <= 2
        totals = [
            sum(getattr(b, name) for b in buckets)
            for name in ("successes", "failures", "timeouts", "open_reports", "reports")
        ]
        assert totals == [6, 10, 2, 2, 2]


def test_sdk_dependency_report__bad_input__422(client: TestClient) -> None:
    secret = sdk_project(client)
    headers = sdk(client, secret)
    bad = [
        ("billing-api", {"state": "exploded"}),
        ("billing-api", {"failures": -1}),
        ("billing-api", {"extra": 1}),
        ("Billing API", {}),
    ]
    for name, body in bad:
        response = client.post(
            f"/api/v1/sdk/dependencies/{name}/report", json=body, headers=headers
        )
        assert response.status_code == 422, (name, body, response.text)


def test_sdk_dependency_report__non_sdk_token__403(client: TestClient) -> None:
    sdk_project(client)
    reader = token(client, ["read"], "shop", None)
    response = client.post(
        "/api/v1/sdk/dependencies/billing-api/report", json={}, headers=sdk(client, reader)
    )
    assert response.status_code == 403


def test_sdk_metrics_and_reports__browser_token__403_and_nothing_written(
    client: TestClient, store: Store
) -> None:
    sdk_project(client)
    make_flag(client, "kill")
    browser = sdk(client, token(client, ["sdk-client"], "shop", "production"))
    now = datetime.now(UTC).isoformat()
    body = {"start": now, "end": now, "counts": {"kill": {"on": 1}}}
    assert client.post("/api/v1/sdk/metrics", json=body, headers=browser).status_code == 403
    path = "/api/v1/sdk/dependencies/billing-api/report"
    assert client.post(path, json={}, headers=browser).status_code == 403
    with store.read() as session:
        assert session.scalars(select(FlagEvaluationBucket)).all() == []
        assert session.scalars(select(Dependency)).all() == []
