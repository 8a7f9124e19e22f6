"""The ingest quota's shared counts: events accepted per DSN key per minute, by every server
process on the database together (domain/reports/ingest_quota.py adds to them and reads them).
Rows are only ever upserted on (public key, minute); those older than the previous minute are
pruned as processes write.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trimtab.store.models.base import Base, BigId, UTCDateTime


class IngestQuotaWindow(Base):
    __tablename__ = "ingest_quota_windows"
    __table_args__ = (UniqueConstraint("public_key", "window_start"),)

    # 64-bit: every upsert (about one a second per key per process) takes a number.
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
