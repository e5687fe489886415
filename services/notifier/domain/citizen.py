"""Updates to the reporter: when the complaint is routed, followed up and resolved, through the
contact the reporter gave (email, else an SMS/WhatsApp gateway), and never without one.

These go to the reporter, not to an agency, so they are not masked: the reporter reads what they
wrote and what the agency answered them.
"""

from __future__ import annotations

from datetime import date, datetime
from html import escape

from services.notifier.domain.messages import Email, tanggal
from services.notifier.domain.plan import PlannedDelivery, email_delivery, post_delivery
from shared.events import Complaint, ComplaintStatus, NotificationChannel
from shared.working_days import WITA

# Deliveries to reporters share one pseudo agency code (and so one concurrency limit).
CITIZEN = "citizen"


def routed_update(tracking_number: str, agency_name: str, followup_due: date) -> str:
    return (
        f"Pengaduan Anda {tracking_number} telah diteruskan kepada {agency_name}, yang wajib"
        f" menindaklanjutinya paling lambat {tanggal(followup_due)}."
    )


def place_question(tracking_number: str, topic: str | None, answer_due: datetime) -> str:
    """The router's question where, in plain words: the answer must quote the tracking number so
    that an SMS or WhatsApp reply finds its complaint (an e-mail reply quotes it in the subject)."""
    about = f" tentang {topic}" if topic else ""
    due = answer_due.astimezone(WITA)
    return (
        f"Pengaduan Anda {tracking_number}{about} sudah kami terima. Agar dapat diteruskan ke"
        " pemerintah kabupaten/kota yang berwenang, mohon sebutkan di kabupaten/kota dan"
        f" kecamatan mana masalahnya. Balas pesan ini dengan menyertakan nomor {tracking_number},"
        f' misalnya: "{tracking_number} Kecamatan Martapura, Kabupaten Banjar". Bila sampai'
        f" {tanggal(due.date())} pukul {due:%H.%M} WITA belum ada jawaban, admin LAPOR Kalsel"
        " yang akan menentukan tujuannya."
    )


def status_update(
    tracking_number: str, agency_name: str, status: ComplaintStatus, note: str | None
) -> str | None:
    """What the reporter hears of an agency's action; None for actions they need not hear of."""
    if status is ComplaintStatus.FOLLOWED_UP:
        said = f": {note}" if note else "."
        return f"{agency_name} telah menindaklanjuti pengaduan Anda {tracking_number}{said}"
    if status is ComplaintStatus.RESOLVED:
        said = f" Keterangan: {note}" if note else ""
        return (
            f"Pengaduan Anda {tracking_number} telah dinyatakan selesai oleh {agency_name}.{said}"
        )
    return None


def plan_citizen_update(
    complaint: Complaint, text: str, *, key: str, sms_gateway_url: str | None
) -> PlannedDelivery | None:
    """An email if the reporter gave one, else a text through the gateway, else nothing."""
    reporter = complaint.reporter
    if reporter.email is not None:
        email = Email(
            subject=f"[LAPOR Kalsel] Kabar pengaduan {complaint.tracking_number}",
            text=f"{text}\n\nPesan ini dikirim otomatis oleh lapor-hub Kalimantan Selatan.",
            html=f"<html><body><p>{escape(text)}</p></body></html>",
        )
        return email_delivery(f"{key}:citizen", CITIZEN, "citizen", (str(reporter.email),), email)
    if reporter.phone is not None and sms_gateway_url is not None:
        return post_delivery(
            f"{key}:citizen",
            CITIZEN,
            "citizen",
            channel=NotificationChannel.SMS,
            url=sms_gateway_url,
            body={"type": "citizen.update", "to": reporter.phone, "text": text},
        )
    return None
