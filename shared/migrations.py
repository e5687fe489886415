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
