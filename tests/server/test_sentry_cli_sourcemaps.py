"""The real `sentry-cli` uploads source maps of an esbuild bundle; events from the minified code
are stored with their frames mapped to the original files, lines and functions.

The app is two source files bundled and minified by esbuild (from npm); its error is thrown by
Node running the minified bundle, so line, column and minified names are what a JavaScript
engine reports. The event is shaped as `@sentry/browser` sends it (frames with `abs_path`,
`lineno`, `colno`; `debug_meta.images` of type `sourcemap` after `sourcemaps inject`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.browser.conftest import npm_modules
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, ThreadedServer, run_cli

SENTRY_CLI = Path(sys.executable).parent / "sentry-cli"
pytestmark = [
    pytest.mark.skipif(not SENTRY_CLI.exists(), reason="sentry-cli is a dev dependency"),
    pytest.mark.skipif(shutil.which("node") is None, reason="node runs the minified bundle"),
]

SEATS_JS = """\
export function reserveSeat(seat) {
  const taken = seat > 3;
  if (taken) {
    throw new Error("seat " + seat + " is taken");
  }
  return seat;
}
"""
APP_JS = """\
import { reserveSeat } from "./seats.js";
%(extra)s
export function checkout(seats) {
  return seats.map((seat) => reserveSeat(seat));
}

globalThis.checkout = checkout;
"""
# A second build of the same code with one more statement: the minifier names apart.
EXTRA = (
    "function pad(x) { return x; }\nglobalThis.total = "
    + " + ".join(f"pad({i})" for i in range(20))
    + ";\n"
)
FRAME_RE = re.compile(r"^\s+at (?:(\S+) \()?(.+?):(\d+):(\d+)\)?$")


def _sentry(
    server: ThreadedServer, cwd: Path, *args: str, token: str = ADMIN_TOKEN, cli: Path = SENTRY_CLI
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SENTRY_URL": server.url,
        "SENTRY_AUTH_TOKEN": token,
        "SENTRY_ORG": "trimtab",
        "SENTRY_PROJECT": "shop",
        "SENTRY_DISABLE_UPDATE_CHECK": "1",
    }
    return subprocess.run(
        [str(cli), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _build(root: Path, extra: str) -> Path:
    """src/app.js + src/seats.js -> dist/app.min.js and its map."""
    (root / "src").mkdir(parents=True)
    (root / "src" / "seats.js").write_text(SEATS_JS)
    (root / "src" / "app.js").write_text(APP_JS % {"extra": extra})
    esbuild = npm_modules(["esbuild"]) / ".bin" / "esbuild"
    subprocess.run(
        [str(esbuild), "src/app.js", "--bundle", "--minify", "--sourcemap", "--format=iife",
         "--outfile=dist/app.min.js", "--log-level=warning"],
        cwd=root, check=True, timeout=120,
    )  # fmt: skip
    return root / "dist"


def _minified_frames(dist: Path, url: str) -> list[dict[str, Any]]:
    """Run the bundle in Node; the stack of checkout([1, 5]) as Sentry frames (outermost
    first), the bundle's path replaced by the URL it would be served from."""
    script = (
        f"require({json.dumps(str(dist / 'app.min.js'))});"
        "try { checkout([1, 5]) } catch (e) { console.log(e.stack) }"
    )
    out = subprocess.run(
        ["node", "-e", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    frames = []
    for line in out.splitlines()[1:]:
        match = FRAME_RE.match(line)
        if match and match.group(2).endswith("app.min.js"):
            function, _, lineno, colno = match.groups()
            frame = {"abs_path": url, "filename": "/assets/app.min.js", "in_app": True}
            frame |= {"lineno": int(lineno), "colno": int(colno)}
            if function:
                frame["function"] = function
            frames.append(frame)
    assert frames, out
    return frames[::-1]


def _debug_id(dist: Path) -> str:
    match = re.search(r"debugId=([0-9a-f-]{36})", (dist / "app.min.js").read_text())
    assert match, "sentry-cli sourcemaps inject adds the debug ID"
    return match.group(1)


def _send(api: httpx.Client, dsn_key: str, project_id: int, event: dict[str, Any]) -> str:
    event_id = uuid.uuid4().hex
    response = api.post(
        f"/api/{project_id}/store/",
        content=orjson.dumps({"event_id": event_id, **event}),
        headers={"X-Sentry-Auth": f"Sentry sentry_key={dsn_key}, sentry_version=7"},
    )
    assert response.status_code == 200, response.text
    return event_id


def _event(frames: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "platform": "javascript",
        "level": "error",
        "sdk": {"name": "sentry.javascript.browser", "version": "10.0.0"},
        "exception": {
            "values": [
                {"type": "Error", "value": "seat 5 is taken", "stacktrace": {"frames": frames}}
            ]
        },
        **extra,
    }


@pytest.fixture
def api(threaded_server: ThreadedServer) -> httpx.Client:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return httpx.Client(base_url=threaded_server.url, headers=headers, timeout=HTTP_TIMEOUT)


@pytest.fixture
def shop(api: httpx.Client) -> tuple[str, int]:
    response = api.post("/api/v1/projects", json={"slug": "shop"})
    assert response.status_code == 201, response.text
    dsn = response.json()["dsn"]
    key, project_id = re.match(r"https?://([0-9a-f]+)@[^/]+/(\d+)", dsn).groups()  # type: ignore[union-attr]
    return key, int(project_id)


def _stored(api: httpx.Client, event_id: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/events/{event_id}", params={"project": "shop"})
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def _top_frame(detail: dict[str, Any]) -> dict[str, Any]:
    frames: list[dict[str, Any]] = detail["data"]["exception"]["values"][-1]["stacktrace"]["frames"]
    return frames[-1]


def test_sentry_cli_info__trimtab_token__succeeds(
    threaded_server: ThreadedServer, tmp_path: Path
) -> None:
    result = _sentry(threaded_server, tmp_path, "info")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "admin" in result.stdout


def test_sourcemaps_inject_upload__debug_ids__frames_mapped_and_builds_grouped(
    threaded_server: ThreadedServer, api: httpx.Client, shop: tuple[str, int], tmp_path: Path
) -> None:
    key, project_id = shop
    url = f"{threaded_server.url}/assets/app.min.js"
    event_ids, minified_names = [], []
    for build, extra in (("one", ""), ("two", EXTRA)):
        dist = _build(tmp_path / build, extra)
        for args in (("sourcemaps", "inject", str(dist)), ("sourcemaps", "upload", str(dist))):
            result = _sentry(threaded_server, tmp_path, *args)
            assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
        frames = _minified_frames(dist, url)
        minified_names.append(frames[-1]["function"])
        image = {"type": "sourcemap", "code_file": url, "debug_id": _debug_id(dist)}
        event_ids.append(
            _send(api, key, project_id, _event(frames, debug_meta={"images": [image]}))
        )
    assert minified_names[0] != minified_names[1], "the two builds name the function apart"

    details = [_stored(api, event_id) for event_id in event_ids]
    for detail in details:
        top = _top_frame(detail)
        assert (top["filename"], top["lineno"], top["function"]) == (
            "src/seats.js",
            4,
            "reserveSeat",
        )
        assert top["context_line"].strip() == 'throw new Error("seat " + seat + " is taken");'
        assert top["data"]["resolved_with"] == "debug_id"
        assert top["data"]["minified"]["abs_path"] == url
        raw = detail["data"]["exception"]["values"][-1]["raw_stacktrace"]["frames"]
        assert raw[-1]["function"] in minified_names
    assert details[0]["issue_id"] == details[1]["issue_id"]

    listed = run_cli(
        "--json", "sourcemaps", "list", "-p", "shop", url=threaded_server.url, token=ADMIN_TOKEN
    )
    assert listed.exit_code == 0, listed.stderr
    bundles = json.loads(listed.stdout)
    assert len(bundles) == 2 and all(len(b["debug_ids"]) == 1 for b in bundles)


def test_sourcemaps_upload_release_dist__project_token__frames_mapped_by_url(
    threaded_server: ThreadedServer, api: httpx.Client, shop: tuple[str, int], tmp_path: Path
) -> None:
    key, project_id = shop
    dist = _build(tmp_path / "app", "")
    assert (
        run_cli(
            "release",
            "create",
            "shop@1.0.0",
            "-p",
            "shop",
            url=threaded_server.url,
            token=ADMIN_TOKEN,
        ).exit_code
        == 0
    )
    frames = _minified_frames(dist, "https://shop.example/assets/app.min.js?v=1")
    early = _send(api, key, project_id, _event(frames, release="shop@1.0.0", dist="web"))
    top = _top_frame(_stored(api, early))
    assert top["filename"] == "/assets/app.min.js", "no map yet: the minified frame as sent"
    created = api.post(
        "/api/v1/tokens", json={"name": "ci", "scopes": ["deploy"], "project": "shop"}
    )
    assert created.status_code == 201, created.text
    result = _sentry(
        threaded_server, tmp_path, "sourcemaps", "upload", "--release", "shop@1.0.0",
        "--dist", "web", "--url-prefix", "~/assets", str(dist), token=created.json()["token"],
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    event_id = _send(api, key, project_id, _event(frames, release="shop@1.0.0", dist="web"))
    top = _top_frame(_stored(api, event_id))
    assert (top["filename"], top["lineno"], top["function"]) == (
        "src/seats.js",
        4,
        "reserveSeat",
    ), top
    assert top["data"]["resolved_with"] == "release"
    top = _top_frame(_stored(api, early))  # arrived before its map: mapped when read
    assert (top["filename"], top["lineno"], top["function"]) == ("src/seats.js", 4, "reserveSeat")

    other = _send(api, key, project_id, _event(frames, release="shop@1.0.0", dist="mobile"))
    top = _top_frame(_stored(api, other))
    assert top["filename"] == "/assets/app.min.js"
    assert "no source map" in top["data"]["sourcemap_error"]

    listed = run_cli(
        "--json", "sourcemaps", "list", "-p", "shop", "--release", "shop@1.0.0",
        url=threaded_server.url, token=ADMIN_TOKEN,
    )  # fmt: skip
    assert [(b["release"], b["dist"]) for b in json.loads(listed.stdout)] == [("shop@1.0.0", "web")]


def test_unsupported_sentry_route__501_naming_the_feature(api: httpx.Client) -> None:
    response = api.post("/api/0/projects/trimtab/shop/files/difs/assemble/", json={})
    assert response.status_code == 501
    assert "debug information files" in response.json()["detail"]
    assert "organization" not in response.json()["detail"]


def test_assemble__token_of_another_project__refused_before_anything_is_said(
    api: httpx.Client, shop: tuple[str, int]
) -> None:
    assert api.post("/api/v1/projects", json={"slug": "admin-app"}).status_code == 201
    created = api.post(
        "/api/v1/tokens", json={"name": "ci", "scopes": ["deploy"], "project": "admin-app"}
    )
    assert created.status_code == 201, created.text
    headers = {"Authorization": f"Bearer {created.json()['token']}"}
    body = {"checksum": "0" * 40, "chunks": ["1" * 40], "projects": ["shop"]}
    response = api.post(
        "/api/0/organizations/trimtab/artifactbundle/assemble/", json=body, headers=headers
    )
    assert response.status_code == 404, response.text
    assert "missingChunks" not in response.text
