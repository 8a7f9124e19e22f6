"""The SDK never breaks the application it lives in (issue 9, "SDK resilience").

A real `trimtab serve` process sits behind a fault proxy: a TCP server written here that passes
bytes through, or stops listening, hangs, answers garbage, answers 500, answers a 200 that is
not a rule set, or answers only after longer than the SDK's timeout. Through each fault an
application thread keeps evaluating and guarding: it never sees an exception and keeps the last
rules. A flag killed during the fault reaches the application once the proxy passes again.

How fast is checked without the clock: the reconnect schedule as arithmetic (never more than
5 s between stream attempts) and the stream client's configuration (a stream request waits for
its headers no longer than the SDK's timeout, so a hung server cannot hold a reconnect for the
40 s heartbeat timeout); the live tests wait for the flip with the suite's generous deadline.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext

from tests.sdk.live import make_flag, sdk_project, start_on_port, wait_for
from tests.support import ADMIN_TOKEN, WAIT, LiveServer, free_port
from trimtab.sdk import FlagClient
from trimtab.sdk.client import BACKOFF_FIRST_S, JITTER, STREAM_HEALTHY_AFTER_S, reconnect_delay

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
KR = {"targetingKey": "user-7", "country": "KR"}
SLOW_S = 6.0  # "slow": answers later than the SDK's 5 s timeout
MODES = ("closed", "hang", "garbage", "http_500", "not_rules", "slow")
ANSWERS = {
    "garbage": b"\x00\xff\xfe not HTTP at all \x1b[31m\r\n\r\n" * 20,
    "http_500": (
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\n"
        b"Content-Length: 21\r\nConnection: close\r\n\r\n<h1>Server Error</h1>"
    ),
    "not_rules": (
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: "x"\r\n'
        b'Content-Length: 22\r\nConnection: close\r\n\r\n{"flags": [1, 2, {"'
        b"\r\n\r\n"
    ),
}


class FaultProxy:
    """127.0.0.1:<port> in front of the server: `pass`, or one of MODES."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mode = "pass"
        self.attempts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._listen()

    def set(self, mode: str) -> None:
        """Switch to `mode`. A fault drops every open connection, as an outage would; a
        recovery leaves them be: a hung request stays hung, a slow one is answered late."""
        with self._lock:
            self.mode = mode
            dropped: set[socket.socket] = set()
            if mode != "pass":
                dropped, self._sockets = self._sockets, set()
        for sock in dropped:
            _close(sock)
        if mode == "closed":
            listener, self._listener = self._listener, None
            if listener is not None:
                _close(listener)
        elif self._listener is None:
            self._listen()

    def close(self) -> None:
        self.set("closed")

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # the port was closed
            with self._lock:
                mode = self.mode
                self.attempts[mode] = self.attempts.get(mode, 0) + 1
                self._sockets.add(conn)
            threading.Thread(target=self._serve, args=(conn, mode), daemon=True).start()

    def _serve(self, conn: socket.socket, mode: str) -> None:
        try:
            if mode == "slow":
                time.sleep(SLOW_S)
            if mode in ("pass", "slow"):
                self._pipe(conn)
                return
            conn.recv(65536)  # the request (or its start)
            if mode == "hang":
                while conn.recv(65536):  # never answer; hold until dropped
                    pass
                return
            conn.sendall(ANSWERS[mode])
        except OSError:
            pass
        finally:
            if mode != "pass":
                _close(conn)

    def _pipe(self, conn: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        with self._lock:
            self._sockets.add(upstream)

        def pump(source: socket.socket, target: socket.socket) -> None:
            try:
                while data := source.recv(65536):
                    target.sendall(data)
            except OSError:
                pass
            finally:
                _close(source)
                _close(target)

        threading.Thread(target=pump, args=(upstream, conn), daemon=True).start()
        pump(conn, upstream)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class App:
    """An application thread using the SDK as apps do, recording anything it raised."""

    def __init__(self, client: FlagClient) -> None:
        self.client = client
        self.raised: list[BaseException] = []
        self.values: list[bool] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                value = self.client.bool_value("new-payment-page", False, KR)
                self.client.evaluate("new-payment-page", False, KR)
                self.client.string_value("missing", "code default", KR)
                with self.client.guard("billing-api"):
                    pass
                self.values.append(value)
            except BaseException as exc:  # the promise under test: nothing reaches the app
                self.raised.append(exc)
            time.sleep(0.005)

    def seen_since(self, mark: int) -> list[bool]:
        return self.values[mark:]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path
) -> Iterator[LiveServer]:
    """One `trimtab serve` process for the module (each test makes its own project)."""
    data = tmp_path_factory.mktemp("resilience")
    shutil.copyfile(_sqlite_template, data / "trimtab.db")
    live = start_on_port(f"sqlite:///{data / 'trimtab.db'}", data, free_port())
    yield live
    live.stop()


@pytest.fixture
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=WAIT) as http:
        yield http


def project(admin: httpx.Client, slug: str) -> str:
    secret = sdk_project(admin, slug)
    make_flag(admin, "new-payment-page", slug=slug)
    return secret


def kill(admin: httpx.Client, slug: str) -> None:
    path = f"/api/v1/projects/{slug}/flags/new-payment-page/environments/production/kill"
    response = admin.post(path, json={"reason": "payments down"})
    assert response.status_code == 200, response.text


@pytest.mark.live
@pytest.mark.parametrize("mode", MODES)
def test_fault_in_front_of_the_server__app_never_raises_keeps_rules_and_recovers(
    server: LiveServer, admin: httpx.Client, mode: str
) -> None:
    slug = f"shop-{mode.replace('_', '-')}"
    secret = project(admin, slug)
    proxy = FaultProxy(int(server.url.rsplit(":", 1)[1]))
    # Polls are rare: recovery has to come from the stream reconnecting.
    client = FlagClient(
        proxy.url, secret, poll_interval=300, metrics_interval=0.5, report_interval=0.5
    )
    app = App(client)
    try:
        assert client.wait_until_ready(WAIT) and wait_for(lambda: client.stream_connected, WAIT)
        assert wait_for(lambda: True in app.values, WAIT)

        proxy.set(mode)
        assert wait_for(lambda: not client.stream_connected, WAIT)
        mark = len(app.values)
        kill(admin, slug)  # a change the SDK cannot hear yet
        # The SDK keeps trying (streams, fetches, reports) and keeps failing.
        assert client.refresh() is False
        if mode != "closed":  # a closed port accepts nothing to count
            assert wait_for(lambda: proxy.attempts.get(mode, 0) >= 3, WAIT)
        if mode != "slow":  # a slow server still answers, late: then the change may arrive
            assert set(app.seen_since(mark)) == {True}, "the last rules were not kept"
        assert len(app.seen_since(mark)) > 0

        proxy.set("pass")
        assert wait_for(lambda: client.bool_value("new-payment-page", True, KR) is False, WAIT), (
            "the change did not arrive after recovery"
        )
        assert wait_for(lambda: client.stream_connected, WAIT)
    finally:
        app.stop()
        client.close()
        proxy.close()
    assert app.raised == []


@pytest.mark.live
@pytest.mark.parametrize("mode", MODES)
def test_ofrep_provider__fault_in_front_of_the_server__code_default_then_the_server_again(
    server: LiveServer, admin: httpx.Client, mode: str
) -> None:
    """The third-party OFREP provider evaluates remotely: through a fault the app gets its code
    default with an error (never an exception), and the server's answer once it passes again."""
    slug = f"ofrep-{mode.replace('_', '-')}"
    secret = project(admin, slug)
    proxy = FaultProxy(int(server.url.rsplit(":", 1)[1]))
    provider = OFREPProvider(
        proxy.url, headers_factory=lambda: {"Authorization": f"Bearer {secret}"}, timeout=1.0
    )
    context = EvaluationContext(targeting_key="user-7", attributes={"country": "KR"})
    try:
        api.set_provider_and_wait(provider, slug)
        client = api.get_client(slug)
        assert client.get_boolean_value("new-payment-page", False, context) is True
        proxy.set(mode)
        for _ in range(3):
            details = client.get_boolean_details("new-payment-page", False, context)
            assert details.value is False and details.error_code is not None, details
        kill(admin, slug)
        proxy.set("pass")

        def answered_off() -> bool:
            details = client.get_boolean_details("new-payment-page", True, context)
            return details.error_code is None and details.value is False

        assert wait_for(answered_off, WAIT, interval=0.2)
    finally:
        api.clear_providers()
        proxy.close()


@pytest.mark.live
def test_server_process_stopped_and_restarted__app_never_raises_and_hears_it_again(
    tmp_path: Path, _sqlite_template: Path
) -> None:
    shutil.copyfile(_sqlite_template, tmp_path / "trimtab.db")
    database_url = f"sqlite:///{tmp_path / 'trimtab.db'}"
    port = free_port()
    live = start_on_port(database_url, tmp_path / "first", port)
    with httpx.Client(base_url=live.url, headers=ADMIN, timeout=WAIT) as http:
        secret = project(http, "shop")
    client = FlagClient(live.url, secret, poll_interval=300, metrics_interval=0.5)
    app = App(client)
    try:
        assert client.wait_until_ready(WAIT) and wait_for(lambda: client.stream_connected, WAIT)
        live.stop()
        assert wait_for(lambda: not client.stream_connected, WAIT)
        mark = len(app.values)
        assert client.refresh() is False
        live = start_on_port(database_url, tmp_path / "second", port)
        with httpx.Client(base_url=live.url, headers=ADMIN, timeout=WAIT) as http:
            kill(http, "shop")
        assert set(app.seen_since(mark)) <= {True, False}
        assert wait_for(lambda: client.bool_value("new-payment-page", True, KR) is False, WAIT)
    finally:
        app.stop()
        client.close()
        live.stop()
    assert app.raised == []


def test_reconnect_schedule__never_more_than_5_s_between_stream_attempts() -> None:
    """After any number of failed attempts, with any jitter, the next comes within 5 s: an
    app hears a returned server within 5 s plus one request."""
    rng = random.Random(9)
    for _ in range(200):
        backoff = BACKOFF_FIRST_S
        for _attempt in range(rng.randint(1, 60)):
            wait, backoff = reconnect_delay(backoff, rng.uniform(*JITTER))
            assert 0 < wait <= 5.0
        assert reconnect_delay(backoff, JITTER[1])[0] <= 5.0
    assert STREAM_HEALTHY_AFTER_S > 5.0


def test_stream_request__headers_awaited_no_longer_than_the_timeout() -> None:
    """A hung server must not hold a stream attempt for the 40 s heartbeat timeout."""
    client = FlagClient("http://127.0.0.1:9", "tt_key", timeout=2.0, start=False)
    try:
        timeout: Any = client._stream_http.timeout
        assert timeout.read is not None and timeout.read <= 2.0
        assert timeout.connect is not None and timeout.connect <= 2.0
    finally:
        client.close()
