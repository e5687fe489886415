"""Database migrations: versioned SQL per service, applied with yoyo-migrations.

Each service owns one PostgreSQL schema named after it; its migrations live in
`services/<service>/migrations/` and yoyo keeps its bookkeeping inside that schema, so services
never share tables, not even migration history.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from yoyo import get_backend, read_migrations

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"
SERVICE_SCHEMAS: tuple[str, ...] = ("intake", "router", "notifier", "sync")


@dataclass(frozen=True)
class MigrationReport:
    schema: str
    applied: tuple[str, ...]
    already_applied: int


def _yoyo_url(database_url: str, schema: str) -> str:
    parts = urlsplit(database_url)
    query = f"{parts.query}&schema={schema}" if parts.query else f"schema={schema}"
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, query, ""))


def migrations_dir(schema: str) -> Path:
    return SERVICES_DIR / schema / "migrations"


def apply_migrations(
    database_url: str, schemas: tuple[str, ...] = SERVICE_SCHEMAS
) -> list[MigrationReport]:
    """Apply every pending migration of the given services; running it twice changes nothing."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        for schema in schemas:
            connection.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            )
    reports = []
    for schema in schemas:
        backend = get_backend(_yoyo_url(database_url, schema))
        migrations = read_migrations(str(migrations_dir(schema)))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        reports.append(
            MigrationReport(
                schema=schema,
                applied=tuple(m.id for m in pending),
                already_applied=len(migrations) - len(pending),
            )
        )
    return reports


# The tables every service's schema has, written once: a service's migration (a yoyo `.py` file)
# applies them with `create(...)`, and every schema gets the same columns, constraints, indexes.

# Idempotent consumption: an event id is recorded in the same transaction as its effects, so a
# redelivered event is recognised and changes nothing.
PROCESSED_EVENTS = (
    """CREATE TABLE processed_events (
    event_id     uuid PRIMARY KEY,
    event_type   text NOT NULL,
    complaint_id uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
)""",
)
# Transactional outbox (`shared.outbox`): an event is written in the same transaction as the
# state it announces and a relay publishes it to Kafka. Rows are claimed by state (FOR UPDATE
# SKIP LOCKED), never by a moving id cursor, so a late-committing transaction cannot be skipped.
OUTBOX = (
    """CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    complaint_id  uuid NOT NULL,
    event_type    text NOT NULL,
    topic         text NOT NULL,
    payload       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
)""",
    "CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL",
)


def dead_letters(*, from_kafka_only: bool = True, extra_columns: tuple[str, ...] = ()) -> str:
    """Events a service could not apply, kept with the reason for an operator to replay
    (`shared.dead_letters.keep_in_dead_letters` fills the Kafka position; `shared.dead_letters`
    replays them). A service that also sets aside events it holds itself (sync: what national
    rejected) has no Kafka position for those, and its own columns after the common ones."""
    required = " NOT NULL" if from_kafka_only else ""
    columns = (
        "id bigserial PRIMARY KEY",
        "topic text NOT NULL",
        f"partition integer{required}",
        f'"offset" bigint{required}',
        "key bytea",
        "payload bytea",
        "error text NOT NULL",
        *extra_columns,
        "created_at timestamptz NOT NULL DEFAULT now()",
        "replayed_at timestamptz",
        'UNIQUE (topic, partition, "offset")',
    )
    return "CREATE TABLE dead_letters (\n    " + ",\n    ".join(columns) + "\n)"


def create(*statements: str) -> None:
    """In a yoyo migration module: one step a statement, as yoyo makes of an SQL file."""
    from yoyo import step

    for statement in statements:
        step(statement)
