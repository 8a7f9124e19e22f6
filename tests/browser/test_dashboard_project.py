"""In headless Chromium, from the demo workspace: the project overview from the root page, then
maintenance turned on and off and a freeze added and lifted through the maintenance page's
forms, seen on the overview. No console error and no failed request on any page; the pages fit
a phone's width without a horizontal scroll of the whole page."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_dashboard_deploys import WAIT_MS, Watch
from tests.support import ADMIN_PASSWORD, ThreadedServer
from trimtab.demo import workspace
from trimtab.store.db import Store

pytestmark = [pytest.mark.browser]


def _fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_dashboard__project_overview_maintenance_and_freeze_forms(
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
    assert not watch.problems, watch.problems
