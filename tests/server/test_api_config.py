"""/api/v1/projects/{slug}/config (the export `trimtab init` renders) and
/api/v1/projects/{slug}/stabilization (`trimtab window`)."""

from __future__ import annotations

import tomllib

from fastapi.testclient import TestClient

from trimtab.core.config_file import DEPENDENCY_SETTINGS
from trimtab.domain.flags.dependencies import SETTINGS
from trimtab.store.models import Dependency


def _token(client: TestClient, scopes: list[str], project: str | None = None) -> dict[str, str]:
    body = {"name": "t", "scopes": scopes, "project": project}
    created = client.post("/api/v1/tokens", json=body)
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['token']}"}


def test_dependency_settings__file_format__same_bounds_and_defaults_as_the_domain() -> None:
    assert list(DEPENDENCY_SETTINGS) == list(SETTINGS)
    columns = Dependency.__table__.columns
    for key, setting in DEPENDENCY_SETTINGS.items():
        bounds = SETTINGS[key]
        assert (setting.low, setting.high, setting.integer) == (
            bounds.low,
            bounds.high,
            bounds.integer,
        ), key
        default = columns[key].default
        assert setting.default == (None if default is None else default.arg), key  # type: ignore[attr-defined]


def test_export__bound_read_token__own_project_only(client: TestClient) -> None:
    for slug in ("acme", "other"):
        assert client.post("/api/v1/projects", json={"slug": slug}).status_code == 201
    client.post("/api/v1/projects/acme/services", json={"name": "api", "command": "echo {version}"})
    reader = _token(client, ["read"], project="acme")
    export = client.get("/api/v1/projects/acme/config", headers=reader)
    assert export.status_code == 200, export.text
    data = export.json()
    assert data["project"] == "acme" and data["services"][0]["command"] == "echo {version}"
    assert data["stabilization"] == {"project": "acme", "days": 7, "environments": {}}
    assert tomllib.loads(data["toml"])["services"][0]["name"] == "api"
    hidden = client.get("/api/v1/projects/other/config", headers=reader)
    assert hidden.status_code == 404 and hidden.json()["error"] == "not_found"


def test_window_length__out_of_bounds_or_unknown_environment__clear_422_404_nothing_written(
    client: TestClient,
) -> None:
    assert client.post("/api/v1/projects", json={"slug": "acme"}).status_code == 201
    too_long = client.put("/api/v1/projects/acme/stabilization", json={"days": 30})
    assert too_long.status_code == 422
    assert "choose 1 to 14 days" in too_long.json()["detail"]
    unknown = client.put(
        "/api/v1/projects/acme/stabilization", json={"days": 2, "environment": "nope"}
    )
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    no_days = client.put("/api/v1/projects/acme/stabilization", json={})
    assert no_days.status_code == 422
    extra = client.put("/api/v1/projects/acme/stabilization", json={"days": 2, "weeks": 1})
    assert extra.status_code == 422 and "weeks" in extra.json()["detail"]
    assert client.get("/api/v1/projects/acme/stabilization").json()["days"] == 7
    audit = client.get("/api/v1/audit", params={"action": "stabilization"}).json()
    assert audit == []
    deployer = _token(client, ["deploy"], project="acme")
    refused = client.put("/api/v1/projects/acme/stabilization", json={"days": 3}, headers=deployer)
    assert refused.status_code == 403
    assert client.put("/api/v1/projects/acme/stabilization", json={"days": 3}).json()["days"] == 3


def test_export_then_apply__fallback_on_an_undefined_dependency__declared_then_created_on_change(
    client: TestClient,
) -> None:
    assert client.post("/api/v1/projects", json={"slug": "acme"}).status_code == 201
    flags = "/api/v1/projects/acme/flags"
    assert client.post(flags, json={"key": "pay"}).status_code == 201
    fallback = {"variant": "off", "dependencies": ["ghost"]}
    set_ = client.put(f"{flags}/pay/environments/production", json={"fallback": fallback})
    assert set_.status_code == 200, set_.text
    assert client.get("/api/v1/projects/acme/dependencies").json() == []

    text = client.get("/api/v1/projects/acme/config").json()["toml"]
    ghost = tomllib.loads(text)["dependencies"]["ghost"]
    assert ghost == {"flags": [{"flag": "pay", "environment": "production", "variant": "off"}]}
    assert client.post("/api/v1/config/diff", json={"toml": text}).json()["changes"] == []

    edited = text.replace("[dependencies.ghost]\n", "[dependencies.ghost]\ndown_after = 5\n")
    applied = client.post("/api/v1/config/apply", json={"toml": edited})
    assert applied.json()["changes"] == ["~ dependency ghost: down_after: 2 -> 5"], applied.text
    (created,) = client.get("/api/v1/projects/acme/dependencies").json()
    assert created["name"] == "ghost" and created["down_after"] == 5 and created["flags"] == ["pay"]

    no_fallback = edited.replace(
        'flags = [\n  { flag = "pay", environment = "production", variant = "off" },\n]\n', ""
    )
    applied = client.post("/api/v1/config/apply", json={"toml": no_fallback})
    assert applied.json()["changes"] == ["- fallback pay in production"], applied.text
    flag = client.get(f"{flags}/pay").json()
    assert flag["environments"]["production"]["fallback"] is None


def test_apply__environment_runner__set_audited_exported_and_back_to_local(
    client: TestClient,
) -> None:
    assert client.post("/api/v1/projects", json={"slug": "acme"}).status_code == 201
    text = client.get("/api/v1/projects/acme/config").json()["toml"]
    assert "[environments" not in text.replace("# [environments", "")  # all local: not written
    agent = text + '\n[environments.production]\nrunner = "agent"\n'
    plan = client.post("/api/v1/config/diff", json={"toml": agent}).json()
    assert plan["changes"] == ["~ environment production: runner: 'local' -> 'agent'"]
    assert client.post("/api/v1/config/apply", json={"toml": agent}).status_code == 200
    export = client.get("/api/v1/projects/acme/config").json()
    assert export["runners"] == {
        "development": "local",
        "staging": "local",
        "production": "agent",
    }
    written = tomllib.loads(export["toml"])["environments"]
    assert written["production"] == {"runner": "agent"} and written["staging"] == {
        "runner": "local"
    }
    assert client.post("/api/v1/config/diff", json={"toml": export["toml"]}).json()["changes"] == []
    audit = client.get("/api/v1/audit", params={"project": "acme"}).json()
    assert any(e["action"] == "environment.runner" for e in audit)
    # A file without the table leaves runners alone; an empty table puts them all back to local.
    assert client.post("/api/v1/config/diff", json={"toml": text}).json()["changes"] == []
    back = client.post("/api/v1/config/apply", json={"toml": text + "\n[environments]\n"})
    assert back.json()["changes"] == ["~ environment production: runner: 'agent' -> 'local'"]


def test_apply__runner_of_unknown_environment_or_bad_value__refused_nothing_written(
    client: TestClient,
) -> None:
    assert client.post("/api/v1/projects", json={"slug": "acme"}).status_code == 201
    base = '[project]\nname = "acme"\n'
    unknown = client.post(
        "/api/v1/config/apply", json={"toml": base + '[environments.qa]\nrunner = "agent"\n'}
    )
    assert unknown.status_code == 422
    assert "environment(s) qa that project 'acme' does not have" in unknown.json()["detail"]
    bad = client.post(
        "/api/v1/config/diff", json={"toml": base + '[environments.staging]\nrunner = "ssh"\n'}
    )
    assert bad.status_code == 422
    assert "environments.staging.runner: must be one of 'local', 'agent'" in bad.json()["detail"]
    assert client.get("/api/v1/projects/acme/config").json()["runners"]["staging"] == "local"
