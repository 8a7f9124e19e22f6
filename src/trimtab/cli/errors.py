"""How a `trimtab` command ends: its exit codes, and the errors that choose them.

The exit code is the contract a CI pipeline gates on (README, "Exit codes"):

- 0 `OK`: the command did what it says.
- 1 `FAILED`: it did not — the server refused or failed the request, a deploy or rollback run
  failed, the server is unreachable.
- 2 `USAGE`: the command line is wrong (unknown option, missing argument, an option value the
  CLI cannot read); nothing was sent. Typer exits 2 for its own checks too.
- 3 `REFUSED`: a stabilization window or a deploy freeze blocks the deploy (`deploy start`
  refused, `deploy plan` showing refusals). Retry later, or override with a reason.
"""

from __future__ import annotations

OK = 0
FAILED = 1
USAGE = 2
REFUSED = 3


class CliError(Exception):
    """Printed as one line on stderr; the process exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class UsageError(CliError):
    """An option value the CLI cannot use: nothing was sent to the server."""

    def __init__(self, message: str) -> None:
        super().__init__(message, USAGE)
