"""The CLI's HTTP client: every command except serve, db and demo goes through it.

A small HTTP/1.1 client on the standard library's sockets rather than httpx (which the SDK
keeps) or even `http.client`: a CLI call is short, and importing either cost more than the
whole round trip to the server (bench/cli.py). It speaks just what trimtab's API needs —
JSON bodies, Content-Length or chunked responses, keep-alive (one connection per process, reused
while `deploy start` polls a run), and TLS for an https URL (imported only then).
"""

from __future__ import annotations

import json
import socket
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode, urlsplit

from trimtab.cli.errors import FAILED, REFUSED, CliError

# Server error codes that mean "a window or freeze says not now", not "it failed".
REFUSAL_CODES = frozenset({"deploy_refused"})
MAX_LINE = 65536
MAX_HEADERS = 100
# Characters a path keeps as they are; everything else (spaces, %, non-ASCII) is escaped.
PATH_SAFE = "/:@!$&'()*+,;=-._~"


class ServerClosed(Exception):
    """The server closed a kept-alive connection before answering."""


class Connection:
    """One HTTP/1.1 connection to the server, opened on first use."""

    def __init__(self, host: str, port: int, https: bool, timeout: float) -> None:
        self.host, self.port, self.https, self.timeout = host, port, https, timeout
        self._socket: socket.socket | None = None
        self._reader: BinaryIO | None = None

    @property
    def is_open(self) -> bool:
        return self._socket is not None

    def _open(self) -> BinaryIO:
        if self._reader is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.https:
                import ssl

                context = ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=self.host)
            self._socket = sock
            self._reader = sock.makefile("rb")
        return self._reader

    def exchange(self, head: bytes, body: bytes) -> tuple[int, str, bytes]:
        reader = self._open()
        assert self._socket is not None
        self._socket.sendall(head + body)
        status_line = reader.readline(MAX_LINE)
        if not status_line:
            raise ServerClosed
        version, _, rest = status_line.decode("latin-1").strip().partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/") or not code.isdigit():
            raise ValueError(f"not an HTTP status line: {status_line[:80]!r}")
        headers = self._headers(reader)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            content = self._chunks(reader)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            content = reader.read(length)
            if len(content) != length:
                raise ValueError("the response ended early")
        else:
            content = reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return int(code), reason, content

    @staticmethod
    def _headers(reader: BinaryIO) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            raw = reader.readline(MAX_LINE)
            if raw in (b"\r\n", b"\n", b""):
                return headers
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        raise ValueError("too many response headers")

    @staticmethod
    def _chunks(reader: BinaryIO) -> bytes:
        parts = []
        while size := int(reader.readline(MAX_LINE).split(b";")[0].strip() or b"0", 16):
            parts.append(reader.read(size))
            reader.readline(MAX_LINE)
        while reader.readline(MAX_LINE) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(parts)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._socket is not None:
            self._socket.close()
        self._socket = self._reader = None


class ApiClient:
    def __init__(self, url: str, token: str | None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CliError(f"--url / TRIMTAB_URL must be an http(s) URL, got {url!r}")
        https = parts.scheme == "https"
        self._host_header = parts.netloc.rpartition("@")[2]
        self._prefix = parts.path
        self._token = token
        self._connection = Connection(
            parts.hostname, parts.port or (443 if https else 80), https, timeout
        )
        self._headers = {
            "Host": self._host_header,
            "User-Agent": "trimtab-cli",
            "Accept": "application/json",
        }
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def _send(
        self, method: str, target: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str, bytes]:
        lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        reused = self._connection.is_open
        try:
            return self._connection.exchange(head, body)
        except (ServerClosed, ConnectionResetError, BrokenPipeError) as exc:
            # The server closed an idle kept-alive connection: one fresh try, reads only.
            self._connection.close()
            if reused and method == "GET":
                return self._send(method, target, body, headers)
            raise CliError(f"cannot reach trimtab at {self.url}: the connection closed") from exc
        except OSError as exc:
            self._connection.close()
            raise CliError(f"cannot reach trimtab at {self.url}: {exc}") from exc
        except ValueError as exc:
            self._connection.close()
            raise CliError(f"{self.url} did not answer in HTTP: {exc}") from exc

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        target = quote(self._prefix + path, safe=PATH_SAFE)
        query = _query(params or {})
        if query:
            target += f"?{query}"
        headers = dict(self._headers)
        body = b""
        if json is not None:
            body = _dumps(json)
            headers["Content-Type"] = "application/json"
        if body or method not in ("GET", "DELETE"):
            headers["Content-Length"] = str(len(body))
        status, reason, content = self._send(method, target, body, headers)
        if status >= 400:
            raise self._error(status, reason, content)
        if not content:
            return None
        try:
            return _loads(content)
        except ValueError as exc:
            raise CliError(f"{self.url} answered with something that is not JSON") from exc

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.request("POST", path, json=body if body is not None else {}, params=params)

    def delete(self, path: str, **params: Any) -> Any:
        return self.request("DELETE", path, params=params)

    def close(self) -> None:
        self._connection.close()

    def _error(self, status: int, reason: str, content: bytes) -> CliError:
        try:
            body = _loads(content)
            detail = body.get("detail") or body.get("error")
            code = str(body.get("error") or "")
        except (ValueError, AttributeError):
            detail, code = content[:200].decode(errors="replace").strip() or reason, ""
        if status == 401 and not self._token:
            detail = "no API token: set TRIMTAB_TOKEN or pass --token"
        prefix = f"error {status}" + (f" ({code})" if code else "")
        return CliError(f"{prefix}: {detail}", REFUSED if code in REFUSAL_CODES else FAILED)


def _query(params: dict[str, Any]) -> str:
    # As httpx wrote them: None left out, booleans lowercase, lists as repeated keys.
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is None:
                continue
            pairs.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
    return urlencode(pairs)


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _loads(content: bytes) -> Any:
    return json.loads(content)
