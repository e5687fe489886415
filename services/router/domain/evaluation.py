"""How well the routing table does on complaints whose right answer a person wrote down."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from services.router.domain.decide import ComplaintText, Router, RoutingDecision
from shared.agencies import TRIAGE_AGENCY
from shared.events import AuthorityLevel


class ExpectedRouting(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    category: str
    level: AuthorityLevel
    region: str | None
    agency: str
    topic: str | None = Field(default=None, description="The routing-table topic, if labelled")


class LabelledComplaint(BaseModel):
    """One line of an evaluation file: a complaint as `lapor-hub route` reads it, and labels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    body: str
    location: str | None = None
    region: str | None = None
    category: str | None = None
    source: str | None = Field(default=None, description="Where the text comes from")
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
    definite: int = 0
    """Complaints whose labelled agency is a real one (not triage)."""
    definite_triaged: int = 0
    placed: int = 0
    """Complaints whose labelled region is known."""
    placed_correct: int = 0
    per_topic: dict[str, Counter[str]] = field(default_factory=dict)
    """By labelled topic (or category when no topic is labelled): complaints, category and
    agency hits, triaged."""
    agency_confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    category_confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: list[Miss] = field(default_factory=list)

    def accuracy(self, dimension: str) -> float:
        return self.correct[dimension] / self.total if self.total else 0.0

    @property
    def triage_rate(self) -> float:
        return self.triaged / self.total if self.total else 0.0

    @property
    def definite_triage_rate(self) -> float:
        """Complaints with a definite agency that still went to triage: the cost of doubt."""
        return self.definite_triaged / self.definite if self.definite else 0.0

    @property
    def placed_region_accuracy(self) -> float:
        return self.placed_correct / self.placed if self.placed else 0.0


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
        if expected.agency != TRIAGE_AGENCY:
            report.definite += 1
            report.definite_triaged += decision.triaged
        if expected.region is not None:
            report.placed += 1
            report.placed_correct += hits["region"]
        group = report.per_topic.setdefault(expected.topic or expected.category, Counter())
        group["total"] += 1
        group["category"] += hits["category"]
        group["agency"] += hits["agency"]
        group["triaged"] += decision.triaged
        if not hits["agency"]:
            report.agency_confusions[(expected.agency, decision.agency)] += 1
        if not hits["category"]:
            report.category_confusions[(expected.category, decision.category)] += 1
        if not all(hits.values()):
            report.misses.append(Miss(item.id, expected, decision))
    return report
