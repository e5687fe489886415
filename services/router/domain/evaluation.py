"""How well the routing table does on complaints whose right answer a person wrote down."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from services.router.domain.decide import ComplaintText, Router, RoutingDecision
from shared.events import AuthorityLevel


class ExpectedRouting(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    category: str
    level: AuthorityLevel
    region: str | None
    agency: str


class LabelledComplaint(BaseModel):
    """One line of an evaluation file: a complaint as `lapor-hub route` reads it, and labels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    body: str
    location: str | None = None
    region: str | None = None
    category: str | None = None
    labels: ExpectedRouting

    def complaint(self) -> ComplaintText:
        return complaint_text(self.title, self.body, self.location, self.region, self.category)


def complaint_text(
    title: str, body: str, location: str | None, region: str | None, category: str | None
) -> ComplaintText:
    """The router's input from the CLI's fields; `region` may be a kab/kota or kecamatan code."""
    is_district = region is not None and len(region) == 7
    return ComplaintText(
        title=title,
        body=body,
        location=location,
        region_code=None if is_district else region,
        district_code=region if is_district else None,
        category=category,
    )


@dataclass
class Miss:
    id: str
    expected: ExpectedRouting
    decision: RoutingDecision


@dataclass
class EvaluationReport:
    total: int = 0
    correct: Counter[str] = field(default_factory=Counter)
    triaged: int = 0
    agency_confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    category_confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: list[Miss] = field(default_factory=list)

    def accuracy(self, dimension: str) -> float:
        return self.correct[dimension] / self.total if self.total else 0.0

    @property
    def triage_rate(self) -> float:
        return self.triaged / self.total if self.total else 0.0


def evaluate(router: Router, items: Iterable[LabelledComplaint]) -> EvaluationReport:
    report = EvaluationReport()
    for item in items:
        decision = router.decide(item.complaint())
        expected = item.labels
        report.total += 1
        report.triaged += decision.triaged
        hits = {
            "category": decision.category == expected.category,
            "level": decision.level is expected.level,
            "region": decision.region == expected.region,
            "agency": decision.agency == expected.agency,
        }
        report.correct.update(name for name, hit in hits.items() if hit)
        if not hits["agency"]:
            report.agency_confusions[(expected.agency, decision.agency)] += 1
        if not hits["category"]:
            report.category_confusions[(expected.category, decision.category)] += 1
        if not all(hits.values()):
            report.misses.append(Miss(item.id, expected, decision))
    return report
