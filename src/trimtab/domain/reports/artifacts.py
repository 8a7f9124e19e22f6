"""Source map uploads: chunks in, artifact bundles assembled per project, listed, pruned.

sentry-cli (`sourcemaps upload`, with or without `--release`) zips the files into an artifact
bundle, cuts it into sha1-named chunks, asks which chunks the server lacks (`assemble`), uploads
those, and asks again until the bundle is assembled. Here assembly runs in the request that
finds every chunk present, so the answer is `ok` or `error` at once; sentry-cli's polling ends on
its first call. The bundle's `manifest.json` lists each file with its type, URL and headers
(`debug-id`, `sourcemap`); each file is kept as a blob of the project, deduplicated by sha1.

Bounds (every one answered with the reason): a chunk's size, chunks per request, a request's
size, pending chunk bytes for the whole install, a bundle's size and file count, a file's
size, and the blob bytes a project may keep.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from trimtab.domain.errors import InvalidInput, NotFound
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit, projects
from trimtab.domain.spine.actors import Actor
from trimtab.store import rollups
from trimtab.store.models import (
    ArtifactBundle,
    ArtifactFile,
    ErrorRollup,
    SourceBlob,
    UploadChunk,
)
from trimtab.store.payloads import compress_payload, decompress_payload

__all__ = [
    "LIMITS",
    "BundleSummary",
    "Limits",
    "assemble_bundle",
    "list_bundles",
    "missing_chunks",
    "prune_bundles",
    "prune_chunks",
    "read_blob",
    "store_chunks",
]

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    chunk_size: int = 8 * MiB
    chunks_per_request: int = 64
    request_size: int = 32 * MiB
    pending_chunk_bytes: int = 1024 * MiB  # chunks waiting for assembly, install-wide
    bundle_size: int = 256 * MiB
    bundle_chunks: int = 512
    bundle_files: int = 10_000
    file_size: int = 64 * MiB
    project_bytes: int = 2048 * MiB  # blobs a project keeps


LIMITS = Limits()
SUPPORTED_KINDS = ("minified_source", "source_map", "source", "indexed_ram_bundle")
_SHA1_HEX = frozenset("0123456789abcdef")


def _check_sha1(value: str) -> str:
    text = value.lower()
    if len(text) != 40 or not set(text) <= _SHA1_HEX:
        raise InvalidInput(f"not a sha1 checksum: {value[:60]!r}")
    return text


def store_chunks(
    session: Session, chunks: Sequence[tuple[str, bytes]], limits: Limits = LIMITS
) -> int:
    """Keep uploaded chunks (name = the sha1 of the bytes, checked); returns how many were new."""
    if len(chunks) > limits.chunks_per_request:
        raise InvalidInput(f"at most {limits.chunks_per_request} chunks per request")
    pending = session.scalar(select(func.coalesce(func.sum(UploadChunk.size), 0))) or 0
    added = 0
    for name, data in chunks:
        checksum = _check_sha1(name)
        if len(data) > limits.chunk_size:
            raise InvalidInput(f"a chunk is at most {limits.chunk_size} bytes")
        if hashlib.sha1(data, usedforsecurity=False).hexdigest() != checksum:
            raise InvalidInput(f"chunk {checksum} does not match its sha1")
        if session.scalar(select(UploadChunk.id).where(UploadChunk.checksum == checksum)):
            continue
        pending += len(data)
        if pending > limits.pending_chunk_bytes:
            raise InvalidInput("too many uploaded chunks wait for assembly; try again later")
        session.add(UploadChunk(checksum=checksum, size=len(data), data=compress_payload(data)))
        added += 1
    session.flush()
    return added


def missing_chunks(session: Session, checksums: Sequence[str]) -> list[str]:
    """The chunks of `checksums` not uploaded yet, in their order."""
    wanted = [_check_sha1(c) for c in checksums]
    have = set(
        session.scalars(select(UploadChunk.checksum).where(UploadChunk.checksum.in_(wanted)))
    )
    return [c for c in wanted if c not in have]


class BundleSummary(Result):
    id: int
    project: str
    checksum: str
    bundle_id: str | None
    release: str | None
    dist: str | None
    debug_ids: list[str]
    file_count: int
    size: int
    created_at: IsoTime


def _summary(bundle: ArtifactBundle, project_slug: str) -> BundleSummary:
    return BundleSummary(
        id=bundle.id,
        project=project_slug,
        checksum=bundle.checksum,
        bundle_id=bundle.bundle_id,
        release=bundle.release,
        dist=bundle.dist,
        debug_ids=list(bundle.debug_ids or []),
        file_count=bundle.file_count,
        size=bundle.size,
        created_at=bundle.created_at,
    )


@dataclass(frozen=True, slots=True)
class _File:
    path: str
    kind: str
    url: str
    debug_id: str | None
    sourcemap: str | None


def _manifest(archive: zipfile.ZipFile, limits: Limits) -> tuple[dict[str, object], list[_File]]:
    try:
        manifest = orjson.loads(archive.read("manifest.json"))
    except (KeyError, orjson.JSONDecodeError):
        raise InvalidInput("the bundle has no readable manifest.json") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise InvalidInput("the bundle manifest lists no files")
    if len(files) > limits.bundle_files:
        raise InvalidInput(f"a bundle holds at most {limits.bundle_files} files")
    out: list[_File] = []
    for path, info in files.items():
        if not isinstance(info, dict) or not isinstance(info.get("url"), str):
            continue
        kind = info.get("type") if isinstance(info.get("type"), str) else "source"
        headers = info.get("headers")
        items = headers.items() if isinstance(headers, dict) else ()
        lower = {str(k).lower(): v for k, v in items if isinstance(v, str)}
        debug_id = lower.get("debug-id")
        sourcemap = lower.get("sourcemap") or lower.get("x-sourcemap")
        out.append(
            _File(
                path,
                str(kind)[:32],
                info["url"][:500],
                debug_id.lower()[:64] if debug_id else None,
                sourcemap[:500] if sourcemap else None,
            )
        )
    return manifest, out


def _bundle_bytes(session: Session, chunks: Sequence[str]) -> bytes:
    query = select(UploadChunk.checksum, UploadChunk.data).where(UploadChunk.checksum.in_(chunks))
    rows = {checksum: data for checksum, data in session.execute(query)}
    return b"".join(decompress_payload(rows[c]) for c in chunks)


def assemble_bundle(
    session: Session,
    actor: Actor,
    project_slugs: Sequence[str],
    checksum: str,
    chunks: Sequence[str],
    *,
    release: str | None = None,
    dist: str | None = None,
    limits: Limits = LIMITS,
) -> list[BundleSummary]:
    """Assemble the uploaded chunks into one bundle for each project named (deploy scope).

    The caller has checked that no chunk is missing (`missing_chunks`). Assembling a bundle a
    project already has answers that bundle again.
    """
    checksum = _check_sha1(checksum)
    if not chunks or len(chunks) > limits.bundle_chunks:
        raise InvalidInput(f"a bundle is 1 to {limits.bundle_chunks} chunks")
    targets = [projects.get_project(session, actor, s, scope="deploy") for s in project_slugs]
    if not targets:
        raise InvalidInput("name the project: sentry-cli sourcemaps upload -p PROJECT")
    out: list[BundleSummary] = []
    pending = [p for p in targets if _existing(session, p.id, checksum) is None]
    data = _bundle_bytes(session, [_check_sha1(c) for c in chunks]) if pending else b""
    if pending:
        if len(data) > limits.bundle_size:
            raise InvalidInput(f"a bundle is at most {limits.bundle_size} bytes")
        if hashlib.sha1(data, usedforsecurity=False).hexdigest() != checksum:
            raise InvalidInput("the assembled bundle does not match its checksum")
    for project in targets:
        bundle = _existing(session, project.id, checksum)
        if bundle is None:
            bundle = _store_bundle(session, project.id, checksum, data, release, dist, limits)
            audit.record(
                session,
                actor,
                "sourcemaps.upload",
                target_type="artifact_bundle",
                target_id=bundle.id,
                project_id=project.id,
                after={"release": release, "dist": dist, "files": bundle.file_count},
            )
        out.append(_summary(bundle, project.slug))
    return out


def _existing(session: Session, project_id: int, checksum: str) -> ArtifactBundle | None:
    return session.scalars(
        select(ArtifactBundle).where(
            ArtifactBundle.project_id == project_id, ArtifactBundle.checksum == checksum
        )
    ).first()


def _store_bundle(
    session: Session,
    project_id: int,
    checksum: str,
    data: bytes,
    release: str | None,
    dist: str | None,
    limits: Limits,
) -> ArtifactBundle:
    try:
        # A symbolic source bundle is "SYSB" + version + a zip; zipfile finds the zip's end.
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InvalidInput("the bundle is not a zip archive") from None
    with archive:
        manifest, files = _manifest(archive, limits)
        release = release or _text(manifest.get("release"), 200)
        dist = dist or _text(manifest.get("dist"), 64)
        used = session.scalar(
            select(func.coalesce(func.sum(SourceBlob.size), 0)).where(
                SourceBlob.project_id == project_id
            )
        )
        budget = limits.project_bytes - int(used or 0)
        bundle = ArtifactBundle(
            project_id=project_id,
            checksum=checksum,
            bundle_id=_text(manifest.get("debug_id"), 64),
            release=release,
            dist=dist,
            debug_ids=sorted({f.debug_id for f in files if f.debug_id}),
            file_count=len(files),
            size=len(data),
        )
        session.add(bundle)
        session.flush()
        for file in files:
            try:
                info = archive.getinfo(file.path)
            except KeyError:
                continue
            if info.file_size > limits.file_size:
                raise InvalidInput(f"{file.url}: a file is at most {limits.file_size} bytes")
            content = archive.read(info)
            blob, added = _blob(session, project_id, content)
            budget -= added
            if budget < 0:
                raise InvalidInput(
                    f"the project keeps at most {limits.project_bytes} bytes of source maps"
                )
            session.add(
                ArtifactFile(
                    bundle_id=bundle.id,
                    project_id=project_id,
                    blob_id=blob,
                    kind=file.kind,
                    url=file.url,
                    debug_id=file.debug_id,
                    sourcemap=file.sourcemap,
                    size=len(content),
                )
            )
    session.flush()
    return bundle


def _text(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _blob(session: Session, project_id: int, content: bytes) -> tuple[int, int]:
    """The blob holding `content` (found by sha1 or added), and the bytes newly kept."""
    checksum = hashlib.sha1(content, usedforsecurity=False).hexdigest()
    found = session.scalar(
        select(SourceBlob.id).where(
            SourceBlob.project_id == project_id, SourceBlob.checksum == checksum
        )
    )
    if found is not None:
        return found, 0
    blob = SourceBlob(
        project_id=project_id,
        checksum=checksum,
        size=len(content),
        data=compress_payload(content),
    )
    session.add(blob)
    session.flush()
    return blob.id, len(content)


def read_blob(session: Session, blob_id: int) -> bytes:
    data = session.scalar(select(SourceBlob.data).where(SourceBlob.id == blob_id))
    if data is None:
        raise NotFound(f"no source blob {blob_id}")
    return decompress_payload(data)


def list_bundles(
    session: Session, actor: Actor, slug: str, release: str | None = None, limit: int = 100
) -> list[BundleSummary]:
    """A project's artifact bundles, newest first (read scope); of one release if given."""
    project = projects.get_project(session, actor, slug)
    query = select(ArtifactBundle).where(ArtifactBundle.project_id == project.id)
    if release is not None:
        query = query.where(ArtifactBundle.release == release)
    query = query.order_by(ArtifactBundle.created_at.desc(), ArtifactBundle.id.desc())
    return [_summary(b, project.slug) for b in session.scalars(query.limit(min(limit, 500)))]


def prune_chunks(session: Session, cutoff: datetime, limit: int = 500) -> int:
    """Delete up to `limit` upload chunks older than `cutoff` (uploads never assembled)."""
    ids = list(
        session.scalars(select(UploadChunk.id).where(UploadChunk.uploaded_at < cutoff).limit(limit))
    )
    if ids:
        session.execute(delete(UploadChunk).where(UploadChunk.id.in_(ids)))
    return len(ids)


def prune_bundles(session: Session, cutoff: datetime, limit: int = 100) -> int:
    """Delete up to `limit` bundles past retention, with the blobs no bundle uses any more.

    A bundle older than `cutoff` goes when its release has no event since `cutoff` (the events
    it maps are gone with retention: the bundle goes with its release), or at once when it names
    no release.
    """
    old = session.execute(
        select(ArtifactBundle.id, ArtifactBundle.project_id, ArtifactBundle.release)
        .where(ArtifactBundle.created_at < cutoff)
        .order_by(ArtifactBundle.id)
        .limit(limit * 4)
    ).all()
    doomed: list[int] = []
    for bundle_id, project_id, release in old:
        if release is not None and _release_seen_since(session, project_id, release, cutoff):
            continue
        doomed.append(bundle_id)
        if len(doomed) >= limit:
            break
    if not doomed:
        return 0
    blob_ids = set(
        session.scalars(select(ArtifactFile.blob_id).where(ArtifactFile.bundle_id.in_(doomed)))
    )
    session.execute(delete(ArtifactFile).where(ArtifactFile.bundle_id.in_(doomed)))
    session.execute(delete(ArtifactBundle).where(ArtifactBundle.id.in_(doomed)))
    still_used = set(
        session.scalars(
            select(ArtifactFile.blob_id).where(ArtifactFile.blob_id.in_(sorted(blob_ids)))
        )
    )
    unused = sorted(blob_ids - still_used)
    if unused:
        session.execute(delete(SourceBlob).where(SourceBlob.id.in_(unused)))
    return len(doomed)


def _release_seen_since(session: Session, project_id: int, release: str, cutoff: datetime) -> bool:
    return (
        session.scalar(
            select(ErrorRollup.id)
            .where(
                ErrorRollup.project_id == project_id,
                ErrorRollup.dimension == rollups.release(release),
                ErrorRollup.minute >= cutoff,
            )
            .limit(1)
        )
        is not None
    )


def bundle_url_candidates(abs_path: str) -> list[str]:
    """The URLs a bundle may list a frame's file under: as sent, and as `~/path` (any host).

    >>> bundle_url_candidates("https://shop.example/app.js?v=3")
    ['https://shop.example/app.js?v=3', 'https://shop.example/app.js', '~/app.js']
    """
    out = [abs_path]
    bare = abs_path.split("#", 1)[0].split("?", 1)[0]
    if bare != abs_path:
        out.append(bare)
    _scheme, sep, rest = bare.partition("://")
    if sep and "/" in rest:
        out.append("~/" + rest.split("/", 1)[1])
    elif bare.startswith("/"):
        out.append("~" + bare)
    return out


def map_url_for(minified_url: str, reference: str | None) -> str:
    """Where a minified file's map is listed: its `sourcemap` reference (relative to the
    file), else the file's URL + `.map`.

    >>> map_url_for("~/assets/app.js", "app.js.map"), map_url_for("https://a.b/x.js", None)
    ('~/assets/app.js.map', 'https://a.b/x.js.map')
    """
    if not reference:
        return minified_url + ".map"
    if "://" in reference or reference.startswith("~/"):
        return reference
    if "://" in minified_url:
        return urljoin(minified_url, reference)
    return posixpath.normpath(posixpath.join(posixpath.dirname(minified_url), reference))
