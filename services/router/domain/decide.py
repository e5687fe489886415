"""The routing decision: which agency has authority over a complaint, how sure, and why."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from services.router.domain.model import NO_TOPIC, TopicModel
from services.router.domain.phrases import EXACT_MARK, TermIndex
from services.router.domain.places import PlaceFinder, RegionFinding
from services.router.domain.table import (
    CENTRAL_AGENCY,
    TRIAGE_AGENCY,
    AuthorityRule,
    RoutingTable,
    Topic,
)
from services.router.domain.text import TextNormalizer
from shared.events import REGION_CODE_PATTERN, AuthorityLevel, Channel

NAMED_INSTITUTION = 6.0
"""A table term this heavy names an institution ("rsud ulin"): the rules' topic then wins over
the model's, which has seen few texts naming it."""


MODEL_ALONE_CONFIDENCE = 0.7
"""For a model file that predates training choosing its own `alone` setting on dev."""

ADDRESS_WORDS = frozenset(
    {"jalan", "gang", "gg", "km", "rt", "rw", "no", "nomor", "blok", "komplek", "komp", "perumahan"}
)
"""In a location, words of a street address: "Jl. Veteran" says where, not that a road is broken."""


class ComplaintText(BaseModel):
    """What the router reads of a complaint."""

    model_config = ConfigDict(frozen=True)

    title: str = ""
    body: str = ""
    location: str | None = None
    region_code: str | None = Field(default=None, pattern=REGION_CODE_PATTERN)
    district_code: str | None = None
    category: str | None = Field(default=None, description="The reporter's LAPOR category")
    channel: Channel | None = Field(
        default=None, description="Recorded for the service; the rules do not depend on it"
    )


class Candidate(BaseModel):
    """One topic the text matched, for operators tuning the table (`--explain`)."""

    model_config = ConfigDict(frozen=True)

    topic: str
    score: float
    outcome: str
    terms: tuple[str, ...]


class RoutingDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    category: str
    level: AuthorityLevel
    region: str | None
    agency: str
    confidence: float = Field(ge=0, le=1)
    reasons: tuple[str, ...]
    table_version: str
    model_version: str | None = None
    topic: str | None = Field(default=None, description="The routing-table topic it chose")
    needs_place: bool = Field(
        default=False,
        description="Triaged only for want of a kab/kota: the reporter's answer would place it",
    )
    candidates: tuple[Candidate, ...] = ()

    @property
    def triaged(self) -> bool:
        return self.agency == TRIAGE_AGENCY


@dataclass(frozen=True)
class _Outcome:
    """Who has authority once a topic's authority rules are applied."""

    level: AuthorityLevel | None
    agency: str | None
    category: str
    reason: str | None

    @property
    def key(self) -> str:
        return f"{self.level or 'tidak jelas'}:{self.agency or '-'}"


@dataclass
class _TopicMatch:
    topic: Topic
    score: float = 0.0
    terms: dict[str, float] = field(default_factory=dict)


class Router:
    """Built once from a validated table (and, optionally, a trained topic model); `decide` is
    pure and fast.

    With a model, the model proposes the topic and the rules place it: the topic's authority
    rules (SMA vs SMP, provincial vs national road, ...) give the level and agency, and the place
    finder gives the kab/kota, exactly as without one.
    """

    def __init__(self, table: RoutingTable, model: TopicModel | None = None) -> None:
        self.table = table
        self.model = model
        self._topics_by_id = {topic.id: topic for topic in table.topics}
        self._normalizer = TextNormalizer(table.normalization)
        self._places = PlaceFinder(table, self._normalizer)
        self._terms: TermIndex[tuple[int, float, str]] = TermIndex(self._normalizer)
        self._rules: TermIndex[tuple[int, int]] = TermIndex(self._normalizer)
        for topic_number, topic in enumerate(table.topics):
            for term, weight in topic.terms.items():
                self._terms.add(term, (topic_number, weight, term.removeprefix(EXACT_MARK)))
            for rule_number, rule in enumerate(topic.authority):
                for term in rule.terms:
                    self._rules.add(term, (topic_number, rule_number))
        self._categories = {category.upper(): category for category in table.categories}
        # Topics are pydantic models: finding one by comparing them field by field (list.index)
        # is slow (README, Benchmarks); by identity it is not.
        self._topic_numbers = {id(topic): n for n, topic in enumerate(table.topics)}

    @property
    def version(self) -> str:
        return self.table.version

    @property
    def normalizer(self) -> TextNormalizer:
        return self._normalizer

    @property
    def model_version(self) -> str | None:
        return self.model.version if self.model is not None else None

    def topic_label(self, topic_id: str | None) -> str | None:
        """What a topic is called, as a reporter may read it ("jalan dan jembatan")."""
        topic = self._topics_by_id.get(topic_id or "")
        return topic.label if topic else None

    def model_words(self, complaint: ComplaintText) -> list[str]:
        """The words the topic model reads: title and body normalised, place names left out."""
        _, words, _ = self._read(complaint)
        return [word for word in words if word]

    def _read(self, complaint: ComplaintText) -> tuple[int, list[str], RegionFinding]:
        """(how many words the title has, the text's words with place names blanked, place)."""
        title_words = self._normalizer.words(complaint.title)
        text_words = [*title_words, *self._normalizer.words(complaint.body)]
        place = self._places.find(
            complaint.location,
            text_words,
            complaint.region_code,
            complaint.district_code,
            self.table.thresholds.location_weight,
        )
        words = ["" if n in place.place_words else word for n, word in enumerate(text_words)]
        # What the location says beyond the place ("IGD RSUD Ulin", "SMPN 12 Banjarmasin",
        # "depan pasar") is about the topic and who has authority, like the text.
        location_words = self._normalizer.words(complaint.location or "")
        if location_words:
            in_location = self._places.place_positions(location_words)
            words += [
                "",
                *(
                    "" if n in in_location or w in ADDRESS_WORDS else w
                    for n, w in enumerate(location_words)
                ),
            ]
        return len(title_words), words, place

    def decide(self, complaint: ComplaintText) -> RoutingDecision:
        thresholds = self.table.thresholds
        split, words, place = self._read(complaint)
        stems = self._normalizer.stems(words)
        matches = self._score(
            (words[:split], stems[:split]), (words[split:], stems[split:]), complaint.category
        )
        candidates = sorted(matches.values(), key=lambda match: match.score, reverse=True)
        if self.model is not None:
            present = {rule for _, rule in self._rules.find(words, stems)}
            return self._decide_with_model(self.model, words, candidates, present, place)
        if not candidates or candidates[0].score < thresholds.min_score:
            best_guess = candidates[0].topic.category if candidates else "TOPIK LAINNYA"
            return self._triage(
                best_guess, place.region, 0.0, ("tidak ada aturan yang cukup cocok", *place.reasons)
            )
        present_rules = {rule for _, rule in self._rules.find(words, stems)}
        outcomes = {id(m): self._outcome(m.topic, present_rules) for m in candidates}
        by_outcome: dict[str, float] = defaultdict(float)
        for match in candidates:
            by_outcome[outcomes[id(match)].key] += match.score
        best = candidates[0]
        outcome = outcomes[id(best)]
        ranked = sorted(by_outcome.values(), reverse=True)
        best_score = by_outcome[outcome.key]
        rival = ranked[1] if len(ranked) > 1 else 0.0
        if ranked[0] > best_score:  # other topics agreeing on another authority outweigh it
            rival = ranked[0]
        confidence = (
            min(1.0, best_score / thresholds.saturation) * best_score / (best_score + rival)
        )
        explained = tuple(
            Candidate(
                topic=m.topic.id,
                score=round(m.score, 2),
                outcome=outcomes[id(m)].key,
                terms=tuple(m.terms),
            )
            for m in candidates[:5]
        )
        reasons = [f"topik '{best.topic.label}': {', '.join(list(best.terms)[:4])}"]
        if outcome.reason:
            reasons.append(f"aturan kewenangan: {outcome.reason}")
        runner_up = next((m for m in candidates[1:] if outcomes[id(m)].key != outcome.key), None)
        if runner_up is not None:
            reasons.append(f"pesaing: '{runner_up.topic.label}' ({runner_up.score:.1f})")
        reasons.extend(place.reasons)
        decision = self._assign(outcome, place, confidence, reasons, thresholds.min_confidence)
        return decision.model_copy(update={"candidates": explained, "topic": best.topic.id})

    def _decide_with_model(
        self,
        model: TopicModel,
        words: list[str],
        candidates: list[_TopicMatch],
        present_rules: set[tuple[int, int]],
        place: RegionFinding,
    ) -> RoutingDecision:
        """The model's calibrated topic probabilities, blended with the rules' share of score;
        the most probable authority (with its category) wins if it is probable enough."""
        settings = model.settings
        blend = settings.get("blend", 0.8)
        guess = model.guess([word for word in words if word])
        combined: dict[str, float] = defaultdict(float)
        for topic_id, probability in guess.probabilities.items():
            if topic_id == NO_TOPIC or topic_id in self._topics_by_id:
                combined[topic_id] += blend * probability
        rule_terms: dict[str, list[str]] = {}
        if candidates:
            total = sum(match.score for match in candidates)
            strength = min(1.0, candidates[0].score / self.table.thresholds.saturation)
            for match in candidates:
                combined[match.topic.id] += (1 - blend) * strength * match.score / total
                rule_terms[match.topic.id] = list(match.terms)
            named = [t for t, w in candidates[0].terms.items() if w >= NAMED_INSTITUTION]
            praise = next(iter(guess.probabilities), None) == NO_TOPIC
            # "RSUD Ulin", "BPJS Ketenagakerjaan": the text names who decides; unless the model
            # reads no complaint in it (a thank-you to the passport office names it too).
            if named and not praise:
                combined[candidates[0].topic.id] += 1.0
        outcomes = {
            topic_id: (
                _Outcome(None, None, "TOPIK LAINNYA", None)
                if topic_id == NO_TOPIC
                else self._outcome(self._topics_by_id[topic_id], present_rules)
            )
            for topic_id in combined
        }
        by_outcome: dict[tuple[str, str], float] = defaultdict(float)
        for topic_id, share in combined.items():
            by_outcome[(outcomes[topic_id].key, outcomes[topic_id].category)] += share
        ranked = sorted(combined, key=lambda topic_id: combined[topic_id], reverse=True)
        best_key = max(by_outcome, key=lambda key: by_outcome[key])
        best = next(t for t in ranked if (outcomes[t].key, outcomes[t].category) == best_key)
        confidence = min(1.0, by_outcome[best_key])
        outcome = outcomes[best]
        explained = tuple(
            Candidate(
                topic=topic_id,
                score=round(combined[topic_id], 3),
                outcome=outcomes[topic_id].key,
                terms=guess.terms.get(topic_id, ()) or tuple(rule_terms.get(topic_id, ())),
            )
            for topic_id in ranked[:5]
        )
        label = NO_TOPIC if best == NO_TOPIC else self._topics_by_id[best].label
        reasons = [
            f"model {model.version}: topik '{label}' "
            f"({guess.probabilities.get(best, 0.0):.2f}): {', '.join(guess.terms.get(best, ()))}"
        ]
        if best in rule_terms:
            reasons.append(f"aturan topik '{label}': {', '.join(rule_terms[best][:4])}")
        if outcome.reason:
            reasons.append(f"aturan kewenangan: {outcome.reason}")
        runner_up = next((t for t in ranked if outcomes[t].key != outcome.key), None)
        if runner_up is not None and combined[runner_up] >= 0.15:
            rival = NO_TOPIC if runner_up == NO_TOPIC else self._topics_by_id[runner_up].label
            reasons.append(f"pesaing: '{rival}' ({combined[runner_up]:.2f})")
        reasons.extend(place.reasons)
        accept = settings.get("accept", self.table.thresholds.min_confidence)
        # With no topic term of the table in the text, the model alone speaks from filler words
        # ("mohon ditindaklanjuti"): it must be surer before an agency is given the complaint.
        alone = settings.get("alone", MODEL_ALONE_CONFIDENCE)
        if not candidates and best != NO_TOPIC and guess.probabilities.get(best, 0.0) < alone:
            reasons.append(f"tidak ada istilah topik; keyakinan model di bawah {alone}")
            decision = self._triage(outcome.category, place.region, confidence, tuple(reasons))
        elif best == NO_TOPIC:
            reasons.append("bukan aduan atau topiknya tidak jelas")
            decision = self._triage(outcome.category, place.region, confidence, tuple(reasons))
        else:
            decision = self._assign(outcome, place, confidence, reasons, accept)
        return decision.model_copy(update={"candidates": explained, "topic": best})

    def _assign(
        self,
        outcome: _Outcome,
        place: RegionFinding,
        confidence: float,
        reasons: list[str],
        min_confidence: float,
    ) -> RoutingDecision:
        region = place.region
        if place.outside and outcome.level is not AuthorityLevel.PUSAT:
            reasons.append("di luar Kalsel, bukan urusan pemerintah daerah Kalsel")
            return self._triage(outcome.category, region, confidence, tuple(reasons))
        if confidence < min_confidence:
            reasons.append(f"keyakinan {confidence:.2f} di bawah {min_confidence}")
            return self._triage(outcome.category, region, confidence, tuple(reasons))
        if outcome.level is None:
            reasons.append("jenjang kewenangan tidak disebut (mis. SD/SMP atau SMA/SMK?)")
            return self._triage(outcome.category, region, confidence, tuple(reasons))
        if outcome.level is AuthorityLevel.KABKOTA:
            if region is None:
                reasons.append("urusan kab/kota, tetapi kab/kotanya tidak diketahui")
                triaged = self._triage(outcome.category, region, confidence, tuple(reasons))
                return triaged.model_copy(update={"needs_place": True})
            agency = self.table.region_agency(region).code
        else:
            agency = outcome.agency or CENTRAL_AGENCY
        reasons.append(f"diteruskan ke {self.table.agency(agency).name}")
        return RoutingDecision(
            category=outcome.category,
            level=outcome.level,
            region=region,
            agency=agency,
            confidence=round(confidence, 3),
            reasons=tuple(reasons),
            table_version=self.version,
            model_version=self.model_version,
        )

    def _triage(
        self, category: str, region: str | None, confidence: float, reasons: tuple[str, ...]
    ) -> RoutingDecision:
        return RoutingDecision(
            category=category,
            level=self.table.agency(TRIAGE_AGENCY).level,
            region=region,
            agency=TRIAGE_AGENCY,
            confidence=round(confidence, 3),
            reasons=(*reasons, "ke triase manual (admin koordinator)"),
            table_version=self.version,
            model_version=self.model_version,
        )

    def _score(
        self,
        title: tuple[list[str], list[str]],
        body: tuple[list[str], list[str]],
        hinted_category: str | None,
    ) -> dict[int, _TopicMatch]:
        """Each topic's score: its distinct terms' weights, the title's counting more.

        `title` and `body` are (words, stems)."""
        thresholds = self.table.thresholds
        found: dict[tuple[int, tuple[str, ...]], tuple[float, str]] = {}
        for (words, stems), factor in ((title, thresholds.title_weight), (body, 1.0)):
            for phrase, (topic_number, weight, term) in self._terms.find(words, stems):
                key = (topic_number, phrase)
                found[key] = max(found.get(key, (0.0, term)), (weight * factor, term))
        matches: dict[int, _TopicMatch] = {}
        for (topic_number, _), (weight, term) in found.items():
            match = matches.setdefault(topic_number, _TopicMatch(self.table.topics[topic_number]))
            match.score += weight
            match.terms[term] = weight
        hint = self._categories.get((hinted_category or "").strip().upper())
        for match in matches.values():
            if hint is not None and match.topic.category == hint:
                match.score += thresholds.hint_bonus
                match.terms["(kategori pelapor)"] = thresholds.hint_bonus
        return matches

    def _outcome(self, topic: Topic, present_rules: set[tuple[int, int]]) -> _Outcome:
        topic_number = self._topic_numbers[id(topic)]
        rule: AuthorityRule | None = next(
            (r for n, r in enumerate(topic.authority) if (topic_number, n) in present_rules), None
        )
        if rule is None:
            return _Outcome(topic.level, topic.agency, topic.category, None)
        return _Outcome(rule.level, rule.agency, rule.category or topic.category, rule.reason)
