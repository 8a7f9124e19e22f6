"""@sentry/browser for the browser tests: installed from the npm registry at test time through
the shared cache (`conftest.npm_modules`), bundled once with esbuild into one script that sets
`window.Sentry`. The npm package ships ES modules only, no CDN-style bundle."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.browser.conftest import bundle, npm_modules

PACKAGES = ["@sentry/browser@8", "esbuild@0.24"]
ENTRY = 'import * as Sentry from "@sentry/browser";\nwindow.Sentry = Sentry;\n'


def sentry_browser_bundle() -> Path:
    """The path of the bundled SDK, building it on first use."""
    node_modules = npm_modules(PACKAGES)
    out = node_modules.parent / "sentry-browser.js"
    if not out.exists():
        entry = node_modules.parent / f"sentry-entry-{os.getpid()}.js"
        entry.write_text(ENTRY)
        # Per process: two test workers may build it at once (each a whole bundle, the last
        # one's replace wins).
        partial = out.with_suffix(f".partial-{os.getpid()}.js")
        bundle(entry, node_modules, partial)
        partial.replace(out)  # only a complete bundle is ever cached
    return out


def sentry_browser_version() -> str:
    manifest = npm_modules(PACKAGES) / "@sentry" / "browser" / "package.json"
    return str(json.loads(manifest.read_text())["version"])
