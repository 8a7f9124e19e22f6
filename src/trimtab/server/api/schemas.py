"""Request bodies of the JSON API. Every field is bounded: no input is unlimited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, model_validator

from trimtab.store.models import MAX_BIG_ROW_ID, MAX_ROW_ID

Name = Field(min_length=1, max_length=64)
# A row id in a path: one out of range names nothing and is answered 404 (server/errors.py),
# never handed to the database, where PostgreSQL would overflow.
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
# The same for a table with 64-bit ids (`BigId`: issues, ...).
BigRowId = Annotated[int, Path(ge=1, le=MAX_BIG_ROW_ID)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # PostgreSQL text cannot hold NUL (U+0000); refused in every body, on every store.
        if _holds_nul(data):
            raise ValueError("text must not contain NUL (U+0000) characters")
        return data


def _holds_nul(data: Any) -> bool:
    pending = [data]  # a loop, not recursion: a body may nest deeply
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


class ProjectCreate(Body):
    slug: str = Name
    name: str | None = Field(default=None, max_length=200)
    environments: list[str] | None = Field(default=None, max_length=50)


class ProjectUpdate(Body):
    unleash_strict: bool | None = None


class EnvironmentCreate(Body):
    name: str = Name


class TokenCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=5)
    project: str | None = Field(default=None, max_length=64)
    environment: str | None = Field(default=None, max_length=64)


class KeyCreate(Body):
    name: str = Field(default="default", min_length=1, max_length=200)
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=10_000_000)
