"""`@openfeature/web-sdk` with `@openfeature/ofrep-web-provider` in headless Chromium: the page
reads a flag from trimtab over OFREP (cross-origin), and a kill switch reaches it through the
`eventStreams` SSE stream that bulk answers advertise, without a reload or a poll."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import StaticSite, bundle, npm_modules
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, ThreadedServer

PACKAGES = ["@openfeature/web-sdk", "@openfeature/ofrep-web-provider", "esbuild"]

ENTRY = """
import { OpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

window.startFlags = async (baseUrl, token) => {
  const provider = new OFREPWebProvider({
    baseUrl,
    headers: [['Authorization', `Bearer ${token}`]],
    pollInterval: 600000,          // changes must arrive by SSE, not by polling
    cacheMode: 'disabled',
  });
  await OpenFeature.setContext({ targetingKey: 'user-1', country: 'KR' });
  await OpenFeature.setProviderAndWait(provider);
  const client = OpenFeature.getClient();
  const render = () => {
    const banner = client.getBooleanDetails('maintenance-banner', false);
    const layout = client.getStringValue('checkout-redesign', 'code-default');
    document.getElementById('banner').textContent = `${banner.value}/${banner.reason}`;
    document.getElementById('layout').textContent = layout;
  };
  render();
  client.addHandler(ProviderEvents.ConfigurationChanged, render);
};
"""

PAGE = """<!doctype html>
<html><body>
<p>banner: <span id="banner">loading</span></p>
<p>layout: <span id="layout">loading</span></p>
<script src="bundle.js"></script>
</body></html>
"""


def _seed(url: str) -> str:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=HTTP_TIMEOUT) as http:
        assert http.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
        flags = "/api/v1/projects/shop/flags"
        on = {"production": {"enabled": True}}
        assert (
            http.post(flags, json={"key": "maintenance-banner", "environments": on}).status_code
            == 201
        )
        redesign = {
            "key": "checkout-redesign",
            "type": "string",
            "variants": {"classic": "classic", "redesign": "redesign"},
            "default_variant": "classic",
            "off_variant": "classic",
            "environments": {
                "production": {
                    "enabled": True,
                    "rules": [
                        {
                            "constraints": [
                                {"attribute": "country", "operator": "in", "values": ["KR"]}
                            ],
                            "serve": {"variant": "redesign"},
                        }
                    ],
                }
            },
        }
        assert http.post(flags, json=redesign).status_code == 201
        token = http.post(
            "/api/v1/tokens",
            json={
                "name": "web",
                "scopes": ["sdk-client"],
                "project": "shop",
                "environment": "production",
            },
        )
        return str(token.json()["token"])


@pytest.mark.browser
def test_ofrep_web_provider__flag_value_then_kill__reaches_the_page(
    threaded_server: ThreadedServer,
    static_site: tuple[Path, StaticSite],
    chromium_page: Any,
    tmp_path: Path,
) -> None:
    root, site = static_site
    node_modules = npm_modules(PACKAGES)
    entry = tmp_path / "entry.mjs"
    entry.write_text(ENTRY)
    bundle(entry, node_modules, root / "bundle.js")
    (root / "index.html").write_text(PAGE)
    token = _seed(threaded_server.url)

    page = chromium_page
    page.goto(f"{site.url}/index.html")
    page.evaluate("([url, token]) => window.startFlags(url, token)", [threaded_server.url, token])
    page.wait_for_function("document.getElementById('banner').textContent === 'true/STATIC'")
    assert page.text_content("#layout") == "redesign"

    killed = httpx.post(
        f"{threaded_server.url}/api/v1/projects/shop/flags/maintenance-banner/environments/production/kill",
        json={"reason": "banner broke the layout"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=HTTP_TIMEOUT,
    )
    assert killed.status_code == 200
    # Well under the 10-minute poll interval: only the SSE push can have done this.
    page.wait_for_function(
        "document.getElementById('banner').textContent === 'false/DISABLED'", timeout=WAIT * 1000
    )
