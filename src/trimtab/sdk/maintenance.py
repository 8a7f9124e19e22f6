"""Show users a maintenance page while trimtab says the service is down.

::

    from trimtab.sdk.maintenance import MaintenanceMiddleware, WSGIMaintenanceMiddleware

    app = MaintenanceMiddleware(app, url="https://trimtab.example", project="shop",
                                environment="production", bypass_secret=os.environ["BYPASS"])
    # Flask / Django: app.wsgi_app = WSGIMaintenanceMiddleware(app.wsgi_app, url=..., ...)

While a notice is active every request gets ``503`` with a small HTML page (the message, the
expected end) and ``Retry-After``, except health-check paths (so the deploy's own check and the
load balancer still reach the app), addresses in ``allow_networks`` and requests carrying the
bypass secret in the ``X-Trimtab-Bypass`` header or the ``trimtab_bypass`` cookie (admins
checking the new version).

The state comes from trimtab's public JSON (``GET /api/v1/maintenance/{project}/{env}``), polled
by a background thread every ``ttl_s`` seconds, so a request never waits on trimtab. If trimtab
cannot be reached the middleware fails open: after ``stale_s`` seconds without an answer it
forgets the notice and lets every request through. This module imports only httpx and the
standard library.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from datetime import datetime
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote

import httpx

__all__ = [
    "BYPASS_COOKIE",
    "BYPASS_HEADER",
    "DEFAULT_ALLOW_PATHS",
    "MaintenanceMiddleware",
    "MaintenanceWatcher",
    "WSGIMaintenanceMiddleware",
    "render_page",
]

log = logging.getLogger("trimtab.sdk.maintenance")

BYPASS_HEADER = "X-Trimtab-Bypass"
BYPASS_COOKIE = "trimtab_bypass"
DEFAULT_ALLOW_PATHS = ("/healthz", "/health", "/readyz", "/livez")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class MaintenanceWatcher:
    """Keeps the latest maintenance state of one project and environment, polled in a thread."""

    def __init__(
        self,
        url: str,
        project: str,
        environment: str,
        *,
        ttl_s: float = 5.0,
        timeout_s: float = 2.0,
        stale_s: float = 60.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.endpoint = (
            f"{url.rstrip('/')}/api/v1/maintenance/{quote(project, safe='')}/"
            f"{quote(environment, safe='')}"
        )
        self.ttl_s = ttl_s
        self.stale_s = stale_s
        self._client = client or httpx.Client(timeout=timeout_s)
        self._state: dict[str, Any] | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        """Fetch the state now; on any failure keep the last one (until it is stale)."""
        try:
            response = self._client.get(self.endpoint)
            response.raise_for_status()
            state = response.json()
            if not isinstance(state, dict):
                raise ValueError("not a JSON object")
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("trimtab maintenance state unavailable: %s", exc)
            return
        with self._lock:
            self._state = state
            self._fetched_at = time.monotonic()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.ttl_s)

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._loop, name="trimtab-maintenance", daemon=True
            )
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._client.close()

    def active_notice(self) -> dict[str, Any] | None:
        """The active notice, or None (also when the state is unknown or stale: fail open)."""
        self.start()
        with self._lock:
            state = self._state
            fresh = time.monotonic() - self._fetched_at < self.stale_s
        if state is None or not fresh or not state.get("active"):
            return None
        return state


def render_page(notice: dict[str, Any]) -> bytes:
    """The 503 page: the message and, if known, when the service should be back."""
    message = html.escape(str(notice.get("message") or "We will be back shortly."))
    back = ""
    expected = notice.get("expected_end")
    if expected:
        try:
            moment = datetime.fromisoformat(str(expected))
            back = f"<p>Expected back at {html.escape(moment.strftime('%Y-%m-%d %H:%M %Z'))}.</p>"
        except ValueError:
            back = ""
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        "<title>Down for maintenance</title><style>body{font:16px/1.5 system-ui,sans-serif;"
        "max-width:36em;margin:15vh auto;padding:0 1em;color:#222}h1{font-size:1.4em}</style>"
        f"</head><body><h1>Down for maintenance</h1><p>{message}</p>{back}</body></html>"
    )
    return page.encode()


def _retry_after(notice: dict[str, Any]) -> str:
    value = notice.get("retry_after")
    return str(int(value)) if isinstance(value, int | float) and value > 0 else "60"


class _Gate:
    """The decision shared by both middlewares: does this request see the 503 page?"""

    def __init__(
        self,
        watcher: MaintenanceWatcher,
        allow_paths: Iterable[str],
        allow_networks: Iterable[str],
        bypass_secret: str | None,
    ) -> None:
        self.watcher = watcher
        self.allow_paths = tuple(allow_paths)
        self.networks = [ipaddress.ip_network(n, strict=False) for n in allow_networks]
        self.secret = bypass_secret

    def _allowed_address(self, address: str | None) -> bool:
        if not address or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def _bypass(self, header: str | None, cookie_header: str | None) -> bool:
        if not self.secret:
            return False
        candidates = [header or ""]
        if cookie_header:
            cookie: SimpleCookie = SimpleCookie()
            try:
                cookie.load(cookie_header)
            except Exception:  # a malformed cookie header must not break the app
                cookie = SimpleCookie()
            if BYPASS_COOKIE in cookie:
                candidates.append(cookie[BYPASS_COOKIE].value)
        return any(hmac.compare_digest(c.encode(), self.secret.encode()) for c in candidates if c)

    def blocked(
        self, path: str, address: str | None, header: str | None, cookie: str | None
    ) -> dict[str, Any] | None:
        if any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.allow_paths):
            return None
        try:
            notice = self.watcher.active_notice()
        except Exception:  # fail open, whatever happens
            log.exception("maintenance check failed")
            return None
        if notice is None or self._allowed_address(address) or self._bypass(header, cookie):
            return None
        return notice


def _watcher(
    watcher: MaintenanceWatcher | None, url: str | None, project: str | None, env: str | None
) -> MaintenanceWatcher:
    if watcher is not None:
        return watcher
    if not (url and project and env):
        raise ValueError("give url, project and environment (or a MaintenanceWatcher)")
    return MaintenanceWatcher(url, project, env)


class MaintenanceMiddleware:
    """ASGI middleware (Starlette, FastAPI, Django ASGI, …)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        url: str | None = None,
        project: str | None = None,
        environment: str | None = None,
        allow_paths: Iterable[str] = DEFAULT_ALLOW_PATHS,
        allow_networks: Iterable[str] = (),
        bypass_secret: str | None = None,
        watcher: MaintenanceWatcher | None = None,
    ) -> None:
        self.app = app
        self.gate = _Gate(
            _watcher(watcher, url, project, environment), allow_paths, allow_networks, bypass_secret
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope.get("client")
        notice = self.gate.blocked(
            scope.get("path", "/"),
            client[0] if client else None,
            headers.get(BYPASS_HEADER.lower()),
            headers.get("cookie"),
        )
        if notice is None:
            await self.app(scope, receive, send)
            return
        body = render_page(notice)
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", _retry_after(notice).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class WSGIMaintenanceMiddleware:
    """WSGI middleware (Flask, Django, …): ``app.wsgi_app = WSGIMaintenanceMiddleware(...)``."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        url: str | None = None,
        project: str | None = None,
        environment: str | None = None,
        allow_paths: Iterable[str] = DEFAULT_ALLOW_PATHS,
        allow_networks: Iterable[str] = (),
        bypass_secret: str | None = None,
        watcher: MaintenanceWatcher | None = None,
    ) -> None:
        self.app = app
        self.gate = _Gate(
            _watcher(watcher, url, project, environment), allow_paths, allow_networks, bypass_secret
        )

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        notice = self.gate.blocked(
            environ.get("PATH_INFO", "/"),
            environ.get("REMOTE_ADDR"),
            environ.get("HTTP_X_TRIMTAB_BYPASS"),
            environ.get("HTTP_COOKIE"),
        )
        if notice is None:
            return self.app(environ, start_response)
        body = render_page(notice)
        start_response(
            "503 Service Unavailable",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Retry-After", _retry_after(notice)),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]
