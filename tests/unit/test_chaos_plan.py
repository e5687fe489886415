"""`make chaos`'s pure parts: the fault plan a seed gives, and the verdict on what was seen."""

from __future__ import annotations

from bench.chaos import SERVICES, judge, plan_faults
from lapor_hub.load import Journey


def test_a_seed_gives_the_same_plan_and_every_fault_the_issue_asks_for() -> None:
    plan = plan_faults(seed=7, duration_s=300, kills_per_service=3)
    assert plan == plan_faults(seed=7, duration_s=300, kills_per_service=3)
    assert plan != plan_faults(seed=8, duration_s=300, kills_per_service=3)
    by_kind = {kind: [f for f in plan if f.kind == kind] for kind in {f.kind for f in plan}}
    (kafka,) = by_kind["kafka"]
    (postgres,) = by_kind["postgres"]
    (national,) = by_kind["national"]
    assert (kafka.hold_s, postgres.hold_s) == (30.0, 10.0)
    assert postgres.at_s >= kafka.at_s + kafka.hold_s  # one outage at a time
    assert national.target in {"unavailable", "refuse"}
    (terminate,) = by_kind["pg-terminate"]  # every service's connections, as a failover does
    assert 0 < terminate.at_s < 300
    (slow,) = by_kind["pg-slow"]  # past the pools' lock timeout
    assert slow.hold_s > 10.0
    # National applies a create and then times out, cuts off, answers 502, or a broken 2xx.
    assert {f.target for f in by_kind["ambiguous"]} == {
        "hang",
        "drop",
        "bad_gateway",
        "broken_body",
    }
    assert sorted(f.target for f in by_kind["kill"]) == sorted(SERVICES * 3)
    assert [f.at_s for f in plan] == sorted(f.at_s for f in plan)
    assert all(0 < f.at_s < 300 for f in plan)


def test_two_kills_of_one_service_never_overlap() -> None:
    for seed in range(50):
        kills = [f for f in plan_faults(seed, 80, 2) if f.kind == "kill"]
        for service in SERVICES:
            first, second = [f for f in kills if f.target == service]
            assert first.at_s + first.hold_s < second.at_s


def _journey(index: int, agency: str = "63.pupr") -> Journey:
    return Journey(
        index=index,
        channel="web",
        due=0.0,
        accepted=1.0,
        tracking_number=f"LPR-2026-{index:06d}-X",
        agency_code=agency,
    )


def test_verdict_holds_when_everything_went_through_once() -> None:
    journeys = [_journey(1), _journey(2, agency="pusat")]
    numbers = {j.tracking_number: 1 for j in journeys if j.tracking_number}
    verdict = judge(journeys, numbers, {"LPR-2026-000001-X": 1}, numbers, recovery_s=12.5)
    assert verdict.held
    assert verdict.document["lost"] == 0
    assert verdict.document["central_not_notified"] == 1


def test_verdict_names_a_lost_and_a_duplicated_complaint() -> None:
    journeys = [_journey(1), _journey(2), _journey(3)]
    routed = {"LPR-2026-000001-X": 1, "LPR-2026-000002-X": 1}  # the third never routed
    notified = {"LPR-2026-000001-X": 1, "LPR-2026-000002-X": 1}
    creates = {"LPR-2026-000001-X": 1, "LPR-2026-000002-X": 2, "LPR-2026-000003-X": 1}
    verdict = judge(journeys, routed, notified, creates, recovery_s=None)
    assert not verdict.held
    assert verdict.document["lost"] == 1
    assert verdict.document["lost_tracking_numbers"] == ["LPR-2026-000003-X"]
    assert verdict.document["duplicated_national"] == 1
