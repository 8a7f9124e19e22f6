"""Files served to browsers for the SDKs: `/sdk/notice.js`, the maintenance notice script."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from starlette.responses import Response

router = APIRouter(include_in_schema=False)
_NOTICE_JS = resources.files("trimtab.server").joinpath("sdk_static/notice.js").read_bytes()


@router.get("/sdk/notice.js")
def notice_js() -> Response:
    headers = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}
    return Response(_NOTICE_JS, media_type="application/javascript", headers=headers)
