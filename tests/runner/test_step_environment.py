"""A deploy step sees a minimal environment, and its stored output never shows trimtab's secrets."""

from __future__ import annotations

import shlex
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import ADMIN_PASSWORD, ADMIN_TOKEN
from trimtab.runner.environment import REDACTED, scrub, secrets_of, step_environment
from trimtab.server.app import create_app
from trimtab.settings import EnvironmentListError, Settings, parse_passthrough
from trimtab.store.db import Store

SERVER_ENVIRON = {
    "PATH": "/opt/bin:/usr/bin",
    "HOME": "/home/trimtab",
    "LANG": "C.UTF-8",
    "TRIMTAB_ADMIN_TOKEN": "tt_install_wide_admin_token",
    "TRIMTAB_ADMIN_PASSWORD": "hunter2-but-longer",
    "TRIMTAB_DATABASE_URL": "postgresql://trimtab:s3cret-pw@db/trimtab",
    "AWS_SECRET_ACCESS_KEY": "not-listed",
    "KUBECONFIG": "/etc/kube/config",
}


def test_step_environment__server_secrets__never_passed() -> None:
    env = step_environment(SERVER_ENVIRON, ("KUBECONFIG",), {"TRIMTAB_SERVICE": "billing-api"})
    assert env == {
        "PATH": "/opt/bin:/usr/bin",
        "HOME": "/home/trimtab",
        "LANG": "C.UTF-8",
        "KUBECONFIG": "/etc/kube/config",
        "TRIMTAB_SERVICE": "billing-api",
    }


def test_step_environment__no_path_on_server__standard_path() -> None:
    assert "/usr/bin" in step_environment({}, (), {})["PATH"].split(":")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("KUBECONFIG,TRIMTAB_ADMIN_TOKEN", "trimtab's own secret"),
        ("TRIMTAB_DATABASE_URL", "trimtab's own secret"),
        ("KUBE CONFIG", "is not a variable name"),
        ("A=B", "is not a variable name"),
    ],
)
def test_parse_passthrough__secret_or_bad_name__refused(value: str, message: str) -> None:
    with pytest.raises(EnvironmentListError, match=message):
        parse_passthrough(value)


def test_parse_passthrough__names__deduplicated_in_order() -> None:
    assert parse_passthrough(" KUBECONFIG, AWS_PROFILE ,KUBECONFIG,") == (
        "KUBECONFIG",
        "AWS_PROFILE",
    )


def test_scrub__database_url__url_and_its_password_redacted() -> None:
    secrets = secrets_of([SERVER_ENVIRON["TRIMTAB_DATABASE_URL"], "short", None])
    text = "url postgresql://trimtab:s3cret-pw@db/trimtab and password s3cret-pw, short stays"
    assert scrub(text, secrets) == f"url {REDACTED} and password {REDACTED}, short stays"


def _wait_run(client: TestClient, run_id: int, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        run: dict[str, Any] = client.get(f"/api/v1/projects/shop/runs/{run_id}").json()
        if run["state"] == state:
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def test_deploy_step__env_and_secret_file__secrets_absent_from_output(
    settings: Settings, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIMTAB_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("DEPLOY_REGION", "eu-1")
    monkeypatch.setenv("UNLISTED_SECRET", "should-not-reach")
    # A command can find a secret without the environment (a file on the runner host): the
    # stored output is scrubbed all the same.
    leak = tmp_path / "leak.txt"
    leak.write_text(f"token={ADMIN_TOKEN} password={ADMIN_PASSWORD}\n")
    command = f"env | sort; cat {shlex.quote(str(leak))}"
    app = create_app(replace(settings, deploy_env=("DEPLOY_REGION",)), store=store)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
        service = {"name": "billing-api", "command": command}
        assert client.post("/api/v1/projects/shop/services", json=service).status_code == 201
        release = {"version": "shop@1.0.0", "services": {"billing-api": "1.0.0"}}
        assert client.post("/api/v1/projects/shop/releases", json=release).status_code == 201
        started = client.post(
            "/api/v1/projects/shop/runs", json={"release": "shop@1.0.0", "environment": "staging"}
        )
        assert started.status_code == 202, started.text
        run = _wait_run(client, started.json()["id"], "success")
    output = run["steps"][0]["output_tail"]
    assert "DEPLOY_REGION=eu-1" in output
    assert "TRIMTAB_SERVICE=billing-api" in output
    assert f"token={REDACTED} password={REDACTED}" in output
    for absent in (ADMIN_TOKEN, ADMIN_PASSWORD, "TRIMTAB_ADMIN_TOKEN", "UNLISTED_SECRET"):
        assert absent not in output
