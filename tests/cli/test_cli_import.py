"""`trimtab import unleash` as a real process against a real server: from a file (dry run,
then for real) and from a URL (another project's /api/client/features)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.server.test_api_import import DOCUMENT, FLAGD, KEYS
from tests.support import ADMIN_TOKEN, LiveServer, run_cli


def cli(server: LiveServer, *args: str) -> str:
    result = run_cli(*args, url=server.url, token=ADMIN_TOKEN)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _keys(server: LiveServer, project: str) -> set[str]:
    listed = json.loads(cli(server, "--json", "flag", "list", "-p", project))
    return {flag["key"] for flag in listed}


def test_import_unleash__file__dry_run_then_import(live_server: LiveServer, tmp_path: Path) -> None:
    cli(live_server, "project", "create", "shop")
    source = tmp_path / "features.json"
    source.write_text(json.dumps(DOCUMENT))
    dry = cli(
        live_server, "import", "unleash", str(source), "-p", "shop", "-e", "staging", "--dry-run"
    )
    assert "would create 4 flag(s)" in dry
    assert "legacy-ips.strategies[1]: custom strategy 'myCustomStrategy'" in dry
    assert "dry run: nothing was imported" in dry
    assert _keys(live_server, "shop") == set()
    done = json.loads(
        cli(live_server, "--json", "import", "unleash", str(source), "-p", "shop", "-e", "staging")
    )
    assert sorted(done["created"]) == sorted(KEYS.values())
    assert _keys(live_server, "shop") == set(KEYS.values())


def test_import_unleash__url__reads_another_servers_client_api(
    live_server: LiveServer, tmp_path: Path
) -> None:
    cli(live_server, "project", "create", "shop")
    source = tmp_path / "features.json"
    source.write_text(json.dumps(DOCUMENT))
    cli(live_server, "import", "unleash", str(source), "-p", "shop", "-e", "production")
    token = json.loads(
        cli(
            live_server,
            "--json",
            "token",
            "create",
            "sdk",
            "--scope",
            "sdk-server",
            "-p",
            "shop",
            "-e",
            "production",
        )
    )["token"]
    cli(live_server, "project", "create", "copy")
    url = f"{live_server.url}/api/client/features"
    out = cli(
        live_server,
        "import",
        "unleash",
        url,
        "-p",
        "copy",
        "-e",
        "production",
        "--source-token",
        token,
    )
    assert "did create 4 flag(s)" in out
    assert _keys(live_server, "copy") == set(KEYS.values())


def test_import_unleash__missing_file__usage_error(live_server: LiveServer) -> None:
    result = run_cli(
        "import",
        "unleash",
        "/nonexistent.json",
        "-p",
        "shop",
        "-e",
        "staging",
        url=live_server.url,
        token=ADMIN_TOKEN,
    )
    assert result.exit_code != 0
    assert "no such file" in result.stderr


def test_export_then_import_trimtab_and_flagd(live_server: LiveServer, tmp_path: Path) -> None:
    cli(live_server, "project", "create", "shop")
    source = tmp_path / "features.json"
    source.write_text(json.dumps(DOCUMENT))
    cli(live_server, "import", "unleash", str(source), "-p", "shop", "-e", "production")
    exported = tmp_path / "shop.json"
    assert "wrote 4 flag(s)" in cli(live_server, "export", "-p", "shop", "-o", str(exported))
    cli(live_server, "project", "create", "copy")
    out = cli(live_server, "import", "trimtab", str(exported), "-p", "copy", "-e", "production")
    assert "did create 4 flag(s)" in out
    assert _keys(live_server, "copy") == set(KEYS.values())
    flagd = tmp_path / "flagd.json"
    flagd.write_text(json.dumps(FLAGD))
    out = cli(live_server, "import", "flagd", str(flagd), "-p", "copy", "-e", "staging")
    assert "did create 3 flag(s)" in out
    assert "timed.targeting.if[0].>" in out
