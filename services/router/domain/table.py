"""The routing table: the data operators edit, validated before the router trusts it.

A table that names an unknown category, agency, region or level is refused at start-up with
every problem listed, so a bad edit never routes a complaint.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError, model_validator

from shared import agencies
from shared.events import AuthorityLevel

# The two agencies that are not ordinary SKPD, as every service knows them (`shared.agencies`).
TRIAGE_AGENCY = agencies.TRIAGE_AGENCY
CENTRAL_AGENCY = agencies.CENTRAL_AGENCY
DEFAULT_TABLE_PATH = Path(__file__).resolve().parent.parent / "routing_table.toml"

Phrase = Annotated[str, Field(min_length=1, max_length=120)]


class RoutingTableError(ValueError):
    """The routing table cannot be read or is inconsistent; the message names each problem."""


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Thresholds(_Entry):
    min_score: PositiveFloat
    min_confidence: float = Field(gt=0, lt=1)
    saturation: PositiveFloat
    title_weight: float = Field(ge=1)
    hint_bonus: float = Field(ge=0)
    location_weight: float = Field(ge=1)


class AuthorityRule(_Entry):
    """When any of `terms` is present, the matter belongs to `level` (and `agency`)."""

    terms: tuple[Phrase, ...] = Field(min_length=1)
    level: AuthorityLevel
    agency: str | None = None
    category: str | None = None
    reason: str = Field(min_length=3)


class Topic(_Entry):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str = Field(min_length=3)
    category: str
    level: AuthorityLevel | None = Field(
        default=None, description="None: only an authority rule can say who decides"
    )
    agency: str | None = None
    terms: dict[Phrase, PositiveFloat] = Field(min_length=1)
    authority: tuple[AuthorityRule, ...] = ()


class Region(_Entry):
    code: str = Field(pattern=r"^63\d{2}$")
    name: str
    aliases: tuple[Phrase, ...] = ()


class District(_Entry):
    code: str = Field(pattern=r"^63\d{5}$")
    region: str = Field(pattern=r"^63\d{2}$")
    name: str
    aliases: tuple[Phrase, ...] = ()
    weak: bool = Field(default=False, description="Also an ordinary word: needs 'kecamatan'")


class Agency(_Entry):
    code: str = Field(min_length=2, max_length=32)
    name: str
    level: AuthorityLevel
    region: str | None = None


class RoutingTable(_Entry):
    version: str = Field(min_length=1, max_length=40)
    thresholds: Thresholds
    normalization: dict[str, str] = {}
    categories: tuple[str, ...] = Field(min_length=1)
    regions: tuple[Region, ...] = Field(alias="region", min_length=1)
    districts: tuple[District, ...] = Field(alias="district", default=())
    outside: tuple[Phrase, ...] = Field(
        default=(), description="Places outside Kalimantan Selatan: never a Kalsel region"
    )
    agencies: tuple[Agency, ...] = Field(alias="agency", min_length=1)
    topics: tuple[Topic, ...] = Field(alias="topic", min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = [*self._reference_problems(), *self._duplicate_problems()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def agency(self, code: str) -> Agency:
        return next(agency for agency in self.agencies if agency.code == code)

    def region_agency(self, region_code: str) -> Agency:
        return next(agency for agency in self.agencies if agency.region == region_code)

    def _reference_problems(self) -> list[str]:
        agencies = {agency.code: agency for agency in self.agencies}
        regions = {region.code for region in self.regions}
        problems = [
            f"agency {code!r} is missing"
            for code in (TRIAGE_AGENCY, CENTRAL_AGENCY)
            if code not in agencies
        ]
        governed = {a.region for a in self.agencies if a.level is AuthorityLevel.KABKOTA}
        problems += [f"region {code} has no kab/kota agency" for code in regions - governed]
        problems += [
            f"agency {a.code}: region {a.region} is not a region of the table"
            for a in self.agencies
            if a.region is not None and a.region not in regions
        ]
        problems += [
            f"district {d.code} ({d.name}): region {d.region} is unknown or not its prefix"
            for d in self.districts
            if d.region not in regions or not d.code.startswith(d.region)
        ]
        for topic in self.topics:
            where = f"topic {topic.id!r}"
            if topic.category not in self.categories:
                problems.append(f"{where}: category {topic.category!r} is not a LAPOR category")
            if topic.level is None and not topic.authority:
                problems.append(f"{where}: without a level it needs at least one authority rule")
            problems += _authority_problems(where, topic.level, topic.agency, agencies)
            for number, rule in enumerate(topic.authority, start=1):
                rule_where = f"{where} authority rule {number}"
                problems += _authority_problems(rule_where, rule.level, rule.agency, agencies)
                if rule.category is not None and rule.category not in self.categories:
                    problems.append(f"{rule_where}: category {rule.category!r} is unknown")
        return problems

    def _duplicate_problems(self) -> list[str]:
        problems = []
        for kind, codes in (
            ("topic id", [t.id for t in self.topics]),
            ("region code", [r.code for r in self.regions]),
            ("district code", [d.code for d in self.districts]),
            ("agency code", [a.code for a in self.agencies]),
        ):
            seen: set[str] = set()
            for code in codes:
                if code in seen:
                    problems.append(f"{kind} {code!r} appears twice")
                seen.add(code)
        return problems


def _authority_problems(
    where: str, level: AuthorityLevel | None, agency: str | None, agencies: dict[str, Agency]
) -> list[str]:
    """A provincial matter names its dinas; kab/kota and central matters are placed by level."""
    if level is AuthorityLevel.PROVINSI:
        if agency is None:
            return [f"{where}: a provincial matter needs an agency"]
        known = agencies.get(agency)
        if known is None or known.level is not AuthorityLevel.PROVINSI or agency == TRIAGE_AGENCY:
            return [f"{where}: agency {agency!r} is not a provincial agency"]
        return []
    if agency is not None and not (level is AuthorityLevel.PUSAT and agency == CENTRAL_AGENCY):
        return [f"{where}: a {level or 'level-less'} matter must not name agency {agency!r}"]
    return []


def parse_routing_table(text: str, source: str = "routing table") -> RoutingTable:
    """Parse and validate a table's TOML text; `RoutingTableError` lists every problem."""
    try:
        return RoutingTable.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as error:
        raise RoutingTableError(f"{source}: not valid TOML: {error}") from error
    except ValidationError as error:
        lines = [
            f"  {'.'.join(str(part) for part in problem['loc']) or '(table)'}: {problem['msg']}"
            for problem in error.errors()
        ]
        raise RoutingTableError(f"{source}: invalid routing table\n" + "\n".join(lines)) from error


def load_routing_table(path: Path = DEFAULT_TABLE_PATH) -> RoutingTable:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RoutingTableError(f"{path}: cannot read the routing table: {error}") from error
    return parse_routing_table(text, str(path))
