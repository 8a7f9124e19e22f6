"""Global options (--url, --token, --json) shared by every command."""

from __future__ import annotations

import os
from dataclasses import dataclass

import typer

from trimtab.cli.client import ApiClient

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass
class CliState:
    url: str = DEFAULT_URL
    token: str | None = None
    as_json: bool = False

    def client(self) -> ApiClient:
        return ApiClient(self.url, self.token)


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState(
            url=os.environ.get("TRIMTAB_URL", DEFAULT_URL), token=os.environ.get("TRIMTAB_TOKEN")
        )
    return root.obj
