"""The issue pages in headless Chromium: the real sentry-sdk sends an error to the server, the
issue is found with the search box, its page shows the stack trace, and it is resolved from
there. No page logs a console error or has a failed request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sentry_sdk

from tests.browser.conftest import PageProblems, log_in
from tests.sdk.live import wait_for
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, ThreadedServer

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _reserve_seats(count: int) -> None:
    held = {"row": "F", "seats": count}  # a local the SDK sends with the frame
    raise LookupError(f"only {held['seats'] - 1} seats left in row F")


def _send_error(server: ThreadedServer) -> None:
    """sentry-sdk, as an application would use it, with a user whose address the server
    fills in (`{{auto}}`)."""
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=HTTP_TIMEOUT) as http:
        dsn = http.get("/api/v1/projects/shop").json()["dsn"]
    client = sentry_sdk.Client(
        dsn=dsn,
        release="shop@2.3.1",
        environment="production",
        default_integrations=False,
        send_default_pii=True,  # else the SDK drops the user's ip_address before sending
    )
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_client(client)
            scope.set_user({"id": "moviegoer-7", "ip_address": "{{auto}}"})
            scope.set_tag("cinema", "gangnam")
            try:
                _reserve_seats(4)
            except LookupError:
                assert scope.capture_exception() is not None
        client.flush(timeout=WAIT)
    finally:
        client.close(timeout=1)


def _issue_ids(server: ThreadedServer) -> list[int]:
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=HTTP_TIMEOUT) as http:
        found = http.get("/api/v1/issues", params={"project": "shop", "query": "cinema:gangnam"})
        return [issue["id"] for issue in found.json()]


@pytest.mark.browser
@pytest.mark.demo_workspace
def test_issue_page__real_sdk_error__found_by_search__resolved_from_its_page(
    demo: ThreadedServer, chromium_page: Any
) -> None:
    _send_error(demo)
    assert wait_for(lambda: len(_issue_ids(demo)) == 1, WAIT, interval=0.1)
    (issue_id,) = _issue_ids(demo)
    page = chromium_page
    problems = PageProblems(page)
    log_in(page, demo.url)

    # The search box: a tag term finds it, and only it.
    page.goto(f"{demo.url}/projects/shop/issues")
    page.fill("input[name=q]", "cinema:gangnam")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    titles = page.locator("a.issue-title")
    assert titles.count() == 1
    assert "LookupError: only 3 seats left in row F" in titles.first.text_content()
    with page.expect_navigation(url=f"{demo.url}/projects/shop/issues/{issue_id}"):
        titles.first.click()

    # The latest event's stack trace, the application's frame open with its source line.
    trace = page.locator("section.latest-event")
    assert "_reserve_seats" in trace.text_content()
    assert trace.locator("li.frame.in-app details[open]").count() >= 1
    assert "raise LookupError" in trace.locator("li.frame.in-app pre.context").first.text_content()
    assert page.locator("section.issue-chart svg.bars").count() == 2

    # Resolve it from its page.
    with page.expect_navigation(url=f"{demo.url}/projects/shop/issues/{issue_id}"):
        page.click("button[name=action][value=resolve]")
    assert page.text_content(".issue-bar .chip") == "Resolved"
    assert page.locator("button[name=action][value=reopen]").is_visible()
    with httpx.Client(base_url=demo.url, headers=ADMIN, timeout=HTTP_TIMEOUT) as http:
        assert http.get(f"/api/v1/issues/{issue_id}").json()["status"] == "resolved"

    # Its event: the user's address as the server saw it, not `{{auto}}`.
    with page.expect_navigation():
        page.click("text=Open the latest event")
    user = page.text_content("section:has(h2:text-is('User'))")
    assert "127.0.0.1" in user and "{{auto}}" not in user

    page.goto(f"{demo.url}/")  # leave the page: a live stream closes cleanly
    assert problems.seen == [], "\n".join(problems.seen)
