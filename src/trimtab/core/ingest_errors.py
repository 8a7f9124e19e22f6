"""The one exception hierarchy for refusing an ingest request body.

Each error carries what the HTTP layer needs to answer: `status` (400 or 413), a short stable
`code` for machines, and a `detail` sentence for the developer whose SDK sent the body. The
tree is drawn in `trimtab.core.envelope`'s docstring, which re-exports every class.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BodyTooLarge",
    "DecompressionBomb",
    "DuplicateItem",
    "EnvelopeError",
    "EventTooLarge",
    "InvalidEncoding",
    "InvalidJson",
    "InvalidUtf8",
    "TooLarge",
    "TooManyItems",
    "TruncatedEnvelope",
]


class EnvelopeError(ValueError):
    """A request body trimtab refuses; `status`, `code` and `detail` say how and why."""

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "invalid_envelope"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code

    def as_dict(self) -> dict[str, str]:
        """The JSON body of the error response."""
        return {"code": self.code, "detail": self.detail}


class InvalidEncoding(EnvelopeError):
    default_code = "invalid_compression"


class TruncatedEnvelope(EnvelopeError):
    default_code = "truncated_envelope"


class InvalidJson(EnvelopeError):
    default_code = "invalid_json"


class InvalidUtf8(EnvelopeError):
    default_code = "invalid_utf8"


class DuplicateItem(EnvelopeError):
    default_code = "duplicate_item"


class TooLarge(EnvelopeError):
    status = 413
    default_code = "too_large"


class BodyTooLarge(TooLarge):
    default_code = "body_too_large"


class DecompressionBomb(TooLarge):
    default_code = "decompressed_too_large"


class EventTooLarge(TooLarge):
    default_code = "event_too_large"


class TooManyItems(TooLarge):
    default_code = "too_many_items"
