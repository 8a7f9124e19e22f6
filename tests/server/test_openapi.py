"""/api/v1/openapi.json describes every body: each operation declares a typed success response
(no free-form `object`), and the error statuses every route can answer with
`{"error","detail"}`."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

ERROR_STATUSES = ("401", "403", "404", "422", "4XX", "5XX")


def _untyped(
    schema: dict[str, Any] | None, schemas: dict[str, Any], seen: tuple[str, ...] = ()
) -> bool:
    """True when `schema` leaves part of the body undescribed (an open object, an empty schema)."""
    if not schema:
        return True
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return name not in seen and _untyped(schemas[name], schemas, (*seen, name))
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return any(_untyped(s, schemas, seen) for s in schema[key] if s.get("type") != "null")
    kind = schema.get("type")
    if kind == "array":
        return _untyped(schema.get("items"), schemas, seen)
    if kind == "object" or (kind is None and "properties" in schema):
        if schema.get("properties"):
            return False
        extra = schema.get("additionalProperties")
        return not isinstance(extra, dict) or _untyped(extra, schemas, seen)
    return kind is None


BINARY = {"type": "string", "format": "binary"}


def _problems(document: dict[str, Any]) -> list[str]:
    schemas = document.get("components", {}).get("schemas", {})
    found = []
    for path, operations in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            responses = operation.get("responses", {})
            successes = [code for code in responses if code.startswith("2")]
            if not successes:
                found.append(f"{method.upper()} {path}: no success response")
            for code in successes:
                content = responses[code].get("content") or {}
                if code == "204" and not content:
                    continue
                if "text/event-stream" in content:
                    continue
                if content.get("application/octet-stream", {}).get("schema") == BINARY:
                    continue  # a file (an attachment's bytes), described as one
                schema = content.get("application/json", {}).get("schema")
                if _untyped(schema, schemas):
                    found.append(f"{method.upper()} {path}: {code} body not described")
            for code in ERROR_STATUSES:
                body = responses.get(code, {}).get("content", {}).get("application/json", {})
                if body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1] != "ErrorBody":
                    found.append(f"{method.upper()} {path}: {code} not the error body")
    return found


@pytest.fixture
def document(anon_client: TestClient) -> dict[str, Any]:
    response = anon_client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_openapi__every_api_route__typed_success_and_error_bodies(document: dict[str, Any]) -> None:
    assert _problems(document) == []


def test_openapi__error_body__error_and_detail(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"error", "detail"}


def test_openapi__checker__catches_open_object() -> None:
    document = {
        "paths": {
            "/api/v1/x": {
                "get": {
                    "responses": {
                        "200": {"content": {"application/json": {"schema": {"type": "object"}}}}
                    }
                }
            }
        }
    }
    problems = _problems(document)
    assert "GET /api/v1/x: 200 body not described" in problems
    assert "GET /api/v1/x: 422 not the error body" in problems
