"""Reconciliation: how one complaint's local record and its national record differ, pure.

`lapor-hub sync reconcile` feeds it what the sync service mirrored (the mapping and the
follow-ups it recorded as done) and what national LAPOR holds (complaints carrying the
complaint's reference tag, and their follow-ups by the integration account).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from services.sync.adapters.lapor_api import ComplaintRecord, Followup
from services.sync.domain.national import INTEGRATION_ACTOR


class Difference(StrEnum):
    MISSING = "missing"  # national has no complaint with the tag: create it (--fix)
    UNMAPPED = "unmapped"  # national has it, the mapping does not: store the mapping (--fix)
    DUPLICATED = "duplicated"  # several national complaints carry the tag: report only
    MAPPING_DIFFERS = "mapping_differs"  # the mapping points at another complaint: report only
    FOLLOWUPS_MISSING = "followups_missing"  # send them again (--fix)
    FOLLOWUPS_DUPLICATED = "followups_duplicated"  # report only: national cannot delete


@dataclass(frozen=True)
class LocalRecord:
    tracking_number: str
    national_id: int | None
    followups: tuple[str, ...]  # contents lapor-hub recorded as mirrored, in order


@dataclass(frozen=True)
class Finding:
    difference: Difference
    detail: str
    missing_followups: tuple[str, ...] = field(default=())


def compare(
    local: LocalRecord, tagged: list[ComplaintRecord], followups: list[Followup]
) -> list[Finding]:
    """`followups` are those of the national complaint the mapping (or the tag) points at."""
    findings: list[Finding] = []
    ids = sorted(record.complaint_id for record in tagged)
    if not ids:
        return [Finding(Difference.MISSING, "no national complaint carries its tag")]
    if len(ids) > 1:
        findings.append(Finding(Difference.DUPLICATED, f"national complaints {ids}"))
    if local.national_id is None:
        findings.append(Finding(Difference.UNMAPPED, f"national complaint {ids[0]}"))
    elif local.national_id not in ids:
        findings.append(
            Finding(Difference.MAPPING_DIFFERS, f"mapped to {local.national_id}, tagged {ids}")
        )
    national = Counter(f.content for f in followups if f.actor == INTEGRATION_ACTOR)
    expected = Counter(local.followups)
    missing = tuple(content for content in local.followups if national[content] < expected[content])
    if missing:
        findings.append(
            Finding(Difference.FOLLOWUPS_MISSING, f"{len(missing)} follow-ups", missing)
        )
    extra = sorted(content for content in national if national[content] > expected[content])
    if extra:
        findings.append(Finding(Difference.FOLLOWUPS_DUPLICATED, f"{len(extra)} follow-ups"))
    return findings
