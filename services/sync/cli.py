"""`lapor-hub sync`: reconcile with national LAPOR, list and replay dead letters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import typer

sync_app = typer.Typer(help="The mirror to national SP4N-LAPOR!.", no_args_is_help=True)
SINCE_OPTION = typer.Option(..., "--since", help="Complaints received since (a date)")


@sync_app.command("reconcile")
def reconcile_command(
    since: datetime = SINCE_OPTION,
    fix: bool = typer.Option(False, "--fix", help="Repair what can be repaired"),
) -> None:
    """Compare local and national records; report (and with --fix repair) the differences."""
    from contextlib import aclosing

    from services.sync.adapters.national import HttpNationalLapor, NationalApiSettings
    from services.sync.reconcile import reconcile
    from services.sync.settings import SyncSettings
    from shared.db import create_pool

    settings = SyncSettings()
    moment = since if since.tzinfo else since.replace(tzinfo=UTC)

    async def run() -> int:
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            async with aclosing(HttpNationalLapor(NationalApiSettings())) as national:
                reports = await reconcile(
                    pool, national, moment, fix=fix, calls_per_s=settings.sync_rate_per_s
                )
        finally:
            await pool.close()
        for report in reports:
            state = " (fixed)" if report.fixed else ""
            typer.echo(
                f"{report.tracking_number}\t{report.finding.difference}\t"
                f"{report.finding.detail}{state}"
            )
        typer.echo(f"{len(reports)} differences")
        return len([r for r in reports if not r.fixed])

    if asyncio.run(run()):
        raise typer.Exit(1)


@sync_app.command("dead-letters")
def dead_letters(
    all_: bool = typer.Option(False, "--all", help="Include those already replayed"),
) -> None:
    """List the events set aside, with the reason."""
    from services.sync.repository import SyncRepository
    from services.sync.settings import SyncSettings
    from shared.db import create_pool

    async def run() -> None:
        pool = await create_pool(SyncSettings().database_url, max_size=1)
        try:
            async with pool.acquire() as connection:
                letters = await SyncRepository(connection).dead_letters(all_)
        finally:
            await pool.close()
        for letter in letters:
            key = (letter.key or b"").decode(errors="replace")
            replayed = (
                f"\treplayed {letter.replayed_at:%Y-%m-%d %H:%M}" if letter.replayed_at else ""
            )
            typer.echo(
                f"{letter.id}\t{letter.created_at:%Y-%m-%d %H:%M}\t{key}\t{letter.error}{replayed}"
            )

    asyncio.run(run())


@sync_app.command("replay")
def replay(dead_letter_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Mirror a dead letter again (after a fix), with its complaint's later dead letters."""
    from services.sync.service import SyncService
    from services.sync.settings import SyncSettings
    from shared.db import create_pool

    async def run() -> int:
        pool = await create_pool(SyncSettings().database_url, max_size=1)
        try:
            return await SyncService(pool).replay(dead_letter_id)
        finally:
            await pool.close()

    queued = asyncio.run(run())
    if not queued:
        typer.secho(f"dead letter {dead_letter_id}: not found or nothing to replay", err=True)
        raise typer.Exit(1)
    typer.echo(f"dead letter {dead_letter_id}: {queued} events queued again")


_ = datetime  # typer reads the annotation at run time
