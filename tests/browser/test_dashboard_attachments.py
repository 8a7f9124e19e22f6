"""An event's screenshot and a user's feedback in headless Chromium: the real sentry-sdk sends
an error with a screenshot and a log file, then a user report; the issue page shows what the
user wrote, the event page draws the screenshot (under the page's CSP) and hands the log file
over as a download. No page logs a console error or has a failed request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope, Item, PayloadRef

from tests.browser.conftest import PageProblems, log_in
from tests.server.test_ingest_sentry_sdk_items import LOG, PNG
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, ThreadedServer

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _send_error_and_report(server: ThreadedServer) -> str:
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=HTTP_TIMEOUT) as http:
        dsn = http.get("/api/v1/projects/shop").json()["dsn"]
    client = sentry_sdk.Client(dsn=dsn, release="shop@2.3.1", default_integrations=False)
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_client(client)
            scope.add_attachment(bytes=PNG, filename="screenshot.png", content_type="image/png")
            scope.add_attachment(bytes=LOG, filename="checkout.log", content_type="text/plain")
            try:
                raise RuntimeError("the seat map did not load")
            except RuntimeError:
                event_id = scope.capture_exception()
        assert event_id is not None and client.transport is not None
        report = {"event_id": event_id, "name": "Dana", "comments": "Map stayed <i>grey</i>"}
        item = Item(payload=PayloadRef(json=report), type="user_report")
        client.transport.capture_envelope(Envelope(items=[item]))
        client.flush(timeout=WAIT)
    finally:
        client.close(timeout=1)
    return event_id


@pytest.mark.browser
@pytest.mark.demo_workspace
def test_event_page__sdk_screenshot_and_user_report__shown_and_downloadable(
    demo: ThreadedServer, chromium_page: Any
) -> None:
    event_id = _send_error_and_report(demo)
    with httpx.Client(base_url=demo.url, headers=ADMIN, timeout=HTTP_TIMEOUT) as http:
        issue_id = http.get(f"/api/v1/events/{event_id}").json()["issue_id"]
    page = chromium_page
    problems = PageProblems(page)
    log_in(page, demo.url)

    page.goto(f"{demo.url}/projects/shop/issues/{issue_id}")
    feedback = page.locator("section.user-feedback")
    assert "Map stayed <i>grey</i>" in feedback.locator("blockquote").text_content()
    assert feedback.locator("i").count() == 0  # the user's text is text
    assert "Dana" in feedback.text_content()

    with page.expect_navigation():
        feedback.locator(f"a[href$='/events/{event_id}']").click()
    image = page.locator("section.attachments figure.attachment-image img")
    image.wait_for()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 1  # drawn, not blocked
    with page.expect_download() as download:
        page.click("section.attachments a:text-is('checkout.log')")
    assert download.value.suggested_filename == "checkout.log"
    assert open(download.value.path(), "rb").read() == LOG  # noqa: SIM115

    page.goto(f"{demo.url}/")
    assert problems.seen == [], "\n".join(problems.seen)
