"""@sentry/browser for the browser tests: installed from the npm registry at test time into a
gitignored cache (tests/browser/.npm/), bundled once with esbuild (also from npm) into one
script that sets `window.Sentry`. The npm package ships ES modules only, no CDN-style bundle."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CACHE = Path(__file__).resolve().parent / ".npm"
PACKAGES = ("@sentry/browser@8", "esbuild@0.24")
ENTRY = 'import * as Sentry from "@sentry/browser";\nwindow.Sentry = Sentry;\n'


def sentry_browser_bundle() -> Path:
    """The path of the bundled SDK, building it on first use."""
    bundle = CACHE / "sentry-browser.js"
    if bundle.exists():
        return bundle
    npm = shutil.which("npm")
    if npm is None:
        if os.environ.get("CI"):
            raise RuntimeError("npm is needed for the browser tests on CI")
        pytest.skip("npm is not installed")
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", *PACKAGES],
        check=True,
        capture_output=True,
        timeout=600,
    )
    entry = CACHE / "entry.js"
    entry.write_text(ENTRY)
    partial = bundle.with_suffix(".partial.js")
    subprocess.run(
        [
            str(CACHE / "node_modules" / ".bin" / "esbuild"),
            str(entry),
            "--bundle",
            "--format=iife",
            f"--outfile={partial}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
        cwd=CACHE,
    )
    partial.replace(bundle)  # only a complete bundle is ever cached
    return bundle


def sentry_browser_version() -> str:
    import json

    manifest = CACHE / "node_modules" / "@sentry" / "browser" / "package.json"
    return str(json.loads(manifest.read_text())["version"])
