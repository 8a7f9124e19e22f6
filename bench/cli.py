"""CLI start-up benchmark: how long a `trimtab` call takes, as a ratio to a bare interpreter.

    .venv/bin/python bench/cli.py            # print the figures
    .venv/bin/python bench/cli.py --write    # and put them in docs/benchmarks.md

A CLI call is short, so its cost is mostly Python starting and importing modules. Each figure
is the median wall time of many runs of a real process (the installed `trimtab` console
script), divided by the median of `python -c pass` with the same interpreter, measured
interleaved in the same run so that a busy machine moves both alike:

- `trimtab --version`: target at most 3x;
- `trimtab status -p shop` against a live `trimtab serve` (a fresh data directory with the demo
  workspace): target at most 8x.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
ADMIN_TOKEN = "tt_bench_admin_token_0123456789abcdef"
TARGETS = {"version": 3.0, "status": 8.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def trimtab_script() -> str:
    """The console script next to this interpreter: what a user runs."""
    script = Path(sys.executable).parent / "trimtab"
    if not script.exists():
        raise SystemExit(f"no {script}: install the project first (make .venv/.installed-dev)")
    return str(script)


class Server:
    """`trimtab serve` on a free port and a fresh data directory with the demo workspace."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TRIMTAB_")},
            "TRIMTAB_DATA_DIR": str(data_dir),
            "TRIMTAB_ADMIN_TOKEN": ADMIN_TOKEN,
        }
        script = trimtab_script()
        subprocess.run([script, "demo", "seed"], env=self.env, check=True, capture_output=True)
        self.log = (data_dir / "serve.log").open("wb")
        self.process = subprocess.Popen(
            [script, "serve", "--port", str(self.port), "--log-level", "warning"],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise SystemExit("trimtab serve did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{argv} failed: {result.stderr.decode(errors='replace')}")
    return elapsed


def measure(server: Server, runs: int) -> dict[str, float]:
    """Median seconds per case; the cases take turns so load spikes hit them alike."""
    script = trimtab_script()
    env = {**server.env, "TRIMTAB_URL": server.url, "TRIMTAB_TOKEN": ADMIN_TOKEN}
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "version": [script, "--version"],
        "status": [script, "status", "-p", "shop"],
    }
    for argv in cases.values():  # warm the file cache
        timed(argv, env)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, argv in cases.items():
            samples[name].append(timed(argv, env))
    return {name: statistics.median(values) for name, values in samples.items()}


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def report(medians: dict[str, float], runs: int, load_before: str) -> str:
    base = medians["python -c pass"]
    cpus = os.cpu_count()
    lines = [
        "## CLI start-up (`bench/cli.py`)",
        "",
        f"Machine: {cpus} CPUs ({cpu_model()}), Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d}. Median of {runs} interleaved runs of each process; "
        f"load average {load_before} before the run, {load_average()} after it (on {cpus} "
        "cores). Ratios are to `python -c pass` with the same interpreter in the same run.",
        "",
        "| command | median ms | ratio to `python -c pass` | target | met |",
        "|---|---:|---:|---:|---|",
        f"| `python -c pass` | {base * 1000:.1f} | 1.0x | | |",
    ]
    for name, label in (
        ("version", "`trimtab --version`"),
        ("status", "`trimtab status -p shop` (live server)"),
    ):
        ratio = medians[name] / base
        met = "yes" if ratio <= TARGETS[name] else "no"
        target = f"≤ {TARGETS[name]:g}x"
        lines.append(f"| {label} | {medians[name] * 1000:.1f} | {ratio:.1f}x | {target} | {met} |")
    return "\n".join(lines) + "\n"


def write_docs(section: str) -> None:
    start, end = "<!-- bench:cli:start -->", "<!-- bench:cli:end -->"
    text = DOCS.read_text()
    block = f"{start}\n{section}{end}"
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + f"\n\n{block}\n"
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs of each command")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="trimtab-bench-cli-") as tmp:
        server = Server(Path(tmp))
        try:
            medians = measure(server, max(3, min(args.runs, 1000)))
        finally:
            server.stop()
    section = report(medians, args.runs, load_before)
    sys.stdout.write(section)
    if args.write:
        write_docs(section)


if __name__ == "__main__":
    main()
