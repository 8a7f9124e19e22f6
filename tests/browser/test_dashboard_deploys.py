"""Done-when, in headless Chromium: from the demo workspace, start a deploy on the release page,
watch its steps finish live and confirm the manual step; see a refused deploy and override it
with a reason; roll back with confirm and reason; read the release page's verdict. No console
error and no failed request on any page."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import ADMIN_PASSWORD, WAIT, ThreadedServer
from trimtab.demo import workspace
from trimtab.store.db import Store

pytestmark = [pytest.mark.browser]

WAIT_MS = WAIT * 1000


class Watch:
    """Console errors, failed requests and error responses seen by a page."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text} ({message.location.get('url')})")

    def _failed(self, request: Any) -> None:
        # run_live.js polls the page; a poll in flight when the user submits a form is cancelled
        # by the browser's own navigation, which is not a failure of the server.
        if request.resource_type == "fetch" and request.failure == "net::ERR_ABORTED":
            return
        self.problems.append(f"failed: {request.method} {request.url} {request.failure}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status}: {response.url}")


def test_dashboard__deploy_confirm_refusal_override_rollback_verdict(
    threaded_server: ThreadedServer, store: Store, chromium_page: Any
) -> None:
    with store.write() as session:
        assert workspace.seed(session).created
    page = chromium_page
    page.set_default_timeout(WAIT_MS)
    watch = Watch(page)
    base = threaded_server.url

    page.goto(f"{base}/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")

    # Start shop@2.3.0 in staging: billing-api runs, pay-library waits for a confirm.
    page.goto(f"{base}/projects/shop/releases/shop@2.3.0")
    page.select_option("select[name=environment]", "staging")
    page.click("text=Start deploy")
    page.wait_for_url("**/projects/shop/deploys/*")
    confirm = page.locator("text=Confirm: pay-library 4.2.0 is deployed")
    confirm.wait_for()
    page.locator("#step-billing-api .chip", has_text="success").wait_for()  # live, no reload
    page.fill("#step-pay-library input[name=note]", "payments team: done")
    confirm.click()
    # web-front runs after the confirm; the page follows live until the run succeeds.
    page.locator("#run-state", has_text="success").wait_for()
    assert page.locator("#step-web-front .chip").inner_text() == "success"
    output = page.locator("#step-web-front pre").inner_text()
    assert "deploying web-front 2.3.0 to staging" in output

    # A hotfix to production is refused by 2.3.0's open window; override it with a reason.
    page.goto(f"{base}/projects/shop/releases/shop@2.2.1")
    page.select_option("select[name=environment]", "production")
    page.click("text=Start deploy")
    page.locator("text=Deploy to production refused").wait_for()
    assert "stabilization window" in page.locator("section.refusal").inner_text()
    page.fill("section.refusal textarea[name=reason]", "certificate rotates today")
    page.click("text=Override and deploy")
    page.wait_for_url("**/projects/shop/deploys/*")
    page.locator("#run-state", has_text="success").wait_for()
    assert "override: certificate rotates today" in page.inner_text("body")

    # Roll the hotfix back: confirm and reason, then the rollback run finishes.
    page.click("text=Undo shop@2.2.1 in production")
    page.fill("details.rollback textarea[name=reason]", "hotfix broke refunds")
    page.check("details.rollback input[name=confirm]")
    page.click("details.rollback button[type=submit]")
    page.locator("h1", has_text="Rollback #").wait_for()
    page.locator("#run-state", has_text="success").wait_for()

    # The release page reads its verdict with its numbers and the chart.
    page.goto(f"{base}/projects/shop/releases/shop@2.3.0")
    window = page.locator("section.window-card").first
    text = window.inner_text()
    assert "errors before" in text.lower() and "after the deploy" in text
    assert window.locator("svg rect.after").count() >= 24
    page.goto(f"{base}/projects/shop/releases")
    assert "shop@2.2.1" in page.inner_text("body")
    assert watch.problems == [], "\n".join(watch.problems)
