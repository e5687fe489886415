"""`lapor-hub route`: dry-run the routing table on complaints, evaluate it, time it.

Operators changing routing_table.toml run these before shipping the change.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from services.router.domain.table import DEFAULT_TABLE_PATH

if TYPE_CHECKING:
    from services.router.domain import Router
    from services.router.domain.evaluation import LabelledComplaint

route_app = typer.Typer(help="Dry-run, evaluate and time the routing table.")

TABLE_OPTION = typer.Option(DEFAULT_TABLE_PATH, "--table", help="Routing table (TOML)")
LABELLED_ARGUMENT = typer.Argument(..., exists=True, dir_okay=False, help="Labelled JSON lines")


def _router(table: Path) -> Router:
    from services.router.domain import Router, RoutingTableError, load_routing_table

    try:
        return Router(load_routing_table(table))
    except RoutingTableError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from error


@route_app.callback(invoke_without_command=True)
def route(
    ctx: typer.Context,
    explain: bool = typer.Option(False, "--explain", help="Add scored topics and table version"),
    table: Path = TABLE_OPTION,
) -> None:
    """Read complaints as JSON lines on stdin, print one routing decision per line."""
    if ctx.invoked_subcommand is not None:
        return
    from pydantic import ValidationError

    from services.router.domain.evaluation import complaint_text

    router = _router(table)
    failed = 0
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            item: dict[str, Any] = json.loads(line)
            complaint = complaint_text(
                str(item.get("title") or ""),
                str(item.get("body") or ""),
                item.get("location"),
                item.get("region"),
                item.get("category"),
            )
        except (json.JSONDecodeError, ValidationError, AttributeError) as error:
            typer.secho(f"line {number}: skipped: {error}", fg=typer.colors.RED, err=True)
            failed += 1
            continue
        decision = router.decide(complaint)
        shown = decision.model_dump(
            mode="json", include={"category", "level", "region", "agency", "confidence", "reasons"}
        )
        output: dict[str, Any] = {"id": item.get("id"), **shown}
        if explain:
            output["table_version"] = decision.table_version
            output["candidates"] = [c.model_dump(mode="json") for c in decision.candidates]
        typer.echo(json.dumps(output, ensure_ascii=False))
    if failed:
        raise typer.Exit(1)


def _labelled(path: Path) -> list[LabelledComplaint]:
    from pydantic import ValidationError

    from services.router.domain.evaluation import LabelledComplaint

    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                items.append(LabelledComplaint.model_validate_json(line))
            except ValidationError as error:
                typer.secho(f"{path}:{number}: {error}", fg=typer.colors.RED, err=True)
                raise typer.Exit(2) from error
    return items


@route_app.command("eval")
def route_eval(
    labelled: Path = LABELLED_ARGUMENT,
    table: Path = TABLE_OPTION,
    misses: int = typer.Option(0, help="Also list this many wrongly routed complaints"),
) -> None:
    """Accuracy of category, level, region and agency, triage rate, and the worst confusions."""
    from services.router.domain.evaluation import evaluate

    router = _router(table)
    report = evaluate(router, _labelled(labelled))
    typer.echo(f"complaints: {report.total}   routing table: {router.version}")
    for dimension in ("category", "level", "region", "agency"):
        typer.echo(f"{dimension:>9} accuracy: {report.accuracy(dimension):.3f}")
    typer.echo(f"   triage rate: {report.triage_rate:.3f}")
    typer.echo("most confused agencies (expected -> routed):")
    for (expected, routed), count in report.agency_confusions.most_common(8):
        typer.echo(f"  {count:3d}  {expected} -> {routed}")
    typer.echo("most confused categories (expected -> routed):")
    for (expected, routed), count in report.category_confusions.most_common(5):
        typer.echo(f"  {count:3d}  {expected} -> {routed}")
    for miss in report.misses[:misses]:
        decision = miss.decision
        typer.echo(
            f"- {miss.id}: expected {miss.expected.agency}/{miss.expected.region}/"
            f"{miss.expected.category}; got {decision.agency}/{decision.region}/"
            f"{decision.category} ({decision.confidence}): {'; '.join(decision.reasons)}"
        )


@route_app.command("bench")
def route_bench(
    labelled: Path = LABELLED_ARGUMENT,
    seconds: float = typer.Option(2.0, min=0.1, max=60, help="How long to measure"),
    table: Path = TABLE_OPTION,
) -> None:
    """Routing decisions per second on one core (the rules only, no Kafka or database)."""
    from services.router.bench import decisions_per_second

    router = _router(table)
    complaints = [item.complaint() for item in _labelled(labelled)]
    rate = decisions_per_second(router, complaints, seconds)
    typer.echo(f"routing decisions per second (one core): {rate:,.0f}")
