"""The dashboard's deploy agents page and the agent on a run's page, through HTTP: what the
API lists (`agents.list_agents`), stale agents marked, a waiting step explained, names escaped."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.server.test_api_agents import Agent, quiet, shop, start
from tests.server.test_dashboard import _login
from trimtab.store.db import Store


def test_agents_page__lists_agents__stale_marked_running_step_linked(
    client: TestClient, store: Store
) -> None:
    shop(client, "api")
    run = start(client)
    busy, gone = Agent(client, "busy-host"), Agent(client, "<b>gone</b>", ["web"])
    assert busy.claim() is not None
    gone.claim()
    quiet(store, "<b>gone</b>", 3600)
    _login(client)
    ledger = client.get("/projects/shop/deploys").text
    assert 'href="/projects/shop/deploys/agents"' in ledger
    page = client.get("/projects/shop/deploys/agents")
    assert page.status_code == 200
    rows = page.text.split("<tbody>")[1].split("</tbody>")[0].split("<tr")[1:]
    busy_row = next(r for r in rows if "busy-host" in r)
    gone_row = next(r for r in rows if "gone" in r)
    assert f'href="/projects/shop/deploys/{run["id"]}">run #{run["id"]}</a>' in busy_row
    assert "stale" not in busy_row and "just now" in busy_row and " UTC" in busy_row
    assert "stale" in gone_row and "1 h ago" in gone_row and "idle" in gone_row
    assert "&lt;b&gt;gone&lt;/b&gt;" in gone_row and "<b>gone" not in page.text  # data, not HTML
    assert '<span class="chip">web</span>' in gone_row
    assert 'staging: <span class="chip">agents</span>' in page.text


def test_run_page__step_shows_its_agent__waiting_step_says_for_what(client: TestClient) -> None:
    shop(client, "api", "web")
    run = start(client)
    assert Agent(client, "web-host", ["web"]).claim() is not None
    _login(client)
    page = client.get(f"/projects/shop/deploys/{run['id']}").text
    web = page.split('id="step-web"')[1].split('class="step ')[0]
    api = page.split('id="step-api"')[1].split('id="step-web"')[0]
    assert "on agent" in web and "web-host" in web
    assert "waiting for an agent serving api" in api
    assert "trimtab agent --project shop --env staging --service api" in api


def test_agents_page__not_logged_in__login(anon_client: TestClient) -> None:
    answer = anon_client.get("/projects/shop/deploys/agents", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
