"""The alert email as bytes on the wire: 7-bit, folded, and parsed back to what was meant."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from services.notifier.senders import alert_email

DELIVERY_ID = "0b5c8f0e-6f1d-4d3e-9a57-2f4f3c1d9e21"


def _alert(subject: str, sender: str = "LAPOR Kalsel <noreply@lapor-kalsel.example>") -> bytes:
    return alert_email(
        sender=sender,
        to=["penghubung@dinkes.example"],
        subject=subject,
        text="Isi pengaduan",
        html="<p>Isi pengaduan</p>",
        delivery_id=DELIVERY_ID,
    )


def _parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_every_line_is_seven_bit_and_folded_within_78_characters() -> None:
    subject = " ".join(["Pengaduan: “banjir” di Martapura, 🌊 air setinggi lutut"] * 4)
    raw = _alert(subject)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert raw.isascii()
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert _parsed(raw)["Subject"] == subject


@pytest.mark.parametrize(
    ("subject", "encoded"),
    [
        ("[LAPOR Kalsel] Pengaduan LPR-2026-FDA7BCEA3EF4-T: Jalan berlubang di Jl. A. Yani", False),
        ("Jalan  rusak   berat " * 12, False),
        ("pendek", False),
        # A word too long for a 78-character line: split into encoded words instead.
        ("Lampu-penerangan-jalan-umum-padam-" * 3, True),
    ],
)
def test_an_ascii_subject_is_folded_within_78_characters_and_reads_back_the_same(
    subject: str, encoded: bool
) -> None:
    raw = _alert(subject)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    unfolded = head.replace(b"\r\n ", b" ").decode()  # RFC 5322 unfolding
    assert (f"\r\nSubject: {subject}\r\n" not in unfolded) is encoded
    assert _parsed(raw)["Subject"] == subject


def test_a_line_break_in_a_title_cannot_add_a_header() -> None:
    message = _parsed(_alert("Jalan rusak\r\nBcc: semua@contoh.id\nX-Evil: 1"))
    assert message["Bcc"] is None
    assert message["X-Evil"] is None
    assert message["Subject"] == "Jalan rusak Bcc: semua@contoh.id X-Evil: 1"


def test_a_sender_named_in_another_script_is_encoded_and_keeps_its_address() -> None:
    message = _parsed(_alert("Uji", sender="Pemprov Kalsel — LAPOR <noreply@kalsel.example>"))
    assert message["From"] == "Pemprov Kalsel — LAPOR <noreply@kalsel.example>"
    assert message["From"].addresses[0].addr_spec == "noreply@kalsel.example"


def test_every_attempt_has_the_same_message_id() -> None:
    assert _parsed(_alert("Uji"))["Message-ID"] == _parsed(_alert("Uji"))["Message-ID"]
