"""Dashboard users: argon2 passwords, session cookies with a CSRF token, a login rate limit."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from trimtab.domain.errors import RateLimited, Unauthorized
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import DashboardSession, LoginFailure, User, utcnow

ADMIN_USERNAME = "admin"
SESSION_LIFETIME = timedelta(days=7)
# At most this many failed logins per username, and per address, within the window.
LOGIN_FAILURE_LIMIT = 5
LOGIN_FAILURE_WINDOW = timedelta(minutes=15)
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def ensure_admin_user(session: Session, password: str) -> User:
    """Create the `admin` user, or reset its password to `password` if it differs."""
    user = session.scalars(select(User).where(User.username == ADMIN_USERNAME)).first()
    if user is None:
        user = User(username=ADMIN_USERNAME, password_hash=hash_password(password), is_admin=True)
        session.add(user)
    elif not verify_password(user.password_hash, password):
        user.password_hash = hash_password(password)
    session.flush()
    return user


def admin_user_exists(session: Session) -> bool:
    return (
        session.scalars(select(User.id).where(User.username == ADMIN_USERNAME)).first() is not None
    )


@dataclass(frozen=True)
class NewSession:
    cookie_value: str
    csrf_token: str
    user: User


def _recent_failures(session: Session, username: str, remote_addr: str) -> int:
    since = utcnow() - LOGIN_FAILURE_WINDOW
    by_user = session.scalar(
        select(func.count()).where(LoginFailure.username == username, LoginFailure.at >= since)
    )
    by_addr = session.scalar(
        select(func.count()).where(
            LoginFailure.remote_addr == remote_addr, LoginFailure.at >= since
        )
    )
    return max(by_user or 0, by_addr or 0)


def log_in(session: Session, username: str, password: str, remote_addr: str) -> NewSession:
    """Check a password and open a session. Failures are counted; too many → RateLimited.

    The failure row must survive the refusal, so callers commit even when this raises
    Unauthorized (see the dashboard login view).
    """
    username = username.strip()[:150]
    if _recent_failures(session, username, remote_addr) >= LOGIN_FAILURE_LIMIT:
        raise RateLimited(
            "too many failed logins; try again in 15 minutes",
            retry_after=int(LOGIN_FAILURE_WINDOW.total_seconds()),
        )
    user = session.scalars(select(User).where(User.username == username)).first()
    ok = (
        user is not None
        and len(password) <= MAX_PASSWORD_LENGTH
        and verify_password(user.password_hash, password)
    )
    if not ok or user is None:
        session.add(LoginFailure(username=username, remote_addr=remote_addr[:64]))
        raise Unauthorized("wrong username or password")
    session.execute(delete(LoginFailure).where(LoginFailure.username == username))
    cookie_value = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    session.add(
        DashboardSession(
            secret_sha256=_digest(cookie_value),
            user_id=user.id,
            csrf_token=csrf,
            expires_at=utcnow() + SESSION_LIFETIME,
        )
    )
    session.flush()
    return NewSession(cookie_value=cookie_value, csrf_token=csrf, user=user)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def resolve_session(session: Session, cookie_value: str) -> tuple[Actor, str] | None:
    """The actor and CSRF token for a session cookie, or None if unknown or expired."""
    if not cookie_value or len(cookie_value) > 128:
        return None
    row = session.execute(
        select(DashboardSession, User)
        .join(User, User.id == DashboardSession.user_id)
        .where(DashboardSession.secret_sha256 == _digest(cookie_value))
    ).first()
    if row is None:
        return None
    dash, user = row
    if dash.expires_at <= utcnow():
        return None
    scopes = frozenset({"admin"}) if user.is_admin else frozenset({"read"})
    return Actor(kind="user", name=user.username, scopes=scopes, user_id=user.id), dash.csrf_token


def log_out(session: Session, cookie_value: str) -> None:
    session.execute(
        delete(DashboardSession).where(DashboardSession.secret_sha256 == _digest(cookie_value))
    )


def check_csrf(expected: str, presented: str | None) -> None:
    if not presented or not secrets.compare_digest(expected, presented):
        raise Unauthorized("missing or wrong CSRF token; reload the page and try again")
