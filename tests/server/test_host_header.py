"""A request's Host header is the client's to write: URLs the server hands out start with
TRIMTAB_PUBLIC_URL (here http://testserver), never with a host a request made up."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support import ADMIN_TOKEN
from trimtab.server.app import create_app
from trimtab.settings import Settings
from trimtab.store.db import Store

HOSTILE = {"Host": "evil.example"}


@pytest.fixture
def public(settings: Settings, store: Store) -> Iterator[TestClient]:
    """The app with a public URL on https and its own port, asked with a hostile Host."""
    settings = dataclasses.replace(settings, public_url="https://trimtab.example:8443")
    app = create_app(settings, store=store, run_jobs=False)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **HOSTILE}
    with TestClient(app, headers=headers) as client:
        yield client


def test_trailing_slash_redirect__hostile_host__public_url_in_location(public: TestClient) -> None:
    for path in ("/api/v1/projects/", "/login/", "/api/0/organizations/trimtab/releases"):
        response = public.get(path, follow_redirects=False)
        assert response.status_code == 307, path
        assert response.headers["location"].startswith("https://trimtab.example:8443/"), path


def test_dsn_and_ofrep_stream__hostile_host__built_from_public_url(public: TestClient) -> None:
    assert public.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    dsn = public.get("/api/v1/projects/shop").json()["dsn"]
    assert "@trimtab.example:8443/" in dsn and dsn.startswith("https://")
    body = {"name": "b", "scopes": ["sdk-client"], "project": "shop", "environment": "production"}
    secret = public.post("/api/v1/tokens", json=body).json()["token"]
    bulk = public.post(
        "/ofrep/v1/evaluate/flags",
        json={"context": {}},
        headers={"Authorization": f"Bearer {secret}", **HOSTILE},
    )
    (stream,) = bulk.json()["eventStreams"]
    assert stream["url"].startswith("https://trimtab.example:8443/ofrep/v1/events/")


def test_every_answer__hostile_host__never_echoed(public: TestClient) -> None:
    assert public.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    for path in ("/api/v1/projects/shop", "/api/v1/projects/shop/keys", "/login", "/healthz"):
        response = public.get(path, follow_redirects=False)
        assert "evil.example" not in response.text, path
        assert "evil.example" not in str(response.headers), path
