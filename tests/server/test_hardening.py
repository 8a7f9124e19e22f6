"""Small hardening (issue 9, item 9): dashboard pages send security headers, the SQLite store is
readable by its owner only, weak bootstrap secrets are refused at start."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from trimtab.settings import Settings
from trimtab.store.db import Store


def test_dashboard_page__security_headers(anon_client: TestClient) -> None:
    response = anon_client.get("/login")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_api_answer__no_page_headers_added(anon_client: TestClient) -> None:
    response = anon_client.get("/api/v1/projects")
    assert "content-security-policy" not in response.headers


def test_sqlite_store__new_file__owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "trimtab.db"
    store = Store(f"sqlite:///{path}")
    try:
        with store.write() as session:
            session.connection()
    finally:
        store.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TRIMTAB_ADMIN_TOKEN", "a"), ("TRIMTAB_ADMIN_PASSWORD", "admin")],
)
def test_settings__weak_bootstrap_secret__refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable):
        Settings.from_env()


def test_settings__ingest_sync__default_normal_and_bad_value_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRIMTAB_INGEST_SYNC", raising=False)
    assert Settings.from_env().ingest_sync == "normal"
    monkeypatch.setenv("TRIMTAB_INGEST_SYNC", "FULL")
    assert Settings.from_env().ingest_sync == "full"
    monkeypatch.setenv("TRIMTAB_INGEST_SYNC", "sometimes")
    with pytest.raises(ValueError, match="TRIMTAB_INGEST_SYNC must be one of normal, full"):
        Settings.from_env()
