"""Dashboard pages for a project's tokens and DSN keys, its alert targets, rules and delivery log,
and the audit log: each form goes through the API's domain function (same scopes, same audit
entry), a new secret is shown once and never again, CSRF and read-only users are refused, and
stored text is shown as text."""

from __future__ import annotations

import html
import re
import uuid

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.server import test_dashboard_issues
from tests.server.test_dashboard import _csrf
from trimtab.core.urls import InvalidUrl, check_url
from trimtab.domain.spine import users
from trimtab.store.db import Store
from trimtab.store.models import (
    AlertDelivery,
    AlertTarget,
    ApiToken,
    AuditEntry,
    Project,
    ProjectKey,
    User,
)

# Every page here is read on the demo workspace (tests/conftest.py keeps it seeded in a template).
pytestmark = pytest.mark.demo_workspace

READER = "reader"
READER_PASSWORD = "a-long-reader-password"
SETTINGS = "/projects/shop/settings"
ALERTS = "/projects/shop/alerts"
# A logged-in admin dashboard session on a store holding the demo workspace.
browser = test_dashboard_issues.browser

SECRET = re.compile(r'value="(tt_[A-Za-z0-9_-]+)"')


def _audit(store: Store, action: str) -> list[AuditEntry]:
    with store.read() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(query))


def _post(browser: TestClient, page: str, action: str, **form: str) -> object:
    data = {"csrf_token": _csrf(browser.get(page).text), **form}
    return browser.post(action, data=data, follow_redirects=False)


def _create_token(browser: TestClient, name: str, scope: str, environment: str = "") -> str:
    created = _post(
        browser,
        SETTINGS,
        f"{SETTINGS}/tokens",
        name=name,
        scope=scope,
        environment=environment,
    )
    assert created.status_code == 200, created.text  # type: ignore[attr-defined]
    assert created.headers["cache-control"] == "no-store"  # type: ignore[attr-defined]
    found = SECRET.findall(created.text)  # type: ignore[attr-defined]
    assert len(found) == 1 and "shown this once" in created.text  # type: ignore[attr-defined]
    return found[0]


def _token_id(store: Store, name: str) -> int:
    with store.read() as session:
        return session.scalars(select(ApiToken.id).where(ApiToken.name == name)).one()


def _reader(client: TestClient, store: Store) -> TestClient:
    with store.write() as session:
        session.add(User(username=READER, password_hash=users.hash_password(READER_PASSWORD)))
    reader = TestClient(client.app)
    login = reader.get("/login")
    form = {"username": READER, "password": READER_PASSWORD, "csrf_token": _csrf(login.text)}
    assert reader.post("/login", data=form, follow_redirects=False).status_code == 303
    return reader


@pytest.mark.parametrize("path", [SETTINGS, ALERTS, "/audit"])
def test_admin_pages__not_logged_in__redirect_to_login(anon_client: TestClient, path: str) -> None:
    response = anon_client.get(path, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_token_create__secret_shown_once_then_works_with_its_scope(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    secret = _create_token(browser, "ci-reader", "read")
    listed = browser.get(SETTINGS).text
    assert "ci-reader" in listed and secret[:10] in listed
    assert secret not in listed and "shown this once" not in listed
    with store.read() as session:
        digest = session.scalars(select(ApiToken.secret_sha256).where(ApiToken.name == "ci-reader"))
        assert digest.one() not in listed
    with TestClient(client.app, headers={"Authorization": f"Bearer {secret}"}) as api:
        assert api.get("/api/v1/projects/shop/flags").status_code == 200
        flag = api.post("/api/v1/projects/shop/flags", json={"key": "by-reader"})
        assert flag.status_code == 403
    entry = _audit(store, "token.create")[-1]
    assert entry.actor == "user:admin" and entry.after["name"] == "ci-reader"
    assert entry.after["project"] == "shop" and secret not in orjson.dumps(entry.after).decode()


def test_token_create__bound_to_environment__listed_with_it_and_refused_elsewhere(
    browser: TestClient, client: TestClient
) -> None:
    secret = _create_token(browser, "staging-deployer", "deploy", "staging")
    row = browser.get(SETTINGS).text.split("staging-deployer")[1].split("</tr>")[0]
    assert "<td>staging</td>" in row and '<span class="chip">deploy</span>' in row
    with TestClient(client.app, headers={"Authorization": f"Bearer {secret}"}) as api:
        plan = "/api/v1/projects/shop/releases/shop@2.3.0/plan"
        assert api.get(plan, params={"environment": "staging"}).status_code == 200
        assert api.get(plan, params={"environment": "production"}).status_code == 403


def test_token_last_used__never__then_shown_after_a_request(
    browser: TestClient, client: TestClient
) -> None:
    secret = _create_token(browser, "nightly-report", "read")
    row = browser.get(SETTINGS).text.split("nightly-report")[1].split("</tr>")[0]
    assert '<span class="muted">never</span>' in row
    with TestClient(client.app, headers={"Authorization": f"Bearer {secret}"}) as api:
        assert api.get("/api/v1/projects/shop").status_code == 200
    row = browser.get(SETTINGS).text.split("nightly-report")[1].split("</tr>")[0]
    assert "never" not in row and "(to the minute)" in row


def test_token_create__sdk_scope_without_environment__page_shows_the_reason(
    browser: TestClient, store: Store
) -> None:
    refused = _post(browser, SETTINGS, f"{SETTINGS}/tokens", name="browser", scope="sdk-client")
    assert refused.status_code == 422  # type: ignore[attr-defined]
    text = refused.text  # type: ignore[attr-defined]
    assert "SDK tokens must be bound to a project and an environment" in text
    assert 'action="/projects/shop/settings/tokens"' in text and not SECRET.search(text)
    assert not _audit(store, "token.create")


def test_token_revoke__from_the_page__then_the_api_answers_401(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    secret = _create_token(browser, "short-lived", "read")
    token_id = _token_id(store, "short-lived")
    revoke = f"{SETTINGS}/tokens/{token_id}/revoke"
    assert revoke in browser.get(SETTINGS).text
    assert _post(browser, SETTINGS, revoke).status_code == 303  # type: ignore[attr-defined]
    row = browser.get(SETTINGS).text.split("short-lived")[1].split("</tr>")[0]
    assert "revoked" in row and revoke not in row
    with TestClient(client.app, headers={"Authorization": f"Bearer {secret}"}) as api:
        assert api.get("/api/v1/projects/shop/flags").status_code == 401
    entry = _audit(store, "token.revoke")[-1]
    assert entry.actor == "user:admin" and entry.target_id == str(token_id)


def test_token_revoke__token_of_another_project__404_and_still_valid(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    assert client.post("/api/v1/projects", json={"slug": "other"}).status_code == 201
    body = {"name": "other-token", "scopes": ["read"], "project": "other"}
    assert client.post("/api/v1/tokens", json=body).status_code == 201
    token_id = _token_id(store, "other-token")
    response = _post(browser, SETTINGS, f"{SETTINGS}/tokens/{token_id}/revoke")
    assert response.status_code == 404  # type: ignore[attr-defined]
    with store.read() as session:
        token = session.get(ApiToken, token_id)
        assert token is not None and token.revoked_at is None
    assert not _audit(store, "token.revoke")


def test_dsn_key__create_then_ingest_then_revoke_refuses_ingest(
    browser: TestClient, store: Store, anon_client: TestClient
) -> None:
    made = _post(
        browser, SETTINGS, f"{SETTINGS}/keys", name="mobile-app", rate_limit_per_minute="120"
    )
    assert made.status_code == 303  # type: ignore[attr-defined]
    page = browser.get(SETTINGS).text
    row = page.split("mobile-app")[1].split("</tr>")[0]
    dsn = re.search(r'<code class="dsn">(http://([0-9a-f]{32})@testserver/(\d+))</code>', row)
    assert dsn and "120/min" in row
    public_key, project_id = dsn.group(2), dsn.group(3)
    event = orjson.dumps({"event_id": uuid.uuid4().hex, "message": "from the new key"})
    auth = {"X-Sentry-Auth": f"Sentry sentry_key={public_key}, sentry_version=7"}
    store_url = f"/api/{project_id}/store/"
    assert anon_client.post(store_url, content=event, headers=auth).status_code == 200
    revoke = f"{SETTINGS}/keys/{public_key}/revoke"
    assert _post(browser, SETTINGS, revoke).status_code == 303  # type: ignore[attr-defined]
    row = browser.get(SETTINGS).text.split("mobile-app")[1].split("</tr>")[0]
    assert "revoked" in row and revoke not in row
    again = orjson.dumps({"event_id": uuid.uuid4().hex, "message": "after revoke"})
    assert anon_client.post(store_url, content=again, headers=auth).status_code in (401, 403)
    assert [e.target_id for e in _audit(store, "key.revoke")] == [public_key]
    assert _audit(store, "key.create")[-1].actor == "user:admin"


def test_dsn_key__rate_limit_not_a_number__page_shows_the_reason(browser: TestClient) -> None:
    bad = _post(browser, SETTINGS, f"{SETTINGS}/keys", name="k", rate_limit_per_minute="lots")
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert "the rate limit must be a whole number" in bad.text  # type: ignore[attr-defined]


def test_alert_target__bad_url__page_shows_the_servers_reason(browser: TestClient) -> None:
    url = "ftp://hooks.example.com/x"
    with pytest.raises(InvalidUrl) as reason:
        check_url(url, "a webhook URL")
    bad = _post(browser, ALERTS, f"{ALERTS}/targets", name="ops", url=url, format="json")
    assert bad.status_code == 422  # type: ignore[attr-defined]
    text = bad.text  # type: ignore[attr-defined]
    assert html.escape(str(reason.value)) in text and 'class="error" role="alert"' in text
    assert 'action="/projects/shop/alerts/targets"' in text
    assert "No alert targets yet." in browser.get(ALERTS).text


def test_alert_target_and_rule__created_listed_masked_and_deleted(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    hook = "https://hooks.example.com/services/T000/B000/do-not-show-this-x9z1"
    made = _post(browser, ALERTS, f"{ALERTS}/targets", name="ops", url=hook, format="slack")
    assert made.status_code == 200  # type: ignore[attr-defined]
    secret = re.search(r'value="(whsec_[A-Za-z0-9_-]+)"', made.text)  # type: ignore[attr-defined]
    assert secret
    page = browser.get(ALERTS).text
    assert secret.group(1) not in page and "do-not-show-this" not in page
    assert "https://hooks.example.com/…x9z1" in page and "slack" in page and "signed" in page
    rule = _post(
        browser,
        ALERTS,
        f"{ALERTS}/rules",
        kind="issue.spike",
        target="ops",
        environment="production",
        count="50",
        minutes="10",
        cooldown_minutes="",
    )
    assert rule.status_code == 303  # type: ignore[attr-defined]
    page = browser.get(ALERTS).text
    assert "issue-spike-to-ops-production" in page
    assert "50 events in 10 min, then quiet 60 min" in page
    listed = client.get("/api/v1/projects/shop/alerts/rules").json()
    assert [(r["name"], r["environment"], r["target"]) for r in listed] == [
        ("issue-spike-to-ops-production", "production", "ops")
    ]
    no_count = _post(browser, ALERTS, f"{ALERTS}/rules", kind="issue.spike", target="ops")
    assert no_count.status_code == 422  # type: ignore[attr-defined]
    assert "a spike rule needs a count and minutes" in no_count.text  # type: ignore[attr-defined]
    delete_rule = f"{ALERTS}/rules/issue-spike-to-ops-production/delete"
    assert _post(browser, ALERTS, delete_rule).status_code == 303  # type: ignore[attr-defined]
    assert client.get("/api/v1/projects/shop/alerts/rules").json() == []
    assert _post(browser, ALERTS, f"{ALERTS}/targets/ops/delete").status_code == 303  # type: ignore[attr-defined]
    assert client.get("/api/v1/projects/shop/alerts/targets").json() == []
    unknown = _post(browser, ALERTS, f"{ALERTS}/dependencies/ops/delete")
    assert unknown.status_code == 404  # type: ignore[attr-defined]
    actions = [
        "alert.target.create",
        "alert.rule.create",
        "alert.rule.delete",
        "alert.target.delete",
    ]
    for action in actions:
        assert [e.actor for e in _audit(store, action)] == ["user:admin"], action


def test_alert_target__send_test__outcome_in_the_delivery_log(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    # Nothing listens on the discard port: the attempt fails at once and is logged.
    target = {"name": "nowhere", "url": "http://127.0.0.1:9/hook"}
    assert client.post("/api/v1/projects/shop/alerts/targets", json=target).status_code == 201
    sent = _post(browser, ALERTS, f"{ALERTS}/targets/nowhere/test")
    assert sent.status_code == 303  # type: ignore[attr-defined]
    assert sent.headers["location"] == f"{ALERTS}#deliveries"  # type: ignore[attr-defined]
    log = browser.get(ALERTS).text.split('id="deliveries"')[1]
    row = log.split("<tbody>")[1].split("</tr>")[0]
    assert "nowhere" in row and "<code>test</code>" in row and "failed" in row
    assert "<td>1</td>" in row
    with store.read() as session:
        delivery = session.scalars(select(AlertDelivery)).one()
        assert delivery.kind == "test" and delivery.attempts == 1


def test_alert_target__name_taken__page_shows_the_conflict(browser: TestClient) -> None:
    form = {"name": "ops", "url": "https://hooks.example.com/a", "format": "json"}
    assert _post(browser, ALERTS, f"{ALERTS}/targets", **form).status_code == 200  # type: ignore[attr-defined]
    again = _post(browser, ALERTS, f"{ALERTS}/targets", **form)
    assert again.status_code == 409  # type: ignore[attr-defined]
    assert "already has an alert target" in again.text  # type: ignore[attr-defined]
    assert "whsec_" not in again.text  # type: ignore[attr-defined]


def test_delivery_log__target_status_attempts_never_the_body(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    target = {"name": "ops", "url": "https://hooks.example.com/a"}
    assert client.post("/api/v1/projects/shop/alerts/targets", json=target).status_code == 201
    with store.write() as session:
        project = session.scalars(select(Project).where(Project.slug == "shop")).one()
        hook = session.scalars(select(AlertTarget).where(AlertTarget.name == "ops")).one()
        session.add(
            AlertDelivery(
                project_id=project.id,
                target_id=hook.id,
                kind="issue.new",
                title="New issue: <script>alert(1)</script>",
                body={"text": "the-body-stays-hidden"},
                status="failed",
                attempts=6,
                last_status_code=500,
                last_error="server answered 500",
            )
        )
    page = browser.get(ALERTS).text
    log = page.split('id="deliveries"')[1]
    assert "ops" in log and "failed" in log and "<td>6</td>" in log and "HTTP 500" in log
    assert "the-body-stays-hidden" not in page
    assert "<script>alert(1)</script>" not in page
    assert "New issue: &lt;script&gt;alert(1)&lt;/script&gt;" in log


def test_audit_page__project_column_links_and_filters(
    browser: TestClient, client: TestClient
) -> None:
    assert client.post("/api/v1/projects", json={"slug": "other"}).status_code == 201
    flag = client.post("/api/v1/projects/other/flags", json={"key": "new-search"})
    assert flag.status_code == 201
    page = browser.get("/audit").text
    assert '<a href="/projects/other/flags/new-search">flag new-search</a>' in page
    assert '<a href="/projects/other">other</a>' in page and '<a href="/projects/shop">' in page
    assert re.search(r'href="/projects/shop/releases/shop%402\.3\.0">release shop@2\.3\.0', page)
    assert re.search(r'href="/projects/shop/deploys/\d+">deploy_run \d+</a>', page)
    only_other = browser.get("/audit?project=other").text
    assert "new-search" in only_other and 'href="/projects/shop"' not in only_other
    flags = browser.get("/audit?action=flag.").text
    actions = set(re.findall(r"<td><code>([a-z_.]+)</code>", flags))
    assert actions and all(a.startswith("flag.") for a in actions)
    actor = browser.get("/audit?actor=token:TRIMTAB_ADMIN_TOKEN&project=other").text
    assert "new-search" in actor and "project.create" in actor
    assert "new-search" not in browser.get("/audit?actor=user:nobody").text
    by_target = browser.get("/audit?target=flag:new-search").text
    assert set(re.findall(r"<td><code>([a-z_.]+)</code>", by_target)) == {"flag.create"}
    by_type = browser.get("/audit?target=project&project=other").text
    assert set(re.findall(r"<td><code>([a-z_.]+)</code>", by_type)) == {"project.create"}
    assert browser.get("/audit?project=nowhere").status_code == 404
    assert browser.get("/audit?limit=100000").status_code == 422


def test_audit_page__older_link_pages_through_every_entry_once(
    browser: TestClient, client: TestClient
) -> None:
    full = browser.get("/audit?limit=200").text
    everything = re.findall(r"<td><code>([a-z_.]+)</code>", full)
    assert 10 < len(everything) < 200
    seen: list[str] = []
    url: str | None = "/audit?limit=7"
    pages = 0
    while url is not None:
        page = browser.get(url).text
        seen += re.findall(r"<td><code>([a-z_.]+)</code>", page)
        older = re.search(r'<a href="(/audit\?[^"]+)" rel="next">', page)
        url = html.unescape(older.group(1)) if older else None
        pages += 1
        assert pages < 50
    assert seen == everything and pages == len(everything) // 7 + 1


def test_forms__without_csrf__refused_and_nothing_made(browser: TestClient, store: Store) -> None:
    for action, form in [
        (f"{SETTINGS}/tokens", {"name": "x", "scope": "read"}),
        (f"{SETTINGS}/keys", {"name": "x"}),
        (f"{ALERTS}/targets", {"name": "x", "url": "https://hooks.example.com/a"}),
    ]:
        response = browser.post(action, data=form, follow_redirects=False)
        assert response.status_code == 401, action
        assert "CSRF" in response.text and "tt_" not in response.text
    for action in ("token.create", "key.create", "alert.target.create"):
        assert not _audit(store, action)


def test_read_only_user__lists_without_forms__forged_posts_refused(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    target = {"name": "ops", "url": "https://hooks.example.com/a"}
    assert client.post("/api/v1/projects/shop/alerts/targets", json=target).status_code == 201
    rule = {"kind": "issue.new", "target": "ops"}
    assert client.post("/api/v1/projects/shop/alerts/rules", json=rule).status_code == 201
    _create_token(browser, "admins-only", "read")
    with _reader(client, store) as reader:
        settings = reader.get(SETTINGS)
        assert settings.status_code == 200
        text = settings.text
        assert '<code class="dsn">' in text and "listed for admins only" in text
        assert "admins-only" not in text and 'method="post" action="/projects' not in text
        alerts = reader.get(ALERTS).text
        assert "ops" in alerts and "issue-new-to-ops" in alerts
        assert 'method="post" action="/projects' not in alerts
        assert 'id="deliveries"' in alerts
        csrf = _csrf(alerts)  # the logout form's: a real session token, forged posts
        token_id = _token_id(store, "admins-only")
        with store.read() as session:
            public_key = session.scalars(select(ProjectKey.public_key)).first()
        forged = [
            (f"{SETTINGS}/tokens", {"name": "mine", "scope": "admin"}),
            (f"{SETTINGS}/tokens/{token_id}/revoke", {}),
            (f"{SETTINGS}/keys", {"name": "mine"}),
            (f"{ALERTS}/targets", {"name": "mine", "url": "https://hooks.example.com/b"}),
            (f"{ALERTS}/targets/ops/delete", {}),
            (f"{ALERTS}/targets/ops/test", {}),
            (f"{ALERTS}/rules", {"kind": "issue.new", "target": "ops"}),
            (f"{ALERTS}/rules/issue-new-to-ops/delete", {}),
            (f"{SETTINGS}/keys/{public_key}/revoke", {}),
        ]
        for action, form in forged:
            response = reader.post(action, data={**form, "csrf_token": csrf})
            assert response.status_code == 403, (action, response.status_code)
            assert "tt_" not in response.text and "whsec_" not in response.text
        audit_page = reader.get("/audit")
        assert audit_page.status_code == 200 and "alert.target.create" in audit_page.text
    untouched = ("token.revoke", "key.create", "key.revoke", "alert.target.delete")
    for action in (*untouched, "alert.rule.delete"):
        assert not _audit(store, action), action
    assert [e.after["name"] for e in _audit(store, "token.create")] == ["admins-only"]
    with store.read() as session:
        assert session.scalars(select(AlertDelivery)).first() is None  # no test message sent


def test_stored_text_with_markup__shown_as_text(browser: TestClient, store: Store) -> None:
    markup = "<script>alert(1)</script>"
    _create_token(browser, f"tok {markup}", "read")
    made = _post(browser, SETTINGS, f"{SETTINGS}/keys", name=f"key {markup}")
    assert made.status_code == 303  # type: ignore[attr-defined]
    with store.write() as session:
        project = session.scalars(select(Project).where(Project.slug == "shop")).one()
        session.add(
            AuditEntry(
                actor=f"user:{markup}",
                action="flag.kill",
                target_type="flag",
                target_id=f"f{markup}",
                project_id=project.id,
                reason=markup,
            )
        )
    for path in (SETTINGS, "/audit"):
        page = browser.get(path).text
        assert markup not in page, path
        assert html.escape(markup, quote=False) in page, path


def test_rule_edit__from_the_alerts_page__audited_like_the_api(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    page = "/projects/shop/alerts"
    hook = {"name": "team-chat", "url": "https://example.com/hook"}
    assert client.post("/api/v1/projects/shop/alerts/targets", json=hook).status_code == 201
    rule = {"kind": "issue.new", "target": "team-chat", "name": "new-issues"}
    assert client.post("/api/v1/projects/shop/alerts/rules", json=rule).status_code == 201
    text = browser.get(page).text
    assert 'action="/projects/shop/alerts/rules/new-issues"' in text
    form = {"kind": "issue.spike", "target": "team-chat", "environment": "production"}
    form |= {"count": "30", "minutes": "5", "cooldown_minutes": "90"}
    saved = _post(browser, page, f"{page}/rules/new-issues", **form)  # unticked: disabled
    assert saved.status_code == 303  # type: ignore[attr-defined]
    (got,) = client.get("/api/v1/projects/shop/alerts/rules").json()
    assert (got["kind"], got["environment"], got["enabled"]) == ("issue.spike", "production", False)
    assert (got["spike_count"], got["spike_minutes"], got["cooldown_minutes"]) == (30, 5, 90)
    (entry,) = _audit(store, "alert.rule.update")
    assert entry.actor == "user:admin" and entry.before["kind"] == "issue.new"
    # Back to a plain rule with the spike fields still filled in: they are left out, not refused.
    form |= {"kind": "issue.new", "environment": "", "enabled": "yes"}
    assert _post(browser, page, f"{page}/rules/new-issues", **form).status_code == 303  # type: ignore[attr-defined]
    (got,) = client.get("/api/v1/projects/shop/alerts/rules").json()
    assert (got["kind"], got["environment"], got["enabled"]) == ("issue.new", None, True)
    refused = _post(browser, page, f"{page}/rules/new-issues", kind="issue.new", target="x")
    assert refused.status_code == 404 and "x" in refused.text  # type: ignore[attr-defined]
