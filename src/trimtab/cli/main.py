"""The `trimtab` command's entry point. Each noun has its own module; cli/app.py assembles them.

Every command except `serve`, `db` and `demo` is an HTTP client of a trimtab server, so a CI
pipeline can drive a remote install with TRIMTAB_URL and TRIMTAB_TOKEN.

This module stays tiny: `trimtab --version` answers before Typer is even imported, and any other
command line imports only what that command needs (cli/app.py).
"""

from __future__ import annotations

import sys

import trimtab


def main() -> None:
    argv = sys.argv[1:]
    if argv == ["--version"]:
        sys.stdout.write(f"trimtab {trimtab.__version__}\n")
        return
    from trimtab.cli.app import run

    sys.exit(run(argv))
