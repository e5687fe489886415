"""Intake's pure parts: tracking numbers, channel payloads, personal data, import rows."""

from __future__ import annotations

from datetime import date

from services.intake.domain.channels import (
    SmsMessage,
    WhatsAppWebhook,
    from_email,
    from_sms,
    from_whatsapp,
    read_rfc822,
    title_from,
    whatsapp_media_ids,
    whatsapp_signature_valid,
)
from services.intake.domain.imports import parse_import
from services.intake.domain.tracking import (
    ALPHABET,
    is_valid,
    new_tracking_number,
    normalize,
    quoted_tracking_numbers,
)
from shared.events import Attachment, Channel


def test_tracking_numbers_are_valid_unique_and_free_of_look_alikes() -> None:
    numbers = {new_tracking_number(date(2026, 11, 28)) for _ in range(2000)}
    assert len(numbers) == 2000
    for number in numbers:
        assert is_valid(number)
        assert number.startswith("LPR-2026-")
        assert not set(number[9:]) & set("01ILOUV")


def test_the_check_character_catches_a_wrong_character_and_a_swap() -> None:
    number = new_tracking_number(date(2026, 11, 28))
    random_part = number[9:15]
    for position in range(6):
        for replacement in ALPHABET:
            if replacement != random_part[position]:
                wrong = random_part[:position] + replacement + random_part[position + 1 :]
                assert not is_valid(f"{number[:9]}{wrong}{number[15:]}")
    for position in range(5):
        a, b = random_part[position], random_part[position + 1]
        if a != b:
            swapped = random_part[:position] + b + a + random_part[position + 2 :]
            assert not is_valid(f"{number[:9]}{swapped}{number[15:]}")


def test_a_spoken_tracking_number_is_normalised_and_found_in_text() -> None:
    number = new_tracking_number(date(2026, 11, 28))
    assert normalize(number.replace("-", " ").lower()) == number
    assert quoted_tracking_numbers(f"sdh lapor {number.lower()} tp blm ada kabar") == [number]
    wrong_check = number[:-1] + next(c for c in ALPHABET if c != number[-1])
    assert quoted_tracking_numbers(f"nomor {wrong_check}") == []


def test_sms_gets_a_title_and_an_international_phone() -> None:
    inbound = from_sms(
        SmsMessage.model_validate(
            {"message_id": "g-1", "from": "0812-5555-0101", "text": "Jalan rusak. Tolong cepat"}
        )
    )
    assert inbound.channel is Channel.SMS
    assert inbound.content.title == "Jalan rusak."
    assert inbound.content.reporter.phone == "+6281255550101"
    assert inbound.content.channel_message_id == "g-1"


def test_whatsapp_statuses_carry_no_complaint_and_replies_keep_their_thread() -> None:
    statuses = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "statuses": [{"id": "wamid.x", "status": "read"}],
                        },
                    }
                ],
            }
        ],
    }
    assert from_whatsapp(WhatsAppWebhook.model_validate(statuses)) == []
    reply = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "messages": [
                                {
                                    "from": "6281255550202",
                                    "id": "wamid.2",
                                    "timestamp": "1",
                                    "type": "location",
                                    "location": {
                                        "latitude": -3.44,
                                        "longitude": 114.83,
                                        "name": "Pasar Martapura",
                                    },
                                    "context": {"from": "62511", "id": "wamid.1"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    [inbound] = from_whatsapp(WhatsAppWebhook.model_validate(reply))
    assert inbound.in_reply_to == "wamid.1"
    assert inbound.content.location.coordinates is not None
    assert inbound.content.body == "Lokasi kejadian: Pasar Martapura"


def test_raw_email_is_parsed_and_reply_prefixes_dropped() -> None:
    raw = (
        b"From: Siti <siti@example.id>\r\nSubject: Re: Fwd: Sampah\r\nMessage-ID: <a@b>\r\n"
        b"In-Reply-To: <orig@b>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Masih menumpuk.\r\n"
    )
    inbound = from_email(read_rfc822(raw).parsed)
    assert inbound.content.title == "Sampah"
    assert inbound.content.reporter.email == "siti@example.id"
    assert inbound.content.channel_message_id == "a@b"
    assert inbound.in_reply_to == "orig@b"


def test_long_first_sentences_are_cut_at_a_word() -> None:
    title = title_from("kata " * 40)
    assert len(title) <= 81 and title.endswith("…") and not title.endswith(" …")


def test_jsonl_imports_report_broken_lines_and_give_rows_a_stable_identity() -> None:
    data = (
        b'{"title": "Jalan rusak", "body": "Berlubang", "channel": "paper"}\n'
        b"not json\n"
        b'{"title": "Web", "body": "x", "channel": "web"}\n'
    )
    rows, problems = parse_import(data, "backlog.jsonl")
    assert [r.line for r in rows] == [1]
    assert {(p.line, p.field) for p in problems} == {(2, "-"), (3, "channel")}
    again, _ = parse_import(data, "backlog.jsonl")
    assert (
        rows[0].complaint.content.channel_message_id
        == again[0].complaint.content.channel_message_id
    )


def test_a_whatsapp_webhook_is_known_by_metas_signature_of_its_exact_body() -> None:
    # RFC 4231 test case 2: HMAC-SHA256 of this "body" with the key "Jefe".
    body, secret = b"what do ya want for nothing?", "Jefe"
    signature = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert whatsapp_signature_valid(body, signature, secret)
    assert not whatsapp_signature_valid(body + b" ", signature, secret)
    assert not whatsapp_signature_valid(body, signature, "another secret")
    assert not whatsapp_signature_valid(body, signature.removeprefix("sha256="), secret)


def test_a_raw_email_without_message_id_is_known_by_its_bytes() -> None:
    raw = b"From: warga@example.id\r\nSubject: Sampah\r\n\r\nSampah menumpuk di Jl. Ahmad Yani.\r\n"
    first, again = read_rfc822(raw).parsed, read_rfc822(raw).parsed
    assert first.message_id.startswith("sha256:") and first.message_id == again.message_id
    assert read_rfc822(raw + b"Lagi.\r\n").parsed.message_id != first.message_id


def test_an_anonymous_reporters_reply_carries_no_name() -> None:
    from services.intake.domain.channels import Inbound
    from services.intake.service import _reply_note
    from shared.events import ComplaintContent, Reporter
    from testkit.factories import complaint

    content = ComplaintContent(
        title="Balasan", body="Saya Siti Aminah, belum diperbaiki", reporter=Reporter(name="Siti")
    )
    anonymous = complaint(anonymous=True, reporter={"name": "Siti Aminah"})
    assert "Siti" not in _reply_note(Inbound(Channel.SMS, content), anonymous)
    named = complaint(anonymous=False, reporter={"name": "Siti Aminah"})
    assert _reply_note(Inbound(Channel.SMS, content), named) == content.body


def _whatsapp_with(*messages: dict[str, object]) -> WhatsAppWebhook:
    value = {"messaging_product": "whatsapp", "messages": list(messages)}
    return WhatsAppWebhook.model_validate(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
        }
    )


def test_a_whatsapp_photo_is_fetched_only_for_a_message_that_is_filed_and_carries_its_file() -> (
    None
):
    sent = {"from": "6281255550202", "timestamp": "1"}
    webhook = _whatsapp_with(
        {**sent, "id": "wamid.1", "type": "image", "image": {"id": "11", "caption": "Jalan rusak"}},
        {**sent, "id": "wamid.2", "type": "image", "image": {"id": "22"}},  # no caption: not filed
        {**sent, "id": "wamid.3", "type": "document", "document": {"id": "33", "caption": "Surat"}},
        {**sent, "id": "wamid.4", "type": "text", "text": {"body": "Lampu PJU mati"}},
    )
    assert whatsapp_media_ids(webhook) == {"wamid.1": "11", "wamid.3": "33"}
    photo = Attachment(
        filename="a.jpg", content_type="image/jpeg", size_bytes=3, url="http://x/lampiran/a"
    )

    filed = from_whatsapp(webhook, {"wamid.1": [photo]})

    assert [(i.content.channel_message_id, i.content.attachments) for i in filed] == [
        ("wamid.1", (photo,)),
        ("wamid.3", ()),
        ("wamid.4", ()),
    ]
