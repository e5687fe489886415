"""The check character of tracking numbers, exhaustively over one number's mistakes."""

from __future__ import annotations

from datetime import date
from string import digits

from services.intake.domain.tracking import ALPHABET, is_valid, new_tracking_number


def _mistakes(segment: str, characters: str) -> set[str]:
    """Every single wrong character and every swap of two different neighbours."""
    wrong = {
        segment[:n] + c + segment[n + 1 :]
        for n in range(len(segment))
        for c in characters
        if c != segment[n]
    }
    swapped = {
        segment[:n] + segment[n + 1] + segment[n] + segment[n + 2 :]
        for n in range(len(segment) - 1)
        if segment[n] != segment[n + 1]
    }
    return wrong | swapped


def test_every_mistake_in_the_year_is_caught() -> None:
    for _ in range(50):
        number = new_tracking_number(date(2026, 11, 28))
        prefix, year, rest = number[:4], number[4:8], number[8:]
        assert is_valid(number)
        for mistaken in _mistakes(year, digits):
            assert not is_valid(f"{prefix}{mistaken}{rest}"), (number, mistaken)


def test_every_mistake_in_the_random_part_or_check_character_is_caught() -> None:
    for _ in range(50):
        number = new_tracking_number(date(2027, 1, 2))
        head, random_part, check = number[:9], number[9:15], number[16]
        for mistaken in _mistakes(random_part, ALPHABET):
            assert not is_valid(f"{head}{mistaken}-{check}"), (number, mistaken)
        for wrong_check in set(ALPHABET) - {check}:
            assert not is_valid(f"{head}{random_part}-{wrong_check}")
