"""Source map uploads in the domain: chunks checked and kept, bundles assembled per project with
blobs shared by sha1, every bound refused with its reason, retention pruning bundles and chunks."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from trimtab.domain.errors import Forbidden, InvalidInput
from trimtab.domain.reports import artifacts
from trimtab.domain.reports.artifacts import Limits
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SYSTEM, Actor
from trimtab.store.db import Store
from trimtab.store.models import ArtifactBundle, SourceBlob, UploadChunk


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def _bundle(files: dict[str, tuple[str, bytes, dict[str, str]]], **attrs: Any) -> bytes:
    """A sentry-cli-like bundle: "SYSB" + version, then a zip with manifest.json."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        manifest: dict[str, Any] = {"files": {}, **attrs}
        for path, (url, content, headers) in files.items():
            archive.writestr(path, content)
            manifest["files"][path] = {"url": url, "type": _kind(url), "headers": headers}
        archive.writestr("manifest.json", orjson.dumps(manifest))
    return b"SYSB\x02\x00\x00\x00" + buffer.getvalue()


def _kind(url: str) -> str:
    return "source_map" if url.endswith(".map") else "minified_source"


def _files(debug_id: str, source: bytes = b"a();") -> dict[str, tuple[str, bytes, dict[str, str]]]:
    return {
        "files/_/_/app.js": ("~/app.js", source, {"debug-id": debug_id, "sourcemap": "app.js.map"}),
        "files/_/_/app.js.map": ("~/app.js.map", b'{"version":3}', {"debug-id": debug_id}),
    }


def _upload(store: Store, data: bytes, size: int = 1024, **kwargs: Any) -> list[Any]:
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    with store.write() as session:
        artifacts.store_chunks(session, [(_sha1(c), c) for c in chunks])
    with store.write() as session:
        assert artifacts.missing_chunks(session, [_sha1(c) for c in chunks]) == []
        return artifacts.assemble_bundle(
            session, SYSTEM, ["shop"], _sha1(data), [_sha1(c) for c in chunks], **kwargs
        )


@pytest.fixture
def shop(store: Store) -> int:
    with store.write() as session:
        projects.ensure_organization(session, "acme")
        return projects.create_project(session, SYSTEM, "shop").id


def test_assemble__chunks_uploaded__bundle_listed_with_debug_ids(store: Store, shop: int) -> None:
    data = _bundle(_files("aa-1"), debug_id="bundle-1")
    [summary] = _upload(store, data, size=100, release="shop@1", dist="web")
    assert (summary.release, summary.dist, summary.debug_ids) == ("shop@1", "web", ["aa-1"])
    assert summary.file_count == 2 and summary.bundle_id == "bundle-1"
    with store.read() as session:
        listed = artifacts.list_bundles(session, SYSTEM, "shop", release="shop@1")
        assert [b.checksum for b in listed] == [_sha1(data)]
        assert artifacts.list_bundles(session, SYSTEM, "shop", release="shop@2") == []


def test_assemble__same_bundle_twice__one_bundle(store: Store, shop: int) -> None:
    data = _bundle(_files("aa-1"))
    first = _upload(store, data)
    assert _upload(store, data)[0].id == first[0].id


def test_assemble__second_build_same_map__blob_shared(store: Store, shop: int) -> None:
    _upload(store, _bundle(_files("aa-1", b"one();")))
    _upload(store, _bundle(_files("bb-2", b"two();")))
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(ArtifactBundle)) == 2
        # app.js differs, app.js.map is the same bytes: three blobs for four files
        assert session.scalar(select(func.count()).select_from(SourceBlob)) == 3


def test_store_chunks__bytes_not_matching_name__refused(store: Store, shop: int) -> None:
    with store.write() as session, pytest.raises(InvalidInput, match="does not match its sha1"):
        artifacts.store_chunks(session, [(_sha1(b"x"), b"y")])


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        (Limits(chunk_size=10), "a chunk is at most 10 bytes"),
        (Limits(chunks_per_request=1), "at most 1 chunks per request"),
        (Limits(pending_chunk_bytes=10), "wait for assembly"),
    ],
)
def test_store_chunks__beyond_bound__refused(
    store: Store, shop: int, limits: Limits, reason: str
) -> None:
    chunks = [(_sha1(b"a" * 11), b"a" * 11), (_sha1(b"b" * 11), b"b" * 11)]
    with store.write() as session, pytest.raises(InvalidInput, match=reason):
        artifacts.store_chunks(session, chunks, limits)


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        (Limits(bundle_size=100), "a bundle is at most 100 bytes"),
        (Limits(bundle_files=1), "at most 1 files"),
        (Limits(file_size=5), "a file is at most 5 bytes"),
        (Limits(project_bytes=5), "keeps at most 5 bytes"),
    ],
)
def test_assemble__beyond_bound__refused(
    store: Store, shop: int, limits: Limits, reason: str
) -> None:
    data = _bundle(_files("aa-1"))
    with store.write() as session:
        artifacts.store_chunks(session, [(_sha1(data), data)])
    with store.write() as session, pytest.raises(InvalidInput, match=reason):
        artifacts.assemble_bundle(
            session, SYSTEM, ["shop"], _sha1(data), [_sha1(data)], limits=limits
        )


def test_assemble__not_a_zip__refused(store: Store, shop: int) -> None:
    with pytest.raises(InvalidInput, match="not a zip"):
        _upload(store, b"not a bundle")


def test_assemble__read_token__forbidden(store: Store, shop: int) -> None:
    data = _bundle(_files("aa-1"))
    reader = Actor(kind="token", name="ci", scopes=frozenset({"read"}))
    with store.write() as session:
        artifacts.store_chunks(session, [(_sha1(data), data)])
    with store.write() as session, pytest.raises(Forbidden):
        artifacts.assemble_bundle(session, reader, ["shop"], _sha1(data), [_sha1(data)])


def test_prune_bundles__release_without_recent_events__bundle_and_blobs_gone(
    store: Store, shop: int
) -> None:
    _upload(store, _bundle(_files("aa-1")), release="shop@1")
    now = datetime.now(UTC)
    with store.write() as session:
        assert artifacts.prune_bundles(session, now - timedelta(days=1)) == 0  # still young
        assert artifacts.prune_bundles(session, now + timedelta(minutes=1)) == 1
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(SourceBlob)) == 0


def test_prune_chunks__abandoned_upload__removed(store: Store, shop: int) -> None:
    now = datetime.now(UTC)
    with store.write() as session:
        artifacts.store_chunks(session, [(_sha1(b"x"), b"x")])
        assert artifacts.prune_chunks(session, now - timedelta(hours=1)) == 0
        assert artifacts.prune_chunks(session, now + timedelta(minutes=1)) == 1
        assert session.scalar(select(func.count()).select_from(UploadChunk)) == 0


def test_bundle_url_candidates__full_url__tilde_form_without_query() -> None:
    assert artifacts.bundle_url_candidates("https://a.example/x/app.js?v=2#f") == [
        "https://a.example/x/app.js?v=2#f",
        "https://a.example/x/app.js",
        "~/x/app.js",
    ]
