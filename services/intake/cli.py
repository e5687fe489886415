"""`lapor-hub keys` and `lapor-hub import`: API keys for channels and operators, and the import
of complaints collected by hand."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Annotated

import typer

keys_app = typer.Typer(help="API keys of channels and operators (intake).", no_args_is_help=True)
SCOPE = re.compile(r"^(channel|operator):([a-z0-9_.-]{1,64})$")
IMPORT_CHUNK = 50


@keys_app.command("create")
def create_key(
    scope: str = typer.Option(..., help="channel:NAME (web, sms, whatsapp, ...) or operator:NAME"),
) -> None:
    """Create a key; it is printed once and only its hash is kept."""
    from services.intake.service import IntakeService
    from shared.db import create_pool
    from shared.events import Channel
    from shared.settings import Settings

    match = SCOPE.match(scope)
    if match is None:
        raise typer.BadParameter("use channel:NAME or operator:NAME", param_hint="--scope")
    kind, name = match[1], match[2]
    if kind == "channel" and name not in {c.value for c in Channel}:
        channels = ", ".join(c.value for c in Channel)
        raise typer.BadParameter(f"unknown channel {name!r}; one of {channels}")

    async def create() -> str:
        pool = await create_pool(Settings().database_url)
        try:
            return await IntakeService(pool).create_key(kind, name)
        finally:
            await pool.close()

    typer.echo(asyncio.run(create()))


def import_file(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSON lines")],
    operator: str = typer.Option("cli", help="Operator name recorded as the submitter"),
) -> None:
    """Import complaints collected by hand (e.g. during an outage); safe to run twice."""
    from rich.progress import Progress

    from services.intake.domain.imports import parse_import
    from services.intake.repository import Caller
    from services.intake.service import IntakeService
    from shared.db import create_pool
    from shared.settings import Settings

    rows, problems = parse_import(path.read_bytes(), path.name)
    caller = Caller(key_id=0, kind="operator", name=operator)

    async def run() -> tuple[int, int]:
        pool = await create_pool(Settings().database_url)
        accepted = already = 0
        try:
            service = IntakeService(pool, Settings().complaint_events_topic)
            with Progress() as progress:
                task = progress.add_task(f"importing {path.name}", total=len(rows))
                for start in range(0, len(rows), IMPORT_CHUNK):
                    chunk = rows[start : start + IMPORT_CHUNK]
                    report = await service.import_rows(chunk, caller)
                    accepted += len(report.accepted)
                    already += len(report.already_imported)
                    progress.advance(task, len(chunk))
        finally:
            await pool.close()
        return accepted, already

    accepted, already = asyncio.run(run())
    typer.echo(f"accepted: {accepted}, already imported: {already}, rejected rows: {len(problems)}")
    for problem in problems:
        typer.secho(f"  line {problem.line}: {problem.field}: {problem.reason}", fg="red")
    if problems:
        raise typer.Exit(1)
