"""First start without prompts: the organization, the admin token and the admin password.

With TRIMTAB_ADMIN_PASSWORD / TRIMTAB_ADMIN_TOKEN unset (a laptop running `make run`), trimtab
makes its own and keeps them in `<data dir>/credentials.json` (mode 0600), so the person who
started it can log in and the CLI can talk to it. A server configured by environment never
writes that file.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from trimtab.domain.spine import tokens, users
from trimtab.domain.spine.projects import ensure_organization
from trimtab.settings import Settings
from trimtab.store.db import Store

CREDENTIALS_FILE = "credentials.json"


@dataclass(frozen=True)
class Credentials:
    admin_password: str | None
    admin_token: str | None
    generated: bool
    path: Path | None = None


def _credentials_path(settings: Settings) -> Path:
    return settings.data_dir / CREDENTIALS_FILE


def _load_or_make_local_credentials(settings: Settings) -> Credentials:
    path = _credentials_path(settings)
    if path.exists():
        data = json.loads(path.read_text())
        return Credentials(data.get("admin_password"), data.get("admin_token"), True, path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    token = tokens.new_secret()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"admin_password": password, "admin_token": token}, handle, indent=2)
    return Credentials(password, token, True, path)


def bootstrap(store: Store, settings: Settings) -> Credentials:
    """Make the store usable: organization, admin user and admin token. Idempotent."""
    with store.read() as session:
        have_admin = users.admin_user_exists(session)
    local = None
    need_password = settings.admin_password is None
    need_token = settings.admin_token is None
    if (need_password and not have_admin) or (
        need_password and need_token and _credentials_path(settings).exists()
    ):
        local = _load_or_make_local_credentials(settings)
    password = settings.admin_password or (local.admin_password if local else None)
    token = settings.admin_token or (local.admin_token if local else None)
    with store.write() as session:
        ensure_organization(session, settings.org_slug)
        if password:
            users.ensure_admin_user(session, password)
        if token:
            name = (
                tokens.BOOTSTRAP_TOKEN_NAME if settings.admin_token else tokens.GENERATED_TOKEN_NAME
            )
            tokens.ensure_bootstrap_token(session, token, name)
    return Credentials(password, token, local is not None, local.path if local else None)
