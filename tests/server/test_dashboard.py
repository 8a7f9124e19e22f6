"""Dashboard login: argon2 password, CSRF on every form, a rate limit, session cookies."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.support import ADMIN_PASSWORD
from trimtab.store.models import utcnow


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def _login(client: TestClient, password: str = ADMIN_PASSWORD) -> object:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": "admin", "password": password, "csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )


def test_root__not_logged_in__redirects_to_login(anon_client: TestClient) -> None:
    response = anon_client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert "<form" in anon_client.get("/login").text


def test_login__right_password__overview_lists_projects(
    client: TestClient, anon_client: TestClient
) -> None:
    client.post("/api/v1/projects", json={"slug": "shop"})
    response = _login(anon_client)
    assert response.status_code == 303  # type: ignore[attr-defined]
    page = anon_client.get("/")
    assert page.status_code == 200
    assert "shop" in page.text and "project.create" in page.text


def test_login__wrong_password__401_and_no_session(anon_client: TestClient) -> None:
    response = _login(anon_client, "wrong")
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert anon_client.get("/", follow_redirects=False).status_code == 303


def test_login__missing_csrf__refused(anon_client: TestClient) -> None:
    anon_client.get("/login")
    response = anon_client.post(
        "/login", data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": "forged"}
    )
    assert response.status_code == 400


def test_login__five_failures__rate_limited_even_with_right_password(
    anon_client: TestClient,
) -> None:
    frozen = utcnow()  # the first wait is a second: a slow machine must not outlast it
    anon_client.app.state.clock = lambda: frozen  # type: ignore[attr-defined]
    for _ in range(5):
        assert _login(anon_client, "wrong").status_code == 401  # type: ignore[attr-defined]
    assert _login(anon_client).status_code == 429  # type: ignore[attr-defined]


def test_session_cookie__api_write_without_csrf_header__401(anon_client: TestClient) -> None:
    _login(anon_client)
    assert anon_client.get("/api/v1/projects").status_code == 200
    refused = anon_client.post("/api/v1/projects", json={"slug": "x"})
    assert refused.status_code == 401 and "CSRF" in refused.json()["detail"]
    csrf = _csrf(anon_client.get("/").text)
    accepted = anon_client.post(
        "/api/v1/projects", json={"slug": "x"}, headers={"X-CSRF-Token": csrf}
    )
    assert accepted.status_code == 201


def test_logout__ends_session(anon_client: TestClient) -> None:
    _login(anon_client)
    csrf = _csrf(anon_client.get("/").text)
    anon_client.post("/logout", data={"csrf_token": csrf})
    assert anon_client.get("/", follow_redirects=False).status_code == 303


def test_problem_page__go_back_is_a_plain_link_to_our_own_referring_page(
    client: TestClient, anon_client: TestClient
) -> None:
    client.post("/api/v1/projects", json={"slug": "shop"})
    _login(anon_client)
    base = str(anon_client.base_url)
    ours = anon_client.get(
        "/projects/shop/issues/999999", headers={"Referer": f"{base}/projects/shop/issues?q=x"}
    )
    assert ours.status_code == 404
    assert '<a href="/projects/shop/issues?q=x">Go back</a>' in ours.text
    foreign = anon_client.get(
        "/projects/shop/issues/999999", headers={"Referer": "https://evil.example/phish"}
    )
    assert foreign.status_code == 404
    assert "Go back" not in foreign.text and "evil.example" not in foreign.text


def test_templates__no_javascript_urls_or_inline_handlers() -> None:
    """The pages' CSP refuses inline script: a `javascript:` link or an onclick would be dead."""
    from pathlib import Path

    import trimtab.server.dashboard as dashboard

    templates = Path(dashboard.__file__).parent / "templates"
    for template in templates.glob("*.html"):
        text = template.read_text()
        assert "javascript:" not in text, template.name
        assert not re.search(r"\son[a-z]+\s*=", text), template.name


def test_browser_refusals_before_any_view__a_page_not_json(
    client: TestClient, anon_client: TestClient
) -> None:
    """A guessed URL and a form field past its bound reach no view: a browser still gets the
    problem page; programs (the API, or no text/html in Accept) keep the JSON error body."""
    client.post("/api/v1/projects", json={"slug": "shop"})
    _login(anon_client)
    html = {"Accept": "text/html,application/xhtml+xml"}
    guessed = anon_client.get("/projects/shop/nowhere", headers=html)
    assert guessed.status_code == 404
    assert guessed.headers["content-type"].startswith("text/html")
    assert "That did not work" in guessed.text
    csrf = _csrf(anon_client.get("/").text)
    too_long = anon_client.post(
        "/projects/shop/issues/1/status",
        data={"action": "x" * 500, "csrf_token": csrf},
        headers=html,
    )
    assert too_long.status_code == 422 and "That did not work" in too_long.text
    assert "action" in too_long.text
    api = anon_client.get("/api/v1/nowhere", headers=html)
    assert api.status_code == 404 and api.json()["error"] == "not_found"
    assert anon_client.get("/projects/shop/nowhere").json()["error"] == "not_found"
