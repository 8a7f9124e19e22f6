"""`trimtab serve` prints the demo project's DSN for the workspace `trimtab demo seed` made, and
for no other project that happens to be named shop."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import seed_demo, start_server
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.store.db import Store

pytestmark = pytest.mark.live
UNBUFFERED = {"PYTHONUNBUFFERED": "1"}  # the banner is in the log once the server is ready


def _banner(database_url: str, data_dir: Path) -> str:
    server = start_server(database_url, data_dir, UNBUFFERED)
    server.stop()
    log = server.log()
    assert "trimtab serving on" in log, log
    return log


def test_serve__a_project_named_shop_of_its_own__no_demo_banner(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    with store.write() as session:
        projects.ensure_organization(session, "trimtab")
        projects.create_project(session, SYSTEM, "shop")
    assert "demo project" not in _banner(database_url, tmp_path / "a")


def test_serve__demo_seeded__prints_its_dsn(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    server = start_server(database_url, tmp_path / "a", UNBUFFERED)
    try:
        seed_demo(server)
    finally:
        server.stop()
    assert "demo project 'shop' DSN: http://" in _banner(database_url, tmp_path / "b")
