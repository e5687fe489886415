"""`lapor-hub route`: dry-run the router on complaints, evaluate it, time it, retrain and
activate its topic model.

Operators changing routing_table.toml or the model run these before shipping the change. A model
is used by the service only once an operator activates it (`lapor-hub route activate`).
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
    from services.router.domain.evaluation import EvaluationReport, LabelledComplaint
    from services.router.training import Correction

route_app = typer.Typer(help="Dry-run, evaluate and time the router; train and activate models.")

TABLE_OPTION = typer.Option(DEFAULT_TABLE_PATH, "--table", help="Routing table (TOML)")
LABELLED_ARGUMENT = typer.Argument(..., exists=True, dir_okay=False, help="Labelled JSON lines")
MODEL_OPTION = typer.Option(
    None, "--model", help="Topic model (.npz), or 'rules' for the rules alone; default: active"
)
RULES_ONLY = "rules"
COMPARE_OPTION = typer.Option(
    None, "--compare", help="OLD NEW: two models ('rules' for none) on the same file"
)
OUT_OPTION = typer.Option(
    None, "--out", help="Model file to write; default: services/router/models/<version>.npz"
)
CORPUS_OPTION = typer.Option(
    None, "--corpus", help="Labelled real corpus: train.jsonl and dev.jsonl (never test)"
)
DATABASE_OPTION = typer.Option(
    None, "--database-url", help="Also learn from router.routing_corrections in this database"
)
MODEL_ARGUMENT = typer.Argument(..., exists=True, dir_okay=False, help="Model file (.npz)")


def _router(table: Path, model: str | None = None) -> Router:
    """The router with `model`, or the active model when None, or no model for 'rules'."""
    from services.router.domain import Router, RoutingTableError, load_routing_table
    from services.router.domain.model import ModelFileError, load_active_model, load_model

    try:
        routing_table = load_routing_table(table)
        if model == RULES_ONLY:
            return Router(routing_table)
        topic_model = load_active_model() if model is None else load_model(Path(model))
        return Router(routing_table, topic_model)
    except (RoutingTableError, ModelFileError) as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from error


@route_app.callback(invoke_without_command=True)
def route(
    ctx: typer.Context,
    explain: bool = typer.Option(
        False, "--explain", help="Add scored topics, table and model version"
    ),
    table: Path = TABLE_OPTION,
    model: str | None = MODEL_OPTION,
) -> None:
    """Read complaints as JSON lines on stdin, print one routing decision per line."""
    if ctx.invoked_subcommand is not None:
        return
    from pydantic import ValidationError

    from services.router.domain.evaluation import complaint_text

    router = _router(table, model)
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
            output["model_version"] = decision.model_version
            output["topic"] = decision.topic
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
    *,
    labelled: Path = LABELLED_ARGUMENT,
    table: Path = TABLE_OPTION,
    model: str | None = MODEL_OPTION,
    compare: tuple[Path, Path] | None = COMPARE_OPTION,
    misses: int = typer.Option(0, help="Also list this many wrongly routed complaints"),
    topics: bool = typer.Option(True, help="Per-topic figures"),
) -> None:
    """Accuracy of category, level, region and agency, triage rates, the worst confusions."""
    from services.router.domain.evaluation import evaluate

    items = _labelled(labelled)
    if compare is not None:
        old, new = (_router(table, str(path)) for path in compare)
        _print_comparison(
            (old.model_version or RULES_ONLY, evaluate(old, items)),
            (new.model_version or RULES_ONLY, evaluate(new, items)),
        )
        return
    router = _router(table, model)
    report = evaluate(router, items)
    typer.echo(
        f"complaints: {report.total}   routing table: {router.version}"
        f"   model: {router.model_version or 'none (rules only)'}"
    )
    _print_figures(report)
    typer.echo("most confused agencies (expected -> routed):")
    for (expected, routed), count in report.agency_confusions.most_common(8):
        typer.echo(f"  {count:3d}  {expected} -> {routed}")
    typer.echo("most confused categories (expected -> routed):")
    for (expected, routed), count in report.category_confusions.most_common(5):
        typer.echo(f"  {count:3d}  {expected} -> {routed}")
    if topics:
        typer.echo("per topic (labelled topic, or category): n, category, agency, triaged")
        for topic, counts in sorted(report.per_topic.items(), key=lambda kv: -kv[1]["total"]):
            n = counts["total"]
            typer.echo(
                f"  {topic[:40]:40} {n:4d}  {counts['category'] / n:.2f}"
                f"  {counts['agency'] / n:.2f}  {counts['triaged'] / n:.2f}"
            )
    for miss in report.misses[:misses]:
        decision = miss.decision
        typer.echo(
            f"- {miss.id}: expected {miss.expected.agency}/{miss.expected.region}/"
            f"{miss.expected.category}; got {decision.agency}/{decision.region}/"
            f"{decision.category} ({decision.confidence}): {'; '.join(decision.reasons)}"
        )


def _figures(report: EvaluationReport) -> dict[str, float]:
    """NaN where nothing is counted (no labelled place: region where a place is given)."""
    return {
        **{f"{d} accuracy": report.accuracy(d) for d in ("category", "level", "region", "agency")},
        "triage rate": report.triage_rate,
        "triage, definite agency": report.definite_triage_rate,
        "region, place given": report.placed_region_accuracy if report.placed else float("nan"),
    }


def _print_figures(report: EvaluationReport) -> None:
    for name, value in _figures(report).items():
        typer.echo(f"{name:>24}: {value:.3f}")


def _print_comparison(*models: tuple[str, EvaluationReport]) -> None:
    (old_name, old), (new_name, new) = models
    typer.echo(f"complaints: {old.total}")
    typer.echo(f"{'':>24}  {old_name:>32}  {new_name:>32}")
    old_figures, new_figures = _figures(old), _figures(new)
    for name, value in old_figures.items():
        typer.echo(f"{name:>24}  {value:>32.3f}  {new_figures[name]:>32.3f}")
    old_wrong = {miss.id for miss in old.misses if miss.decision.agency != miss.expected.agency}
    new_wrong = {miss.id for miss in new.misses if miss.decision.agency != miss.expected.agency}
    typer.echo("agency, old x new (complaints):")
    typer.echo(f"  both right {old.total - len(old_wrong | new_wrong):5d}")
    typer.echo(f"  only old right {len(new_wrong - old_wrong):5d}")
    typer.echo(f"  only new right {len(old_wrong - new_wrong):5d}")
    typer.echo(f"  both wrong {len(old_wrong & new_wrong):5d}")
    typer.echo("new model's most confused agencies (expected -> routed):")
    for (expected, routed), count in new.agency_confusions.most_common(8):
        typer.echo(f"  {count:3d}  {expected} -> {routed}")


@route_app.command("train")
def route_train(
    out: Path | None = OUT_OPTION,
    corpus: Path | None = CORPUS_OPTION,
    database_url: str | None = DATABASE_OPTION,
    date: str | None = typer.Option(None, help="Date in the version (YYYYMMDD); default today"),
    table: Path = TABLE_OPTION,
) -> None:
    """Retrain the topic model from the corpus, the team-written set and corrections.

    Writes a new versioned file and does not activate it: compare it first."""
    from services.router.domain import RoutingTableError, load_routing_table
    from services.router.domain.model import MODELS_DIR
    from services.router.training import (
        REAL_CORPUS,
        TEAM_HOLDOUT,
        TEAM_SET,
        corpus_split,
        read_labelled,
        train,
    )

    try:
        routing_table = load_routing_table(table)
    except RoutingTableError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from error
    corpus = corpus or REAL_CORPUS
    train_items, dev_items = corpus_split("train", corpus), corpus_split("dev", corpus)
    corrections = _corrections(database_url) if database_url else []
    typer.echo(
        f"training on {len(train_items)} train and {len(dev_items)} dev corpus texts,"
        f" {len(corrections)} corrections; settings chosen on"
        f" {'dev' if dev_items else 'a fifth of the team set (no dev split)'}"
    )
    trained = train(
        routing_table,
        train_items,
        dev_items,
        corrections=corrections,
        team_items=read_labelled(TEAM_SET),
        holdout_items=read_labelled(TEAM_HOLDOUT),
        today=date,
    )
    model = trained.model
    path = out or MODELS_DIR / f"{model.version}.npz"
    model.save(path)
    typer.echo(f"wrote {path} ({model.version}, settings {model.settings})")
    if trained.held_out is not None:
        typer.echo("on dev, by the model fitted without dev that chose the settings:")
        _print_figures(trained.held_out)
    typer.echo("the model written learnt dev too; measure it on test: lapor-hub route eval")


def _corrections(database_url: str) -> list[Correction]:
    import psycopg

    from services.router.training import read_corrections

    try:
        return read_corrections(database_url)
    except psycopg.Error as error:
        typer.secho(f"cannot read corrections: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from error


@route_app.command("activate")
def route_activate(
    model: Path = MODEL_ARGUMENT,
) -> None:
    """Make `model` the one the router service loads at its next start."""
    from services.router.domain.model import ACTIVE_POINTER, ModelFileError, load_model

    try:
        version = load_model(model).version
    except ModelFileError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from error
    resolved = model.resolve()
    pointed = resolved.name if resolved.parent == ACTIVE_POINTER.parent else str(resolved)
    ACTIVE_POINTER.write_text(pointed + "\n", encoding="utf-8")
    typer.echo(f"active model: {version} ({resolved}); restart the router to use it")


@route_app.command("bench")
def route_bench(
    labelled: Path = LABELLED_ARGUMENT,
    seconds: float = typer.Option(2.0, min=0.1, max=60, help="How long to measure"),
    table: Path = TABLE_OPTION,
    model: str | None = MODEL_OPTION,
) -> None:
    """Routing decisions per second on one core (no Kafka or database), and the model's load."""
    import time

    from services.router.bench import decisions_per_second

    began = time.perf_counter()
    router = _router(table, model)
    typer.echo(f"table and model loaded in {(time.perf_counter() - began) * 1000:.0f} ms")
    complaints = [item.complaint() for item in _labelled(labelled)]
    rate = decisions_per_second(router, complaints, seconds)
    typer.echo(f"routing decisions per second (one core): {rate:,.0f}")
