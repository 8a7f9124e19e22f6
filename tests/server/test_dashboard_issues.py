"""Dashboard pages for error reports, on the demo workspace: issues list with filters, issue
detail with triage forms (CSRF), event detail showing everything the SDK sent."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.server.test_dashboard import _csrf, _login
from trimtab.demo import workspace
from trimtab.store.db import Store
from trimtab.store.models import Event, Issue


@pytest.fixture
def browser(client: TestClient, anon_client: TestClient, store: Store) -> TestClient:
    """A logged-in dashboard session on a store holding the demo workspace."""
    with store.write() as session:
        assert workspace.seed(session).created
    assert _login(anon_client).status_code == 303  # type: ignore[attr-defined]
    return anon_client


def _issue_id(store: Store, title_part: str) -> int:
    with store.read() as session:
        issue = session.scalars(select(Issue).where(Issue.title.contains(title_part))).one()
        return issue.id


def test_issues_page__not_logged_in__redirects_to_login(anon_client: TestClient) -> None:
    response = anon_client.get("/projects/shop/issues", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_issues_page__lists_issues_with_regression_and_filters(browser: TestClient) -> None:
    page = browser.get("/projects/shop/issues").text
    assert "TypeError: Cannot read properties of undefined (reading &#39;amount&#39;)" in page
    assert "regressed in shop@2.3.0" in page
    assert "PaymentDeclinedError" in page
    only_old = browser.get("/projects/shop/issues?release=shop@2.2.0&status=").text
    assert "PaymentDeclinedError" in only_old and "TypeError" not in only_old
    searched = browser.get("/projects/shop/issues?q=billing-api").text
    assert "timed out" in searched and "PaymentDeclinedError" not in searched
    resolved = browser.get("/projects/shop/issues?status=resolved").text
    assert "No issues match" in resolved


def test_issue_page__counts_per_release_environment_and_top_tags(
    browser: TestClient, store: Store
) -> None:
    issue_id = _issue_id(store, "card")
    page = browser.get(f"/projects/shop/issues/{issue_id}").text
    assert "first seen in <strong>shop@2.2.0</strong>" in page
    assert re.search(r"shop@2\.2\.0</a></td><td class=\"num\">25<", page)
    assert re.search(r"shop@2\.3\.0</a></td><td class=\"num\">10<", page)
    assert '<td>production</td><td class="num">35<' in page
    assert "provider" in page and "kakaopay" in page
    assert "Resolve in next release" in page
    assert page.count("/projects/shop/events/") == 20  # the latest 20 events


def test_issue_status_form__resolves_with_csrf_and_refuses_without(
    browser: TestClient, store: Store
) -> None:
    issue_id = _issue_id(store, "Slow seat map")
    url = f"/projects/shop/issues/{issue_id}"
    forged = browser.post(
        f"{url}/status", data={"action": "resolve", "csrf_token": "forged"}, follow_redirects=False
    )
    assert forged.status_code == 401
    with store.read() as session:
        assert session.get(Issue, issue_id).status == "unresolved"  # type: ignore[union-attr]
    csrf = _csrf(browser.get(url).text)
    done = browser.post(
        f"{url}/status", data={"action": "resolve", "csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == url
    page = browser.get(url).text
    assert "Resolved" in page and "Reopen" in page
    assert "issue.resolve" in browser.get("/").text  # audited


def test_event_page__shows_everything_the_sdk_sent(browser: TestClient, store: Store) -> None:
    issue_id = _issue_id(store, "reading")
    with store.read() as session:
        event_id = session.scalars(select(Event.event_id).where(Event.issue_id == issue_id)).first()
    page = browser.get(f"/projects/shop/events/{event_id}").text
    # Exception chain with frames, context lines and in-app marks.
    assert "handleSubmit" in page and "const total = quote.price.amount + fees.booking;" in page
    assert 'class="current"' in page and "in app" in page and "unhandled" in page
    # Breadcrumbs: the movement path and the timeline.
    path = re.search(r'<p class="path">(.*?)</p>', page, re.S)
    assert path is not None
    steps = re.findall(r'<span class="step">([^<]+)</span>', path.group(1))
    assert steps[0] == "/" and steps[-1] == "/checkout/payment"
    assert any(step.endswith("/seats") for step in steps)
    assert "button#pay-now" in page and "ui.click" in page
    # Contexts, user, tags, extra, request, sdk, flags.
    for text in (
        "Device",
        "Browser",
        "OS",
        "App",
        "moviegoer",
        "cart_size",
        "payment_provider",
        "https://shop.example.kr/checkout/payment",
        "sentry.javascript.browser",
        "new-payment-page",
        "ko-KR",
        "shop@2.3.0",
        "production",
    ):
        assert text in page, text


def test_event_page__unknown_event__404_page(browser: TestClient) -> None:
    response = browser.get("/projects/shop/events/" + "0" * 32)
    assert response.status_code == 404 and "no event" in response.text


def test_issue_page__other_project_issue__404(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    client.post("/api/v1/projects", json={"slug": "other"})
    issue_id = _issue_id(store, "card")
    assert browser.get(f"/projects/other/issues/{issue_id}").status_code == 404
