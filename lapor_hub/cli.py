"""`lapor-hub`: the one command-line home of every operator and developer tool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from services.intake.cli import import_file, keys_app
from services.notifier.cli import instansi_app, notifier_app
from services.router.cli import route_app
from services.sync.cli import sync_app
from shared.settings import Settings

app = typer.Typer(help="lapor-hub: the complaint hub of Kalimantan Selatan.", no_args_is_help=True)
stack_app = typer.Typer(help="The local stack (Kafka, PostgreSQL).", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
schemas_app = typer.Typer(help="JSON Schemas of the event contracts.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")
app.add_typer(schemas_app, name="schemas")
app.add_typer(route_app, name="route")
app.add_typer(keys_app, name="keys")
app.command("import")(import_file)
app.add_typer(notifier_app, name="notifier")
app.add_typer(instansi_app, name="instansi")
app.add_typer(sync_app, name="sync")


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@stack_app.command("wait")
def stack_wait(
    timeout: float = typer.Option(120.0, help="Seconds to wait for each component"),
) -> None:
    """Wait until Kafka answers metadata and PostgreSQL answers a query."""
    from shared.db import database_ready
    from shared.kafka import broker_ready

    # aiokafka logs every refused connection while the broker boots; the outcome is reported below.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    settings = Settings()
    checks: tuple[tuple[str, Callable[[], Coroutine[Any, Any, None]], str], ...] = (
        ("PostgreSQL", lambda: database_ready(settings.database_url, timeout), "LAPOR_HUB_PG_LOG"),
        (
            "Kafka",
            lambda: broker_ready(settings.kafka_bootstrap_servers, timeout),
            "LAPOR_HUB_KAFKA_LOG",
        ),
    )
    for name, check, log_variable in checks:
        try:
            asyncio.run(check())
        except TimeoutError as error:
            log = os.environ.get(log_variable, "the component's log (make logs)")
            _fail(f"{name} is not ready after {timeout:.0f} s: {error}\n  its log: {log}")
        typer.echo(f"{name}: ready")


@app.command("migrate")
def migrate() -> None:
    """Apply every service's pending database migrations (harmless to run twice)."""
    from shared.migrations import apply_migrations

    for report in apply_migrations(Settings().database_url):
        applied = ", ".join(report.applied) or "nothing new"
        typer.echo(f"{report.schema}: applied {applied} ({report.already_applied} already applied)")


@topics_app.command("ensure")
def topics_ensure() -> None:
    """Create any missing topic with its declared partitions and settings."""
    from shared.kafka import TopicLayoutError, ensure_topics

    try:
        created = asyncio.run(ensure_topics(Settings().kafka_bootstrap_servers))
    except TopicLayoutError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(f"created: {', '.join(created)}" if created else "all topics exist")


@topics_app.command("prune")
def topics_prune() -> None:
    """Delete the scratch topics that tests and benchmarks left behind (a run that was killed
    never deleted its own). Only for a development broker, while no test or benchmark runs."""
    from shared.kafka import delete_topics, scratch_topics

    bootstrap_servers = Settings().kafka_bootstrap_servers
    names = asyncio.run(scratch_topics(bootstrap_servers))
    if names:
        asyncio.run(delete_topics(bootstrap_servers, names))
    typer.echo(f"deleted {len(names)} scratch topics")


@schemas_app.command("export")
def schemas_export(
    check: bool = typer.Option(False, help="Fail if the committed files are stale"),
) -> None:
    """Write the JSON Schema of every event to shared/schemas/."""
    from shared.schemas import SCHEMAS_DIR, stale_schemas, write_schemas

    if check:
        stale = stale_schemas()
        if stale:
            _fail(f"stale schemas in {SCHEMAS_DIR}: {', '.join(stale)} (run make schemas)")
        typer.echo("schemas are up to date")
        return
    for name in write_schemas():
        typer.echo(f"wrote {SCHEMAS_DIR / name}")


@app.command("demo")
def demo(
    rate: float = typer.Option(5.0, help="Complaints a second, beside a burst every minute"),
    feed: bool = typer.Option(True, help="Submit demo complaints (--no-feed: only summarise)"),
    intake_url: str = typer.Option("http://127.0.0.1:8080", help="The running intake service"),
) -> None:
    """Feed realistic complaints into the running system and print a live summary."""
    from lapor_hub.demo import create_keys, summarise
    from lapor_hub.demo import feed as feed_complaints

    settings = Settings()

    async def run() -> None:
        tasks = [summarise(settings)]
        if feed:
            keys = await create_keys(settings.database_url, ("web", "sms", "whatsapp"))
            tasks.append(feed_complaints(intake_url, keys, rate))
        await asyncio.gather(*tasks)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


@app.command("load")
def load(  # keyword-only: typer passes options by name
    *,
    rate: float = typer.Option(..., help="Complaints a second, offered open loop"),
    duration: float = typer.Option(..., help="Seconds to offer them for"),
    intake_url: str = typer.Option("http://127.0.0.1:8080", help="The running intake service"),
    out: Annotated[
        Path | None, typer.Option(help="Write each complaint's record here (JSON lines)")
    ] = None,
    settle: float = typer.Option(60.0, help="Seconds to wait for the last complaints' stages"),
    retry_for: float = typer.Option(0.0, help="Seconds to keep resending a refused complaint"),
) -> None:
    """Realistic complaints over every channel at a fixed rate, each followed until routed,
    notified and mirrored; prints the latency and throughput of each stage."""
    from rich.console import Console

    from lapor_hub.demo import create_keys
    from lapor_hub.load import CHANNELS, run_load

    settings = Settings()
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    async def run() -> int:
        keys = await create_keys(settings.database_url, CHANNELS)
        result = await run_load(
            intake_url,
            keys,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic=settings.complaint_events_topic,
            rate_per_s=rate,
            duration_s=duration,
            settle_timeout_s=settle,
            retry_for_s=retry_for,
        )
        Console().print(result.table())
        if out is not None:
            result.write_jsonl(out)
            typer.echo(f"records written to {out}")
        return len(result.incomplete())

    incomplete = asyncio.run(run())
    if incomplete:
        _fail(f"{incomplete} accepted complaints did not reach every stage within {settle:g} s")


if __name__ == "__main__":
    app()
