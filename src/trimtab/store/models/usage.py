"""What ingest received but did not store, counted per project, data category, outcome and
day: transactions, spans, profiles, replays, check-ins and metrics trimtab does not keep,
log lines over their bounds, and what SDKs report they discarded themselves (client reports).
Also the log lines stored each day, which the per-project daily log quota reads.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trimtab.store.models.base import Base, UTCDateTime


class IngestUsageDay(Base):
    __tablename__ = "ingest_usage_days"
    __table_args__ = (UniqueConstraint("project_id", "day", "category", "outcome"),)

    # 64-bit on PostgreSQL: every upsert takes a number from the sequence, stored or not.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    day: Mapped[datetime] = mapped_column(UTCDateTime())  # midnight UTC
    category: Mapped[str] = mapped_column(String(64))  # a Sentry data category
    # "stored", "not_supported", "over_quota", "invalid", or "sdk:<reason>" (client reports)
    outcome: Mapped[str] = mapped_column(String(80))
    count: Mapped[int] = mapped_column(BigInteger, default=0)
