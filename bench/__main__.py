"""`make bench`: every benchmark, printed as one table and written to bench-results.json."""

from __future__ import annotations

import asyncio
import json
import os
import platform
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from bench.baseline import kafka_baseline, postgres_baseline, sample_events
from bench.end_to_end import pipeline, tables
from bench.intake import intake_http
from bench.measure import Figures
from bench.notifier import notifier_service
from bench.router import router_service, routing_decisions
from bench.sync import SyncFigures, sync_outage
from shared.settings import Settings

RESULTS = Path(__file__).resolve().parent.parent / "bench-results.json"


def _table(rows: list[Figures]) -> Table:
    table = Table(title="lapor-hub benchmark")
    for column in ("stage", "ops", "offered/s", "throughput/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for row in rows:
        table.add_row(
            row.stage,
            str(row.operations),
            f"{row.offered_per_s:.0f}" if row.offered_per_s else "max",
            f"{row.throughput_per_s:,.0f}",
            f"{row.p50_ms:.2f}",
            f"{row.p99_ms:.2f}",
        )
    return table


async def _run(count: int) -> dict[str, list[Figures]]:
    settings = Settings()
    events = sample_events(count)
    baseline = [
        *await kafka_baseline(settings.kafka_bootstrap_servers, events),
        await postgres_baseline(settings.database_url, events),
    ]
    router = [*routing_decisions(), *await router_service(settings, (100, 500, 2000), count)]
    intake = await intake_http(settings, count)
    # Below and near the notifier's capacity on a shared 2-core machine (about 60-100/s).
    notifier = await notifier_service(settings, (20.0, 60.0), min(count, 600))
    return {"baseline": baseline, "intake": intake, "router": router, "notifier": notifier}


def _sync_table(figures: SyncFigures) -> Table:
    table = Table(title="sync: national outage, then a rate-limited recovery")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for field, value in asdict(figures).items():
        table.add_row(field, str(value))
    return table


def main(
    count: int = typer.Option(5000, help="Payloads per measured stage"),
    sync_complaints: int = typer.Option(1000, help="Complaints (each with 2 follow-ups) for sync"),
    end_to_end: bool = typer.Option(True, help="The four services together under load (~3 min)"),
) -> None:
    results = asyncio.run(_run(count))
    sync = asyncio.run(sync_outage(Settings(), sync_complaints, outage_s=20))
    whole = asyncio.run(pipeline(Settings())) if end_to_end else None
    console = Console(width=120)
    for rows in results.values():
        console.print(_table(rows))
    console.print(_sync_table(sync))
    for table in tables(whole) if whole else ():
        console.print(table)
    document = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **{section: [row.as_json() for row in rows] for section, rows in results.items()},
        "sync": asdict(sync),
        **({"end_to_end": whole} if whole else {}),
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    console.print(f"written to {RESULTS}")


if __name__ == "__main__":
    typer.run(main)
