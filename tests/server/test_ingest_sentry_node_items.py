"""@sentry/node (from the npm registry) pointed at a real `trimtab serve` process: an
exception with attachments and a feedback about it with a screenshot (`Sentry.captureFeedback`)
land on the event and the issue."""

from __future__ import annotations

import json
import shutil
import subprocess

import httpx
import pytest

from tests.browser.conftest import npm_modules
from tests.server.test_ingest_sentry_sdk import api, dsn
from tests.support import WAIT

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(shutil.which("node") is None, reason="node runs @sentry/node"),
]
__all__ = ["api", "dsn"]  # fixtures, used by name

PACKAGES = ["@sentry/node@8"]
# Sends one exception with a text attachment and a screenshot, then a feedback naming it;
# prints the ids and the SDK's version as JSON.
SCRIPT = r"""
const Sentry = require("@sentry/node");
Sentry.init({ dsn: process.env.DSN, release: "shop@3.0.0", environment: "production",
              defaultIntegrations: false });
const png = Buffer.from(process.env.PNG_HEX, "hex");
async function main() {
  let eventId;
  Sentry.withScope((scope) => {
    scope.addAttachment({ filename: "cart.json", data: '{"seats": 2}',
                          contentType: "application/json" });
    scope.addAttachment({ filename: "screen.png", data: new Uint8Array(png),
                          contentType: "image/png" });
    eventId = Sentry.captureException(new TypeError("cart is undefined"));
  });
  const feedbackId = Sentry.captureFeedback({
    message: "The cart emptied itself", name: "Cleo", email: "cleo@example.com",
    url: "https://shop.example.com/cart", associatedEventId: eventId,
  }, { attachments: [{ filename: "feedback.png", data: new Uint8Array(png),
                       contentType: "image/png" }] });
  const flushed = await Sentry.flush(Number(process.env.FLUSH_MS));
  console.log(JSON.stringify({ eventId, feedbackId, flushed, version: Sentry.SDK_VERSION }));
}
main();
"""
PNG_HEX = (
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)


def test_sentry_node__exception_with_attachment_and_feedback__on_the_event_and_issue(
    api: httpx.Client, dsn: str
) -> None:
    node_modules = npm_modules(PACKAGES)
    ran = subprocess.run(
        ["node", "-e", SCRIPT],
        cwd=node_modules.parent,
        env={
            "PATH": "/usr/bin:/bin",
            "DSN": dsn,
            "PNG_HEX": PNG_HEX,
            "FLUSH_MS": str(int(WAIT * 1000)),
        },
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    sent = json.loads(ran.stdout.strip().splitlines()[-1])
    assert sent["flushed"] is True and sent["version"].startswith("8.")
    event_id = sent["eventId"]

    event = api.get(f"/api/v1/events/{event_id}").json()
    assert event["title"] == "TypeError: cart is undefined"
    listed = api.get(f"/api/v1/events/{event_id}/attachments").json()
    assert [(a["filename"], a["content_type"], a["inline_image"]) for a in listed] == [
        ("cart.json", "application/json", False),
        ("screen.png", "image/png", True),
    ]
    cart = api.get(f"/api/v1/events/{event_id}/attachments/{listed[0]['id']}")
    assert cart.content == b'{"seats": 2}'
    screen = api.get(f"/api/v1/events/{event_id}/attachments/{listed[1]['id']}")
    assert screen.content == bytes.fromhex(PNG_HEX)

    issue = api.get(f"/api/v1/issues/{event['issue_id']}").json()
    assert issue["feedback_count"] == 1
    (feedback,) = api.get(f"/api/v1/issues/{issue['id']}/feedback").json()
    assert feedback["feedback_id"] == sent["feedbackId"]
    assert (feedback["kind"], feedback["event_id"]) == ("feedback", event_id)
    assert (feedback["name"], feedback["email"], feedback["message"]) == (
        "Cleo",
        "cleo@example.com",
        "The cart emptied itself",
    )
    assert feedback["url"] == "https://shop.example.com/cart"
    # The feedback's screenshot, bound to the feedback's own id.
    (shot,) = api.get(f"/api/v1/events/{sent['feedbackId']}/attachments").json()
    assert (shot["filename"], shot["inline_image"]) == ("feedback.png", True)
    got = api.get(f"/api/v1/events/{sent['feedbackId']}/attachments/{shot['id']}")
    assert got.content == bytes.fromhex(PNG_HEX)
