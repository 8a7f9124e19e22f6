"""`unleash-proxy-client` (Unleash's browser SDK, from npm) in headless Chromium on a page of
another origin: the preflight lets its `unleash-*` headers through, its toggles and variants
match OFREP for 1,000 contexts, and its metrics post arrives (202, readable cross-origin)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import StaticSite, bundle
from tests.server.unleash_node import (
    FLAG_TYPES,
    contexts,
    expected_answer,
    ofrep_answers,
    seed_project,
    unleash_modules,
)
from tests.support import WAIT, ThreadedServer

ENTRY = """
import { UnleashClient, InMemoryStorageProvider } from 'unleash-proxy-client';

window.metricsPosts = [];
window.runUnleash = async (url, token, contexts, flags) => {
  const client = new UnleashClient({
    url: url + '/api/frontend',
    clientKey: token,
    appName: 'shop-web',
    disableRefresh: true,
    metricsInterval: 1,
    metricsIntervalInitial: 1,
    storageProvider: new InMemoryStorageProvider(),
  });
  const errors = [];
  client.on('error', (e) => errors.push(JSON.stringify(e)));
  await client.start();
  const answers = [];
  for (const context of contexts) {
    await client.updateContext(context);
    const row = {};
    for (const [key, type] of Object.entries(flags)) {
      if (type === 'boolean') {
        row[key] = [client.isEnabled(key)];
      } else {
        const variant = client.getVariant(key);
        row[key] = [variant.name, variant.payload ? String(variant.payload.value) : null];
      }
    }
    answers.push(row);
  }
  window.unleashClient = client;  // keeps sending metrics every second
  return { answers, errors };
};
"""

PAGE = """<!doctype html>
<html><body><p>unleash-proxy-client</p><script src="bundle.js"></script></body></html>
"""


@pytest.mark.browser
def test_unleash_proxy_client__cross_origin__1000_contexts_match_ofrep_and_metrics_arrive(
    threaded_server: ThreadedServer,
    static_site: tuple[Path, StaticSite],
    chromium_page: Any,
    tmp_path: Path,
) -> None:
    root, site = static_site
    entry = tmp_path / "entry.mjs"
    entry.write_text(ENTRY)
    bundle(entry, unleash_modules(), root / "bundle.js")
    (root / "index.html").write_text(PAGE)
    token = seed_project(threaded_server.url, "shop", "sdk-client")
    items = contexts(1_000, seed=11)
    ofrep = ofrep_answers(threaded_server.url, token, items)
    unleash_contexts = [
        {"userId": c["targetingKey"], "properties": {"country": c["country"], "plan": c["plan"]}}
        for c in items
    ]

    page = chromium_page
    metrics: list[int] = []
    page.on(
        "response",
        lambda r: (
            metrics.append(r.status) if r.url.endswith("/api/frontend/client/metrics") else None
        ),
    )
    page.goto(f"{site.url}/index.html")
    assert site.url != threaded_server.url  # two origins: every call is cross-origin
    got = page.evaluate(
        "([url, token, contexts, flags]) => window.runUnleash(url, token, contexts, flags)",
        [threaded_server.url, token, unleash_contexts, FLAG_TYPES],
    )
    assert got["errors"] == []
    answers = got["answers"]
    mismatches = [
        (items[i]["targetingKey"], key, answers[i][key], expected)
        for i in range(len(items))
        for key, flag_type in FLAG_TYPES.items()
        if answers[i][key] != (expected := expected_answer(flag_type, ofrep[i][key]))
    ]
    assert mismatches == [], f"{len(mismatches)} disagreements, {mismatches[:5]}"
    for key in FLAG_TYPES:
        assert len({str(a[key]) for a in answers}) > 1, key

    # The SDK posts its counts every second; wait (generously) for the first answer.
    deadline_ms = WAIT * 1000
    waited = 0
    while not metrics and waited < deadline_ms:
        page.wait_for_timeout(200)
        waited += 200
    assert metrics and set(metrics) == {202}, metrics
