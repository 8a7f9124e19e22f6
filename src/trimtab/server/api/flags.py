"""/api/v1/projects/{slug}/flags…: define, configure, flip, kill, roll out, schedule, archive;
segments; the stale-flag report.

Definitions (create, variants, rules, segments, archive) need an admin token; on / off / kill /
rollout / schedules are operational and a deploy token may do them (see domain.flags).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from trimtab.domain.flags import flags, imports, schedules, segments, staleness
from trimtab.domain.results import Deleted
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.schemas import Body, RowId
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["flags"])

Key = Field(min_length=1, max_length=128)
Reason = Field(default=None, max_length=flags.MAX_REASON)
JsonList = Field(default=None, max_length=1000)


class FlagCreate(Body):
    key: str = Key
    type: str = Field(default="boolean", max_length=16)
    description: str = Field(default="", max_length=1000)
    owner: str = Field(default="", max_length=200)
    tags: list[str] | None = Field(default=None, max_length=flags.MAX_TAGS)
    variants: dict[str, Any] | None = Field(default=None, max_length=flags.MAX_VARIANTS)
    default_variant: str | None = Field(default=None, max_length=128)
    off_variant: str | None = Field(default=None, max_length=128)
    environments: dict[str, dict[str, Any]] | None = Field(default=None, max_length=50)


class FlagUpdate(Body):
    description: str | None = Field(default=None, max_length=1000)
    owner: str | None = Field(default=None, max_length=200)
    tags: list[str] | None = Field(default=None, max_length=flags.MAX_TAGS)
    variants: dict[str, Any] | None = Field(default=None, max_length=flags.MAX_VARIANTS)


class ConfigUpdate(Body):
    """Only the fields given change; `fallback: null` removes the fallback."""

    enabled: bool | None = None
    default_variant: str | None = Field(default=None, max_length=128)
    off_variant: str | None = Field(default=None, max_length=128)
    rules: list[dict[str, Any]] | None = JsonList
    prerequisites: list[dict[str, Any]] | None = Field(default=None, max_length=50)
    fallback: dict[str, Any] | None = None
    salt: str | None = Field(default=None, min_length=1, max_length=200)
    reason: str | None = Reason


class ReasonBody(Body):
    reason: str | None = Reason


class KillBody(Body):
    reason: str = Field(min_length=1, max_length=flags.MAX_REASON)


class RolloutBody(Body):
    percentage: float = Field(ge=0, le=100)
    rule_id: str = Field(default=flags.ROLLOUT_RULE, min_length=1, max_length=64)
    variant: str | None = Field(default=None, max_length=128)
    stickiness: str | None = Field(default=None, min_length=1, max_length=200)
    reason: str | None = Reason


class ScheduleCreate(Body):
    environment: str = Field(min_length=1, max_length=64)
    kind: str = Field(max_length=16)
    at: str | None = Field(default=None, max_length=64)
    percentage: float | None = Field(default=None, ge=0, le=100)
    steps: list[dict[str, Any]] | None = Field(default=None, max_length=schedules.MAX_STEPS)
    rule_id: str = Field(default=flags.ROLLOUT_RULE, min_length=1, max_length=64)
    reason: str | None = Reason


class SegmentPut(Body):
    constraints: list[dict[str, Any]] = Field(max_length=segments.MAX_CONSTRAINTS)
    description: str = Field(default="", max_length=1000)


@router.get("/projects/{slug}/flags", response_model=list[flags.FlagSummary], status_code=200)
def list_flags(
    slug: str,
    request: Request,
    tag: str | None = Query(default=None, max_length=64),
    archived: bool = False,
    actor: Actor = Depends(current_actor),
) -> list[flags.FlagSummary]:
    with store_of(request).read() as session:
        return flags.flag_summaries(session, actor, slug, include_archived=archived, tag=tag)


@router.post("/projects/{slug}/flags", response_model=flags.FlagDetail, status_code=201)
def create_flag(
    slug: str, body: FlagCreate, request: Request, actor: Actor = Depends(current_actor)
) -> flags.FlagDetail:
    with store_of(request).write() as session:
        flags.create_flag(
            session,
            actor,
            slug,
            body.key,
            flag_type=body.type,
            description=body.description,
            owner=body.owner,
            tags=body.tags,
            variants=body.variants,
            default_variant=body.default_variant,
            off_variant=body.off_variant,
            environments=body.environments,
        )
        return flags.flag_detail(session, actor, slug, body.key)


@router.get("/projects/{slug}/flags/{key}", response_model=flags.FlagDetail, status_code=200)
def show_flag(
    slug: str, key: str, request: Request, actor: Actor = Depends(current_actor)
) -> flags.FlagDetail:
    with store_of(request).read() as session:
        return flags.flag_detail(session, actor, slug, key)


@router.patch("/projects/{slug}/flags/{key}", response_model=flags.FlagDetail, status_code=200)
def update_flag(
    slug: str, key: str, body: FlagUpdate, request: Request, actor: Actor = Depends(current_actor)
) -> flags.FlagDetail:
    with store_of(request).write() as session:
        flags.update_definition(
            session,
            actor,
            slug,
            key,
            description=body.description,
            owner=body.owner,
            tags=body.tags,
            variants=body.variants,
        )
        return flags.flag_detail(session, actor, slug, key)


@router.put(
    "/projects/{slug}/flags/{key}/environments/{env}",
    response_model=flags.FlagDetail,
    status_code=200,
)
def set_config(
    slug: str,
    key: str,
    env: str,
    body: ConfigUpdate,
    request: Request,
    actor: Actor = Depends(current_actor),
) -> flags.FlagDetail:
    changes = {name: getattr(body, name) for name in body.model_fields_set if name != "reason"}
    with store_of(request).write() as session:
        flags.set_config(session, actor, slug, key, env, changes, reason=body.reason)
        return flags.flag_detail(session, actor, slug, key)


def _flip(
    request: Request, actor: Actor, slug: str, key: str, env: str, **kwargs: Any
) -> flags.FlagDetail:
    with store_of(request).write() as session:
        flags.set_enabled(session, actor, slug, key, env, **kwargs)
        return flags.flag_detail(session, actor, slug, key)


@router.post(
    "/projects/{slug}/flags/{key}/environments/{env}/on",
    response_model=flags.FlagDetail,
    status_code=200,
)
def turn_on(
    slug: str,
    key: str,
    env: str,
    request: Request,
    body: ReasonBody | None = None,
    actor: Actor = Depends(current_actor),
) -> flags.FlagDetail:
    reason = body.reason if body else None
    return _flip(request, actor, slug, key, env, enabled=True, reason=reason)


@router.post(
    "/projects/{slug}/flags/{key}/environments/{env}/off",
    response_model=flags.FlagDetail,
    status_code=200,
)
def turn_off(
    slug: str,
    key: str,
    env: str,
    request: Request,
    body: ReasonBody | None = None,
    actor: Actor = Depends(current_actor),
) -> flags.FlagDetail:
    reason = body.reason if body else None
    return _flip(request, actor, slug, key, env, enabled=False, reason=reason)


@router.post(
    "/projects/{slug}/flags/{key}/environments/{env}/kill",
    response_model=flags.FlagDetail,
    status_code=200,
)
def kill(
    slug: str,
    key: str,
    env: str,
    body: KillBody,
    request: Request,
    actor: Actor = Depends(current_actor),
) -> flags.FlagDetail:
    with store_of(request).write() as session:
        flags.kill(session, actor, slug, key, env, body.reason)
        return flags.flag_detail(session, actor, slug, key)


@router.post(
    "/projects/{slug}/flags/{key}/environments/{env}/rollout",
    response_model=flags.FlagDetail,
    status_code=200,
)
def rollout(
    slug: str,
    key: str,
    env: str,
    body: RolloutBody,
    request: Request,
    actor: Actor = Depends(current_actor),
) -> flags.FlagDetail:
    percentage = int(body.percentage) if body.percentage.is_integer() else body.percentage
    with store_of(request).write() as session:
        flags.rollout(
            session,
            actor,
            slug,
            key,
            env,
            percentage,
            rule_id=body.rule_id,
            variant=body.variant,
            stickiness=body.stickiness,
            reason=body.reason,
        )
        return flags.flag_detail(session, actor, slug, key)


@router.post(
    "/projects/{slug}/flags/{key}/archive", response_model=flags.FlagDetail, status_code=200
)
def archive(
    slug: str, key: str, request: Request, actor: Actor = Depends(current_actor)
) -> flags.FlagDetail:
    with store_of(request).write() as session:
        flags.archive_flag(session, actor, slug, key)
        return flags.flag_detail(session, actor, slug, key)


@router.post(
    "/projects/{slug}/flags/{key}/restore", response_model=flags.FlagDetail, status_code=200
)
def restore(
    slug: str, key: str, request: Request, actor: Actor = Depends(current_actor)
) -> flags.FlagDetail:
    with store_of(request).write() as session:
        flags.archive_flag(session, actor, slug, key, restore=True)
        return flags.flag_detail(session, actor, slug, key)


@router.get(
    "/projects/{slug}/flags/{key}/schedules",
    response_model=list[schedules.ScheduleSummary],
    status_code=200,
)
def list_schedules(
    slug: str,
    key: str,
    request: Request,
    pending: bool = False,
    actor: Actor = Depends(current_actor),
) -> list[schedules.ScheduleSummary]:
    with store_of(request).read() as session:
        return schedules.list_schedules(session, actor, slug, key, pending_only=pending)


@router.post(
    "/projects/{slug}/flags/{key}/schedules",
    response_model=schedules.ScheduleSummary,
    status_code=201,
)
def create_schedule(
    slug: str,
    key: str,
    body: ScheduleCreate,
    request: Request,
    actor: Actor = Depends(current_actor),
) -> schedules.ScheduleSummary:
    with store_of(request).write() as session:
        schedule = schedules.create_schedule(
            session,
            actor,
            slug,
            key,
            body.environment,
            body.kind,
            at=body.at,
            percentage=body.percentage,
            steps=body.steps,
            rule_id=body.rule_id,
            reason=body.reason,
        )
        return schedules.schedule_summary(schedule, key, body.environment)


@router.delete(
    "/projects/{slug}/flags/{key}/schedules/{schedule_id}",
    response_model=schedules.ScheduleSummary,
    status_code=200,
)
def cancel_schedule(
    slug: str, key: str, schedule_id: RowId, request: Request, actor: Actor = Depends(current_actor)
) -> schedules.ScheduleSummary:
    with store_of(request).write() as session:
        return schedules.cancel_schedule(session, actor, slug, key, schedule_id)


@router.get(
    "/projects/{slug}/stale-flags", response_model=list[staleness.StaleFlag], status_code=200
)
def stale_flags(
    slug: str,
    request: Request,
    days: int = Query(default=30, ge=1, le=staleness.MAX_DAYS),
    env: str | None = Query(default=None, max_length=64),
    actor: Actor = Depends(current_actor),
) -> list[staleness.StaleFlag]:
    with store_of(request).read() as session:
        return staleness.stale_flags(session, actor, slug, days=days, environment=env)


@router.get(
    "/projects/{slug}/segments", response_model=list[segments.SegmentSummary], status_code=200
)
def list_segments(
    slug: str, request: Request, actor: Actor = Depends(current_actor)
) -> list[segments.SegmentSummary]:
    with store_of(request).read() as session:
        return segments.list_segments(session, actor, slug)


@router.put(
    "/projects/{slug}/segments/{name}", response_model=segments.SegmentSummary, status_code=200
)
def put_segment(
    slug: str, name: str, body: SegmentPut, request: Request, actor: Actor = Depends(current_actor)
) -> segments.SegmentSummary:
    with store_of(request).write() as session:
        return segments.put_segment(
            session, actor, slug, name, body.constraints, description=body.description
        )


@router.delete("/projects/{slug}/segments/{name}", response_model=Deleted, status_code=200)
def delete_segment(
    slug: str, name: str, request: Request, actor: Actor = Depends(current_actor)
) -> Deleted:
    with store_of(request).write() as session:
        return segments.delete_segment(session, actor, slug, name)


class ImportBody(Body):
    """A document to import (an Unleash features document, delta events or export; a flagd
    flag definition document; a trimtab export). The request body limit bounds its size;
    `source_environment` picks one environment from an export that holds several."""

    document: dict[str, Any]
    dry_run: bool = False
    source_environment: str | None = Field(default=None, min_length=1, max_length=100)


@router.post(
    "/projects/{slug}/environments/{env}/import/{source}",
    response_model=imports.ImportReport,
    status_code=200,
)
def import_flags(
    slug: str,
    env: str,
    source: str,
    body: ImportBody,
    request: Request,
    actor: Actor = Depends(current_actor),
) -> imports.ImportReport:
    with store_of(request).write() as session:
        return imports.import_flags(
            session,
            actor,
            slug,
            env,
            source,
            body.document,
            dry_run=body.dry_run,
            source_environment=body.source_environment,
        )


@router.get("/projects/{slug}/export", response_model=imports.FlagExport, status_code=200)
def export_flags(
    slug: str,
    request: Request,
    env: str | None = Query(default=None, max_length=64),
    actor: Actor = Depends(current_actor),
) -> imports.FlagExport:
    with store_of(request).read() as session:
        return imports.export_flags(session, actor, slug, env)
