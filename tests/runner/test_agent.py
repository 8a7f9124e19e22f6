"""`trimtab agent` end to end: a real agent process claims deploy steps from a real server.

Each test starts `trimtab serve` with a short agent lease (TRIMTAB_AGENT_LEASE) on both database
backends, marks an environment as agent-run, and runs `python -m trimtab agent` with an agent
token. Waits are on conditions, with generous deadlines.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ADMIN_TOKEN, WAIT, LiveServer, run_cli, start_server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LEASE_S = 3
AGENT_COMMAND = (sys.executable, "-m", "trimtab")


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    live = start_server(database_url, tmp_path / "live", {"TRIMTAB_AGENT_LEASE": str(LEASE_S)})
    yield live
    live.stop()


class Api:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, headers=ADMIN, timeout=30)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def agent_token(self, project: str, env: str) -> str:
        body = {"name": f"agent-{env}", "scopes": ["agent"], "project": project, "environment": env}
        return str(self.call("POST", "/api/v1/tokens", json=body)["token"])

    def run(self, release: str, env: str = "staging") -> int:
        body = {"release": release, "environment": env}
        return int(self.call("POST", "/api/v1/projects/shop/runs", json=body)["id"])

    def run_state(self, run_id: int) -> str:
        return str(self.call("GET", f"/api/v1/projects/shop/runs/{run_id}")["state"])

    def step(self, run_id: int) -> dict[str, Any]:
        run = self.call("GET", f"/api/v1/projects/shop/runs/{run_id}")
        (step,) = run["steps"]
        return {**step, "run_state": run["state"]}


def wait_for(what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + WAIT
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def shop(api: Api, command: str) -> None:
    api.call("POST", "/api/v1/projects", json={"slug": "shop"})
    api.call("POST", "/api/v1/projects/shop/services", json={"name": "api", "command": command})
    api.call("PUT", "/api/v1/projects/shop/environments/staging/runner", json={"runner": "agent"})
    for version in ("1.0", "2.0"):
        body = {"version": version, "services": {"api": version}}
        api.call("POST", "/api/v1/projects/shop/releases", json=body)


def start_agent(
    url: str, token: str, tmp_path: Path, name: str, *services: str
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIMTAB_")}
    env["TRIMTAB_TOKEN"] = token
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [
            *AGENT_COMMAND,
            "--url",
            url,
            "agent",
            "-p",
            "shop",
            "-e",
            "staging",
            "--name",
            name,
            "--poll",
            "0.2",
            *(arg for service in services for arg in ("--service", service)),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_agent__claims_step__output_streamed_and_run_finishes(
    server: LiveServer, tmp_path: Path
) -> None:
    api = Api(server.url)
    go = tmp_path / "go"
    shop(
        api,
        f'echo "started {{version}} tok=$TRIMTAB_TOKEN"; '
        f"while [ ! -f {go} ]; do sleep 0.1; done; echo finished",
    )
    token = api.agent_token("shop", "staging")
    agent = start_agent(server.url, token, tmp_path, "host-a")
    try:
        run_id = api.run("1.0")
        running = wait_for(
            "the step's first output while it runs",
            lambda: (s := api.step(run_id))["output_tail"].count("started 1.0") and s,
        )
        assert running["result"] == "running"
        assert "tok=\n" in running["output_tail"]  # the agent's token never reaches the step
        assert token not in running["output_tail"]
        listed = api.call("GET", "/api/v1/projects/shop/agents")
        assert [(a["name"], a["environment"]) for a in listed] == [("host-a", "staging")]
        assert listed[0]["step"] == running["id"] and listed[0]["last_heartbeat_at"]
        go.touch()
        done = wait_for(
            "the run to succeed", lambda: (s := api.step(run_id))["run_state"] == "success" and s
        )
        assert done["result"] == "success"
        assert "finished" in done["output_tail"] and "exit code 0" in done["output_tail"]
    finally:
        stop(agent)


def test_agent__killed_mid_step__failed_as_interrupted_after_lease__not_rerun(
    server: LiveServer, tmp_path: Path
) -> None:
    api = Api(server.url)
    runs_file, pids = tmp_path / "runs", tmp_path / "pids"
    # Each run of a step appends a line; the step's shell records its process group.
    shop(
        api,
        f"echo {{version}} >> {runs_file}; echo $$ >> {pids}; echo started; "
        f'case {{version}} in 1.0) sleep 300;; esac; echo "done {{version}}"',
    )
    token = api.agent_token("shop", "staging")
    first = start_agent(server.url, token, tmp_path, "host-a")
    try:
        run_id = api.run("1.0")
        wait_for("the step to start", lambda: "started" in api.step(run_id)["output_tail"])
        first.send_signal(signal.SIGKILL)
        first.wait()
        failed = wait_for(
            "the lease to run out",
            lambda: (s := api.step(run_id))["run_state"] == "failed" and s,
        )
        assert failed["result"] == "failed"
        assert "interrupted" in failed["output_tail"] and "lease" in failed["output_tail"]
    finally:
        stop(first)
        for pid in pids.read_text().split() if pids.exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGKILL)
    second = start_agent(server.url, token, tmp_path, "host-b")
    try:
        next_run = api.run("2.0")
        wait_for("the next run", lambda: api.step(next_run)["run_state"] == "success")
        # The interrupted step ran once and was never handed out again.
        assert runs_file.read_text().split() == ["1.0", "2.0"]
        assert api.step(run_id)["result"] == "failed"
    finally:
        stop(second)


def test_agents_with_services__each_runs_its_own__unserved_step_shown_waiting(
    server: LiveServer, tmp_path: Path
) -> None:
    api = Api(server.url)
    log = tmp_path / "deployed"
    api.call("POST", "/api/v1/projects", json={"slug": "shop"})
    for name in ("api", "web"):
        body = {"name": name, "command": f"echo {{service}} $TRIMTAB_PROJECT >> {log}"}
        api.call("POST", "/api/v1/projects/shop/services", json=body)
    api.call("PUT", "/api/v1/projects/shop/environments/staging/runner", json={"runner": "agent"})
    release = {"version": "1.0", "services": {"api": "1.0", "web": "1.0"}}
    api.call("POST", "/api/v1/projects/shop/releases", json=release)
    token = api.agent_token("shop", "staging")
    web = start_agent(server.url, token, tmp_path, "web-host", "web")
    api_host = None
    try:
        run_id = api.run("1.0")

        def steps() -> dict[str, Any]:
            run = api.call("GET", f"/api/v1/projects/shop/runs/{run_id}")
            return {s["service"]: s for s in run["steps"]}

        wait_for("the web step to run", lambda: steps()["web"]["result"] == "success")
        waiting = steps()["api"]
        assert waiting["result"] == "pending" and steps()["web"]["agent"] == "web-host"
        assert waiting["waiting"] == "waiting for an agent serving api"
        status = run_cli(
            "deploy", "status", str(run_id), "-p", "shop", url=server.url, token=ADMIN_TOKEN
        )
        assert "api: waiting for an agent serving api" in status.stdout + status.stderr
        assert "web-host" in status.stdout  # the agent column, shown where agents run steps
        api_host = start_agent(server.url, token, tmp_path, "api-host", "api")
        wait_for("the run to succeed", lambda: api.run_state(run_id) == "success")
        assert steps()["api"]["agent"] == "api-host"
        assert sorted(log.read_text().split("\n")) == ["", "api shop", "web shop"]
    finally:
        stop(web)
        if api_host is not None:
            stop(api_host)


def test_agent_token__only_its_project_and_environment(server: LiveServer) -> None:
    api = Api(server.url)
    shop(api, "true")
    api.call("POST", "/api/v1/projects", json={"slug": "other"})
    token = api.agent_token("shop", "staging")
    http = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    claim = {"agent": "a"}
    assert http.post("/api/v1/projects/shop/agents/staging/claim", json=claim).status_code == 204
    assert http.post("/api/v1/projects/shop/agents/production/claim", json=claim).status_code == 403
    assert http.post("/api/v1/projects/other/agents/staging/claim", json=claim).status_code == 404
    assert http.get("/api/v1/projects/shop").status_code == 403
    assert http.get("/api/v1/projects/shop/agents").status_code == 403
    run = {"release": "1.0", "environment": "staging"}
    assert http.post("/api/v1/projects/shop/runs", json=run).status_code == 403
    # A deploy token does not claim: commands run only under an agent token.
    deploy = api.call(
        "POST", "/api/v1/tokens", json={"name": "d", "scopes": ["deploy"], "project": "shop"}
    )["token"]
    refused = httpx.post(
        f"{server.url}/api/v1/projects/shop/agents/staging/claim",
        json=claim,
        headers={"Authorization": f"Bearer {deploy}"},
    )
    assert refused.status_code == 403
    mixed = {"name": "m", "scopes": ["agent", "read"], "project": "shop", "environment": "staging"}
    assert api.http.post("/api/v1/tokens", json=mixed).status_code == 422
    unbound = {"name": "u", "scopes": ["agent"], "project": "shop"}
    assert api.http.post("/api/v1/tokens", json=unbound).status_code == 422
