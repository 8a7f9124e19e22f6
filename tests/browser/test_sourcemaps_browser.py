"""Done-when (source maps): a multi-file app with `@sentry/browser` built by esbuild into one
minified bundle, its maps uploaded by the real `sentry-cli` (all three from the npm registry),
its error thrown in headless Chromium: the event's top in-app frame is the original file, line
and function; two builds whose minified names differ are one issue; the event page shows the
mapped frame and links to the minified ones.

Both ways of finding a map: debug IDs (`sourcemaps inject` + `upload`) and a release-bound upload
(`upload --release`, no debug IDs), where an event that arrived before its map is mapped when
it is read.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import PageProblems, StaticSite, log_in, npm_modules
from tests.server.test_sentry_cli_sourcemaps import SEATS_JS, _sentry
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, ThreadedServer

pytestmark = [pytest.mark.browser]

PACKAGES = ["@sentry/browser@8", "@sentry/cli@2", "esbuild@0.24"]

CART_JS = """\
import { reserveSeat } from "./seats.js";

export function checkout(seats) {
  return seats.map((seat) => reserveSeat(seat));
}
"""
MAIN_JS = """\
import * as Sentry from "@sentry/browser";
import { checkout } from "./cart.js";
%(extra)s
Sentry.init({
  dsn: window.SHOP.dsn,
  release: window.SHOP.release,
  beforeSend(event) {
    window.SHOP.sent = event.event_id;
    return event;
  },
});
document.getElementById("pay").addEventListener("click", () => checkout([1, 5]));
"""
# A second build of the same code with more code beside it, used more often than reserveSeat:
# the minifier, naming the most used first, names reserveSeat apart.
EXTRA = "".join(f"function pad{i}(x) {{ return x + {i}; }}\n" for i in range(200)) + (
    "window.total = " + " + ".join(f"pad{i % 200}(pad{i % 200}({i}))" for i in range(600)) + ";\n"
)
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Seats</title></head>
<body>
  <button id="pay">Pay now</button>
  <script>window.SHOP = %(config)s;</script>
  <script src="app.min.js"></script>
</body></html>
"""


def _tools() -> Path:
    """node_modules with the SDK, sentry-cli and esbuild, from the npm registry (cached)."""
    return npm_modules(PACKAGES)


def _build(root: Path, extra: str = "") -> Path:
    """src/{seats,cart,main}.js (+ @sentry/browser) -> dist/app.min.js and its map."""
    (root / "src").mkdir(parents=True)
    (root / "src" / "seats.js").write_text(SEATS_JS)
    (root / "src" / "cart.js").write_text(CART_JS)
    (root / "src" / "main.js").write_text(MAIN_JS % {"extra": extra})
    (root / "node_modules").symlink_to(_tools(), target_is_directory=True)
    esbuild = root / "node_modules" / ".bin" / "esbuild"
    subprocess.run(
        [str(esbuild), "src/main.js", "--bundle", "--minify", "--sourcemap", "--format=iife",
         "--outfile=dist/app.min.js", "--log-level=warning"],
        cwd=root, check=True, timeout=WAIT,
    )  # fmt: skip
    return root / "dist"


def _sentry_cli(server: ThreadedServer, cwd: Path, *args: str) -> None:
    """The npm registry's sentry-cli (2.x; the dev dependency is the 3.x of PyPI)."""
    result = _sentry(server, cwd, *args, cli=_tools() / ".bin" / "sentry-cli")
    assert result.returncode == 0, f"sentry-cli {args}: {result.stdout}{result.stderr}"


def _publish(dist: Path, site_root: Path, name: str, config: dict[str, Any]) -> str:
    """Serve the build under /NAME/ with its page; the page's path."""
    target = site_root / name
    target.mkdir()
    (target / "app.min.js").write_bytes((dist / "app.min.js").read_bytes())
    (target / "index.html").write_text(PAGE % {"config": json.dumps(config)})
    return f"/{name}/index.html"


def _throw(page: Any, url: str) -> str:
    """Open the page, click the button whose handler throws; the ID of the event the SDK sent."""
    page.goto(url)
    page.click("#pay")
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        sent = page.evaluate("() => window.SHOP.sent || null")
        if sent:
            return str(sent)
        time.sleep(0.1)
    raise AssertionError(f"the SDK sent no event from {url}")


def _stored(api: httpx.Client, event_id: str) -> dict[str, Any]:
    """The event once ingest has stored it (the SDK's send is asynchronous)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        response = api.get(f"/api/v1/events/{event_id}", params={"project": "shop"})
        if response.status_code == 200:
            found: dict[str, Any] = response.json()
            return found
        assert response.status_code == 404, response.text
        time.sleep(0.2)
    raise AssertionError(f"event {event_id} was not stored")


def _top_in_app(detail: dict[str, Any], key: str = "stacktrace") -> dict[str, Any]:
    frames = detail["data"]["exception"]["values"][-1][key]["frames"]
    in_app: list[dict[str, Any]] = [f for f in frames if f.get("in_app")]
    assert in_app, frames
    return in_app[-1]


def _assert_mapped(detail: dict[str, Any], found_by: str) -> str:
    """The top in-app frame is reserveSeat in src/seats.js; the minified name it had."""
    top = _top_in_app(detail)
    assert (top["filename"], top["lineno"], top["function"]) == (
        "src/seats.js",
        4,
        "reserveSeat",
    ), top
    assert top["context_line"].strip() == 'throw new Error("seat " + seat + " is taken");'
    assert top["data"]["resolved_with"] == found_by
    # The SDK's own frames are mapped into node_modules, so they are not the app's.
    frames = detail["data"]["exception"]["values"][-1]["stacktrace"]["frames"]
    assert any("node_modules/@sentry/" in f.get("filename", "") for f in frames)
    minified: str = top["data"]["minified"]["function"]
    assert minified != "reserveSeat"
    return minified


@dataclass
class Shop:
    """A live trimtab with a project "shop", its front end's site, and a browser page."""

    server: ThreadedServer
    api: httpx.Client
    dsn: str
    root: Path  # served by `site`
    site: StaticSite
    page: Any


@pytest.fixture
def shop(
    threaded_server: ThreadedServer, static_site: tuple[Path, StaticSite], chromium_page: Any
) -> Iterator[Shop]:
    api = httpx.Client(
        base_url=threaded_server.url,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=HTTP_TIMEOUT,
    )
    created = api.post("/api/v1/projects", json={"slug": "shop"})
    assert created.status_code == 201, created.text
    root, site = static_site
    chromium_page.set_default_timeout(WAIT * 1000)  # a busy machine: generous, never a speed test
    yield Shop(threaded_server, api, created.json()["dsn"], root, site, chromium_page)
    api.close()


def _check_event_page(page: Any, server: ThreadedServer, event_id: str, minified: str) -> None:
    """The event page: the mapped frame first, the note of what it was, and the link to the
    frames as sent (a plain link) showing the minified name and where it maps to."""
    problems = PageProblems(page)
    log_in(page, server.url)
    page.goto(f"{server.url}/projects/shop/events/{event_id}")
    top = page.locator("li.frame.in-app").first
    assert top.locator(".where").text_content() == "src/seats.js"
    assert top.locator(".lineno").text_content().startswith(":4:")
    assert top.locator(".fn").text_content() == "reserveSeat"
    note = " ".join(top.locator(".sourcemap-note").text_content().split())
    assert note.startswith("mapped from ") and f" in {minified} " in note, note
    assert "throw new Error" in top.locator("pre.context").text_content()
    with page.expect_navigation():
        page.click("text=Show the minified frames")
    assert page.url.endswith("?frames=minified#frames")
    top = page.locator("li.frame.in-app").first
    assert top.locator(".fn").text_content() == minified
    assert top.locator(".where").text_content().endswith("app.min.js")
    note = " ".join(top.locator(".sourcemap-note").text_content().split())
    assert note.startswith("maps to src/seats.js:4:") and note.endswith(" in reserveSeat"), note
    with page.expect_navigation():
        page.click("text=Show the mapped frames")
    assert page.locator("li.frame.in-app .fn").first.text_content() == "reserveSeat"
    assert problems.seen == [], "\n".join(problems.seen)


def test_debug_ids__two_builds__top_frame_mapped__one_issue__event_page_shows_it(
    shop: Shop, tmp_path: Path
) -> None:
    details, names = [], []
    for name, extra in (("one", ""), ("two", EXTRA)):
        dist = _build(tmp_path / name, extra)
        _sentry_cli(shop.server, tmp_path, "sourcemaps", "inject", str(dist))
        assert "//# debugId=" in (dist / "app.min.js").read_text()
        _sentry_cli(shop.server, tmp_path, "sourcemaps", "upload", str(dist))
        path = _publish(dist, shop.root, name, {"dsn": shop.dsn})
        detail = _stored(shop.api, _throw(shop.page, shop.site.url + path))
        names.append(_assert_mapped(detail, "debug_id"))
        details.append(detail)
    assert names[0] != names[1], "the two builds name reserveSeat apart"
    assert details[0]["issue_id"] == details[1]["issue_id"]
    assert details[0]["title"] == "Error: seat 5 is taken"
    _check_event_page(shop.page, shop.server, details[1]["id"], names[1])


def test_release_upload__event_before_its_map_mapped_when_read__builds_one_issue(
    shop: Shop, tmp_path: Path
) -> None:
    one = _build(tmp_path / "one")
    # Served before its map is uploaded: stored with its minified frames (and grouped on them).
    path = _publish(one, shop.root, "r1", {"dsn": shop.dsn, "release": "shop@3.0.0"})
    early = _stored(shop.api, _throw(shop.page, shop.site.url + path))
    upload = ("sourcemaps", "upload", "--url-prefix", "~/r1")
    _sentry_cli(shop.server, tmp_path, *upload, "--release", "shop@3.0.0", str(one))
    assert "debugId" not in (one / "app.min.js").read_text()
    # Read again: mapped now, and still in the issue it was grouped into.
    again = _stored(shop.api, early["id"])
    early_name = _assert_mapped(again, "release")
    assert again["issue_id"] == early["issue_id"]
    assert _top_in_app(again, "raw_stacktrace")["function"] == early_name

    two = _build(tmp_path / "two", EXTRA)
    upload = ("sourcemaps", "upload", "--url-prefix", "~/r2")
    _sentry_cli(shop.server, tmp_path, *upload, "--release", "shop@3.0.1", str(two))
    path_two = _publish(two, shop.root, "r2", {"dsn": shop.dsn, "release": "shop@3.0.1"})
    late = [_stored(shop.api, _throw(shop.page, shop.site.url + p)) for p in (path, path_two)]
    names = [_assert_mapped(d, "release") for d in late]
    assert names[0] != names[1], "the two builds name reserveSeat apart"
    assert late[0]["issue_id"] == late[1]["issue_id"]
    # Grouped on its minified frames when it arrived; reading it mapped does not move it.
    assert late[0]["issue_id"] != early["issue_id"]
    assert late[0]["release"] == "shop@3.0.0" and late[1]["release"] == "shop@3.0.1"
    _check_event_page(shop.page, shop.server, early["id"], early_name)
