"""The one masking of personal data every path uses (shared/masking.py): NIKs, phone numbers and
e-mail addresses in the spellings citizens type, in any script's digits."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.events import PersonalData
from shared.masking import (
    EMAIL_MASK,
    NAME_MASK,
    NIK_MASK,
    PHONE_MASK,
    masked,
    normalised,
    personal_data_in,
)

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
EXTENDED_ARABIC_INDIC = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
SCRIPTS = [str.maketrans("", ""), FULL_WIDTH, ARABIC_INDIC, EXTENDED_ARABIC_INDIC]


@pytest.mark.parametrize(
    "text",
    [
        "NIK saya 6371010101010001",
        "NIK 6371 0101 0101 0001",
        "NIK: 63.71.01.010101.0001",
        "nik 6371-01-010101-0001",
        "nik 6371/0101/0101/0001",
        "NIK6371010101010001.",
        "NIK ６３７１０１０１０１０１０００１",
        "NIK ٦٣٧١٠١٠١٠١٠١٠٠٠١",
    ],
)
def test_a_nik_in_every_spelling_is_masked(text: str) -> None:
    out = masked(text)
    assert NIK_MASK in out
    assert not re.search(r"\d{4}", out), out


@pytest.mark.parametrize(
    "text",
    [
        "hubungi +62 812-3456-7890",
        "hubungi (+62) 812 3456 7890",
        "hubungi +62(812)34567890",
        "hubungi +62 (0)812 3456 7890",
        "hubungi 6281234567890",
        "hubungi 0812.3456.7890",
        "hubungi 0812-3456-7890 segera",
        "HP081234567890",
        "wa:081234567890",
        "telp (0511) 335 0123",
        "telp 0511-3350123",
        "hp ０８１２３４５６７８９０",
        "hp ٠٨١٢٣٤٥٦٧٨٩٠",
    ],
)
def test_a_phone_number_in_every_spelling_is_masked(text: str) -> None:
    out = masked(text)
    assert PHONE_MASK in out
    assert not re.search(r"\d{3}", out), out


@pytest.mark.parametrize(
    "text",
    [
        "jalan km 12, sudah 3 minggu",
        "sejak 05-12-2026 jam 10.30",
        "tanggal 12/03/2026",
        "kerugian Rp 62.500.000.000",
        "nomor LPR-2026-7K3QX9-M",
        "RT 005 RW 002",
        "tanggal 12 November 2026, km 12, RT 05",
        "anggaran Rp 1.500.000",
    ],
)
def test_ordinary_numbers_stay(text: str) -> None:
    assert masked(text) == text
    assert personal_data_in(text) == ()


def test_email_addresses_are_masked() -> None:
    assert masked("kirim ke budi.santoso+lapor@mail.example.co.id ya") == (
        f"kirim ke {EMAIL_MASK} ya"
    )
    assert masked("ｂｕｄｉ＠ｍａｉｌ．ｃｏｍ") == EMAIL_MASK


def test_a_name_is_masked_where_asked() -> None:
    assert masked("Saya Budi Santoso dari Banjarbaru", names=["budi santoso"]) == (
        f"Saya {NAME_MASK} dari Banjarbaru"
    )
    assert masked("Saya Bu di sini", names=["Bu", None]) == "Saya Bu di sini"


def test_personal_data_in_names_each_kind() -> None:
    assert personal_data_in("NIK 6371010101010001") == (PersonalData.NIK,)
    assert personal_data_in("hubungi 0812-5555-0101") == (PersonalData.PHONE,)
    assert personal_data_in("a@b.id", None, "HP081234567890 6371 0101 0101 0001") == (
        PersonalData.NIK,
        PersonalData.PHONE,
        PersonalData.EMAIL,
    )


def test_normalised_reads_every_script_as_ascii_digits() -> None:
    assert normalised("٠١٢ ０１２ ۰۱۲ ①") == "012 012 012 1"


# -- properties over generated numbers ------------------------------------------------------------

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,:", max_size=12)


@st.composite
def grouped(draw: st.DrawFn, number: str, separators: list[str]) -> str:
    """`number` split into random groups joined by one separator (as people type them)."""
    separator = draw(st.sampled_from(separators))
    cuts = sorted(draw(st.sets(st.integers(1, len(number) - 1), max_size=5)))
    parts = [number[a:b] for a, b in zip([0, *cuts], [*cuts, len(number)], strict=True)]
    return separator.join(parts)


@st.composite
def niks(draw: st.DrawFn) -> str:
    number = draw(st.sampled_from("123456789")) + draw(
        st.text(alphabet="0123456789", min_size=15, max_size=15)
    )
    return draw(grouped(number, ["", " ", ".", "-", "/", " - ", " / "]))


@st.composite
def phones(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from("23456789"))
    rest = draw(st.text(alphabet="0123456789", min_size=7, max_size=11))
    national = first + rest  # 8 to 12 digits after the trunk 0
    prefixes = ["0", "+62", "+62 ", "(+62) ", "+62-", "+62 (0)"]
    if draw(st.booleans()):  # a mobile number: 08, its operator, then 6 to 10 digits
        national = "8" + draw(st.sampled_from("123456789")) + rest[1:]
        prefixes.append("62")  # only a mobile number is written with a bare 62
    body = draw(grouped(national, ["", " ", ".", "-"]))
    prefix = draw(st.sampled_from(prefixes))
    return prefix + body


def script(number: str, draw: st.DrawFn) -> str:
    return number.translate(draw(st.sampled_from(SCRIPTS)))


def leftover_digits(text: str) -> str:
    return "".join(re.findall(r"\d", text))


@settings(max_examples=400)
@given(st.data(), niks(), words, words)
def test_no_generated_nik_survives(data: st.DataObject, nik: str, before: str, after: str) -> None:
    text = f"{before}{script(nik, data.draw)}{after}"
    out = masked(text)
    assert NIK_MASK in out
    assert leftover_digits(out) == "", (text, out)


@settings(max_examples=400)
@given(st.data(), phones(), st.sampled_from(["", "HP", "wa ", "telp: ", "nomor "]), words)
def test_no_generated_phone_number_survives(
    data: st.DataObject, phone: str, before: str, after: str
) -> None:
    text = f"{before}{script(phone, data.draw)} {after}"
    out = masked(text)
    assert leftover_digits(out) == "", (text, out)
    assert personal_data_in(text) != ()


@settings(max_examples=200)
@given(st.text(max_size=80))
def test_masking_is_idempotent(text: str) -> None:
    once = masked(text)
    assert masked(once) == once


@settings(max_examples=200)
@given(st.text(alphabet=st.characters(exclude_categories=["Nd", "No", "Nl"]), max_size=80))
def test_text_without_digits_or_at_sign_only_normalises(text: str) -> None:
    if "@" in normalised(text):
        return
    assert masked(text) == normalised(text)


def test_log_records_are_masked_message_and_traceback() -> None:
    import logging

    from shared.masking import MaskingFilter

    record = logging.LogRecord(
        "t", logging.ERROR, __file__, 1, "refused: %s", ("NIK 6371010101010001",), None
    )
    try:
        raise ValueError("input_value='hubungi 081255550101'")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    MaskingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "6371010101010001" not in text and "081255550101" not in text
    assert NIK_MASK in text and PHONE_MASK in text


@pytest.mark.parametrize(
    "text",
    ["status LPR-2026-7K3QX9-M mohon dicek", "tindak lanjut untuk LPR-2026-427237691100-T"],
)
def test_a_tracking_number_is_not_personal_data(text: str) -> None:
    assert masked(text) == text
    assert personal_data_in(text) == ()
    assert masked(f"{text} NIK 6371010101010001") == f"{text} NIK {NIK_MASK}"
