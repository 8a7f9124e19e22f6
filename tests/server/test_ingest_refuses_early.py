"""Ingest refuses a request by its key and project before it reads the body: a key-less
envelope is decoded only up to its header line, whose `dsn` is checked there; an unknown
project id reads nothing at all. Bodies are sent through an in-process ASGI client that
counts the chunks the server takes, so "refused early" is measured in bytes read, not time.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import brotli
import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from starlette.datastructures import URL

MIB = 1024 * 1024
BOMB_CHUNKS = 1000  # 1 GB of zeros when inflated: ten times the envelope limit
EARLY = 3  # chunks a refused body may have been read for: its header and a step past it


@dataclass
class Posted:
    status: int
    body: dict[str, Any]
    chunks_read: int


async def _post(
    client: TestClient, path: str, chunks: Iterator[bytes], headers: dict[str, str]
) -> Posted:
    """POST `chunks` as a streamed body straight to the app; count the chunks it pulled."""
    read = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal read
        for chunk in chunks:
            read += 1
            yield chunk

    transport = httpx.ASGITransport(app=client.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.post(path, content=body(), headers=headers)
    return Posted(response.status_code, response.json(), read)


def _post_sync(
    client: TestClient, path: str, chunks: Iterator[bytes], headers: dict[str, str]
) -> Posted:
    # In the app's own event loop, where its lifespan started the ingest service.
    return client.portal.call(_post, client, path, chunks, headers)  # type: ignore[union-attr]


def _project(client: TestClient, slug: str = "shop") -> tuple[int, str]:
    body = client.post("/api/v1/projects", json={"slug": slug}).json()
    key = URL(body["dsn"]).username
    assert key
    return body["id"], key


def _header(dsn: str | None) -> bytes:
    header: dict[str, Any] = {"event_id": uuid.uuid4().hex}
    if dsn is not None:
        header["dsn"] = dsn
    return orjson.dumps(header) + b"\n"


def _gzip_bomb_after(header: bytes, chunks: int = BOMB_CHUNKS) -> Iterator[bytes]:
    """A gzip body: `header`, then 1 MB of zeros per chunk (about 1 KB on the wire each)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    yield compressor.compress(header) + compressor.flush(zlib.Z_SYNC_FLUSH)
    zeros = b"\0" * MIB
    for _ in range(chunks):
        yield compressor.compress(zeros) + compressor.flush(zlib.Z_SYNC_FLUSH)
    yield compressor.flush()


def _bomb_after(header: bytes, encoding: str, chunks: int = BOMB_CHUNKS) -> Iterator[bytes]:
    """`_gzip_bomb_after` in another Content-Encoding: deflate (zlib-wrapped) or br."""
    if encoding == "gzip":
        yield from _gzip_bomb_after(header, chunks)
        return
    zeros = b"\0" * MIB
    if encoding == "br":
        packer = brotli.Compressor()
        yield packer.process(header) + packer.flush()
        for _ in range(chunks):
            yield packer.process(zeros) + packer.flush()
        yield packer.finish()
        return
    compressor = zlib.compressobj(9)
    yield compressor.compress(header) + compressor.flush(zlib.Z_SYNC_FLUSH)
    for _ in range(chunks):
        yield compressor.compress(zeros) + compressor.flush(zlib.Z_SYNC_FLUSH)
    yield compressor.flush()


def _event_envelope(dsn: str | None = None) -> tuple[str, bytes]:
    event_id = uuid.uuid4().hex
    event = {"event_id": event_id, "platform": "python", "message": "payment failed"}
    header: dict[str, Any] = {"event_id": event_id}
    if dsn is not None:
        header["dsn"] = dsn
    body = b"\n".join([orjson.dumps(header), b'{"type":"event"}', orjson.dumps(event), b""])
    return event_id, body


def _auth(key: str) -> dict[str, str]:
    return {"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"}


GZIP = {"Content-Encoding": "gzip"}


@pytest.mark.parametrize(
    ("dsn", "status", "code"),
    [
        (None, 401, "missing_key"),
        ("http://{unknown}@testserver/{pid}", 401, "unknown_key"),
        ("http://{other}@testserver/{pid}", 403, "wrong_project"),
        ("not a dsn", 401, "invalid_dsn"),
    ],
    ids=["no_dsn", "unknown_key", "other_projects_key", "broken_dsn"],
)
def test_keyless_envelope__bad_dsn_then_a_gzip_bomb__refused_from_the_header_line(
    client: TestClient, dsn: str | None, status: int, code: str
) -> None:
    pid, _ = _project(client)
    _, other = _project(client, "box-office")
    if dsn is not None:
        dsn = dsn.format(unknown="0" * 32, other=other, pid=pid)
    posted = _post_sync(client, f"/api/{pid}/envelope/", _gzip_bomb_after(_header(dsn)), GZIP)
    assert (posted.status, posted.body["error"]) == (status, code), posted.body
    assert posted.chunks_read <= EARLY, "the body was read past its header line"


@pytest.mark.parametrize("encoding", ["deflate", "br"])
def test_keyless_envelope__bomb_in_other_encodings__refused_from_the_header_line(
    client: TestClient, encoding: str
) -> None:
    pid, _ = _project(client)
    chunks = _bomb_after(_header(None), encoding)
    posted = _post_sync(client, f"/api/{pid}/envelope/", chunks, {"Content-Encoding": encoding})
    assert (posted.status, posted.body["error"]) == (401, "missing_key"), posted.body
    assert posted.chunks_read <= EARLY


def test_keyless_envelope__header_line_with_no_end__refused_at_its_limit(
    client: TestClient,
) -> None:
    pid, _ = _project(client)
    endless_header = b'{"dsn": "' + b"x" * (10 * MIB)  # no newline, ever
    chunks = (endless_header[i : i + 4096] for i in range(0, len(endless_header), 4096))
    posted = _post_sync(client, f"/api/{pid}/envelope/", chunks, {})
    assert (posted.status, posted.body["error"]) == (413, "header_too_large")
    assert posted.chunks_read <= 64 * 1024 // 4096 + 1


def test_keyless_envelope__valid_dsn_with_header_split_across_chunks__accepted(
    client: TestClient,
) -> None:
    pid, key = _project(client)
    event_id, body = _event_envelope(f"http://{key}@testserver/{pid}")
    packed = gzip.compress(body)
    chunks = (packed[i : i + 1] for i in range(len(packed)))  # one byte at a time
    posted = _post_sync(client, f"/api/{pid}/envelope/", chunks, GZIP)
    assert (posted.status, posted.body) == (200, {"id": event_id})
    assert client.get(f"/api/v1/events/{event_id}").status_code == 200


@pytest.mark.parametrize(
    ("kind", "keyed", "status", "code"),
    [
        ("envelope", False, 404, "unknown_project"),
        ("store", False, 404, "unknown_project"),
        ("envelope", True, 403, "wrong_project"),
    ],
    ids=["envelope_keyless", "store_keyless", "envelope_with_key"],
)
def test_ingest__unknown_project_id__refused_before_reading_the_body(
    client: TestClient, kind: str, keyed: bool, status: int, code: str
) -> None:
    pid, key = _project(client)
    unknown = pid + 1000
    headers = {**GZIP, **(_auth(key) if keyed else {})}
    chunks = _gzip_bomb_after(_header(None))
    posted = _post_sync(client, f"/api/{unknown}/{kind}/", chunks, headers)
    assert (posted.status, posted.body["error"]) == (status, code)
    assert posted.chunks_read == 0
    assert client.get(f"/api/{pid}/envelope/").status_code == 405  # the real project is there


def test_store__no_key__refused_before_reading_the_body(client: TestClient) -> None:
    pid, _ = _project(client)
    posted = _post_sync(client, f"/api/{pid}/store/", iter([b"{}"] * 10), {})
    assert (posted.status, posted.body["error"]) == (401, "missing_key")
    assert posted.chunks_read == 0


def test_ingest__valid_event_during_20_keyless_bombs__acknowledged_and_bombs_refused_early(
    client: TestClient,
) -> None:
    pid, key = _project(client)
    event_id, body = _event_envelope()

    async def together() -> tuple[list[Posted], Posted]:
        bombs = [
            _post(client, f"/api/{pid}/envelope/", _gzip_bomb_after(_header(None)), GZIP)
            for _ in range(20)
        ]
        valid = _post(client, f"/api/{pid}/envelope/", iter([body]), _auth(key))
        *refused, accepted = await asyncio.wait_for(asyncio.gather(*bombs, valid), 60)
        return refused, accepted

    refused, accepted = client.portal.call(together)  # type: ignore[union-attr]
    assert (accepted.status, accepted.body) == (200, {"id": event_id})
    assert client.get(f"/api/v1/events/{event_id}").status_code == 200
    assert {(p.status, p.body["error"]) for p in refused} == {(401, "missing_key")}
    assert max(p.chunks_read for p in refused) <= EARLY


def test_ingest__big_compressed_body__inflated_in_the_decode_threads_and_stored(
    client: TestClient,
) -> None:
    pid, key = _project(client)
    event_id, body = _event_envelope()
    attachment = b'{"type":"attachment","length":%d}\n' % (8 * MIB) + b"a" * (8 * MIB) + b"\n"
    packed = gzip.compress(body + attachment)
    chunks = (packed[i : i + 65536] for i in range(0, len(packed), 65536))
    posted = _post_sync(client, f"/api/{pid}/envelope/", chunks, {**GZIP, **_auth(key)})
    assert (posted.status, posted.body) == (200, {"id": event_id})
    assert client.get(f"/api/v1/events/{event_id}").status_code == 200
    names = [thread.name for thread in threading.enumerate()]
    assert any(name.startswith("trimtab-ingest-decode") for name in names), names
