"""Attachments and user feedback from the real `sentry-sdk` (Python) sent to a real `trimtab
serve` process: what the application attached and what its users wrote is on the event, the
issue, the API, the dashboard and `trimtab issues show`.

The Python SDK has `scope.add_attachment` but no feedback call of its own; feedback goes out
as SDKs in other languages send it, a `user_report` or `feedback` envelope item, through the
SDK's own `Envelope` and transport.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope, Item, PayloadRef

from tests.server.test_ingest_sentry_sdk import _capture_exception, _checkout, api, dsn, send
from tests.support import ADMIN_PASSWORD, ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, LiveServer, run_cli

pytestmark = pytest.mark.live
__all__ = ["api", "dsn"]  # fixtures, used by name

# A 1x1 PNG: what a screenshot looks like to the server.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)
LOG = b"12:00:01 GET /checkout\n12:00:02 POST /pay -> 502\n"


@pytest.fixture
def dashboard(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=HTTP_TIMEOUT) as client:
        page = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        form = {"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": csrf.group(1)}
        assert client.post("/login", data=form).status_code == 303
        yield client


def _send_envelope(dsn: str, *items: Item, event_id: str | None = None) -> None:
    """Items sent by the SDK's own transport, in one envelope."""
    client = sentry_sdk.Client(dsn=dsn, default_integrations=False)
    try:
        assert client.transport is not None
        headers = {"event_id": event_id} if event_id else {}
        client.transport.capture_envelope(Envelope(headers=headers, items=list(items)))
        client.flush(timeout=WAIT)
    finally:
        client.close(timeout=1)


def _capture_with_attachments(scope: sentry_sdk.Scope) -> str:
    scope.add_attachment(bytes=LOG, filename="checkout.log", content_type="text/plain")
    scope.add_attachment(bytes=PNG, filename="screenshot.png", content_type="image/png")
    scope.add_attachment(bytes=b"<script>alert(1)</script>", filename="page.html")
    return _capture_exception(scope, lambda: _checkout(2450))


def test_sentry_sdk__exception_with_attachments__listed_downloaded_and_on_the_event_page(
    api: httpx.Client, dsn: str, dashboard: httpx.Client
) -> None:
    event_id: str = send(dsn, _capture_with_attachments)

    listed = api.get(f"/api/v1/events/{event_id}/attachments").json()
    assert [(a["filename"], a["content_type"], a["size"]) for a in listed] == [
        ("checkout.log", "text/plain", len(LOG)),
        ("screenshot.png", "image/png", len(PNG)),
        ("page.html", "text/html", 25),  # the SDK guessed the type from the name
    ]
    assert [a["inline_image"] for a in listed] == [False, True, False]
    log, png, html = (api.get(f"/api/v1/events/{event_id}/attachments/{a['id']}") for a in listed)
    assert log.content == LOG and log.headers["content-type"].startswith("text/plain")
    assert log.headers["content-disposition"].startswith('attachment; filename="checkout.log"')
    assert png.content == PNG and png.headers["content-type"] == "image/png"
    assert html.headers["content-type"] == "application/octet-stream"  # never a page of ours
    assert all(r.headers["x-content-type-options"] == "nosniff" for r in (log, png, html))

    page = dashboard.get(f"/projects/shop/events/{event_id}")
    assert page.status_code == 200
    shot = f"/projects/shop/events/{event_id}/attachments/{listed[1]['id']}"
    assert f'<img src="{shot}?inline=1"' in page.text
    assert "checkout.log" in page.text and "page.html" in page.text
    inline = dashboard.get(f"{shot}?inline=1")
    assert inline.content == PNG
    assert inline.headers["content-disposition"].startswith("inline;")
    html_shown = dashboard.get(
        f"/projects/shop/events/{event_id}/attachments/{listed[2]['id']}?inline=1"
    )
    assert html_shown.headers["content-disposition"].startswith("attachment;")  # not an image
    assert html_shown.headers["content-type"] == "application/octet-stream"


def test_sentry_sdk__attachment_before_its_event__bound_when_the_event_comes(
    api: httpx.Client, dsn: str
) -> None:
    event_id = uuid.uuid4().hex
    item = Item(payload=PayloadRef(bytes=LOG), type="attachment", filename="early.log")
    _send_envelope(dsn, item, event_id=event_id)

    # The event comes later with the same id, as a crash handler's second envelope would.
    late = {"event_id": event_id, "level": "error", "message": "payment declined"}
    assert send(dsn, lambda scope: scope.capture_event(late)) == event_id

    listed = api.get(f"/api/v1/events/{event_id}/attachments").json()
    assert [a["filename"] for a in listed] == ["early.log"]


def test_sentry_sdk__user_report_and_feedback__on_the_issue_api_page_and_cli(
    api: httpx.Client, dsn: str, dashboard: httpx.Client, live_server: LiveServer
) -> None:
    event_id: str = send(dsn, lambda scope: _capture_exception(scope, lambda: _checkout(99)))
    report = {
        "event_id": event_id,
        "name": "Ana",
        "email": "ana@example.com",
        "comments": "I pressed pay and <b>nothing</b> happened",
    }
    feedback_id = uuid.uuid4().hex
    feedback = {
        "event_id": feedback_id,
        "type": "feedback",
        "platform": "python",
        "contexts": {
            "feedback": {
                "message": "Charged twice?",
                "contact_email": "bo@example.com",
                "name": "Bo",
                "url": "https://shop.example.com/checkout",
                "associated_event_id": event_id,
            }
        },
    }
    _send_envelope(dsn, Item(payload=PayloadRef(json=report), type="user_report"))
    shot = Item(
        payload=PayloadRef(bytes=PNG),
        type="attachment",
        filename="feedback.png",
        content_type="image/png",
    )
    _send_envelope(
        dsn,
        Item(payload=PayloadRef(json=feedback), type="feedback"),
        shot,  # the feedback widget's screenshot: bound to the feedback's id
        event_id=feedback_id,
    )

    issue_id = api.get(f"/api/v1/events/{event_id}").json()["issue_id"]
    assert api.get(f"/api/v1/issues/{issue_id}").json()["feedback_count"] == 2
    listed = api.get(f"/api/v1/issues/{issue_id}/feedback").json()
    assert sorted((f["kind"], f["name"], f["email"], f["message"]) for f in listed) == [
        ("feedback", "Bo", "bo@example.com", "Charged twice?"),
        ("user_report", "Ana", "ana@example.com", "I pressed pay and <b>nothing</b> happened"),
    ]
    assert {f["event_id"] for f in listed} == {event_id}

    page = dashboard.get(f"/projects/shop/issues/{issue_id}").text
    assert "Charged twice?" in page and "bo@example.com" in page
    assert "&lt;b&gt;nothing&lt;/b&gt;" in page  # stored text is data, never markup
    assert "Charged twice?" in dashboard.get(f"/projects/shop/events/{event_id}").text
    (attached,) = api.get(f"/api/v1/events/{feedback_id}/attachments").json()
    shot_url = f"/projects/shop/events/{feedback_id}/attachments/{attached['id']}"
    assert f'<img src="{shot_url}?inline=1"' in page
    assert dashboard.get(f"{shot_url}?inline=1").content == PNG

    shown = run_cli("issues", "show", str(issue_id), url=live_server.url, token=ADMIN_TOKEN)
    assert shown.exit_code == 0, shown.stderr
    assert "feedback_count" in shown.stdout and "Charged twice?" in shown.stdout
    assert "ana@example.com" in shown.stdout
