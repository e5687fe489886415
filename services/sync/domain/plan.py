"""What national LAPOR must be told about each local event: the mirroring plan, pure.

lapor-hub is the province's intake, so a complaint is created nationally with the province as
its institution and its local tracking number as a tag (`reference_tag`), which is how an
ambiguous create is found again. Later events become follow-ups (carrying the national status
they move the complaint to) or a forward "bukan wewenang" to another institution. Events whose
source is national, and complaints that came from national, are not sent back (no echo loops).
What national receives (kab/kota officers read it there, so it is treated as leaving the
province):
- the reporter's identity never: the draft has no field for it, and an anonymous reporter's name
  is masked where they wrote it into their own text;
- title, text, location and every follow-up (agency notes, rejection reasons, a reporter's reply)
  with NIKs, phone numbers and e-mail addresses masked (`shared.masking`, as for agencies);
- the flags as national's own: *anonim* from `anonymous`, *rahasia* from `confidential`;
- date of incident, category, classification and the institution as they are.
`personal_data_in_text` changes nothing here: the masking is applied to every text, flagged or
not (the flag records what intake found, for audits).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.sync.adapters.lapor_api import (
    Classification,
    ComplaintDraft,
    NationalStatus,
    reference_tag,
)
from shared.events import (
    AnyEvent,
    AuthorityLevel,
    Channel,
    Complaint,
    ComplaintReceived,
    ComplaintRouted,
    ComplaintStatus,
    ComplaintStatusChanged,
    ReportType,
)
from shared.masking import masked, masked_or_none

PROVINCE_INSTITUTION = 6300
# National institution ids of the kab/kota governments are their Kemendagri region codes.
_REGION_CODE = re.compile(r"^63\d{2}$")

_CLASSIFICATIONS = {
    ReportType.PENGADUAN: Classification.COMPLAINT,
    ReportType.ASPIRASI: Classification.ASPIRATION,
    ReportType.PERMINTAAN_INFORMASI: Classification.REQUEST_INFORMATION,
}
# Local status -> the national status a follow-up moves the complaint to, and the text used
# when the actor wrote no note.
_FOLLOWUPS: dict[ComplaintStatus, tuple[NationalStatus | None, str]] = {
    ComplaintStatus.ACKNOWLEDGED: (NationalStatus.IN_PROGRESS, "Laporan diterima dan diproses."),
    ComplaintStatus.FOLLOWED_UP: (NationalStatus.FOLLOWED_UP, "Laporan telah ditindaklanjuti."),
    ComplaintStatus.REPORTER_REPLIED: (None, "Pelapor menanggapi tindak lanjut."),
    ComplaintStatus.RESOLVED: (NationalStatus.DONE, "Laporan selesai."),
    # The reporter's "masalah belum selesai" and rating go to national as follow-ups.
    ComplaintStatus.REOPENED: (
        NationalStatus.IN_PROGRESS,
        "Pelapor menyatakan masalah belum selesai; laporan dibuka kembali.",
    ),
    ComplaintStatus.RATED: (None, "Pelapor memberi penilaian."),
    ComplaintStatus.ARCHIVED: (NationalStatus.ARCHIVED, "Laporan diarsipkan."),
}


@dataclass(frozen=True)
class CreateComplaint:
    draft: ComplaintDraft


@dataclass(frozen=True)
class AddFollowup:
    content: str
    status: NationalStatus | None


@dataclass(frozen=True)
class Forward:
    """Bukan wewenang: hand the complaint to another institution (`not_authority: 1`)."""

    institution_id: int
    reason: str


@dataclass(frozen=True)
class Ignore:
    reason: str


MirrorAction = CreateComplaint | AddFollowup | Forward | Ignore


def national_draft(complaint: Complaint) -> ComplaintDraft:
    hidden = (complaint.reporter.name,) if complaint.anonymous else ()
    return ComplaintDraft(
        title=masked(complaint.title, names=hidden)[:300],
        content=masked(complaint.body, names=hidden)[:20_000],
        date_of_incident=complaint.incident_date,
        location=(masked_or_none(complaint.location.text, names=hidden) or "")[:500] or None,
        category=complaint.category,
        institution_id=PROVINCE_INSTITUTION,
        classification=_CLASSIFICATIONS[complaint.report_type],
        is_anonymous=complaint.anonymous,
        is_secret=complaint.confidential,
        tags=[reference_tag(complaint.tracking_number)],
    )


def institution_of(agency_code: str | None) -> int | None:
    """The national institution an agency belongs to: a kab/kota government, or the province
    for its own perangkat daerah; None for central agencies (national decides those)."""
    if agency_code is None:
        return None
    if _REGION_CODE.match(agency_code):
        return int(agency_code)
    if agency_code.startswith("63."):
        return PROVINCE_INSTITUTION
    return None


def plan_mirror(event: AnyEvent) -> MirrorAction:
    match event:
        case ComplaintReceived(complaint=complaint):
            if complaint.channel is Channel.LAPOR_NATIONAL:
                return Ignore("filed nationally")
            return CreateComplaint(national_draft(complaint))
        case ComplaintRouted():
            return _routed(event)
        case ComplaintStatusChanged(source="national"):
            return Ignore("came from national")
        case ComplaintStatusChanged():
            return _status_changed(event)
        case _:
            return Ignore(f"{event.event_type} is not mirrored")


def _routed(event: ComplaintRouted) -> MirrorAction:
    if event.level is AuthorityLevel.PUSAT:
        return AddFollowup(
            "Bukan kewenangan pemerintah daerah: kewenangan instansi pusat. "
            + masked("; ".join(event.reasons)),
            None,
        )
    institution = institution_of(event.agency_code)
    if event.level is AuthorityLevel.KABKOTA and institution == PROVINCE_INSTITUTION:
        institution = institution_of(event.region_code)
    if institution is None:
        return Ignore(f"no national institution for {event.agency_code}")
    reason = masked("; ".join(event.reasons)) or f"Didisposisikan ke {event.agency_code}"
    # The executor skips it when national already has the complaint with that institution.
    return Forward(institution, reason[:2000])


def _status_changed(event: ComplaintStatusChanged) -> MirrorAction:
    if event.status is ComplaintStatus.REJECTED:
        target = institution_of(event.suggested_agency_code)
        note = masked_or_none(event.note) or (
            f"Bukan kewenangan {event.agency_code or event.actor.id or ''}".strip()
        )
        if target is not None:
            return Forward(target, note[:2000])
        return AddFollowup(note, None)
    followup = _FOLLOWUPS.get(event.status)
    if followup is None:
        return Ignore(f"status {event.status} is not mirrored")
    status, default_text = followup
    return AddFollowup(masked_or_none(event.note) or default_text, status)


def is_mirrored(event: AnyEvent) -> bool:
    """Whether the event goes on the mirror queue at all."""
    return not isinstance(plan_mirror(event), Ignore)
