"""Who is who, the one home of the facts every service agrees on: the agencies (SKPD) with their
codes and names, the kab/kota regions and their kecamatan, the two agencies that are not
ordinary SKPD (Diskominfo's triage team and `pusat`, handed back to national LAPOR), and which
statuses close a complaint.

The lists are copied from the team's domain reference (`agencies.csv`, `regions.csv`,
`districts.csv`); the router's routing table names the same agencies, regions and kecamatan (a
unit test keeps them equal).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from shared.events import ComplaintStatus

HERE = Path(__file__).resolve().parent
AGENCIES_FILE = HERE / "agencies.csv"
REGIONS_FILE = HERE / "regions.csv"
DISTRICTS_FILE = HERE / "districts.csv"

# Diskominfo's SP4N-LAPOR! coordinators: what the router cannot place with confidence waits here
# for an operator to route it by hand.
TRIAGE_AGENCY = "63.triage"
# Central / vertical agencies: handed back to national LAPOR, no local agency is told of it.
CENTRAL_AGENCY = "pusat"
CLOSED_STATUSES = frozenset({ComplaintStatus.RESOLVED, ComplaintStatus.ARCHIVED})


@cache
def _names(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as file:
        return {row["code"]: row["name"] for row in csv.DictReader(file)}


def agency_names(path: Path = AGENCIES_FILE) -> dict[str, str]:
    """Every agency's name by its code (triage and `pusat` included)."""
    return dict(_names(path))


def region_names() -> dict[str, str]:
    """The kab/kota of Kalimantan Selatan: names by region code."""
    return dict(_names(REGIONS_FILE))


@dataclass(frozen=True)
class District:
    """A kecamatan: its code (7 digits) and the kab/kota it lies in."""

    code: str
    region_code: str
    name: str


@cache
def districts() -> tuple[District, ...]:
    """The kecamatan of Kalimantan Selatan by kab/kota, named as people write them (the reference
    has "BATI - BATI": "Bati-Bati")."""
    with DISTRICTS_FILE.open(encoding="utf-8", newline="") as file:
        return tuple(
            District(r["code"], r["region"], r["name"].title().replace(" - ", "-"))
            for r in csv.DictReader(file)
        )
