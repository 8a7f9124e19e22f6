"""Two real `trimtab serve` processes on one PostgreSQL database (docs/scaling.md): any node
answers any request, a change made through one node reaches SDKs streaming from the other,
background jobs run once across the nodes and carry on when one is SIGKILLed, no event a
node acknowledged is lost when it is SIGKILLed, and a DSN key's ingest quota holds for the
cluster, not per node. PostgreSQL only (SQLite means one node).

Every wait is on a condition with the generous `WAIT` deadline; how fast a change crosses
nodes is measured by `bench/flags.py --nodes 2`, never asserted here."""

from __future__ import annotations

import gzip
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.e2e.crash import ENV, envelope, setup
from tests.e2e.crash import _stored_event_ids as stored_event_ids
from tests.e2e.quota import Run, in_one_minute, send_event
from tests.receiver import Receiver
from tests.sdk.live import make_flag, sdk_project, wait_for
from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, LiveServer, start_server
from trimtab.domain.reports import alerts
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.domain.spine.notifications import notify
from trimtab.sdk import FlagClient
from trimtab.store.db import Store
from trimtab.store.models import AlertDelivery, AuditEntry, FlagSchedule

pytestmark = [
    pytest.mark.live,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
KR = {"targetingKey": "user-7", "country": "KR"}


@pytest.fixture
def nodes(database_url: str, tmp_path: Path) -> Iterator[list[LiveServer]]:
    """Node A and node B: two `trimtab serve` processes on one fresh PostgreSQL database."""
    started: list[LiveServer] = []
    try:
        started.append(start_server(database_url, tmp_path / "a"))
        started.append(start_server(database_url, tmp_path / "b"))
        yield started
    finally:
        for node in started:
            node.stop()


def api(node: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=node.url, headers=ADMIN, timeout=HTTP_TIMEOUT)


def kill(node: LiveServer) -> None:
    node.process.send_signal(signal.SIGKILL)
    node.process.wait(timeout=WAIT)


class StreamReader:
    """An SSE client of `/api/v1/stream` on one node, collecting `event:` names in a thread."""

    def __init__(self, node: LiveServer, query: str) -> None:
        self.url = f"{node.url}/api/v1/stream?{query}"
        self.events: list[str] = []
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with (
                httpx.Client(headers=ADMIN, timeout=httpx.Timeout(WAIT, read=None)) as http,
                http.stream("GET", self.url) as response,
            ):
                for line in response.iter_lines():
                    if line.startswith(": connected"):
                        self.connected.set()
                    if line.startswith("event: "):
                        self.events.append(line.removeprefix("event: "))
                    if self._stop.is_set():
                        return
        except httpx.HTTPError:
            if not self._stop.is_set():
                raise  # the stream broke while the test still read it

    def close(self) -> None:
        self._stop.set()


def test_changes_through_node_a__reach_sdks_streaming_from_node_b(
    nodes: list[LiveServer],
) -> None:
    a, b = nodes
    with api(a) as http_a:
        secret = sdk_project(http_a)
        make_flag(http_a, "new-payment-page")
    # Polling every 5 minutes cannot explain a change seen before the deadline: the push from
    # node A through PostgreSQL LISTEN/NOTIFY to node B's stream does.
    client = FlagClient(b.url, secret, poll_interval=300, metrics_interval=0)
    maintenance = StreamReader(b, f"project=shop&environment={ENV}&kinds=maintenance.changed")
    try:
        assert client.wait_until_ready(WAIT)
        assert wait_for(lambda: client.stream_connected, WAIT)
        assert maintenance.connected.wait(WAIT)
        assert client.bool_value("new-payment-page", False, KR) is True

        with api(a) as http_a:
            killed = http_a.post(
                f"/api/v1/projects/shop/flags/new-payment-page/environments/{ENV}/kill",
                json={"reason": "payments down"},
            )
            assert killed.status_code == 200, killed.text
            assert wait_for(lambda: client.bool_value("new-payment-page", True, KR) is False)

            on = http_a.post(
                f"/api/v1/projects/shop/maintenance/{ENV}", json={"message": "db upgrade"}
            )
            assert on.status_code == 201, on.text
        assert wait_for(lambda: "maintenance.changed" in maintenance.events)
        # …and node B answers the public notice from the shared store.
        notice = httpx.get(f"{b.url}/api/v1/maintenance/shop/{ENV}", timeout=HTTP_TIMEOUT).json()
        assert notice["active"] is True, notice
    finally:
        client.close()
        maintenance.close()


SCHEDULED = 12


def test_scheduled_flag_changes__applied_exactly_once_while_a_node_is_killed(
    nodes: list[LiveServer], database_url: str
) -> None:
    a, b = nodes
    start = datetime.now(UTC) + timedelta(seconds=5)
    ids: list[int] = []
    with api(a) as http_a:
        assert http_a.post("/api/v1/projects", json={"slug": "shop", "environments": [ENV]})
        for n in range(SCHEDULED):
            make_flag(http_a, f"promo-{n}")
            # Due one after another over ~36 s, so the kill below lands in the middle.
            at = (start + timedelta(seconds=3 * n)).isoformat()
            made = http_a.post(
                f"/api/v1/projects/shop/flags/promo-{n}/schedules",
                json={"environment": ENV, "kind": "off", "at": at},
            )
            assert made.status_code == 201, made.text
            ids.append(int(made.json()["id"]))

    store = Store(database_url)
    try:

        def done() -> int:
            with store.read() as session:
                return int(
                    session.scalar(
                        select(func.count()).where(
                            FlagSchedule.id.in_(ids), FlagSchedule.status == "done"
                        )
                    )
                    or 0
                )

        # Kill node A once some, not all, changes are applied: it may hold the job right then.
        assert wait_for(lambda: done() >= 2, WAIT, 0.05)
        kill(a)
        assert wait_for(lambda: done() == SCHEDULED, WAIT, 0.2), f"{done()} of {SCHEDULED}"

        with store.read() as session:
            for schedule_id in ids:
                applied = session.scalar(
                    select(func.count()).where(
                        AuditEntry.reason == f"scheduled #{schedule_id}",  # (no own reason)
                    )
                )
                assert applied == 1, f"schedule {schedule_id} applied {applied} times"
    finally:
        store.dispose()

    with api(b) as http_b:
        for n in range(SCHEDULED):
            flag = http_b.get(f"/api/v1/projects/shop/flags/promo-{n}").json()
            assert flag["environments"][ENV]["enabled"] is False, flag


def test_node_killed_during_ingest__no_acknowledged_event_lost(nodes: list[LiveServer]) -> None:
    a, b = nodes
    ledger = setup(a.url)
    acked: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()
    acked_by_a = threading.Event()

    def send(node: LiveServer, thread: str) -> None:
        headers = {
            "Content-Type": "application/x-sentry-envelope",
            "Content-Encoding": "gzip",
            "X-Sentry-Auth": f"Sentry sentry_key={ledger.public_key}, sentry_version=7",
        }
        path = f"/api/{ledger.project_id}/envelope/"
        with httpx.Client(base_url=node.url, headers=headers, timeout=HTTP_TIMEOUT) as http:
            n = 0
            while not stop.is_set():
                n += 1
                event_id = uuid.uuid4().hex
                body = envelope(event_id, ledger.public_key, ledger.project_id, thread, n)
                try:
                    response = http.post(path, content=gzip.compress(body, 1))
                except httpx.HTTPError:
                    if node.process.poll() is not None:
                        return  # the node is gone: what it did not answer is not counted
                    continue
                if response.status_code == 200 and response.json().get("id") == event_id:
                    with lock:
                        acked.add(event_id)
                    if node is a and n >= 20:
                        acked_by_a.set()

    threads = [
        threading.Thread(target=send, args=(node, f"{name}{i}"), daemon=True)
        for name, node in (("a", a), ("b", b))
        for i in range(2)
    ]
    for thread in threads:
        thread.start()
    assert acked_by_a.wait(WAIT)
    kill(a)  # mid-ingest: requests to it are in flight
    with lock:
        acked_at_kill = len(acked)
    assert wait_for(lambda: len(acked) >= acked_at_kill + 20, WAIT, 0.05), "node B stopped"
    stop.set()
    for thread in threads:
        thread.join(WAIT)

    with api(b) as http_b:
        http_b.base_url = f"{b.url}/api/v1"
        missing: set[str] = set(acked)

        def all_stored() -> bool:
            missing.difference_update(stored_event_ids(http_b))
            return not missing

        assert wait_for(all_stored, WAIT, 0.5), f"{len(missing)} of {len(acked)} acked lost"


def test_any_node_answers__token_made_on_a_works_on_b(nodes: list[LiveServer]) -> None:
    a, b = nodes
    with api(a) as http_a:
        secret = sdk_project(http_a)
        make_flag(http_a, "checkout")
    # No in-memory state of node A is needed: node B resolves the token from the store.
    got = httpx.get(
        f"{b.url}/api/v1/sdk/flags",
        headers={"Authorization": f"Bearer {secret}"},
        timeout=HTTP_TIMEOUT,
    )
    assert got.status_code == 200, got.text
    assert "checkout" in got.text


ALERTS = 24


def test_alert_deliveries__each_sent_while_a_node_is_killed__at_most_one_resent(
    nodes: list[LiveServer], database_url: str
) -> None:
    """Webhook deliveries go out once across the nodes; the node that dies may have POSTed the
    one it was sending without recording it, so that one (at most) is sent again by the other
    node (receivers dedupe on X-Trimtab-Delivery; docs/scaling.md)."""
    a, b = nodes
    with api(a) as http_a:
        made = http_a.post("/api/v1/projects", json={"slug": "shop", "environments": [ENV]})
        assert made.status_code == 201, made.text
    store = Store(database_url)
    # Slow answers keep deliveries in flight for a while, so the kill lands amid them.
    with Receiver(delay_s=0.3) as receiver:
        try:
            with store.write() as session:
                alerts.create_target(session, SYSTEM, "shop", "chat", receiver.url)
                alerts.create_rule(session, SYSTEM, "shop", kind="issue.new", target="chat")
            with store.write() as session:
                project_id = projects.get_project(session, SYSTEM, "shop").id
                for n in range(ALERTS):
                    notify(session, project_id, "issue.new", f"issue {n}", {"issue_id": n})

            assert wait_for(lambda: len(receiver.received) >= 3, WAIT, 0.05)
            kill(a)

            def delivered() -> int:
                with store.read() as session:
                    return int(
                        session.scalar(
                            select(func.count()).where(AlertDelivery.status == "delivered")
                        )
                        or 0
                    )

            assert wait_for(lambda: delivered() == ALERTS, WAIT, 0.2), f"{delivered()} sent"
            with store.read() as session:
                ids = {str(i) for i in session.scalars(select(AlertDelivery.id))}
        finally:
            store.dispose()
        sent = Counter(r.headers["x-trimtab-delivery"] for r in receiver.received)
    assert set(sent) == ids and len(ids) == ALERTS
    resent = {delivery: n for delivery, n in sent.items() if n > 1}
    assert sum(resent.values()) - len(resent) <= 1, f"sent again: {resent}"
    assert b.process.poll() is None


QUOTA = 50


def test_ingest_quota__shared_by_the_nodes__the_cluster_accepts_the_key_s_limit(
    nodes: list[LiveServer], database_url: str
) -> None:
    a, b = nodes
    project_id = setup(a.url).project_id

    def forty_to_each(run: Run) -> list[httpx.Response]:
        answers = [send_event(a.url, project_id, run.public_key) for _ in range(40)]
        assert run.shared(40)  # node A flushed its counts
        answers.append(send_event(b.url, project_id, run.public_key))
        # B's first event of the minute is flushed at once, which reads back the cluster's 41.
        assert run.shared(41)
        answers += [send_event(b.url, project_id, run.public_key) for _ in range(39)]
        return answers

    answers = in_one_minute(a.url, database_url, QUOTA, forty_to_each)
    statuses = Counter(r.status_code for r in answers)
    # Per node, each would take its 40. The one extra allowed: B's thread commits its flush
    # before it applies the total it read, and B may take one more event in between.
    assert QUOTA <= statuses[200] <= QUOTA + 1, statuses
    assert [r.status_code for r in answers[:40]] == [200] * 40
