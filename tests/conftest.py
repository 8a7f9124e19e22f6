"""Fixtures: every store test runs on SQLite and, with TRIMTAB_TEST_POSTGRES_URL, on PostgreSQL.

Each test gets a fresh, migrated database copied from a template made once per run: a file
copy on SQLite, `CREATE DATABASE … TEMPLATE` on PostgreSQL. Nothing is mocked: the app under
test talks to a real database.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support import (
    ADMIN_PASSWORD,
    ADMIN_TOKEN,
    LiveServer,
    ThreadedServer,
    free_port,
    start_server,
)
from trimtab.demo import workspace
from trimtab.domain.spine import projects, users
from trimtab.server.app import create_app
from trimtab.settings import Settings
from trimtab.store import migrate
from trimtab.store.db import Store, normalize_database_url

POSTGRES_URL = os.environ.get("TRIMTAB_TEST_POSTGRES_URL")

# Property tests (Hypothesis, Schemathesis) are derandomized so every run, here and on CI, tries
# the same inputs: a failure is reproducible and never a flake. No deadline and no too_slow check:
# the suite must pass on a busy machine. `HYPOTHESIS_PROFILE=explore` hunts with fresh random
# inputs and more of them; a failure it finds belongs in a case file or an @example.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "explore", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BACKENDS = ["sqlite", "postgres"]
_counter = itertools.count()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # On CI the PostgreSQL half of the suite must run, never be skipped quietly.
    if os.environ.get("CI") and not POSTGRES_URL:
        raise pytest.UsageError("CI is set but TRIMTAB_TEST_POSTGRES_URL is not: .ci/run sets it")
    # Long equivalence runs belong to `make soak` (TRIMTAB_SOAK=1), not to `make test`.
    if not os.environ.get("TRIMTAB_SOAK"):
        skip = pytest.mark.skip(reason="a soak test: run with `make soak` (TRIMTAB_SOAK=1)")
        for item in items:
            if "soak" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    """argon2's own test profile for passwords hashed in this process: the production parameters
    cost about 0.2 s of CPU per hash and per check on these machines, paid by every app start
    (the admin password) and every dashboard login, a tenth of the suite's CPU. Servers started
    as processes keep the production hasher; tests/domain/test_passwords.py checks it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
        yield


def _seed_demo(store: Store) -> None:
    with store.write() as session:
        projects.ensure_organization(session, Settings.org_slug)  # as the first start makes it
        assert workspace.seed(session).created


def _sqlite_file(path: Path, prepare: Callable[[Store], None]) -> Path:
    """`prepare` run on the SQLite file at `path`, its WAL folded in so a copy is complete."""
    store = Store(f"sqlite:///{path}")
    prepare(store)
    with store.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.dispose()
    return path


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _sqlite_file(tmp_path_factory.mktemp("template") / "template.db", migrate.upgrade)


class _DemoTemplates:
    """The demo workspace seeded into a template database, seeded again once it is a minute old:
    the demo's history is dated from the moment of its seed ("1 d ago" is two days less four
    minutes), and a run lasts longer than its pages' rounding allows."""

    MAX_AGE_S = 60.0

    def __init__(self, make: Callable[[str], str], drop: Callable[[str], None]) -> None:
        self._make, self._drop = make, drop
        self._current: str | None = None
        self._seeded_at = 0.0
        self._made = itertools.count()

    def current(self) -> str:
        if self._current is None or time.monotonic() - self._seeded_at > self.MAX_AGE_S:
            self.close()
            self._current = self._make(f"demo{next(self._made)}")
            self._seeded_at = time.monotonic()
        return self._current

    def close(self) -> None:
        if self._current is not None:
            self._drop(self._current)
            self._current = None


@pytest.fixture(scope="session")
def _sqlite_demo_templates(
    tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path
) -> Iterator[_DemoTemplates]:
    directory = tmp_path_factory.mktemp("demo-templates")

    def make(name: str) -> str:
        path = directory / f"{name}.db"
        shutil.copyfile(_sqlite_template, path)
        return str(_sqlite_file(path, _seed_demo))

    templates = _DemoTemplates(make, lambda path: Path(path).unlink())
    yield templates
    templates.close()


def _pg_admin_url() -> str:
    assert POSTGRES_URL
    return normalize_database_url(POSTGRES_URL)


def _pg_url_for(database: str) -> str:
    return make_url(_pg_admin_url()).set(database=database).render_as_string(hide_password=False)


def _pg_execute(sql: str) -> None:
    engine = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(sql))
    engine.dispose()


@pytest.fixture(scope="session")
def _postgres_template() -> Iterator[str]:
    name = f"trimtab_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _pg_execute(f'CREATE DATABASE "{name}"')
    store = Store(_pg_url_for(name))
    migrate.upgrade(store)
    store.dispose()
    yield name
    _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _postgres_demo_templates(_postgres_template: str) -> Iterator[_DemoTemplates]:
    def make(name: str) -> str:
        database = f"{_postgres_template}_{name}"
        _pg_execute(f'CREATE DATABASE "{database}" TEMPLATE "{_postgres_template}"')
        store = Store(_pg_url_for(database))
        _seed_demo(store)
        store.dispose()
        return database

    templates = _DemoTemplates(
        make, lambda database: _pg_execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    )
    yield templates
    templates.close()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test; for a test marked `demo_workspace`, one holding
    the demo workspace (copied from a seeded template, renewed each minute: the seed costs more
    than most tests)."""
    if request.param == "postgres" and not POSTGRES_URL:
        pytest.skip("set TRIMTAB_TEST_POSTGRES_URL to run the PostgreSQL half")
    if request.node.get_closest_marker("demo_workspace") is not None:
        template = request.getfixturevalue(f"_{request.param}_demo_templates").current()
    else:
        template = str(request.getfixturevalue(f"_{request.param}_template"))
    if request.param == "sqlite":
        path = tmp_path / "trimtab.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    name = f"trimtab_t_{os.getpid()}_{next(_counter)}"
    _pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield _pg_url_for(name)
    _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_postgres() -> Iterator[Callable[[], str]]:
    """A maker of empty PostgreSQL databases (not migrated), each dropped after the test."""
    if not POSTGRES_URL:
        pytest.skip("set TRIMTAB_TEST_POSTGRES_URL to run the PostgreSQL half")
    made: list[str] = []

    def make() -> str:
        made.append(f"trimtab_e_{os.getpid()}_{next(_counter)}")
        _pg_execute(f'CREATE DATABASE "{made[-1]}"')
        return _pg_url_for(made[-1])

    yield make
    for name in made:
        _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = Store(database_url)
    yield s
    s.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        admin_token=ADMIN_TOKEN,
        admin_password=ADMIN_PASSWORD,
        public_url="http://testserver",
    )


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    """An in-process client of the full app, authenticated as the bootstrap admin."""
    app = create_app(settings, store=store)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as test_client:
        yield test_client


@pytest.fixture
def anon_client(settings: Settings, store: Store) -> Iterator[TestClient]:
    app = create_app(settings, store=store)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A real `trimtab serve` process on a free port, on this test's database."""
    server = start_server(database_url, tmp_path / "live")
    yield server
    server.stop()


__all__ = ["ADMIN_PASSWORD", "ADMIN_TOKEN"]


@pytest.fixture
def threaded_server(settings: Settings, store: Store) -> Iterator[ThreadedServer]:
    """The full app over real HTTP in this process; `threaded_server.app.state.store` is `store`.
    Its public URL is its own address, as `trimtab serve` makes it."""
    port = free_port()
    settings = dataclasses.replace(settings, public_url=f"http://127.0.0.1:{port}")
    app = create_app(settings, store=store)
    with ThreadedServer(app, port) as server:
        server.app = app  # type: ignore[attr-defined]
        yield server
