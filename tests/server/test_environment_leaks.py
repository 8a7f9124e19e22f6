"""A token bound to one environment sees nothing of another: not an issue's title, events,
totals, feedback, a window's verdict, a release's deploy count (issue 9: "a binding is enforced
on every route, not only on most").

The authorization matrix checks who may call each route; this walk reads what each route
answers a read token bound to alpha/staging, on the matrix's seeded install plus an issue seen
in both environments, feedback and a stabilization window in each environment, and asserts
that no production record shows through and that totals are staging's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from tests.server.test_authorization_matrix import (
    OWN,
    ROUTES,
    World,
    _request,
    _token,
    sentry_auth,
)
from tests.support import ThreadedServer
from trimtab.domain.releases import verdicts
from trimtab.server.app import create_app
from trimtab.settings import Settings
from trimtab.store.db import Store
from trimtab.store.models import StabilizationWindow

READER = _token("read@alpha/staging", "read", "alpha", "staging")
SHARED = "billing timeout shared by both"
# Text only production's records hold: none of it may reach the staging token.
PRODUCTION_TEXT = ("boom in alpha production", "production card declined", "said in production")


class LeakWorld(World):
    """The matrix's install, and what a leak would show: an issue of both environments with
    feedback in each, r1 deployed to both, and a production-only issue after the deploys."""

    def seed(self) -> None:
        super().seed()
        alpha = self.ids["alpha"]
        self.production_events = [alpha["production"]["event"]]
        self.call(
            "PUT",
            "/api/v1/projects/alpha/stabilization",
            json={"days": 7, "environment": "staging"},
        )
        for env in ("staging", "production"):
            path = "/api/0/organizations/trimtab/releases/r1/deploys/"
            self.call("POST", path, json={"environment": env, "projects": ["alpha"]})
        for env, times in (("staging", 2), ("production", 1)):
            for _ in range(times):
                event_id = self.ingest(alpha["pid"], alpha["key"], SHARED, env)
                self.feedback(alpha["pid"], alpha["key"], event_id, f"said in {env}")
                if env == "production":
                    self.production_events.append(event_id)
        production_issue = alpha["production"]["issue"]
        triage = {"reason": "said in production: INC-9"}
        self.call("POST", f"/api/v1/issues/{production_issue}/ignore", json=triage)
        late = self.ingest(alpha["pid"], alpha["key"], "production card declined", "production")
        self.production_events.append(late)
        (shared,) = self.call("GET", "/api/v1/issues", params={"query": SHARED})
        alpha["shared"] = shared["id"]

    def feedback(self, pid: int, key: str, event_id: str, comments: str) -> None:
        report = orjson.dumps({"event_id": event_id, "name": "Ana", "comments": comments})
        header = orjson.dumps({"type": "user_report", "length": len(report)})
        body = b"\n".join([orjson.dumps({"event_id": event_id}), header, report, b""])
        response = self.http.post(f"/api/{pid}/envelope/", content=body, headers=sentry_auth(key))
        assert response.status_code == 200, response.text


@pytest.fixture
def world(settings: Settings, store: Store) -> Iterator[LeakWorld]:
    app = create_app(dataclasses.replace(settings, runner_enabled=False), store=store)
    with ThreadedServer(app) as server:
        seeded = LeakWorld(server.url)
        seeded.seed()
        seeded.headers[READER.name] = seeded._headers(READER)
        # The windows' verdicts as the job computes them (it does not run in this server).
        with store.write() as session:
            for window in session.scalars(select(StabilizationWindow)):
                verdicts.update_window(session, window, datetime.now(UTC))
        yield seeded
        seeded.http.close()


def _leaks(w: LeakWorld, text: str) -> list[str]:
    return [t for t in (*PRODUCTION_TEXT, *w.production_events) if t in text]


def test_every_read_route__token_bound_to_staging__shows_nothing_of_production(
    world: LeakWorld,
) -> None:
    found = []
    for (method, route), row in ROUTES.items():
        if method != "GET" or row.stream or row.fresh is not None:
            continue
        response = _request(world, row, method, READER, OWN)
        if leaked := _leaks(world, response.text):
            found.append(f"{route} ({response.status_code}) shows {leaked}")
    assert not found, "\n".join(found)


def _get(w: LeakWorld, path: str, **params: Any) -> Any:
    response = w.http.get(path, params=params, headers=w.headers[READER.name])
    assert response.status_code == 200, (path, response.text)
    return response.json()


def test_issue_totals__token_bound_to_staging__staging_counts_only(world: LeakWorld) -> None:
    shared = world.ids["alpha"]["shared"]
    listed = {i["id"]: i for i in _get(world, "/api/v1/issues", project="alpha")}
    detail = _get(world, f"/api/v1/issues/{shared}")
    for seen in (listed[shared], detail):
        assert seen["event_count"] == 2  # its two staging events, not the production one
        assert seen["user_count"] is None  # users are counted per issue, not per environment
        assert seen["first_environment"] == "staging"
    assert detail["feedback_count"] == 2
    feedback = _get(world, f"/api/v1/issues/{shared}/feedback")
    assert [f["message"] for f in feedback] == ["said in staging"] * 2
    by_events = _get(world, "/api/v1/issues", project="alpha", sort="events")
    assert [i["event_count"] for i in by_events] == sorted(
        (i["event_count"] for i in by_events), reverse=True
    )
    admin = world.http.get(f"/api/v1/issues/{shared}", headers=world.admin).json()
    assert (admin["event_count"], admin["feedback_count"]) == (3, 3)  # the unbound view


def test_releases__token_bound_to_staging__its_deploys_and_verdict_only(world: LeakWorld) -> None:
    sentry = _get(world, "/api/0/organizations/trimtab/releases/r1/")
    assert sentry["deployCount"] == 1
    detail = _get(world, "/api/v1/projects/alpha/releases/r1")
    (window,) = detail["windows"]
    assert window["environment"] == "staging" and window["verdict"] is not None
    titles = {
        issue["title"]
        for kind in ("new_issues", "regressed_issues", "cleared_issues", "other_issues")
        for issue in window["verdict"]["numbers"][kind]
    }
    assert SHARED in titles and "production card declined" not in titles
    usage = world.http.get("/api/v1/projects/alpha/usage", headers=world.headers[READER.name])
    assert usage.status_code == 403  # counted per project: it cannot be split
