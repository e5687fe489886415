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
        # Each schema holds its own tables and its own migration history, with the tables every
        # service has from one template (shared.migrations).
        assert {"outbox", "dead_letters", "_yoyo_migration"} <= by_schema[schema]
    # Only the consumers that log the events they applied keep processed_events (intake's and
    # sync's were never written and are dropped).
    assert {s for s in SERVICE_SCHEMAS if "processed_events" in by_schema[s]} == {
        "router",
        "notifier",
    }


async def test_the_shared_tables_have_the_same_columns_in_every_schema(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT table_schema, table_name, column_name, data_type, is_nullable"
            " FROM information_schema.columns WHERE table_schema = ANY($1::text[])"
            " AND table_name IN ('outbox', 'dead_letters') ORDER BY ordinal_position",
            list(SERVICE_SCHEMAS),
        )
    finally:
        await connection.close()
    tables: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for row in rows:
        column = (row["column_name"], row["data_type"], row["is_nullable"])
        tables.setdefault((row["table_schema"], row["table_name"]), []).append(column)
    assert len({tuple(tables[(s, "outbox")]) for s in SERVICE_SCHEMAS}) == 1
    kafka_only = {tuple(tables[(s, "dead_letters")]) for s in ("intake", "router", "notifier")}
    assert len(kafka_only) == 1
    # Sync also sets aside what national rejected: no Kafka position, and two columns of its own.
    sync = [c[0] for c in tables[("sync", "dead_letters")]]
    assert [c[0] for c in next(iter(kafka_only))] == [
        c for c in sync if c not in {"queue_id", "national_status"}
    ]
