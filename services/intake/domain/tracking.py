"""Tracking numbers a citizen can read over the phone: `LPR-2026-7K3QX9-M`.

Random (not guessable from a neighbour's number), from an alphabet without look-alike characters
(no 0/O, 1/I/L, U/V), with a check character: weighted sum modulo 29, a prime, so any single
wrong character (year included) and any swap of two neighbours within the year or the random
part is caught before a lookup.
"""

from __future__ import annotations

import re
import secrets
from datetime import date

ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"  # 29 characters: a prime modulus
assert len(ALPHABET) == 29
PREFIX = "LPR"
RANDOM_LENGTH = 6
PATTERN = re.compile(rf"\b{PREFIX}-(\d{{4}})-([{ALPHABET}]{{{RANDOM_LENGTH}}})-([{ALPHABET}])\b")


def _check_character(year: str, random_part: str) -> str:
    # Year digits count by their value (0-9), the rest by their place in the alphabet: every
    # character then has its own value below 29, so every single change moves the sum.
    values = [int(d) for d in year] + [ALPHABET.index(c) for c in random_part]
    total = sum(weight * value for weight, value in enumerate(values, start=1))
    return ALPHABET[total % len(ALPHABET)]


def new_tracking_number(today: date) -> str:
    year = f"{today.year:04d}"
    # One draw from the OS for all six characters (a draw each cost a system call each).
    number = secrets.randbelow(len(ALPHABET) ** RANDOM_LENGTH)
    random_part = "".join(
        ALPHABET[number // len(ALPHABET) ** place % len(ALPHABET)] for place in range(RANDOM_LENGTH)
    )
    return f"{PREFIX}-{year}-{random_part}-{_check_character(year, random_part)}"


def normalize(text: str) -> str:
    """What a person typed or said, in canonical form: upper case, dashes where they belong."""
    compact = re.sub(r"[^0-9A-Za-z]", "", text).upper()
    if not compact.startswith(PREFIX) or len(compact) != len(PREFIX) + 4 + RANDOM_LENGTH + 1:
        return text.strip().upper()
    body = compact[len(PREFIX) :]
    return f"{PREFIX}-{body[:4]}-{body[4:-1]}-{body[-1]}"


def is_valid(tracking_number: str) -> bool:
    match = PATTERN.fullmatch(tracking_number)
    return match is not None and _check_character(match[1], match[2]) == match[3]


def quoted_tracking_numbers(text: str) -> list[str]:
    """Valid tracking numbers mentioned in a message (a citizen replying about a complaint)."""
    return [m[0] for m in PATTERN.finditer(text.upper()) if is_valid(m[0])]
