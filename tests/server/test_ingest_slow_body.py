"""Slow request bodies at ingest: a client with a public DSN key that trickles a big body holds
none of the threads big bodies are decoded in, and a body that does not arrive within
TRIMTAB_INGEST_BODY_TIMEOUT seconds is answered 408."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import time
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.datastructures import URL

from tests.support import ADMIN_TOKEN, ThreadedServer
from trimtab.server.app import create_app
from trimtab.settings import Settings
from trimtab.store.db import Store

BIG = 2 * 1024 * 1024  # attachment bytes: the body decodes past the 1 MB of the event loop


@dataclasses.dataclass
class Server:
    threaded: ThreadedServer
    app: Any
    pid: int
    key: str

    def new_key(self) -> str:
        with httpx.Client(base_url=self.threaded.url, timeout=30) as http:
            made = http.post(
                "/api/v1/projects/shop/keys",
                json={"name": uuid.uuid4().hex[:8]},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
            assert made.status_code == 201, made.text
            return str(made.json()["public_key"])


@contextlib.contextmanager
def _serve(settings: Settings, store: Store, **overrides: Any) -> Iterator[Server]:
    app = create_app(dataclasses.replace(settings, **overrides), store=store, run_jobs=False)
    with ThreadedServer(app) as threaded:
        with httpx.Client(base_url=threaded.url, timeout=30) as http:
            made = http.post(
                "/api/v1/projects",
                json={"slug": "shop"},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            ).json()
        yield Server(threaded, app, made["id"], str(URL(made["dsn"]).username))


@pytest.fixture
def server(settings: Settings, store: Store) -> Iterator[Server]:
    with _serve(settings, store) as served:
        yield served


def _envelope(header: dict[str, Any]) -> tuple[bytes, bytes]:
    """An envelope of an event and a BIG attachment, gzipped in two parts: the first decodes
    past 1 MB, the second ends it."""
    event_id = uuid.uuid4().hex
    event = orjson.dumps({"event_id": event_id, "message": "slow body"})
    attachment = {"type": "attachment", "length": BIG, "filename": "dump.bin"}
    start = b"\n".join(
        [
            orjson.dumps({**header, "event_id": event_id}),
            orjson.dumps({"type": "event", "length": len(event)}),
            event,
            orjson.dumps(attachment),
            b"",
        ]
    )
    gzip = zlib.compressobj(wbits=31)
    first = gzip.compress(start + b"\0" * (BIG - 4096)) + gzip.flush(zlib.Z_SYNC_FLUSH)
    rest = gzip.compress(b"\0" * 4096 + b"\n") + gzip.flush()
    return first, rest


def test_ingest__two_clients_trickle_big_bodies__another_big_body_still_stored(
    server: Server,
) -> None:
    ingest = server.app.state.ingest
    tricklers = []
    for _ in range(2):  # as many as there are decode threads
        key = server.new_key()  # named only in the envelope header: checked once it decodes
        dsn = f"http://{key}@127.0.0.1:{server.threaded.port}/{server.pid}"
        first, rest = _envelope({"dsn": dsn})
        head = (
            f"POST /api/{server.pid}/envelope/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Encoding: gzip\r\nContent-Length: {len(first) + len(rest)}\r\n\r\n"
        ).encode()
        sock = socket.create_connection(("127.0.0.1", server.threaded.port), timeout=60)
        sock.sendall(head + first)  # past 1 MB decoded; the rest is kept back
        tricklers.append((sock, key))
    try:
        # The server has decoded both headers (their keys are loaded): what the bodies would
        # take of the decode threads, they have taken by now.
        deadline = time.monotonic() + 60
        while not all(ingest.keys._keys.get(key) for _, key in tricklers):
            assert time.monotonic() < deadline, "the trickled envelope headers were not read"
            time.sleep(0.05)
        first, rest = _envelope({})
        sent = httpx.post(
            f"{server.threaded.url}/api/{server.pid}/envelope/",
            content=first + rest,
            headers={
                "Content-Encoding": "gzip",
                "X-Sentry-Auth": f"Sentry sentry_key={server.key}, sentry_version=7",
            },
            timeout=60,
        )
        assert sent.status_code == 200, sent.text
        for sock, _ in tricklers:  # still sending, and still welcome to finish
            sock.sendall(rest[:1])
    finally:
        for sock, _ in tricklers:
            sock.close()


def test_ingest__body_not_sent_in_time__answered_408(settings: Settings, store: Store) -> None:
    with _serve(settings, store, ingest_body_timeout_s=1.0) as server:
        head = (
            f"POST /api/{server.pid}/store/?sentry_key={server.key} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.threaded.port), timeout=60) as sock:
            sock.sendall(head + b'{"message":')  # and nothing more
            answer = b""
            while b"\r\n\r\n" not in answer:
                got = sock.recv(4096)
                assert got, f"connection closed without an answer: {answer!r}"
                answer += got
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"did not arrive within 1 s" in answer  # X-Sentry-Error, where SDKs look
