"""Putting JSON evaluation cases (tests/cases/evaluation) on a server through its API, so the
real OFREP / Unleash clients can be compared with the core's expected answers."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from tests.core.test_evaluation import load_cases
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT
from trimtab.core.flags.config import ENVIRONMENT_FIELDS
from trimtab.core.names import InvalidName, check_name

_projects = itertools.count(1)
ENV = "production"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _valid_key(key: Any) -> bool:
    try:
        check_name(key, "flag key")
    except InvalidName:
        return False
    return True


def server_cases(*, unleash: bool = False) -> list[Any]:
    """Cases a server can hold and a remote client can be asked: valid configs with keys the
    API accepts, object contexts with a string targetingKey, no unhealthy dependencies (set by
    the dependencies capability), answers that are values or TARGETING_KEY_MISSING."""
    chosen = []
    for param in load_cases():
        case = param.values[0]
        expect = case["expect"]
        context = case["context"]
        flags = [case["flag"], *case.get("flags", [])] if case["flag"] else []
        if (
            not flags
            or "config_error" in expect
            or "expected_type" in case
            or case.get("unhealthy")
            or not isinstance(context, dict)
            or not isinstance(context.get("targetingKey", ""), str)
            or expect.get("error_code") not in (None, "TARGETING_KEY_MISSING")
            or not all(_valid_key(f["key"]) for f in flags)
            or (unleash and case.get("unleash", True) is False)
            # The API refuses a prerequisite that is not a flag (the core treats it as off).
            or any(
                p["flag"] not in {f["key"] for f in flags}
                for f in flags
                for p in f.get("prerequisites") or []
            )
        ):
            continue
        chosen.append(param)
    return chosen


def _create_body(config: dict[str, Any]) -> dict[str, Any]:
    definition = {k: config[k] for k in ("key", "type", "variants") if k in config}
    for name in ("default_variant", "off_variant"):
        if name in config:
            definition[name] = config[name]
    env_config = {k: config[k] for k in ENVIRONMENT_FIELDS if k in config}
    return {**definition, "environments": {ENV: env_config}}


def put_case_on_server(url: str, case: dict[str, Any]) -> tuple[str, str]:
    """A fresh project holding the case's flags and segments; returns (project, sdk token)."""
    project = f"case-{next(_projects)}"
    with httpx.Client(base_url=url, headers=ADMIN, timeout=HTTP_TIMEOUT) as http:
        created = http.post("/api/v1/projects", json={"slug": project, "environments": [ENV]})
        assert created.status_code == 201, created.text
        for name, constraints in (case.get("segments") or {}).items():
            put = http.put(
                f"/api/v1/projects/{project}/segments/{name}", json={"constraints": constraints}
            )
            assert put.status_code == 200, put.text
        pending = [*case.get("flags", []), case["flag"]]
        # Parents before children: a prerequisite must exist when its dependent is created.
        for config in sorted(pending, key=lambda c: len(c.get("prerequisites") or [])):
            response = http.post(f"/api/v1/projects/{project}/flags", json=_create_body(config))
            assert response.status_code == 201, response.text
        token = http.post(
            "/api/v1/tokens",
            json={
                "name": f"{project}-sdk",
                "scopes": ["sdk-server"],
                "project": project,
                "environment": ENV,
            },
        )
        assert token.status_code == 201, token.text
        return project, token.json()["token"]


def ofrep_reason(reason: str) -> str:
    """The reason OFREP sends for a core reason (see server.ofrep)."""
    return {"FALLBACK": "DEFAULT", "PREREQUISITE_FAILED": "DISABLED"}.get(reason, reason)
