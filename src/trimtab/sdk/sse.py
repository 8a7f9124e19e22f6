"""A server-sent events parser (the WHATWG event-stream format), fed line by line."""

from __future__ import annotations

from dataclasses import dataclass

MAX_EVENT_BYTES = 1 << 20  # a runaway `data` field must not grow memory without bound


@dataclass(frozen=True)
class ServerEvent:
    event: str
    data: str
    id: str | None = None


class EventParser:
    """Feed it the stream's lines (without line endings); it returns complete events."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._size = 0
        self._id: str | None = None
        self.last_id: str | None = None
        self.retry_ms: int | None = None

    def feed(self, line: str) -> ServerEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment: heartbeats and the "connected" greeting
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._size += len(value) + 1
            if self._size <= MAX_EVENT_BYTES:
                self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> ServerEvent | None:
        if self._id is not None:
            self.last_id = self._id
        data, event, oversized = "\n".join(self._data), self._event, self._size > MAX_EVENT_BYTES
        had_data = bool(self._data)
        self._event, self._data, self._size, self._id = "", [], 0, None
        if not had_data or oversized:
            return None
        return ServerEvent(event or "message", data, self.last_id)
