"""Personal data citizens write into free text, flagged so that every agency-facing message can
mask it: NIK (the 16-digit population number) and phone numbers."""

from __future__ import annotations

import re

from shared.events import PersonalData

NIK = re.compile(r"(?<!\d)\d{16}(?!\d)")
PHONE = re.compile(r"(?<![\d+])(?:\+62|62|0)8[1-9][\d -]{6,12}\d(?!\d)")


def personal_data_in(*texts: str | None) -> tuple[PersonalData, ...]:
    found: list[PersonalData] = []
    joined = "\n".join(t for t in texts if t)
    if NIK.search(joined):
        found.append(PersonalData.NIK)
    if PHONE.search(NIK.sub(" ", joined)):
        found.append(PersonalData.PHONE)
    return tuple(found)


MASK = "[disamarkan]"


def masked(text: str) -> str:
    """Free text fit for public view: NIK-like numbers and phone numbers hidden."""
    return PHONE.sub(MASK, NIK.sub(MASK, text))
