"""Who is calling: an API token (`Authorization: Bearer`) or a dashboard session cookie.

Session-cookie callers must send the CSRF token with every unsafe request (header
`X-CSRF-Token` or form field `csrf_token`); token callers need not, since a browser never
attaches a bearer token by itself.

A token's use is stamped (`tokens.record_use`) through `TokenUses`, which opens a write
transaction for a token at most once per `tokens.LAST_USED_EVERY` in this process; the flag
delivery runtime stamps its SDK callers through the same gate.
"""

from __future__ import annotations

import logging
import threading
import time

from fastapi import Request

from trimtab.core.client_address import client_address
from trimtab.domain.errors import Forbidden, Unauthorized
from trimtab.domain.spine import tokens, users
from trimtab.domain.spine.actors import AGENT_SCOPE, Actor
from trimtab.store.db import Store
from trimtab.store.models import utcnow

log = logging.getLogger("trimtab.auth")

SESSION_COOKIE = "trimtab_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_TOKENS_TRACKED = 10_000


class TokenUses:
    """When this process last stamped each token's use; `app.state.token_uses`."""

    def __init__(self, every_s: float = tokens.LAST_USED_EVERY.total_seconds()) -> None:
        self.every_s = every_s
        self._lock = threading.Lock()
        self._stamped: dict[int, float] = {}

    def due(self, token_id: int) -> bool:
        """Whether a use of `token_id` now is to be written; if so, it counts as written."""
        now = time.monotonic()
        with self._lock:
            last = self._stamped.get(token_id)
            if last is not None and now - last < self.every_s:
                return False
            if len(self._stamped) >= MAX_TOKENS_TRACKED:
                self._stamped.clear()  # bounded memory; the row still bounds the writes
            self._stamped[token_id] = now
            return True

    def write(self, store: Store, token_id: int) -> None:
        """Stamp the use in its own transaction; a failure costs the stamp, never the request."""
        try:
            with store.write() as session:
                tokens.record_use(session, token_id, utcnow())
        except Exception:
            log.exception("could not record the use of token %s", token_id)

    def record(self, store: Store, token_id: int | None) -> None:
        if token_id is not None and self.due(token_id):
            self.write(store, token_id)


def token_uses_of(request: Request) -> TokenUses:
    uses: TokenUses = request.app.state.token_uses
    return uses


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def agent_lease_of(request: Request) -> float:
    """How long a deploy agent's claim holds without a call (TRIMTAB_AGENT_LEASE); also how
    recent an agent's last call must be for it to count as live."""
    return float(request.app.state.settings.agent_lease_s)


def client_of(request: Request) -> str:
    """The client's address: the peer, or behind a proxy listed in TRIMTAB_TRUSTED_PROXIES the
    address its X-Forwarded-For names (core/client_address.py)."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.getlist("x-forwarded-for")
    return client_address(peer, forwarded, request.app.state.settings.trusted_proxies)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def session_actor(request: Request) -> tuple[Actor, str] | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with store_of(request).read() as session:
        return users.resolve_session(session, cookie)


def current_actor(request: Request) -> Actor:
    """FastAPI dependency: the authenticated actor, or 401; an agent token is refused (403).

    An agent token claims and reports deploy steps, nothing else: it reaches only the agent
    routes (`agent_actor`), so no other route, present or future, has to remember to refuse
    it — not even the any-token ones (`/api/v1/whoami`, `/api/0/`), which `trimtab agent`
    does not need."""
    actor = agent_actor(request)
    if AGENT_SCOPE in actor.scopes:
        raise Forbidden(
            "an agent token only claims and reports the deploy steps of its environment "
            "(/api/v1/projects/{slug}/agents/{environment}/…); use a read, deploy or admin "
            "token for anything else"
        )
    return actor


def agent_actor(request: Request) -> Actor:
    """FastAPI dependency of the agent routes: the authenticated actor, any scope, or 401; the
    domain (domain/releases/agents.py) refuses every scope but `agent` there."""
    secret = bearer_token(request)
    if secret is not None:
        store = store_of(request)
        with store.read() as session:
            actor = tokens.authenticate(session, secret)
        token_uses_of(request).record(store, actor.token_id)
        return actor
    resolved = session_actor(request)
    if resolved is None:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>'")
    actor, csrf = resolved
    if request.method not in SAFE_METHODS:
        users.check_csrf(csrf, request.headers.get("x-csrf-token"))
    return actor
