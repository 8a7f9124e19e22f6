"""Dashboard pages for services and dependencies, on the demo workspace: the requirement graph
in deploy order with the versions running, the dependencies with their health and bound flags,
a dependency's page with its history and reporters, and the admin's actions on a dependency —
audited like the API, with CSRF and scope checks, stored text escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.sdk.live import token
from tests.server import test_dashboard_issues
from tests.server.test_dashboard import _csrf, _login
from tests.support import assert_demo_workspace
from trimtab.domain.flags import dependency_health
from trimtab.domain.flags.dependency_health import ProbeResult
from trimtab.domain.spine import users
from trimtab.server.app import create_app
from trimtab.settings import Settings
from trimtab.store.db import Store
from trimtab.store.models import AuditEntry, Dependency, Deploy, User, utcnow

# Every page here is read on the demo workspace (tests/conftest.py keeps it seeded in a template).
pytestmark = pytest.mark.demo_workspace

READER = "reader"
READER_PASSWORD = "a-long-reader-password"
BILLING = "/projects/shop/dependencies/billing-api"
# A logged-in admin dashboard session on a store holding the demo workspace.
browser = test_dashboard_issues.browser


@pytest.fixture
def quiet_browser(settings: Settings, store: Store) -> Iterator[TestClient]:
    """`browser` on an app without background jobs: the test runs the health checks itself,
    so the dependency-health job cannot check billing-api between them."""
    with TestClient(create_app(settings, store=store, run_jobs=False)) as quiet:
        assert_demo_workspace(store)
        assert _login(quiet).status_code == 303  # type: ignore[attr-defined]
        yield quiet


def _audit(store: Store, action: str) -> list[AuditEntry]:
    with store.read() as session:
        entries = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(entries))


def _fail_billing(store: Store) -> None:
    """billing-api's probe answers 500 for as many checks as it takes to go unhealthy."""
    failed = ProbeResult(ok=False, status=500, error="HTTP 500 (expected 200)", elapsed_ms=3.5)
    with store.write() as session:
        billing = session.scalars(select(Dependency).where(Dependency.name == "billing-api")).one()
        billing.probe_url = "http://127.0.0.1:9/healthz"
        now = utcnow()
        for tick in range(billing.down_after):
            dependency_health.check(session, billing, now + timedelta(seconds=tick), failed)
        assert billing.state == "unhealthy"


def _reader(client: TestClient, store: Store) -> TestClient:
    with store.write() as session:
        session.add(User(username=READER, password_hash=users.hash_password(READER_PASSWORD)))
    reader = TestClient(client.app)
    login = reader.get("/login")
    form = {"username": READER, "password": READER_PASSWORD, "csrf_token": _csrf(login.text)}
    assert reader.post("/login", data=form, follow_redirects=False).status_code == 303
    return reader


def test_services_page__not_logged_in__redirects_to_login(anon_client: TestClient) -> None:
    for path in ("/projects/shop/services", BILLING):
        response = anon_client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login"


def test_services_page__graph_in_deploy_order_with_running_versions(browser: TestClient) -> None:
    page = browser.get("/projects/shop/services").text
    svg = page.split("<svg")[1].split("</svg>")[0]
    # Backends first (one wave), then web-front, which requires both.
    assert re.findall(r'<g class="service" data-service="([^"]+)"', svg) == [
        "billing-api",
        "pay-library",
        "web-front",
    ]
    arrows = re.findall(r"<title>([a-z-]+) deploys before ([a-z-]+)</title>", svg)
    assert sorted(arrows) == [("billing-api", "web-front"), ("pay-library", "web-front")]
    # What runs in production (2.3.0's versions), each linking to its release; nothing in staging.
    assert "<title>web-front in production: 2.3.0 (shop@2.3.0)</title>" in svg
    assert "<title>billing-api in production: 1.8.0 (shop@2.3.0)</title>" in svg
    assert "<title>pay-library in staging: nothing deployed</title>" in svg
    assert 'href="/projects/shop/releases/shop%402.3.0"' in svg
    assert 'href="/projects/shop/deploys?service=billing-api"' in svg
    # The accessible table: the same facts, in the same order.
    table = page.split('class="grid compact services-table"')[1].split("</table>")[0]
    rows = re.findall(r'<th scope="row"><a href="[^"]+">([a-z-]+)</a>', table)
    assert rows == ["billing-api", "pay-library", "web-front"]
    web_front = table.split(">web-front</a>")[1].split("</tr>")[0]
    assert "billing-api, pay-library" in web_front and "<code>2.3.0</code>" in web_front
    assert '<span class="chip">manual</span>' in table.split(">pay-library</a>")[1][:60]


def test_services_page__dependencies_with_health_and_bound_flags(browser: TestClient) -> None:
    page = browser.get("/projects/shop/services").text
    listed = page.split('id="dependencies"')[1]
    assert re.findall(r'href="/projects/shop/dependencies/([a-z-]+)"', listed) == [
        "billing-api",
        "pay-library",
    ]
    billing = listed.split(">billing-api</a>")[1].split("</tr>")[0]
    assert "health-healthy" in billing and "no probe" in billing
    assert "new-payment-page · production: normal" in billing
    assert "Add a dependency" in listed


def test_dependency__unhealthy__bound_flag_serves_fallback_on_both_pages(
    quiet_browser: TestClient, store: Store
) -> None:
    browser = quiet_browser
    _fail_billing(store)
    listed = browser.get("/projects/shop/services").text.split('id="dependencies"')[1]
    billing = listed.split(">billing-api</a>")[1].split("</tr>")[0]
    assert "health-unhealthy" in billing and "probe HTTP 500 (expected 200)" in billing
    assert '<span class="chip bad">failed</span>' in billing and "3.5 ms" in billing
    assert "new-payment-page · production: serving fallback off" in billing
    # pay-library is healthy, but the same flag (bound to both) falls back there too.
    pay = listed.split(">pay-library</a>")[1].split("</tr>")[0]
    assert "health-healthy" in pay and "serving fallback off" in pay
    page = browser.get(BILLING).text
    assert re.search(r"Unhealthy since .+: probe HTTP 500 \(expected 200\)", page)
    bound = page.split('class="grid compact bound-flags"')[1].split("</table>")[0]
    assert ">new-payment-page</a>" in bound and "<code>off</code>" in bound
    assert re.search(r"serving fallback since \d\d:\d\d UTC: billing-api failing", bound)
    history = page.split('class="grid compact transitions"')[1].split("</table>")[0]
    changes = re.findall(r"health-(\w+)\">\w+</span> → <span class=\"chip health-(\w+)", history)
    # Newest first: today's failure, then yesterday's six minutes down and back.
    assert changes == [("healthy", "unhealthy"), ("unhealthy", "healthy"), ("healthy", "unhealthy")]
    assert "3 SDK instance(s) report an open circuit" in history


def test_dependency_page__sdk_reports_and_reporting_instances(
    browser: TestClient, client: TestClient
) -> None:
    secret = token(client, ["sdk-server"], "shop", "production")
    report = {"successes": 3, "failures": 4, "timeouts": 1, "state": "open", "instance": "web-1"}
    sent = client.post(
        "/api/v1/sdk/dependencies/billing-api/report",
        json=report,
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert sent.status_code == 202, sent.text
    page = browser.get(BILLING).text
    assert "3 ok · 4 failed · 1 timed out" in page and "1 with the breaker open" in page
    reporters = page.split('class="grid compact reporters"')[1].split("</table>")[0]
    assert "production" in reporters and "/web-1</code>" in reporters
    assert '<span class="chip bad">open</span>' in reporters and "no longer counts" not in reporters


def test_dependency_settings__saved_from_page__audited_like_the_api(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    page = browser.get(BILLING).text
    form = dict(re.findall(r'<input name="(\w+)" value="([^"]*)"', page))
    assert form["down_after"] == "2" and form["max_errors"] == "50" and form["interval_s"] == "10"
    assert 'name="no_max_errors"' in page and 'name="no_probe"' not in page  # no probe yet
    form.update(down_after="4", no_max_errors="true", probe_url="http://127.0.0.1:9/up")
    saved = browser.post(BILLING, data={**form, "csrf_token": _csrf(page)}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == BILLING
    (entry,) = _audit(store, "dependency.update")
    assert entry.actor == "user:admin" and entry.target_id == "billing-api"
    assert entry.before["down_after"] == 2 and entry.after["down_after"] == 4
    assert entry.after["max_errors"] is None and entry.after["probe_url"] == "http://127.0.0.1:9/up"
    assert entry.after["description"] == entry.before["description"]  # kept as it was
    shown = browser.get(BILLING).text
    assert "unhealthy after 4 bad checks" in shown and "not watched" in shown
    # A post of one field changes that field only; the probe goes by its own box.
    one = browser.post(BILLING, data={"up_after": "4", "csrf_token": _csrf(shown)})
    assert one.status_code == 200 and "unhealthy after 4 bad checks, healthy after 4" in one.text
    assert "http://127.0.0.1:9/up" in one.text
    assert _audit(store, "dependency.update")[1].after["description"] == entry.after["description"]
    removed = browser.post(BILLING, data={"no_probe": "true", "csrf_token": _csrf(shown)})
    assert removed.status_code == 200 and "<code>http://127.0.0.1:9/up</code>" not in removed.text
    assert _audit(store, "dependency.update")[2].after["probe_url"] is None
    # The API's change of the same dependency writes the same kind of entry.
    assert client.patch(BILLING.replace("/projects", "/api/v1/projects"), json={"up_after": 5})
    api_entry = _audit(store, "dependency.update")[3]
    assert set(api_entry.after) == set(entry.after) and api_entry.after["up_after"] == 5


def test_dependency_settings__bad_values__problem_page_with_the_reason(
    browser: TestClient, store: Store
) -> None:
    csrf = _csrf(browser.get(BILLING).text)
    for field, value, reason in (
        ("interval_s", "soon", "is not a number"),
        ("interval_s", "0", "interval_s must be from 1 to 3600"),
        ("down_after", "1.5", "down_after must be a whole number"),
        ("failure_rate", "nan", "is not a number"),
        ("probe_url", "file:///etc/passwd", "probe_url"),
    ):
        refused = browser.post(BILLING, data={field: value, "csrf_token": csrf})
        assert refused.status_code == 422 and reason in refused.text, (field, refused.text)
        assert "<html" in refused.text.lower()
    too_long = browser.post(BILLING, data={"min_calls": "9" * 21, "csrf_token": csrf})
    assert too_long.status_code == 422
    assert not _audit(store, "dependency.update")


def test_dependency_create_and_delete__from_pages__audited_and_text_escaped(
    browser: TestClient, store: Store
) -> None:
    csrf = _csrf(browser.get("/projects/shop/services").text)
    bad_name = browser.post(
        "/projects/shop/dependencies", data={"name": "<script>", "csrf_token": csrf}
    )
    assert bad_name.status_code == 422 and "invalid dependency name" in bad_name.text
    assert "<script>" not in bad_name.text.split("<main>")[1]
    made = browser.post(
        "/projects/shop/dependencies",
        data={"name": "search-api", "description": "<script>alert(1)</script>", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert made.status_code == 303
    assert made.headers["location"] == "/projects/shop/dependencies/search-api"
    assert _audit(store, "dependency.create")[-1].actor == "user:admin"
    page = browser.get("/projects/shop/dependencies/search-api").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "No flag falls back on search-api." in page
    url = "/projects/shop/dependencies/search-api/delete"
    unticked = browser.post(url, data={"csrf_token": csrf})
    assert unticked.status_code == 422 and "confirm" in unticked.text
    gone = browser.post(url, data={"confirm": "yes", "csrf_token": csrf}, follow_redirects=False)
    assert gone.status_code == 303
    assert gone.headers["location"] == "/projects/shop/services#dependencies"
    (entry,) = _audit(store, "dependency.delete")
    assert entry.actor == "user:admin" and entry.target_id == "search-api"
    assert browser.get("/projects/shop/dependencies/search-api").status_code == 404


def test_dependency_actions__forged_csrf__refused_and_nothing_changes(
    browser: TestClient, store: Store
) -> None:
    for url, data in (
        (BILLING, {"down_after": "5"}),
        (f"{BILLING}/delete", {"confirm": "yes"}),
        ("/projects/shop/dependencies", {"name": "forged"}),
    ):
        for csrf in ("forged", ""):
            refused = browser.post(url, data={**data, "csrf_token": csrf})
            assert refused.status_code == 401, (url, refused.status_code)
    with store.read() as session:
        names = session.scalars(select(Dependency.name).order_by(Dependency.name)).all()
    assert names == ["billing-api", "pay-library"]
    assert not _audit(store, "dependency.update") and len(_audit(store, "dependency.create")) == 2


def test_dependency_actions__read_only_user__sees_no_forms_and_is_refused(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    with _reader(client, store) as reader:
        services = reader.get("/projects/shop/services")
        assert services.status_code == 200 and "web-front" in services.text
        assert "Add a dependency" not in services.text
        page = reader.get(BILLING)
        assert page.status_code == 200 and "Only admins change or delete" in page.text
        assert 'action="/projects/shop/dependencies/billing-api"' not in page.text
        assert "/delete" not in page.text
        csrf = _csrf(page.text)
        for url, data in (
            (BILLING, {"down_after": "5"}),
            (f"{BILLING}/delete", {"confirm": "yes"}),
            ("/projects/shop/dependencies", {"name": "mine"}),
        ):
            assert reader.post(url, data={**data, "csrf_token": csrf}).status_code == 403
    assert not _audit(store, "dependency.update") and not _audit(store, "dependency.delete")
    assert len(_audit(store, "dependency.create")) == 2  # the demo's two only


def test_services_pages__other_or_unknown_project__404(
    browser: TestClient, client: TestClient
) -> None:
    assert client.post("/api/v1/projects", json={"slug": "other"}).status_code == 201
    empty = browser.get("/projects/other/services")
    assert empty.status_code == 200 and "No services yet" in empty.text
    assert "No dependencies" in empty.text
    assert browser.get("/projects/other/dependencies/billing-api").status_code == 404
    assert browser.get("/projects/nope/services").status_code == 404
    marked = browser.get("/projects/shop/dependencies/%3Cscript%3E")
    assert marked.status_code == 404 and "&#39;&lt;script&gt;&#39;" in marked.text
    assert "<script>" not in marked.text.split("<main>")[1]
    csrf = _csrf(empty.text)
    delete = "/projects/other/dependencies/billing-api/delete"
    moved = browser.post(delete, data={"confirm": "yes", "csrf_token": csrf})
    assert moved.status_code == 404
    assert browser.get(BILLING).status_code == 200  # shop's is untouched


def test_services_page__stored_versions_with_markup__shown_as_text(
    browser: TestClient, store: Store
) -> None:
    with store.write() as session:
        row = session.scalars(
            select(Deploy)
            .where(Deploy.service == "web-front", Deploy.result == "success")
            .order_by(Deploy.id.desc())
        ).first()
        assert row is not None
        row.version = '<b>2.4"</b>'
        row.release_version = "<script>"
    page = browser.get("/projects/shop/services").text
    assert "<script>" not in page.split("<main>")[1] and "<b>2.4" not in page
    assert "&lt;b&gt;2.4&#34;&lt;/b&gt;" in page
    assert 'href="/projects/shop/releases/%3Cscript%3E"' in page
