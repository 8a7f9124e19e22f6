"""Stabilization windows and freeze calendars -> may this deploy go now, and if not, why.

A *stabilization window* opens with a successful production deploy of a release and lasts
1-14 days (default 7): while it is open, issues can be tied to that release or cleared of it,
so no other deploy should blur the picture. A *freeze* is a calendar period without deploys:
one-off (``start``/``end``) or recurring (a cron expression for the start, a duration and a
timezone). Recurring freezes may use a named schedule instead of cron, see ``NAMED_SCHEDULES``.

``check_deploy_allowed`` turns both into a ``Decision``. Every refusal says what blocks the
deploy, until when, and how to override; overriding requires a non-empty reason, which the
caller writes to the audit log.

All datetimes must be timezone-aware. Exceptions (subclasses of ``WindowError``, a
``ValueError``): ``WindowLengthError``, ``FreezeError``, ``OverrideReasonRequired``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trimtab.core.cron import (
    CronError,
    CronSpec,
    format_duration,
    next_match,
    parse_cron,
    previous_match,
)

__all__ = [
    "DEFAULT_WINDOW_DAYS",
    "MAX_WINDOW_DAYS",
    "MIN_WINDOW_DAYS",
    "NAMED_SCHEDULES",
    "OVERRIDE_HINT",
    "Decision",
    "Freeze",
    "FreezeError",
    "Occurrence",
    "OverrideReasonRequired",
    "Refusal",
    "StabilizationWindow",
    "WindowError",
    "WindowLengthError",
    "check_deploy_allowed",
    "current_occurrence",
    "next_occurrence",
    "open_window",
    "validate_window_days",
]

DEFAULT_WINDOW_DAYS = 7
MIN_WINDOW_DAYS = 1
MAX_WINDOW_DAYS = 14
OVERRIDE_HINT = "To deploy anyway: --override --reason TEXT"

# name -> (cron for the start, default duration, what it means)
NAMED_SCHEDULES: dict[str, tuple[str, timedelta, str]] = {
    "weekends": ("0 0 * * 6", timedelta(hours=48), "Saturday 00:00 to Monday 00:00"),
    "long-weekends": ("0 18 * * 5", timedelta(hours=62), "Friday 18:00 to Monday 08:00"),
    "fridays": ("0 0 * * 5", timedelta(hours=24), "all of Friday"),
    "nights": ("0 20 * * *", timedelta(hours=12), "every day 20:00 to 08:00"),
}
# Bounds the merging of back-to-back occurrences (e.g. "* * * * *" with a long duration).
_MAX_MERGES = 1000


class WindowError(ValueError):
    """Base class for window and freeze errors."""


class WindowLengthError(WindowError):
    """A stabilization window length outside 1-14 days."""


class FreezeError(WindowError):
    """A freeze that is not well defined."""


class OverrideReasonRequired(WindowError):
    """An override without a reason: the audit log must say why."""


def _aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise WindowError(f"{name} must carry a timezone (got naive {value.isoformat()})")
    return value


def _utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def validate_window_days(days: int) -> int:
    """Return ``days`` if it is a whole number of days from 1 to 14, else raise."""
    if isinstance(days, bool) or not isinstance(days, int):
        raise WindowLengthError(f"stabilization window must be a whole number of days: {days!r}")
    if not MIN_WINDOW_DAYS <= days <= MAX_WINDOW_DAYS:
        raise WindowLengthError(
            f"stabilization window of {days} days is not allowed: "
            f"choose {MIN_WINDOW_DAYS} to {MAX_WINDOW_DAYS} days"
        )
    return days


@dataclass(frozen=True)
class StabilizationWindow:
    """The quiet period after a release reached an environment: [opened_at, ends_at)."""

    release: str
    environment: str
    services: tuple[str, ...]
    opened_at: datetime
    ends_at: datetime

    def __post_init__(self) -> None:
        _aware("opened_at", self.opened_at)
        _aware("ends_at", self.ends_at)
        if self.ends_at <= self.opened_at:
            raise WindowError(f"window for {self.release} ends before it opens")

    def is_open(self, now: datetime) -> bool:
        """Whether ``now`` falls inside the window."""
        return self.opened_at <= _aware("now", now) < self.ends_at


def open_window(
    release: str,
    environment: str,
    services: Iterable[str],
    opened_at: datetime,
    days: int = DEFAULT_WINDOW_DAYS,
) -> StabilizationWindow:
    """The window a deploy finished at ``opened_at`` opens, ``days`` long (1-14)."""
    validate_window_days(days)
    _aware("opened_at", opened_at)
    return StabilizationWindow(
        release=release,
        environment=environment,
        services=tuple(sorted(set(services))),
        opened_at=opened_at,
        ends_at=opened_at + timedelta(days=days),
    )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FreezeError(
            f"unknown timezone {name!r}: use an IANA name such as 'Asia/Seoul' or 'UTC'"
        ) from exc


@dataclass(frozen=True)
class Freeze:
    """A calendar period without deploys: one-off (start/end) or recurring (cron/duration).

    ``cron`` is a 5-field expression for when each occurrence starts, in ``timezone`` wall
    time, or a key of NAMED_SCHEDULES (then ``duration`` defaults to the schedule's). The
    duration is wall-clock time in that timezone, so a weekend freeze ends at Monday 00:00
    even across a daylight-saving change. ``environments`` empty means every environment.
    """

    name: str
    reason: str = ""
    start: datetime | None = None
    end: datetime | None = None
    cron: str | None = None
    duration: timedelta | None = None
    timezone: str = "UTC"
    environments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise FreezeError("a freeze needs a name")
        _zone(self.timezone)
        if self.cron is not None:
            if self.start is not None or self.end is not None:
                raise FreezeError(f"freeze {self.name!r}: give either cron or start/end, not both")
            self.schedule()
        elif self.start is None or self.end is None:
            raise FreezeError(f"freeze {self.name!r}: give cron and duration, or start and end")
        else:
            _aware(f"freeze {self.name!r} start", self.start)
            _aware(f"freeze {self.name!r} end", self.end)
            if self.end <= self.start:
                raise FreezeError(f"freeze {self.name!r}: end must be after start")

    @classmethod
    def one_off(
        cls,
        name: str,
        start: datetime,
        end: datetime,
        reason: str = "",
        environments: Iterable[str] = (),
    ) -> Freeze:
        """A single period [start, end)."""
        return cls(name=name, reason=reason, start=start, end=end, environments=tuple(environments))

    @classmethod
    def recurring(
        cls,
        name: str,
        cron: str,
        duration: timedelta | None = None,
        timezone: str = "UTC",
        reason: str = "",
        environments: Iterable[str] = (),
    ) -> Freeze:
        """A freeze that starts whenever ``cron`` matches and lasts ``duration``."""
        return cls(
            name=name,
            reason=reason,
            cron=cron,
            duration=duration,
            timezone=timezone,
            environments=tuple(environments),
        )

    def schedule(self) -> tuple[CronSpec, timedelta]:
        """The parsed start expression and the duration of a recurring freeze."""
        if self.cron is None:
            raise FreezeError(f"freeze {self.name!r} is one-off, it has no schedule")
        named = NAMED_SCHEDULES.get(self.cron.strip().lower())
        try:
            spec = parse_cron(named[0] if named else self.cron)
        except CronError as exc:
            known = ", ".join(sorted(NAMED_SCHEDULES))
            raise FreezeError(f"freeze {self.name!r}: {exc} (or use one of: {known})") from exc
        duration = self.duration if self.duration is not None else (named[1] if named else None)
        if duration is None:
            raise FreezeError(f"freeze {self.name!r}: a cron freeze needs a duration, e.g. '62h'")
        if not timedelta(minutes=1) <= duration <= timedelta(days=366):
            raise FreezeError(f"freeze {self.name!r}: duration must be 1 minute to 366 days")
        return spec, duration

    def applies_to(self, environment: str | None) -> bool:
        """Whether the freeze covers ``environment`` (None: any environment)."""
        return environment is None or not self.environments or environment in self.environments

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready description (datetimes as ISO text in UTC, duration as '62h')."""
        out: dict[str, object] = {"name": self.name, "reason": self.reason}
        if self.cron is not None:
            out["cron"] = self.cron
            out["duration"] = format_duration(self.schedule()[1])
        else:
            assert self.start is not None and self.end is not None
            # UTC, so the same instant compares equal whatever offset it was written with.
            out["start"] = self.start.astimezone(UTC).isoformat()
            out["end"] = self.end.astimezone(UTC).isoformat()
        out["timezone"] = self.timezone
        out["environments"] = list(self.environments)
        return out


@dataclass(frozen=True)
class Occurrence:
    """One period of a freeze, [start, end), in UTC."""

    freeze: Freeze
    start: datetime
    end: datetime


def _localize(wall: datetime, zone: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _merged(freeze: Freeze, spec: CronSpec, duration: timedelta, first: datetime) -> Occurrence:
    """The occurrence starting at wall time ``first``, extended over back-to-back ones."""
    zone = _zone(freeze.timezone)
    end = _localize(first + duration, zone)
    upcoming = next_match(spec, first + timedelta(minutes=1))
    for _ in range(_MAX_MERGES):
        if upcoming is None or _localize(upcoming, zone) > end:
            break
        end = max(end, _localize(upcoming + duration, zone))
        upcoming = next_match(spec, upcoming + timedelta(minutes=1))
    return Occurrence(freeze, _localize(first, zone), end)


def current_occurrence(freeze: Freeze, now: datetime) -> Occurrence | None:
    """The occurrence of ``freeze`` that covers ``now``, or None."""
    _aware("now", now)
    if freeze.cron is None:
        assert freeze.start is not None and freeze.end is not None
        if freeze.start <= now < freeze.end:
            return Occurrence(freeze, freeze.start.astimezone(UTC), freeze.end.astimezone(UTC))
        return None
    spec, duration = freeze.schedule()
    zone = _zone(freeze.timezone)
    wall = now.astimezone(zone).replace(tzinfo=None)
    # Every occurrence lasts the same, so the latest start is the only one that can still run.
    start = previous_match(spec, wall, not_before=wall - duration - timedelta(days=1))
    if start is None:
        return None
    occurrence = _merged(freeze, spec, duration, start)
    return occurrence if occurrence.start <= now < occurrence.end else None


def next_occurrence(freeze: Freeze, now: datetime) -> Occurrence | None:
    """The occurrence covering ``now`` if there is one, else the next to start, else None."""
    current = current_occurrence(freeze, now)
    if current is not None:
        return current
    if freeze.cron is None:
        assert freeze.start is not None and freeze.end is not None
        if now < freeze.start:
            return Occurrence(freeze, freeze.start.astimezone(UTC), freeze.end.astimezone(UTC))
        return None
    spec, duration = freeze.schedule()
    wall = now.astimezone(_zone(freeze.timezone)).replace(tzinfo=None)
    start = next_match(spec, wall)
    return None if start is None else _merged(freeze, spec, duration, start)


@dataclass(frozen=True)
class Refusal:
    """One reason a deploy may not go now."""

    kind: Literal["stabilization", "freeze"]
    name: str  # the release for a window, the freeze's name for a freeze
    ends_at: datetime
    message: str


@dataclass(frozen=True)
class Decision:
    """The answer of check_deploy_allowed. Refusals are kept when overridden, for the audit."""

    allowed: bool
    refusals: list[Refusal] = field(default_factory=list)
    overridden: bool = False
    reason: str | None = None


def _window_refusal(window: StabilizationWindow) -> Refusal:
    message = (
        f"refused: stabilization window for {window.release} in {window.environment} is open "
        f"until {_utc_text(window.ends_at)} (opened by the deploy of "
        f"{window.opened_at.astimezone(UTC):%Y-%m-%d}). {OVERRIDE_HINT}"
    )
    return Refusal("stabilization", window.release, window.ends_at, message)


def _freeze_refusal(occurrence: Occurrence) -> Refusal:
    freeze = occurrence.freeze
    why = f" ({freeze.reason})" if freeze.reason else ""
    local_end = occurrence.end.astimezone(_zone(freeze.timezone))
    until = _utc_text(occurrence.end)
    if freeze.timezone != "UTC":
        until = f"{local_end:%Y-%m-%d %H:%M} {freeze.timezone} ({until})"
    message = f"refused: freeze {freeze.name!r}{why} is in effect until {until}. {OVERRIDE_HINT}"
    return Refusal("freeze", freeze.name, occurrence.end, message)


def check_deploy_allowed(
    now: datetime,
    windows: Iterable[StabilizationWindow],
    freezes: Iterable[Freeze],
    override: bool = False,
    reason: str | None = None,
    *,
    environment: str | None = None,
) -> Decision:
    """Decide whether a deploy may start at ``now``.

    ``windows`` are the project's stabilization windows; with ``environment`` given, windows of
    other environments and freezes that do not cover it are ignored. An open window or an
    active freeze refuses the deploy unless ``override`` is set, which requires a non-empty
    ``reason`` (OverrideReasonRequired otherwise, even when nothing blocks, so a script that
    always overrides is caught early).
    """
    _aware("now", now)
    if override and not (reason and reason.strip()):
        raise OverrideReasonRequired(
            "--override needs --reason TEXT: say why this deploy cannot wait (it is audited)"
        )
    refusals = [
        _window_refusal(w)
        for w in sorted(windows, key=lambda w: (w.ends_at, w.release))
        if (environment is None or w.environment == environment) and w.is_open(now)
    ]
    for freeze in sorted(freezes, key=lambda f: f.name):
        if not freeze.applies_to(environment):
            continue
        occurrence = current_occurrence(freeze, now)
        if occurrence is not None:
            refusals.append(_freeze_refusal(occurrence))
    if not refusals:
        return Decision(allowed=True, reason=reason.strip() if override and reason else None)
    if override:
        assert reason is not None
        return Decision(allowed=True, refusals=refusals, overridden=True, reason=reason.strip())
    return Decision(allowed=False, refusals=refusals)
