"""The Unleash SDKs for JavaScript, installed from the npm registry into the shared cache
(`tests.browser.conftest.npm_modules`), and a project whose flags exercise rollouts, constraints
(a country rule before a rollout, a blocked country before both) and weighted variants.

`unleash-client` (Node) is run by `node` on a script fed JSON on stdin; `unleash-proxy-client`
is bundled for the browser."""

from __future__ import annotations

import json
import random
import string
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.browser.conftest import npm_modules
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT

PACKAGES = ["unleash-client@6", "unleash-proxy-client@3", "esbuild@0.24"]
ENV = "production"
COUNTRIES = ["KR", "DE", "US", "KP", "FR", "JP"]
PLANS = ["free", "pro", "team"]


def _country(values: list[str]) -> dict[str, Any]:
    return {"attribute": "country", "operator": "in", "values": values}


FLAGS: list[dict[str, Any]] = [
    {
        "key": "new-checkout",
        "environments": {
            ENV: {
                "enabled": True,
                "default_variant": "off",
                "rules": [{"serve": {"rollout": {"percentage": 37}}}],
            }
        },
    },
    {
        "key": "geo-promo",
        "environments": {
            ENV: {
                "enabled": True,
                "default_variant": "off",
                "rules": [
                    {"constraints": [_country(["KP"])], "serve": {"variant": "off"}},
                    {"constraints": [_country(["KR", "DE"])], "serve": {"variant": "on"}},
                    {"serve": {"rollout": {"percentage": 50}}},
                ],
            }
        },
    },
    {
        "key": "button-color",
        "type": "string",
        "variants": {"red": "#d00", "green": "#0a0", "blue": "#00d"},
        "default_variant": "red",
        "off_variant": "red",
        "environments": {
            ENV: {
                "enabled": True,
                "rules": [
                    {
                        "serve": {
                            "split": [
                                {"variant": "red", "weight": 200},
                                {"variant": "green", "weight": 300},
                                {"variant": "blue", "weight": 500},
                            ]
                        }
                    }
                ],
            }
        },
    },
    {
        "key": "pricing-page",
        "type": "string",
        "variants": {"classic": "classic", "pro": "pro-page", "beta": "beta"},
        "default_variant": "classic",
        "off_variant": "classic",
        "environments": {
            ENV: {
                "enabled": True,
                "rules": [
                    {
                        "constraints": [{"attribute": "plan", "operator": "in", "values": ["pro"]}],
                        "serve": {"variant": "pro"},
                    },
                    {"serve": {"rollout": {"percentage": 25, "variant": "beta"}}},
                ],
            }
        },
    },
    {
        "key": "upload-limit",
        "type": "number",
        "variants": {"small": 10, "medium": 20, "large": 40, "us": 99},
        "default_variant": "small",
        "off_variant": "small",
        "environments": {
            ENV: {
                "enabled": True,
                "rules": [
                    {"constraints": [_country(["US"])], "serve": {"variant": "us"}},
                    {
                        "serve": {
                            "split": [
                                {"variant": "small", "weight": 1},
                                {"variant": "medium", "weight": 1},
                                {"variant": "large", "weight": 2},
                            ]
                        }
                    },
                ],
            }
        },
    },
]
FLAG_TYPES = {flag["key"]: flag.get("type", "boolean") for flag in FLAGS}


def unleash_modules() -> Path:
    return npm_modules(PACKAGES)


def seed_project(url: str, project: str, scope: str) -> str:
    """A project holding FLAGS; returns an SDK token of `scope` bound to production."""
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=HTTP_TIMEOUT
    ) as http:
        created = http.post("/api/v1/projects", json={"slug": project, "environments": [ENV]})
        assert created.status_code == 201, created.text
        for flag in FLAGS:
            response = http.post(f"/api/v1/projects/{project}/flags", json=flag)
            assert response.status_code == 201, response.text
            assert response.json().get("warnings", []) == [], response.text
        token = http.post(
            "/api/v1/tokens",
            json={
                "name": f"{project}-{scope}",
                "scopes": [scope],
                "project": project,
                "environment": ENV,
            },
        )
        assert token.status_code == 201, token.text
        return str(token.json()["token"])


def contexts(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """`count` trimtab contexts with distinct ASCII targeting keys of varied shapes."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "-_.@+"
    result = []
    for i in range(count):
        shape = i % 3
        if shape == 0:
            key = f"user-{i}"
        elif shape == 1:
            key = f"{rng.getrandbits(64):016x}-{i}"
        else:
            key = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))) + f"#{i}"
        result.append(
            {"targetingKey": key, "country": rng.choice(COUNTRIES), "plan": rng.choice(PLANS)}
        )
    return result


def expected_answer(flag_type: str, ofrep: dict[str, Any]) -> list[Any]:
    """What an Unleash SDK should answer for an OFREP result: [enabled] or [variant, text]."""
    if flag_type == "boolean":
        return [ofrep["value"] is True]
    value = ofrep["value"]
    text = value if isinstance(value, str) else json.dumps(value)
    return [ofrep["variant"], text]


def ofrep_answers(url: str, token: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OFREP's bulk evaluation of every context: {flag: {value, variant}} per context."""
    answers = []
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT
    ) as http:
        for context in items:
            response = http.post("/ofrep/v1/evaluate/flags", json={"context": context})
            assert response.status_code == 200, response.text
            answers.append({f["key"]: f for f in response.json()["flags"]})
    return answers


NODE_SCRIPT = r"""
const { Unleash, InMemStorageProvider } = require('unleash-client');
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));

function start(name, mode) {
  const unleash = new Unleash({
    url: input.url + '/api/',
    appName: 'trimtab-tests',
    instanceId: 'node-' + name,
    customHeaders: { Authorization: input.token },
    refreshInterval: 600000,
    disableMetrics: true,
    storageProvider: new InMemStorageProvider(),
    experimentalMode: mode,
    ...(input.filters || {}),
  });
  const warnings = [];
  unleash.on('warn', (w) => warnings.push(String(w)));
  unleash.on('error', (e) => warnings.push(String(e)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(name + ' never synchronized: ' + warnings.join('; '))), 60000);
    unleash.once('synchronized', () => { clearTimeout(timer); resolve([unleash, warnings]); });
  });
}

function answer(unleash, key, type, context) {
  if (type === 'boolean') return [unleash.isEnabled(key, context)];
  const variant = unleash.getVariant(key, context);
  return [variant.name, variant.payload ? String(variant.payload.value) : null];
}

(async () => {
  const out = {};
  for (const [name, mode] of Object.entries(input.modes)) {
    const [unleash, warnings] = await start(name, mode);
    const answers = input.contexts.map((context) => {
      const row = {};
      for (const [key, type] of Object.entries(input.flags)) {
        row[key] = answer(unleash, key, type, context);
      }
      return row;
    });
    out[name] = { answers, warnings, features: unleash.getFeatureToggleDefinitions().length };
    unleash.destroy();
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def run_node_client(
    url: str,
    token: str,
    unleash_contexts: list[dict[str, Any]],
    modes: dict[str, Any],
    flags: dict[str, str] = FLAG_TYPES,
    filters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """unleash-client in each of `modes` ({name: experimentalMode}) answering every context."""
    node_modules = unleash_modules()
    script = node_modules.parent / "trimtab-unleash-node.js"
    script.write_text(NODE_SCRIPT)
    payload = {
        "url": url,
        "token": token,
        "modes": modes,
        "flags": flags,
        "contexts": unleash_contexts,
        "filters": filters or {},
    }
    done = subprocess.run(
        ["node", str(script)],
        input=json.dumps(payload).encode(),
        capture_output=True,
        cwd=node_modules.parent,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-4000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result
