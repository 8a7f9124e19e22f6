"""Commands that run on the server's machine, not through the API: serve, db, demo."""

from __future__ import annotations

import gc
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from trimtab.cli.errors import CliError
from trimtab.cli.output import say, table
from trimtab.settings import Settings

db_app = typer.Typer(
    help="The store: migrations, copying to another database.", no_args_is_help=True
)
demo_app = typer.Typer(help="The demo workspace.", no_args_is_help=True)


def _settings(**overrides: object) -> Settings:
    """The server's settings; a bad variable ends the command with its reason, not a traceback."""
    try:
        return Settings.from_env(**overrides)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _cli_command() -> str:
    """How to run this CLI from here: `trimtab` when it is on PATH, else the path of the script
    that started us (`.venv/bin/trimtab` under `make run`), else `python -m trimtab`."""
    script = Path(sys.argv[0])
    on_path = shutil.which("trimtab")
    if on_path and script.name == "trimtab" and Path(on_path).resolve() == script.resolve():
        return "trimtab"
    if script.name == "trimtab" and script.exists():
        try:
            return str(script.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(script)
    return f"{sys.executable} -m trimtab"


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Server processes sharing the port, each with its own ingest writer.",
        ),
    ] = 1,
) -> None:
    """Run the trimtab server (API, dashboard, ingest, SDK endpoints) on uvicorn."""
    import uvicorn

    from trimtab.demo import workspace
    from trimtab.demo.common import DEMO_PROJECT
    from trimtab.server.app import create_app, prepare_store
    from trimtab.server.workers import settle_serving_process

    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    # DSNs must name the address SDKs reach; unless told otherwise, that is where we listen.
    settings = _settings(**({} if os.environ.get("TRIMTAB_PUBLIC_URL") else {"public_url": url}))
    try:
        store, credentials = prepare_store(settings)
    except Exception as exc:
        raise CliError(f"cannot open the store at {settings.database_url}: {exc}") from exc
    processes = f", {workers} worker processes" if workers > 1 else ""
    say(f"trimtab serving on {url}  (store: {store.dialect}{processes})")
    if credentials.generated and credentials.admin_password:
        say(
            f"  dashboard login: admin / {credentials.admin_password}  (kept in {credentials.path})"
        )
        typer.echo(f"  CLI: export TRIMTAB_URL={url} TRIMTAB_TOKEN={credentials.admin_token}")
        typer.echo(f"       then run it as {_cli_command()}, e.g. {_cli_command()} status -p shop")
    elif settings.admin_password:
        say("  dashboard login: admin / the password in TRIMTAB_ADMIN_PASSWORD")
    with store.read() as session:
        demo_dsn = workspace.demo_dsn(session, settings.public_url)
    if demo_dsn is not None:
        typer.echo(f"  demo project {DEMO_PROJECT!r} DSN: {demo_dsn}")
    if workers > 1:
        from trimtab.server.workers import CannotListen, run_workers

        # Frozen before the fork too, so the workers share these pages instead of copying them.
        store.dispose()  # each worker opens its own connections after the fork
        gc.collect()
        gc.freeze()
        try:
            status = run_workers(settings, host, port, workers, log_level)
        except CannotListen as exc:
            raise CliError(str(exc)) from exc
        raise typer.Exit(status)
    app = create_app(settings, store=store)
    settle_serving_process()
    # proxy_headers off: which X-Forwarded-For to believe is TRIMTAB_TRUSTED_PROXIES' call
    # (server.auth.client_of), not uvicorn's default of trusting anything from 127.0.0.1.
    uvicorn.run(
        app, host=host, port=port, log_level=log_level, access_log=False, proxy_headers=False
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from trimtab.store import migrate
    from trimtab.store.db import Store

    settings = _settings()
    store = Store(settings.database_url)
    migrate.upgrade(store)
    say(f"store at revision(s) {', '.join(sorted(migrate.current_revisions(store)))}")


@db_app.command("current")
def db_current() -> None:
    """Show the applied and the latest migration revisions."""
    from trimtab.store import migrate
    from trimtab.store.db import Store

    store = Store(_settings().database_url)
    current = sorted(migrate.current_revisions(store))
    heads = sorted(migrate.head_revisions())
    say(f"applied: {', '.join(current) or '(none)'}\nlatest:  {', '.join(heads)}")
    if current != heads:
        raise CliError("migrations pending: run `trimtab db upgrade`")


@db_app.command("copy")
def db_copy(
    to: Annotated[
        str, typer.Option("--to", help="The database to copy into (migrated, must be empty).")
    ],
    source: Annotated[
        str | None,
        typer.Option("--from", help="The database to copy from. Default: TRIMTAB_DATABASE_URL."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace whatever the target database holds.")
    ] = False,
    batch: Annotated[
        int, typer.Option(min=1, max=100_000, help="Rows read and written at a time.")
    ] = 2000,
) -> None:
    """Copy every row of a store into another database (SQLite to PostgreSQL or back), then
    compare row counts and checksums table by table. Stop the servers on both first."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from trimtab.store.copy import CopyRefused, copy_store, failure
    from trimtab.store.db import Store, StoreError

    from_url = source or _settings().database_url

    def shown(url: str) -> str:  # never a password on the screen
        try:
            return make_url(url).render_as_string(hide_password=True)
        except Exception:
            return "(unreadable URL)"

    try:
        reader, writer = Store(from_url), Store(to)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    say(f"copying {shown(reader.url)} -> {shown(writer.url)}")
    try:
        report = copy_store(
            reader,
            writer,
            force=force,
            batch=batch,
            progress=lambda name, rows: say(f"  {name}: {rows:,} rows") if rows else None,
        )
    except CopyRefused as exc:
        raise CliError(str(exc)) from None
    except StoreError as exc:  # the target's transaction was rolled back: it is as it was
        raise CliError(f"copy failed, nothing kept in the target: {exc}") from None
    except DBAPIError as exc:  # cannot connect, cannot migrate: the driver's reason alone
        raise CliError(f"copy failed: {failure(exc)}") from None
    finally:
        reader.dispose()
        writer.dispose()
    rows = [
        {
            "table": check.table,
            "source_rows": check.source_rows,
            "target_rows": check.target_rows,
            "checksum": check.source_sum[:16],
            "match": "yes" if check.matches else f"NO (target {check.target_sum[:16]})",
        }
        for check in report.tables
    ]
    table(rows, ["table", "source_rows", "target_rows", "checksum", "match"])
    if not report.ok:
        bad = [check.table for check in report.tables if not check.matches]
        raise CliError(f"the copy differs from the source in: {', '.join(bad)}")
    say(f"copied {report.rows:,} rows in {len(report.tables)} tables; every table matches")


@demo_app.command("seed")
def demo_seed() -> None:
    """Seed the demo workspace (project `shop`, its services, flags and history) if absent."""
    from trimtab.demo import workspace
    from trimtab.server.app import prepare_store

    store, _ = prepare_store(_settings())
    with store.write() as session:
        report = workspace.seed(session)
    if report.created:
        say(f"seeded demo project {report.project!r}:")
        for note in report.notes:
            say(f"  - {note}")
    else:
        say(f"demo project {report.project!r} already exists; nothing to do")
