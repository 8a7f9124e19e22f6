"""The ingest quota's shared counts: events accepted per DSN key per minute, by every server
process on the database together (domain/reports/ingest_quota.py adds to them and reads them).

No surrogate id: rows are only ever upserted on (public key, minute), and an id would spend a
sequence number on every upsert. Rows older than the previous minute are pruned as processes
write.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from trimtab.store.models.base import Base, UTCDateTime


class IngestQuotaWindow(Base):
    __tablename__ = "ingest_quota_windows"

    public_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True, index=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
