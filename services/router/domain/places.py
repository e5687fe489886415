"""Which kab/kota a complaint is about, from codes, place names and their common spellings."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from services.router.domain.phrases import PhraseIndex
from services.router.domain.table import RoutingTable
from services.router.domain.text import TextNormalizer

REGION_NAME_WEIGHT = 3.0
DISTRICT_WEIGHT = 2.0
WEAK_DISTRICT_WEIGHT = 0.5  # "gambut", "cempaka", "simpang empat" are ordinary words too
ENOUGH = 1.0  # a lone weak name in the body does not place a complaint
_KECAMATAN = "kecamatan"


OUTSIDE = "luar Kalsel"


@dataclass(frozen=True)
class _Place:
    region: str
    label: str
    weight: float
    weak: bool

    @property
    def outside(self) -> bool:
        return self.region == OUTSIDE


@dataclass(frozen=True)
class RegionFinding:
    region: str | None
    reasons: tuple[str, ...]
    place_words: frozenset[int] = frozenset()
    """Positions in the text's words that name a place ("laut" of "Tanah Laut" is no sea)."""
    outside: bool = False
    """The complaint is about a place outside Kalimantan Selatan."""


class PlaceFinder:
    def __init__(self, table: RoutingTable, normalizer: TextNormalizer) -> None:
        self._normalizer = normalizer
        self._names = {region.code: region.name for region in table.regions}
        self._district_region = {d.code: d.region for d in table.districts}
        self._index: PhraseIndex[_Place] = PhraseIndex()
        for region in table.regions:
            for name in {region.name, *region.aliases}:
                place = _Place(region.code, region.name, REGION_NAME_WEIGHT, weak=False)
                self._index.add(normalizer.words(name), place)
        for district in table.districts:
            label = f"Kecamatan {district.name} ({self._names[district.region]})"
            weight = WEAK_DISTRICT_WEIGHT if district.weak else DISTRICT_WEIGHT
            for name in {district.name, *district.aliases}:
                place = _Place(district.region, label, weight, district.weak)
                self._index.add(normalizer.words(name), place)
        for name in table.outside:
            place = _Place(OUTSIDE, name, 0.0, weak=False)
            self._index.add(normalizer.words(name), place)

    def find(
        self,
        location: str | None,
        text_words: list[str],
        region_code: str | None,
        district_code: str | None,
        location_weight: float,
    ) -> RegionFinding:
        """A given code wins; else the best-supported region, or none when it is a tie."""
        place_words = self.place_positions(text_words)
        given = self._given(region_code, district_code)
        if given is not None:
            return RegionFinding(given.region, given.reasons, place_words)
        scores: dict[str, float] = defaultdict(float)
        labels: dict[str, list[str]] = defaultdict(list)
        outside: list[str] = []
        named_region = False
        sources = ((self._normalizer.words(location or ""), location_weight), (text_words, 1.0))
        for words, factor in sources:
            for start, phrase, place in self._index.find(words):
                if place.outside:
                    outside.append(place.label)
                    continue
                named_region = named_region or place.weight == REGION_NAME_WEIGHT
                named_as_kecamatan = start > 0 and words[start - 1] == _KECAMATAN
                weight = DISTRICT_WEIGHT if place.weak and named_as_kecamatan else place.weight
                scores[place.region] += weight * factor
                found = f"'{' '.join(phrase)}' = {place.label}"
                if found not in labels[place.region]:
                    labels[place.region].append(found)
        if outside and not named_region:  # a same-named kecamatan elsewhere is no Kalsel place
            where = ", ".join(dict.fromkeys(outside))
            reasons = (f"lokasi di luar Kalimantan Selatan: {where}",)
            return RegionFinding(None, reasons, place_words, outside=True)
        ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
        if not ranked or ranked[0][1] < ENOUGH:
            return RegionFinding(None, ("lokasi kab/kota tidak disebut",), place_words)
        best, best_score = ranked[0]
        if len(ranked) > 1 and ranked[1][1] >= best_score:
            tied = " / ".join(self._names[code] for code, score in ranked if score >= best_score)
            return RegionFinding(None, (f"lokasi ambigu antara {tied}",), place_words)
        return RegionFinding(best, (f"lokasi: {', '.join(labels[best][:3])}",), place_words)

    def place_positions(self, words: list[str]) -> frozenset[int]:
        """Positions of the words that name a place (not the weak names, ordinary words too)."""
        return frozenset(
            position
            for start, phrase, place in self._index.find(words)
            if not place.weak
            for position in range(start, start + len(phrase))
        )

    def _given(self, region_code: str | None, district_code: str | None) -> RegionFinding | None:
        if region_code in self._names:
            name = self._names[region_code]
            return RegionFinding(region_code, (f"kode wilayah {region_code}: {name}",))
        if district_code in self._district_region:
            region = self._district_region[district_code]
            return RegionFinding(
                region, (f"kode kecamatan {district_code}: {self._names[region]}",)
            )
        return None
