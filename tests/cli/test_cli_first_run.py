"""The first start of `trimtab serve` (what `make run` does) tells the user how to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import free_port

pytestmark = pytest.mark.live


def test_serve__first_start__prints_the_export_line_and_the_cli_path(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "trimtab"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIMTAB_")}
    env["TRIMTAB_DATA_DIR"] = str(tmp_path / "data")
    process = subprocess.Popen(
        [str(script), "serve", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("run it as" in line for line in lines):
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
    finally:
        process.terminate()
        process.wait(timeout=10)
    output = "".join(lines)
    assert "export TRIMTAB_URL=" in output and "TRIMTAB_TOKEN=tt_" in output, output
    how = next(line for line in lines if "run it as" in line)
    command = how.split("run it as ")[1].split(",")[0]
    assert command == "trimtab" or Path(tmp_path, command).resolve() == script.resolve(), how
