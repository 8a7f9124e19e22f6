"""What every typed domain result shares.

Domain functions return Pydantic models (named for what they describe: `FlagDetail`,
`RunSummary`, `TokenCreated`…) instead of dicts, so the JSON API can declare them as response
models and `/api/v1/openapi.json` describes every body. A `Result` serializes to exactly the JSON
the API has always sent: timestamps stay `datetime.isoformat()` text (`+00:00`, not `Z`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer


def iso(value: datetime | None) -> str | None:
    """A timestamp as the API writes it (`2026-12-01T06:10:00+00:00`), None stays None."""
    return value.isoformat() if value is not None else None


# A datetime field that serializes as `isoformat()` text, like every timestamp the API sends.
IsoTime = Annotated[datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str)]


class Result(BaseModel):
    """Base of every typed result: fields are declared, nothing else slips into a response."""

    model_config = ConfigDict(extra="forbid")


class Deleted(Result):
    """What a DELETE answers: the name of what is gone."""

    deleted: str
