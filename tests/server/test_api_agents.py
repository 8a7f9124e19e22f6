"""The agent protocol in-process (claim, heartbeat, finish) on both backends: output arrives
incrementally by offset, per-service claims, and what a step waiting for an agent shows.
`tests/runner/test_agent.py` runs a real `trimtab agent` process against a real server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from trimtab.domain.releases import agents
from trimtab.store.db import Store
from trimtab.store.models import DeployAgent, utcnow
from trimtab.store.models.deploys import OUTPUT_TAIL_BYTES

AGENTS = "/api/v1/projects/shop/agents/staging"


class Agent:
    """One agent's calls, with its token."""

    def __init__(self, client: TestClient, name: str, services: list[str] | None = None) -> None:
        body = {
            "name": f"t-{name}",
            "scopes": ["agent"],
            "project": "shop",
            "environment": "staging",
        }
        token = client.post("/api/v1/tokens", json=body).json()["token"]
        self.client = client
        self.name = name
        self.services = services or []
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(
            AGENTS + path, json={"agent": self.name, **body}, headers=self.headers
        )

    def claim(self) -> dict[str, Any] | None:
        answer = self.post("/claim", {"services": self.services})
        assert answer.status_code in (200, 204), answer.text
        return answer.json() if answer.status_code == 200 else None

    def beat(self, step: int, offset: int, output: str) -> int:
        answer = self.post(f"/steps/{step}/heartbeat", {"offset": offset, "output": output})
        assert answer.status_code == 200, answer.text
        return int(answer.json()["offset"])


def shop(client: TestClient, *services: str) -> None:
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    for name in services:
        body = {"name": name, "command": "echo {service} {version}"}
        assert client.post("/api/v1/projects/shop/services", json=body).status_code == 201
    runner = client.put(
        "/api/v1/projects/shop/environments/staging/runner", json={"runner": "agent"}
    )
    assert runner.status_code == 200
    release = {"version": "1.0", "services": dict.fromkeys(services, "1.0")}
    assert client.post("/api/v1/projects/shop/releases", json=release).status_code == 201


def start(client: TestClient) -> dict[str, Any]:
    run = client.post(
        "/api/v1/projects/shop/runs", json={"release": "1.0", "environment": "staging"}
    )
    assert run.status_code == 202, run.text
    return dict(run.json())


def step_output(client: TestClient, run_id: int, service: str = "api") -> str:
    run = client.get(f"/api/v1/projects/shop/runs/{run_id}").json()
    return str(next(s for s in run["steps"] if s["service"] == service)["output_tail"])


def claimed(client: TestClient) -> tuple[dict[str, Any], Agent, int]:
    """A run of service api, and an agent that holds its step."""
    shop(client, "api")
    run = start(client)
    agent = Agent(client, "host-a")
    ticket = agent.claim()
    assert ticket is not None
    return run, agent, int(ticket["deploy_id"])


def test_heartbeat__resend_after_lost_answer__output_not_duplicated(client: TestClient) -> None:
    run, agent, step = claimed(client)
    assert agent.beat(step, 0, "one\n") == 4
    # The answer to that heartbeat was lost: the agent sends from 0 again, with more.
    assert agent.beat(step, 0, "one\ntwo\n") == 8
    assert agent.beat(step, 0, "one\ntwo\n") == 8  # all of it known: nothing appended
    assert agent.beat(step, 8, "") == 8  # a heartbeat without output renews the lease only
    assert step_output(client, run["id"]) == "one\ntwo\n"
    # The last output rides on `finish`; a retry of it after a lost answer is answered as the
    # first (204) and appends nothing; another result for the finished step is refused.
    done = agent.post(f"/steps/{step}/finish", {"ok": True, "offset": 8, "output": "three\n"})
    assert done.status_code == 204
    again = agent.post(f"/steps/{step}/finish", {"ok": True, "offset": 8, "output": "three\n"})
    assert again.status_code == 204, again.text
    assert step_output(client, run["id"]) == "one\ntwo\nthree\n"
    other = agent.post(f"/steps/{step}/finish", {"ok": False, "offset": 14, "output": ""})
    assert other.status_code == 409
    stranger = Agent(client, "host-b")
    theirs = stranger.post(f"/steps/{step}/finish", {"ok": True, "offset": 14, "output": ""})
    assert theirs.status_code == 409
    finished = client.get(f"/api/v1/projects/shop/runs/{run['id']}").json()
    assert [s["result"] for s in finished["steps"]] == ["success"]


def test_heartbeat__gap_and_long_output__tail_bounded_and_gap_marked(client: TestClient) -> None:
    run, agent, step = claimed(client)
    offset = agent.beat(step, 0, "start\n")
    # The agent dropped 100 bytes it could not send in time (more than the tail piled up).
    offset = agent.beat(step, offset + 100, "after the gap\n")
    assert "[trimtab] ... 100 bytes of output not received\nafter the gap\n" in step_output(
        client, run["id"]
    )
    line = "x" * 99 + "\n"
    for _ in range(3 * OUTPUT_TAIL_BYTES // len(line)):
        offset = agent.beat(step, offset, line)
    stored = step_output(client, run["id"])
    assert len(stored.encode()) <= OUTPUT_TAIL_BYTES and stored.endswith(line)


def test_heartbeat__output_over_the_bound_or_negative_offset__refused(client: TestClient) -> None:
    _, agent, step = claimed(client)
    path = f"/steps/{step}/heartbeat"
    too_long = agent.post(path, {"offset": 0, "output": "x" * (OUTPUT_TAIL_BYTES + 1)})
    assert too_long.status_code == 422
    assert agent.post(path, {"offset": -1, "output": ""}).status_code == 422
    assert agent.post(path, {"output": "no offset"}).status_code == 422


@pytest.mark.parametrize("path", ["/api/v1/whoami", "/api/0/", "/api/v1/projects"])
def test_agent_token__any_other_route__403_naming_what_it_may_do(
    client: TestClient, path: str
) -> None:
    shop(client, "api")
    agent = Agent(client, "host-a")
    refused = client.get(path, headers=agent.headers)
    assert refused.status_code == 403
    assert "agent token only claims and reports" in refused.json()["detail"]


def _steps(client: TestClient, run_id: int) -> dict[str, dict[str, Any]]:
    run = client.get(f"/api/v1/projects/shop/runs/{run_id}").json()
    return {s["service"]: s for s in run["steps"]}


def quiet(store: Store, name: str, seconds: float) -> None:
    """The agent's last call was `seconds` ago (it stopped, or lost the server)."""
    with store.write() as session:
        session.execute(
            update(DeployAgent)
            .where(DeployAgent.name == name)
            .values(last_heartbeat_at=utcnow() - timedelta(seconds=seconds))
        )


def test_claim__agent_with_services__claims_only_those(client: TestClient) -> None:
    shop(client, "api", "web")  # one wave: both could run now
    run = start(client)
    web = Agent(client, "web-host", ["web"])
    ticket = web.claim()
    assert ticket is not None and ticket["service"] == "web"
    assert web.claim() is None  # api is not its service, however long it waits
    steps = _steps(client, run["id"])
    assert steps["web"]["agent"] == "web-host" and steps["web"]["waiting"] is None
    # No live agent serves api: the step says so (the API, `deploy status` and the run page).
    assert steps["api"]["result"] == "pending" and steps["api"]["agent"] is None
    assert steps["api"]["waiting"] == "waiting for an agent serving api"
    anything = Agent(client, "any-host")  # no --service: any service of its environment
    ticket = anything.claim()
    assert ticket is not None and ticket["service"] == "api"
    steps = _steps(client, run["id"])
    assert steps["api"]["agent"] == "any-host" and steps["api"]["waiting"] is None


def test_run__agent_serving_the_step_went_quiet__step_waits_for_one(
    client: TestClient, store: Store
) -> None:
    shop(client, "api")
    Agent(client, "api-host", ["api"]).claim()  # seen while nothing was to run
    run = start(client)
    assert _steps(client, run["id"])["api"]["waiting"] is None  # it will claim at its next poll
    quiet(store, "api-host", 3600)  # longer than the lease: it is gone
    assert _steps(client, run["id"])["api"]["waiting"] == "waiting for an agent serving api"


def test_run__local_runner_environment__no_waiting_note(client: TestClient) -> None:
    shop(client, "api")
    client.put("/api/v1/projects/shop/environments/staging/runner", json={"runner": "local"})
    run = start(client)
    assert all(s["waiting"] is None for s in _steps(client, run["id"]).values())


def test_agent_list__stale_and_running_step(client: TestClient, store: Store) -> None:
    shop(client, "api")
    run = start(client)
    busy, idle = Agent(client, "busy-host"), Agent(client, "idle-host", ["web"])
    ticket = busy.claim()
    assert ticket is not None
    idle.claim()
    quiet(store, "idle-host", 3600)
    listed = {a["name"]: a for a in client.get("/api/v1/projects/shop/agents").json()}
    assert listed["busy-host"]["step"] == ticket["deploy_id"]
    assert listed["busy-host"]["run_id"] == run["id"] and not listed["busy-host"]["stale"]
    assert listed["idle-host"]["stale"] and listed["idle-host"]["services"] == ["web"]
    assert listed["idle-host"]["step"] is None and listed["idle-host"]["run_id"] is None


def test_forget_silent_agents__a_week_quiet__deleted_others_kept(
    client: TestClient, store: Store
) -> None:
    shop(client, "api")
    for name in ("old-host", "new-host"):
        Agent(client, name).claim()
    quiet(store, "old-host", 8 * 86400)
    quiet(store, "new-host", 6 * 86400)
    with store.write() as session:
        assert agents.forget_silent_agents(session) == 1
    listed = client.get("/api/v1/projects/shop/agents").json()
    assert [a["name"] for a in listed] == ["new-host"]


def test_environment_list__shows_each_runner(client: TestClient) -> None:
    shop(client, "api")
    listed = client.get("/api/v1/projects/shop/environments").json()
    assert {e["name"]: e["runner"] for e in listed} == {
        "development": "local",
        "staging": "agent",
        "production": "local",
    }
