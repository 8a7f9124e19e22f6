"""A flag Unleash SDKs cannot be served identically is said so: the API's answer to a save
(`warnings`, and each environment's `unleash_gaps`), `flag show`, the flag page; a project that
is `unleash_strict` refuses it with a 422 naming the rule, stores nothing, and still kills."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.server.test_dashboard import _login
from tests.support import ADMIN_TOKEN, LiveServer, run_cli

FLAGS = "/api/v1/projects/shop/flags"
# A 30% hold-out before a country rule: Unleash strategies are OR-ed, a rollout cannot be negated.
HOLD_OUT: dict[str, Any] = {
    "key": "kr-launch",
    "environments": {
        "production": {
            "enabled": True,
            "default_variant": "off",
            "rules": [
                {"serve": {"rollout": {"percentage": 30, "variant": "off"}}},
                {
                    "constraints": [{"attribute": "country", "operator": "in", "values": ["KR"]}],
                    "serve": {"variant": "on"},
                },
            ],
        }
    },
}
EXPRESSIBLE: dict[str, Any] = {
    "key": "kr-only",
    "environments": {
        "production": {
            "enabled": True,
            "default_variant": "off",
            "rules": [
                {
                    "constraints": [{"attribute": "country", "operator": "in", "values": ["KR"]}],
                    "serve": {"variant": "on"},
                }
            ],
        }
    },
}


def _project(client: TestClient) -> None:
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201


def test_save__hold_out_before_country_rule__warnings_name_the_rule(client: TestClient) -> None:
    _project(client)
    created = client.post(FLAGS, json=HOLD_OUT)
    assert created.status_code == 201, created.text
    body = created.json()
    (warning,) = body["warnings"]
    assert warning.startswith("production: rules[0].serve: a rollout or split serving false")
    (gap,) = body["environments"]["production"]["unleash_gaps"]
    assert gap["path"] == "rules[0].serve"
    assert body["environments"]["staging"]["unleash_gaps"] == []
    # Every later answer about the flag carries them too, and a fix clears them.
    assert client.get(f"{FLAGS}/kr-launch").json()["warnings"] == [warning]
    fixed = client.put(
        f"{FLAGS}/kr-launch/environments/production",
        json={"rules": EXPRESSIBLE["environments"]["production"]["rules"]},
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["warnings"] == []
    assert client.post(FLAGS, json=EXPRESSIBLE).json()["warnings"] == []


def test_unleash_strict__gap__422_naming_the_rule_and_nothing_stored(client: TestClient) -> None:
    _project(client)
    assert client.post(FLAGS, json=EXPRESSIBLE).status_code == 201
    strict = client.patch("/api/v1/projects/shop", json={"unleash_strict": True})
    assert strict.status_code == 200, strict.text
    assert strict.json()["unleash_strict"] is True

    refused = client.post(FLAGS, json=HOLD_OUT)
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "unleash_strict" in detail and "rules[0].serve" in detail, detail
    assert client.get(f"{FLAGS}/kr-launch").status_code == 404

    changed = client.put(
        f"{FLAGS}/kr-only/environments/production",
        json={"rules": HOLD_OUT["environments"]["production"]["rules"]},
    )
    assert changed.status_code == 422
    assert client.get(f"{FLAGS}/kr-only").json()["warnings"] == []  # the old rules stand
    # A kill switch is never refused.
    killed = client.post(f"{FLAGS}/kr-only/environments/production/kill", json={"reason": "x"})
    assert killed.status_code == 200, killed.text

    assert client.patch("/api/v1/projects/shop", json={"unleash_strict": False}).status_code == 200
    assert client.post(FLAGS, json=HOLD_OUT).status_code == 201


def test_flag_page__gap__shown_on_the_environment_card(
    anon_client: TestClient, client: TestClient
) -> None:
    _project(client)
    assert client.post(FLAGS, json=HOLD_OUT).status_code == 201
    assert _login(anon_client).status_code == 303  # type: ignore[attr-defined]
    page = anon_client.get("/projects/shop/flags/kr-launch")
    assert page.status_code == 200
    card = page.text[page.text.index('id="env-production"') :]
    card = card[: card.index("</section>")]
    assert "Unleash SDKs will not answer like OFREP" in card
    assert "<code>rules[0].serve</code>" in card
    staging = page.text[page.text.index('id="env-staging"') :]
    assert "unleash-gaps" not in staging[: staging.index("</section>")]


def test_cli__flag_show_and_project_set__say_the_gap_and_strictness(
    live_server: LiveServer,
) -> None:
    import httpx

    url = live_server.url
    assert run_cli("project", "create", "shop", url=url, token=ADMIN_TOKEN).exit_code == 0

    created = httpx.post(
        f"{url}{FLAGS}", json=HOLD_OUT, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert created.status_code == 201
    shown = run_cli("flag", "show", "kr-launch", "-p", "shop", url=url, token=ADMIN_TOKEN)
    assert shown.exit_code == 0, shown.stderr
    assert "warning: production: rules[0].serve: a rollout or split serving false" in " ".join(
        shown.stdout.split()
    )
    strict = run_cli("project", "set", "shop", "--unleash-strict", url=url, token=ADMIN_TOKEN)
    assert strict.exit_code == 0, strict.stderr
    assert strict.stdout.splitlines()[-1].split()[-1] == "yes"
    refused = run_cli(
        "flag",
        "set",
        "kr-launch",
        "-p",
        "shop",
        "-e",
        "production",
        "--rules",
        '[{"serve": {"rollout": {"percentage": 20, "variant": "off"}}}, '
        '{"constraints": [{"attribute": "country", "operator": "in", "values": ["KR"]}], '
        '"serve": {"variant": "on"}}]',
        url=url,
        token=ADMIN_TOKEN,
    )
    assert refused.exit_code != 0
    assert "unleash_strict" in refused.stderr and "rules[0].serve" in refused.stderr


def test_save__custom_strategy__stored_served_to_unleash_by_name_and_warned(
    anon_client: TestClient, client: TestClient
) -> None:
    _project(client)
    custom = {"name": "ActiveForBetaEmails", "parameters": {"emails": "a@example.com"}}
    created = client.post(
        FLAGS,
        json={
            "key": "beta-access",
            "environments": {
                "production": {
                    "enabled": True,
                    "default_variant": "off",
                    "rules": [{"strategy": custom, "serve": {"variant": "on"}}],
                }
            },
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["environments"]["production"]["rules"][0]["strategy"] == custom
    (warning,) = body["warnings"]
    assert "production: rules[0].strategy: strategy 'ActiveForBetaEmails'" in warning
    token = client.post(
        "/api/v1/tokens",
        json={
            "name": "s",
            "scopes": ["sdk-server"],
            "project": "shop",
            "environment": "production",
        },
    ).json()["token"]
    features = anon_client.get("/api/client/features", headers={"Authorization": token}).json()
    (strategy,) = features["features"][0]["strategies"]
    assert (strategy["name"], strategy["parameters"]) == (custom["name"], custom["parameters"])
    # trimtab cannot evaluate it: OFREP skips the rule.
    ofrep = anon_client.post(
        "/ofrep/v1/evaluate/flags/beta-access",
        json={"context": {"targetingKey": "u1", "email": "a@example.com"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert ofrep.json()["value"] is False
