"""Names users give things (project slugs, environment and service names, flag keys).

One strict rule everywhere, because these names end up in URLs, shell commands, DSNs and
cache keys: lowercase letters, digits, `-`, `_` and `.`; starting with a letter or digit.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class InvalidName(ValueError):
    pass


def check_name(value: str, what: str = "name") -> str:
    """Return `value` if it is a valid name, else raise InvalidName saying why."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidName(
            f"invalid {what} {value!r}: use 1-64 lowercase letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    return value
