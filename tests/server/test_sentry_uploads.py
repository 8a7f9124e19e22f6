"""sentry-cli's upload protocol over HTTP (in-process): chunk options, gzip chunks checked by
sha1, assembly answered not_found / ok / error, and a refused bundle leaving nothing behind."""

from __future__ import annotations

import gzip
import hashlib

from fastapi.testclient import TestClient

from tests.domain.test_artifacts import _bundle, _files

ORG = "/api/0/organizations/trimtab"


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def _assemble(client: TestClient, data: bytes) -> dict[str, object]:
    body = {"checksum": _sha1(data), "chunks": [_sha1(data)], "projects": ["shop"]}
    response = client.post(f"{ORG}/artifactbundle/assemble/", json=body)
    assert response.status_code == 200, response.text
    found: dict[str, object] = response.json()
    return found


def test_chunk_upload__gzip_chunk__assembled_into_a_listed_bundle(client: TestClient) -> None:
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    options = client.get(f"{ORG}/chunk-upload/").json()
    assert options["hashAlgorithm"] == "sha1" and options["compression"] == ["gzip"]
    data = _bundle(_files("aa-1"))
    assert _assemble(client, data) == {
        "state": "not_found", "missingChunks": [_sha1(data)], "detail": None,
    }  # fmt: skip
    files = {"file_gzip": (_sha1(data), gzip.compress(data), "application/octet-stream")}
    assert client.post(f"{ORG}/chunk-upload/", files=files).status_code == 200
    assert _assemble(client, data)["state"] == "ok"
    listed = client.get("/api/v1/projects/shop/sourcemaps").json()
    assert [b["debug_ids"] for b in listed] == [["aa-1"]]


def test_chunk_upload__bytes_not_matching_their_name__refused(client: TestClient) -> None:
    files = {"file": (_sha1(b"one"), b"two", "application/octet-stream")}
    response = client.post(f"{ORG}/chunk-upload/", files=files)
    assert response.status_code == 422 and "does not match its sha1" in response.json()["detail"]


def test_assemble__not_a_bundle__error_state_and_nothing_kept(client: TestClient) -> None:
    assert client.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
    data = b"not a zip at all"
    files = {"file": (_sha1(data), data, "application/octet-stream")}
    assert client.post(f"{ORG}/chunk-upload/", files=files).status_code == 200
    answer = _assemble(client, data)
    assert answer["state"] == "error" and "not a zip" in str(answer["detail"])
    assert client.get("/api/v1/projects/shop/sourcemaps").json() == []
