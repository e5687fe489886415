"""Personal data citizens write into free text, found and masked in one place for every path that
shows a complaint to someone other than its reporter: agencies' e-mails, webhooks and inbox, the
public status page and Open311, national LAPOR, dead letters, logs and the operator console.

Text is normalised first (NFKC, and every Unicode decimal digit read as its ASCII digit), so a NIK
typed in full-width or Arabic-Indic digits, or a number run into a word (`HP081234567890`), is found
like any other. What is masked:

- NIK (and the KK number, same shape): 16 digits, grouped by spaces, dots, dashes or slashes as
  people copy them from a KTP (`6371 0101 0101 0001`, `63.71.01.010101.0001`).
- Indonesian phone numbers, mobile and landline, in the spellings people use: `+62 812-3456-7890`,
  `(+62) 812…`, `62812…`, `0812.3456.7890`, `(0511) 335 0123`.
- E-mail addresses.
- Optionally a name (an anonymous reporter's, where they wrote it into their own text).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable

from shared.events import PersonalData

NIK_MASK = "[NIK disamarkan]"
PHONE_MASK = "[nomor telepon disamarkan]"
EMAIL_MASK = "[email disamarkan]"
NAME_MASK = "[nama pelapor disamarkan]"

_NIK_SEPARATOR = r"(?:[ \t]*[./\-][ \t]*|[ \t]+)?"
# A NIK begins with its province's code (11 to 94), never 0: a phone number typed just before one
# is not taken for its first digits.
_NIK = re.compile(rf"(?<![\d+])[1-9](?:{_NIK_SEPARATOR}\d){{15}}(?!\d)")
# After the country code (+62, or a bare 62 before a mobile number's 8) or the trunk 0 comes the
# national number: its first digit is never 0 or 1, then 7 to 11 more (9 to 13 digits in all with
# the 0), with spaces, dots, dashes or parentheses between them. A date (05-12-2026) is too short.
_PHONE_SEPARATOR = r"[ \t.\-()]{0,3}"
_PHONE = re.compile(
    r"(?<!\d)(?:"
    r"\(?\+[ \t]?62\)?[ \t.\-]*(?:\(0\)[ \t.\-]*)?(?=\(?[2-9])"
    r"|62(?=[ \t.\-]?\(?8)"
    r"|\(?0(?=[ \t.\-)]{0,2}\(?[2-9])"
    r")"
    rf"{_PHONE_SEPARATOR}[2-9](?:{_PHONE_SEPARATOR}\d){{7,11}}(?!\d)"
)
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
# A complaint's tracking number (`LPR-2026-7K3QX9-M`, or a longer one of the same shape) is the
# citizen's handle on it, not personal data: its digits are never read as a NIK or a phone number.
_TRACKING_NUMBER = re.compile(r"\bLPR-\d{4}-[0-9A-Z]{4,20}-[0-9A-Z]\b")


def normalised(text: str) -> str:
    """NFKC, and every decimal digit of any script as its ASCII digit."""
    text = unicodedata.normalize("NFKC", text)
    if text.isascii():
        return text
    return "".join(
        str(unicodedata.decimal(c)) if not c.isascii() and c.isdecimal() else c for c in text
    )


def masked(text: str, *, names: Iterable[str | None] = ()) -> str:
    """`text` (normalised) with every NIK, phone number and e-mail address, and each of `names`
    (case-insensitive, at least three letters), replaced by a label saying what was hidden."""
    text = normalised(text)
    for name in names:
        cleaned = normalised(name).strip() if name else ""
        if len(cleaned) >= 3:
            text = re.sub(re.escape(cleaned), NAME_MASK, text, flags=re.IGNORECASE)
    text = _EMAIL.sub(EMAIL_MASK, text)
    pieces = _TRACKING_NUMBER.split(text)
    references = _TRACKING_NUMBER.findall(text)
    cleaned_pieces = [_PHONE.sub(PHONE_MASK, _NIK.sub(NIK_MASK, piece)) for piece in pieces]
    return "".join(
        piece + reference
        for piece, reference in zip(cleaned_pieces, [*references, ""], strict=True)
    )


def masked_or_none(text: str | None, *, names: Iterable[str | None] = ()) -> str | None:
    return None if text is None else masked(text, names=names)


def personal_data_in(*texts: str | None) -> tuple[PersonalData, ...]:
    """Which kinds of personal data the texts hold (recorded on the complaint, for audits)."""
    joined = normalised("\n".join(t for t in texts if t))
    found: list[PersonalData] = []
    without_email = _TRACKING_NUMBER.sub(" ", _EMAIL.sub(" ", joined))
    if _NIK.search(without_email):
        found.append(PersonalData.NIK)
    if _PHONE.search(_NIK.sub(" ", without_email)):
        found.append(PersonalData.PHONE)
    if _EMAIL.search(joined):
        found.append(PersonalData.EMAIL)
    return tuple(found)


class MaskingFilter(logging.Filter):
    """Masks every log record's message and traceback: an error quoting a complaint's text (a
    pydantic error's input value, a database error's detail) must not put a NIK into the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = masked(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = masked(record.exc_text)
        record.exc_info = None if record.exc_text else record.exc_info
        return True


def configure_logging(level: str | int) -> None:
    """The root logger of a process, every record masked."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskingFilter())
