"""Migrations on the real PostgreSQL: one schema per service, harmless to apply twice."""

from __future__ import annotations

import asyncpg

from shared.migrations import SERVICE_SCHEMAS, apply_migrations


async def test_migrations_create_one_schema_per_service_and_apply_once(
    empty_database_url: str,
) -> None:
    first = apply_migrations(empty_database_url)
    assert [r.schema for r in first] == list(SERVICE_SCHEMAS)
    assert all(r.applied for r in first)

    second = apply_migrations(empty_database_url)
    assert all(not r.applied for r in second)
    assert [r.already_applied for r in second] == [len(r.applied) for r in first]

    connection = await asyncpg.connect(empty_database_url)
    try:
        tables = await connection.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema = ANY($1::text[])",
            list(SERVICE_SCHEMAS),
        )
    finally:
        await connection.close()
    by_schema: dict[str, set[str]] = {}
    for row in tables:
        by_schema.setdefault(row["table_schema"], set()).add(row["table_name"])
    for schema in SERVICE_SCHEMAS:
        # Each schema holds its own tables and its own migration history.
        assert {"processed_events", "_yoyo_migration"} <= by_schema[schema]
    assert "outbox" in by_schema["intake"]
