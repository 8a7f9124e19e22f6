"""The flag pages in headless Chromium, against the demo workspace: log in, turn a flag on
from its page and see a connected SDK (trimtab's FlagClient) get it, kill it with a reason,
and watch the list and the flag page follow changes made elsewhere without a reload. No page
logs a console error (a CSP violation would be one) or has a failed request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PageProblems, log_in, wait_live
from tests.sdk.live import token, wait_for
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, ThreadedServer
from trimtab.sdk import FlagClient

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
KR = {"targetingKey": "user-7", "country": "KR"}
FLAG = "maintenance-banner"


@pytest.fixture
def sdk(demo: ThreadedServer) -> Iterator[FlagClient]:
    with httpx.Client(base_url=demo.url, headers=ADMIN, timeout=HTTP_TIMEOUT) as http:
        secret = token(http, ["sdk-server"], "shop", "production")
    # Polling every 5 minutes cannot explain a change seen within the test: the push does.
    client = FlagClient(demo.url, secret, poll_interval=300)
    try:
        assert client.wait_until_ready(WAIT)
        assert wait_for(lambda: client.stream_connected, WAIT)
        yield client
    finally:
        client.close()


@pytest.mark.browser
@pytest.mark.demo_workspace
def test_flag_page__turn_on_reaches_the_sdk__kill_with_reason__pages_follow_live(
    demo: ThreadedServer, sdk: FlagClient, chromium_page: Any
) -> None:
    page = chromium_page
    problems = PageProblems(page)
    log_in(page, demo.url)
    assert sdk.bool_value(FLAG, True, KR) is False  # the demo's banner is off

    # The list (from the overview): production by default, then the flag page from it.
    page.click("a[href='/projects/shop/flags']")
    page.wait_for_url(f"{demo.url}/projects/shop/flags")
    assert page.text_content(f"#flag-{FLAG} .state") == "off"
    page.click(f"#flag-{FLAG} a.flag-key")
    page.wait_for_url(f"{demo.url}/projects/shop/flags/{FLAG}")

    # Turn it on in production: the SDK gets it over its stream.
    with page.expect_navigation(url=f"{demo.url}/projects/shop/flags/{FLAG}#env-production"):
        page.click("#env-production button:has-text('Turn on')")
    assert page.text_content("#env-production .state") == "on"
    assert wait_for(lambda: sdk.bool_value(FLAG, False, KR) is True, WAIT)

    # The kill switch wants a reason and a ticked confirmation (required in the form too).
    page.select_option("#kill-form select[name=environment]", "production")
    page.fill("#kill-form input[name=reason]", "banner covers the pay button")
    page.check("#kill-form input[name=confirm]")
    with page.expect_navigation(url=f"{demo.url}/projects/shop/flags/{FLAG}#env-production"):
        page.click("#kill-form button:has-text('Kill')")
    assert page.text_content("#env-production .state") == "off"
    assert "off: banner covers the pay button" in page.text_content("#env-production")
    assert wait_for(lambda: sdk.evaluate(FLAG, True, KR).reason == "DISABLED", WAIT)
    assert "flag.kill" in page.text_content("table.audit")

    # A change made elsewhere (the API, as the CLI would) shows on the open page, no reload.
    wait_live(page)
    page.evaluate("window.notReloaded = true")
    with httpx.Client(base_url=demo.url, headers=ADMIN, timeout=HTTP_TIMEOUT) as http:
        flipped = http.post(f"/api/v1/projects/shop/flags/{FLAG}/environments/staging/on")
        assert flipped.status_code == 200, flipped.text
    expect(page.locator("#env-staging .state")).to_have_text("on", timeout=WAIT * 1000)
    assert page.evaluate("window.notReloaded") is True

    # The list follows too.
    page.goto(f"{demo.url}/projects/shop/flags?env=staging")
    wait_live(page)
    page.evaluate("window.notReloaded = true")
    with httpx.Client(base_url=demo.url, headers=ADMIN, timeout=HTTP_TIMEOUT) as http:
        rollout = http.post(
            "/api/v1/projects/shop/flags/new-payment-page/environments/staging/rollout",
            json={"percentage": 40},
        )
        assert rollout.status_code == 200, rollout.text
    expect(page.locator("#flag-new-payment-page td.num")).to_have_text("40%", timeout=WAIT * 1000)
    assert page.evaluate("window.notReloaded") is True

    page.goto(f"{demo.url}/")  # leave the live page: its stream closes cleanly
    assert problems.seen == [], "\n".join(problems.seen)


@pytest.mark.browser
@pytest.mark.demo_workspace
def test_flag_page__rule_edited_in_the_browser__reaches_the_sdk__bad_rule_keeps_the_text(
    demo: ThreadedServer, sdk: FlagClient, chromium_page: Any
) -> None:
    page = chromium_page
    problems = PageProblems(page)
    log_in(page, demo.url)
    url = f"{demo.url}/projects/shop/flags/checkout-redesign"
    de = {"targetingKey": "user-8", "country": "DE"}
    assert sdk.string_value("checkout-redesign", "none", KR) == "redesign"  # the asia rule
    page.goto(url)

    # A rule the server refuses: its reason beside the editor, the typed text still there.
    def rules(operator: str) -> str:
        constraint = {"attribute": "country", "operator": operator, "values": ["DE"]}
        rule = {"id": "germany", "constraints": [constraint], "serve": {"variant": "redesign"}}
        return orjson.dumps([rule]).decode()

    page.click("#edit-production summary")
    page.fill("#rules-production", rules("like"))
    page.click("#edit-production button:has-text('Save production')")
    expect(page.locator("#edit-production p.error")).to_contain_text("operator: must be one of")
    expect(page.locator("#rules-production")).to_have_value(rules("like"))
    # The refusal itself is a 422 page, which Chromium also logs: expected, and only that.
    refusal = [
        f"HTTP 422: {url}/config",
        "console: Failed to load resource: the server "
        "responded with a status of 422 (Unprocessable Entity)",
    ]
    assert sorted(problems.seen) == sorted(refusal), problems.seen
    problems.seen.clear()

    # Fixed: the SDK connected to production serves the new rules, pushed, not polled.
    page.fill("#rules-production", rules("in"))
    page.fill("#edit-production input[name=reason]", "germany first")
    with page.expect_navigation(url=f"{url}#env-production"):
        page.click("#edit-production button:has-text('Save production')")
    assert wait_for(lambda: sdk.string_value("checkout-redesign", "none", KR) == "classic", WAIT)
    assert sdk.string_value("checkout-redesign", "none", de) == "redesign"
    assert "when country is one of DE" in page.text_content("#env-production")
    assert "germany first" in page.text_content("table.audit")

    # The rule deleted from its card: Germany gets the default again.
    with page.expect_navigation(url=f"{url}#env-production"):
        page.click("#env-production form.rule-moves button[value=delete]")
    assert "No rules" in page.text_content("#env-production")
    assert wait_for(lambda: sdk.string_value("checkout-redesign", "none", de) == "classic", WAIT)

    page.goto(f"{demo.url}/")
    assert problems.seen == [], "\n".join(problems.seen)
