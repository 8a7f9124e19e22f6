"""Source maps on the event page: mapped frames by default, each saying what it was minified;
a plain link (no JavaScript) to the frames as sent; per frame, why one could not be mapped; an
event stored before its map shown mapped once the map is uploaded."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.domain.test_js_mapping import DEBUG_ID, URL, _upload_build
from tests.server.test_dashboard_issues import Sender, browser, sender  # noqa: F401 (fixtures)
from trimtab.store.db import Store

# Read on the demo workspace (tests/conftest.py keeps it seeded in a template).
pytestmark = pytest.mark.demo_workspace

OTHER = "https://shop.example/assets/vendor.min.js"


def _js_event() -> dict[str, object]:
    frames = [
        {"abs_path": OTHER, "filename": "/assets/vendor.min.js", "lineno": 1, "colno": 5,
         "function": "v", "in_app": True},
        {"abs_path": URL, "filename": "/assets/app.min.js", "lineno": 1, "colno": 34,
         "function": "t", "in_app": True},
    ]  # fmt: skip
    return {
        "platform": "javascript",
        "exception": {
            "values": [
                {"type": "Error", "value": "seat 5 is taken", "stacktrace": {"frames": frames}}
            ]
        },
        "debug_meta": {"images": [{"type": "sourcemap", "code_file": URL, "debug_id": DEBUG_ID}]},
    }


def _notes(page: str) -> list[str]:
    return [
        " ".join(re.sub(r"<[^>]+>", " ", n).split())
        for n in re.findall(r'<div class="sourcemap-note[^"]*">(.*?)</div>', page, re.S)
    ]


def test_event_page__no_source_maps_uploaded__says_so(
    browser: TestClient,  # noqa: F811
    sender: Sender,  # noqa: F811
) -> None:
    event_id = sender(**_js_event())
    page = browser.get(f"/projects/shop/events/{event_id}").text
    assert "This project has no uploaded source maps" in page
    assert "?frames=minified" not in page and not _notes(page)


def test_event_page__map_uploaded_after_the_event__mapped_frames_and_toggle(
    browser: TestClient,  # noqa: F811
    sender: Sender,  # noqa: F811
    store: Store,
) -> None:
    event_id = sender(**_js_event())
    _upload_build(store, DEBUG_ID)
    url = f"/projects/shop/events/{event_id}"
    page = browser.get(url).text
    assert 'class="where">src/seats.js</span><span class="lineno">:4:11' in page
    assert '<span class="fn">reserveSeat</span>' in page
    assert "throw new Error" in page  # the original source's context lines
    assert _notes(page) == [
        "mapped from /assets/app.min.js:1:34 in t (by debug ID)",
        f"not mapped: no source map for {OTHER} in release shop@9.9.9",
    ]
    assert "1 frame mapped by source maps" in page and "1 frame not mapped" in page
    assert f'href="{url}?frames=minified#frames"' in page

    minified = browser.get(f"{url}?frames=minified").text
    assert '<span class="fn">reserveSeat</span>' not in minified
    assert 'class="where">/assets/app.min.js</span><span class="lineno">:1:34' in minified
    assert _notes(minified) == [
        "maps to src/seats.js:4:11 in reserveSeat",
        f"not mapped: no source map for {OTHER} in release shop@9.9.9",
    ]
    assert f'href="{url}#frames"' in minified
    assert browser.get(f"{url}?frames=everything").status_code == 422
