"""The window verdict: did a deploy make things worse, with the numbers behind the answer.

Inputs are plain numbers: hourly event counts for a baseline before the deploy (typically the
7 days before) and for the window since it, crash-free session rates where the SDKs report
sessions, and the project's issues with when and in which release they were first seen.

How the status is decided (every threshold is a field of ``Thresholds``):

- **regressed** — the event rate after the deploy is higher than the baseline beyond chance
  *and* by a margin that matters: the exact conditional test for two Poisson rates (given the
  total number of events, the after-count is binomial with p = hours_after / all hours) gives
  p < 0.001, the ratio is at least 1.5, and at least 10 events arrived after. The low p keeps a
  verdict that is recomputed every hour for a week from crying wolf; the ratio keeps a huge
  project from being called regressed for a 3% rise that is significant but harmless. A drop of
  crash-free sessions by 1 point or more is also regressed.
- **suspicious** — a weaker rise (p < 0.05 and ratio >= 1.2), a crash-free drop of 0.2 points,
  or an issue tied to the release (or regressed in it) with 10 or more events: the rate may
  still look normal while a new bug hurts one path.
- **insufficient-data** — nothing bad found but less than 6 hours after the deploy or less
  than 24 hours of baseline. Bad news is reported as soon as it is clear; good news waits.
- **healthy** — otherwise.

Issues are related to the deploy by time and release: first seen after the deploy in this
release -> *tied* (``new_issues``); regressed in this release -> ``regressed_issues``; first seen
before the deploy -> *cleared* of it; first seen after it in another release or with no
release -> ``other_issues``.

Exception: ``VerdictError`` (a ``ValueError``) for inconsistent input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Literal

__all__ = [
    "IssueFacts",
    "IssueFinding",
    "Status",
    "Thresholds",
    "Verdict",
    "VerdictError",
    "VerdictNumbers",
    "compute_verdict",
    "humanize_delta",
    "rate_increase_p_value",
]

Status = Literal["healthy", "suspicious", "regressed", "insufficient-data"]
Relation = Literal["tied", "regressed", "cleared", "other-release", "untagged"]


class VerdictError(ValueError):
    """Input the verdict cannot be computed from."""


@dataclass(frozen=True)
class Thresholds:
    """Where the verdict draws its lines; see the module docstring for why these defaults."""

    min_hours_before: int = 24
    min_hours_after: int = 6
    min_events_after: int = 10
    regressed_p: float = 0.001
    regressed_ratio: float = 1.5
    suspicious_p: float = 0.05
    suspicious_ratio: float = 1.2
    issue_events_suspicious: int = 10
    crash_free_regressed_drop: float = 0.01
    crash_free_suspicious_drop: float = 0.002


@dataclass(frozen=True)
class IssueFacts:
    """What the verdict needs to know about one issue; ``events`` counts those in the window."""

    id: str
    title: str
    first_seen: datetime
    first_release: str | None
    events: int
    regressed_in: str | None = None
    regressed_at: datetime | None = None


@dataclass(frozen=True)
class IssueFinding:
    """An issue and how it relates to the deploy, with a sentence saying when it appeared."""

    id: str
    title: str
    relation: Relation
    first_seen: datetime
    first_release: str | None
    events: int
    note: str


@dataclass(frozen=True)
class VerdictNumbers:
    """The figures behind a verdict. Rates are events per hour; crash-free rates are 0..1."""

    hours_before: int
    hours_after: int
    events_before: int
    events_after: int
    events_per_hour_before: float | None
    events_per_hour_after: float | None
    ratio: float | None
    p_value: float | None
    crash_free_before: float | None
    crash_free_after: float | None
    new_issues: list[IssueFinding] = field(default_factory=list)
    regressed_issues: list[IssueFinding] = field(default_factory=list)
    cleared_issues: list[IssueFinding] = field(default_factory=list)
    other_issues: list[IssueFinding] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    """The status, the numbers and the reasons, as sentences, in order of weight."""

    release: str
    status: Status
    final: bool
    numbers: VerdictNumbers
    reasons: list[str]

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form (datetimes as ISO text) for the API and the webhooks."""

        def plain(value: object) -> object:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            return value

        out = plain(asdict(self))
        assert isinstance(out, dict)
        return out


def humanize_delta(delta: timedelta) -> str:
    """A short, rounded-down length of time: ``"45 s"``, ``"12 min"``, ``"3 h"``, ``"4 d"``.

    The sign is dropped; the caller says "before" or "after". Hours are used up to two days,
    because "36 h after the deploy" says more than "1 d".
    """
    seconds = int(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space so large n stays exact enough."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)

    def pmf(i: int) -> float:
        return math.exp(
            base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        )

    if k > n * p:
        # Past the mode the terms only shrink: stop once they no longer change the sum.
        total, i = 0.0, k
        while i <= n:
            term = pmf(i)
            total += term
            if term < total * 1e-16:
                break
            i += 1
        return min(1.0, total)
    below, i = 0.0, k - 1
    while i >= 0:
        term = pmf(i)
        below += term
        if term < below * 1e-16:
            break
        i -= 1
    return max(0.0, 1.0 - below)


def rate_increase_p_value(
    events_before: int, hours_before: int, events_after: int, hours_after: int
) -> float:
    """One-sided p-value that the after-rate exceeds the before-rate by chance alone.

    Conditional test for two Poisson rates: given n = before + after events, under equal rates
    the after-count is Binomial(n, hours_after / (hours_before + hours_after)).
    """
    if hours_before <= 0 or hours_after <= 0:
        raise VerdictError("both periods need at least one hour to compare rates")
    share = hours_after / (hours_before + hours_after)
    return _binomial_sf(events_after, events_before + events_after, share)


def _finding(issue: IssueFacts, relation: Relation, deployed_at: datetime) -> IssueFinding:
    side = "after" if issue.first_seen >= deployed_at else "before"
    note = f"first seen {humanize_delta(issue.first_seen - deployed_at)} {side} the deploy"
    if relation == "regressed" and issue.regressed_at is not None:
        note += (
            f", regressed {humanize_delta(issue.regressed_at - deployed_at)} "
            f"{'after' if issue.regressed_at >= deployed_at else 'before'} it"
        )
    elif relation == "other-release":
        note += f", in {issue.first_release}"
    elif relation == "untagged":
        note += ", its events carry no release"
    return IssueFinding(
        issue.id, issue.title, relation, issue.first_seen, issue.first_release, issue.events, note
    )


def _relate(issue: IssueFacts, release: str, deployed_at: datetime) -> Relation:
    if issue.regressed_in == release and (
        issue.regressed_at is None or issue.regressed_at >= deployed_at
    ):
        return "regressed"
    if issue.first_seen < deployed_at:
        return "cleared"
    if issue.first_release == release:
        return "tied"
    return "other-release" if issue.first_release else "untagged"


def _check_counts(name: str, counts: Sequence[int]) -> int:
    if any(c < 0 for c in counts):
        raise VerdictError(f"{name} has a negative hourly count")
    return sum(counts)


def _fmt_rate(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


@dataclass
class _Reasons:
    """Sentences by weight: for regressed, for suspicious, and the rest worth saying."""

    bad: list[str] = field(default_factory=list)
    doubt: list[str] = field(default_factory=list)
    calm: list[str] = field(default_factory=list)


def _judge_rate(
    reasons: _Reasons,
    t: Thresholds,
    rate_before: float,
    rate_after: float,
    ratio: float | None,
    p_value: float | None,
    events_after: int,
) -> None:
    rates = f"error rate {_fmt_rate(rate_before)} -> {_fmt_rate(rate_after)} events per hour"
    if p_value is None:
        reasons.calm.append(f"{rates} (not compared: the baseline is too short)")
        return
    times = f"x{ratio:.2f}" if ratio is not None else "none before"
    sentence = f"{rates} ({times}, p = {p_value:.2g})"
    # No ratio means no events before: any significant rise is then big enough.
    big_enough = events_after >= t.min_events_after
    if big_enough and p_value < t.regressed_p and (ratio is None or ratio >= t.regressed_ratio):
        reasons.bad.append(f"{sentence}: far above the baseline")
    elif big_enough and p_value < t.suspicious_p and (ratio is None or ratio >= t.suspicious_ratio):
        reasons.doubt.append(f"{sentence}: above the baseline")
    elif not big_enough and p_value < t.suspicious_p:
        reasons.calm.append(f"{sentence}: too few events to tell")
    else:
        reasons.calm.append(f"{sentence}: within normal variation")


def _judge_crash_free(reasons: _Reasons, t: Thresholds, before: float, after: float) -> None:
    drop = before - after
    sentence = f"crash-free sessions {before:.2%} -> {after:.2%} ({-drop * 100:+.2f} points)"
    if drop >= t.crash_free_regressed_drop:
        reasons.bad.append(sentence)
    elif drop >= t.crash_free_suspicious_drop:
        reasons.doubt.append(sentence)
    else:
        reasons.calm.append(sentence)


def _group_issues(
    issues: Sequence[IssueFacts], release: str, deployed_at: datetime, horizon: datetime
) -> dict[Relation, list[IssueFinding]]:
    groups: dict[Relation, list[IssueFinding]] = {
        r: [] for r in ("tied", "regressed", "cleared", "other-release", "untagged")
    }
    for issue in issues:
        if issue.events < 0:
            raise VerdictError(f"issue {issue.id}: negative event count")
        if issue.first_seen >= horizon:
            continue
        relation = _relate(issue, release, deployed_at)
        groups[relation].append(_finding(issue, relation, deployed_at))
    for found in groups.values():
        found.sort(key=lambda f: (-f.events, f.first_seen, f.id))
    return groups


def _judge_issues(
    reasons: _Reasons, t: Thresholds, groups: dict[Relation, list[IssueFinding]], release: str
) -> None:
    labelled: tuple[tuple[Relation, str], ...] = (
        ("tied", f"new in {release}"),
        ("regressed", f"regressed in {release}"),
        ("untagged", "without a release, after the deploy"),
    )
    for relation, label in labelled:
        for finding in groups[relation]:
            sentence = f"{finding.title!r} ({label}): {finding.note}, {finding.events} events"
            loud = finding.events >= t.issue_events_suspicious
            (reasons.doubt if loud else reasons.calm).append(sentence)


def compute_verdict(
    *,
    release: str,
    deployed_at: datetime,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    hourly_before: Sequence[int],
    hourly_after: Sequence[int],
    issues: Sequence[IssueFacts] = (),
    crash_free_before: float | None = None,
    crash_free_after: float | None = None,
    thresholds: Thresholds = Thresholds(),
) -> Verdict:
    """Classify a deploy's effect; see the module docstring for the rules.

    ``hourly_before`` is one count per hour of the baseline, ``hourly_after`` one per full hour
    since ``window_start`` up to ``now`` (or the window's end). Issues first seen after the
    window (or after ``now``) are left out. The verdict is ``final`` once ``now`` reaches
    ``window_end``.
    """
    if window_end <= window_start:
        raise VerdictError("the window must end after it starts")
    for name, rate in (
        ("crash_free_before", crash_free_before),
        ("crash_free_after", crash_free_after),
    ):
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise VerdictError(f"{name} must be a fraction from 0 to 1, got {rate}")
    t = thresholds
    events_before = _check_counts("hourly_before", hourly_before)
    events_after = _check_counts("hourly_after", hourly_after)
    hours_before, hours_after = len(hourly_before), len(hourly_after)
    rate_before = events_before / hours_before if hours_before else None
    rate_after = events_after / hours_after if hours_after else None
    ratio = rate_after / rate_before if rate_after is not None and rate_before else None
    has_baseline = hours_before >= t.min_hours_before
    p_value = (
        rate_increase_p_value(events_before, hours_before, events_after, hours_after)
        if has_baseline and hours_after
        else None
    )

    reasons = _Reasons()
    if rate_before is not None and rate_after is not None:
        _judge_rate(reasons, t, rate_before, rate_after, ratio, p_value, events_after)
    if crash_free_before is not None and crash_free_after is not None:
        _judge_crash_free(reasons, t, crash_free_before, crash_free_after)
    groups = _group_issues(issues, release, deployed_at, min(now, window_end))
    _judge_issues(reasons, t, groups, release)

    if reasons.bad:
        status: Status = "regressed"
    elif reasons.doubt:
        status = "suspicious"
    elif not has_baseline or hours_after < t.min_hours_after:
        status = "insufficient-data"
        if not has_baseline:
            reasons.calm.insert(
                0, f"only {hours_before} h of baseline; a verdict needs {t.min_hours_before} h"
            )
        if hours_after < t.min_hours_after:
            reasons.calm.insert(
                0,
                f"only {hours_after} h of data after the deploy; "
                f"a verdict needs {t.min_hours_after} h",
            )
    else:
        status = "healthy"
    if groups["cleared"]:
        reasons.calm.append(
            f"{len(groups['cleared'])} issue(s) first seen before the deploy: cleared of it"
        )

    numbers = VerdictNumbers(
        hours_before=hours_before,
        hours_after=hours_after,
        events_before=events_before,
        events_after=events_after,
        events_per_hour_before=rate_before,
        events_per_hour_after=rate_after,
        ratio=ratio,
        p_value=p_value,
        crash_free_before=crash_free_before,
        crash_free_after=crash_free_after,
        new_issues=groups["tied"],
        regressed_issues=groups["regressed"],
        cleared_issues=groups["cleared"],
        other_issues=sorted(
            groups["other-release"] + groups["untagged"], key=lambda f: (-f.events, f.id)
        ),
    )
    ordered = reasons.bad + reasons.doubt + reasons.calm
    return Verdict(release, status, now >= window_end, numbers, ordered)
