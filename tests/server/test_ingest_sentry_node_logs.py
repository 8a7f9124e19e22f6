"""@sentry/node (from the npm registry, installed through the shared cache of the browser
tests) against a real `trimtab serve`: log lines sent with `enableLogs` + `Sentry.logger`
appear with the error of their trace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import npm_modules
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, LiveServer

pytestmark = pytest.mark.live

PACKAGES = ["@sentry/node@10"]
SCRIPT = """
const Sentry = require("@sentry/node");

async function main() {
  Sentry.init({
    dsn: process.env.SENTRY_DSN,
    release: "shop@2.3.0",
    environment: "production",
    enableLogs: true,
  });
  Sentry.logger.info(Sentry.logger.fmt`charging card for order ${1042}`);
  Sentry.logger.warn("card issuer slow", { ms: 2300 });
  const eventId = Sentry.captureException(new Error("card declined"));
  Sentry.logger.error("rolled back order 1042");
  const flushed = await Sentry.flush(30000);
  process.stdout.write(JSON.stringify({ eventId, flushed }));
}

main().catch((error) => { console.error(error); process.exit(1); });
"""


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=HTTP_TIMEOUT) as client:
        yield client


def _run_node(script: Path, node_modules: Path, dsn: str) -> dict[str, object]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed for the @sentry/node test")
    env = {"PATH": os.environ.get("PATH", ""), "NODE_PATH": str(node_modules), "SENTRY_DSN": dsn}
    done = subprocess.run(
        [node, str(script)], env=env, capture_output=True, text=True, timeout=WAIT, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_sentry_node__logs_with_enable_logs__shown_with_the_error_of_their_trace(
    api: httpx.Client, tmp_path: Path
) -> None:
    node_modules = npm_modules(PACKAGES)
    dsn = api.post("/api/v1/projects", json={"slug": "shop"}).json()["dsn"]
    script = tmp_path / "send.js"
    script.write_text(SCRIPT)

    sent = _run_node(script, node_modules, dsn)

    assert sent["flushed"] is True
    logs = api.get(f"/api/v1/events/{sent['eventId']}/logs").json()
    event = api.get(f"/api/v1/events/{sent['eventId']}").json()
    assert event["sdk"]["name"] == "sentry.javascript.node"
    assert logs["trace_id"] == event["contexts"]["trace"]["trace_id"]
    lines = [(line["level"], line["body"]) for line in logs["before"] + logs["after"]]
    assert lines == [
        ("info", "charging card for order 1042"),
        ("warn", "card issuer slow"),
        ("error", "rolled back order 1042"),
    ]
    # Lines in the same millisecond as the error are shown before it; the order holds.
    (warn,) = [line for line in logs["before"] + logs["after"] if line["level"] == "warn"]
    assert warn["attributes"]["ms"] == 2300
    assert warn["environment"] == "production" and warn["release"] == "shop@2.3.0"
    found = api.get(f"/api/v1/issues/{event['issue_id']}/logs", params={"query": "issuer"})
    assert [line["body"] for line in found.json()] == ["card issuer slow"]
