"""Declarative base and the column types every model shares.

Times are stored as UTC. SQLite has no time zone type, so `UTCDateTime` stores naive UTC and
hands back aware datetimes on both backends: code never compares naive with aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The largest id an `Integer` primary key holds on PostgreSQL (int4; SQLite's hold 2^63 - 1):
# a larger one names no row, and handing it to the database overflows instead of finding nothing.
MAX_ROW_ID = 2**31 - 1
# The largest id a `BigId` primary key holds (int8 on PostgreSQL, SQLite's INTEGER everywhere).
MAX_BIG_ROW_ID = 2**63 - 1

# The id type of every table whose rows grow with traffic (events, issues and their facets,
# rollups, sessions, evaluation counts, the audit log, the outbox...), and of the columns that
# point at those ids. An int4 sequence runs out after 2^31 numbers, and upserted tables spend one
# on every INSERT ... ON CONFLICT, stored or not: at 1,000 events a second the error rollups would
# run dry in days. BIGINT on PostgreSQL; on SQLite INTEGER, which is 64-bit already and must stay
# INTEGER for the primary key to be the rowid (BIGINT PRIMARY KEY would not be).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(DateTime(timezone=False))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
