"""Import flags into one project environment (`trimtab import unleash|flagd|trimtab`), and
export a project's flags (`trimtab export`, the document `import trimtab` reads back).

The document is translated by the core (`core.unleash_import`, `core.flagd_import`,
`core.flag_imports.read_trimtab`, all pure); here its segments and flags
are written through the same use cases as the API's (`segments.put_segment`,
`flags.create_flag`, `flags.update_definition`, `flags.set_config`), each validated and audited,
in the caller's one transaction: an error anywhere rolls back everything. A dry run writes
nothing and answers what would be created or updated. The import itself gets one audit entry
(`flag.import`) with the counts and what could not be expressed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.core.evaluation import validate_flag_config
from trimtab.core.flag_imports import (
    CONFIG_FIELDS,
    EXPORT_VERSION,
    FlagImport,
    ImportDocumentError,
    read_trimtab,
)
from trimtab.core.flagd_import import read_flagd
from trimtab.core.names import InvalidName, check_name
from trimtab.core.unleash_import import read_unleash
from trimtab.domain.errors import InvalidInput
from trimtab.domain.flags import flags, segments
from trimtab.domain.flags.rule_sets import full_config, project_segments
from trimtab.domain.results import Result
from trimtab.domain.spine import audit
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.projects import get_environment, get_project
from trimtab.store.models import Flag, FlagConfig, Segment

MAX_PROBLEMS = 1000


class ImportProblem(Result):
    """What has no exact trimtab form: the Unleash feature ("" for the document), the path in
    it and what the import does instead."""

    flag: str
    path: str
    message: str


class ImportReport(Result):
    """What an import did (or, with dry_run, would do)."""

    dry_run: bool
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    segments: list[str]
    unsupported: list[ImportProblem]


SOURCES = ("unleash", "flagd", "trimtab")
_LABELS = {"unleash": "an Unleash", "flagd": "a flagd", "trimtab": "a trimtab export"}


def import_flags(
    session: Session,
    actor: Actor,
    project_slug: str,
    environment: str,
    source: str,
    document: Any,
    *,
    dry_run: bool = False,
    source_environment: str | None = None,
) -> ImportReport:
    """Import a document (`source`: unleash, flagd or trimtab) into one environment."""
    project = get_project(session, actor, project_slug, scope=flags.DEFINITION_SCOPE)
    env = get_environment(session, project, environment, actor=actor, scope=flags.DEFINITION_SCOPE)
    try:
        if source == "unleash":
            imported = read_unleash(
                document, environment=source_environment or env.name, name_rule=_trimtab_name
            )
        elif source == "flagd":
            imported = read_flagd(document)
        elif source == "trimtab":
            imported = read_trimtab(document, environment=source_environment or env.name)
        else:
            raise InvalidInput(f"unknown source {source!r}; one of {', '.join(SOURCES)}")
    except ImportDocumentError as exc:
        raise InvalidInput(f"not {_LABELS[source]} document: {exc}") from exc
    problems = [
        ImportProblem(flag=p.flag, path=p.path, message=p.message) for p in imported.problems
    ]
    existing = {
        f.key: f for f in session.scalars(select(Flag).where(Flag.project_id == project.id))
    }
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    known_segments = {
        s.name: s for s in session.scalars(select(Segment).where(Segment.project_id == project.id))
    }
    changed_segments = [
        name
        for name, constraints in imported.segments.items()
        if name not in known_segments or known_segments[name].constraints != constraints
    ]
    for config in imported.flags:
        key = config["key"]
        flag = existing.get(key)
        if flag is not None and (flag.type != config["type"] or flag.archived_at is not None):
            why = "archived" if flag.archived_at is not None else f"a {flag.type} flag"
            problems.append(
                ImportProblem(flag=key, path="", message=f"exists here as {why}: not changed")
            )
            continue
        if flag is None:
            created.append(key)
        elif _differs(session, flag, env.id, config):
            updated.append(key)
        else:
            unchanged.append(key)
    skipped = {p.flag for p in problems if p.path == "" and p.message.startswith("exists")}
    if not dry_run:
        for name in changed_segments:
            segments.put_segment(
                session,
                actor,
                project_slug,
                name,
                imported.segments[name],
                description=f"imported from {source}",
            )
        for config in imported.flags:
            if config["key"] not in skipped:
                _write(session, actor, project_slug, env.name, config, imported, existing, source)
        audit.record(
            session,
            actor,
            "flag.import",
            target_type="project",
            target_id=project.slug,
            project_id=project.id,
            environment=env.name,
            after={
                "source": source,
                "created": created,
                "updated": updated,
                "segments": changed_segments,
                "unsupported": [p.model_dump() for p in problems[:MAX_PROBLEMS]],
            },
        )
    return ImportReport(
        dry_run=dry_run,
        created=created,
        updated=updated,
        unchanged=unchanged,
        segments=changed_segments,
        unsupported=problems[:MAX_PROBLEMS],
    )


def _trimtab_name(name: str) -> str | None:
    """An Unleash name as a trimtab name: as is, else lowercased, else not usable."""
    for candidate in (name, name.lower()):
        try:
            return check_name(candidate)
        except InvalidName:
            continue
    return None


def _differs(session: Session, flag: Flag, environment_id: int, config: dict[str, Any]) -> bool:
    row = session.scalars(
        select(FlagConfig).where(
            FlagConfig.flag_id == flag.id, FlagConfig.environment_id == environment_id
        )
    ).first()
    current = full_config(flag, row)
    wanted = validate_flag_config(config)
    if flag.type != "boolean" and current["variants"] != wanted["variants"]:
        return True
    return any(current[name] != wanted[name] for name in CONFIG_FIELDS)


def _write(
    session: Session,
    actor: Actor,
    project_slug: str,
    environment: str,
    config: dict[str, Any],
    imported: FlagImport,
    existing: dict[str, Flag],
    source: str,
) -> None:
    key = config["key"]
    reason = f"imported from {source}"
    normalized = validate_flag_config(config)
    env_config = {name: normalized[name] for name in CONFIG_FIELDS}
    if key not in existing:
        flags.create_flag(
            session,
            actor,
            project_slug,
            key,
            flag_type=config["type"],
            description=imported.descriptions.get(key, ""),
            tags=imported.tags.get(key),
            variants=config.get("variants"),
            default_variant=config["default_variant"],
            off_variant=config["off_variant"],
            environments={environment: env_config},
        )
        return
    if config["type"] != "boolean":
        flags.update_definition(session, actor, project_slug, key, variants=config["variants"])
    flags.set_config(session, actor, project_slug, key, environment, env_config, reason=reason)


class ExportedFlag(flags.FlagDefinition):
    """One flag of an export: its definition and its config per environment."""

    environments: dict[str, dict[str, Any]]


class FlagExport(Result):
    """A project's live flags and segments (`trimtab export`), read back by
    `import trimtab` (see core.flag_imports)."""

    trimtab: int
    project: str
    segments: dict[str, list[dict[str, Any]]]
    flags: list[ExportedFlag]


def export_flags(
    session: Session, actor: Actor, project_slug: str, environment: str | None = None
) -> FlagExport:
    """The project's live flags in every environment the caller reaches, or in one."""
    project, listed = flags.list_flags(session, actor, project_slug)
    if environment is not None:
        get_environment(session, project, environment, actor=actor)
    exported = []
    for flag, configs in listed:
        environments = {
            name: {field: full_config(flag, row)[field] for field in CONFIG_FIELDS}
            for name, row in sorted(configs.items())
            if environment is None or name == environment
        }
        exported.append(ExportedFlag(**flags.definition_fields(flag), environments=environments))
    return FlagExport(
        trimtab=EXPORT_VERSION,
        project=project.slug,
        segments=project_segments(session, project.id),
        flags=exported,
    )
