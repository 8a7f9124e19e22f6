"""Server settings, read once from the environment.

Every variable is documented in README.md; a test checks that each one named here is.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from trimtab.core.client_address import Network, parse_networks
from trimtab.core.urls import AddressPolicy

# Every environment variable the server or CLI reads. The docs test walks this list.
ENVIRONMENT_VARIABLES: dict[str, str] = {
    "TRIMTAB_DATABASE_URL": "SQLAlchemy URL of the store; default SQLite in the data directory.",
    "TRIMTAB_DATA_DIR": "Directory for the SQLite store and local credentials; default ./.trimtab",
    "TRIMTAB_ADMIN_TOKEN": "An admin API token accepted from the first start.",
    "TRIMTAB_ADMIN_PASSWORD": "Password of the dashboard user `admin`.",
    "TRIMTAB_ORG": "Slug of the install's organization (used by sentry-cli); default `trimtab`.",
    "TRIMTAB_PUBLIC_URL": "Base URL users and SDKs reach the server at; used in DSNs.",
    "TRIMTAB_SECURE_COOKIES": "Set to 1 behind HTTPS so session cookies are marked Secure.",
    "TRIMTAB_RUNNER": "Set to 0 on a node that must not run deploy commands; default 1.",
    "TRIMTAB_DEPLOY_TIMEOUT": "Seconds a deploy command may run before it is killed; default 1800.",
    "TRIMTAB_DEPLOY_ENV": "Comma-separated server environment variables deploy commands may see "
    "besides PATH, HOME, LANG and their TRIMTAB_* step variables (never trimtab's own secrets).",
    "TRIMTAB_SDK_RATE_LIMIT": "Requests per second one SDK token may make to OFREP and the Unleash "
    "endpoints, per server process; default 10000.",
    "TRIMTAB_INGEST_RATE_LIMIT": "Default events per minute per DSN key, counted across every "
    "server process on the database (0: no limit).",
    "TRIMTAB_INGEST_QUEUE": "Events waiting to be stored before ingest answers 503; default 2000.",
    "TRIMTAB_INGEST_SYNC": "`normal` (default): an acknowledged event survives trimtab being "
    "killed; an OS crash or power loss can lose the last second or so of them (SQLite "
    "synchronous=NORMAL, PostgreSQL synchronous_commit=off, for ingest writes only). `full`: each "
    "ingest commit waits for the disk before the SDK hears 200.",
    "TRIMTAB_INGEST_BODY_TIMEOUT": "Seconds an ingest request may take to send its whole body "
    "before it is answered 408 (a slow sender holds no decode thread meanwhile); default 30.",
    "TRIMTAB_RETENTION_DAYS": "Days stored events (and sessions, rollups) are kept; default 90.",
    "TRIMTAB_MAX_EVENTS_PER_ISSUE": "Stored events kept per issue, newest first; default 10000.",
    "TRIMTAB_LOG_RETENTION_DAYS": "Days stored Sentry log lines are kept (0: as long as events); "
    "default 30.",
    "TRIMTAB_MAX_LOGS_PER_DAY": "Sentry log lines stored per project per day (UTC); past it they "
    "are counted, not stored (0: no quota); default 100000.",
    "TRIMTAB_ATTACHMENTS_PER_EVENT_BYTES": "Attachment bytes kept per event; past it an "
    "attachment is refused and listed with the reason; default 20 MiB.",
    "TRIMTAB_ATTACHMENTS_PER_PROJECT_BYTES": "Attachment bytes kept per project; default 1 GiB.",
    "TRIMTAB_AGENT_LEASE": "Seconds a deploy agent's claim on a step lasts without a heartbeat "
    "before the step is failed as interrupted (1-3600); default 60.",
    "TRIMTAB_OUTBOUND_ALLOW_LINK_LOCAL": "Set to 1 to let webhooks, probes and health checks reach "
    "link-local addresses (169.254.0.0/16, fe80::/10: where cloud metadata lives); default off.",
    "TRIMTAB_OUTBOUND_DENY_PRIVATE": "Set to 1 to refuse private and loopback destinations for "
    "webhooks, probes and health checks too; default off (internal health checks are normal).",
    "TRIMTAB_TRUSTED_PROXIES": "Comma-separated addresses or networks (CIDR) of reverse proxies "
    "whose X-Forwarded-For is believed (the client is the rightmost hop not listed); default none: "
    "the connecting address is the client.",
    "TRIMTAB_MAX_STREAMS_PER_TOKEN": "Change streams (/api/v1/stream) one token or dashboard user "
    "may hold open at once per server process, and OFREP event streams per client address; "
    "default 50 (0: no limit).",
    "TRIMTAB_URL": "CLI: the server to talk to; default http://127.0.0.1:8000",
    "TRIMTAB_TOKEN": "CLI: the API token to send.",
    "TRIMTAB_TEST_POSTGRES_URL": "Tests: also run every store test on this PostgreSQL server.",
}


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, not {value}")
    return value


INGEST_SYNC_MODES = ("normal", "full")


def _env_choice(name: str, choices: tuple[str, ...]) -> str:
    """The variable's value, one of `choices` (the first is the default when unset)."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return choices[0]
    if raw not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


# trimtab's own secrets: never handed to a deploy step (runner/environment.py), whatever
# TRIMTAB_DEPLOY_ENV lists, and scrubbed from step output.
SECRET_VARIABLES = frozenset(
    {"TRIMTAB_ADMIN_TOKEN", "TRIMTAB_ADMIN_PASSWORD", "TRIMTAB_DATABASE_URL", "TRIMTAB_TOKEN"}
)
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class EnvironmentListError(ValueError):
    """TRIMTAB_DEPLOY_ENV names something that is not a variable name, or a trimtab secret."""


def parse_passthrough(value: str) -> tuple[str, ...]:
    """`TRIMTAB_DEPLOY_ENV` → the variable names, checked."""
    names = [part.strip() for part in value.split(",") if part.strip()]
    if len(names) > 100:
        raise EnvironmentListError("TRIMTAB_DEPLOY_ENV lists at most 100 variables")
    for name in names:
        if not _VARIABLE_NAME.fullmatch(name):
            raise EnvironmentListError(f"TRIMTAB_DEPLOY_ENV: {name!r} is not a variable name")
        if name in SECRET_VARIABLES:
            raise EnvironmentListError(
                f"TRIMTAB_DEPLOY_ENV: {name} is trimtab's own secret and never reaches a step"
            )
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Settings:
    """What a server process needs. Build with `Settings.from_env()`, or directly in tests."""

    database_url: str
    data_dir: Path = field(default_factory=lambda: Path(".trimtab"))
    admin_token: str | None = None
    admin_password: str | None = None
    org_slug: str = "trimtab"
    public_url: str = "http://127.0.0.1:8000"
    secure_cookies: bool = False
    runner_enabled: bool = True
    deploy_timeout_s: float = 1800.0
    # How long a deploy agent's claim on a step holds without a heartbeat (domain/releases/agents).
    agent_lease_s: float = 60.0
    sdk_rate_limit: int = 10_000
    ingest_rate_limit: int = 0
    ingest_queue: int = 2000
    # Ingest commits wait for the disk ("full") or only for the OS ("normal"): INGEST_SYNC.
    ingest_sync: str = "normal"
    # Seconds an ingest request's whole body may take to arrive (server/ingest.py): 408 past it.
    ingest_body_timeout_s: float = 30.0
    retention_days: int = 90  # 0: keep forever
    max_events_per_issue: int = 10_000  # 0: no cap
    log_retention_days: int = 30  # 0: as long as events (retention_days)
    max_logs_per_day: int = 100_000  # per project; 0: no quota
    # Attachment bytes kept per event and per project (domain/reports/attachments.py).
    attachments_per_event_bytes: int = 20 * 1024 * 1024
    attachments_per_project_bytes: int = 1024 * 1024 * 1024
    # Server environment variables a deploy step may see besides the basics (runner/environment.py).
    deploy_env: tuple[str, ...] = ()
    # Where webhooks, probes and health checks may connect (core/urls.py).
    outbound: AddressPolicy = field(default_factory=AddressPolicy)
    # Proxies whose X-Forwarded-For names the client (core/client_address.py).
    trusted_proxies: tuple[Network, ...] = ()
    max_streams_per_token: int = 50  # 0: no limit

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        data_dir = Path(os.environ.get("TRIMTAB_DATA_DIR", ".trimtab"))
        database_url = os.environ.get("TRIMTAB_DATABASE_URL") or sqlite_url(data_dir)
        values: dict[str, object] = {
            "database_url": database_url,
            "data_dir": data_dir,
            "admin_token": os.environ.get("TRIMTAB_ADMIN_TOKEN") or None,
            "admin_password": os.environ.get("TRIMTAB_ADMIN_PASSWORD") or None,
            "org_slug": os.environ.get("TRIMTAB_ORG", "trimtab"),
            "public_url": os.environ.get("TRIMTAB_PUBLIC_URL", "http://127.0.0.1:8000"),
            "secure_cookies": _env_flag("TRIMTAB_SECURE_COOKIES"),
            "runner_enabled": os.environ.get("TRIMTAB_RUNNER", "1").strip() != "0",
            "deploy_timeout_s": float(os.environ.get("TRIMTAB_DEPLOY_TIMEOUT", "1800")),
            "agent_lease_s": float(os.environ.get("TRIMTAB_AGENT_LEASE", "60")),
            "sdk_rate_limit": int(os.environ.get("TRIMTAB_SDK_RATE_LIMIT") or 10_000),
            "ingest_rate_limit": _env_int("TRIMTAB_INGEST_RATE_LIMIT", 0),
            "ingest_queue": _env_int("TRIMTAB_INGEST_QUEUE", 2000),
            "ingest_sync": _env_choice("TRIMTAB_INGEST_SYNC", INGEST_SYNC_MODES),
            "ingest_body_timeout_s": float(os.environ.get("TRIMTAB_INGEST_BODY_TIMEOUT") or 30),
            "retention_days": _env_int("TRIMTAB_RETENTION_DAYS", 90),
            "max_events_per_issue": _env_int("TRIMTAB_MAX_EVENTS_PER_ISSUE", 10_000),
            "log_retention_days": _env_int("TRIMTAB_LOG_RETENTION_DAYS", 30),
            "max_logs_per_day": _env_int("TRIMTAB_MAX_LOGS_PER_DAY", 100_000),
            "attachments_per_event_bytes": _env_int(
                "TRIMTAB_ATTACHMENTS_PER_EVENT_BYTES", 20 * 1024 * 1024
            ),
            "attachments_per_project_bytes": _env_int(
                "TRIMTAB_ATTACHMENTS_PER_PROJECT_BYTES", 1024 * 1024 * 1024
            ),
            "deploy_env": parse_passthrough(os.environ.get("TRIMTAB_DEPLOY_ENV", "")),
            "outbound": AddressPolicy(
                allow_link_local=_env_flag("TRIMTAB_OUTBOUND_ALLOW_LINK_LOCAL"),
                deny_private=_env_flag("TRIMTAB_OUTBOUND_DENY_PRIVATE"),
            ),
            "trusted_proxies": parse_networks(os.environ.get("TRIMTAB_TRUSTED_PROXIES", "")),
            "max_streams_per_token": _env_int("TRIMTAB_MAX_STREAMS_PER_TOKEN", 50),
        }
        values.update(overrides)
        _refuse_weak_secrets(values)
        lease = values.get("agent_lease_s")
        if isinstance(lease, float) and not 1 <= lease <= 3600:
            raise ValueError("TRIMTAB_AGENT_LEASE must be 1-3600 seconds")
        body_timeout = values.get("ingest_body_timeout_s")
        if isinstance(body_timeout, float) and not 1 <= body_timeout <= 3600:
            raise ValueError("TRIMTAB_INGEST_BODY_TIMEOUT must be 1-3600 seconds")
        return cls(**values)  # type: ignore[arg-type]


MIN_ADMIN_TOKEN_LENGTH = 20
MIN_ADMIN_PASSWORD_LENGTH = 12


def _refuse_weak_secrets(values: dict[str, object]) -> None:
    """A bootstrap secret opens the whole install: refuse one anyone could guess, at start, with
    the reason, rather than run with it (leave the variable unset to have one generated)."""
    token, password = values.get("admin_token"), values.get("admin_password")
    if isinstance(token, str) and len(token) < MIN_ADMIN_TOKEN_LENGTH:
        raise ValueError(
            f"TRIMTAB_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_LENGTH} characters "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), "
            "or unset to have one generated"
        )
    if isinstance(password, str) and len(password) < MIN_ADMIN_PASSWORD_LENGTH:
        raise ValueError(
            f"TRIMTAB_ADMIN_PASSWORD must be at least {MIN_ADMIN_PASSWORD_LENGTH} characters, "
            "or unset to have one generated"
        )


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'trimtab.db').resolve()}"
