"""Dashboard pages for error reports, on the demo workspace: issues list with filters, issue
detail with triage forms (CSRF), event detail showing everything the SDK sent."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.server.test_dashboard import _csrf, _login
from tests.support import ADMIN_TOKEN, assert_demo_workspace
from trimtab.server.app import create_app
from trimtab.settings import Settings
from trimtab.store.db import Store
from trimtab.store.models import Event, Issue

# Every page here is read on the demo workspace (tests/conftest.py keeps it seeded in a template).
pytestmark = pytest.mark.demo_workspace

Sender = Callable[..., str]


@pytest.fixture
def browser(client: TestClient, anon_client: TestClient, store: Store) -> TestClient:
    """A logged-in dashboard session on a store holding the demo workspace."""
    assert_demo_workspace(store)
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
    recent = page.split("<h2>Recent events</h2>", 1)[1]
    assert recent.count("/projects/shop/events/") == 20  # the latest 20 events


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


SENDER_ADDRESS = "198.51.100.7"


def _frame(function: str, in_app: bool, lineno: int) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "filename": f"{'app' if in_app else 'lib'}/{function}.py",
        "function": function,
        "lineno": lineno,
        "in_app": in_app,
    }
    if in_app:
        frame.update(
            pre_context=["def work():"], context_line=f"    {function}()", post_context=["", ""]
        )
    return frame


# Sentry SDKs send frames oldest call first: shown newest first, the library runs fold.
FRAMES = [
    _frame("wsgi_entry", False, 10),
    _frame("dispatch", False, 20),
    _frame("checkout_view", True, 30),
    _frame("orm_query", False, 40),
    _frame("orm_compile", False, 50),
    _frame("driver_execute", False, 60),
    _frame("apply_coupon", True, 70),
]


@pytest.fixture
def sender(settings: Settings, store: Store, browser: TestClient) -> Iterator[Sender]:
    """Sends events to the demo's shop project as a browser at SENDER_ADDRESS would."""
    app = create_app(settings, store=store, run_jobs=False)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with TestClient(app, headers=headers, client=(SENDER_ADDRESS, 40000)) as client:
        dsn = client.get("/api/v1/projects/shop").json()["dsn"]
        key, project_id = dsn.split("//")[1].split("@")[0], dsn.rsplit("/", 1)[1]

        def send(**overrides: Any) -> str:
            event_id = uuid.uuid4().hex
            event = {
                "event_id": event_id,
                "platform": "python",
                "release": "shop@9.9.9",
                "environment": "production",
                "tags": {"tenant": "acme"},
                "user": {"ip_address": "{{auto}}"},
                "exception": {
                    "values": [
                        {
                            "type": "CouponExpired",
                            "value": "coupon SUMMER expired",
                            "stacktrace": {"frames": FRAMES},
                        }
                    ]
                },
                **overrides,
            }
            sent = client.post(f"/api/{project_id}/store/?sentry_key={key}", json=event)
            assert sent.status_code == 200, sent.text
            return event_id

        yield send


def _coupon_issue(store: Store) -> int:
    return _issue_id(store, "CouponExpired")


def test_issue_page__latest_stack_trace__in_app_frames_open_library_frames_folded(
    browser: TestClient, sender: Sender, store: Store
) -> None:
    sender()
    page = browser.get(f"/projects/shop/issues/{_coupon_issue(store)}").text
    trace = page.split('<section class="latest-event">', 1)[1].split("</section>", 1)[0]
    assert "CouponExpired" in trace and "coupon SUMMER expired" in trace
    # Newest call first: apply_coupon, then 3 library frames, checkout_view, then 2.
    order = [trace.index(name) for name in ("apply_coupon", "driver_execute", "checkout_view")]
    assert order == sorted(order)
    assert re.search(r"<details open>\s*<summary>\s*<span class=\"where\">app/apply_coupon", trace)
    assert re.search(r"<details>\s*<summary>3 library frames</summary>", trace)
    assert re.search(r"<details>\s*<summary>2 library frames</summary>", trace)
    assert 'app/checkout_view.py</span><span class="lineno">:30' in trace
    assert "    checkout_view()" in trace  # the context line


def test_event_page__previous_and_next_by_the_issues_event_order(
    browser: TestClient, sender: Sender, store: Store
) -> None:
    first, middle, last = sender(), sender(), sender()
    page = browser.get(f"/projects/shop/events/{middle}").text
    assert f'href="/projects/shop/events/{first}" rel="prev"' in page
    assert f'href="/projects/shop/events/{last}" rel="next"' in page
    oldest = browser.get(f"/projects/shop/events/{first}").text
    assert (
        'rel="prev"' not in oldest and f'href="/projects/shop/events/{middle}" rel="next"' in oldest
    )
    newest = browser.get(f"/projects/shop/events/{last}").text
    assert 'rel="next"' not in newest and f'href="/projects/shop/events/{first}">« Oldest' in newest
    issue = browser.get(f"/projects/shop/issues/{_coupon_issue(store)}").text
    assert f'/projects/shop/events/{last}">Open the latest event' in issue
    assert f'href="/projects/shop/events/{middle}" rel="prev"' in issue
    assert f'href="/projects/shop/events/{first}">Oldest event' in issue


def test_issue_page__charts_24h_and_14d_with_the_deploy_marker(
    browser: TestClient, store: Store
) -> None:
    page = browser.get(f"/projects/shop/issues/{_issue_id(store, 'reading')}").text
    day, fortnight = page.split('<section class="issue-chart">')[1:3]
    assert "Last 24 hours" in day and "Last 14 days" in fortnight
    assert day.count("<rect ") == 24 and fortnight.count("<rect ") == 14
    assert re.search(r"<title>\d\d:00-\d\d:00 UTC: [\d,]+ events?</title>", day)
    # shop@2.3.0 reached production 30 hours ago: a marker on the 14 days, none on the 24 h.
    marker = '<a href="/projects/shop/releases/shop@2.3.0"><g class="deploy-marker">'
    assert marker in fortnight and "shop@2.3.0 deployed to production" in fortnight
    assert "deploy-marker" not in day
    total = re.search(r"Last 14 days <span class=\"muted\">· ([\d,]+) events", page)
    assert total is not None and int(total[1].replace(",", "")) > 0


def test_issues_search__by_text_tag_release_environment_and_status(
    browser: TestClient, client: TestClient, sender: Sender
) -> None:
    sender()

    def titles(query: str, status: str = "unresolved") -> str:
        return browser.get("/projects/shop/issues", params={"q": query, "status": status}).text

    for query in (
        "tenant:acme",
        "release:shop@9.9.9",
        "environment:production tenant:acme",
        "is:unresolved SUMMER",  # text in the title
        "coupon expired",  # no match: words are one phrase
    ):
        found = titles(query)
        assert ("CouponExpired" in found) is (query != "coupon expired"), query
    assert "PaymentDeclinedError" not in titles("tenant:acme")
    assert "PaymentDeclinedError" in titles("release:shop@2.2.0")
    iphone = titles('device:"iPhone 15"')  # a quoted value keeps its space
    assert "TypeError" in iphone and "CouponExpired" not in iphone
    assert "CouponExpired" not in titles("is:resolved tenant:acme", status="")
    assert "CouponExpired" not in titles("tenant:globex")
    assert "CouponExpired" in titles("apply_coupon")  # the culprit, not in the title
    refused = titles("is:sleeping")
    assert "is: must be one of" in refused and 'value="is:sleeping"' in refused
    # The API reads the same search box.
    api = client.get("/api/v1/issues", params={"project": "shop", "query": "tenant:acme"})
    assert [i["title"] for i in api.json()] == ["CouponExpired: coupon SUMMER expired"]
    bad = client.get("/api/v1/issues", params={"project": "shop", "query": "is:sleeping"})
    assert bad.status_code == 422 and "is: must be one of" in bad.text


def test_event_page__auto_ip_shown_as_the_senders_address_and_no_storage_sizes(
    browser: TestClient, sender: Sender, store: Store
) -> None:
    event_id = sender()
    page = browser.get(f"/projects/shop/events/{event_id}").text
    assert SENDER_ADDRESS in page and "{{auto}}" not in page
    storage = re.compile(r"\d KB|stored compressed|>Size<")
    assert not storage.search(page)
    issue = browser.get(f"/projects/shop/issues/{_coupon_issue(store)}").text
    assert not storage.search(issue)
    demo = browser.get(f"/projects/shop/issues/{_issue_id(store, 'reading')}").text
    demo_event = re.search(r"/projects/shop/events/([0-9a-f]{32})", demo)
    assert demo_event is not None
    assert "203.0.113." in browser.get(f"/projects/shop/events/{demo_event[1]}").text
