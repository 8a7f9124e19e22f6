"""Source maps uploaded by sentry-cli: upload chunks, artifact bundles, their files and blobs.

sentry-cli sends a bundle (a zip with `manifest.json`) in sha1-named chunks to the install, then
asks for it to be assembled. Chunks wait in `upload_chunks` (any project's upload may use them:
naming a chunk's sha1 proves one has its bytes) until assembly or retention removes them. An
assembled bundle belongs to one project; each file it holds is a row of `artifact_files`, its
bytes a `source_blobs` row shared by every file of the project with the same sha1 (two builds
rarely change every file). Blobs and chunks are zstandard-compressed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trimtab.store.models.base import Base, JSONDocument, UTCDateTime, utcnow


class UploadChunk(Base):
    __tablename__ = "upload_chunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checksum: Mapped[str] = mapped_column(String(40), unique=True)  # sha1 of the raw bytes
    size: Mapped[int] = mapped_column(Integer)  # uncompressed bytes
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class ArtifactBundle(Base):
    __tablename__ = "artifact_bundles"
    __table_args__ = (
        UniqueConstraint("project_id", "checksum"),
        Index("ix_artifact_bundles_project_release", "project_id", "release", "dist"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    checksum: Mapped[str] = mapped_column(String(40))  # sha1 of the bundle as uploaded
    bundle_id: Mapped[str | None] = mapped_column(String(64))  # the manifest's debug_id
    release: Mapped[str | None] = mapped_column(String(200))
    dist: Mapped[str | None] = mapped_column(String(64))
    debug_ids: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    file_count: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)  # bytes of the bundle as uploaded
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SourceBlob(Base):
    __tablename__ = "source_blobs"
    __table_args__ = (UniqueConstraint("project_id", "checksum"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    checksum: Mapped[str] = mapped_column(String(40))  # sha1 of the raw bytes
    size: Mapped[int] = mapped_column(Integer)  # uncompressed bytes
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ArtifactFile(Base):
    __tablename__ = "artifact_files"
    __table_args__ = (
        Index("ix_artifact_files_project_debug_id", "project_id", "debug_id"),
        Index("ix_artifact_files_project_url", "project_id", "url"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bundle_id: Mapped[int] = mapped_column(
        ForeignKey("artifact_bundles.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    blob_id: Mapped[int] = mapped_column(ForeignKey("source_blobs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # minified_source, source_map, source, ...
    url: Mapped[str] = mapped_column(String(500))  # "~/assets/app.js" or a full URL
    debug_id: Mapped[str | None] = mapped_column(String(64))
    sourcemap: Mapped[str | None] = mapped_column(String(500))  # a minified file's map reference
    size: Mapped[int] = mapped_column(Integer)
