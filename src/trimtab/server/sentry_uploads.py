"""The part of Sentry's API that `sentry-cli info` and `sentry-cli sourcemaps upload` call.

- `GET /api/0/`: who the token is (sentry-cli `info` checks a token with it);
- `GET /api/0/organizations/{org}/chunk-upload/`: how to upload (chunk size, counts, gzip);
- `POST` the same: a multipart body of chunks, each part named by the sha1 of its bytes
  (`file`, or `file_gzip` gzip-compressed);
- `POST /api/0/organizations/{org}/artifactbundle/assemble/`: which chunks are missing, or the
  bundle assembled (`domain.reports.artifacts`); with `version`/`dist` for
  `sourcemaps upload --release R --dist D`.

The routes of features trimtab does not have (debug files, ProGuard, legacy release files,
monitors, …) answer 501 with a `detail` naming the feature: sentry-cli reads a 404 from most of
them as "organization not found" or "project not found", which would send the user looking for
a typo that is not there. Other unknown routes stay 404 (with the reason): sentry-cli reads
some 404s as "none" (`previous-with-commits` in `set-commits`).
"""

from __future__ import annotations

import zlib
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from trimtab.domain.errors import Forbidden, InvalidInput
from trimtab.domain.reports import artifacts
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.server.auth import current_actor, store_of
from trimtab.server.errors import error_response
from trimtab.server.sentry_api import check_org

router = APIRouter(prefix="/api/0", tags=["sentry-compatible uploads"], include_in_schema=False)
# Included after every other /api/0 route: it answers what none of them serves.
unsupported_router = APIRouter(prefix="/api/0", include_in_schema=False)

LIMITS = artifacts.LIMITS
ASSEMBLE_MAX_WAIT_S = 60


@router.get("/")
def token_info(actor: Actor = Depends(current_actor)) -> Any:
    user = None
    if actor.user_id is not None:
        user = {"id": str(actor.user_id), "email": actor.name, "username": actor.name}
    return {"user": user, "auth": {"scopes": sorted(actor.scopes)}}


@router.get("/organizations/{org}/chunk-upload/")
def chunk_upload_options(org: str, request: Request, actor: Actor = Depends(current_actor)) -> Any:
    check_org(request, org)
    return {
        # Relative: sentry-cli puts it under the server URL it was given, so a proxy in front of
        # trimtab needs no setting to be right.
        "url": f"/organizations/{org}/chunk-upload/",
        "chunkSize": LIMITS.chunk_size,
        "chunksPerRequest": LIMITS.chunks_per_request,
        "maxFileSize": LIMITS.bundle_size,
        "maxRequestSize": LIMITS.request_size,
        "maxWait": ASSEMBLE_MAX_WAIT_S,
        "concurrency": 2,
        "hashAlgorithm": "sha1",
        "compression": ["gzip"],
        # Of sentry-cli's upload kinds, artifact bundles are the one kept. sentry-cli 2.x (the
        # npm @sentry/cli) uploads source maps in chunks only when `release_files` is named
        # too (else it falls back to the per-file release API, not served here); it then
        # assembles an artifact bundle, as `artifact_bundles` is named. 3.x ignores it.
        "accept": ["release_files", "artifact_bundles"],
    }


def _gunzip(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise InvalidInput("a file_gzip chunk is not gzip data") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise InvalidInput(f"a chunk is at most {limit} bytes")
    return out


@router.post("/organizations/{org}/chunk-upload/")
async def upload_chunks(org: str, request: Request, actor: Actor = Depends(current_actor)) -> Any:
    check_org(request, org)
    # Chunks belong to no project (a chunk is named by its sha1: having it proves nothing is
    # learnt), so a token bound to its project may upload them; assembly checks the project.
    if not actor.has_scope("deploy"):
        raise Forbidden(f"uploading needs the 'deploy' scope; the token has {sorted(actor.scopes)}")
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > LIMITS.request_size:
        raise InvalidInput(f"an upload request is at most {LIMITS.request_size} bytes")
    form = await request.form(
        max_files=LIMITS.chunks_per_request, max_fields=LIMITS.chunks_per_request
    )
    chunks: list[tuple[str, bytes]] = []
    try:
        for name, part in form.multi_items():
            if not isinstance(part, UploadFile) or name not in ("file", "file_gzip"):
                continue
            data = await part.read(LIMITS.chunk_size * 2 + 1)
            if name == "file_gzip":
                data = _gunzip(data, LIMITS.chunk_size)
            chunks.append((part.filename or "", data))
    finally:
        await form.close()
    with store_of(request).write() as session:
        artifacts.store_chunks(session, chunks)
    return {}


class AssembleIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    checksum: str = Field(min_length=40, max_length=40)
    chunks: list[str] = Field(max_length=LIMITS.bundle_chunks)
    projects: list[str] = Field(default_factory=list, max_length=50)
    version: str | None = Field(default=None, max_length=200)
    dist: str | None = Field(default=None, max_length=64)


@router.post("/organizations/{org}/artifactbundle/assemble/")
def assemble_artifact_bundle(
    org: str, body: AssembleIn, request: Request, actor: Actor = Depends(current_actor)
) -> Any:
    check_org(request, org)
    slugs = body.projects
    try:
        # The refusal leaves the transaction, so half a bundle is never kept.
        with store_of(request).write() as session:
            if not slugs and actor.project_id is not None:
                slugs = [p.slug for p in projects.list_projects(session, actor)]
            missing = artifacts.missing_chunks(session, body.chunks)
            if missing:
                for slug in slugs:  # the token must reach the projects before it is told more
                    projects.get_project(session, actor, slug, scope="deploy")
                return {"state": "not_found", "missingChunks": missing, "detail": None}
            artifacts.assemble_bundle(
                session,
                actor,
                slugs,
                body.checksum,
                body.chunks,
                release=body.version or None,
                dist=body.dist or None,
            )
    except InvalidInput as exc:
        # sentry-cli polls until "ok" or "error" and prints the detail of an error.
        return {"state": "error", "missingChunks": [], "detail": exc.detail}
    return {"state": "ok", "missingChunks": [], "detail": None}


_UNSUPPORTED = (
    ("difs", "debug information files (sentry-cli debug-files upload)"),
    ("dsyms", "debug information files (sentry-cli debug-files upload)"),
    ("proguard", "ProGuard mappings"),
    ("preprodartifacts", "build uploads (sentry-cli build upload)"),
    (
        "/files/",
        "release files (the legacy source map upload: use sentry-cli 2.17 or newer, "
        "which uploads artifact bundles)",
    ),
    ("monitors", "cron monitors"),
    ("issues", "issue changes through the Sentry API (use trimtab issue ...)"),
    ("events", "reading events through the Sentry API (use trimtab issue ...)"),
)


@unsupported_router.api_route("/{rest:path}/", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def unsupported(rest: str, actor: Actor = Depends(current_actor)) -> Any:
    # Only paths with sentry-cli's trailing slash land here: one without it is still
    # redirected to it (Starlette's slash redirect), like every other route.
    path = "/" + rest[:200] + "/"
    feature = next((what for key, what in _UNSUPPORTED if key in path), None)
    if feature is None:
        # sentry-cli reads a 404 as "none" on some routes (previous-with-commits): an unknown
        # route stays a 404, with the reason in its detail.
        return error_response(
            404, "not_found", f"trimtab does not serve this Sentry API route ({path})"
        )
    return error_response(501, "not_supported", f"trimtab does not support {feature}")
