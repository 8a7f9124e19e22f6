"""Store Sentry events: group each into an issue, keep it compressed, count it everywhere.

`domain.reports.envelopes` turns a request body into an `IngestJob`, calling `prepare_event`
(pure work: grouping and the indexed fields, done in the request so the writer thread only
writes). The ingest writer then hands a batch of prepared events from many requests to
`store_events`, inside ONE write transaction:

- events whose id is already stored (an SDK retrying after a timeout) are acknowledged again
  but counted once;
- each event's issue is found by (project, fingerprint) or created; its counts, first/last
  seen, first release/environment, level and title are updated; a resolved issue reopens as a
  regression and an ignored one re-surfaces (`domain.issue_status`);
- the event row keeps the JSON as the SDK sent it, zstandard-compressed (`store.payloads`),
  but for a user ip_address of "{{auto}}", stored as the address the request came from;
- distinct users (`IssueUser`), facets (release, environment, level and every tag) and the
  per-minute rollups (total, release, flag results from `contexts.flags`, the `dependency` tag,
  issue) are upserted in bulk;
- `issue.new` / `issue.regressed` notifications are queued and announced in the same
  transaction, so nothing is told about an event that was not stored.

The `dependency` tag: an application that calls another service tags the errors that service
caused, e.g. `sentry_sdk.set_tag("dependency", "payments-api")`; dependency health reads the
`dependency:<name>` rollup.
"""

from __future__ import annotations

import contextlib
import hashlib
import operator
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from trimtab.core.envelope import decode_json_object, replace_nul
from trimtab.core.event_fields import EventFields, extract_fields, with_client_ip
from trimtab.core.feedback import Feedback
from trimtab.core.grouping import GroupingResult, group_event
from trimtab.core.js_frames import js_frame_count
from trimtab.core.sentry_logs import LogRecord
from trimtab.core.sessions import SessionAggregate, SessionUpdate
from trimtab.core.user_agent import event_user_agent, fill_missing_contexts
from trimtab.domain.reports import logs, usage
from trimtab.domain.reports.attachments import (
    AttachmentLimits,
    PreparedAttachment,
    store_attachments,
)
from trimtab.domain.reports.feedback import bind_feedback, store_feedback
from trimtab.domain.reports.issue_status import after_event
from trimtab.domain.reports.js_mapping import apply_source_maps
from trimtab.domain.reports.release_health import record_sessions
from trimtab.domain.spine.notifications import notify
from trimtab.store import bulk, rollups
from trimtab.store.models import ErrorRollup, Issue
from trimtab.store.models.base import UTCDateTime
from trimtab.store.notify import Change, announce
from trimtab.store.payloads import compress_payload

__all__ = [
    "IngestJob",
    "PreparedEvent",
    "StoredEvent",
    "prepare_event",
    "store_batch",
    "store_events",
    "user_digest",
]

DEPENDENCY_TAG = "dependency"
_IN_CHUNK = 400  # bound on values in one IN (...) list
_FACET_KEY_MAX = 64
_FACET_VALUE_MAX = 200


@dataclass(slots=True)
class PreparedEvent:
    """One event ready to store: what the SDK sent plus what trimtab derived from it."""

    project_id: int
    event_id: str
    payload: bytes  # the event JSON exactly as received
    fields: EventFields
    grouping: GroupingResult
    received_at: datetime
    # Worked out in the request, so the single writer thread only writes:
    facets: tuple[tuple[str, str], ...] = ()
    dimensions: tuple[str, ...] = ()  # rollup dimensions, all but issue(id)
    user_hash: str | None = None
    # It has JavaScript frames: the writer maps them if the project has source maps.
    has_js_frames: bool = False
    # `payload` zstd-compressed as stored (`compress_payloads`); None: not yet, or changed since.
    stored_payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event_id: str
    issue_id: int
    duplicate: bool  # already stored by an earlier request; not counted again


@dataclass(slots=True)
class IngestJob:
    """What one ingest request leaves to the writer: its event, session items, attachments
    and user feedback."""

    project_id: int
    event: PreparedEvent | None = None
    session_updates: list[SessionUpdate] = field(default_factory=list)
    session_aggregates: list[SessionAggregate] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)  # `log` items (domain.reports.logs)
    # (data category, outcome) -> items not stored, and client reports (domain.reports.usage)
    usage: dict[tuple[str, str], int] = field(default_factory=dict)
    attachments: list[PreparedAttachment] = field(default_factory=list)
    feedback: list[tuple[Feedback, datetime]] = field(default_factory=list)  # with received_at

    @property
    def stores_nothing(self) -> bool:
        """No event, session, attachment, feedback, log line or count: nothing for the writer."""
        return (
            self.event is None
            and not self.session_updates
            and not self.session_aggregates
            and not self.logs
            and not self.usage
            and not self.attachments
            and not self.feedback
        )


def store_batch(
    session: Session,
    jobs: Sequence[IngestJob],
    *,
    max_logs_per_day: int = logs.DEFAULT_MAX_LOGS_PER_DAY,
    attachment_limits: AttachmentLimits = AttachmentLimits(),
) -> list[StoredEvent | None]:
    """Store the jobs of many requests in the caller's transaction (the writer's group commit):
    events through `store_events`, sessions through release health, then attachments and
    feedback (after the events, so feedback sent with its event finds its issue), log lines
    and the counts of what was not stored through `store_logs_and_usage`. One result per job."""
    events = [job.event for job in jobs if job.event is not None]
    apply_source_maps(session, events)
    stored_events = store_events(session, events)
    stored = iter(stored_events)
    results = [next(stored) if job.event is not None else None for job in jobs]
    _store_user_items(session, jobs, stored_events, attachment_limits)
    by_project: dict[int, tuple[list[SessionUpdate], list[SessionAggregate]]] = {}
    for job in jobs:
        if job.session_updates or job.session_aggregates:
            updates, aggregates = by_project.setdefault(job.project_id, ([], []))
            updates.extend(job.session_updates)
            aggregates.extend(job.session_aggregates)
    for project_id, (updates, aggregates) in sorted(by_project.items()):
        record_sessions(session, project_id, updates, aggregates)
    store_logs_and_usage(session, jobs, max_logs_per_day=max_logs_per_day)
    return results


def compress_payloads(jobs: Sequence[IngestJob]) -> None:
    """Compress the jobs' event payloads as they will be stored. The ingest writer calls this
    before its transaction: on SQLite the transaction holds the database's one write lock,
    shared by every server process, and compression is the largest piece of an event's
    storing that needs no database."""
    for job in jobs:
        if job.event is not None and job.event.stored_payload is None:
            job.event.stored_payload = compress_payload(job.event.payload)


def store_logs_and_usage(
    session: Session, jobs: Sequence[IngestJob], *, max_logs_per_day: int
) -> None:
    """The jobs' log lines (within the daily quota) and their counts of items not stored."""
    now = datetime.now(UTC)
    batches = [(job.project_id, job.logs) for job in jobs if job.logs]
    if batches:
        logs.store_logs(session, batches, now=now, max_per_day=max_logs_per_day)
    counts: Counter[tuple[int, str, str]] = Counter()
    for job in jobs:
        for (category, outcome), n in job.usage.items():
            counts[(job.project_id, category, outcome)] += n
    usage.record_usage(session, counts, usage.day_of(now))


def _store_user_items(
    session: Session,
    jobs: Sequence[IngestJob],
    stored: Sequence[StoredEvent],
    limits: AttachmentLimits,
) -> None:
    attachments = [a for job in jobs for a in job.attachments]
    if attachments:
        store_attachments(session, attachments, limits)
    fresh = [
        (job.project_id, result.event_id, result.issue_id)
        for job, result in zip((j for j in jobs if j.event is not None), stored, strict=True)
        if not result.duplicate
    ]
    if fresh:
        bind_feedback(session, fresh)
    for job in jobs:
        if job.feedback:
            store_feedback(session, job.project_id, job.feedback)


def prepare_event(
    project_id: int,
    event: Mapping[str, Any],
    payload: bytes,
    received_at: datetime,
    *,
    fallback_event_id: str | None = None,
    client_ip: str | None = None,
) -> PreparedEvent:
    """Group and index one parsed event (pure: no database). `event` may hold only the fields
    ingest reads (`EnvelopeItem.event_view`); `payload` is the whole event. A user ip_address
    of "{{auto}}" is stored as the client's address (`client_ip`), the one change made to the
    payload."""
    if with_client_ip(event, client_ip) is not None:
        # Written again from the whole event: `event` may be only the view of it.
        resolved = with_client_ip(decode_json_object(payload, "event"), client_ip)
        # A value orjson cannot write again (it read it, so hardly): keep the event as sent.
        with contextlib.suppress(orjson.JSONEncodeError):
            if resolved is not None:
                event, payload = resolved, orjson.dumps(resolved)
    event = replace_nul(event, payload)
    if isinstance(event, dict):
        # Browser SDKs send no browser/os contexts: derive them from the User-Agent, so the
        # browser, os and device tags exist (the stored payload stays as the SDK sent it).
        fill_missing_contexts(event, event_user_agent(event))
    fields = extract_fields(event, received_at, client_ip)
    event_id = fields.event_id or _hex_id(fallback_event_id) or uuid.uuid4().hex
    return PreparedEvent(
        project_id,
        event_id,
        payload,
        fields,
        group_event(event),
        received_at,
        facets=_facets_of(fields),
        dimensions=_dimensions_of(fields),
        user_hash=user_digest(fields.user_key) if fields.user_key else None,
        has_js_frames=isinstance(event, dict) and js_frame_count(event) > 0,
    )


def _facets_of(fields: EventFields) -> tuple[tuple[str, str], ...]:
    out: dict[str, str] = {"level": fields.level}
    if fields.release:
        out["release"] = fields.release
    if fields.environment:
        out["environment"] = fields.environment
    for key, value in fields.tags:
        out.setdefault(key[:_FACET_KEY_MAX], value[:_FACET_VALUE_MAX])
    return tuple(out.items())


def _dimensions_of(fields: EventFields) -> tuple[str, ...]:
    dimensions = [rollups.TOTAL]
    if fields.release:
        dimensions.append(rollups.release(fields.release))
    dimensions.extend(rollups.flag(flag.flag, flag.result) for flag in fields.flags)
    dimensions.extend(rollups.dependency(v) for k, v in fields.tags if k == DEPENDENCY_TAG)
    return tuple(dimensions)


def _hex_id(raw: str | None) -> str | None:
    if not raw:
        return None
    text = raw.replace("-", "").lower()
    return text if len(text) == 32 and all(c in "0123456789abcdef" for c in text) else None


def user_digest(user_key: str) -> str:
    """What `IssueUser` and `Event` keep of a user's identity (the full user is in the payload)."""
    return hashlib.blake2b(user_key.encode("utf-8", "replace"), digest_size=16).hexdigest()


def store_events(session: Session, events: Sequence[PreparedEvent]) -> list[StoredEvent]:
    """Store a batch of events in the caller's transaction; one result per event, in order."""
    known = _known_event_ids(session, events)
    fresh: list[PreparedEvent] = []
    seen: set[tuple[int, str]] = set()
    for prepared in events:
        key = (prepared.project_id, prepared.event_id)
        if key not in known and key not in seen:
            seen.add(key)
            fresh.append(prepared)
    issues = _issues_for(session, fresh)
    new_issue_keys = sorted(key for key, issue in issues.items() if issue.id is None)
    release_dates = _ReleaseDates(session)
    regressed: dict[int, tuple[_IssueRow, PreparedEvent]] = {}
    for prepared in fresh:
        issue = issues[(prepared.project_id, prepared.grouping.fingerprint)]
        _apply_event(issue, prepared)
        if issue.id is not None and issue.status != "unresolved":
            _transition(issue, prepared, release_dates, regressed)
    new_users = _count_users(session, fresh, issues)
    _insert_issues(session, [issues[key] for key in new_issue_keys])  # their ids
    _update_issues(session, [issue for key, issue in issues.items() if key not in new_issue_keys])

    results = dict(known)
    rows: list[tuple[Any, ...]] = []
    moment = bulk.moment(session)
    for prepared in fresh:
        issue_id = _issue_id(issues, prepared)
        results[(prepared.project_id, prepared.event_id)] = issue_id
        rows.append(_event_row(prepared, issue_id, moment))
    _add_issue_users(session, [(issues[key].id, user) for key, user in new_users])
    with bulk.pipeline(session):  # the rest answers nothing: one round trip on PostgreSQL
        bulk.insert_events(session, rows)
        _upsert_facets(session, fresh, issues)
        _add_rollups(session, fresh, issues)
    for key in new_issue_keys:
        _announce(session, issues[key], "issue.new")
    for issue, event in regressed.values():
        _announce(session, issue, "issue.regressed", event.fields.release, event.fields.environment)
    return [
        StoredEvent(
            p.event_id, results[(p.project_id, p.event_id)], (p.project_id, p.event_id) in known
        )
        for p in events
    ]


def _chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[i : i + _IN_CHUNK] for i in range(0, len(values), _IN_CHUNK)]


def _known_event_ids(
    session: Session, events: Sequence[PreparedEvent]
) -> dict[tuple[int, str], int]:
    by_project: dict[int, list[str]] = defaultdict(list)
    for prepared in events:
        by_project[prepared.project_id].append(prepared.event_id)
    known: dict[tuple[int, str], int] = {}
    for project_id, ids in by_project.items():
        for chunk in _chunks(ids):
            for event_id, issue_id in bulk.known_event_ids(session, project_id, chunk).items():
                known[(project_id, event_id)] = issue_id
    return known


@dataclass(slots=True)
class _IssueRow:
    """An issue as the writer reads and changes it: the columns of `Issue` it needs, read and
    written with Core statements (the ORM's unit of work cost the writer ~1 ms a batch, most
    of a small batch's time). `id` is None for an issue this batch creates."""

    id: int | None
    project_id: int
    fingerprint: str
    title: str
    culprit: str
    level: str
    platform: str | None
    status: str
    status_detail: dict[str, Any] | None
    first_seen: datetime
    last_seen: datetime
    event_count: int
    user_count: int
    first_release: str | None
    last_release: str | None
    first_environment: str | None
    resolved_at: datetime | None = None
    regressed_at: datetime | None = None
    regressed_in_release: str | None = None
    status_changed: bool = False


_ISSUES: Table = Issue.__table__  # type: ignore[assignment]
# The id first (`_ROW_COLUMNS[1:]` are the columns an INSERT gives).
_ROW_COLUMNS = tuple(f.name for f in fields(_IssueRow) if f.name != "status_changed")
# Written for every issue a batch touched; the status columns only for the few that changed.
_COUNTED_COLUMNS = (
    "title",
    "culprit",
    "level",
    "first_seen",
    "last_seen",
    "event_count",
    "user_count",
    "first_release",
    "last_release",
    "first_environment",
)
_STATUS_COLUMNS = ("status", "status_detail", "resolved_at", "regressed_at", "regressed_in_release")


# How the writer's plain-SQL statements (`store.bulk`) read and write the issue columns that
# are not plain values: datetimes (text on SQLite), JSON (text on SQLite; psycopg decodes it).
_MOMENT_COLUMNS = frozenset(c.name for c in _ISSUES.columns if isinstance(c.type, UTCDateTime))
_Readers = tuple[Callable[[Any], Any] | None, ...]


def _readers(sqlite: bool) -> _Readers:
    return tuple(
        bulk.read_moment
        if name in _MOMENT_COLUMNS
        else bulk.read_json_text
        if sqlite and isinstance(_ISSUES.c[name].type, JSON)
        else None
        for name in _ROW_COLUMNS
    )


_READERS = {True: _readers(sqlite=True), False: _readers(sqlite=False)}


def _select_issues(count: int, lock: bool) -> str:
    """The issues of `count` fingerprints in a project, locked on PostgreSQL."""
    return (
        f"SELECT {bulk.quoted(_ROW_COLUMNS)} FROM issues "
        f'WHERE "project_id" = ? AND "fingerprint" IN ({bulk.marks(count)}) ORDER BY "id"'
        + (" FOR UPDATE" if lock else "")
    )


def _read_issue(row: Sequence[Any], readers: _Readers) -> _IssueRow:
    return _IssueRow(
        *(value if read is None else read(value) for read, value in zip(readers, row, strict=True))
    )


_UPDATE_COUNTED = (
    f"UPDATE issues SET {', '.join(f'{bulk.quoted([name])} = ?' for name in _COUNTED_COLUMNS)} "
    'WHERE "id" = ?'
)
_counted = operator.attrgetter(*_COUNTED_COLUMNS)
_COUNTED_MOMENTS = tuple(name in _MOMENT_COLUMNS for name in _COUNTED_COLUMNS)
_ADD_ISSUE_USERS = (
    'INSERT INTO issue_users ("issue_id", "user_key") VALUES (?, ?) '
    'ON CONFLICT ("issue_id", "user_key") DO NOTHING'
)
# The new issues and the few status changes a batch makes go through Core (JSON columns,
# RETURNING in parameter order): built once, building one costs about as much as running it.
_INSERT_ISSUES = (
    insert(_ISSUES)
    .values({name: bindparam(name) for name in _ROW_COLUMNS[1:]})  # all but the id
    .returning(_ISSUES.c.id, sort_by_parameter_order=True)
)
_UPDATE_STATUS = (
    update(_ISSUES)
    .where(_ISSUES.c.id == bindparam("_id"))
    .values({name: bindparam(name) for name in _STATUS_COLUMNS})
)


def _users_seen(count: int) -> str:
    """Which of `count` (issue id, user) pairs `issue_users` holds."""
    pairs = ", ".join(["(?, ?)"] * count)
    return (
        'SELECT "issue_id", "user_key" FROM issue_users '
        f'WHERE ("issue_id", "user_key") IN (VALUES {pairs})'
    )


def _issues_for(
    session: Session, events: Sequence[PreparedEvent]
) -> dict[tuple[int, str], _IssueRow]:
    """The issue of every event's fingerprint: read (locked on PostgreSQL, so a concurrent
    status change waits for this batch) or new (inserted by `_insert_issues`)."""
    wanted: dict[int, set[str]] = defaultdict(set)
    for prepared in events:
        wanted[prepared.project_id].add(prepared.grouping.fingerprint)
    issues: dict[tuple[int, str], _IssueRow] = {}
    sqlite = session.get_bind().dialect.name == "sqlite"
    readers = _READERS[sqlite]
    for project_id, fingerprints in wanted.items():
        for chunk in _chunks(sorted(fingerprints)):
            # SQLite: the transaction holds the one write lock already.
            sql = _select_issues(len(chunk), lock=not sqlite)
            for row in bulk.select_rows(session, sql, (project_id, *chunk)):
                issue = _read_issue(row, readers)
                issues[(project_id, issue.fingerprint)] = issue
    for prepared in events:
        key = (prepared.project_id, prepared.grouping.fingerprint)
        if key not in issues:
            issues[key] = _new_issue(prepared)
    return issues


def _insert_issues(session: Session, new: Sequence[_IssueRow]) -> None:
    """Insert the batch's new issues and give them their ids. In key order: two nodes creating
    the same new issues insert them in the same order, so one waits for the other instead of
    both deadlocking on the unique index."""
    if not new:
        return
    rows = [_values(issue, _ROW_COLUMNS[1:]) for issue in new]  # all but the id
    ids = session.connection().execute(_INSERT_ISSUES, rows).scalars().all()
    for issue, issue_id in zip(new, ids, strict=True):
        issue.id = issue_id


def _update_issues(session: Session, touched: Sequence[_IssueRow]) -> None:
    """Write back what the batch changed of existing issues: counts and names for all of them
    (one executemany), status for the few whose status changed."""
    if not touched:
        return
    moment = bulk.moment(session)
    bulk.execute_many(session, _UPDATE_COUNTED, [_counted_values(i, moment) for i in touched])
    changed = [issue for issue in touched if issue.status_changed]
    if changed:
        session.connection().execute(
            _UPDATE_STATUS, [{"_id": i.id, **_values(i, _STATUS_COLUMNS)} for i in changed]
        )


def _counted_values(issue: _IssueRow, moment: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """`_UPDATE_COUNTED`'s parameters for the issue."""
    values = zip(_counted(issue), _COUNTED_MOMENTS, strict=True)
    return (*(moment(value) if is_moment else value for value, is_moment in values), issue.id)


def _values(issue: _IssueRow, columns: Sequence[str]) -> dict[str, Any]:
    return {name: getattr(issue, name) for name in columns}


def _issue_id(issues: Mapping[tuple[int, str], _IssueRow], prepared: PreparedEvent) -> int:
    issue_id = issues[(prepared.project_id, prepared.grouping.fingerprint)].id
    assert issue_id is not None  # read, or inserted by `_insert_issues`
    return issue_id


def _new_issue(prepared: PreparedEvent) -> _IssueRow:
    fields = prepared.fields
    return _IssueRow(
        id=None,
        project_id=prepared.project_id,
        fingerprint=prepared.grouping.fingerprint,
        title=prepared.grouping.title,
        culprit=prepared.grouping.culprit,
        level=prepared.grouping.level,
        platform=fields.platform[:32],
        status="unresolved",
        status_detail=None,
        first_seen=fields.timestamp,
        last_seen=fields.timestamp,
        event_count=0,
        user_count=0,
        first_release=fields.release,
        last_release=fields.release,
        first_environment=fields.environment,
    )


def _apply_event(issue: _IssueRow, prepared: PreparedEvent) -> None:
    fields = prepared.fields
    issue.event_count = (issue.event_count or 0) + 1
    if fields.timestamp < issue.first_seen:
        issue.first_seen = fields.timestamp
    if fields.timestamp >= issue.last_seen:
        # The newest event names the issue, as in Sentry: the title follows the latest value.
        issue.last_seen = fields.timestamp
        issue.title = prepared.grouping.title
        issue.culprit = prepared.grouping.culprit
        issue.level = prepared.grouping.level
    if fields.release is not None:
        issue.last_release = fields.release
        if issue.first_release is None:
            issue.first_release = fields.release
    if issue.first_environment is None and fields.environment is not None:
        issue.first_environment = fields.environment


class _ReleaseDates:
    """When each release was first seen in a project (from the release rollups), cached for
    one batch; only asked when release names cannot be ordered by version."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.project_id = 0
        self._cache: dict[tuple[int, str], datetime | None] = {}

    def __call__(self, release: str) -> datetime | None:
        key = (self.project_id, release)
        if key not in self._cache:
            self._cache[key] = self.session.scalar(
                select(func.min(ErrorRollup.minute)).where(
                    ErrorRollup.project_id == self.project_id,
                    ErrorRollup.dimension == rollups.release(release),
                )
            )
        return self._cache[key]


def _transition(
    issue: _IssueRow,
    prepared: PreparedEvent,
    release_dates: _ReleaseDates,
    regressed: dict[int, tuple[_IssueRow, PreparedEvent]],
) -> None:
    release_dates.project_id = issue.project_id
    # The count this event brought the issue to, for "ignore until N more events".
    change = after_event(
        issue.status,
        issue.status_detail,
        event_count=issue.event_count,
        release=prepared.fields.release,
        at=prepared.fields.timestamp,
        release_dates=release_dates,
    )
    if change is None:
        return
    assert issue.id is not None  # only a stored issue has a status to leave
    issue.status_changed = True
    issue.status = change.status
    issue.status_detail = None
    issue.resolved_at = None
    if change.regressed:
        issue.regressed_at = prepared.received_at
        issue.regressed_in_release = prepared.fields.release
        regressed.setdefault(issue.id, (issue, prepared))


def _event_row(prepared: PreparedEvent, issue_id: int, moment: Any) -> tuple[Any, ...]:
    fields = prepared.fields
    return (
        prepared.project_id,
        issue_id,
        prepared.event_id,
        moment(prepared.received_at),
        moment(fields.timestamp),
        fields.level,
        fields.environment,
        fields.release,
        prepared.user_hash,
        prepared.stored_payload
        if prepared.stored_payload is not None
        else compress_payload(prepared.payload),
        len(prepared.payload),
    )


def _count_users(
    session: Session, events: Sequence[PreparedEvent], issues: Mapping[tuple[int, str], _IssueRow]
) -> list[tuple[tuple[int, str], str]]:
    """Count each issue's users first seen in this batch into its `user_count`; returns them,
    (issue key, user), for `_add_issue_users` once every issue has its id. An issue this batch
    creates has seen none of them before; for the others, `issue_users` says."""
    pairs: dict[tuple[tuple[int, str], str], _IssueRow] = {}
    for prepared in events:
        if prepared.user_hash:
            key = (prepared.project_id, prepared.grouping.fingerprint)
            pairs.setdefault((key, prepared.user_hash), issues[key])
    asked = [(issue.id, user) for (_, user), issue in pairs.items() if issue.id is not None]
    existing: set[tuple[int, str]] = set()
    for chunk in _chunks(asked):
        params = [value for pair in chunk for value in pair]
        existing.update(bulk.select_rows(session, _users_seen(len(chunk)), params))
    new: list[tuple[tuple[int, str], str]] = []
    for (key, user), issue in pairs.items():
        if issue.id is None or (issue.id, user) not in existing:
            issue.user_count += 1
            new.append((key, user))
    return new


def _add_issue_users(session: Session, pairs: Sequence[tuple[int | None, str]]) -> None:
    bulk.execute_many(session, _ADD_ISSUE_USERS, pairs)


def _upsert_facets(
    session: Session, events: Sequence[PreparedEvent], issues: Mapping[tuple[int, str], _IssueRow]
) -> None:
    # First/last seen of a facet are the times of its events, as the issue's own are (bounded
    # against clocks in the future by `core.event_fields`): the issue header and its releases
    # table must tell the same story, also for events an SDK sends hours late.
    seen: dict[tuple[int, str, str], list[Any]] = {}  # facet -> [count, first, last]
    for prepared in events:
        issue_id = _issue_id(issues, prepared)
        at = prepared.fields.timestamp
        for key, value in prepared.facets:
            entry = seen.get((issue_id, key, value))
            if entry is None:
                seen[(issue_id, key, value)] = [1, at, at]
                continue
            entry[0] += 1
            if at < entry[1]:
                entry[1] = at
            elif at > entry[2]:
                entry[2] = at
    if not seen:
        return
    moment = bulk.moment(session)
    bulk.upsert_facets(
        session,
        [
            (*facet, n, moment(first), moment(last))
            for facet, (n, first, last) in sorted(seen.items())
        ],
    )


def _add_rollups(
    session: Session, events: Sequence[PreparedEvent], issues: Mapping[tuple[int, str], _IssueRow]
) -> None:
    # Counted at the minute trimtab received the event: verdicts and auto-off rules ask "how many
    # errors arrived in the last N minutes", and a device with a wrong clock must not hide one.
    # The same upserts as `rollups.add_counts` (minutes, then hours of the dimensions kept
    # hourly), each one executemany for the whole batch.
    counts: Counter[tuple[int, str, str, datetime]] = Counter()
    for prepared in events:
        head = (prepared.project_id, prepared.fields.environment or "")
        minute = rollups.minute_of(prepared.received_at)
        counts[(*head, rollups.issue(_issue_id(issues, prepared)), minute)] += 1
        for dimension in prepared.dimensions:
            counts[(*head, dimension, minute)] += 1
    moment = bulk.moment(session)
    bulk.upsert_rollups(
        session, [(p, e, d, moment(m), n) for (p, e, d, m), n in sorted(counts.items())]
    )
    hours = rollups.hour_rows(counts)
    bulk.upsert_rollup_hours(
        session, [(p, e, d, moment(h), n) for (p, e, d, h), n in sorted(hours.items())]
    )


def _announce(
    session: Session,
    issue: _IssueRow,
    kind: str,
    release: str | None = None,
    environment: str | None = None,
) -> None:
    # A regression is news of the environment whose event reopened the issue (a token bound
    # to another must not hear of it, an alert rule of another must not fire), a new issue of
    # the one it was first seen in.
    environment = environment if kind == "issue.regressed" else issue.first_environment
    body: dict[str, Any] = {
        "issue_id": issue.id,
        "title": issue.title,
        "culprit": issue.culprit,
        "level": issue.level,
        "release": release if kind == "issue.regressed" else issue.first_release,
        "environment": environment,
        "event_count": issue.event_count,
    }
    if kind == "issue.regressed":
        title = f"Regressed in {release or 'an unknown release'}: {issue.title}"
    else:
        title = f"New issue: {issue.title}"
    notify(session, issue.project_id, kind, title, body, environment=environment)
    announce(session, Change(kind, issue.project_id, environment, body))
