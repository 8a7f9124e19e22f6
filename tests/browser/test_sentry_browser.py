"""Done-when: a page using `@sentry/browser` (from the npm registry) in headless Chromium sends
a thrown error to a live trimtab, across origins (CORS), with its breadcrumbs and browser data."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.npm import sentry_browser_bundle, sentry_browser_version
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.live,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason="needs /usr/bin/chromium (apt-get install chromium)",
    ),
]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Movie booking</title>
<script src="/sentry-browser.js"></script>
<script>
  Sentry.init({
    dsn: "%(dsn)s",
    release: "shop@2.3.0",
    environment: "production",
    sampleRate: 1.0,
  });
  Sentry.setUser({ id: "user-42", email: "moviegoer42@example.kr" });
  Sentry.setTag("page", "payment");
  Sentry.setExtra("cart_size", 3);
  Sentry.setExtra("payment_provider", "toss");
</script></head>
<body>
  <a id="movie" href="#" onclick="return go('/movies/dune-part-two')">Dune</a>
  <a id="seats" href="#" onclick="return go('/movies/dune-part-two/seats')">Seats</a>
  <button id="seat-f7" onclick="console.log('seat F7 selected')">F7</button>
  <button id="pay" onclick="pay()">Pay now</button>
  <script>
    function go(path) { history.pushState({}, "", path); return false; }
    function pay() {
      history.pushState({}, "", "/checkout/payment");
      const quote = undefined;
      return quote.price.amount;  // TypeError, uncaught: the SDK's global handler reports it
    }
  </script>
</body></html>
"""


class _Site:
    """The shop's front end, served on its own loopback origin (so ingest is cross-origin)."""

    def __init__(self, root: Path) -> None:
        handler = partial(_QuietHandler, directory=str(root))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> _Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def site(tmp_path: Path, live_server: LiveServer) -> Iterator[tuple[_Site, httpx.Client]]:
    api = httpx.Client(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=HTTP_TIMEOUT,
    )
    project = api.post("/api/v1/projects", json={"slug": "shop"}).json()
    key = api.get("/api/v1/projects/shop/keys").json()[0]
    host = live_server.url.removeprefix("http://")
    dsn = f"http://{key['public_key']}@{host}/{project['id']}"
    root = tmp_path / "site"
    root.mkdir()
    (root / "sentry-browser.js").write_bytes(sentry_browser_bundle().read_bytes())
    (root / "index.html").write_text(PAGE % {"dsn": dsn})
    with _Site(root) as served:
        yield served, api
    api.close()


def _wait_for_event(api: httpx.Client, timeout_s: float = WAIT) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        listed = api.get("/api/v1/issues", params={"project": "shop"}).json()
        if listed:
            detail = api.get(f"/api/v1/issues/{listed[0]['id']}").json()
            event_id = detail["latest_event_id"]
            return dict(api.get(f"/api/v1/events/{event_id}").json())
        time.sleep(0.2)
    raise AssertionError("the browser's event did not arrive")


def test_sentry_browser__thrown_error__arrives_with_breadcrumbs_and_browser_data(
    site: tuple[_Site, httpx.Client],
) -> None:
    from playwright.sync_api import sync_playwright

    served, api = site
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            console_errors: list[str] = []
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            page.goto(f"{served.url}/index.html")
            page.click("#movie")
            page.click("#seats")
            page.click("#seat-f7")
            page.click("#pay")
            event = _wait_for_event(api)
        finally:
            browser.close()

    assert event["title"] == "TypeError: Cannot read properties of undefined (reading 'price')"
    assert event["release"] == "shop@2.3.0" and event["environment"] == "production"
    assert event["platform"] == "javascript"
    assert event["sdk"]["name"] == "sentry.javascript.browser"
    assert event["sdk"]["version"] == sentry_browser_version()
    [exception] = event["exception"]
    assert exception["mechanism"]["handled"] is False
    assert any(f.get("function") == "pay" for f in exception["stacktrace"]["frames"])
    # Browser data: the page's URL and the browser's User-Agent, as the SDK sends them.
    assert event["request"]["url"].endswith("/checkout/payment")
    assert "Chrome" in event["request"]["headers"]["User-Agent"]
    # The SDK sends no browser/os contexts; trimtab derives them from that User-Agent.
    assert event["contexts"]["browser"]["name"].startswith("Chrome")
    assert event["contexts"]["os"]["name"] == "Linux"
    assert {"key": "browser.name", "value": event["contexts"]["browser"]["name"]} in event["tags"]
    assert event["user"]["id"] == "user-42"
    assert {"key": "page", "value": "payment"} in event["tags"]
    assert event["extra"] == {"cart_size": 3, "payment_provider": "toss"}
    # Breadcrumbs: the user's path (navigation), the clicks and the console line.
    crumbs = event["breadcrumbs"]
    navigations = [c["data"]["to"] for c in crumbs if c.get("category") == "navigation"]
    assert navigations == [
        "/movies/dune-part-two",
        "/movies/dune-part-two/seats",
        "/checkout/payment",
    ]
    clicks = [c["message"] for c in crumbs if c.get("category") == "ui.click"]
    # The click that throws is reported by the error itself, not as a breadcrumb before it.
    assert clicks[:3] == ["body > a#movie", "body > a#seats", "body > button#seat-f7"]
    assert any(
        c.get("category") == "console" and c.get("message") == "seat F7 selected" for c in crumbs
    )
    # The cross-origin POST was allowed (a CORS failure shows up as a console error).
    assert not [e for e in console_errors if "CORS" in e or "Access-Control" in e]
