"""The words of every notification: Indonesian text and HTML email, webhook JSON, SMS text.

Messages read a complaint only through `AgencyView` (privacy rules already applied) and render
everything at enqueue time, so each retry sends exactly the same message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from typing import Any

from services.notifier.domain.privacy import AgencyView, for_public_channel
from shared.working_days import WITA

_MONTHS = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)


def tanggal(day: date) -> str:
    """A date as Indonesians write it: 5 Desember 2026."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


@dataclass(frozen=True)
class Assignment:
    """What a message about an assignment says."""

    view: AgencyView
    agency_code: str
    agency_name: str
    disposition_due: date
    followup_due: date
    inbox_url: str
    routing_round: int = 1
    previous_agency_code: str | None = None


@dataclass(frozen=True)
class Rerouted:
    """The previous agency of a re-routed complaint: it is no longer theirs to answer."""

    tracking_number: str
    agency_code: str
    new_agency_name: str
    inbox_url: str


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


def assignment_email(notice: Assignment) -> Email:
    view = notice.view
    mark = "[RAHASIA] " if view.confidential else ""
    subject = f"{mark}[LAPOR Kalsel] Pengaduan {view.tracking_number}: {view.title}"[:200]
    lines = [
        f"Yth. Pejabat Penghubung {notice.agency_name},",
        "",
        f"Pengaduan {view.tracking_number} telah didisposisikan kepada instansi Anda"
        + (" (pengalihan dari instansi lain)." if notice.previous_agency_code else "."),
    ]
    if view.confidential:
        lines += ["", "PENGADUAN RAHASIA: jangan diteruskan atau dipublikasikan."]
    lines += [
        "",
        f"Judul: {view.title}",
        f"Isi: {view.body}",
        f"Lokasi: {view.location or '-'}",
        f"Kategori: {view.category or '-'}",
        f"Tanggal kejadian: {view.incident_date or '-'}",
        f"Pelapor: {_reporter_line(view)}",
        "",
        f"Batas disposisi: {tanggal(notice.disposition_due)}",
        f"Batas tindak lanjut: {tanggal(notice.followup_due)}",
        "",
        f"Tanggapi melalui kotak masuk instansi: {notice.inbox_url}",
        "",
        "Pesan ini dikirim otomatis oleh lapor-hub Kalimantan Selatan.",
    ]
    rows = [
        ("Judul", view.title),
        ("Isi", view.body),
        ("Lokasi", view.location or "-"),
        ("Kategori", view.category or "-"),
        ("Tanggal kejadian", view.incident_date or "-"),
        ("Pelapor", _reporter_line(view)),
        ("Batas disposisi", tanggal(notice.disposition_due)),
        ("Batas tindak lanjut", tanggal(notice.followup_due)),
    ]
    table = "".join(
        f"<tr><th align='left'>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows
    )
    warning = (
        "<p><strong>PENGADUAN RAHASIA: jangan diteruskan atau dipublikasikan.</strong></p>"
        if view.confidential
        else ""
    )
    html = (
        f"<html><body><p>Yth. Pejabat Penghubung {escape(notice.agency_name)},</p>"
        f"<p>Pengaduan <strong>{escape(view.tracking_number)}</strong> telah didisposisikan"
        f" kepada instansi Anda.</p>{warning}<table>{table}</table>"
        f"<p><a href='{escape(notice.inbox_url)}'>Buka kotak masuk instansi</a></p>"
        "</body></html>"
    )
    return Email(subject=subject, text="\n".join(lines), html=html)


def _reporter_line(view: AgencyView) -> str:
    if view.reporter is None:
        return "anonim (identitas dirahasiakan)"
    parts = [p for p in (view.reporter.name, view.reporter.phone, view.reporter.email) if p]
    return ", ".join(parts) or "-"


def assignment_webhook(notice: Assignment, *, public_channel: bool) -> dict[str, Any]:
    """The JSON body of an assignment webhook; a public channel never gets a confidential text."""
    view = for_public_channel(notice.view) if public_channel else notice.view
    body: dict[str, Any] = {
        "type": "complaint.assigned",
        "tracking_number": notice.view.tracking_number,
        "agency_code": notice.agency_code,
        "routing_round": notice.routing_round,
        "previous_agency_code": notice.previous_agency_code,
        "confidential": notice.view.confidential,
        "disposition_due": notice.disposition_due.isoformat(),
        "followup_due": notice.followup_due.isoformat(),
        "inbox_url": notice.inbox_url,
        "complaint": None,
    }
    if view is not None:
        body["complaint"] = {
            "title": view.title,
            "body": view.body,
            "location": view.location,
            "category": view.category,
            "incident_date": view.incident_date,
            "received_at": view.received_at.isoformat(),
            "anonymous": view.anonymous,
            "reporter": None
            if view.reporter is None
            else {
                "name": view.reporter.name,
                "phone": view.reporter.phone,
                "email": view.reporter.email,
            },
            "attachments": list(view.attachments),
        }
    return body


def assignment_sms(notice: Assignment) -> str:
    """A short text for an SMS/WhatsApp gateway: never the complaint's text, only a link."""
    return (
        f"LAPOR Kalsel: pengaduan {notice.view.tracking_number} untuk {notice.agency_code},"
        f" tindak lanjut paling lambat {tanggal(notice.followup_due)}. {notice.inbox_url}"
    )


def rerouted_email(notice: Rerouted) -> Email:
    subject = f"[LAPOR Kalsel] Pengaduan {notice.tracking_number} dialihkan"
    text = (
        f"Pengaduan {notice.tracking_number} tidak lagi ditangani instansi Anda"
        f" ({notice.agency_code}); telah dialihkan kepada {notice.new_agency_name}."
        f"\n\nRiwayat: {notice.inbox_url}\n\nPesan ini dikirim otomatis oleh lapor-hub."
    )
    html = (
        f"<html><body><p>Pengaduan <strong>{escape(notice.tracking_number)}</strong> tidak lagi"
        f" ditangani instansi Anda; telah dialihkan kepada {escape(notice.new_agency_name)}.</p>"
        f"<p><a href='{escape(notice.inbox_url)}'>Riwayat</a></p></body></html>"
    )
    return Email(subject=subject, text=text, html=html)


def rerouted_webhook(notice: Rerouted) -> dict[str, Any]:
    return {
        "type": "complaint.rerouted_away",
        "tracking_number": notice.tracking_number,
        "agency_code": notice.agency_code,
        "new_agency_name": notice.new_agency_name,
        "inbox_url": notice.inbox_url,
    }


@dataclass(frozen=True)
class Deadline:
    """A reminder before the follow-up deadline, or an escalation after it."""

    view: AgencyView
    agency_code: str
    agency_name: str
    followup_due: date
    inbox_url: str


def reminder_email(notice: Deadline) -> Email:
    view = notice.view
    due = tanggal(notice.followup_due)
    subject = f"[LAPOR Kalsel] Pengingat: tindak lanjut {view.tracking_number} paling lambat {due}"
    text = (
        f"Yth. Pejabat Penghubung {notice.agency_name},\n\n"
        f"Pengaduan {view.tracking_number} ({view.title}) belum ditindaklanjuti."
        f" Batas tindak lanjut: {due}.\n\nTanggapi melalui: {notice.inbox_url}\n\n"
        "Pesan ini dikirim otomatis oleh lapor-hub Kalimantan Selatan."
    )
    html = (
        f"<html><body><p>Yth. Pejabat Penghubung {escape(notice.agency_name)},</p>"
        f"<p>Pengaduan <strong>{escape(view.tracking_number)}</strong>"
        f" ({escape(view.title)}) belum ditindaklanjuti."
        f" Batas tindak lanjut: <strong>{escape(due)}</strong>.</p>"
        f"<p><a href='{escape(notice.inbox_url)}'>Buka kotak masuk instansi</a></p>"
        "</body></html>"
    )
    return Email(subject=subject, text=text, html=html)


def escalation_email(notice: Deadline) -> Email:
    view = notice.view
    due = tanggal(notice.followup_due)
    subject = f"[LAPOR Kalsel] ESKALASI: {view.tracking_number} melewati batas tindak lanjut"
    text = (
        f"Pengaduan {view.tracking_number} ({view.title}) yang didisposisikan kepada"
        f" {notice.agency_name} ({notice.agency_code}) belum ditindaklanjuti hingga batas"
        f" {due}.\n\nMohon arahan pimpinan. Rincian: {notice.inbox_url}\n\n"
        "Pesan ini dikirim otomatis oleh lapor-hub Kalimantan Selatan."
    )
    html = (
        f"<html><body><p>Pengaduan <strong>{escape(view.tracking_number)}</strong>"
        f" ({escape(view.title)}) yang didisposisikan kepada {escape(notice.agency_name)}"
        f" belum ditindaklanjuti hingga batas <strong>{escape(due)}</strong>.</p>"
        f"<p><a href='{escape(notice.inbox_url)}'>Rincian</a></p></body></html>"
    )
    return Email(subject=subject, text=text, html=html)


@dataclass(frozen=True)
class ReporterReply:
    """A reporter's answer to the agency's handling, `text` already masked; with `rating`
    (1-5), their rating of the resolved complaint."""

    tracking_number: str
    agency_code: str
    text: str
    confidential: bool
    inbox_url: str
    rating: int | None = None


def reply_email(notice: ReporterReply) -> Email:
    what = "Tanggapan" if notice.rating is None else "Penilaian"
    subject = f"[LAPOR Kalsel] {what} pelapor atas pengaduan {notice.tracking_number}"
    text = (
        f"Pelapor menanggapi pengaduan {notice.tracking_number}:\n\n{notice.text}"
        f"\n\nTindak lanjuti di kotak masuk: {notice.inbox_url}"
        "\n\nPesan ini dikirim otomatis oleh lapor-hub."
    )
    html = (
        f"<html><body><p>Pelapor menanggapi pengaduan"
        f" <strong>{escape(notice.tracking_number)}</strong>:</p>"
        f"<blockquote>{escape(notice.text)}</blockquote>"
        f"<p><a href='{escape(notice.inbox_url)}'>Kotak masuk</a></p></body></html>"
    )
    return Email(subject=subject, text=text, html=html)


def reply_webhook(notice: ReporterReply, *, public_channel: bool) -> dict[str, Any]:
    """A public channel never gets a confidential complaint's reply, only that there is one."""
    shown = not (public_channel and notice.confidential)
    return {
        "type": "complaint.reporter_replied" if notice.rating is None else "complaint.rated",
        "tracking_number": notice.tracking_number,
        "agency_code": notice.agency_code,
        "confidential": notice.confidential,
        "text": notice.text if shown else None,
        "rating": notice.rating,
        "inbox_url": notice.inbox_url,
    }


@dataclass(frozen=True)
class ContactsChanged:
    """An agency's contacts were replaced: told to its old addresses."""

    agency_code: str
    agency_name: str
    changed_by: str
    changed_at: datetime
    changes: tuple[str, ...]


def contacts_changed_email(notice: ContactsChanged) -> Email:
    when = f"{tanggal(notice.changed_at.astimezone(WITA).date())}"
    when += f" {notice.changed_at.astimezone(WITA):%H:%M} WITA"
    subject = f"[LAPOR Kalsel] Kontak {notice.agency_name} di lapor-hub diubah"[:200]
    intro = (
        f"Kontak {notice.agency_name} ({notice.agency_code}) di lapor-hub diubah pada {when}"
        f" oleh {notice.changed_by}:"
    )
    warning = (
        "Pemberitahuan pengaduan berikutnya dikirim ke kontak yang baru. Jika perubahan ini"
        " tidak Anda minta, segera hubungi admin LAPOR PAMAN (Diskominfo Provinsi Kalimantan"
        " Selatan)."
    )
    text = "\n".join(
        [
            f"Yth. Pejabat Penghubung {notice.agency_name},",
            "",
            intro,
            *(f"- {change}" for change in notice.changes),
            "",
            warning,
            "",
            "Pesan ini dikirim otomatis oleh lapor-hub ke alamat lama instansi Anda.",
        ]
    )
    items = "".join(f"<li>{escape(change)}</li>" for change in notice.changes)
    html = (
        f"<html><body><p>{escape(intro)}</p><ul>{items}</ul>"
        f"<p><strong>{escape(warning)}</strong></p></body></html>"
    )
    return Email(subject=subject, text=text, html=html)
