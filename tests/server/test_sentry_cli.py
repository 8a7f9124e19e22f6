"""The real `sentry-cli` (from PyPI) drives trimtab's Sentry-compatible release API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ADMIN_TOKEN, ThreadedServer, run_cli

SENTRY_CLI = Path(sys.executable).parent / "sentry-cli"


def _sentry(server: ThreadedServer, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SENTRY_URL": server.url,
        "SENTRY_AUTH_TOKEN": ADMIN_TOKEN,
        "SENTRY_ORG": "trimtab",
        "SENTRY_PROJECT": "shop",
        "SENTRY_DISABLE_UPDATE_CHECK": "1",
    }
    return subprocess.run(
        [str(SENTRY_CLI), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def _git_repo(path: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.invalid"}
    env |= {"GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.invalid"}
    for command in (
        ["git", "init", "-q"],
        ["git", "commit", "-q", "--allow-empty", "-m", "fix seat selection"],
    ):
        subprocess.run(command, cwd=path, env=env, check=True)


@pytest.mark.skipif(not SENTRY_CLI.exists(), reason="sentry-cli is a dev dependency")
def test_sentry_cli__release_new_commits_finalize_deploy__in_ledger_with_window(
    threaded_server: ThreadedServer, tmp_path: Path
) -> None:
    assert (
        run_cli("project", "create", "shop", url=threaded_server.url, token=ADMIN_TOKEN).exit_code
        == 0
    )
    _git_repo(tmp_path)
    for args in (
        ("releases", "new", "shop@2.3.0"),
        ("releases", "set-commits", "shop@2.3.0", "--local"),
        ("releases", "finalize", "shop@2.3.0"),
        ("releases", "deploys", "shop@2.3.0", "new", "-e", "production"),
    ):
        result = _sentry(threaded_server, tmp_path, *args)
        assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
    listed = _sentry(threaded_server, tmp_path, "releases", "list")
    assert listed.returncode == 0 and "shop@2.3.0" in listed.stdout

    shown = run_cli(
        "--json", "release", "show", "shop@2.3.0", "-p", "shop",
        url=threaded_server.url, token=ADMIN_TOKEN,
    )  # fmt: skip
    release = json.loads(shown.stdout)
    assert release["finalized_at"] is not None
    assert [c["message"].strip() for c in release["commits"]] == ["fix seat selection"]
    assert [(d["environment"], d["result"]) for d in release["deploys"]] == [
        ("production", "success")
    ]
    assert release["windows"][0]["open"] is True
    history = run_cli(
        "--json", "history", "shop", "-p", "shop", "-e", "production",
        url=threaded_server.url, token=ADMIN_TOKEN,
    )  # fmt: skip
    assert [r["release"] for r in json.loads(history.stdout)] == ["shop@2.3.0"]
