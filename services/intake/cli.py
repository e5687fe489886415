"""`lapor-hub keys` and `lapor-hub import`: API keys for channels and operators, and the import
of complaints collected by hand."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:
    from services.intake.service import IntakeService

T = TypeVar("T")

keys_app = typer.Typer(help="API keys of channels and operators (intake).", no_args_is_help=True)
SCOPE = re.compile(r"^(channel|operator):([a-z0-9_.-]{1,64})$")
IMPORT_CHUNK = 50


@keys_app.command("create")
def create_key(
    scope: str = typer.Option(..., help="channel:NAME (web, sms, whatsapp, ...) or operator:NAME"),
) -> None:
    """Create a key; it is printed once and only its hash is kept."""
    from shared.events import Channel

    match = SCOPE.match(scope)
    if match is None:
        raise typer.BadParameter("use channel:NAME or operator:NAME", param_hint="--scope")
    kind, name = match[1], match[2]
    if kind == "channel" and name not in {c.value for c in Channel}:
        channels = ", ".join(c.value for c in Channel)
        raise typer.BadParameter(f"unknown channel {name!r}; one of {channels}")

    typer.echo(_with_service(lambda service: service.create_key(kind, name)))


@keys_app.command("list")
def list_keys() -> None:
    """Every key's id, scope, and when it was created or revoked (never the key)."""
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "scope", "created", "revoked")
    for key in _with_service(lambda service: service.keys()):
        revoked = f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else ""
        table.add_row(str(key.key_id), key.scope, f"{key.created_at:%Y-%m-%d %H:%M}", revoked)
    Console().print(table)


@keys_app.command("revoke")
def revoke_key(key_id: Annotated[int, typer.Argument(help="The id shown by `keys list`")]) -> None:
    """Revoke a key (e.g. leaked): intake refuses it within 30 seconds."""
    if not _with_service(lambda service: service.revoke_key(key_id)):
        typer.secho(f"no active key with id {key_id}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked key {key_id}")


def _with_service(work: Callable[[IntakeService], Awaitable[T]]) -> T:
    """Run one piece of work against the database with a pool of its own."""
    from services.intake.service import IntakeService
    from shared.db import create_pool
    from shared.settings import Settings

    async def run() -> T:
        settings = Settings()
        pool = await create_pool(settings.database_url)
        try:
            return await work(
                IntakeService(
                    pool,
                    settings.complaint_events_topic,
                    access_token_secret=settings.intake_access_token_secret.get_secret_value(),
                )
            )
        finally:
            await pool.close()

    return asyncio.run(run())


def import_file(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSON lines")],
    operator: str = typer.Option("cli", help="Operator name recorded as the submitter"),
) -> None:
    """Import complaints collected by hand (e.g. during an outage); safe to run twice."""
    from rich.progress import Progress

    from services.intake.domain.imports import parse_import
    from services.intake.domain.model import Caller

    rows, problems = parse_import(path.read_bytes(), path.name)
    caller = Caller(key_id=0, kind="operator", name=operator)

    async def run(service: IntakeService) -> tuple[int, int]:
        accepted = already = 0
        tokens: list[tuple[int, str, str]] = []
        with Progress() as progress:
            task = progress.add_task(f"importing {path.name}", total=len(rows))
            for start in range(0, len(rows), IMPORT_CHUNK):
                chunk = rows[start : start + IMPORT_CHUNK]
                report = await service.import_rows(chunk, caller)
                accepted += len(report.accepted)
                already += len(report.already_imported)
                tokens.extend(
                    (line, a.tracking_number, a.access_token)
                    for line, a in (*report.accepted, *report.already_imported)
                    if a.access_token
                )
                progress.advance(task, len(chunk))
        for line, tracking, token in tokens:  # for the reporters of confidential complaints
            typer.echo(f"line {line}: {tracking} access token {token}")
        return accepted, already

    accepted, already = _with_service(run)
    typer.echo(f"accepted: {accepted}, already imported: {already}, rejected rows: {len(problems)}")
    for problem in problems:
        typer.secho(f"  line {problem.line}: {problem.field}: {problem.reason}", fg="red")
    if problems:
        raise typer.Exit(1)
