"""How the evaluator reads context values and constraint values.

Context values arrive from JSON (OFREP, the SDK), so one attribute may be a string in one request
and a number in the next. Each operator family reads values one way, here, so the server, the
SDK and the Unleash translation agree:

- text form (string operators, `in`, stickiness): a string as is; `true` / `false` for booleans;
  `str()` of an int; `repr()` of a finite float. Anything else (None, lists, objects) counts as
  missing.
- numbers: int or float (not bool), or a string in plain decimal / exponent notation. Strings
  with spaces, underscores, `inf` or `nan` are not numbers (Unleash's Rust parser agrees).
- semantic versions: strict SemVer 2.0.0 (`1.2.3`, `1.2.3-rc.1+build.5`), no leading `v`;
  compared by precedence, so build metadata is ignored.
- IP networks (`in_cidr`): `10.0.0.0/8`, `2001:db8::/32` or one address (a /32 or /128); host
  bits are ignored, as Unleash does. A context value is one IPv4 or IPv6 address.
- dates: ISO 8601 (`2024-05-01T12:00:00Z`, `2024-05-01T12:00:00+09:00`, `2024-05-01`) or a
  `datetime`; a value without an offset is taken as UTC.
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import UTC, datetime

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")
_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?\Z"
)

# A parsed version, ordered by SemVer precedence: (major, minor, patch, is_release, pre-release
# identifiers). A release sorts after its pre-releases; numeric identifiers sort before
# alphanumeric ones.
SemverKey = tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]


def as_text(value: object) -> str | None:
    """The text form of a context value, or None when the value counts as missing."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return None


def as_number(value: object) -> float | None:
    """A context or constraint value as a float, or None when it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str) and _NUMBER_TEXT.match(value):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def parse_semver(value: object) -> SemverKey | None:
    """A strict SemVer 2.0.0 string as a precedence key, or None when it is not one."""
    if not isinstance(value, str):
        return None
    match = _SEMVER.match(value)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    if pre is None:
        return (int(major), int(minor), int(patch), 1, ())
    identifiers: list[tuple[int, int | str]] = []
    for part in pre.split("."):
        if part.isdigit():
            if len(part) > 1 and part[0] == "0":
                return None  # SemVer forbids leading zeros in numeric identifiers
            identifiers.append((0, int(part)))
        else:
            identifiers.append((1, part))
    return (int(major), int(minor), int(patch), 0, tuple(identifiers))


def parse_datetime(value: object) -> datetime | None:
    """An ISO 8601 string or a datetime as an aware datetime (UTC when no offset is given)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and 0 < len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def parse_network(value: object) -> IpNetwork | None:
    """A CIDR network (or one address) as a network, or None when it is not one."""
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def parse_address(value: object) -> IpAddress | None:
    """An IPv4 or IPv6 address, or None when the value is not one."""
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        return None
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None
