"""Dashboard pages for releases and deploys, on the demo workspace and on runs started through
them: what runs where, the window and its verdict, a run's steps live, confirm, cancel,
rollback, a refused deploy and its override — with CSRF and scope checks, stored text escaped."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.server import test_dashboard_issues
from tests.server.test_dashboard import _csrf
from tests.support import WAIT
from trimtab.domain.spine import users
from trimtab.store.db import Store
from trimtab.store.models import AuditEntry, Deploy, DeployRun, User

# Every page here is read on the demo workspace (tests/conftest.py keeps it seeded in a template).
pytestmark = pytest.mark.demo_workspace

READER = "reader"
READER_PASSWORD = "a-long-reader-password"
# A logged-in admin dashboard session on a store holding the demo workspace.
browser = test_dashboard_issues.browser


def _run_state(store: Store, run_id: int) -> str:
    with store.read() as session:
        run = session.get(DeployRun, run_id)
        assert run is not None
        return run.state


def _wait_state(store: Store, run_id: int, state: str) -> None:
    deadline = time.monotonic() + WAIT
    while _run_state(store, run_id) != state:
        assert time.monotonic() < deadline, _run_state(store, run_id)
        time.sleep(0.05)


def _start(browser: TestClient, version: str, environment: str, **extra: str) -> object:
    page = browser.get(f"/projects/shop/releases/{version}")
    data = {"environment": environment, "csrf_token": _csrf(page.text), **extra}
    return browser.post(
        f"/projects/shop/releases/{version}/deploy", data=data, follow_redirects=False
    )


def _run_id(response: object) -> int:
    location = response.headers["location"]  # type: ignore[attr-defined]
    match = re.fullmatch(r"/projects/shop/deploys/(\d+)", location)
    assert match, location
    return int(match.group(1))


def _audit(store: Store, action: str) -> list[AuditEntry]:
    with store.read() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_releases_page__not_logged_in__redirects_to_login(anon_client: TestClient) -> None:
    response = anon_client.get("/projects/shop/releases", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_releases_page__what_runs_where_window_countdown_and_list(browser: TestClient) -> None:
    page = browser.get("/projects/shop/releases").text
    production = page.split('id="env-production"')[1].split("<h2>Releases</h2>")[0]
    # What runs where: 2.3.0's versions, by whom (from the ledger).
    assert "billing-api" in production and "<code>1.8.0</code>" in production
    assert "user:mina (front-end)" in production and "1 d ago" in production  # 2 d - 4 min
    # The 2.3.0 window opened 2 days ago (+9 min) for 7 days: 5 days left; deploys refused.
    assert re.search(r'class="countdown">(4 d 23|5 d 0) h left', production), production
    assert "deploys refused" in production and "stabilization window" in production.lower()
    assert "Nothing deployed here yet." in page.split('id="env-staging"')[1]
    # Every release listed, newest first, linking to its page; the hotfix run was an override.
    listed = re.findall(r'href="/projects/shop/releases/(shop%402\.[0-9.]+)"><strong>', page)
    assert listed == ["shop%402.3.0", "shop%402.2.1", "shop%402.2.0"]
    assert "production: window open" in page and "in production" in page
    assert "override" in page


def test_releases_page__timeline_marks_each_run_and_shades_windows(browser: TestClient) -> None:
    production = browser.get("/projects/shop/releases").text.split('id="env-production"')[1]
    timeline = production.split('<figure class="chart timeline">')[1].split("</figure>")[0]
    # The demo's three production runs in 14 days, each a line linking to its run, each
    # window a shaded span, and the hours with errors as bars.
    runs = re.findall(r'<a href="/projects/shop/deploys/(\d+)"><line class="deploy', timeline)
    assert sorted(runs) == ["1", "2", "3"]
    assert timeline.count('class="window-shade"') == 3
    assert "stabilization window of shop@2.3.0" in timeline
    assert re.search(r"<title>[0-9-]+ [0-9:]+: \d+ errors</title>", timeline)
    assert "#3 shop@2.3.0" in timeline  # the readable list under the chart
    assert (
        '<figure class="chart timeline">'
        not in browser.get("/projects/shop/releases")
        .text.split('id="env-staging"')[1]
        .split('id="env-production"')[0]
    )  # nothing happened in staging: no empty chart


def test_release_page__window_verdict_numbers_issues_chart_and_runs(browser: TestClient) -> None:
    page = browser.get("/projects/shop/releases/shop@2.3.0").text
    assert "Stabilization window in production" in page
    assert re.search(r"\d d \d+ h left", page)
    for label in ("Errors before", "Errors after", "Crash-free before", "Crash-free after"):
        assert label in page
    # The demo's TypeError is new in 2.3.0 and shows when it appeared after the deploy.
    new = page.split("New in this release")[1].split("Regressed in this release")[0]
    assert "TypeError" in new and "after the deploy" in new
    regressed = page.split("Regressed in this release")[1].split("Cleared of it")[0]
    assert "RangeError: seat index" in regressed and "regressed 23 h after it" in regressed
    # The chart is inline SVG with one bar per hour and the deploy marked.
    svg = page.split("<svg")[1].split("</svg>")[0]
    assert 'class="deploy"' in svg and svg.count('<rect class="after"') >= 24
    assert '<polyline class="crash-free"' in svg  # the demo's 2.3.0 sessions
    # Services, the run that deployed it, the ledger with the manual step's confirmer.
    assert "<code>4.2.0</code>" in page and "/projects/shop/deploys/" in page
    assert "confirmed by user:jun (payments)" in page
    assert "Start deploy" in page


def test_release_page__unknown_release__404(browser: TestClient) -> None:
    response = browser.get("/projects/shop/releases/shop@9.9.9")
    assert response.status_code == 404 and "no release" in response.text


def test_deploy__refused_by_window__shows_reason_then_override_needs_reason(
    browser: TestClient, store: Store
) -> None:
    refused = _start(browser, "shop@2.2.1", "production")
    assert refused.status_code == 200  # type: ignore[attr-defined]
    text = refused.text  # type: ignore[attr-defined]
    assert "Deploy to production refused" in text and "shop@2.3.0" in text
    assert "Override and deploy" in text and 'name="reason" required' in text
    assert [e.after["release"] for e in _audit(store, "deploy.refused")] == ["shop@2.2.1"]
    no_reason = _start(browser, "shop@2.2.1", "production", override="true", reason="  ")
    assert no_reason.status_code == 422  # type: ignore[attr-defined]
    assert "needs a reason" in no_reason.text  # type: ignore[attr-defined]
    done = _start(
        browser, "shop@2.2.1", "production", override="true", reason="certificate rotates today"
    )
    assert done.status_code == 303  # type: ignore[attr-defined]
    run_id = _run_id(done)
    _wait_state(store, run_id, "success")
    started = [e for e in _audit(store, "deploy.start") if e.target_id == str(run_id)]
    assert started[0].overridden and started[0].reason == "certificate rotates today"
    assert started[0].actor == "user:admin"


def test_deploy_run__manual_step_confirmed_from_page_then_finishes(
    browser: TestClient, store: Store
) -> None:
    started = _start(browser, "shop@2.3.0", "staging")
    run_id = _run_id(started)
    _wait_state(store, run_id, "waiting_confirm")
    url = f"/projects/shop/deploys/{run_id}"
    page = browser.get(url).text
    assert '<meta http-equiv="refresh"' in page and "/static/run_live.js" in page
    assert "Confirm: pay-library 4.2.0 is deployed" in page
    assert "deploying billing-api 1.8.0 to staging" in page  # the runner's output tail
    forged = browser.post(f"{url}/confirm", data={"service": "pay-library", "csrf_token": "forged"})
    assert forged.status_code == 401 and _run_state(store, run_id) == "waiting_confirm"
    confirmed = browser.post(
        f"{url}/confirm",
        data={"service": "pay-library", "note": "payments team: done", "csrf_token": _csrf(page)},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303 and confirmed.headers["location"] == url
    _wait_state(store, run_id, "success")
    done = browser.get(url).text
    assert 'http-equiv="refresh"' not in done and "confirmed by user:admin" in done
    assert done.count('chip state-success">success<') == 3 and 'id="run-state">success<' in done
    entry = _audit(store, "deploy.confirm")[0]
    assert entry.actor == "user:admin" and entry.reason == "payments team: done"


def test_deploy_run__step_output_with_markup__shown_as_text(
    browser: TestClient, store: Store
) -> None:
    with store.write() as session:
        step = session.scalars(select(Deploy).where(Deploy.run_id.is_not(None))).first()
        assert step is not None
        step.output_tail = '<script>alert("x")</script>\n<b>bold</b>'
        run_id = step.run_id
    page = browser.get(f"/projects/shop/deploys/{run_id}").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "<script>alert" not in page and "<b>bold</b>" not in page


def test_deploy_run__cancel_needs_csrf_and_reason(browser: TestClient, store: Store) -> None:
    run_id = _run_id(_start(browser, "shop@2.3.0", "staging"))
    _wait_state(store, run_id, "waiting_confirm")
    url = f"/projects/shop/deploys/{run_id}"
    csrf = _csrf(browser.get(url).text)
    forged = browser.post(f"{url}/cancel", data={"reason": "x", "csrf_token": "nope"})
    assert forged.status_code == 401
    empty = browser.post(f"{url}/cancel", data={"reason": " ", "csrf_token": csrf})
    assert empty.status_code == 422 and "needs a reason" in empty.text
    done = browser.post(
        f"{url}/cancel", data={"reason": "wrong branch", "csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303 and _run_state(store, run_id) == "cancelled"
    assert _audit(store, "deploy.cancel")[0].reason == "wrong branch"
    assert "cancelled by user:admin: wrong branch" in browser.get(url).text


def test_deploy_run__rollback_with_confirm_and_reason_starts_rollback_run(
    browser: TestClient, store: Store
) -> None:
    with store.read() as session:
        demo_run = session.scalars(select(DeployRun).order_by(DeployRun.id.desc())).first()
        assert demo_run is not None
    url = f"/projects/shop/deploys/{demo_run.id}"
    page = browser.get(url).text
    assert "Undo shop@2.3.0 in production" in page
    csrf = _csrf(page)
    unticked = browser.post(f"{url}/rollback", data={"reason": "errors", "csrf_token": csrf})
    assert unticked.status_code == 422 and "confirm" in unticked.text
    no_reason = browser.post(f"{url}/rollback", data={"confirm": "yes", "csrf_token": csrf})
    assert no_reason.status_code == 422
    done = browser.post(
        f"{url}/rollback",
        data={"confirm": "yes", "reason": "checkout TypeError", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    undo_id = _run_id(done)
    _wait_state(store, undo_id, "waiting_confirm")  # pay-library is manual
    entry = _audit(store, "deploy.rollback")[0]
    assert entry.reason == "checkout TypeError" and entry.actor == "user:admin"
    assert entry.after["release"] == "shop@2.3.0"
    undo = browser.get(f"/projects/shop/deploys/{undo_id}").text
    assert "Rollback #" in undo and "pay-library" in undo and "undoes ledger row" in undo


def test_deploy_actions__read_only_user__refused_and_no_forms(
    browser: TestClient, anon_client: TestClient, store: Store, client: TestClient
) -> None:
    run_id = _run_id(_start(browser, "shop@2.3.0", "staging"))
    _wait_state(store, run_id, "waiting_confirm")
    with store.write() as session:
        session.add(User(username=READER, password_hash=users.hash_password(READER_PASSWORD)))
    with TestClient(client.app) as reader:
        login = reader.get("/login")
        reader.post(
            "/login",
            data={
                "username": READER,
                "password": READER_PASSWORD,
                "csrf_token": _csrf(login.text),
            },
        )
        url = f"/projects/shop/deploys/{run_id}"
        page = reader.get(url)
        assert page.status_code == 200 and "Waiting for someone with deploy rights" in page.text
        assert "/confirm" not in page.text and "/cancel" not in page.text
        csrf = _csrf(page.text)
        confirm = reader.post(f"{url}/confirm", data={"service": "pay-library", "csrf_token": csrf})
        assert confirm.status_code == 403
        cancel = reader.post(f"{url}/cancel", data={"reason": "x", "csrf_token": csrf})
        assert cancel.status_code == 403
        with store.read() as session:
            demo_run = session.scalars(select(DeployRun).order_by(DeployRun.id)).all()[-2]
        rollback = reader.post(
            f"/projects/shop/deploys/{demo_run.id}/rollback",
            data={"confirm": "yes", "reason": "x", "csrf_token": csrf},
        )
        assert rollback.status_code == 403
        release = reader.get("/projects/shop/releases/shop@2.3.0").text
        assert "Start deploy" not in release
        start = reader.post(
            "/projects/shop/releases/shop@2.3.0/deploy",
            data={"environment": "staging", "csrf_token": csrf},
        )
        assert start.status_code == 403
    assert _run_state(store, run_id) == "waiting_confirm"
    assert not _audit(store, "deploy.rollback") and not _audit(store, "deploy.cancel")


def test_rollback_api__reason__in_the_same_audit_entry_as_the_dashboard(
    browser: TestClient, client: TestClient, store: Store
) -> None:
    body = {"environment": "production", "release": "shop@2.3.0", "reason": "checkout errors"}
    started = client.post("/api/v1/projects/shop/rollbacks", json=body)
    assert started.status_code == 202
    entry = _audit(store, "deploy.rollback")[0]
    assert entry.reason == "checkout errors" and entry.target_id == str(started.json()["id"])
    assert entry.after["release"] == "shop@2.3.0"
    too_long = client.post("/api/v1/projects/shop/rollbacks", json={**body, "reason": "x" * 1001})
    assert too_long.status_code == 422


def test_ledger_page__filters_by_service_and_environment(browser: TestClient) -> None:
    page = browser.get("/projects/shop/deploys").text
    assert page.count('<span class="chip state-success">success</span>') == 7  # the demo's rows
    billing = browser.get("/projects/shop/deploys?service=billing-api&environment=production").text
    versions = re.findall(r"<td><code>([0-9.]+)</code>", billing)
    assert versions == ["1.8.0", "1.7.1", "1.7.0"]
    assert "confirmed by user:jun (payments)" not in billing
    unknown = browser.get("/projects/shop/deploys?environment=moon")
    assert unknown.status_code == 404


def test_run_page__run_of_another_project__404(browser: TestClient, client: TestClient) -> None:
    assert client.post("/api/v1/projects", json={"slug": "other"}).status_code == 201
    assert browser.get("/projects/shop/deploys/1").status_code == 200
    assert browser.get("/projects/other/deploys/1").status_code == 404
    for bad in ("0", "99999999999999999999", "x"):
        assert browser.get(f"/projects/shop/deploys/{bad}").status_code == 404


def test_releases_page__active_freeze__named_with_reason_as_text(
    browser: TestClient, client: TestClient
) -> None:
    freeze = {
        "name": "year-end",
        "reason": "<b>holidays</b>",
        "start": "2000-01-01T00:00:00Z",
        "end": "2999-01-01T00:00:00Z",
        "environments": ["staging"],
    }
    assert client.post("/api/v1/projects/shop/freezes", json=freeze).status_code == 201
    page = browser.get("/projects/shop/releases").text
    staging = page.split('id="env-staging"')[1].split('id="env-production"')[0]
    assert "deploys refused" in staging and "<strong>year-end</strong>" in staging
    assert "&lt;b&gt;holidays&lt;/b&gt;" in staging and "<b>holidays" not in page
    assert "deploys open" in page.split('id="env-development"')[1].split('id="env-staging"')[0]
