"""The project overview and the maintenance and freezes page, on the demo workspace: what runs
where with its window, issues new since the last deploy, recent flag changes and failing
dependencies; maintenance and freezes through the forms with the API's audit entries, CSRF and
scope checks, stored text escaped."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from httpx import URL
from sqlalchemy import select

from tests.server import test_dashboard_issues
from tests.server.test_dashboard import _csrf
from tests.support import WAIT
from trimtab.domain.spine import users
from trimtab.store.db import Store
from trimtab.store.models import AuditEntry, Dependency, FreezeRule, Issue, MaintenanceNotice, User

# Every page here is read on the demo workspace (tests/conftest.py keeps it seeded in a template).
pytestmark = pytest.mark.demo_workspace

READER = "reader"
READER_PASSWORD = "a-long-reader-password"
SCRIPT = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
# A logged-in admin dashboard session on a store holding the demo workspace.
browser = test_dashboard_issues.browser


def _card(page: str, environment: str) -> str:
    return page.split(f'id="env-{environment}"')[1].split("</article>")[0]


def _audit(store: Store, action: str) -> list[AuditEntry]:
    with store.read() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


def _shape(entry: AuditEntry) -> tuple[Any, ...]:
    """An audit entry without what differs between two equal changes (id, time, notice id)."""
    after = dict(entry.after or {})
    before = dict(entry.before or {})
    for part in (after, before):
        for moving in ("id", "starts_at"):
            part.pop(moving, None)
    return (entry.actor, entry.action, entry.target_type, entry.environment, before, after)


def _ingest(client: TestClient, message: str, environment: str) -> int:
    project = client.get("/api/v1/projects/shop").json()
    key = URL(project["dsn"]).username
    event = {"event_id": uuid.uuid4().hex, "message": message, "environment": environment}
    response = client.post(
        f"/api/{project['id']}/store/",
        content=orjson.dumps(event),
        headers={"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"},
    )
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + WAIT
    while True:
        found = client.get("/api/v1/issues", params={"project": "shop", "query": message[:40]})
        if found.json():
            return int(found.json()[0]["id"])
        assert time.monotonic() < deadline, "the event never became an issue"
        time.sleep(0.05)


def _add_reader(store: Store) -> None:
    with store.write() as session:
        session.add(User(username=READER, password_hash=users.hash_password(READER_PASSWORD)))


def _log_in_reader(reader: TestClient) -> None:
    login = reader.get("/login")
    credentials = {"username": READER, "password": READER_PASSWORD}
    reader.post("/login", data={**credentials, "csrf_token": _csrf(login.text)})


def test_project_page__not_logged_in__redirects_to_login(anon_client: TestClient) -> None:
    response = anon_client.get("/projects/shop", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_root_overview__links_each_project_to_its_page(browser: TestClient) -> None:
    assert 'href="/projects/shop"' in browser.get("/").text


def test_project_page__what_runs_where_with_window_release_and_run_links(
    browser: TestClient,
) -> None:
    page = browser.get("/projects/shop")
    assert page.status_code == 200
    production = _card(page.text, "production")
    assert "billing-api" in production and "<code>1.8.0</code>" in production
    assert 'href="/projects/shop/releases/shop%402.3.0"' in production
    assert "user:mina (front-end)" in production
    assert '<a href="/projects/shop/deploys/' in production  # the run that deployed it
    assert "Stabilization window of" in production and "deploys refused" in production
    assert " left</strong>" in production and "Maintenance off" in production
    assert "Nothing deployed here yet." in _card(page.text, "staging")


def test_project_page__new_issue_since_deploy_flag_change_and_failing_dependency(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    issue_id = _ingest(client, f"checkout broke {SCRIPT}", "production")
    staging_issue = _ingest(client, "only in staging", "staging")
    reason = {"reason": f"too many errors {SCRIPT}"}
    flipped = client.post(
        "/api/v1/projects/shop/flags/new-payment-page/environments/production/off", json=reason
    )
    assert flipped.status_code == 200, flipped.text
    with store.write() as session:
        billing = session.scalars(select(Dependency).where(Dependency.name == "billing-api")).one()
        billing.state = "unhealthy"
        billing.state_reason = f"probe failed {SCRIPT}"
    page = browser.get("/projects/shop").text
    production = _card(page, "production")
    new = production.split("New since the last deploy")[1].split("Flags changed")[0]
    assert f'href="/projects/shop/issues/{issue_id}"' in new and "checkout broke" in new
    assert f"/issues/{staging_issue}" not in new  # seen in staging only
    flags = production.split("Flags changed")[1]
    assert 'href="/projects/shop/flags/new-payment-page"' in flags and "flag.off" in flags
    assert "flag.off" not in _card(page, "staging").split("Flags changed")[1]
    failing = page.split("Dependencies not healthy")[1].split("</section>")[0]
    assert 'href="/projects/shop/dependencies/billing-api"' in failing
    assert "pay-library" not in failing and "new-payment-page" in failing
    # Stored text (issue title, flag reason, dependency reason) is shown as text.
    assert page.count(ESCAPED) == 3 and "<script>alert" not in page


def test_project_page__new_issue_count__counts_only_issues_since_the_deploy(
    browser: TestClient, store: Store
) -> None:
    with store.read() as session:
        titles = list(session.scalars(select(Issue.title)))
    production = _card(browser.get("/projects/shop").text, "production")
    count = int(production.split('class="new-count"><strong>')[1].split("<")[0])
    assert 0 < count < len(titles)  # the demo's older issues came before 2.3.0


def test_project_page__unknown_project__problem_page_not_json(browser: TestClient) -> None:
    # A session reaches every project, so another's is one that does not exist for it: 404.
    for url in ("/projects/nope", "/projects/nope/maintenance"):
        missing = browser.get(url)
        assert missing.status_code == 404 and "no project" in missing.text
        assert "text/html" in missing.headers["content-type"]


def test_maintenance_form__on_and_off__same_audit_entries_as_the_api(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    url = "/projects/shop/maintenance"
    page = browser.get(url).text
    assert "Turn maintenance on" in page
    done = browser.post(
        f"{url}/staging/on",
        data={
            "message": f"upgrading {SCRIPT}",
            "expected_end": "2999-01-01T10:00",
            "csrf_token": _csrf(page),
        },
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"{url}#env-staging"
    shown = browser.get(url).text
    staging = _card(shown, "staging")
    assert "maintenance on" in staging and ESCAPED in staging and "<script>alert" not in shown
    assert "2999-01-01 10:00:00 UTC" in staging
    overview = _card(browser.get("/projects/shop").text, "staging")
    assert "Maintenance on" in overview and ESCAPED in overview
    off = browser.post(
        f"{url}/staging/off", data={"csrf_token": _csrf(shown)}, follow_redirects=False
    )
    assert off.status_code == 303
    assert "maintenance off" in _card(browser.get(url).text, "staging")
    # The API's switches write the same entries.
    body = {"message": f"upgrading {SCRIPT}", "expected_end": "2999-01-01T10:00:00Z"}
    assert client.post("/api/v1/projects/shop/maintenance/staging", json=body).status_code == 201
    assert client.delete("/api/v1/projects/shop/maintenance/staging").status_code == 200
    on_entries, off_entries = _audit(store, "maintenance.on"), _audit(store, "maintenance.off")
    assert len(on_entries) == len(off_entries) == 2
    assert _shape(on_entries[0])[1:] == _shape(on_entries[1])[1:]
    assert _shape(off_entries[0])[1:] == _shape(off_entries[1])[1:]
    assert on_entries[0].actor == off_entries[0].actor == "user:admin"


def test_maintenance_form__scheduled_notice_cancelled_by_id(
    browser: TestClient, store: Store
) -> None:
    url = "/projects/shop/maintenance"
    csrf = _csrf(browser.get(url).text)
    ahead = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    data = {"message": "db migration", "starts_at": ahead, "csrf_token": csrf}
    assert browser.post(f"{url}/production/on", data=data).status_code == 200
    assert [e.action for e in _audit(store, "maintenance.schedule")] == ["maintenance.schedule"]
    page = browser.get(url).text
    assert "Scheduled" in _card(page, "production") and "db migration" in page
    with store.read() as session:
        notice = session.scalars(select(MaintenanceNotice)).one()
    cancelled = browser.post(
        f"{url}/production/off", data={"notice": str(notice.id), "csrf_token": csrf}
    )
    assert cancelled.status_code == 200 and "db migration" not in cancelled.text
    bad = browser.post(f"{url}/production/off", data={"notice": "x1", "csrf_token": csrf})
    assert bad.status_code == 422 and "text/html" in bad.headers["content-type"]
    bad_time = browser.post(
        f"{url}/production/on", data={"starts_at": "tomorrow", "csrf_token": csrf}
    )
    assert bad_time.status_code == 422 and "2026-12-24T18:00" in bad_time.text


def test_freeze_form__create_and_lift__same_audit_entries_as_the_api(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    url = "/projects/shop/maintenance"
    csrf = _csrf(browser.get(url).text)
    form = {
        "name": "year-end",
        "environment": "staging",
        "start": "2000-01-01T00:00",
        "end": "2999-01-01T00:00",
        "reason": f"holidays {SCRIPT}",
        "csrf_token": csrf,
    }
    done = browser.post("/projects/shop/freezes", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{url}#freezes"
    page = browser.get(url).text
    freezes = page.split('id="freezes"')[1]
    assert "<strong>year-end</strong>" in freezes and ESCAPED in freezes
    assert "active" in freezes and "<script>alert" not in page
    staging = _card(browser.get("/projects/shop").text, "staging")
    assert "deploys refused" in staging and "year-end" in staging
    lifted = browser.post(
        "/projects/shop/freezes/year-end/lift", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert lifted.status_code == 303
    assert "<strong>year-end</strong>" not in browser.get(url).text
    # The same freeze through the API: the same entries.
    body = {
        "name": "year-end",
        "environments": ["staging"],
        "start": "2000-01-01T00:00:00Z",
        "end": "2999-01-01T00:00:00Z",
        "reason": f"holidays {SCRIPT}",
    }
    assert client.post("/api/v1/projects/shop/freezes", json=body).status_code == 201
    assert client.delete("/api/v1/projects/shop/freezes/year-end").status_code == 200
    added, removed = _audit(store, "freeze.add"), _audit(store, "freeze.remove")
    assert len(added) == len(removed) == 2
    assert _shape(added[0])[1:] == _shape(added[1])[1:]
    assert _shape(removed[0])[1:] == _shape(removed[1])[1:]
    assert added[0].target_id == "shop/year-end" and added[0].actor == "user:admin"


def test_freeze_form__recurring_and_refusals_shown_as_pages(
    browser: TestClient, store: Store
) -> None:
    csrf = _csrf(browser.get("/projects/shop/maintenance").text)
    weekends = {"name": "weekends", "cron": "long-weekends", "csrf_token": csrf}
    assert browser.post("/projects/shop/freezes", data=weekends).status_code == 200
    page = browser.get("/projects/shop/maintenance").text
    assert "<code>long-weekends</code>" in page and "every environment" in page
    again = browser.post("/projects/shop/freezes", data=weekends)
    assert again.status_code == 409 and "already has a freeze" in again.text
    no_end = browser.post("/projects/shop/freezes", data={"name": "x", "csrf_token": csrf})
    assert no_end.status_code == 422 and "start and end" in no_end.text
    assert "text/html" in no_end.headers["content-type"]
    gone = browser.post("/projects/shop/freezes/nope/lift", data={"csrf_token": csrf})
    assert gone.status_code == 404
    with store.read() as session:
        assert list(session.scalars(select(FreezeRule.name))) == ["weekends"]


def test_forms__without_csrf__refused_and_nothing_changes(
    browser: TestClient, store: Store
) -> None:
    posts = {
        "/projects/shop/maintenance/staging/on": {"message": "m"},
        "/projects/shop/maintenance/staging/off": {},
        "/projects/shop/freezes": {"name": "f", "start": "2000-01-01T00:00", "end": "2999-01-01"},
        "/projects/shop/freezes/f/lift": {},
    }
    for url, data in posts.items():
        for token in ({}, {"csrf_token": "forged"}):
            refused = browser.post(url, data={**data, **token})
            assert refused.status_code == 401, url
    with store.read() as session:
        assert not list(session.scalars(select(MaintenanceNotice)))
        assert not list(session.scalars(select(FreezeRule)))
    assert not _audit(store, "maintenance.on") and not _audit(store, "freeze.add")


def test_read_only_user__sees_no_forms_and_forged_posts_refused(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    freeze = {"name": "kept", "start": "2000-01-01T00:00:00Z", "end": "2999-01-01T00:00:00Z"}
    assert client.post("/api/v1/projects/shop/freezes", json=freeze).status_code == 201
    assert client.post("/api/v1/projects/shop/maintenance/staging", json={}).status_code == 201
    _add_reader(store)
    with TestClient(client.app) as reader:
        _log_in_reader(reader)
        page = reader.get("/projects/shop/maintenance")
        assert page.status_code == 200 and "kept" in page.text
        assert "<form" not in page.text.split("</header>", 1)[1]  # only the header's logout
        assert reader.get("/projects/shop").status_code == 200
        csrf = _csrf(page.text)
        posts = {
            "/projects/shop/maintenance/production/on": {"message": "m"},
            "/projects/shop/maintenance/staging/off": {},
            "/projects/shop/freezes": {"name": "f", "end": "2999-01-01T00:00"},
            "/projects/shop/freezes/kept/lift": {},
        }
        for url, data in posts.items():
            refused = reader.post(url, data={**data, "csrf_token": csrf})
            assert refused.status_code == 403, url
            assert "text/html" in refused.headers["content-type"]
    with store.read() as session:
        assert list(session.scalars(select(FreezeRule.name))) == ["kept"]
        assert [n.environment for n in session.scalars(select(MaintenanceNotice))] == ["staging"]
        assert session.scalars(select(MaintenanceNotice)).one().ended_at is None
