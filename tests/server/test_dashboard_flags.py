"""Dashboard pages for flags, on the demo workspace: the list per environment (search, tags,
stale and fallback marks), a flag's page, and its actions through forms with CSRF, audited
exactly as the API audits them; a read-only user sees and may do nothing but read."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.server.test_dashboard import _csrf, _login
from trimtab.demo import workspace
from trimtab.domain.flags import dependencies, dependency_health, flags
from trimtab.domain.flags.dependency_health import ProbeResult
from trimtab.domain.spine import projects, users
from trimtab.domain.spine.actors import Actor
from trimtab.server.headers import CONTENT_SECURITY_POLICY
from trimtab.store.db import Store
from trimtab.store.models import AuditEntry, User, utcnow

ADMIN = Actor("token", "test", frozenset({"admin"}))
PAGE = "/projects/shop/flags/new-payment-page"
VIEWER_PASSWORD = "viewer-password-123"


@pytest.fixture
def browser(anon_client: TestClient, store: Store) -> TestClient:
    """A logged-in admin dashboard session on a store holding the demo workspace."""
    with store.write() as session:
        assert workspace.seed(session).created
    assert _login(anon_client).status_code == 303  # type: ignore[attr-defined]
    return anon_client


def _config(store: Store, key: str, env: str) -> flags.FlagConfigView:
    with store.read() as session:
        return flags.flag_detail(session, ADMIN, "shop", key).environments[env]


def _entries(store: Store, key: str) -> list[AuditEntry]:
    with store.read() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.target_type == "flag", AuditEntry.target_id == key)
                .order_by(AuditEntry.id)
            )
        )


def _post(browser: TestClient, action: str, data: dict[str, str], key: str = "new-payment-page"):  # type: ignore[no-untyped-def]
    url = f"/projects/shop/flags/{key}"
    csrf = _csrf(browser.get(url).text)
    return browser.post(
        f"{url}/{action}", data={"csrf_token": csrf, **data}, follow_redirects=False
    )


def _billing_fails(store: Store) -> None:
    bad = ProbeResult(ok=False, status=503, error="HTTP 503", elapsed_ms=3.0)
    now = utcnow()
    with store.write() as session:
        project = projects.get_project(session, ADMIN, "shop")
        billing = dependencies.get_dependency(session, project, "billing-api")
        for i in range(billing.down_after):
            dependency_health.check(session, billing, now + timedelta(seconds=i), bad)


def test_flags_page__not_logged_in__redirects_to_login(anon_client: TestClient) -> None:
    for url in ("/projects/shop/flags", PAGE):
        response = anon_client.get(url, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login"


def test_flags_page__production__state_rollout_stale_and_tags(browser: TestClient) -> None:
    response = browser.get("/projects/shop/flags")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page = response.text
    assert "showing <strong>production</strong>" in page
    row = re.search(r'<tr id="flag-new-payment-page">(.*?)</tr>', page, re.S)
    assert row is not None
    assert '<span class="chip ok state">on</span>' in row.group(1) and "25%" in row.group(1)
    assert "payments" in row.group(1) and "release-2.3.0" in row.group(1)
    stale = re.search(r'<tr id="flag-legacy-search">(.*?)</tr>', page, re.S)
    assert stale is not None and ">stale</span>" in stale.group(1)
    banner = re.search(r'<tr id="flag-maintenance-banner">(.*?)</tr>', page, re.S)
    assert banner is not None and '<span class="chip state-off state">off</span>' in banner.group(1)
    assert 'href="/projects/shop/flags"' in page and 'class="active"' in page  # navigation
    assert (
        "showing <strong>production</strong>" in browser.get("/projects/shop/flags?env=moon").text
    )
    staging = browser.get("/projects/shop/flags?env=staging").text
    row = re.search(r'<tr id="flag-new-payment-page">(.*?)</tr>', staging, re.S)
    assert row is not None and "100%" in row.group(1)


def test_flags_page__search_by_text_and_tag(browser: TestClient) -> None:
    searched = browser.get("/projects/shop/flags?q=BANNER").text
    assert 'id="flag-maintenance-banner"' in searched
    assert 'id="flag-new-payment-page"' not in searched
    by_owner = browser.get("/projects/shop/flags?q=backend").text
    assert 'id="flag-legacy-search"' in by_owner and 'id="flag-checkout-redesign"' not in by_owner
    tagged = browser.get("/projects/shop/flags?tag=experiment").text
    assert 'id="flag-checkout-redesign"' in tagged and 'id="flag-legacy-search"' not in tagged
    assert "1 of 4 flags" in tagged
    nothing = browser.get("/projects/shop/flags?q=no-such-thing").text
    assert "No flags match." in nothing


def test_flags_pages__dependency_unhealthy__say_the_flag_serves_its_fallback(
    browser: TestClient, store: Store
) -> None:
    assert "serving fallback" not in browser.get("/projects/shop/flags").text
    _billing_fails(store)
    listed = browser.get("/projects/shop/flags").text
    assert "serving fallback: billing-api unhealthy" in listed
    page = browser.get(PAGE).text
    assert re.search(r"serving fallback since \d\d:\d\d UTC: billing-api failing", page)
    assert "flag.fallback" in page  # the automatic switch is in the flag's audit trail


def test_flag_page__rules_variants_schedules_auto_off_and_audit(browser: TestClient) -> None:
    page = browser.get(PAGE).text
    assert "serve on to 25% (by targetingKey); the rest go on" in page
    assert "serves <strong>off</strong> while billing-api or pay-library is unhealthy" in page
    assert "ramp" in page and "pending" in page  # the five-day ramp
    assert "Auto-off" in page
    assert "flag.rollout" in page and "flag.create" in page
    redesign = browser.get("/projects/shop/flags/checkout-redesign").text
    assert "when country is one of KR, JP → <strong>serve redesign</strong>" in redesign
    assert "split classic 50%, redesign 50% (by targetingKey)" in redesign
    assert "Kill switch" in page and 'name="csrf_token"' in page


def test_flag_page__stored_markup__shown_as_text(browser: TestClient, store: Store) -> None:
    script = "<script>alert('x')</script>"
    with store.write() as session:
        flags.update_definition(
            session, ADMIN, "shop", "maintenance-banner", description=script, owner="<b>ops</b>"
        )
        flags.kill(session, ADMIN, "shop", "maintenance-banner", "production", f"oops {script}")
    for url in ("/projects/shop/flags/maintenance-banner", "/projects/shop/flags"):
        page = browser.get(url).text
        assert script not in page and "<b>ops</b>" not in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page


def test_flag_page__unknown_flag__404_page(browser: TestClient) -> None:
    response = browser.get("/projects/shop/flags/nope")
    assert response.status_code == 404 and "has no flag" in response.text
    assert response.headers["content-type"].startswith("text/html")


def test_switch__forged_csrf__refused_and_flag_unchanged(browser: TestClient, store: Store) -> None:
    response = browser.post(
        f"{PAGE}/switch",
        data={"environment": "production", "state": "off", "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 401 and "CSRF" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert _config(store, "new-payment-page", "production").enabled is True


def test_switch__off_then_on__same_audit_entries_as_the_api(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    off = _post(browser, "switch", {"environment": "production", "state": "off"})
    assert off.status_code == 303 and off.headers["location"] == f"{PAGE}#env-production"
    assert _config(store, "new-payment-page", "production").enabled is False
    assert _post(browser, "switch", {"environment": "production", "state": "on"}).status_code == 303
    assert _config(store, "new-payment-page", "production").enabled is True
    api = "/api/v1/projects/shop/flags/new-payment-page/environments/staging"
    assert client.post(f"{api}/off").status_code == 200
    assert client.post(f"{api}/on").status_code == 200
    entries = [
        e for e in _entries(store, "new-payment-page") if e.action in ("flag.on", "flag.off")
    ]
    by_page = [
        (e.action, e.before, e.after, e.reason) for e in entries if e.environment == "production"
    ]
    by_api = [
        (e.action, e.before, e.after, e.reason) for e in entries if e.environment == "staging"
    ]
    assert by_page == by_api and [a for a, *_ in by_page] == ["flag.off", "flag.on"]
    assert {e.actor for e in entries if e.environment == "production"} == {"user:admin"}


def test_kill__needs_confirm_and_reason__then_kills_with_the_reason(
    browser: TestClient, store: Store
) -> None:
    unconfirmed = _post(browser, "kill", {"environment": "production", "reason": "billing down"})
    assert unconfirmed.status_code == 422 and "confirm the kill switch" in unconfirmed.text
    assert 'value="billing down"' in unconfirmed.text  # the form keeps what was typed
    assert f'hx-get="{PAGE}"' in unconfirmed.text  # live refresh reads the page, not the POST
    no_reason = _post(browser, "kill", {"environment": "production", "confirm": "yes"})
    assert no_reason.status_code == 422 and "a reason is required" in no_reason.text
    assert _config(store, "new-payment-page", "production").enabled is True
    killed = _post(
        browser, "kill", {"environment": "production", "reason": "billing down", "confirm": "yes"}
    )
    assert killed.status_code == 303
    config = _config(store, "new-payment-page", "production")
    assert config.enabled is False and config.off_reason == "billing down"
    last = _entries(store, "new-payment-page")[-1]
    assert (last.action, last.reason, last.actor) == ("flag.kill", "billing down", "user:admin")
    page = browser.get(PAGE).text
    assert "off: billing down" in page and "cancelled by the kill switch" in page


def test_rollout__bad_percentage_shown_on_page__good_one_applied(
    browser: TestClient, store: Store
) -> None:
    for bad in ("150", "half", ""):
        response = _post(browser, "rollout", {"environment": "production", "percentage": bad})
        assert response.status_code == 422, bad
        assert "rollout percentage: a number from 0 to 100" in response.text
    unknown = _post(browser, "rollout", {"environment": "moon", "percentage": "10"})
    assert unknown.status_code == 404 and "moon" in unknown.text
    done = _post(
        browser, "rollout", {"environment": "production", "percentage": "50", "reason": "ramp"}
    )
    assert done.status_code == 303
    assert _config(store, "new-payment-page", "production").rollout == 50
    last = _entries(store, "new-payment-page")[-1]
    assert (last.action, last.reason) == ("flag.rollout", "ramp")
    assert "rollout 25% → 50%" in browser.get(PAGE).text


def test_rollout__string_flag__names_the_variant(browser: TestClient, store: Store) -> None:
    key = "checkout-redesign"
    unnamed = _post(browser, "rollout", {"environment": "production", "percentage": "30"}, key)
    assert unnamed.status_code == 422 and "name the variant to roll out" in unnamed.text
    assert '<select name="variant">' in unnamed.text
    named = _post(
        browser,
        "rollout",
        {"environment": "production", "percentage": "30", "variant": "redesign"},
        key,
    )
    assert named.status_code == 303
    assert _config(store, key, "production").rollout == 30
    assert "serve redesign to 30%" in browser.get(f"/projects/shop/flags/{key}").text


def test_read_only_user__sees_no_actions_and_cannot_flip(
    anon_client: TestClient, store: Store
) -> None:
    with store.write() as session:
        assert workspace.seed(session).created
        session.add(User(username="viewer", password_hash=users.hash_password(VIEWER_PASSWORD)))
    login = anon_client.get("/login")
    logged_in = anon_client.post(
        "/login",
        data={"username": "viewer", "password": VIEWER_PASSWORD, "csrf_token": _csrf(login.text)},
        follow_redirects=False,
    )
    assert logged_in.status_code == 303
    page = anon_client.get(PAGE).text
    assert "Kill switch" not in page and "Turn off" not in page
    assert "25%" in page  # reading is fine
    csrf = _csrf(page)  # the logout form's token: the session's own
    refused = anon_client.post(
        f"{PAGE}/switch",
        data={"environment": "production", "state": "off", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert refused.status_code == 403 and "deploy" in refused.text
    assert _config(store, "new-payment-page", "production").enabled is True


def test_static__htmx_and_live_script_served_from_this_origin(browser: TestClient) -> None:
    page = browser.get(PAGE).text
    assert '<script src="/static/htmx.min.js" defer></script>' in page
    assert "<script>" not in page  # no inline script: the CSP would block it
    assert 'data-live-project="shop"' in page and 'hx-select="#flag-live"' in page
    htmx = browser.get("/static/htmx.min.js")
    assert htmx.status_code == 200 and "Zero-Clause BSD" in htmx.text
    assert "EventSource" in browser.get("/static/live.js").text
