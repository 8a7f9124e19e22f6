"""The CLI's own HTTP client against a plain socket server that answers as other HTTP servers
and proxies may: chunked bodies, closed keep-alive connections, escaped paths, refusals."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from trimtab.cli.client import ApiClient
from trimtab.cli.errors import FAILED, REFUSED, CliError

Handler = Callable[[bytes], tuple[bytes, bool]]  # request head -> (raw response, close after)


@pytest.fixture
def raw_server() -> Iterator[tuple[str, list[bytes], list[Handler]]]:
    """A server that answers each request with the next handler's raw bytes; records requests."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []
    handlers: list[Handler] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                reader = conn.makefile("rb")
                while handlers:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = reader.readline()
                        if not line:
                            break
                        head += line
                    if not head:
                        break
                    seen.append(head)
                    response, close = handlers.pop(0)(head)
                    conn.sendall(response)
                    if close:
                        break
                reader.close()  # the socket closes only once its file is closed too

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen, handlers
    listener.close()


def _reply(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def test_client__chunked_body__decoded(raw_server: tuple[str, list[bytes], list[Handler]]) -> None:
    url, _, handlers = raw_server
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked = head + b'4\r\n{"a"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'
    handlers.append(lambda head: (chunked, False))
    assert ApiClient(url, "t").get("/x") == {"a": 1}


def test_client__server_closed_idle_connection__read_retried_once(
    raw_server: tuple[str, list[bytes], list[Handler]],
) -> None:
    url, seen, handlers = raw_server
    handlers.append(lambda head: (_reply(b'{"n": 1}'), True))  # answers, then hangs up
    handlers.append(lambda head: (_reply(b'{"n": 2}'), False))
    client = ApiClient(url, "t")
    assert client.get("/runs/1") == {"n": 1}
    assert client.get("/runs/1") == {"n": 2}
    assert len(seen) == 2


def test_client__path_and_query__escaped_and_token_sent(
    raw_server: tuple[str, list[bytes], list[Handler]],
) -> None:
    url, seen, handlers = raw_server
    handlers.append(lambda head: (_reply(b"[]"), False))
    ApiClient(url, "secret").get("/freezes/launch week", archived=True, tag=None)
    request = seen[0].decode()
    assert request.startswith("GET /freezes/launch%20week?archived=true HTTP/1.1\r\n")
    assert "Authorization: Bearer secret\r\n" in request


def test_client__refused_by_a_window__refusal_exit_code(
    raw_server: tuple[str, list[bytes], list[Handler]],
) -> None:
    url, _, handlers = raw_server
    body = b'{"error": "deploy_refused", "detail": "refused: window open"}'
    handlers.append(lambda head: (_reply(body, "409 Conflict"), False))
    handlers.append(lambda head: (_reply(b'{"error": "not_found"}', "404 Not Found"), False))
    client = ApiClient(url, "t")
    with pytest.raises(CliError) as refused:
        client.post("/runs", {})
    assert refused.value.exit_code == REFUSED
    assert str(refused.value) == "error 409 (deploy_refused): refused: window open"
    with pytest.raises(CliError) as missing:
        client.get("/nothing")
    assert missing.value.exit_code == FAILED


def test_client__not_http__one_clear_error(
    raw_server: tuple[str, list[bytes], list[Handler]],
) -> None:
    url, _, handlers = raw_server
    handlers.append(lambda head: (b"SSH-2.0-OpenSSH_9.6\r\n", True))
    with pytest.raises(CliError, match="did not answer in HTTP"):
        ApiClient(url, "t").get("/x")
