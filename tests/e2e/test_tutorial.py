"""docs/tutorial.md, walked as a new user walks it: every command on the page runs against a
fresh `trimtab serve` (SQLite, and PostgreSQL when configured), in a real shell, and must print
what the page shows and end with the exit code it shows. The page says how it is read ("How this
page is tested"); this module is that reading, so the doc cannot drift from what trimtab does.

Waits are the page's own `# repeat until …` commands, bounded and loose.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import LiveServer, start_server

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"
DOC_ADDRESS = "127.0.0.1:8001"  # where the page's server listens
ELLIPSIS = "…"
REPEAT = "# repeat until"
REPEAT_DEADLINE_S = 120.0
COMMAND_TIMEOUT_S = 180.0
FENCE = re.compile(r"^```(\w*)\s*$")
# The story's steps (SCENARIO.md): the page must keep a command for each.
STORY_COMMANDS = [
    "trimtab service create",
    "trimtab release create",
    "trimtab dependency create",
    "trimtab flag set",
    "trimtab deploy plan",
    "trimtab deploy start",
    "trimtab deploy confirm",
    "trimtab maintenance status",
    "trimtab status",
    "trimtab flag rollout",
    "python phone.py",
    "trimtab issues show",
    "python checkout.py",
    "trimtab dependency status",
    "trimtab flag kill",
    "--override --reason",
    "trimtab rollback --release",
    "trimtab release show",
]


@dataclass
class Step:
    """One `$ ` command of a console block, the output lines under it, its exit code."""

    command: str
    expected: list[str] = field(default_factory=list)
    exit_code: int = 0
    line: int = 0


@dataclass
class Page:
    files: dict[str, str]
    steps: list[Step | str]  # a command to run, or the name of a file to save


def parse(text: str) -> Page:
    """The page's python files and console commands, in reading order."""
    files: dict[str, str] = {}
    order: list[Step | str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if not opening:
            continue
        kind, body, start = opening.group(1), [], index
        while not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        index += 1
        if kind == "python" and body and body[0].startswith("# ") and body[0].endswith(".py"):
            name = body[0][2:].strip()
            files[name] = "\n".join(body) + "\n"
            order.append(name)
        elif kind == "console":
            for number, line in enumerate(body, start + 1):
                if line.startswith("$ echo $?"):
                    continue  # its output line is the previous command's exit code
                if line.startswith("$ "):
                    order.append(Step(line[2:], line=number))
                    continue
                last = order[-1]
                assert isinstance(last, Step), f"tutorial.md:{number}: output before a command"
                if body[number - start - 2].startswith("$ echo $?"):
                    last.exit_code = int(line)
                else:
                    last.expected.append(line)
    return Page(files, order)


def matches(expected: list[str], output: str) -> str | None:
    """None when every expected line appears in `output`, in order (runs of whitespace count as
    one space, `…` as any text); else the first line that does not."""
    flat = " ".join(output.split())
    position = 0
    for line in expected:
        pieces = [" ".join(p.split()) for p in line.split(ELLIPSIS)]
        for piece in (p for p in pieces if p):
            found = flat.find(piece, position)
            if found < 0:
                return line
            position = found + len(piece)
    return None


class Shell:
    """A user's terminal: bash with the virtualenv first on PATH; exports carry over."""

    def __init__(self, workdir: Path, server: LiveServer) -> None:
        self.workdir = workdir
        self.env_file = workdir / ".env0"
        venv_bin = str(Path(sys.executable).parent)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TRIMTAB_")}
        self.env.update(
            PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            COLUMNS="100",
            # A terminal's line buffering: stdout and stderr lines arrive in the order written.
            PYTHONUNBUFFERED="1",
            SENTRY_DISABLE_UPDATE_CHECK="1",  # no calls to the internet from sentry-cli
        )
        self.env.update(printed_exports(server))

    def run(self, command: str) -> tuple[int, str]:
        keep_env = f"env -0 > {shlex.quote(str(self.env_file))}"
        script = f'{command}\n__status=$?\n{keep_env}\nexit "$__status"\n'
        proc = subprocess.run(
            ["bash", "-c", script],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        if self.env_file.exists():
            pairs = self.env_file.read_text().split("\0")
            self.env = dict(p.split("=", 1) for p in pairs if "=" in p)
        return proc.returncode, proc.stdout


def printed_exports(server: LiveServer) -> dict[str, str]:
    """The `export TRIMTAB_URL=… TRIMTAB_TOKEN=…` line the server printed at start, as a user
    pastes it."""
    [line] = [line for line in server.log().splitlines() if "export TRIMTAB_URL=" in line]
    words = shlex.split(line.split("export", 1)[1])
    return dict(word.split("=", 1) for word in words)


def walk(page: Page, shell: Shell, server_url: str) -> None:
    for item in page.steps:
        if isinstance(item, str):
            (shell.workdir / item).write_text(page.files[item])
            continue
        address = urlsplit(server_url).netloc
        expected = [line.replace(DOC_ADDRESS, address) for line in item.expected]
        deadline = time.monotonic() + (REPEAT_DEADLINE_S if REPEAT in item.command else 0)
        while True:
            code, output = shell.run(item.command)
            missing = matches(expected, output) if code == item.exit_code else "(exit code)"
            if missing is None or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        where = f"tutorial.md:{item.line}: $ {item.command}"
        assert code == item.exit_code, f"{where}\nexit {code}, not {item.exit_code}:\n{output}"
        assert missing is None, f"{where}\nnot in the output: {missing!r}\n--- output:\n{output}"


@pytest.fixture
def tutorial_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """`trimtab serve` on an empty store, with credentials it generates, as the page starts it."""
    server = start_server(
        database_url,
        tmp_path / "data",
        {"TRIMTAB_ADMIN_TOKEN": "", "TRIMTAB_ADMIN_PASSWORD": ""},
    )
    yield server
    server.stop()


def test_parse__console_block__commands_outputs_and_exit_codes() -> None:
    page = parse(
        "text\n```console\n$ trimtab a\none\n…\ntwo\n$ trimtab b\n$ echo $?\n3\n```\n"
        "```python\n# x.py\nprint(1)\n```\n```sh\n$ not run\n```\n"
    )
    assert page.files == {"x.py": "# x.py\nprint(1)\n"}
    assert page.steps == [
        Step("trimtab a", ["one", "…", "two"], 0, 3),
        Step("trimtab b", [], 3, 7),
        "x.py",
    ]


def test_matches__lines_in_order_with_ellipsis__else_the_first_missing_line() -> None:
    output = "state: success  by token:admin\nwave 1  billing-api\n   1.8.0  success\n"
    assert matches(["state: success by …", "billing-api 1.8.0"], output) is None
    assert matches(["billing-api", "state: success"], output) == "state: success"
    assert matches(["billing-api 1.8.1"], output) == "billing-api 1.8.1"
    assert matches(["wave … failed"], output) == "wave … failed"


def test_tutorial__every_story_step_keeps_its_command() -> None:
    steps = parse(TUTORIAL.read_text()).steps
    commands = [step.command for step in steps if isinstance(step, Step)]
    for wanted in STORY_COMMANDS:
        assert any(wanted in command for command in commands), f"tutorial.md lost {wanted!r}"


@pytest.mark.live
def test_tutorial__walked_on_a_fresh_server__every_command_prints_what_the_page_shows(
    tutorial_server: LiveServer, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    walk(parse(TUTORIAL.read_text()), Shell(workdir, tutorial_server), tutorial_server.url)
