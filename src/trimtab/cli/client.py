"""The CLI's HTTP client: every command except serve, db and demo goes through it.

Built on the standard library's `http.client` rather than httpx (which the SDK keeps): a CLI
call is short, and importing httpx cost more than the whole round trip to the server (see
bench/cli.py). One connection per process, kept alive while `deploy start` polls a run.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

from trimtab.cli.errors import FAILED, REFUSED, CliError

# Server error codes that mean "a window or freeze says not now", not "it failed".
REFUSAL_CODES = frozenset({"deploy_refused"})
_RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class ApiClient:
    def __init__(self, url: str, token: str | None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CliError(f"--url / TRIMTAB_URL must be an http(s) URL, got {url!r}")
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc.rpartition("@")[2]
        self._prefix = parts.path
        self._timeout = timeout
        self._token = token
        self._headers = {"User-Agent": "trimtab-cli", "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = kind(self._netloc, timeout=self._timeout)
        return self._connection

    def _send(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, str, bytes]:
        reused = self._connection is not None
        try:
            connection = self._connect()
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.reason, response.read()
        except _RETRYABLE as exc:
            # The server closed an idle kept-alive connection: one fresh try, reads only.
            self.close()
            if reused and method == "GET":
                return self._send(method, target, body, headers)
            raise CliError(f"cannot reach trimtab at {self.url}: {exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise CliError(f"cannot reach trimtab at {self.url}: {exc}") from exc

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        target = self._prefix + path
        query = _query(params or {})
        if query:
            target += f"?{query}"
        headers = dict(self._headers)
        body = None
        if json is not None:
            body = _dumps(json)
            headers["Content-Type"] = "application/json"
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
        if self._connection is not None:
            self._connection.close()
            self._connection = None

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
