"""Who is calling: an API token (`Authorization: Bearer`) or a dashboard session cookie.

Session-cookie callers must send the CSRF token with every unsafe request (header
`X-CSRF-Token` or form field `csrf_token`); token callers need not, since a browser never
attaches a bearer token by itself.
"""

from __future__ import annotations

from fastapi import Request

from trimtab.core.client_address import client_address
from trimtab.domain.errors import Unauthorized
from trimtab.domain.spine import tokens, users
from trimtab.domain.spine.actors import Actor
from trimtab.store.db import Store

SESSION_COOKIE = "trimtab_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


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
    """FastAPI dependency: the authenticated actor, or 401."""
    secret = bearer_token(request)
    if secret is not None:
        with store_of(request).read() as session:
            return tokens.authenticate(session, secret)
    resolved = session_actor(request)
    if resolved is None:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>'")
    actor, csrf = resolved
    if request.method not in SAFE_METHODS:
        users.check_csrf(csrf, request.headers.get("x-csrf-token"))
    return actor
