"""The bootstrap admin token is named for where it came from (issue 10, defect 4)."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from trimtab.server.app import create_app
from trimtab.settings import Settings
from trimtab.store.db import Store


def _whoami(settings: Settings, store: Store, token: str | None = None) -> tuple[str, int, str]:
    with TestClient(create_app(settings, store=store, run_jobs=False)) as client:
        secret = token or client.app.state.credentials.admin_token  # type: ignore[attr-defined]
        response = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"})
        name = response.json().get("actor", "") if response.status_code == 200 else ""
        return secret, response.status_code, name


def test_bootstrap__no_token_variable__generated_token_not_named_after_it(
    settings: Settings, store: Store
) -> None:
    generated = replace(settings, admin_token=None, admin_password=None)
    _, status, name = _whoami(generated, store)
    assert status == 200
    assert name == "token:generated-admin"


def test_bootstrap__variable_set_later__generated_token_revoked(
    settings: Settings, store: Store
) -> None:
    generated = replace(settings, admin_token=None, admin_password=None)
    old, _, _ = _whoami(generated, store)
    _, status, name = _whoami(settings, store, token=settings.admin_token)
    assert (status, name) == (200, "token:TRIMTAB_ADMIN_TOKEN")
    _, status, _ = _whoami(settings, store, token=old)
    assert status == 401
