"""A rule set: the document `GET /api/v1/sdk/flags` returns, compiled for local evaluation.

The same JSON is the bootstrap file an application can start from offline, so a rule set is
read from and written to disk unchanged.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from trimtab.core.evaluation import CompiledFlag, FlagConfigError, compile_flag

log = logging.getLogger("trimtab.sdk")

MAX_DOCUMENT_BYTES = 32 << 20


class RuleSetError(ValueError):
    """The document is not a rule set (internal: the client logs it and keeps its rules)."""


@dataclass(frozen=True)
class RuleSet:
    etag: str | None
    flags: dict[str, CompiledFlag]
    unhealthy: frozenset[str]
    document: dict[str, Any] = field(repr=False)
    skipped: tuple[str, ...] = ()  # flags whose configs this SDK could not compile

    @property
    def project(self) -> str | None:
        value = self.document.get("project")
        return value if isinstance(value, str) else None

    @property
    def environment(self) -> str | None:
        value = self.document.get("environment")
        return value if isinstance(value, str) else None


EMPTY = RuleSet(None, {}, frozenset(), {})


def parse_rule_set(document: Any, etag: str | None = None) -> RuleSet:
    """Compile a rule-set document. One flag that fails to compile (say, written by a newer
    server) is skipped and logged; the rest still serve."""
    if not isinstance(document, Mapping):
        raise RuleSetError("a rule set is a JSON object")
    configs = document.get("flags")
    segments = document.get("segments") or {}
    unhealthy = document.get("unhealthy") or []
    if not isinstance(configs, list):
        raise RuleSetError("'flags' must be a list")
    if not isinstance(segments, Mapping):
        raise RuleSetError("'segments' must be an object")
    if not isinstance(unhealthy, list) or not all(isinstance(n, str) for n in unhealthy):
        raise RuleSetError("'unhealthy' must be a list of names")
    flags: dict[str, CompiledFlag] = {}
    skipped: list[str] = []
    for config in configs:
        try:
            compiled = compile_flag(config, segments)
        except (FlagConfigError, TypeError, ValueError, KeyError) as exc:
            key = config.get("key") if isinstance(config, Mapping) else None
            skipped.append(str(key))
            log.warning("trimtab: skipping flag %r: %s", key, exc)
            continue
        flags[compiled.key] = compiled
    if etag is None and isinstance(document.get("etag"), str):
        etag = document["etag"]
    return RuleSet(etag, flags, frozenset(unhealthy), dict(document), tuple(skipped))


def load_bootstrap(path: str | os.PathLike[str]) -> RuleSet:
    """Read a bootstrap file (raises OSError or RuleSetError; the client logs and goes on)."""
    data = Path(path).read_bytes()
    if len(data) > MAX_DOCUMENT_BYTES:
        raise RuleSetError(f"bootstrap file larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RuleSetError(f"bootstrap file is not JSON: {exc}") from None
    return parse_rule_set(document)


def write_bootstrap(path: str | os.PathLike[str], rules: RuleSet) -> None:
    """Write `rules` as a bootstrap file atomically (a reader never sees half a file)."""
    target = Path(path)
    document = dict(rules.document)
    if rules.etag is not None:
        document["etag"] = rules.etag
    payload = orjson.dumps(document, option=orjson.OPT_INDENT_2)
    fd, temporary = tempfile.mkstemp(prefix=".trimtab-", suffix=".json", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
