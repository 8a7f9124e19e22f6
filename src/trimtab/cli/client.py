"""The CLI's HTTP client: every command except serve, db and demo goes through it."""

from __future__ import annotations

from typing import Any

import httpx
import orjson


class CliError(Exception):
    """Printed as one line on stderr; the process exits non-zero."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ApiClient:
    def __init__(self, url: str, token: str | None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"User-Agent": "trimtab-cli"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        if params:
            params = {k: v for k, v in params.items() if v is not None}
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach trimtab at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise CliError(_error_line(response))
        if not response.content:
            return None
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise CliError(f"{self.url} answered with something that is not JSON") from exc

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.request("POST", path, json=body if body is not None else {}, params=params)

    def delete(self, path: str, **params: Any) -> Any:
        return self.request("DELETE", path, params=params)


def _error_line(response: httpx.Response) -> str:
    try:
        body = orjson.loads(response.content)
        detail = body.get("detail") or body.get("error")
        code = body.get("error", "")
    except (orjson.JSONDecodeError, AttributeError):
        detail, code = response.text[:200].strip() or response.reason_phrase, ""
    prefix = f"error {response.status_code}"
    if code:
        prefix += f" ({code})"
    return f"{prefix}: {detail}"
