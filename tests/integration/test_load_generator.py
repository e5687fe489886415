"""`lapor-hub load` against the whole system as real processes: every complaint it offers is
accepted, and it sees each one routed, notified (unless central) and mirrored."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from lapor_hub.demo import create_keys
from lapor_hub.load import CHANNELS, STAGES, run_load
from shared.migrations import apply_migrations
from shared.topics import TopicSpec
from testkit.processes import ServiceProcess, running, smtp_sink, system_processes

RATE, DURATION = 20.0, 10.0


@pytest.fixture
def system(
    empty_database_url: str, bootstrap_servers: str, fresh_topic: TopicSpec
) -> Iterator[Mapping[str, ServiceProcess]]:
    apply_migrations(empty_database_url)
    with smtp_sink() as smtp_port:
        processes = system_processes(
            empty_database_url, bootstrap_servers, fresh_topic.name, smtp_port, name="load"
        )
        # Half the demo's text messages name no place and their reporters never answer: the
        # router asks, then triages them after 6 s, so every complaint still reaches every stage.
        processes["router"].env = {
            **processes["router"].env,
            "LAPOR_HUB_ROUTER_PLACE_ANSWER_MINUTES": "0.1",
            "LAPOR_HUB_ROUTER_PLACE_CHECK_S": "1",
        }
        with running(processes):
            yield processes


async def test_every_offered_complaint_is_followed_through_every_stage(
    system: Mapping[str, ServiceProcess],
    empty_database_url: str,
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
    tmp_path: Path,
) -> None:
    keys = await create_keys(empty_database_url, CHANNELS)
    result = await run_load(
        system["intake"].origin,
        keys,
        bootstrap_servers=bootstrap_servers,
        topic=fresh_topic.name,
        rate_per_s=RATE,
        duration_s=DURATION,
        settle_timeout_s=90,
    )

    journeys = result.journeys
    assert len(journeys) == RATE * DURATION
    assert {j.channel for j in journeys} == set(CHANNELS)
    assert all(j.last_status == 202 and j.tracking_number for j in journeys)
    assert len({j.tracking_number for j in journeys}) == len(journeys)
    assert result.incomplete() == []
    for journey in journeys:
        assert journey.accepted is not None and journey.routed is not None
        assert journey.mirrored is not None
        assert journey.notified is not None or journey.agency_code == "pusat"
    assert sum(j.notified is not None for j in journeys) > len(journeys) / 2
    for tracking, seen in result.sightings.items():  # once each, whatever Kafka redelivered
        assert len(seen.events["routed"]) == 1, tracking

    figures = {row.stage: row for row in result.figures()}
    assert list(figures) == list(STAGES)
    assert figures["accepted"].count == len(journeys)
    assert all(row.p99_ms is not None for row in figures.values())

    out = tmp_path / "load.jsonl"
    result.write_jsonl(out)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == len(journeys)
    assert {"accepted", "routed", "notified", "mirrored", "tracking_number"} <= records[0].keys()
