"""In headless Chromium, from the demo workspace: the project overview from the root page, then
maintenance turned on and off and a freeze added and lifted through the maintenance page's
forms, seen on the overview. No console error and no failed request on any page; the pages fit
a phone's width without a horizontal scroll of the whole page. And the live pages: a change
made through the API (a maintenance notice, a dependency going unhealthy, a new issue) shows
on the open overview, services page and issue list without a reload."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import WAIT_MS, Dashboard, wait_live
from tests.sdk.live import token, wait_for
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

pytestmark = [pytest.mark.browser, pytest.mark.demo_workspace]


def _fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_dashboard__project_overview_maintenance_and_freeze_forms(
    dashboard: Dashboard,
) -> None:
    page, base, problems = dashboard.page, dashboard.url, dashboard.problems

    page.click("a[href='/projects/shop']")
    page.wait_for_url(f"{base}/projects/shop")
    production = page.locator("#env-production")
    production.locator("text=Stabilization window of").wait_for()
    assert "billing-api" in production.inner_text()

    page.click("#env-staging >> text=maintenance and freezes")
    page.wait_for_url("**/projects/shop/maintenance*")
    staging = page.locator("article#env-staging")
    staging.locator("textarea[name=message]").fill("Upgrading the seat map")
    staging.locator("button", has_text="Turn on in staging").click()
    staging.locator(".chip", has_text="maintenance on").wait_for()

    page.fill("input[name=name]", "launch-week")
    page.select_option("select[name=environment]", "staging")
    page.fill("input[name=end]", "2999-01-01T00:00")
    page.fill("input[name=reason]", "Launch week")
    page.click("button:has-text('Add freeze')")
    page.locator("#freezes strong", has_text="launch-week").wait_for()

    page.goto(f"{base}/projects/shop")
    staging_card = page.locator("#env-staging")
    text = staging_card.inner_text()
    assert "Maintenance on" in text and "Upgrading the seat map" in text and "launch-week" in text
    page.set_viewport_size({"width": 390, "height": 844})
    assert _fits(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(f"{base}/projects/shop/maintenance")
    page.click("button[aria-label='Lift freeze launch-week']")
    page.locator("#freezes", has_text="No freezes.").wait_for()
    page.locator("article#env-staging button", has_text="Turn maintenance off").click()
    page.locator("article#env-staging .chip", has_text="maintenance off").wait_for()
    page.set_viewport_size({"width": 390, "height": 844})
    assert _fits(page)
    page.goto(f"{base}/")  # leave the live page: its stream closes cleanly
    assert problems.seen == [], "\n".join(problems.seen)


def _store_event(http: httpx.Client, message: str) -> None:
    """One error report through the Sentry store endpoint, as an SDK sends it."""
    dsn = urlsplit(http.get("/api/v1/projects/shop").json()["dsn"])
    auth = f"Sentry sentry_version=7, sentry_client=test/1.0, sentry_key={dsn.username}"
    event = {"message": message, "level": "error", "platform": "python"}
    sent = http.post(
        f"/api/{dsn.path.strip('/')}/store/",
        json={**event, "environment": "production"},
        headers={"X-Sentry-Auth": auth},
    )
    assert sent.status_code == 200, sent.text


@pytest.mark.browser
def test_dashboard__overview_services_issues__follow_api_changes_without_reload(
    dashboard: Dashboard,
) -> None:
    page, base, problems = dashboard.page, dashboard.url, dashboard.problems
    http = httpx.Client(base_url=base, headers=ADMIN, timeout=HTTP_TIMEOUT)

    # The overview: a maintenance notice started through the API shows on the open page.
    page.goto(f"{base}/projects/shop")
    wait_live(page)
    page.evaluate("window.notReloaded = true")
    notice = {"message": "Moving the seat database"}
    assert http.post("/api/v1/projects/shop/maintenance/staging", json=notice).status_code == 201
    state = page.locator("#env-staging .maintenance-state")
    expect(state).to_contain_text("Moving the seat database", timeout=WAIT_MS)
    assert page.evaluate("window.notReloaded") is True

    # The services page: billing-api goes unhealthy on SDK reports of an open breaker.
    page.goto(f"{base}/projects/shop/services")
    wait_live(page)
    page.evaluate("window.notReloaded = true")
    row = page.locator("table.dependencies tr", has_text="billing-api")
    expect(row.locator(".chip.health-healthy")).to_have_count(1)
    sdk = {"Authorization": f"Bearer {token(http, ['sdk-server'], 'shop', 'production')}"}
    report = {"successes": 0, "failures": 20, "timeouts": 0, "state": "open", "instance": "web-1"}

    def unhealthy() -> bool:
        # Each open report while healthy brings the next check forward; two bad checks in a
        # row (the demo's down_after) make it unhealthy.
        path = "/api/v1/sdk/dependencies/billing-api/report"
        assert http.post(path, json=report, headers=sdk).status_code == 202
        return bool(row.locator(".chip.health-unhealthy").count() == 1)

    assert wait_for(unhealthy, WAIT, interval=1.0)
    assert page.evaluate("window.notReloaded") is True

    # The issue list: a new error report's issue appears.
    page.goto(f"{base}/projects/shop/issues")
    wait_live(page)
    page.evaluate("window.notReloaded = true")
    _store_event(http, "seat map cache went stale")
    titles = page.locator("#issues-live a.issue-title", has_text="seat map cache went stale")
    expect(titles).to_have_count(1, timeout=WAIT_MS)
    assert page.evaluate("window.notReloaded") is True
    http.close()

    page.goto(f"{base}/")  # leave the live page: its stream closes cleanly
    assert problems.seen == [], "\n".join(problems.seen)
