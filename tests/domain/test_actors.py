from __future__ import annotations

import pytest

from trimtab.domain.errors import Forbidden
from trimtab.domain.spine.actors import Actor


def _actor(*scopes: str, project_id: int | None = None, environment_id: int | None = None) -> Actor:
    return Actor(
        "token", "t", frozenset(scopes), project_id=project_id, environment_id=environment_id
    )


def test_scope_ladder__admin_includes_deploy_and_read() -> None:
    admin = _actor("admin")
    assert admin.has_scope("deploy") and admin.has_scope("read")
    assert not admin.has_scope("sdk-server")


def test_scope_ladder__read_excludes_deploy() -> None:
    with pytest.raises(Forbidden):
        _actor("read").require("deploy", project_id=1)


def test_sdk_scope__never_reads_the_api() -> None:
    with pytest.raises(Forbidden):
        _actor("sdk-server", project_id=1, environment_id=1).require("read", project_id=1)


def test_project_bound__other_project__forbidden() -> None:
    bound = _actor("admin", project_id=1)
    bound.require("admin", project_id=1)
    with pytest.raises(Forbidden):
        bound.require("read", project_id=2)


def test_project_bound__install_wide_action__forbidden() -> None:
    with pytest.raises(Forbidden):
        _actor("admin", project_id=1).require("admin")


def test_environment_bound__other_environment__forbidden() -> None:
    bound = _actor("deploy", project_id=1, environment_id=5)
    bound.require("deploy", project_id=1, environment_id=5)
    with pytest.raises(Forbidden):
        bound.require("deploy", project_id=1, environment_id=6)


def test_environment_bound_admin__what_the_project_shares__forbidden() -> None:
    bound = _actor("admin", project_id=1, environment_id=5)
    bound.require("admin", project_id=1, environment_id=5)  # its environment's configs, tokens
    bound.require("deploy", project_id=1)  # operations on shared things: releases
    with pytest.raises(Forbidden, match="bound to one environment"):
        bound.require("admin", project_id=1)
