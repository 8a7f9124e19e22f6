"""Order releases, to tell whether an event's release is at or after the one with a fix.

Release names follow Sentry's habit `package@version+build` ("shop@1.4.2+7f3a2c1"), or are a
bare version ("1.4.2", "v1.4.2-rc.1"), or anything at all (a commit sha, "2024-05-01-night").

When both names carry a version of the form MAJOR[.MINOR[.PATCH[.REVISION]]][-pre][+build]
(an optional leading "v"; a pre-release needs at least MAJOR.MINOR), they are ordered by
semver precedence: numbers compare as numbers, a pre-release sorts before its release,
pre-release identifiers compare numerically when numeric and before alphanumeric ones, and
build metadata is ignored. Otherwise (or when the
names carry two different packages, or only the builds differ) the release dates decide,
when both are known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "ParsedRelease",
    "UncomparableReleases",
    "compare_releases",
    "is_release_at_or_after",
    "parse_release",
]


class UncomparableReleases(ValueError):
    """Neither versions nor dates say which of two releases came first."""


_VERSION_RE = re.compile(
    r"^[vV]?(?P<nums>\d+(?:\.\d+){0,3})"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z.-]+))?$"
)

PreKey = tuple[tuple[int, int, str], ...]


@dataclass(frozen=True, slots=True)
class ParsedRelease:
    package: str | None
    version: str
    numbers: tuple[int, int, int, int]
    prerelease: tuple[str, ...]
    build: str | None

    @property
    def precedence_key(self) -> tuple[tuple[int, int, int, int], int, PreKey]:
        """A key whose ordering is semver precedence (build ignored)."""
        # A release without pre-release identifiers sorts after every pre-release of it.
        if not self.prerelease:
            return (self.numbers, 1, ())
        pre: PreKey = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part) for part in self.prerelease
        )
        return (self.numbers, 0, pre)


def parse_release(release: str) -> ParsedRelease | None:
    """Split "pkg@1.2.3-rc.1+build" into parts; None when the version is not semver-like."""
    if not isinstance(release, str):
        return None
    text = release.strip()
    package, at, version = text.rpartition("@")
    if not at:
        package, version = "", text
    match = _VERSION_RE.match(version)
    if match is None:
        return None
    nums = [int(n) for n in match.group("nums").split(".")]
    pre = match.group("pre")
    if pre and len(nums) < 2:
        return None  # "2024-05-01-night" is a date-like name, not version 2024 pre "05-01-night"
    nums += [0] * (4 - len(nums))
    return ParsedRelease(
        package=package or None,
        version=version,
        numbers=(nums[0], nums[1], nums[2], nums[3]),
        prerelease=tuple(pre.split(".")) if pre else (),
        build=match.group("build"),
    )


def compare_releases(
    a: str, b: str, a_date: datetime | None = None, b_date: datetime | None = None
) -> int:
    """-1, 0 or 1 as release `a` is before, the same as, or after `b`.

    Semver precedence when both parse and do not name two different packages;
    otherwise the dates. Equal names compare equal. Raises UncomparableReleases when the
    versions cannot decide and a date is missing.
    """
    if a == b:
        return 0
    pa, pb = parse_release(a), parse_release(b)
    if pa is not None and pb is not None and _same_package(pa, pb):
        ka, kb = pa.precedence_key, pb.precedence_key
        if ka != kb:
            return -1 if ka < kb else 1
        if a_date is None or b_date is None:
            return 0  # same version, other build: semver calls them equal
    if a_date is None or b_date is None:
        raise UncomparableReleases(
            f"cannot order releases {a!r} and {b!r}: they are not both semver versions of one "
            "package and a release date is missing"
        )
    return (a_date > b_date) - (a_date < b_date)


def _same_package(a: ParsedRelease, b: ParsedRelease) -> bool:
    # "1.2.4" and "shop@1.2.3" are taken as one product: projects mix the two spellings.
    return a.package is None or b.package is None or a.package == b.package


def is_release_at_or_after(
    release: str,
    fixed_in: str,
    release_date: datetime | None = None,
    fixed_in_date: datetime | None = None,
    *,
    if_unknown: bool = True,
) -> bool:
    """Whether `release` is the release with the fix or a later one (the test for "regressed
    in <release>"). When the order cannot be told, answers `if_unknown`: by default True,
    since reopening an issue by mistake costs less than hiding a regression."""
    try:
        return compare_releases(release, fixed_in, release_date, fixed_in_date) >= 0
    except UncomparableReleases:
        return if_unknown
