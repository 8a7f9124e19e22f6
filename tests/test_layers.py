"""The layer rules, read from the source's import statements (every import, at any depth:
one placed inside a function or under TYPE_CHECKING still counts, so it cannot hide a cycle).

- `core` is pure: the standard library, mmh3, orjson (brotli, msgspec), nothing else of trimtab.
- `sdk` imports no server, store or domain (it ships to applications in the base install).
- `store` imports no domain, server, cli, jobs or runner; `domain` no server, cli, jobs or runner.
- Only `cli/server_cmds.py` imports `server` (and `server` itself).
- No import cycle between trimtab's modules.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Third-party packages `core` may use: neither web nor database. re2 runs flag regexes in linear
# time; brotli only in decompress.py and msgspec only in event_view.py, which the server alone
# imports (the SDK's lightness is tested in tests/sdk).
CORE_THIRD_PARTY = {"mmh3", "orjson", "brotli", "re2", "msgspec"}


@dataclass(frozen=True)
class Rule:
    """Modules under `importer` may not import anything under one of `forbidden`."""

    importer: str
    forbidden: tuple[str, ...]
    exempt: tuple[str, ...] = ()


RULES = (
    Rule(
        "trimtab.core",
        (
            "trimtab.settings",
            "trimtab.store",
            "trimtab.domain",
            "trimtab.server",
            "trimtab.cli",
            "trimtab.jobs",
            "trimtab.runner",
            "trimtab.sdk",
            "trimtab.demo",
        ),
    ),
    Rule("trimtab.sdk", ("trimtab.server", "trimtab.store", "trimtab.domain", "trimtab.cli")),
    Rule(
        "trimtab.store",
        ("trimtab.domain", "trimtab.server", "trimtab.cli", "trimtab.jobs", "trimtab.runner"),
    ),
    Rule(
        "trimtab.domain",
        ("trimtab.server", "trimtab.cli", "trimtab.jobs", "trimtab.runner", "trimtab.demo"),
    ),
    Rule("trimtab", ("trimtab.server",), exempt=("trimtab.server", "trimtab.cli.server_cmds")),
)


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str, known: Iterable[str]) -> set[str]:
    """Every module `path` imports (absolute names), resolved to the most specific known one."""
    known = set(known)
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            # `from pkg import mod` imports the module pkg.mod when it is one.
            names.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known)
    return names


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in sorted((root / "trimtab").rglob("*.py"))}
    return {module: imports_of(path, module, files) for module, path in files.items()}


def rule_breaks(graph: Mapping[str, set[str]]) -> list[str]:
    found = []
    for module, imported in sorted(graph.items()):
        for rule in RULES:
            if not _under(module, rule.importer) or any(_under(module, e) for e in rule.exempt):
                continue
            for name in sorted(imported):
                if any(_under(name, f) for f in rule.forbidden):
                    found.append(f"{module} imports {name} (rule: {rule.importer})")
        if _under(module, "trimtab.core"):
            for name in sorted(imported):
                top = name.split(".")[0]
                if top == "trimtab" or top in sys.stdlib_module_names:
                    continue
                if top not in CORE_THIRD_PARTY:
                    found.append(
                        f"{module} imports {name} (core: standard library, {CORE_THIRD_PARTY})"
                    )
    return found


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), as sorted lists."""
    internal = {m: sorted(n for n in names if n in graph and n != m) for m, names in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in internal[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for node in sorted(internal):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)  # other tests in this process expect the default
    return groups


def test_layers__source_tree__no_rule_broken() -> None:
    assert rule_breaks(import_graph()) == []


def test_layers__source_tree__no_import_cycle() -> None:
    assert cycles(import_graph()) == []


# The checker itself, on small trees written for the purpose: each rule and the cycle check
# must catch what they exist to catch.


def _tree(tmp_path: Path, files: Mapping[str, str]) -> dict[str, set[str]]:
    for name, text in files.items():
        path = tmp_path / "trimtab" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for directory in [tmp_path / "trimtab", *(tmp_path / "trimtab").rglob("*")]:
        if directory.is_dir() and not (directory / "__init__.py").exists():
            (directory / "__init__.py").write_text("")
    return import_graph(tmp_path)


@pytest.mark.parametrize(
    ("files", "broken"),
    [
        ({"core/a.py": "import sqlalchemy\n"}, "trimtab.core.a imports sqlalchemy"),
        ({"core/a.py": "from trimtab.store import db\n", "store/db.py": ""}, "trimtab.core.a"),
        ({"sdk/c.py": "from trimtab.domain import x\n", "domain/x.py": ""}, "trimtab.sdk.c"),
        (
            {"domain/x.py": "def f():\n    from trimtab.server import app\n", "server/app.py": ""},
            "trimtab.domain.x imports trimtab.server.app",
        ),
        ({"cli/flags.py": "import trimtab.server.app\n", "server/app.py": ""}, "trimtab.cli.flags"),
        ({"store/db.py": "from trimtab.domain import x\n", "domain/x.py": ""}, "trimtab.store.db"),
    ],
)
def test_layers__rule_broken__reported(tmp_path: Path, files: dict[str, str], broken: str) -> None:
    assert any(b.startswith(broken) for b in rule_breaks(_tree(tmp_path, files)))


def test_layers__server_cmds_imports_server__allowed(tmp_path: Path) -> None:
    graph = _tree(
        tmp_path, {"cli/server_cmds.py": "import trimtab.server.app\n", "server/app.py": ""}
    )
    assert rule_breaks(graph) == []


def test_layers__cycle_hidden_in_a_function__reported(tmp_path: Path) -> None:
    graph = _tree(
        tmp_path,
        {
            "domain/a.py": "from trimtab.domain import b\n",
            "domain/b.py": "def later():\n    from trimtab.domain.a import thing\n",
        },
    )
    assert cycles(graph) == [["trimtab.domain.a", "trimtab.domain.b"]]


def test_layers__relative_import__resolved(tmp_path: Path) -> None:
    graph = _tree(
        tmp_path, {"domain/a.py": "from . import b\n", "domain/b.py": "from .a import x\n"}
    )
    assert cycles(graph) == [["trimtab.domain.a", "trimtab.domain.b"]]
