"""Browser tests: headless Chromium driven by Playwright, with JavaScript packages installed from
the npm registry at test time into a cache directory (never committed).

`npm_modules(["@scope/pkg", ...])` installs packages once per set and returns the node_modules
path; `bundle(entry_js, node_modules)` bundles an entry file for the browser with esbuild (which
`npm_modules` installs alongside when asked). Tests are marked `browser` and skipped only when
/usr/bin/chromium is missing and CI is not set: on CI they must run.

The dashboard tests share one way in and one watcher: the `demo` fixture (a live server holding
the demo workspace), `log_in(page, url)` (the admin through the login form) and
`PageProblems(page)`, which collects every console error, uncaught exception, failed request
and 4xx/5xx answer of every page the browser visits; a test ends asserting it saw none. The
`dashboard` fixture is the three together: the admin signed in, every page watched.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support import ADMIN_PASSWORD, WAIT, ThreadedServer, assert_demo_workspace, free_port
from trimtab.store.db import Store

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NPM_CACHE = Path(__file__).parent / ".npm-cache"
WAIT_MS = WAIT * 1000


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists() or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason="no /usr/bin/chromium (browser tests run on CI)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def npm_modules(packages: list[str], cache_dir: Path = NPM_CACHE) -> Path:
    """Install `packages` from the npm registry into a cached directory; its node_modules."""
    if shutil.which("npm") is None:
        pytest.fail("npm is needed for the browser tests")
    wanted = sorted(packages)
    name = hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:16]
    target = cache_dir / name
    marker = target / ".installed"
    if marker.exists() and marker.read_text() == "\n".join(wanted):
        return target / "node_modules"
    target.mkdir(parents=True, exist_ok=True)
    # Test workers (xdist) may want the same packages at once: one installs, the others wait
    # for it and find the marker (two npm installs into one directory break each other).
    with (target / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (marker.exists() and marker.read_text() == "\n".join(wanted)):
            _npm_install(target, cache_dir, wanted)
    return target / "node_modules"


def _npm_install(target: Path, cache_dir: Path, wanted: list[str]) -> None:
    marker = target / ".installed"
    (target / "package.json").write_text('{"private": true}\n')
    subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--cache",
            str(cache_dir / "_npm"),
            *wanted,
        ],
        cwd=target,
        check=True,
        timeout=600,
    )
    marker.write_text("\n".join(wanted))


def bundle(entry: Path, node_modules: Path, out: Path) -> Path:
    """Bundle `entry` (an ES module) and its imports into one browser script with esbuild."""
    esbuild = node_modules / ".bin" / "esbuild"
    # Fed on stdin so imports resolve from the install directory, wherever the entry lives.
    subprocess.run(
        [
            str(esbuild),
            "--bundle",
            "--format=iife",
            f"--sourcefile={entry.name}",
            f"--outfile={out}",
        ],
        input=entry.read_bytes(),
        cwd=node_modules.parent,
        check=True,
        timeout=120,
    )
    return out


class StaticSite:
    """A directory served over HTTP on its own port (another origin than trimtab's)."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        handler = partial(_QuietHandler, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def static_site(tmp_path: Path) -> Iterator[tuple[Path, StaticSite]]:
    root = tmp_path / "site"
    root.mkdir()
    site = StaticSite(root)
    yield root, site
    site.close()


@pytest.fixture
def chromium_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            yield page
        finally:
            browser.close()


@pytest.fixture
def demo(threaded_server: ThreadedServer) -> ThreadedServer:
    """A live server (in this process) whose store holds the demo workspace."""
    store: Store = threaded_server.app.state.store  # type: ignore[attr-defined]
    assert_demo_workspace(store)
    return threaded_server


def log_in(page: Any, url: str) -> None:
    """Sign in as the admin through the login form; the browser lands on the overview."""
    page.goto(f"{url}/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def wait_live(page: Any) -> None:
    """Wait until the page's change stream is open (static/live.js marks the body)."""
    # A selector, not wait_for_function: the page's CSP forbids eval.
    page.wait_for_selector("body[data-live=open]", state="attached", timeout=WAIT_MS)


class PageProblems:
    """Console errors, uncaught exceptions, failed requests and 4xx/5xx answers of a page, over
    every page it visits (`seen`)."""

    def __init__(self, page: Any) -> None:
        self.seen: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.seen.append(f"page error: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.seen.append(f"console: {message.text}")

    def _failed(self, request: Any) -> None:
        # Leaving a page cancels what it still had open: its change stream (the expected end of
        # an event stream), a live refresh in flight (run_live.js's fetch, htmx's request) and
        # the icon the browser fetches for the tab once a page has loaded (a form posted at once
        # leaves before it arrives). The browser aborts them for its own navigation; no failure
        # of the server.
        if request.failure == "net::ERR_ABORTED" and (
            "/api/v1/stream?" in request.url
            or request.resource_type in ("fetch", "xhr")
            or request.url.endswith("/static/favicon.svg")
        ):
            return
        self.seen.append(f"failed: {request.method} {request.url} {request.failure}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.seen.append(f"HTTP {response.status}: {response.url}")


@dataclass(frozen=True)
class Dashboard:
    page: Any
    url: str
    problems: PageProblems


@pytest.fixture
def dashboard(demo: ThreadedServer, chromium_page: Any) -> Dashboard:
    """Chromium signed in to the demo server as the admin, every page it visits watched."""
    chromium_page.set_default_timeout(WAIT_MS)
    problems = PageProblems(chromium_page)
    log_in(chromium_page, demo.url)
    return Dashboard(chromium_page, demo.url, problems)
