"""The places and agencies the citizen pages offer and name: the 13 kabupaten/kota of Kalimantan
Selatan, their kecamatan and the agencies, all from `shared.agencies`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from shared.agencies import District, agency_names, districts, region_names


@dataclass(frozen=True)
class Gazetteer:
    regions: dict[str, str]  # code -> name, the kabupaten/kota only
    districts: tuple[District, ...]
    agencies: dict[str, str]  # code -> name

    def district(self, code: str) -> District | None:
        return next((d for d in self.districts if d.code == code), None)

    def agency_name(self, code: str | None) -> str | None:
        return None if code is None else self.agencies.get(code, code)


@cache
def gazetteer() -> Gazetteer:
    return Gazetteer(regions=region_names(), districts=districts(), agencies=agency_names())
