"""Dashboard users: argon2 passwords, session cookies with a CSRF token, a login rate limit."""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from trimtab.domain.errors import RateLimited, Unauthorized
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import DashboardSession, LoginFailure, User, utcnow

ADMIN_USERNAME = "admin"
SESSION_LIFETIME = timedelta(days=7)
# The login limit counts failures per (username, client): one address guessing cannot lock the
# admin out of any other. The first LOGIN_FREE_FAILURES cost nothing; after that each failure
# doubles the wait before that client may try that user again, up to LOGIN_MAX_WAIT.
# Failures older than LOGIN_FAILURE_MEMORY are forgotten; a success forgets them at once.
LOGIN_FREE_FAILURES = 5
LOGIN_FIRST_WAIT = timedelta(seconds=1)
LOGIN_MAX_WAIT = timedelta(minutes=5)
LOGIN_FAILURE_MEMORY = timedelta(hours=1)
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


def login_wait(failures: int) -> timedelta:
    """How long a client waits after its `failures`-th failure in a row for one user."""
    if failures < LOGIN_FREE_FAILURES:
        return timedelta(0)
    doublings = min(failures - LOGIN_FREE_FAILURES, 20)  # 2^20 s is far past the cap
    wait: timedelta = min(LOGIN_FIRST_WAIT * (1 << doublings), LOGIN_MAX_WAIT)
    return wait


def login_retry_after(
    session: Session, username: str, client: str, now: datetime | None = None
) -> int:
    """Whole seconds before `client` may try `username` again (0: now)."""
    now = now or utcnow()
    failures, latest = session.execute(
        select(func.count(), func.max(LoginFailure.at)).where(
            LoginFailure.username == username,
            LoginFailure.remote_addr == client,
            LoginFailure.at >= now - LOGIN_FAILURE_MEMORY,
        )
    ).one()
    if latest is None:
        return 0
    remaining = (latest + login_wait(failures) - now).total_seconds()
    return max(0, math.ceil(remaining))


def log_in(
    session: Session, username: str, password: str, client: str, now: datetime | None = None
) -> NewSession:
    """Check a password and open a session. Failures are counted per (username, client); a
    client that failed too often for a user waits (RateLimited with the seconds to wait).

    `client` is the key the limit counts under (core.client_address.limit_key). The failure row
    must survive the refusal, so callers commit even when this raises Unauthorized (see the
    dashboard login view).
    """
    now = now or utcnow()
    username = username.strip()[:150]
    client = client[:64]
    wait = login_retry_after(session, username, client, now)
    if wait > 0:
        raise RateLimited(
            f"too many failed logins for {username!r} from your address; "
            f"try again in {_seconds(wait)}",
            retry_after=wait,
        )
    user = session.scalars(select(User).where(User.username == username)).first()
    ok = (
        user is not None
        and len(password) <= MAX_PASSWORD_LENGTH
        and verify_password(user.password_hash, password)
    )
    if not ok or user is None:
        session.execute(delete(LoginFailure).where(LoginFailure.at < now - LOGIN_FAILURE_MEMORY))
        session.add(LoginFailure(username=username, remote_addr=client, at=now))
        raise Unauthorized("wrong username or password")
    session.execute(
        delete(LoginFailure).where(
            LoginFailure.username == username, LoginFailure.remote_addr == client
        )
    )
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


def _seconds(wait: int) -> str:
    if wait < 60:
        return f"{wait} second{'s' if wait != 1 else ''}"
    minutes = math.ceil(wait / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


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
