"""Sentry DSNs and `X-Sentry-Auth` headers, parsed into their parts.

A DSN is `<scheme>://<public_key>[:<secret>]@<host>[:<port>][/<path>]/<project_id>`; SDKs
derive the ingest URL `<scheme>://<host>:<port><path>/api/<project_id>/envelope/` from it.
An auth header is `Sentry sentry_key=<key>, sentry_version=7, sentry_client=<sdk>/<version>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "Dsn",
    "DsnError",
    "SentryAuth",
    "SentryAuthError",
    "format_dsn",
    "parse_dsn",
    "parse_sentry_auth",
]


class DsnError(ValueError):
    """A DSN that cannot be used, with the reason."""


class SentryAuthError(ValueError):
    """An `X-Sentry-Auth` header that cannot be read, with the reason."""


@dataclass(frozen=True, slots=True)
class Dsn:
    scheme: str
    public_key: str
    secret_key: str | None
    host: str
    port: int | None
    path: str  # prefix before the project id, "" or "/sentry"
    project_id: str

    @property
    def envelope_url(self) -> str:
        """Where an SDK configured with this DSN posts envelopes."""
        return f"{self._base}/api/{self.project_id}/envelope/"

    @property
    def store_url(self) -> str:
        """Where an old SDK configured with this DSN posts single events."""
        return f"{self._base}/api/{self.project_id}/store/"

    @property
    def _base(self) -> str:
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            netloc = f"{netloc}:{self.port}"
        return f"{self.scheme}://{netloc}{self.path}"

    def __str__(self) -> str:
        return format_dsn(
            self.scheme, self.public_key, self.host, self.port, self.project_id, path=self.path
        )


def parse_dsn(dsn: str) -> Dsn:
    """Split a DSN string; raises DsnError naming the missing or malformed part."""
    if not isinstance(dsn, str) or not dsn.strip():
        raise DsnError("empty DSN: expected http://<public_key>@<host>:<port>/<project_id>")
    parts = urlsplit(dsn.strip())
    if parts.scheme not in ("http", "https"):
        raise DsnError(f"DSN {dsn!r} must start with http:// or https://")
    if not parts.username:
        raise DsnError(f"DSN {dsn!r} has no public key before '@'")
    if not parts.hostname:
        raise DsnError(f"DSN {dsn!r} has no host")
    try:
        port = parts.port
    except ValueError:
        raise DsnError(f"DSN {dsn!r} has an invalid port") from None
    path, _, project_id = parts.path.rstrip("/").rpartition("/")
    if not project_id:
        raise DsnError(f"DSN {dsn!r} has no project id after the host")
    return Dsn(
        scheme=parts.scheme,
        public_key=parts.username,
        secret_key=parts.password or None,
        host=parts.hostname,
        port=port,
        path=path,
        project_id=project_id,
    )


def format_dsn(
    scheme: str, public_key: str, host: str, port: int | None, project_id: str, path: str = ""
) -> str:
    """Build the DSN an SDK is configured with (no secret: modern SDKs do not use one)."""
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{public_key}@{netloc}{path.rstrip('/')}/{project_id}"


@dataclass(frozen=True, slots=True)
class SentryAuth:
    sentry_key: str
    sentry_version: str | None = None
    sentry_client: str | None = None
    sentry_secret: str | None = None
    sentry_timestamp: str | None = None


def parse_sentry_auth(header: str) -> SentryAuth:
    """Read an `X-Sentry-Auth` header (the `Sentry ` prefix is optional; keys are matched
    case-insensitively, unknown keys ignored). Raises SentryAuthError without a sentry_key."""
    text = header.strip()
    if text[:7].lower() == "sentry ":
        text = text[7:]
    fields: dict[str, str] = {}
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        if not sep:
            if pair.strip():
                raise SentryAuthError(
                    f"X-Sentry-Auth part {pair.strip()!r} is not key=value: expected "
                    "'Sentry sentry_key=<public key>, sentry_version=7'"
                )
            continue
        fields[key.strip().lower()] = value.strip().strip('"')
    sentry_key = fields.get("sentry_key")
    if not sentry_key:
        raise SentryAuthError("X-Sentry-Auth has no sentry_key: send the DSN's public key")
    return SentryAuth(
        sentry_key=sentry_key,
        sentry_version=fields.get("sentry_version") or None,
        sentry_client=fields.get("sentry_client") or None,
        sentry_secret=fields.get("sentry_secret") or None,
        sentry_timestamp=fields.get("sentry_timestamp") or None,
    )
