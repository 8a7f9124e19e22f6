"""Dashboard page for a project's segments: the list (constraints, the flags that use each),
create or replace one (constraints as the API's JSON), delete one no flag uses.

Each form calls the domain function of the API's segment routes (`segments.put_segment`,
`segments.delete_segment`), so validation, the `admin` scope and the audit entry are the
API's; a refusal shows the page again with the reason next to the form as it was filled in.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from trimtab.domain.errors import DomainError, InvalidInput
from trimtab.domain.flags import flags, segments
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.server.dashboard import flag_actions, pages

router = APIRouter(include_in_schema=False)

CONSTRAINTS_TEXT = 256 * 1024


class SegmentForm(BaseModel):
    csrf_token: str = Field(default="", max_length=flag_actions.CSRF)
    name: str = Field(default="", max_length=flag_actions.NAME)
    description: str = Field(default="", max_length=flag_actions.TEXT)
    constraints: str = Field(default="", max_length=CONSTRAINTS_TEXT)
    new: str = Field(default="", max_length=8)


def _url(slug: str) -> str:
    return f"/projects/{slug}/segments"


def _reader(
    slug: str, error: DomainError | None = None, form: SegmentForm | None = None
) -> pages.Reader:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        project = projects.get_project(session, actor, slug)
        return {
            "project": {"slug": project.slug, "name": project.name},
            "segments": segments.list_segments(session, actor, slug),
            "used_by": segments.segment_users(session, project.id),
            "can_define": actor.has_scope(flags.DEFINITION_SCOPE),
            "error": error.detail if error else None,
            "form": form,
        }

    return read


def constraints_text(constraints: list[dict[str, Any]]) -> str:
    return orjson.dumps(constraints, option=orjson.OPT_INDENT_2).decode()


pages.templates.env.globals["constraints_json"] = constraints_text


@router.get("/projects/{slug}/segments", response_class=HTMLResponse)
def segment_list(request: Request, slug: str) -> Response:
    return pages.page(request, "segments.html", _reader(slug))


def _refused(request: Request, slug: str, form: SegmentForm) -> pages.Refused:
    def refused(actor: Actor, csrf: str, exc: DomainError) -> Response:
        reader = _reader(slug, error=exc, form=form)
        return pages.page_as(request, "segments.html", reader, actor, csrf, exc.status)

    return refused


@router.post("/projects/{slug}/segments")
def put_segment(request: Request, slug: str, form: Annotated[SegmentForm, Form()]) -> Response:
    """Create or replace a segment (what `PUT /api/v1/projects/{slug}/segments/{name}` does)."""

    def write(session: Session, actor: Actor) -> str:
        try:
            constraints = orjson.loads(form.constraints.strip() or "[]")
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"constraints: not valid JSON ({exc})") from None
        if not isinstance(constraints, list):
            raise InvalidInput("constraints: a JSON list of constraints, like []")
        if len(constraints) > segments.MAX_CONSTRAINTS:
            raise InvalidInput(f"at most {segments.MAX_CONSTRAINTS} constraints per segment")
        saved = segments.put_segment(
            session, actor, slug, form.name, constraints, description=form.description
        )
        return f"{_url(slug)}#segment-{quote(saved.name)}"

    return pages.post(request, form.csrf_token, write, _refused(request, slug, form))


@router.post("/projects/{slug}/segments/{name}/delete")
def delete_segment(
    request: Request, slug: str, name: str, form: Annotated[SegmentForm, Form()]
) -> Response:
    """Delete a segment no flag uses (what `DELETE …/segments/{name}` does)."""

    def write(session: Session, actor: Actor) -> str:
        segments.delete_segment(session, actor, slug, name)
        return _url(slug)

    return pages.post(request, form.csrf_token, write, _refused(request, slug, form))
