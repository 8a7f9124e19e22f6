"""Every main dashboard page in headless Chromium, on the demo workspace, at a desktop width
(1280 px) and a phone width (390 px): it renders with no console error or failed request, its
content fits the width (no page-wide sideways scrolling; wide tables scroll inside their own
box), and every control can be reached from the keyboard (a visible focus, a name).

`make screenshots` runs this with TRIMTAB_SCREENSHOTS=docs/screenshots, which keeps each
page's desktop image for the README; otherwise the images go to a temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import PageProblems, log_in
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, ThreadedServer
from trimtab.store.db import Store

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# (file name, path); {release}, {run}, {issue} and {event} are filled from the demo's store.
SCREENS = [
    ("overview", "/"),
    ("project", "/projects/shop"),
    ("releases", "/projects/shop/releases"),
    ("release", "/projects/shop/releases/{release}"),
    ("deploys", "/projects/shop/deploys"),
    ("deploy-run", "/projects/shop/deploys/{run}"),
    ("flags", "/projects/shop/flags"),
    ("flag", "/projects/shop/flags/new-payment-page"),
    ("segments", "/projects/shop/segments"),
    ("issues", "/projects/shop/issues"),
    ("issue", "/projects/shop/issues/{issue}"),
    ("event", "/projects/shop/events/{event}"),
    ("maintenance", "/projects/shop/maintenance"),
    ("services", "/projects/shop/services"),
    ("dependency", "/projects/shop/dependencies/billing-api"),
    ("alerts", "/projects/shop/alerts"),
    ("settings", "/projects/shop/settings"),
    ("audit", "/audit"),
]

# Reads the page's layout; Playwright runs it through the DevTools protocol, which the page's
# CSP does not govern.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 1) continue;
    // Inside a box that scrolls sideways on its own: fine.
    let scroller = el.parentElement, contained = false;
    while (scroller && scroller !== document.body) {
      const overflow = getComputedStyle(scroller).overflowX;
      if ((overflow === 'auto' || overflow === 'scroll') &&
          scroller.getBoundingClientRect().right <= width + 1) { contained = true; break; }
      scroller = scroller.parentElement;
    }
    if (!contained) wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : ''));
  }
  return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 5)};
}"""

UNNAMED_CONTROLS = """() => {
  const bad = [];
  const controls = 'a[href], button, input:not([type=hidden]), select, textarea';
  for (const el of document.querySelectorAll(controls)) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;  // not shown (closed <details>)
    const named = (el.textContent || '').trim() || el.getAttribute('aria-label') ||
      el.getAttribute('title') || (el.labels && el.labels.length) ||
      el.getAttribute('placeholder') || (el.type === 'submit' && el.value) ||
      el.querySelector('img[alt], svg title');
    if (!named) bad.push(el.outerHTML.slice(0, 120));
  }
  return bad;
}"""


def _fill(demo: ThreadedServer) -> dict[str, str]:
    """The demo's objects each screen shows: a release, a deploy run, an issue, an event."""
    with httpx.Client(base_url=demo.url, headers=ADMIN, timeout=HTTP_TIMEOUT) as http:
        releases = http.get("/api/v1/projects/shop/releases").json()
        runs = http.get("/api/v1/projects/shop/runs").json()
        issues = http.get("/api/v1/issues", params={"project": "shop"}).json()
        # The payment page's TypeError: an issue with a stack trace to show.
        issue = next(
            (i["id"] for i in issues if i["title"].startswith("TypeError")), issues[0]["id"]
        )
        events = http.get(f"/api/v1/issues/{issue}/events").json()
    return {
        "release": releases[0]["version"],
        "run": str(runs[0]["id"]),
        "issue": str(issue),
        "event": events[0]["event_id"],
    }


@pytest.mark.browser
@pytest.mark.demo_workspace
def test_main_pages__render_clean_and_fit_desktop_and_phone(
    demo: ThreadedServer, chromium_page: Any, tmp_path: Path
) -> None:
    page = chromium_page
    problems = PageProblems(page)
    keep = os.environ.get("TRIMTAB_SCREENSHOTS")
    # Screenshots are kept from one backend only: the pages are the same on both.
    store: Store = demo.app.state.store  # type: ignore[attr-defined]
    out = Path(keep) if keep and store.url.startswith("sqlite") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    values = _fill(demo)
    page.set_viewport_size(DESKTOP)
    log_in(page, demo.url)
    misfits: list[str] = []
    for name, path in SCREENS:
        url = demo.url + path.format(**values)
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            response = page.goto(url)
            assert response is not None and response.status == 200, f"{name}: {url}"
            layout = page.evaluate(OVERFLOW)
            if layout["scroll"] > layout["width"] + 1:
                misfits.append(f"{name} at {label}: {layout}")
            unnamed = page.evaluate(UNNAMED_CONTROLS)
            assert unnamed == [], f"{name}: controls without a name: {unnamed}"
            # The README shows the desktop images; the phone ones are looked at, not kept.
            shot = out / f"{name}.png" if label == "desktop" else tmp_path / f"{name}-phone.png"
            page.screenshot(path=str(shot), full_page=label == "desktop")
    page.goto(f"{demo.url}/")  # leave the last page: a live page's stream closes cleanly
    assert misfits == [], "\n".join(misfits)
    assert problems.seen == [], "\n".join(problems.seen)


@pytest.mark.browser
@pytest.mark.demo_workspace
def test_keyboard__tab_reaches_the_flag_kill_switch_with_a_visible_focus(
    demo: ThreadedServer, chromium_page: Any
) -> None:
    page = chromium_page
    page.set_viewport_size(DESKTOP)
    log_in(page, demo.url)
    page.goto(f"{demo.url}/projects/shop/flags/new-payment-page")
    reached = None
    for _ in range(200):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement; return e ? "
            "[e.tagName, (e.innerText || e.value || '').trim(), "
            "getComputedStyle(e).outlineStyle, getComputedStyle(e).boxShadow] : null }"
        )
        if focused and focused[0] == "BUTTON" and focused[1] == "Kill":
            reached = focused
            break
    assert reached is not None, "Tab never reached the Kill button"
    # Chromium's default focus ring (or ours) must not be switched off.
    assert reached[2] != "none" or reached[3] != "none", reached
