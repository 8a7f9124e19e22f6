"""The authorization matrix (issue 9): every route of the app x every credential x project
binding (own / other project) x environment binding (own / other environment), and no, bad and
revoked tokens.

`ROUTES` has one row per route and method: who may call it (`access`) and how it relates to
environments (`env`). `expect()` turns a row into the answer each credential must get on each
target; `test_every_route_has_a_row` fails when a route is added without a row. One server, one
database seeded with two projects (alpha, beta) of three environments each.

Allowed means the request got past authorization: not 401, 403 or 404 (nor a redirect to the
login page), and no 5xx. Refused means exactly the status the design gives (401 no credential,
403 scope or environment, 404 where hiding existence is the design: another project, a record
of another environment) with the surface's documented error body.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.routing import iter_route_contexts
from starlette.datastructures import URL

from tests.server.test_dashboard import _csrf
from tests.support import ADMIN_PASSWORD, ADMIN_TOKEN, ThreadedServer
from trimtab.server.app import create_app
from trimtab.settings import Settings
from trimtab.store.db import Store

# Who may call a route.
PUBLIC = "public"  # anyone, no credential
PAGE = "page"  # a dashboard session (others are sent to the login page)
DSN = "dsn"  # a DSN key of the project in the path
SDK = "sdk"  # an sdk-server or sdk-client token (its own project and environment)
SDK_SERVER = "sdk-server"  # an sdk-server token only
AUTH = "auth"  # any valid token or session
ANY_READ = "any-read"  # read, listing what the credential reaches
INSTALL = "install"  # an admin not bound to a project
AGENT = "agent"  # an agent token of the project and environment in the path, nothing else
READ, DEPLOY, ADMIN = "read", "deploy", "admin"  # that scope on the target project
LADDER = {READ: 1, DEPLOY: 2, ADMIN: 3}

# How a route relates to environments.
SHARED = "shared"  # the project's, shared by its environments: `admin` on it needs no binding
NAMED = "named"  # acts in the environment it names: 403 for a token bound to another
RECORD = "record"  # a record of one environment (issue, event, run, token): 404 from another
FILTERED = "filtered"  # a list: a bound token sees its environment's share
UNBOUND = "unbound"  # spans every environment and cannot be split: 403 for a bound token

ALLOW, LOGIN = "allow", "login"
ORG = "trimtab"
FAR, FAR_END = "2099-01-01T00:00:00Z", "2099-01-02T00:00:00Z"
HOOK = "http://127.0.0.1:9/hook"
P = "/api/v1/projects/{slug}"
F = P + "/flags/f1"


@dataclass(frozen=True)
class Target:
    project: str
    env: str


OWN = Target("alpha", "staging")
OTHER_ENV = Target("alpha", "production")
OTHER_PROJECT = Target("beta", "staging")


@dataclass(frozen=True)
class Cred:
    name: str
    kind: str  # anon, bad, revoked, dsn, token, session, session-nocsrf
    scopes: frozenset[str] = frozenset()
    project: str | None = None
    env: str | None = None

    def targets(self) -> list[Target]:
        if self.kind == "token" and self.env is not None:
            return [OWN, OTHER_ENV, OTHER_PROJECT]
        if self.kind in ("token", "dsn") and self.project is not None:
            return [OWN, OTHER_PROJECT]
        return [OWN]

    def has(self, scope: str) -> bool:
        return max((LADDER.get(s, 0) for s in self.scopes), default=0) >= LADDER[scope]


def _token(name: str, scope: str, project: str | None = None, env: str | None = None) -> Cred:
    return Cred(name, "token", frozenset({scope}), project, env)


CREDS = [
    Cred("no token", "anon"),
    Cred("bad token", "bad"),
    Cred("revoked token", "revoked"),
    Cred("dsn key of alpha", "dsn", project="alpha"),
    Cred("admin session", "session", frozenset({"admin"})),
    Cred("admin session without csrf", "session-nocsrf", frozenset({"admin"})),
    _token("admin", ADMIN),
    _token("deploy", DEPLOY),
    _token("read", READ),
    *[_token(f"{s}@alpha", s, "alpha") for s in (ADMIN, DEPLOY, READ)],
    *[_token(f"{s}@alpha/staging", s, "alpha", "staging") for s in (ADMIN, DEPLOY, READ)],
    _token("sdk-server@alpha/staging", "sdk-server", "alpha", "staging"),
    _token("sdk-client@alpha/staging", "sdk-client", "alpha", "staging"),
    _token("agent@alpha/staging", "agent", "alpha", "staging"),
]
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class World:
    """The seeded install: ids of what each project holds, credentials, fresh-object makers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)
        self.admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self.ids: dict[str, dict[str, Any]] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.csrf = ""
        self._n = itertools.count()

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self._n)}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, headers=self.admin, **kwargs)
        self.http.cookies.clear()
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def seed(self) -> None:
        for slug in ("alpha", "beta"):
            self.ids[slug] = self._seed_project(slug)
        self.ids["alpha"]["channel"] = self._ofrep_channel()
        for cred in CREDS:
            self.headers[cred.name] = self._headers(cred)

    def _seed_project(self, slug: str) -> dict[str, Any]:
        project = self.call("POST", "/api/v1/projects", json={"slug": slug})
        base = f"/api/v1/projects/{slug}"
        self.call("POST", f"{base}/flags", json={"key": "f1", "type": "boolean"})
        self.call("POST", f"{base}/services", json={"name": "svc", "manual": True})
        self.call("POST", f"{base}/releases", json={"version": "r1", "services": {"svc": "1"}})
        self.call("POST", f"{base}/dependencies", json={"name": "dep1"})
        target = {"name": "t1", "url": HOOK}
        self.call("POST", f"{base}/alerts/targets", json=target)
        segment = [{"attribute": "beta", "operator": "equals", "values": [True]}]
        self.call("PUT", f"{base}/segments/seg1", json={"constraints": segment})
        ids: dict[str, Any] = {"pid": project["id"], "key": URL(project["dsn"]).username}
        for env in ("staging", "production"):
            run = self.call("POST", f"{base}/runs", json={"release": "r1", "environment": env})
            event_id = self.ingest(project["id"], ids["key"], f"boom in {slug} {env}", env)
            ids[env] = {"run": run["id"], "event": event_id}
            ids[env]["attachment"] = self.attach(project["id"], ids["key"], slug, event_id)
        for issue in self.call("GET", "/api/v1/issues", params={"project": slug}):
            env = issue["title"].rsplit(" ", 1)[-1]
            ids[env]["issue"] = issue["id"]
        return ids

    def ingest(self, pid: int, key: str, message: str, env: str) -> str:
        event_id = uuid.uuid4().hex
        event = {"event_id": event_id, "message": message, "environment": env}
        response = self.http.post(
            f"/api/{pid}/store/", content=orjson.dumps(event), headers=sentry_auth(key)
        )
        assert response.status_code == 200, response.text
        return event_id

    def attach(self, pid: int, key: str, slug: str, event_id: str) -> int:
        """An attachment of the event (sent in an envelope of its own); its id."""
        body = b'{"event_id":"%s"}\n{"type":"attachment","length":2,"filename":"a.txt"}\nhi\n'
        response = self.http.post(
            f"/api/{pid}/envelope/", content=body % event_id.encode(), headers=sentry_auth(key)
        )
        assert response.status_code == 200, response.text
        params = {"project": slug}
        (attachment,) = self.call("GET", f"/api/v1/events/{event_id}/attachments", params=params)
        return int(attachment["id"])

    def _ofrep_channel(self) -> str:
        token = self.token(["sdk-client"], "alpha", "staging")
        response = self.http.post(
            "/ofrep/v1/evaluate/flags", json={"context": {}}, headers=bearer(token)
        )
        return str(response.json()["eventStreams"][0]["url"]).rsplit("/", 1)[-1]

    def token(self, scopes: list[str], project: str | None, env: str | None) -> str:
        body = {"name": self.unique("t"), "scopes": scopes, "project": project, "environment": env}
        return str(self.call("POST", "/api/v1/tokens", json=body)["token"])

    def _headers(self, cred: Cred) -> dict[str, str]:
        if cred.kind == "anon":
            return {}
        if cred.kind == "bad":
            return bearer("tt_" + "x" * 43)
        if cred.kind == "revoked":
            secret = self.token(["read"], None, None)
            mine = [t for t in self.call("GET", "/api/v1/tokens") if secret.startswith(t["prefix"])]
            self.call("DELETE", f"/api/v1/tokens/{mine[-1]['id']}")
            return bearer(secret)
        if cred.kind == "dsn":
            return {**bearer(self.ids["alpha"]["key"]), **sentry_auth(self.ids["alpha"]["key"])}
        if cred.kind.startswith("session"):
            cookie = self._log_in()
            if cred.kind == "session":
                return {"Cookie": cookie, "X-CSRF-Token": self.csrf}
            return {"Cookie": cookie}
        if cred.scopes == {ADMIN} and cred.project is None:
            return dict(self.admin)
        return bearer(self.token(sorted(cred.scopes), cred.project, cred.env))

    def _log_in(self) -> str:
        if not self.csrf:
            self.cookie, self.csrf = self.new_session()
        return self.cookie

    def new_session(self) -> tuple[str, str]:
        """A dashboard session of the admin user: its cookie header and CSRF token."""
        with httpx.Client(base_url=self.url) as browser:
            form = {"username": "admin", "password": ADMIN_PASSWORD}
            form["csrf_token"] = _csrf(browser.get("/login").text)
            assert browser.post("/login", data=form).status_code == 303
            cookie = f"trimtab_session={browser.cookies['trimtab_session']}"
            return cookie, _csrf(browser.get("/").text)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def sentry_auth(key: str) -> dict[str, str]:
    return {"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"}


# --- fresh objects for routes that consume what they act on (made by the admin per request)


def _made(method: str, path: str, body: Any) -> Callable[[World, Target], dict[str, Any]]:
    """A maker of a fresh named object: `method path` with `body`, {name} a new name."""

    def make(w: World, t: Target) -> dict[str, Any]:
        values = {"slug": t.project, "env": t.env, "name": w.unique("x")}
        w.call(method, _fill(path, values), json=_fill(body, values))
        return {"name": values["name"]}

    return make


_fresh_service = _made("POST", P + "/services", {"name": "{name}", "manual": True})
_fresh_freeze = _made("POST", P + "/freezes", {"name": "{name}", "start": FAR, "end": FAR_END})
_fresh_segment = _made("PUT", P + "/segments/{name}", {"constraints": []})
_fresh_dependency = _made("POST", P + "/dependencies", {"name": "{name}"})
_fresh_alert_target = _made("POST", P + "/alerts/targets", {"name": "{name}", "url": HOOK})
_fresh_guard = _made("PUT", F + "/guard", {"environment": "{env}"})
_fresh_rule = _made(
    "POST", P + "/alerts/rules", {"kind": "issue.new", "target": "t1", "name": "{name}"}
)


def _fresh_key(w: World, t: Target) -> dict[str, Any]:
    key = w.call("POST", f"/api/v1/projects/{t.project}/keys", json={"name": w.unique("k")})
    return {"name": key["public_key"]}


def _fresh_token(w: World, t: Target) -> dict[str, Any]:
    body = {"name": w.unique("t"), "scopes": ["read"], "project": t.project, "environment": t.env}
    return {"name": w.call("POST", "/api/v1/tokens", json=body)["id"]}


def _fresh_flag(w: World, t: Target, *, archived: bool = False) -> dict[str, Any]:
    key = w.unique("flag")
    w.call("POST", f"/api/v1/projects/{t.project}/flags", json={"key": key})
    if archived:
        w.call("POST", f"/api/v1/projects/{t.project}/flags/{key}/archive")
    return {"name": key}


def _fresh_schedule(w: World, t: Target) -> dict[str, Any]:
    body = {"environment": t.env, "kind": "on", "at": FAR}
    made = w.call("POST", f"/api/v1/projects/{t.project}/flags/f1/schedules", json=body)
    return {"name": made["id"]}


def _fresh_session(w: World, t: Target) -> dict[str, Any]:
    cookie, csrf = w.new_session()  # logging out must not end the session the others use
    return {"cookie": cookie, "session_csrf": csrf}


def _fresh_names(w: World, t: Target) -> dict[str, Any]:
    return {"name": w.unique("n")}


@dataclass(frozen=True)
class Row:
    access: str
    env: str = SHARED
    url: str = ""  # the request's path: the route's, with {slug} {env} {issue} … filled in
    params: dict[str, Any] | None = None
    json: Any = None
    form: dict[str, str] | None = None
    content: bytes | None = None
    fresh: Callable[[World, Target], dict[str, Any]] | None = None
    stream: bool = False  # a server-sent-event stream: read the status, then hang up
    sdk_watch: bool = False  # SDK tokens may call it too (they watch their own environment)
    logs_out: bool = False  # answers with the login page when allowed, too
    scope_first: bool = False  # 403 for a missing scope even on another project
    answers: int | None = None  # the status an allowed call gets, when it is not a success

    def targeted(self) -> bool:
        text = orjson.dumps([self.url, self.params, self.json, self.form]).decode()
        return self.fresh is not None or any(
            f"{{{part}}}" in text
            for part in ("slug", "env", "issue", "event", "run", "pid", "attachment")
        )


ENV_Q = {"environment": "{env}"}
REASON: dict[str, Any] = {"reason": "matrix"}
ISSUE = "/api/v1/issues/{issue}"
ORG_RELEASES = "/api/0/organizations/{org}/releases/"
CHUNKS = "/api/0/organizations/{org}/chunk-upload/"
STORE_EVENT = orjson.dumps({"message": "matrix ping", "environment": "staging"})
ENVELOPE = b'{}\n{"type":"event"}\n' + STORE_EVENT + b"\n"
TOML = '[project]\nname = "{slug}"\n\n[[services]]\nname = "svc"\nmanual = true\n'
UNLEASH_HELLO = {"appName": "m", "instanceId": "i", "interval": 1000, "started": FAR}
UNLEASH_METRICS = {"appName": "m", "instanceId": "i", "bucket": {"start": FAR, "stop": FAR}}
SDK_METRICS = {"start": FAR, "end": FAR, "counts": {"f1": {"on": 1}}}

# Every route of the app, (method, path) -> its row. The ingest endpoints are answered before
# routing (server.ingest.answer_ingest), so they are listed by hand in `INGEST`.
ROUTES: dict[tuple[str, str], Row] = {
    # evaluation surfaces
    ("POST", "/ofrep/v1/evaluate/flags/{key}"): Row(
        SDK, url="/ofrep/v1/evaluate/flags/f1", json={"context": {"targetingKey": "u"}}
    ),
    ("OPTIONS", "/ofrep/v1/evaluate/flags/{key}"): Row(PUBLIC, url="/ofrep/v1/evaluate/flags/f1"),
    ("POST", "/ofrep/v1/evaluate/flags"): Row(
        SDK, url="/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "u"}}
    ),
    ("OPTIONS", "/ofrep/v1/evaluate/flags"): Row(PUBLIC, url="/ofrep/v1/evaluate/flags"),
    # The channel name is the credential (EventSource sends no headers): unguessable, per env.
    ("GET", "/ofrep/v1/events/{channel}"): Row(
        PUBLIC, url="/ofrep/v1/events/{channel}", stream=True
    ),
    ("GET", "/api/client/features"): Row(SDK_SERVER, url="/api/client/features"),
    ("GET", "/api/client/delta"): Row(SDK_SERVER, url="/api/client/delta"),
    ("GET", "/api/client/streaming"): Row(SDK_SERVER, url="/api/client/streaming", answers=501),
    ("POST", "/api/client/register"): Row(
        SDK_SERVER, url="/api/client/register", json=UNLEASH_HELLO
    ),
    ("POST", "/api/client/metrics"): Row(
        SDK_SERVER, url="/api/client/metrics", json=UNLEASH_METRICS
    ),
    ("GET", "/api/frontend"): Row(SDK, url="/api/frontend"),
    ("POST", "/api/frontend"): Row(SDK, url="/api/frontend", json={"context": {}}),
    ("OPTIONS", "/api/frontend"): Row(PUBLIC, url="/api/frontend"),
    ("POST", "/api/frontend/client/metrics"): Row(
        SDK, url="/api/frontend/client/metrics", json=UNLEASH_METRICS
    ),
    ("OPTIONS", "/api/frontend/client/metrics"): Row(PUBLIC, url="/api/frontend/client/metrics"),
    ("GET", "/api/v1/sdk/flags"): Row(SDK_SERVER, url="/api/v1/sdk/flags"),
    ("POST", "/api/v1/sdk/metrics"): Row(SDK_SERVER, url="/api/v1/sdk/metrics", json=SDK_METRICS),
    ("POST", "/api/v1/sdk/dependencies/{name}/report"): Row(
        SDK_SERVER, url="/api/v1/sdk/dependencies/dep1/report", json={"successes": 1}
    ),
    ("GET", "/sdk/notice.js"): Row(PUBLIC, url="/sdk/notice.js"),
    # documentation and health
    ("GET", "/api/v1/openapi.json"): Row(PUBLIC, url="/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"): Row(PUBLIC, url="/api/v1/docs"),
    ("GET", "/docs/oauth2-redirect"): Row(PUBLIC, url="/docs/oauth2-redirect"),
    ("GET", "/healthz"): Row(PUBLIC, url="/healthz"),
    ("GET", "/readyz"): Row(PUBLIC, url="/readyz"),
    # projects, environments, keys, tokens, audit, stream
    ("GET", "/api/v1/projects"): Row(ANY_READ, url="/api/v1/projects"),
    ("POST", "/api/v1/projects"): Row(
        INSTALL, url="/api/v1/projects", json={"slug": "{name}"}, fresh=_fresh_names
    ),
    ("GET", "/api/v1/projects/{slug}"): Row(READ, url=P),
    ("PATCH", "/api/v1/projects/{slug}"): Row(ADMIN, url=P, json={"unleash_strict": False}),
    ("GET", "/api/v1/projects/{slug}/environments"): Row(READ, url=P + "/environments"),
    ("POST", "/api/v1/projects/{slug}/environments"): Row(
        ADMIN, url=P + "/environments", json={"name": "{name}"}, fresh=_fresh_names
    ),
    ("GET", "/api/v1/projects/{slug}/keys"): Row(READ, url=P + "/keys"),
    ("POST", "/api/v1/projects/{slug}/keys"): Row(ADMIN, url=P + "/keys", json={"name": "k"}),
    ("DELETE", "/api/v1/projects/{slug}/keys/{public_key}"): Row(
        ADMIN, url=P + "/keys/{name}", fresh=_fresh_key
    ),
    ("GET", "/api/v1/whoami"): Row(AUTH, url="/api/v1/whoami"),
    ("GET", "/api/v1/tokens"): Row(
        ADMIN, FILTERED, url="/api/v1/tokens", params={"project": "{slug}"}
    ),
    ("POST", "/api/v1/tokens"): Row(
        ADMIN,
        NAMED,
        url="/api/v1/tokens",
        json={"name": "m", "scopes": ["read"], "project": "{slug}", "environment": "{env}"},
    ),
    ("DELETE", "/api/v1/tokens/{token_id}"): Row(
        ADMIN, RECORD, url="/api/v1/tokens/{name}", fresh=_fresh_token
    ),
    ("GET", "/api/v1/audit"): Row(READ, url="/api/v1/audit", params={"project": "{slug}"}),
    ("GET", "/api/v1/stream"): Row(
        READ,
        NAMED,
        url="/api/v1/stream",
        params={"project": "{slug}", "environment": "{env}"},
        stream=True,
        sdk_watch=True,
    ),
    # deploy agents (the matrix's environments are run locally: an agent's call is a 409)
    ("POST", "/api/v1/projects/{slug}/agents/{environment}/claim"): Row(
        AGENT, NAMED, url=P + "/agents/{env}/claim", json={"agent": "m"}, answers=409
    ),
    ("POST", "/api/v1/projects/{slug}/agents/{environment}/steps/{deploy_id}/heartbeat"): Row(
        AGENT,
        NAMED,
        url=P + "/agents/{env}/steps/1/heartbeat",
        json={"agent": "m", "offset": 0},
        answers=409,
    ),
    ("POST", "/api/v1/projects/{slug}/agents/{environment}/steps/{deploy_id}/finish"): Row(
        AGENT,
        NAMED,
        url=P + "/agents/{env}/steps/1/finish",
        json={"agent": "m", "ok": True, "offset": 0},
        answers=409,
    ),
    ("GET", "/api/v1/projects/{slug}/agents"): Row(READ, FILTERED, url=P + "/agents"),
    ("PUT", "/api/v1/projects/{slug}/environments/{environment}/runner"): Row(
        ADMIN, NAMED, url=P + "/environments/{env}/runner", json={"runner": "local"}
    ),
    # services, releases, deploys, freezes, maintenance, config, dora
    ("GET", "/api/v1/projects/{slug}/services"): Row(READ, url=P + "/services"),
    ("POST", "/api/v1/projects/{slug}/services"): Row(
        ADMIN, url=P + "/services", json={"name": "{name}", "manual": True}, fresh=_fresh_names
    ),
    ("GET", "/api/v1/projects/{slug}/services/{name}"): Row(READ, url=P + "/services/svc"),
    ("PATCH", "/api/v1/projects/{slug}/services/{name}"): Row(
        DEPLOY, url=P + "/services/svc", json={"downtime": False}
    ),
    ("DELETE", "/api/v1/projects/{slug}/services/{name}"): Row(
        ADMIN, url=P + "/services/{name}", fresh=_fresh_service
    ),
    ("GET", "/api/v1/projects/{slug}/releases"): Row(READ, url=P + "/releases"),
    ("POST", "/api/v1/projects/{slug}/releases"): Row(
        DEPLOY, url=P + "/releases", json={"version": "{name}"}, fresh=_fresh_names
    ),
    ("GET", "/api/v1/projects/{slug}/releases/{version}"): Row(READ, url=P + "/releases/r1"),
    ("GET", "/api/v1/projects/{slug}/releases/{version}/plan"): Row(
        DEPLOY, NAMED, url=P + "/releases/r1/plan", params=ENV_Q
    ),
    ("GET", "/api/v1/projects/{slug}/releases/health"): Row(
        READ, NAMED, url=P + "/releases/health", params=ENV_Q
    ),
    ("GET", "/api/v1/projects/{slug}/releases/health/hourly"): Row(
        READ, NAMED, url=P + "/releases/health/hourly", params={**ENV_Q, "release": "r1"}
    ),
    ("POST", "/api/v1/projects/{slug}/runs"): Row(
        DEPLOY, NAMED, url=P + "/runs", json={"release": "r1", "environment": "{env}"}
    ),
    ("GET", "/api/v1/projects/{slug}/runs"): Row(READ, NAMED, url=P + "/runs", params=ENV_Q),
    ("GET", "/api/v1/projects/{slug}/runs/{run_id}"): Row(READ, RECORD, url=P + "/runs/{run}"),
    ("POST", "/api/v1/projects/{slug}/runs/{run_id}/confirm"): Row(
        DEPLOY, RECORD, url=P + "/runs/{run}/confirm", json={"ok": True}
    ),
    ("POST", "/api/v1/projects/{slug}/runs/{run_id}/cancel"): Row(
        DEPLOY, RECORD, url=P + "/runs/{run}/cancel", json=REASON
    ),
    ("POST", "/api/v1/projects/{slug}/rollbacks"): Row(
        DEPLOY, NAMED, url=P + "/rollbacks", json={"environment": "{env}"}
    ),
    ("GET", "/api/v1/projects/{slug}/status"): Row(READ, NAMED, url=P + "/status", params=ENV_Q),
    ("GET", "/api/v1/projects/{slug}/deploys"): Row(READ, NAMED, url=P + "/deploys", params=ENV_Q),
    ("GET", "/api/v1/projects/{slug}/freezes"): Row(READ, NAMED, url=P + "/freezes", params=ENV_Q),
    ("POST", "/api/v1/projects/{slug}/freezes"): Row(
        ADMIN,
        url=P + "/freezes",
        json={"name": "{name}", "start": FAR, "end": FAR_END},
        fresh=_fresh_names,
    ),
    ("DELETE", "/api/v1/projects/{slug}/freezes/{name}"): Row(
        ADMIN, url=P + "/freezes/{name}", fresh=_fresh_freeze
    ),
    ("GET", "/api/v1/maintenance/{slug}/{environment}"): Row(
        PUBLIC, url="/api/v1/maintenance/{slug}/{env}"
    ),
    ("GET", "/api/v1/projects/{slug}/maintenance/{environment}"): Row(
        READ, NAMED, url=P + "/maintenance/{env}"
    ),
    ("POST", "/api/v1/projects/{slug}/maintenance/{environment}"): Row(
        DEPLOY, NAMED, url=P + "/maintenance/{env}", json={"message": "m"}
    ),
    ("DELETE", "/api/v1/projects/{slug}/maintenance/{environment}"): Row(
        DEPLOY, NAMED, url=P + "/maintenance/{env}"
    ),
    # The project is named inside the TOML: the scope is checked before the project is read.
    ("POST", "/api/v1/config/diff"): Row(
        ADMIN, url="/api/v1/config/diff", json={"toml": TOML}, scope_first=True
    ),
    ("POST", "/api/v1/config/apply"): Row(
        ADMIN, url="/api/v1/config/apply", json={"toml": TOML}, scope_first=True
    ),
    ("GET", "/api/v1/projects/{slug}/dora"): Row(READ, NAMED, url=P + "/dora", params=ENV_Q),
    ("GET", "/api/v1/projects/{slug}/config"): Row(READ, UNBOUND, url=P + "/config"),
    ("GET", "/api/v1/projects/{slug}/stabilization"): Row(READ, url=P + "/stabilization"),
    ("PUT", "/api/v1/projects/{slug}/stabilization"): Row(
        ADMIN, url=P + "/stabilization", json={"days": 7}
    ),
    # flags
    ("GET", "/api/v1/projects/{slug}/flags"): Row(READ, url=P + "/flags"),
    ("POST", "/api/v1/projects/{slug}/flags"): Row(
        ADMIN, url=P + "/flags", json={"key": "{name}"}, fresh=_fresh_names
    ),
    ("GET", "/api/v1/projects/{slug}/flags/{key}"): Row(READ, url=F),
    ("PATCH", "/api/v1/projects/{slug}/flags/{key}"): Row(ADMIN, url=F, json={"description": "m"}),
    ("PUT", "/api/v1/projects/{slug}/flags/{key}/environments/{env}"): Row(
        ADMIN, NAMED, url=F + "/environments/{env}", json={"salt": "m"}
    ),
    ("POST", "/api/v1/projects/{slug}/flags/{key}/environments/{env}/on"): Row(
        DEPLOY, NAMED, url=F + "/environments/{env}/on", json=REASON
    ),
    ("POST", "/api/v1/projects/{slug}/flags/{key}/environments/{env}/off"): Row(
        DEPLOY, NAMED, url=F + "/environments/{env}/off", json=REASON
    ),
    ("POST", "/api/v1/projects/{slug}/flags/{key}/environments/{env}/kill"): Row(
        DEPLOY, NAMED, url=F + "/environments/{env}/kill", json=REASON
    ),
    ("POST", "/api/v1/projects/{slug}/flags/{key}/environments/{env}/rollout"): Row(
        DEPLOY, NAMED, url=F + "/environments/{env}/rollout", json={"percentage": 10}
    ),
    ("POST", "/api/v1/projects/{slug}/flags/{key}/archive"): Row(
        ADMIN, url=P + "/flags/{name}/archive", fresh=_fresh_flag
    ),
    ("POST", "/api/v1/projects/{slug}/flags/{key}/restore"): Row(
        ADMIN,
        url=P + "/flags/{name}/restore",
        fresh=lambda w, t: _fresh_flag(w, t, archived=True),
    ),
    ("GET", "/api/v1/projects/{slug}/flags/{key}/schedules"): Row(READ, url=F + "/schedules"),
    ("POST", "/api/v1/projects/{slug}/flags/{key}/schedules"): Row(
        DEPLOY,
        NAMED,
        url=F + "/schedules",
        json={"environment": "{env}", "kind": "on", "at": FAR},
    ),
    ("DELETE", "/api/v1/projects/{slug}/flags/{key}/schedules/{schedule_id}"): Row(
        DEPLOY, NAMED, url=F + "/schedules/{name}", fresh=_fresh_schedule
    ),
    ("GET", "/api/v1/projects/{slug}/stale-flags"): Row(
        READ, NAMED, url=P + "/stale-flags", params={"env": "{env}"}
    ),
    # Flags are defined project-wide: an admin token bound to one environment cannot import.
    ("GET", "/api/v1/projects/{slug}/export"): Row(READ, url=P + "/export"),
    ("POST", "/api/v1/projects/{slug}/environments/{env}/import/{source}"): Row(
        ADMIN,
        url=P + "/environments/{env}/import/unleash",
        json={"document": {"features": [{"name": "imported", "enabled": True}]}},
    ),
    ("GET", "/api/v1/projects/{slug}/segments"): Row(READ, url=P + "/segments"),
    ("PUT", "/api/v1/projects/{slug}/segments/{name}"): Row(
        ADMIN, url=P + "/segments/seg1", json={"constraints": []}
    ),
    ("DELETE", "/api/v1/projects/{slug}/segments/{name}"): Row(
        ADMIN, url=P + "/segments/{name}", fresh=_fresh_segment
    ),
    # dependencies and auto-off rules
    ("GET", "/api/v1/projects/{slug}/dependencies"): Row(READ, url=P + "/dependencies"),
    ("POST", "/api/v1/projects/{slug}/dependencies"): Row(
        ADMIN, url=P + "/dependencies", json={"name": "{name}"}, fresh=_fresh_names
    ),
    ("GET", "/api/v1/projects/{slug}/dependencies/{name}"): Row(READ, url=P + "/dependencies/dep1"),
    ("PATCH", "/api/v1/projects/{slug}/dependencies/{name}"): Row(
        ADMIN, url=P + "/dependencies/dep1", json={"description": "m"}
    ),
    ("DELETE", "/api/v1/projects/{slug}/dependencies/{name}"): Row(
        ADMIN, url=P + "/dependencies/{name}", fresh=_fresh_dependency
    ),
    ("GET", "/api/v1/projects/{slug}/guards"): Row(READ, url=P + "/guards"),
    ("PUT", "/api/v1/projects/{slug}/flags/{key}/guard"): Row(
        DEPLOY, NAMED, url=F + "/guard", json={"environment": "{env}"}
    ),
    ("DELETE", "/api/v1/projects/{slug}/flags/{key}/guard"): Row(
        DEPLOY, NAMED, url=F + "/guard", params=ENV_Q, fresh=_fresh_guard
    ),
    # issues and events
    ("GET", "/api/v1/issues"): Row(
        READ, NAMED, url="/api/v1/issues", params={"project": "{slug}", **ENV_Q}
    ),
    ("GET", "/api/v1/issues/{issue_id}"): Row(READ, RECORD, url=ISSUE),
    ("GET", "/api/v1/issues/{issue_id}/events"): Row(READ, RECORD, url=ISSUE + "/events"),
    ("POST", "/api/v1/issues/{issue_id}/resolve"): Row(
        DEPLOY, RECORD, url=ISSUE + "/resolve", json={}
    ),
    ("POST", "/api/v1/issues/{issue_id}/ignore"): Row(
        DEPLOY, RECORD, url=ISSUE + "/ignore", json={}
    ),
    ("POST", "/api/v1/issues/{issue_id}/reopen"): Row(
        DEPLOY, RECORD, url=ISSUE + "/reopen", json={}
    ),
    ("GET", "/api/v1/events/{event_id}"): Row(
        READ, RECORD, url="/api/v1/events/{event}", params={"project": "{slug}"}
    ),
    # Sentry log lines and what ingest did not store
    ("GET", "/api/v1/events/{event_id}/logs"): Row(
        READ, RECORD, url="/api/v1/events/{event}/logs", params={"project": "{slug}"}
    ),
    ("GET", "/api/v1/issues/{issue_id}/logs"): Row(READ, RECORD, url=ISSUE + "/logs"),
    ("GET", "/api/v1/projects/{slug}/usage"): Row(READ, UNBOUND, url=P + "/usage"),
    ("GET", "/api/v1/issues/{issue_id}/feedback"): Row(READ, RECORD, url=ISSUE + "/feedback"),
    ("GET", "/api/v1/events/{event_id}/attachments"): Row(
        READ, RECORD, url="/api/v1/events/{event}/attachments", params={"project": "{slug}"}
    ),
    ("GET", "/api/v1/events/{event_id}/attachments/{attachment_id}"): Row(
        READ,
        RECORD,
        url="/api/v1/events/{event}/attachments/{attachment}",
        params={"project": "{slug}"},
    ),
    # alerts
    ("GET", "/api/v1/projects/{slug}/alerts/targets"): Row(READ, url=P + "/alerts/targets"),
    ("POST", "/api/v1/projects/{slug}/alerts/targets"): Row(
        ADMIN,
        url=P + "/alerts/targets",
        json={"name": "{name}", "url": HOOK},
        fresh=_fresh_names,
    ),
    ("DELETE", "/api/v1/projects/{slug}/alerts/targets/{ref}"): Row(
        ADMIN, url=P + "/alerts/targets/{name}", fresh=_fresh_alert_target
    ),
    ("POST", "/api/v1/projects/{slug}/alerts/targets/{ref}/test"): Row(
        ADMIN, url=P + "/alerts/targets/t1/test"
    ),
    ("GET", "/api/v1/projects/{slug}/alerts/rules"): Row(READ, url=P + "/alerts/rules"),
    ("POST", "/api/v1/projects/{slug}/alerts/rules"): Row(
        ADMIN,
        url=P + "/alerts/rules",
        json={"kind": "issue.new", "target": "t1", "name": "{name}", "environment": "{env}"},
        fresh=_fresh_names,
    ),
    ("PATCH", "/api/v1/projects/{slug}/alerts/rules/{ref}"): Row(
        ADMIN, url=P + "/alerts/rules/{name}", json={"cooldown_minutes": 30}, fresh=_fresh_rule
    ),
    ("DELETE", "/api/v1/projects/{slug}/alerts/rules/{ref}"): Row(
        ADMIN, url=P + "/alerts/rules/{name}", fresh=_fresh_rule
    ),
    ("GET", "/api/v1/projects/{slug}/alerts/deliveries"): Row(
        READ, UNBOUND, url=P + "/alerts/deliveries"
    ),
    # sentry-cli's release API
    ("POST", "/api/0/organizations/{org}/releases/"): Row(
        DEPLOY,
        url=ORG_RELEASES,
        json={"version": "{name}", "projects": ["{slug}"]},
        fresh=_fresh_names,
    ),
    ("GET", "/api/0/organizations/{org}/releases/"): Row(
        READ, url=ORG_RELEASES, params={"project": "{slug}"}
    ),
    ("GET", "/api/0/projects/{org}/{project}/releases/"): Row(
        READ, url="/api/0/projects/{org}/{slug}/releases/"
    ),
    ("GET", "/api/0/projects/{org}/{project}/releases/{version}/"): Row(
        READ, url="/api/0/projects/{org}/{slug}/releases/r1/"
    ),
    ("GET", "/api/0/organizations/{org}/releases/{version}/"): Row(
        ANY_READ, url=ORG_RELEASES + "r1/"
    ),
    ("PUT", "/api/0/organizations/{org}/releases/{version}/"): Row(
        DEPLOY, url=ORG_RELEASES + "r1/", json={"projects": ["{slug}"], "ref": "abc"}
    ),
    ("POST", "/api/0/organizations/{org}/releases/{version}/deploys/"): Row(
        DEPLOY,
        NAMED,
        url=ORG_RELEASES + "r1/deploys/",
        json={"environment": "{env}", "projects": ["{slug}"]},
    ),
    ("GET", "/api/0/organizations/{org}/releases/{version}/deploys/"): Row(
        ANY_READ, url=ORG_RELEASES + "r1/deploys/"
    ),
    ("GET", "/api/0/organizations/{org}/repos/"): Row(
        AUTH, url="/api/0/organizations/{org}/repos/"
    ),
    # sentry-cli's source map upload (and its answer to what trimtab does not serve)
    ("GET", "/api/0/"): Row(AUTH, url="/api/0/"),
    ("GET", "/api/0/organizations/{org}/chunk-upload/"): Row(AUTH, url=CHUNKS),
    ("POST", "/api/0/organizations/{org}/chunk-upload/"): Row(DEPLOY, url=CHUNKS, content=b""),
    ("POST", "/api/0/organizations/{org}/artifactbundle/assemble/"): Row(
        DEPLOY,
        url="/api/0/organizations/{org}/artifactbundle/assemble/",
        json={"checksum": "0" * 40, "chunks": ["1" * 40], "projects": ["{slug}"]},
    ),
    **{
        (method, "/api/0/{rest:path}/"): Row(
            AUTH, url="/api/0/projects/{org}/{slug}/files/difs/assemble/", answers=501
        )
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH")
    },
    ("GET", "/api/v1/projects/{slug}/sourcemaps"): Row(READ, url=P + "/sourcemaps"),
    # the dashboard
    ("GET", "/static"): Row(PUBLIC, url="/static/trimtab.css"),
    ("GET", "/login"): Row(PUBLIC, url="/login"),
    # Anyone may try to log in; without the form's CSRF cookie the form is just shown again.
    ("POST", "/login"): Row(PUBLIC, url="/login", form={"username": "x", "password": "y"}),
    # Logging out sends everyone to the login page; a session must send its CSRF token.
    ("POST", "/logout"): Row(
        PAGE, url="/logout", form={"csrf_token": "{csrf}"}, fresh=_fresh_session, logs_out=True
    ),
    ("GET", "/"): Row(PAGE, url="/"),
    ("GET", "/projects/{slug}/issues"): Row(PAGE, url="/projects/{slug}/issues"),
    ("GET", "/projects/{slug}/issues/{issue_id}"): Row(PAGE, url="/projects/{slug}/issues/{issue}"),
    ("POST", "/projects/{slug}/issues/{issue_id}/status"): Row(
        PAGE,
        url="/projects/{slug}/issues/{issue}/status",
        form={"action": "reopen", "csrf_token": "{csrf}"},
    ),
    ("GET", "/projects/{slug}/events/{event_id}"): Row(PAGE, url="/projects/{slug}/events/{event}"),
    ("GET", "/projects/{slug}/issues/{issue_id}/logs"): Row(
        PAGE, url="/projects/{slug}/issues/{issue}/logs"
    ),
    ("GET", "/projects/{slug}/events/{event_id}/attachments/{attachment_id}"): Row(
        PAGE, url="/projects/{slug}/events/{event}/attachments/{attachment}"
    ),
    ("GET", "/projects/{slug}/flags"): Row(PAGE, url="/projects/{slug}/flags"),
    ("GET", "/projects/{slug}/flags/{key}"): Row(PAGE, url="/projects/{slug}/flags/f1"),
    ("POST", "/projects/{slug}/flags/{key}/{action}"): Row(
        PAGE,
        url="/projects/{slug}/flags/f1/switch",
        form={"state": "on", "environment": "{env}", "csrf_token": "{csrf}"},
    ),
    ("GET", "/projects/{slug}/segments"): Row(PAGE, url="/projects/{slug}/segments"),
    ("POST", "/projects/{slug}/segments"): Row(
        PAGE,
        url="/projects/{slug}/segments",
        form={"name": "seg1", "constraints": "[]", "csrf_token": "{csrf}"},
    ),
    ("POST", "/projects/{slug}/segments/{name}/delete"): Row(
        PAGE,
        url="/projects/{slug}/segments/{name}/delete",
        form={"csrf_token": "{csrf}"},
        fresh=_fresh_segment,
    ),
    ("GET", "/projects/{slug}/releases"): Row(PAGE, url="/projects/{slug}/releases"),
    ("GET", "/projects/{slug}/releases/{version}"): Row(PAGE, url="/projects/{slug}/releases/r1"),
    ("POST", "/projects/{slug}/releases/{version}/deploy"): Row(
        PAGE,
        url="/projects/{slug}/releases/r1/deploy",
        form={"environment": "{env}", "csrf_token": "{csrf}"},
    ),
    ("GET", "/projects/{slug}/deploys"): Row(PAGE, url="/projects/{slug}/deploys"),
    ("GET", "/projects/{slug}/deploys/agents"): Row(PAGE, url="/projects/{slug}/deploys/agents"),
    ("GET", "/projects/{slug}/deploys/{run_id}"): Row(PAGE, url="/projects/{slug}/deploys/{run}"),
    ("POST", "/projects/{slug}/deploys/{run_id}/confirm"): Row(
        PAGE,
        url="/projects/{slug}/deploys/{run}/confirm",
        form={"service": "svc", "csrf_token": "{csrf}"},
    ),
    ("POST", "/projects/{slug}/deploys/{run_id}/cancel"): Row(
        PAGE,
        url="/projects/{slug}/deploys/{run}/cancel",
        form={"reason": "matrix", "csrf_token": "{csrf}"},
    ),
    ("POST", "/projects/{slug}/deploys/{run_id}/rollback"): Row(
        PAGE,
        url="/projects/{slug}/deploys/{run}/rollback",
        form={"confirm": "yes", "reason": "matrix", "csrf_token": "{csrf}"},
    ),
    ("GET", "/projects/{slug}"): Row(PAGE, url="/projects/{slug}"),
    ("GET", "/projects/{slug}/maintenance"): Row(PAGE, url="/projects/{slug}/maintenance"),
    ("POST", "/projects/{slug}/maintenance/{environment}/on"): Row(
        PAGE,
        url="/projects/{slug}/maintenance/{env}/on",
        form={"message": "matrix", "csrf_token": "{csrf}"},
    ),
    ("POST", "/projects/{slug}/maintenance/{environment}/off"): Row(
        PAGE, url="/projects/{slug}/maintenance/{env}/off", form={"csrf_token": "{csrf}"}
    ),
    ("POST", "/projects/{slug}/freezes"): Row(
        PAGE,
        url="/projects/{slug}/freezes",
        form={"name": "{name}", "start": FAR, "end": FAR_END, "csrf_token": "{csrf}"},
        fresh=_fresh_names,
    ),
    ("POST", "/projects/{slug}/freezes/{name}/lift"): Row(
        PAGE,
        url="/projects/{slug}/freezes/{name}/lift",
        form={"csrf_token": "{csrf}"},
        fresh=_fresh_freeze,
    ),
    ("GET", "/projects/{slug}/services"): Row(PAGE, url="/projects/{slug}/services"),
    ("POST", "/projects/{slug}/dependencies"): Row(
        PAGE,
        url="/projects/{slug}/dependencies",
        form={"name": "{name}", "csrf_token": "{csrf}"},
        fresh=_fresh_names,
    ),
    ("GET", "/projects/{slug}/dependencies/{name}"): Row(
        PAGE, url="/projects/{slug}/dependencies/dep1"
    ),
    ("POST", "/projects/{slug}/dependencies/{name}"): Row(
        PAGE,
        url="/projects/{slug}/dependencies/dep1",
        form={"down_after": "2", "csrf_token": "{csrf}"},
    ),
    ("POST", "/projects/{slug}/dependencies/{name}/delete"): Row(
        PAGE,
        url="/projects/{slug}/dependencies/{name}/delete",
        form={"confirm": "yes", "csrf_token": "{csrf}"},
        fresh=_fresh_dependency,
    ),
    ("GET", "/projects/{slug}/settings"): Row(PAGE, url="/projects/{slug}/settings"),
    ("POST", "/projects/{slug}/settings/tokens"): Row(
        PAGE,
        url="/projects/{slug}/settings/tokens",
        form={"name": "matrix", "scope": "read", "environment": "{env}", "csrf_token": "{csrf}"},
    ),
    ("POST", "/projects/{slug}/settings/tokens/{token_id}/revoke"): Row(
        PAGE,
        url="/projects/{slug}/settings/tokens/{name}/revoke",
        form={"csrf_token": "{csrf}"},
        fresh=_fresh_token,
    ),
    ("POST", "/projects/{slug}/settings/keys"): Row(
        PAGE, url="/projects/{slug}/settings/keys", form={"name": "m", "csrf_token": "{csrf}"}
    ),
    ("POST", "/projects/{slug}/settings/keys/{public_key}/revoke"): Row(
        PAGE,
        url="/projects/{slug}/settings/keys/{name}/revoke",
        form={"csrf_token": "{csrf}"},
        fresh=_fresh_key,
    ),
    ("GET", "/projects/{slug}/alerts"): Row(PAGE, url="/projects/{slug}/alerts"),
    ("POST", "/projects/{slug}/alerts/targets"): Row(
        PAGE,
        url="/projects/{slug}/alerts/targets",
        form={"name": "{name}", "url": HOOK, "csrf_token": "{csrf}"},
        fresh=_fresh_names,
    ),
    ("POST", "/projects/{slug}/alerts/{kind}/{ref}/delete"): Row(
        PAGE,
        url="/projects/{slug}/alerts/targets/{name}/delete",
        form={"csrf_token": "{csrf}"},
        fresh=_fresh_alert_target,
    ),
    ("POST", "/projects/{slug}/alerts/targets/{ref}/test"): Row(
        PAGE, url="/projects/{slug}/alerts/targets/t1/test", form={"csrf_token": "{csrf}"}
    ),
    ("POST", "/projects/{slug}/alerts/rules"): Row(
        PAGE,
        url="/projects/{slug}/alerts/rules",
        form={"kind": "issue.new", "target": "t1", "name": "{name}", "csrf_token": "{csrf}"},
        fresh=_fresh_names,
    ),
    ("POST", "/projects/{slug}/alerts/rules/{ref}"): Row(
        PAGE,
        url="/projects/{slug}/alerts/rules/{name}",
        form={"kind": "issue.new", "target": "t1", "enabled": "yes", "csrf_token": "{csrf}"},
        fresh=_fresh_rule,
    ),
    ("GET", "/audit"): Row(PAGE, url="/audit", params={"project": "{slug}", "action": "flag."}),
}
INGEST = {
    ("POST", "/api/{project_id}/store/"): Row(DSN, url="/api/{pid}/store/", content=STORE_EVENT),
    ("POST", "/api/{project_id}/envelope/"): Row(DSN, url="/api/{pid}/envelope/", content=ENVELOPE),
}
ALL_ROWS = {**ROUTES, **INGEST}


def expect(row: Row, method: str, cred: Cred, t: Target) -> str | int:
    """What `cred` must get from `row` on target `t`: ALLOW, LOGIN, or the refusal's status."""
    if row.access == PUBLIC:
        return ALLOW
    if row.access == PAGE:
        if not cred.kind.startswith("session"):
            return LOGIN
        return 401 if cred.kind == "session-nocsrf" and method not in SAFE else ALLOW
    if row.access == DSN:
        if cred.kind != "dsn":
            return 401
        return ALLOW if t.project == cred.project else 403
    if cred.kind in ("anon", "bad", "revoked", "dsn"):
        return 401
    if "agent" in cred.scopes and row.access != AGENT:
        return 403  # an agent token claims and reports steps, nothing else (not even whoami)
    if row.access == AGENT:
        if cred.kind == "session-nocsrf" and method not in SAFE:
            return 401
        if "agent" not in cred.scopes:
            return 403  # the scope is checked first: only an agent token claims steps
        if cred.project != t.project:
            return 404
        return ALLOW if t.env == cred.env else 403
    if row.access in (SDK, SDK_SERVER):
        if cred.kind != "token":
            return 401  # the SDK surfaces take tokens only, never a session
        if "sdk-server" in cred.scopes or ("sdk-client" in cred.scopes and row.access == SDK):
            return ALLOW
        return 403
    if cred.kind.startswith("session"):
        return 401 if cred.kind == "session-nocsrf" and method not in SAFE else ALLOW
    if row.access == AUTH or (row.sdk_watch and cred.scopes & {"sdk-server", "sdk-client"}):
        return ALLOW
    if row.access == INSTALL:
        return ALLOW if cred.has(ADMIN) and cred.project is None else 403
    if row.access == ANY_READ:
        return ALLOW if cred.has(READ) else 403
    # What a project's environments share is defined by an admin bound to none of them.
    shared_admin = row.access == ADMIN and row.env == SHARED and cred.env is not None
    if row.scope_first and (not cred.has(row.access) or shared_admin):
        return 403
    if cred.project is not None and cred.project != t.project:
        return 404
    elsewhere = cred.env is not None and row.env in (NAMED, RECORD) and t.env != cred.env
    if row.env == RECORD and cred.has(READ) and elsewhere:
        return 404  # read the project, then the record of another environment is not there
    if not cred.has(row.access) or shared_admin or (row.env == UNBOUND and cred.env):
        return 403
    return 403 if elsewhere else ALLOW


def app_routes() -> set[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite://"), run_jobs=False)
    found = set()
    for route in iter_route_contexts(app.routes):
        methods = route.methods or {"GET"}  # a mount (static files) answers GET
        found |= {(m, str(route.path)) for m in methods if m != "HEAD"}
    return found


def test_every_route_has_a_row() -> None:
    routes = app_routes()
    assert not routes - set(ROUTES), (
        f"routes without a row in ROUTES: {sorted(routes - set(ROUTES))}"
    )
    assert not set(ROUTES) - routes, (
        f"rows for routes that do not exist: {sorted(set(ROUTES) - routes)}"
    )


@pytest.fixture(scope="module")
def world(_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    path = tmp_path_factory.mktemp("matrix") / "trimtab.db"
    path.write_bytes(_sqlite_template.read_bytes())
    url = f"sqlite:///{path}"
    settings = Settings(
        database_url=url,
        data_dir=path.parent / "data",
        admin_token=ADMIN_TOKEN,
        admin_password=ADMIN_PASSWORD,
        public_url="http://testserver",
        runner_enabled=False,
    )
    store = Store(url)
    app = create_app(settings, store=store, run_jobs=False)
    with ThreadedServer(app) as server:
        seeded = World(server.url)
        seeded.seed()
        yield seeded
        seeded.http.close()
    store.dispose()


@dataclass
class Cell:
    method: str
    route: str
    cred: str
    target: Target
    expected: str | int
    got: int
    body: str = field(repr=False)

    def __str__(self) -> str:
        where = f"{self.target.project}/{self.target.env}"
        return (
            f"{self.method} {self.route} as {self.cred} on {where}: expected {self.expected}, "
            f"got {self.got} {self.body[:160]!r}"
        )


def _fill(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**values) if "{" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def _request(w: World, row: Row, method: str, cred: Cred, t: Target) -> httpx.Response:
    ids = w.ids[t.project]
    env_ids = ids.get(t.env, ids["staging"])
    values: dict[str, Any] = {
        "slug": t.project,
        "env": t.env,
        "org": ORG,
        "pid": ids["pid"],
        "issue": env_ids["issue"],
        "event": env_ids["event"],
        "attachment": env_ids["attachment"],
        "run": env_ids["run"],
        "channel": w.ids["alpha"]["channel"],
        "csrf": w.csrf if cred.kind == "session" else "",
        "name": "",
    }
    headers = w.headers[cred.name]
    if row.fresh is not None:
        values.update(row.fresh(w, t))
        if "cookie" in values and cred.kind.startswith("session"):
            headers = {**headers, "Cookie": values["cookie"]}
            values["csrf"] = values["session_csrf"] if cred.kind == "session" else ""
    kwargs: dict[str, Any] = {"headers": headers}
    if row.params is not None:
        kwargs["params"] = _fill(row.params, values)
    if row.json is not None:
        kwargs["json"] = _fill(row.json, values)
    if row.form is not None:
        kwargs["data"] = _fill(row.form, values)
    if row.content is not None:
        kwargs["content"] = row.content
    url = _fill(row.url, values)
    if row.stream:
        with w.http.stream(method, url, **kwargs) as response:
            if response.status_code != 200:
                response.read()
    else:
        response = w.http.request(method, url, **kwargs)
    w.http.cookies.clear()
    return response


def _check(cell: Cell, response: httpx.Response, row: Row, route: str) -> bool:
    got = cell.got
    if cell.expected == ALLOW and row.answers is not None:
        return got == row.answers
    if cell.expected == ALLOW:
        to_login = got in (302, 303, 307) and response.headers.get("location") == "/login"
        return got < 500 and got not in (401, 403, 404) and (row.logs_out or not to_login)
    if cell.expected == LOGIN:
        return got == 303 and response.headers.get("location") == "/login"
    if got != cell.expected:
        return False
    if "text/html" in response.headers.get("content-type", ""):
        return not route.startswith(("/api/", "/ofrep/"))  # a dashboard page's problem page
    body = response.json()
    if route.startswith("/ofrep/"):
        return isinstance(body.get("errorDetails"), str) and set(body) <= {
            "errorCode",
            "errorDetails",
        }
    return set(body) == {"error", "detail"} and all(isinstance(v, str) for v in body.values())


@pytest.mark.parametrize(("method", "route"), list(ALL_ROWS), ids=[" ".join(k) for k in ALL_ROWS])
def test_authorization_matrix__credentials_and_bindings_get_what_the_row_says(
    world: World, method: str, route: str
) -> None:
    row = ALL_ROWS[(method, route)]
    failures = []
    for cred in CREDS:
        if cred.kind == "session-nocsrf" and method in SAFE:
            continue  # the same request as the session's
        for target in cred.targets() if row.targeted() else [OWN]:
            response = _request(world, row, method, cred, target)
            expected = expect(row, method, cred, target)
            body = "" if row.stream else response.text
            cell = Cell(method, route, cred.name, target, expected, response.status_code, body)
            if not _check(cell, response, row, route):
                failures.append(str(cell))
    assert not failures, "\n".join(failures)
