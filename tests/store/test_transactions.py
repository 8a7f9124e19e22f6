"""A failed write leaves nothing behind: no half-made rows, no audit entry claiming success."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from trimtab.domain.errors import InvalidInput
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.store.db import Store
from trimtab.store.models import AuditEntry, Project
from trimtab.store.models.audit import AuditEntry as AuditModel


def _bootstrap(store: Store) -> None:
    with store.write() as session:
        projects.ensure_organization(session, "acme")


def test_write__domain_error_midway__rolls_back_project_and_audit(store: Store) -> None:
    _bootstrap(store)
    with pytest.raises(InvalidInput), store.write() as session:
        # The project row is flushed before the bad environment name is reached.
        projects.create_project(session, SYSTEM, "half", environments=("ok", "Not Valid!"))
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(Project)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_audit_log__update_or_delete__is_refused(store: Store) -> None:
    _bootstrap(store)
    with store.write() as session:
        projects.create_project(session, SYSTEM, "kept")
    with pytest.raises(PermissionError), store.write() as session:
        entry = session.scalars(select(AuditModel)).first()
        assert entry is not None
        entry.reason = "rewritten history"
    with pytest.raises(PermissionError), store.write() as session:
        entry = session.scalars(select(AuditModel)).first()
        session.delete(entry)
    with store.read() as session:
        entry = session.scalars(select(AuditModel)).one()
        assert entry.reason is None
