"""What happens when an assignment is refused or corrected: pure policy, no I/O.

An agency that says "bukan wewenang" (not our authority) must not get the same complaint back,
and a complaint must not ping-pong between agencies for days: after the third bounce a person in
the Diskominfo triage team decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.agencies import TRIAGE_AGENCY

MAX_BOUNCES_BEFORE_TRIAGE = 2


@dataclass(frozen=True)
class Reassignment:
    agency_code: str
    reasons: tuple[str, ...]
    confidence: float


def after_rejection(
    *,
    rejected_by: tuple[str, ...],
    suggested_agency: str | None,
    automatic_choice: str,
    automatic_confidence: float,
    known_agencies: frozenset[str],
) -> Reassignment:
    """Where a complaint goes after its latest agency rejected it.

    `rejected_by` lists every agency that has refused it so far, the latest last;
    `automatic_choice` is what the routing rules would pick for it now.
    """
    bounces = len(rejected_by)
    latest = rejected_by[-1]
    if bounces > MAX_BOUNCES_BEFORE_TRIAGE:
        return Reassignment(
            TRIAGE_AGENCY,
            (f"ditolak {bounces} kali (terakhir oleh {latest}): diputuskan tim triase",),
            0.0,
        )
    if (
        suggested_agency
        and suggested_agency in known_agencies
        and suggested_agency not in rejected_by
    ):
        return Reassignment(
            suggested_agency,
            (f"{latest} menolak (bukan wewenang) dan menyarankan {suggested_agency}",),
            0.8,
        )
    if automatic_choice not in rejected_by and automatic_choice != TRIAGE_AGENCY:
        return Reassignment(
            automatic_choice,
            (f"{latest} menolak (bukan wewenang); aturan memilih {automatic_choice}",),
            automatic_confidence,
        )
    return Reassignment(
        TRIAGE_AGENCY,
        (f"{latest} menolak (bukan wewenang) dan tidak ada instansi lain yang jelas berwenang",),
        0.0,
    )
