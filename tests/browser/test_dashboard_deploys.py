"""Done-when, in headless Chromium: from the demo workspace, start a deploy on the release page,
watch its steps finish live and confirm the manual step; see a refused deploy and override it
with a reason; roll back with confirm and reason; read the release page's verdict. No console
error and no failed request on any page."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Dashboard

pytestmark = [pytest.mark.browser, pytest.mark.demo_workspace]


def test_dashboard__deploy_confirm_refusal_override_rollback_verdict(
    dashboard: Dashboard,
) -> None:
    page, base, problems = dashboard.page, dashboard.url, dashboard.problems

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
    assert problems.seen == [], "\n".join(problems.seen)
