"""The change relay: announced changes written for the other server processes on one SQLite file.

Only `trimtab serve --workers N` on SQLite writes here (store/notify_sqlite.py): each announced
change becomes a row in the announcing transaction, and every other process polls for rows past
the last id it saw. Rows are pruned after a few minutes; ids never go back (AUTOINCREMENT), so a
process that saw id n never misses a later row, even after a prune emptied the table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from trimtab.store.models.base import Base, BigId, JSONDocument, UTCDateTime, utcnow


class ChangeRelayRow(Base):
    __tablename__ = "change_relay"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    node: Mapped[str] = mapped_column(String(32))
    change: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
