"""What a deploy step's process may see: a minimal environment, and output without secrets.

A step's command is written by an admin (or the user's trimtab.toml) but runs on the runner host,
inside the server's process tree. It must not inherit the server's environment: that holds
`TRIMTAB_ADMIN_TOKEN`, `TRIMTAB_ADMIN_PASSWORD` and `TRIMTAB_DATABASE_URL`, and step output is
readable by any read token of the project, so a project-bound admin could otherwise print them and
become install-wide admin. A step gets:

- the basics a shell needs, from the server's environment when set: PATH, HOME, LANG, LC_ALL,
  TZ, USER, LOGNAME, TMPDIR (PATH defaults to the standard directories);
- the variables an install admin lists in `TRIMTAB_DEPLOY_ENV` (comma-separated names, e.g.
  `KUBECONFIG,AWS_PROFILE`) — never trimtab's own secrets, even when listed;
- the step's own TRIMTAB_* variables (project, environment, service, version, release, run).

Output tails are scrubbed of trimtab's known secrets before they are stored, in case a command
finds them another way (a file, /proc).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from trimtab.settings import SECRET_VARIABLES

BASIC_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "TMPDIR")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
REDACTED = "[redacted]"
# Shorter values would redact ordinary words of the output; they are refused at start anyway.
MIN_SECRET_LENGTH = 6


def step_environment(
    server_environ: Mapping[str, str], passthrough: Iterable[str], step: Mapping[str, str]
) -> dict[str, str]:
    """The whole environment of a step's process (see the module doc)."""
    env = {name: server_environ[name] for name in BASIC_VARIABLES if name in server_environ}
    env.setdefault("PATH", DEFAULT_PATH)
    for name in passthrough:
        if name in server_environ and name not in SECRET_VARIABLES:
            env[name] = server_environ[name]
    env.update(step)
    return env


def secrets_of(values: Iterable[str | None]) -> tuple[str, ...]:
    """The strings to scrub from output: each secret, and a database URL's password alone."""
    found: list[str] = []
    for value in values:
        if not value:
            continue
        found.append(value)
        if "://" in value:
            password = urlsplit(value).password
            if password:
                found.append(password)
    # Longest first, so a URL is replaced whole before its password is.
    unique = {v for v in found if len(v) >= MIN_SECRET_LENGTH}
    return tuple(sorted(unique, key=len, reverse=True))


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
