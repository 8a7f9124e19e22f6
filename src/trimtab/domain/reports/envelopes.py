"""What an incoming Sentry request becomes: the ingest job of an envelope or a `/store/` body.

The server authenticates the request, bounds and decodes its body (`core.decompress`) and
hands the bytes here. This module decides what each envelope item becomes (pure: no database,
so a large body can be read in a thread):

- `event`: the job's event, grouped and indexed by `ingest.prepare_event`;
- `session` / `sessions`: session updates / aggregates for release health. A broken one is
  dropped, as Relay drops it: a bad session item never costs the event sent with it;
- `attachment`: bound to the envelope's event id (`reports.attachments`), bounded by the
  writer; `feedback` / `user_report`: user feedback (`core.feedback`, `reports.feedback`).
  A broken one is dropped like a broken session;
- `log` / `client_report`: log lines kept, what the SDK discarded counted
  (`domain.reports.telemetry`);
- every other type (transactions, check-ins, replays, types trimtab has never
  heard of): accepted and skipped, so the SDK does not send it again, and counted per data
  category and day; for the categories trimtab never stores the answer carries
  X-Sentry-Rate-Limits (`rate_limits`), so the SDK stops sending them.

Skipped and dropped items are listed with the reason, for the server's log and for tests.
The envelope header's `dsn` is handed back as it came: the key it names is the server's to
check, like the key of X-Sentry-Auth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import orjson

from trimtab.core.envelope import (
    DEFAULT_LIMITS,
    EnvelopeError,
    EnvelopeItem,
    Limits,
    parse_envelope,
    parse_store_body,
    replace_nul,
)
from trimtab.core.feedback import InvalidFeedback, parse_feedback_event, parse_user_report
from trimtab.core.sessions import InvalidSession, parse_session, parse_sessions
from trimtab.domain.reports import telemetry
from trimtab.domain.reports.attachments import prepare_attachment
from trimtab.domain.reports.ingest import IngestJob, prepare_event

__all__ = ["EnvelopeJob", "NotStored", "envelope_job", "store_job"]

_PERFORMANCE = "performance data is not stored"
_REPLAY = "session replays are not stored"
_SECURITY = "security reports are not stored"
_METRICS = "metrics are not stored"
# Why each item type Sentry SDKs send is not kept; other types get `_UNKNOWN`.
_SKIPPED_BECAUSE = {
    "transaction": _PERFORMANCE,
    "span": _PERFORMANCE,
    "profile": _PERFORMANCE,
    "profile_chunk": _PERFORMANCE,
    "replay_event": _REPLAY,
    "replay_recording": _REPLAY,
    "replay_video": _REPLAY,
    "check_in": "cron check-ins are not stored",
    "security": _SECURITY,
    "raw_security": _SECURITY,
    "nel": _SECURITY,
    "statsd": _METRICS,
    "metric_buckets": _METRICS,
    "otel_log": "OpenTelemetry log items are not stored: send Sentry logs (`log` items)",
}
_UNKNOWN = "trimtab does not know this item type"
_TYPE_MAX = 64  # item types are client input: what a report quotes of one is bounded


@dataclass(frozen=True, slots=True)
class NotStored:
    """An envelope item left out of the job: its place in the envelope, type and why."""

    index: int
    type: str
    reason: str


@dataclass(slots=True)
class EnvelopeJob:
    """What one envelope leaves to the ingest writer, and what it leaves out."""

    job: IngestJob
    event_id: str | None  # from the envelope header: the answer when no event is stored
    dsn: str | None  # from the envelope header, unchecked
    skipped: list[NotStored] = field(default_factory=list)  # accepted, of a type not kept
    dropped: list[NotStored] = field(default_factory=list)  # broken, thrown away
    # X-Sentry-Rate-Limits for the answer: the categories trimtab does not store, when sent
    rate_limits: str | None = None


def envelope_job(
    data: bytes,
    project_id: int,
    *,
    received_at: datetime,
    client_ip: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> EnvelopeJob:
    """Parse a decoded envelope body and turn its items into one ingest job.

    Raises `EnvelopeError` for a body that is not a well-formed envelope within `limits`.
    """
    envelope = parse_envelope(data, limits)
    out = EnvelopeJob(IngestJob(project_id), envelope.event_id, envelope.dsn)
    job = out.job
    for index, item in enumerate(envelope.items):
        if item.type == "event":
            job.event = prepare_event(
                project_id,
                item.event_view(),
                item.payload,
                received_at,
                fallback_event_id=envelope.event_id,
                client_ip=client_ip,
            )
        elif item.type in ("session", "sessions"):
            reason = _add_sessions(job, item, received_at)
            if reason is not None:
                out.dropped.append(NotStored(index, item.type, reason))
        elif item.type in telemetry.KEPT_TYPES:
            reason = telemetry.add_item(job, item, received_at)
            if reason is not None:
                out.dropped.append(NotStored(index, item.type, reason))
        elif item.type in _USER_ITEM_TYPES:
            reason = _add_user_item(job, item, envelope.event_id, received_at, limits)
            if reason is not None:
                out.dropped.append(NotStored(index, item.type, reason))
        else:
            reason = _SKIPPED_BECAUSE.get(item.type, _UNKNOWN)
            out.skipped.append(NotStored(index, item.type[:_TYPE_MAX], reason))
            telemetry.count_not_stored(job, item)
    out.rate_limits = telemetry.rate_limits(job)
    return out


def _add_sessions(job: IngestJob, item: EnvelopeItem, received_at: datetime) -> str | None:
    """Add a session item to the job; why it was dropped instead, if it was."""
    try:
        value = replace_nul(item.json(), item.payload)  # releases, environments: indexed text
        if item.type == "session":
            job.session_updates.append(parse_session(value, received_at))
        else:
            job.session_aggregates.extend(parse_sessions(value))
    except (InvalidSession, EnvelopeError) as exc:
        return str(exc)
    return None


_USER_ITEM_TYPES = frozenset({"attachment", "feedback", "user_report"})


def _add_user_item(
    job: IngestJob,
    item: EnvelopeItem,
    event_id: str | None,
    received_at: datetime,
    limits: Limits,
) -> str | None:
    """Add an attachment or a feedback to the job; why it was dropped instead, if it was.
    Feedback is bounded like an event (Relay's too); attachments by the writer's bounds."""
    if item.type == "attachment":
        prepared = prepare_attachment(job.project_id, item, event_id, received_at)
        if isinstance(prepared, str):
            return prepared
        job.attachments.append(prepared)
        return None
    if len(item.payload) > limits.max_event_bytes:
        return f"{item.type} is over the {limits.max_event_bytes} byte event limit"
    try:
        if item.type == "feedback":
            feedback = parse_feedback_event(item.json(), event_id)
        else:
            feedback = parse_user_report(item.json())
    except (InvalidFeedback, EnvelopeError) as exc:
        return str(exc)
    job.feedback.append((feedback, received_at))
    return None


def store_job(
    data: bytes,
    project_id: int,
    *,
    received_at: datetime,
    client_ip: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> IngestJob:
    """The ingest job of a decoded `/store/` body: one event (JSON, or the legacy base64 +
    zlib form, which is kept as the JSON it unpacks to)."""
    event = parse_store_body(data, limits)
    payload = orjson.dumps(event) if data.lstrip()[:1] != b"{" else data
    return IngestJob(
        project_id, prepare_event(project_id, event, payload, received_at, client_ip=client_ip)
    )
