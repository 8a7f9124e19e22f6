"""Security headers on the pages people open: the dashboard and its static files.

The dashboard is server-rendered and loads nothing from elsewhere, so its Content-Security-Policy
can be strict: scripts from this origin only (stored text that slipped past escaping still could
not run), no framing (clickjacking), forms posting back here only. Inline `style` attributes
draw the bar charts, hence `'unsafe-inline'` for styles alone. Machine surfaces (`/api/`,
`/ofrep/`, Sentry ingest) answer JSON and are left as they are, with no extra layer on their
hot path.

`attachment_response` serves an event attachment (API and dashboard alike): as a download
(`Content-Disposition: attachment`), or inline for a plain raster image, with `nosniff` and a
sandboxing CSP, so a file an SDK sent is never rendered as a page of this origin.

`PublicOrigin` makes every request look addressed to TRIMTAB_PUBLIC_URL, so a URL the server
builds from a request (a trailing-slash redirect, `url_for`) never carries a `Host` header a
client made up.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from starlette.responses import Response
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


ATTACHMENT_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def attachment_response(
    filename: str, media_type: str, data: bytes, *, inline: bool = False
) -> Response:
    """An attachment's bytes as a download (inline only when the caller allows it: a raster
    image). The file name is sent in both header forms: ASCII, and RFC 5987 UTF-8."""
    ascii_name = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    disposition = "inline" if inline else "attachment"
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": (
                f'{disposition}; filename="{ascii_name}"; '
                f"filename*=UTF-8''{quote(filename, safe='')}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": ATTACHMENT_POLICY,
            "Cache-Control": "private, max-age=0",
        },
    )


class PublicOrigin:
    def __init__(self, app: ASGIApp, public_url: str) -> None:
        self.app = app
        parts = urlsplit(public_url)
        self.scheme = parts.scheme or "http"
        host = parts.netloc.rpartition("@")[2]
        self.host = host.encode("idna") if not host.isascii() else host.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            scope.get("scheme") != self.scheme
            or [value for name, value in scope["headers"] if name == b"host"] != [self.host]
        ):
            headers = [(n, v) for n, v in scope["headers"] if n != b"host"]
            scope = {**scope, "scheme": self.scheme, "headers": [*headers, (b"host", self.host)]}
        await self.app(scope, receive, send)
