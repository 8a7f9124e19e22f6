"""Security headers on the pages people open: the dashboard and its static files.

The dashboard is server-rendered and loads nothing from elsewhere, so its Content-Security-Policy
can be strict: scripts from this origin only (stored text that slipped past escaping still could
not run), no framing (clickjacking), forms posting back here only. Inline `style` attributes
draw the bar charts, hence `'unsafe-inline'` for styles alone. Machine surfaces (`/api/`,
`/ofrep/`, Sentry ingest) answer JSON and are left as they are, with no extra layer on their
hot path.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
_MACHINE_PREFIXES = ("/api/", "/ofrep/", "/sdk/", "/healthz", "/readyz")


class PageSecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_MACHINE_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in _HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
