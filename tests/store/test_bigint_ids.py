"""Tables that grow with traffic have 64-bit ids: ingest goes on past 2^31 rows on PostgreSQL
(where ids were int4 before migration 0470), and on SQLite, where they were always the rowid."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import BigInteger, inspect, select, text
from starlette.datastructures import URL

from trimtab.store import migrate
from trimtab.store.db import Store
from trimtab.store.models import Base, Event, Issue

PAST_INT4 = 2**31 + 1000
# What must never run out (the migration may widen more; the models say exactly what).
MUST_BE_64_BIT = {
    ("events", "id"),
    ("events", "issue_id"),
    ("issues", "id"),
    ("issue_facets", "id"),
    ("issue_users", "id"),
    ("error_rollups", "id"),
    ("health_sessions", "id"),
    ("health_buckets", "id"),
    ("audit_log", "id"),
    ("notifications", "id"),
    ("alert_deliveries", "notification_id"),
    ("flag_evaluation_hours", "id"),
    ("flag_evaluation_stats", "id"),
    ("deploys", "id"),
}


def _big_ids() -> set[tuple[str, str]]:
    """(table, column) of every id column, or column pointing at an id, the models make 64-bit."""
    return {
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.c
        if isinstance(column.type, BigInteger) and (column.primary_key or column.foreign_keys)
    }


def test_models__traffic_tables__have_64_bit_ids() -> None:
    assert _big_ids() >= MUST_BE_64_BIT


def test_migrations__upgraded_store__id_columns_and_sequences_are_bigint(store: Store) -> None:
    with store.engine.connect() as connection:
        if store.dialect == "sqlite":
            for table, column in _big_ids():
                info = connection.exec_driver_sql(f'PRAGMA table_info("{table}")').all()
                (declared,) = [row[2] for row in info if row[1] == column]
                assert declared == "INTEGER", (table, column)  # the rowid for an id: 64-bit
            return
        types = dict(
            connection.execute(
                text(
                    "SELECT table_name || '.' || column_name, data_type "
                    "FROM information_schema.columns WHERE table_schema = current_schema()"
                )
            ).all()
        )
        for table, column in _big_ids():
            assert types[f"{table}.{column}"] == "bigint", (table, column)
        for table in {table for table, column in _big_ids() if column == "id"}:
            sequence = connection.execute(
                text(
                    "SELECT s.data_type FROM information_schema.sequences s "
                    "WHERE s.sequence_name = split_part(pg_get_serial_sequence(:t, 'id'), '.', 2)"
                ),
                {"t": f'"{table}"'},
            ).scalar_one()
            assert sequence == "bigint", table


def _push_ids_past_int4(store: Store, project_id: int) -> None:
    """The next issue and event ids are past 2^31, as after a long time of ingest."""
    with store.write() as session:
        if store.dialect == "postgresql":
            for table in ("issues", "events", "issue_facets", "issue_users", "error_rollups"):
                session.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {PAST_INT4})")
                )
            return
        # SQLite hands out the largest rowid + 1: a row with a large id moves it on.
        now = datetime.now(UTC)
        session.add(Issue(id=PAST_INT4, project_id=project_id, fingerprint="old", title="old"))
        session.flush()
        session.add(
            Event(
                id=PAST_INT4,
                project_id=project_id,
                issue_id=PAST_INT4,
                event_id=uuid.uuid4().hex,
                timestamp=now,
                payload=b"",
                payload_size=0,
            )
        )


def test_ingest__ids_past_2_31__event_and_issue_stored_and_read_back(
    client: TestClient, store: Store
) -> None:
    project = client.post("/api/v1/projects", json={"slug": "shop"}).json()
    key = URL(project["dsn"]).username
    _push_ids_past_int4(store, project["id"])
    event_id = uuid.uuid4().hex
    event = {
        "event_id": event_id,
        "platform": "python",
        "release": "shop@1.0",
        "user": {"id": "u1"},
        "tags": {"region": "eu"},
        "exception": {"values": [{"type": "CardError", "value": "declined"}]},
    }
    stored = client.post(
        f"/api/{project['id']}/store/",
        json=event,
        headers={"X-Sentry-Auth": f"Sentry sentry_key={key}"},
    )
    assert stored.status_code == 200, stored.text

    with store.read() as session:
        row = session.scalars(select(Event).where(Event.event_id == event_id)).one()
        assert row.id > PAST_INT4 and row.issue_id > PAST_INT4
    detail = client.get(f"/api/v1/events/{event_id}")
    assert detail.status_code == 200, detail.text
    assert detail.json()["data"]["exception"] == event["exception"]
    issue = client.get(f"/api/v1/issues/{row.issue_id}")
    assert issue.status_code == 200, issue.text
    assert issue.json()["title"] == "CardError: declined"
    assert [r["value"] for r in issue.json()["releases"]] == ["shop@1.0"]


def test_migrations__whole_chain__downgrades_to_base_and_upgrades_again(store: Store) -> None:
    with store.engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection), "0460_flag_evaluation_hours")
    if store.dialect == "postgresql":
        with store.engine.connect() as connection:
            kind = connection.execute(
                text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'events' AND column_name = 'id'"
                )
            ).scalar_one()
            assert kind == "integer"
    with store.engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection), "base")
    with store.engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(store)
    assert migrate.is_current(store)
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
