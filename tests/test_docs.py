"""The documented surface is tested: every setting and every CLI command appears in README.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from trimtab.cli.app import click_command
from trimtab.settings import ENVIRONMENT_VARIABLES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _command_paths(command: Any, prefix: str = "trimtab") -> list[str]:
    # Typer vendors its own click: recognize a group by its shape, not its class.
    if hasattr(command, "commands"):
        paths = []
        for name, sub in command.commands.items():
            paths.extend(_command_paths(sub, f"{prefix} {name}"))
        return paths
    return [prefix]


def test_readme__documents_every_environment_variable() -> None:
    missing = [name for name in ENVIRONMENT_VARIABLES if f"`{name}`" not in README]
    assert missing == []


def test_readme__documents_every_cli_command() -> None:
    paths = _command_paths(click_command())
    assert len(paths) > 10
    missing = [p for p in paths if not _documented(p)]
    assert missing == []


def _documented(path: str) -> bool:
    # "trimtab key list" counts as documented by "`trimtab key create …` / `key list`" rows.
    if path in README:
        return True
    *group, leaf = path.split(" ")
    return f"{group[-1]} {leaf}" in README


def test_readme__shows_the_two_commands() -> None:
    assert "make run" in README and "make test" in README


def test_cli_md__generated_from_the_cli__is_current() -> None:
    checked = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr


def _options(command: Any, prefix: str = "trimtab") -> list[tuple[str, str]]:
    """(command path, option) for every visible option, a group callback's included."""
    found = [
        (prefix, param.opts[0])
        for param in command.params
        if param.param_type_name == "option" and not getattr(param, "hidden", False)
    ]
    for name, sub in getattr(command, "commands", {}).items():
        found.extend(_options(sub, f"{prefix} {name}"))
    return found


def test_cli_md__documents_every_option__group_callbacks_included() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    sections = {
        block.split("`", 1)[0]: block for block in text.split("\n## `")[1:]
    }  # "trimtab agent" -> its section
    options = [(path, opt) for path, opt in _options(click_command()) if path != "trimtab"]
    missing = [(p, o) for p, o in options if f"`{o}`" not in sections.get(p, "")]
    assert missing == []
    assert ("trimtab agent", "--service") in options  # `trimtab agent -e E -s S` runs steps


def test_readme__documents_shell_completion_and_the_cli_reference() -> None:
    assert "--install-completion" in README and "docs/cli.md" in README


def _architecture_modules(text: str) -> set[str]:
    """Module paths (relative to src/trimtab) that the map in docs/architecture.md names: a name
    counts under the folder heading it is indented below (`flags/config.py` under `core/`)."""
    block = text.split("```", 2)[1]
    named: set[str] = set()
    folders: list[tuple[int, str]] = []  # (indent, path) of the headings above this line
    for line in block.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        while folders and folders[-1][0] >= indent:
            folders.pop()
        first = line.split()[0]
        if re.fullmatch(r"[a-z_]+/(?:[a-z_]+/)*", first):
            base = folders[-1][1] if folders else ""
            folders.append((indent, base + first))
        prefix = folders[-1][1] if folders else ""
        for name in re.findall(r"[a-z_][\w/]*\.py", line):
            named.add((prefix + name).removeprefix("src/trimtab/"))
    return named


def test_architecture__names_every_module() -> None:
    named = _architecture_modules((ROOT / "docs" / "architecture.md").read_text())
    src = ROOT / "src" / "trimtab"
    modules = {
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        if "versions" not in path.parts  # migrations: the folder is named, not each revision
        and (path.name != "__init__.py" or path.parent.name == "api")
    }
    assert sorted(modules - named) == []  # a module the map does not name
    assert sorted(named - modules) == []  # a name the map keeps for a module that is gone
