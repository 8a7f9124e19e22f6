"""What each caller of the change stream sees: browser tokens only refetch signals, tokens bound
to an environment only that environment (issue 9, items 2 and 3)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, ThreadedServer, read_events
from trimtab.domain.spine.watch import Watch
from trimtab.store.notify import Change, announce

ISSUE = Change("issue.new", 1, None, {"title": "PaymentError: card 4111", "culprit": "pay.js"})
FLAG = Change("flags.changed", 1, "staging", {"etag": '"7-3"', "revision": 3, "reason": "INC-42"})
FLAG_PROD = Change("flags.changed", 1, "production", {"etag": '"8-1"', "revision": 1})
DEPLOY = Change("deploy.changed", 1, "staging", {"run_id": 5, "state": "running"})


def test_watch__browser_token__flag_signal_without_reason_and_nothing_else() -> None:
    browser = Watch(1, "staging", bound_to_environment=True, browser=True)
    assert browser.payload(ISSUE, None) is None
    assert browser.payload(DEPLOY, None) is None
    assert browser.payload(FLAG_PROD, None) is None
    assert browser.payload(FLAG, None) == {
        "kind": "flags.changed",
        "project_id": 1,
        "environment": "staging",
        "etag": '"7-3"',
        "revision": 3,
    }


def test_watch__environment_bound_token__its_environment_only() -> None:
    bound = Watch(1, "staging", bound_to_environment=True, browser=False)
    assert bound.payload(ISSUE, None) is None  # project-wide: for project-wide callers
    assert bound.payload(FLAG_PROD, None) is None
    assert bound.payload(DEPLOY, None) is not None
    assert bound.payload(FLAG, None) == {
        "kind": "flags.changed",
        "project_id": 1,
        "environment": "staging",
        **FLAG.data,
    }


def test_watch__unbound_caller_naming_an_environment__also_project_wide_changes() -> None:
    watching = Watch(1, "staging", bound_to_environment=False, browser=False)
    assert watching.payload(ISSUE, None) is not None
    assert watching.payload(FLAG_PROD, None) is None
    assert watching.payload(FLAG, frozenset({"deploy.changed"})) is None


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        (["sdk-client"], [{"etag": "s", "revision": 2}, {"etag": "end"}]),
        (["read"], [{"title": "db down"}, {"etag": "s", "revision": 2, "reason": "INC-42"}]),
    ],
)
def test_stream__bound_token__sees_only_what_its_binding_allows(
    threaded_server: ThreadedServer, scopes: list[str], expected: list[dict[str, object]]
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    url = threaded_server.url
    project_id = httpx.post(
        f"{url}/api/v1/projects", json={"slug": "shop"}, headers=admin, timeout=HTTP_TIMEOUT
    ).json()["id"]
    body = {"name": "t", "scopes": scopes, "project": "shop", "environment": "staging"}
    token = httpx.post(
        f"{url}/api/v1/tokens", json=body, headers=admin, timeout=HTTP_TIMEOUT
    ).json()["token"]
    found: list[dict[str, object]] = []
    ready = threading.Event()
    reader = threading.Thread(
        target=read_events,
        args=(f"{url}/api/v1/stream?project=shop", {"Authorization": f"Bearer {token}"}),
        kwargs={"found": found, "ready": ready, "until": lambda e: e.get("etag") == "end"},
    )
    reader.start()
    assert ready.wait(30)
    time.sleep(0.05)  # the subscription is registered before ": connected" is sent
    store = threaded_server.app.state.store  # type: ignore[attr-defined]
    with store.write() as session:
        announce(session, Change("issue.new", project_id, None, {"title": "card 4111 failed"}))
        announce(session, Change("issue.new", project_id, "staging", {"title": "db down"}))
        announce(session, Change("flags.changed", project_id, "production", {"etag": "p"}))
        flag = {"etag": "s", "revision": 2, "reason": "INC-42"}
        announce(session, Change("flags.changed", project_id, "staging", flag))
        announce(session, Change("flags.changed", project_id, "staging", {"etag": "end"}))
    reader.join(30)
    extras = {"kind", "project_id", "environment"}
    assert [{k: v for k, v in e.items() if k not in extras} for e in found][: len(expected)] == (
        expected
    )
    if scopes == ["sdk-client"]:
        assert len(found) == 2
