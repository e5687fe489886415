"""Intake's service layer: accept a complaint (or a reporter's reply) once, durably, with its event.

`submit` answers only after the complaint row and its `ComplaintReceived` outbox row are
committed in one transaction: "accepted" always means stored. A retry (same Idempotency-Key, or
the same channel message id replayed by a gateway) returns the original tracking number and
creates nothing.
"""

from __future__ import annotations

import base64
import hmac
import logging
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import asyncpg
from prometheus_client import Counter, Histogram

from services.intake.domain.attachments import CleanAttachment, StoredAttachment
from services.intake.domain.channels import Inbound
from services.intake.domain.imports import ImportRow, imported_at
from services.intake.domain.model import (
    ApiKey,
    Caller,
    NewComplaint,
    PublicEntry,
    StoredComplaint,
    TimelineEntry,
)
from services.intake.domain.reporter import (
    ReporterAction,
    ReporterChange,
    history_of,
    reporter_change,
)
from services.intake.domain.tracking import new_tracking_number, quoted_tracking_numbers
from services.intake.repository import SCHEMA, IntakeRepository
from shared.agencies import CENTRAL_AGENCY, TRIAGE_AGENCY, agency_names, region_names
from shared.api_keys import hash_api_key, new_api_key
from shared.db import DATA_ERRORS, Connection
from shared.events import (
    Actor,
    ActorKind,
    AnyEvent,
    Channel,
    Complaint,
    ComplaintContent,
    ComplaintMirrored,
    ComplaintPlaceRequested,
    ComplaintReceived,
    ComplaintRouted,
    ComplaintStatus,
    ComplaintStatusChanged,
)
from shared.group_commit import GroupCommit, each_alone_on
from shared.idempotency import IdempotencyKey, ensure_same_request
from shared.masking import masked, personal_data_in
from shared.outbox import enqueue
from shared.settings import Settings
from shared.topics import COMPLAINT_EVENTS

PRODUCER = "intake"
log = logging.getLogger(__name__)

ACCEPTED = Counter(
    "lapor_hub_intake_complaints_accepted_total", "New complaints stored, by channel", ["channel"]
)
REPLAYED = Counter(
    "lapor_hub_intake_submissions_replayed_total",
    "Submissions answered with an existing tracking number (retries, gateway replays)",
    ["channel"],
)
REPLIES = Counter(
    "lapor_hub_intake_replies_total", "Reporter replies added to their complaint", ["channel"]
)
RECEIVED_NOTE = "Pengaduan diterima"
REPLY_NOTE = "Pelapor menanggapi"
REOPENED = Counter(
    "lapor_hub_intake_reopened_total",
    "Resolved complaints their reporter said were not solved, by agency",
    ["agency"],
)
RATINGS = Histogram(
    "lapor_hub_intake_rating",
    "Reporters' ratings (1-5) of resolved complaints, by agency: _sum / _count is satisfaction",
    ["agency"],
    buckets=(1, 2, 3, 4, 5),
)
REPORTER_NOTES = {
    ComplaintStatus.REPORTER_REPLIED: REPLY_NOTE,
    ComplaintStatus.REOPENED: "Pelapor menyatakan masalah belum selesai",
}
KEY_CACHE_S = 30.0
KEY_CACHE_SIZE = 10_000
REPLY_CHANNELS = frozenset({"sms", "whatsapp", "email"})


class MessageIdReusedError(Exception):
    """The caller's message id came before with a different message: not a replay, and not to be
    answered with the first message's tracking number (the second complaint would be lost)."""


@dataclass(frozen=True)
class Accepted:
    tracking_number: str
    created: bool
    access_token: str | None = None
    reply: bool = False


@dataclass(frozen=True)
class PublicStatus:
    complaint: Complaint
    status: str
    agency_code: str | None
    timeline: list[TimelineEntry]
    by_reporter: bool = False  # asked with the reporter's access token


@dataclass(frozen=True)
class ImportReport:
    """Per row: its line and its answer (with a confidential complaint's access token)."""

    accepted: list[tuple[int, Accepted]]
    already_imported: list[tuple[int, Accepted]]


class IntakeService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        topic: str = COMPLAINT_EVENTS.name,
        *,
        access_token_secret: str = Settings().intake_access_token_secret.get_secret_value(),
    ) -> None:
        self._pool = pool
        self._topic = topic
        self._access_token_key = access_token_secret.encode()
        self._callers: dict[str, tuple[Caller, float]] = {}
        # New complaints submitted at the same time are stored together; one colliding with an
        # earlier copy (a racing retry or replay), or with data PostgreSQL refuses, is then
        # stored alone, failing its own submission only.
        self._accepting = GroupCommit(
            each_alone_on((asyncpg.UniqueViolationError, *DATA_ERRORS), self._store_together)
        )

    async def authenticate(self, key: str) -> Caller | None:
        """The key's caller; known keys are remembered for a short while (a revoked key stops
        working within KEY_CACHE_S), sparing a database round trip per request."""
        cached = self._callers.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        async with self._pool.acquire() as connection:
            caller = await IntakeRepository(connection).caller(key)
        if caller is not None:
            if len(self._callers) > KEY_CACHE_SIZE:
                self._callers.clear()
            self._callers[key] = (caller, time.monotonic() + KEY_CACHE_S)
        return caller

    async def create_key(self, kind: str, name: str) -> str:
        key = new_api_key()
        async with self._pool.acquire() as connection:
            await IntakeRepository(connection).add_key(key, kind, name)
        return key

    async def keys(self) -> list[ApiKey]:
        async with self._pool.acquire() as connection:
            return await IntakeRepository(connection).keys()

    async def revoke_key(self, key_id: int) -> bool:
        """Every intake process refuses the key within KEY_CACHE_S."""
        async with self._pool.acquire() as connection:
            return await IntakeRepository(connection).revoke_key(key_id)

    async def submit(
        self,
        inbound: Inbound,
        caller: Caller,
        idempotency_key: str | None = None,
        received_at: datetime | None = None,
    ) -> Accepted:
        """Raises IdempotencyKeyReusedError for a known key with a different message."""
        key = IdempotencyKey(idempotency_key, inbound.fingerprint()) if idempotency_key else None
        # Reads happen outside any transaction: every write is guarded by a unique key, so of
        # two identical requests racing, the loser's write fails whole, and on the retry it
        # finds the winner's complaint. A message that cannot be a reply is written at once,
        # without looking for an earlier copy first: a retry or a replay fails on those keys
        # and finds the original on the next attempt (two or three round trips fewer for
        # nearly every message).
        may_be_reply = self._may_be_reply(inbound)
        violated = None
        for attempt in range(5):
            try:
                if attempt > 0 or may_be_reply:
                    answered = await self._as_before_or_reply(inbound, caller, key)
                    if answered is not None:
                        return answered
                return await self._add_complaint(inbound, caller, key, received_at)
            except asyncpg.UniqueViolationError as error:
                violated = error.constraint_name
        raise RuntimeError(f"could not store the complaint after 5 attempts ({violated})")

    async def _as_before_or_reply(
        self, inbound: Inbound, caller: Caller, key: IdempotencyKey | None
    ) -> Accepted | None:
        """The first answer to a retried or replayed message, or the message added to the
        complaint it answers; None for a new complaint."""
        async with self._pool.acquire() as connection:
            repository = IntakeRepository(connection)
            known = await _already_accepted(repository, inbound, caller, key)
            if known is not None:
                REPLAYED.labels(inbound.channel.value).inc()
                if known.reply:
                    return known
                stored = await repository.by_tracking_number(known.tracking_number)
                if stored is not None and _has_access_token(stored.document):
                    # The first answer may never have reached the reporter: this one has it too.
                    return replace(known, access_token=self._access_token(stored.document))
                return known
            replied_to = await self._complaint_replied_to(repository, inbound, caller)
            if replied_to is None:
                return None
            async with connection.transaction():
                return await self._add_reply(
                    repository, connection, inbound, replied_to, caller=caller, idempotency_key=key
                )

    @staticmethod
    def _may_be_reply(inbound: Inbound) -> bool:
        """Whether `_complaint_replied_to` might find a complaint (it reads nothing otherwise)."""
        if inbound.channel.value not in REPLY_CHANNELS:
            return False
        content = inbound.content
        text = f"{content.title}\n{content.body}"
        return bool(inbound.in_reply_to or quoted_tracking_numbers(text))

    async def _complaint_replied_to(
        self, repository: IntakeRepository, inbound: Inbound, caller: Caller
    ) -> StoredComplaint | None:
        """The complaint a message answers: same thread, or a quoted tracking number from the
        same reporter (a stranger quoting someone's number files a new complaint instead)."""
        if inbound.channel.value not in REPLY_CHANNELS:
            return None
        if inbound.in_reply_to:
            thread = await repository.by_channel_message(
                inbound.channel, inbound.in_reply_to, caller.label
            )
            # A thread is the reporter's only when they write in it: an In-Reply-To naming
            # someone else's message is a new complaint.
            if thread is not None and _same_reporter(inbound.content, thread.document):
                return thread
        content = inbound.content
        for tracking in quoted_tracking_numbers(f"{content.title}\n{content.body}"):
            quoted = await repository.by_tracking_number(tracking)
            if quoted is not None and _same_reporter(content, quoted.document):
                return quoted
        return None

    async def _add_reply(
        self,
        repository: IntakeRepository,
        connection: Connection,
        inbound: Inbound,
        complaint: StoredComplaint,
        *,
        caller: Caller,
        idempotency_key: IdempotencyKey | None,
    ) -> Accepted:
        reply = _reporter_event(
            complaint,
            ReporterChange(
                ComplaintStatus.REPORTER_REPLIED, _reply_note(inbound, complaint.document)
            ),
            inbound.channel.value,
        )
        if inbound.content.channel_message_id:
            await repository.add_reply(
                inbound.channel,
                inbound.content.channel_message_id,
                complaint.complaint_id,
                reply.event_id,
            )
        if idempotency_key:
            await repository.remember_idempotency_key(
                caller, idempotency_key, complaint.tracking_number
            )
        await enqueue(connection, SCHEMA, reply, self._topic)
        REPLIES.labels(inbound.channel.value).inc()
        return Accepted(complaint.tracking_number, created=True, reply=True)

    async def _add_complaint(
        self,
        inbound: Inbound,
        caller: Caller,
        idempotency_key: IdempotencyKey | None,
        received_at: datetime | None,
    ) -> Accepted:
        now = datetime.now(UTC)
        content = inbound.content
        complaint = Complaint(
            **content.model_dump(),
            complaint_id=uuid.uuid4(),
            tracking_number=new_tracking_number(now.date()),
            channel=inbound.channel,
            received_at=received_at or now,
            personal_data_in_text=personal_data_in(content.title, content.body),
        )
        # The reporter's key to their complaint: to see a confidential one, and to answer,
        # reopen or rate it from the web page.
        access_token = self._access_token(complaint) if _has_access_token(complaint) else None
        await self._accepting.submit(
            NewComplaint(
                ComplaintReceived.of(complaint, producer=PRODUCER),
                access_token_hash=hash_api_key(access_token) if access_token else None,
                submitted_by=caller,
                idempotency_key=idempotency_key,
            )
        )
        ACCEPTED.labels(inbound.channel.value).inc()
        return Accepted(complaint.tracking_number, created=True, access_token=access_token)

    async def _store_together(self, accepted: list[NewComplaint]) -> None:
        async with self._pool.acquire() as connection:
            await IntakeRepository(connection).add_received(accepted, self._topic)

    def _access_token(self, complaint: Complaint) -> str:
        """A complaint's access token: the same every time it is asked for."""
        digest = hmac.new(self._access_token_key, complaint.complaint_id.bytes, "sha256").digest()
        return base64.urlsafe_b64encode(digest[:24]).decode()

    async def import_rows(self, rows: list[ImportRow], caller: Caller) -> ImportReport:
        """Each row in its own transaction: one bad row never undoes the good ones."""
        accepted: list[tuple[int, Accepted]] = []
        already: list[tuple[int, Accepted]] = []
        now = datetime.now(UTC)
        for row in rows:
            inbound = Inbound(row.complaint.channel, row.complaint.content)
            result = await self.submit(inbound, caller, received_at=imported_at(row.complaint, now))
            (accepted if result.created else already).append((row.line, result))
        return ImportReport(accepted, already)

    async def public_status(
        self, tracking_number: str, access_token: str | None
    ) -> PublicStatus | None:
        """What a citizen may see; None (not found) for a confidential complaint without its
        access token, so its existence is not disclosed either."""
        async with self._pool.acquire() as connection:
            repository = IntakeRepository(connection)
            stored = await repository.by_tracking_number(tracking_number)
            if stored is None:
                return None
            by_reporter = _token_fits(stored, access_token)
            if stored.document.confidential and not by_reporter:
                return None
            return PublicStatus(
                complaint=stored.document,
                status=stored.status,
                agency_code=stored.agency_code,
                timeline=[
                    TimelineEntry(
                        stored.document.received_at, ComplaintStatus.RECEIVED.value, RECEIVED_NOTE
                    ),
                    *await repository.timeline(stored.complaint_id),
                ],
                by_reporter=by_reporter,
            )

    async def reporter_acts(
        self,
        tracking_number: str,
        access_token: str,
        action: ReporterAction,
        text: str | None = None,
        rating: int | None = None,
    ) -> bool:
        """The reporter's reply, reopening or rating, as a ComplaintStatusChanged in the outbox;
        False when the token is not the complaint's (raises NotAllowedError when the complaint's
        state does not allow it)."""
        async with self._pool.acquire() as connection:
            repository = IntakeRepository(connection)
            stored = await repository.by_tracking_number(tracking_number)
            if stored is None or not _token_fits(stored, access_token):
                return False
            entries = await repository.timeline(stored.complaint_id)
            history = history_of(stored.status, [(e.occurred_at, e.status) for e in entries])
            change = reporter_change(action, history, datetime.now(UTC), text, rating)
            await enqueue(connection, SCHEMA, _reporter_event(stored, change, "web"), self._topic)
        agency = stored.agency_code or "-"
        if change.status is ComplaintStatus.REOPENED:
            REOPENED.labels(agency).inc()
        elif change.rating is not None:
            RATINGS.labels(agency).observe(change.rating)
        else:
            REPLIES.labels(Channel.WEB.value).inc()
        return True

    async def keep_attachments(
        self, attachments: Sequence[CleanAttachment], *, confidential: bool
    ) -> None:
        """Stored before the complaint that names them (content-addressed: a retry is free);
        a confidential complaint's are private."""
        if attachments:
            async with self._pool.acquire() as connection:
                await IntakeRepository(connection).add_attachments(
                    attachments, private=confidential
                )

    async def attachment(self, sha256: str) -> StoredAttachment | None:
        async with self._pool.acquire() as connection:
            return await IntakeRepository(connection).attachment(sha256)

    async def deadlines(self, complaint_id: uuid.UUID) -> tuple[date, date] | None:
        """The current assignment's disposition and follow-up due dates."""
        async with self._pool.acquire() as connection:
            return await IntakeRepository(connection).deadlines(complaint_id)

    async def handle(self, event: AnyEvent) -> None:
        """Build the public timeline from the complaint's later events. Complaints that entered
        elsewhere (national LAPOR disposing one to the province, through sync) are kept too, so
        their reporters can follow them here."""
        if not isinstance(event, ComplaintReceived):
            await self.apply_together((event,))
        elif event.producer != PRODUCER:
            # Intake's own were stored when accepted: nothing to do for most events.
            async with self._pool.acquire() as connection:
                await IntakeRepository(connection).add(event.complaint, None, event.producer)

    async def apply_together(self, events: Sequence[AnyEvent]) -> set[uuid.UUID]:
        """The consumer's handler of leading events (each of a different complaint): operators
        see every later event (the console), citizens the public timeline; all recorded in one
        statement. Returns the ids taken: all but complaints received elsewhere, left to
        `handle` (intake's own need nothing)."""
        later = [event for event in events if not isinstance(event, ComplaintReceived)]
        if later:
            async with self._pool.acquire() as connection:
                await IntakeRepository(connection).record_later_events(
                    [(event, public_entry(event)) for event in later]
                )
        return {
            event.event_id
            for event in events
            if not isinstance(event, ComplaintReceived) or event.producer == PRODUCER
        }


def _has_access_token(complaint: Complaint) -> bool:
    """A confidential complaint's reporter needs it to see the complaint; a web reporter to
    answer, reopen or rate it on /lacak."""
    return complaint.confidential or complaint.channel is Channel.WEB


def _token_fits(stored: StoredComplaint, access_token: str | None) -> bool:
    return bool(access_token and stored.access_token_hash) and secrets.compare_digest(
        hash_api_key(access_token or ""), stored.access_token_hash or ""
    )


def _reporter_event(
    complaint: StoredComplaint, change: ReporterChange, channel: str
) -> ComplaintStatusChanged:
    return ComplaintStatusChanged(
        complaint_id=complaint.complaint_id,
        correlation_id=complaint.complaint_id,
        producer=PRODUCER,
        tracking_number=complaint.tracking_number,
        status=change.status,
        previous_status=ComplaintStatus(complaint.status),
        actor=Actor(kind=ActorKind.REPORTER, id=channel),
        agency_code=complaint.agency_code,
        note=change.note,
        rating=change.rating,
    )


async def _already_accepted(
    repository: IntakeRepository,
    inbound: Inbound,
    caller: Caller,
    idempotency_key: IdempotencyKey | None,
) -> Accepted | None:
    """The answer given the first time, for a retry or a gateway's replay."""
    if idempotency_key:
        remembered = await repository.idempotency_key(caller, idempotency_key.key)
        if remembered:
            ensure_same_request(idempotency_key, remembered.fingerprint)
            return Accepted(remembered.tracking_number, created=False)
    message_id = inbound.content.channel_message_id
    if message_id:
        existing = await repository.by_channel_message(inbound.channel, message_id, caller.label)
        if existing:
            if not _same_message(existing.document, inbound.content):
                raise MessageIdReusedError(message_id)
            return Accepted(existing.tracking_number, created=False)
        if inbound.channel.value in REPLY_CHANNELS:
            replied = await repository.reply_already_added(inbound.channel, message_id)
            if replied:
                return Accepted(replied, created=False, reply=True)
    return None


PLACE_REQUESTED_NOTE = (
    "Pelapor diminta menyebutkan kabupaten/kota dan kecamatan lokasi masalah agar pengaduan"
    " dapat diteruskan ke pemerintah daerah yang berwenang"
)


_AUTHORITY_REASON = "aturan kewenangan: "


def routed_note(event: ComplaintRouted) -> str:
    """Which agency and why, in one line a citizen reads: the agency's name, the matter, and the
    rule of authority when one decided it (not the router's scores or model version)."""
    if event.agency_code == TRIAGE_AGENCY:
        return "Diteruskan ke admin LAPOR Kalsel, yang menentukan instansi yang berwenang"
    name = agency_names().get(event.agency_code, event.agency_code)
    if event.agency_code == CENTRAL_AGENCY:
        name = "instansi pusat melalui SP4N-LAPOR! nasional"
    why = [f"urusan {event.category.lower()}"] if event.category else []
    why += [
        reason.removeprefix(_AUTHORITY_REASON)
        for reason in event.reasons
        if reason.startswith(_AUTHORITY_REASON)
    ][:1]
    if event.region_code and event.agency_code == event.region_code:
        why.append(f"wilayah {region_names().get(event.region_code, event.region_code)}")
    return f"Diteruskan ke {name}" + (f" ({'; '.join(why)})" if why else "")


def public_entry(event: AnyEvent) -> PublicEntry | None:
    """What a citizen's timeline shows of a later event; None for the internal ones."""
    if isinstance(event, ComplaintRouted):
        return PublicEntry(
            ComplaintStatus.ROUTED.value, routed_note(event), event.agency_code, True
        )
    if isinstance(event, ComplaintStatusChanged):
        return _public_status_entry(event)
    if isinstance(event, ComplaintMirrored):
        return PublicEntry("mirrored", "Tercatat di SP4N-LAPOR! nasional", None, False)
    if isinstance(event, ComplaintPlaceRequested):
        return PublicEntry("place_requested", PLACE_REQUESTED_NOTE, None, False)
    return None


def _public_status_entry(event: ComplaintStatusChanged) -> PublicEntry:
    # A reporter's own words may name them: the public timeline only says what they did.
    if event.status in REPORTER_NOTES:
        return PublicEntry(
            event.status.value, REPORTER_NOTES[event.status], event.agency_code, True
        )
    if event.status is ComplaintStatus.RATED:  # the complaint stays resolved
        note = f"Pelapor memberi penilaian {event.rating}/5"
        return PublicEntry(event.status.value, note, event.agency_code, False)
    return PublicEntry(event.status.value, event.note, event.agency_code, True)


def _reply_note(inbound: Inbound, complaint: Complaint) -> str:
    """A reporter's reply as it travels to the agency and national: an anonymous reporter's name
    masked at the source (no later reader has it to mask); NIKs, phone numbers and e-mail
    addresses are masked by every reader."""
    if not complaint.anonymous:
        return inbound.content.body
    return masked(
        inbound.content.body, names=(complaint.reporter.name, inbound.content.reporter.name)
    )


def _same_message(stored: Complaint, content: ComplaintContent) -> bool:
    """Whether a message carrying a stored complaint's message id is that complaint again."""
    fields = set(ComplaintContent.model_fields)
    same: bool = stored.model_dump(mode="json", include=fields) == content.model_dump(
        mode="json", include=fields
    )
    return same


def _same_reporter(content: ComplaintContent, complaint: Complaint) -> bool:
    """Whether a message comes from the complaint's reporter: the same phone or e-mail."""
    original, sender = complaint.reporter, content.reporter
    same_phone = bool(sender.phone) and sender.phone == original.phone
    same_email = bool(sender.email) and sender.email == original.email
    return same_phone or same_email
