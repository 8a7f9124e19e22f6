"""What every import of flags becomes, and trimtab's own export document.

An import (from Unleash: `core.unleash_import`; from flagd: `core.flagd_import`; from a trimtab
export: `read_trimtab`) is a `FlagImport`: full flag configs (see `core.evaluation`) with
parents before children, segments, descriptions and tags, and every `ImportProblem`: what has
no exact trimtab form, where, and what the import does instead. Nothing is dropped silently.

The export document (`trimtab export`), which `read_trimtab` reads back::

    {"trimtab": 1, "project": "shop",
     "segments": {"beta": [constraint, ...]},
     "flags": [{"key", "type", "description", "owner", "tags", "variants",
                "environments": {"production": {enabled, default_variant, off_variant, rules,
                                                prerequisites, fallback, salt}}}]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trimtab.core.flags.config import (
    ENVIRONMENT_FIELDS,
    FlagConfigError,
    validate_flag_config,
    validate_segments,
)

__all__ = ["EXPORT_VERSION", "FlagImport", "ImportDocumentError", "ImportProblem", "read_trimtab"]

EXPORT_VERSION = 1
CONFIG_FIELDS = ENVIRONMENT_FIELDS


class ImportDocumentError(ValueError):
    """The document is not of the kind being imported; says why."""


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """Something at `path` in flag `flag` ("" for the document) trimtab cannot express
    exactly, and what the import does instead."""

    flag: str
    path: str
    message: str


@dataclass(slots=True)
class FlagImport:
    """What a document becomes: flag configs in dependency order (parents first), segments,
    per-flag descriptions and tags, and the problems found."""

    flags: list[dict[str, Any]] = field(default_factory=list)
    segments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    tags: dict[str, list[str]] = field(default_factory=dict)
    problems: list[ImportProblem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_trimtab(document: Any, *, environment: str) -> FlagImport:
    """A trimtab export as an import into `environment`: each flag's config of that
    environment, or of the only one the export holds. Raises ImportDocumentError."""
    if not isinstance(document, Mapping) or document.get("trimtab") != EXPORT_VERSION:
        raise ImportDocumentError(f"not a trimtab export (version {EXPORT_VERSION})")
    flags = document.get("flags")
    segments = document.get("segments") or {}
    if not isinstance(flags, list) or not isinstance(segments, Mapping):
        raise ImportDocumentError("`flags` must be a list and `segments` an object")
    result = FlagImport()
    try:
        result.segments = validate_segments(segments)
    except FlagConfigError as exc:
        raise ImportDocumentError(str(exc)) from exc
    configs: dict[str, dict[str, Any]] = {}
    for i, flag in enumerate(flags):
        if not isinstance(flag, Mapping) or not isinstance(flag.get("environments"), Mapping):
            raise ImportDocumentError(f"flags[{i}] is not an exported flag")
        environments = flag["environments"]
        if environment in environments:
            source = environments[environment]
        elif len(environments) == 1:
            source = next(iter(environments.values()))
        else:
            raise ImportDocumentError(
                f"flags[{i}] has no environment {environment!r} (it has {sorted(environments)})"
            )
        if not isinstance(source, Mapping):
            raise ImportDocumentError(f"flags[{i}].environments: not a config")
        config = {
            "key": flag.get("key"),
            "type": flag.get("type", "boolean"),
            "variants": flag.get("variants"),
            **{name: source[name] for name in CONFIG_FIELDS if name in source},
        }
        try:
            normalized = validate_flag_config(config, segments=result.segments)
        except FlagConfigError as exc:
            raise ImportDocumentError(f"flags[{i}] ({flag.get('key')!r}): {exc}") from exc
        configs[normalized["key"]] = normalized
        if isinstance(flag.get("description"), str) and flag["description"]:
            result.descriptions[normalized["key"]] = flag["description"][:1000]
        tags = flag.get("tags")
        if isinstance(tags, list) and tags:
            result.tags[normalized["key"]] = [str(t) for t in tags]
    result.flags = parents_first(configs, result.problems)
    return result


def parents_first(
    configs: Mapping[str, dict[str, Any]], problems: list[ImportProblem]
) -> list[dict[str, Any]]:
    """Configs ordered so that each comes after its prerequisites. A prerequisite on a flag
    not in `configs`, or in a cycle, makes the flag never on (and is reported), as Unleash
    answers a child whose parent is missing."""
    ordered: list[dict[str, Any]] = []
    state: dict[str, int] = {}  # 1 = being visited, 2 = placed

    def visit(key: str) -> None:
        state[key] = 1
        config = configs[key]
        kept = []
        for item in config["prerequisites"]:
            parent = item["flag"]
            if parent not in configs or state.get(parent) == 1:
                why = "is not imported" if parent not in configs else "is in a cycle"
                problems.append(ImportProblem(key, "prerequisites", f"{parent!r} {why}: never on"))
                never_on(config)
                continue
            if parent not in state:
                visit(parent)
            kept.append(item)
        config["prerequisites"] = kept
        state[key] = 2
        ordered.append(config)

    for key in configs:
        if key not in state:
            visit(key)
    return ordered


def never_on(config: dict[str, Any]) -> None:
    """A config that serves its off variant to everyone while it stays enabled."""
    config["rules"] = []
    config["default_variant"] = config["off_variant"]
