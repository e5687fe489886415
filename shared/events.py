"""Event contracts: every event lapor-hub carries on Kafka, versioned.

Each event is one pydantic model carrying the common envelope fields (event id, type, schema
version, occurrence time, complaint id, correlation and causation ids, producer). A consumer
parses bytes with `parse_event`, which rejects unknown types and bad fields with field-level
errors instead of guessing. The Kafka key is always the complaint id.

How events evolve (services are upgraded one at a time, so for a while an older consumer reads
what a newer producer wrote, from Kafka or from its own stored copy):

- Readers are tolerant. `parse_event` and `read_stored` ignore fields they do not know, at any
  depth, so a producer may add an optional field without waiting for every consumer. Writers are
  strict: a model built in code, and intake's HTTP input (a citizen's unknown field is a 422),
  forbid unknown fields.
- `schema_version` is the major version; `schema_minor` counts additive changes within it (a new
  optional field: raise the model's `schema_minor` default). A newer minor is read as the major
  the reader knows.
- A change an older reader would misread (a field removed, renamed, retyped, a new meaning) is a
  new major `schema_version`. A reader meeting a newer major than its own raises
  `NewerSchemaError`: its consumer holds the partition (nothing committed, fetched again) until
  it is upgraded, rather than setting the event aside as a dead letter. Producers therefore move
  to a new major only once every consumer reads it.
- A new value of an enum (a status) is not additive for an older reader: a new major, or the
  readers upgraded first.

The JSON Schemas in `shared/schemas/` are exported from these models (`make schemas`).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REGION_CODE_PATTERN = r"^63(\d{2})?$"
DISTRICT_CODE_PATTERN = r"^63\d{2}\d{3}$"


class Contract(BaseModel):
    """Base of every contract: immutable, strict about unknown fields when written (readers of
    events and stored copies tolerate them: see `parse_event`, `read_stored`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """PostgreSQL stores no U+0000 and UTF-8 no lone surrogate: such text is refused here,
        at the edge, as the field's own error, instead of failing the statement that stores it
        (and every complaint written with it)."""
        texts = (value,) if isinstance(value, str) else value if isinstance(value, tuple) else ()
        for text in texts:
            if isinstance(text, str) and _UNSTORABLE.search(text):
                raise PydanticCustomError(
                    "unstorable_character",
                    "contains a character that cannot be stored (U+0000 or a lone surrogate)",
                )
        return value


class Channel(StrEnum):
    """Where a complaint came in."""

    WEB = "web"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    EMAIL = "email"
    SOCIAL_MEDIA = "social_media"
    WALK_IN = "walk_in"
    PAPER = "paper"
    OPEN311 = "open311"
    LAPOR_NATIONAL = "lapor_national"


class ReportType(StrEnum):
    """SP4N-LAPOR!'s three report types."""

    PENGADUAN = "pengaduan"
    ASPIRASI = "aspirasi"
    PERMINTAAN_INFORMASI = "permintaan_informasi"


class Coordinates(Contract):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class Location(Contract):
    text: str | None = Field(default=None, max_length=500, description="As the reporter wrote it")
    region_code: str | None = Field(
        default=None, pattern=REGION_CODE_PATTERN, description="Kemendagri code: 63 or 63xx"
    )
    district_code: str | None = Field(
        default=None, pattern=DISTRICT_CODE_PATTERN, description="Kecamatan code: 63xxyyy"
    )
    coordinates: Coordinates | None = None


class Reporter(Contract):
    """Who complained. Never shown to an agency when the complaint is anonymous."""

    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32, pattern=r"^\+?[0-9 ()-]{6,32}$")
    email: EmailStr | None = None


class Attachment(Contract):
    """Attachments travel as metadata and a URL, never as bytes on Kafka."""

    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=3, max_length=127)
    size_bytes: int = Field(ge=0, le=50 * 1024 * 1024)
    url: HttpUrl


class PersonalData(StrEnum):
    """Kinds of personal data found in a complaint's free text, to be masked for agencies."""

    NIK = "nik"
    PHONE = "phone"
    EMAIL = "email"


class ComplaintContent(Contract):
    """What a reporter (or a channel on their behalf) submits."""

    report_type: ReportType = ReportType.PENGADUAN
    title: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=20_000)
    incident_date: date | None = None
    location: Location = Field(default_factory=Location)
    category: str | None = Field(default=None, max_length=100, description="LAPOR category")
    reporter: Reporter = Field(default_factory=Reporter)
    anonymous: bool = False
    confidential: bool = False
    attachments: tuple[Attachment, ...] = Field(default=(), max_length=20)
    channel_message_id: str | None = Field(
        default=None, max_length=200, description="The channel's own id, for deduplication"
    )

    @field_validator("channel_message_id")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        """An empty id is no id: stored as "", it made every later message without one a
        duplicate that no lookup found (intake answered 500)."""
        return value if value and value.strip() else None


class Complaint(ComplaintContent):
    """A citizen's complaint as intake accepted it."""

    complaint_id: uuid.UUID
    tracking_number: str = Field(min_length=6, max_length=32)
    channel: Channel
    received_at: AwareDatetime
    personal_data_in_text: tuple[PersonalData, ...] = Field(
        default=(), description="Found in title/body: mask before showing to an agency"
    )

    @field_validator("received_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class AuthorityLevel(StrEnum):
    """Who has authority over a matter, per UU 23/2014."""

    PROVINSI = "provinsi"
    KABKOTA = "kabkota"
    PUSAT = "pusat"


class ComplaintStatus(StrEnum):
    RECEIVED = "received"
    ROUTED = "routed"
    ACKNOWLEDGED = "acknowledged"
    FOLLOWED_UP = "followed_up"
    REJECTED = "rejected"
    REPORTER_REPLIED = "reporter_replied"
    RESOLVED = "resolved"
    # The reporter says a resolved complaint is not solved ("masalah belum selesai"): the agency
    # works on it again.
    REOPENED = "reopened"
    # The reporter rates how a resolved complaint was handled (`rating`); the status stays.
    RATED = "rated"
    ARCHIVED = "archived"


class ActorKind(StrEnum):
    AGENCY = "agency"
    OPERATOR = "operator"
    REPORTER = "reporter"
    NATIONAL = "national"
    SYSTEM = "system"


class Actor(Contract):
    kind: ActorKind
    id: str | None = Field(default=None, max_length=100, description="Agency code, key name...")


class NotificationChannel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    SMS = "sms"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class NewerSchemaError(Exception):
    """An event of a newer major schema version than this code reads: not poison, the reader is
    the one to be upgraded. (Not a ValueError, so pydantic lets it through.)"""

    def __init__(self, event_type: str, version: object, known: int) -> None:
        super().__init__(
            f"{event_type} schema_version {version!r} is newer than {known}, the one this"
            " service reads: upgrade it"
        )
        self.event_type = event_type


class Event(Contract):
    """The envelope every event shares."""

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    event_type: str
    schema_version: int = Field(description="The major version: a change old readers misread")
    schema_minor: int = Field(default=0, ge=0, description="Additive changes within the major")
    occurred_at: AwareDatetime = Field(default_factory=_utc_now)
    complaint_id: uuid.UUID
    correlation_id: uuid.UUID = Field(description="Id of the first event of this complaint's flow")
    causation_id: uuid.UUID | None = Field(default=None, description="Event that led to this one")
    producer: str = Field(min_length=1, max_length=64, description="Service that produced it")

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="before")
    @classmethod
    def _not_from_a_newer_major(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = cls.model_fields["schema_version"].default
            version = data.get("schema_version")
            if isinstance(known, int) and isinstance(version, int) and version > known:
                raise NewerSchemaError(str(data.get("event_type")), version, known)
        return data

    @property
    def key(self) -> bytes:
        """Kafka key: the complaint id keeps one complaint's events in one partition, in order."""
        return str(self.complaint_id).encode()

    def caused(self, **fields: Any) -> dict[str, Any]:
        """Envelope fields for an event that this one caused, in the same flow."""
        return caused_by(self.complaint_id, self.correlation_id, self.event_id, **fields)


def caused_by(
    complaint_id: uuid.UUID,
    correlation_id: uuid.UUID,
    cause_event_id: uuid.UUID | None,
    **fields: Any,
) -> dict[str, Any]:
    """`Event.caused` for a cause known only by the ids a service stored of it (an assignment's
    routing, a queued delivery's cause)."""
    return {
        "complaint_id": complaint_id,
        "correlation_id": correlation_id,
        "causation_id": cause_event_id,
        **fields,
    }


class ComplaintReceived(Event):
    """Intake accepted and stored a complaint."""

    event_type: Literal["ComplaintReceived"] = "ComplaintReceived"
    schema_version: Literal[1] = 1
    complaint: Complaint

    @classmethod
    def of(cls, complaint: Complaint, producer: str) -> Self:
        """The first event of a complaint's flow: its correlation id is its own event id."""
        event_id = uuid.uuid4()
        return cls(
            event_id=event_id,
            complaint_id=complaint.complaint_id,
            correlation_id=event_id,
            producer=producer,
            complaint=complaint,
        )


class ComplaintRouted(Event):
    """The router assigned a complaint to an agency (or to triage)."""

    event_type: Literal["ComplaintRouted"] = "ComplaintRouted"
    schema_version: Literal[1] = 1
    tracking_number: str
    agency_code: str = Field(min_length=2, max_length=32)
    previous_agency_code: str | None = Field(default=None, description="Set on a re-route")
    level: AuthorityLevel
    region_code: str | None = Field(default=None, pattern=REGION_CODE_PATTERN)
    category: str | None = Field(default=None, max_length=100)
    confidence: float = Field(ge=0, le=1)
    reasons: tuple[str, ...] = ()
    routing_table_version: str
    model_version: str | None = Field(
        default=None, max_length=80, description="The topic model beside the table, if any"
    )
    routing_round: int = Field(default=1, ge=1, description="1 for the first assignment")
    decided_by: Actor = Field(default_factory=lambda: Actor(kind=ActorKind.SYSTEM, id="router"))
    disposition_due: date
    followup_due: date
    possible_duplicate_of: str | None = Field(default=None, description="A tracking number")


class ComplaintStatusChanged(Event):
    """Something happened to a complaint after routing: an agency, operator, reporter or
    national LAPOR acted on it."""

    event_type: Literal["ComplaintStatusChanged"] = "ComplaintStatusChanged"
    schema_version: Literal[1] = 1
    tracking_number: str
    status: ComplaintStatus
    previous_status: ComplaintStatus | None = None
    actor: Actor
    source: Literal["local", "national"] = "local"
    agency_code: str | None = None
    note: str | None = Field(default=None, max_length=20_000)
    suggested_agency_code: str | None = Field(default=None, description="With a rejection")
    rating: int | None = Field(default=None, ge=1, le=5, description="With `rated`: 1 to 5")
    # Minor 1: `rating`. Its statuses `reopened` and `rated` are new enum values: every reader
    # in the repository was upgraded with them (see the module's docstring).
    schema_minor: int = Field(default=1, ge=0, description="Additive changes within the major")


class ComplaintPlaceRequested(Event):
    """The router asked the reporter where: the complaint is a kab/kota matter and names no
    kab/kota. It is routed on their reply (a `reporter_replied` status change) or, with none by
    `answer_due`, sent to triage. The notifier words the question in the reporter's channel."""

    event_type: Literal["ComplaintPlaceRequested"] = "ComplaintPlaceRequested"
    schema_version: Literal[1] = 1
    tracking_number: str
    category: str | None = Field(default=None, max_length=100)
    topic: str | None = Field(default=None, max_length=200, description="What it is about")
    answer_due: AwareDatetime


class RoutingOverrideRequested(Event):
    """An operator routed a complaint by hand (usually out of triage); the router applies it."""

    event_type: Literal["RoutingOverrideRequested"] = "RoutingOverrideRequested"
    schema_version: Literal[1] = 1
    tracking_number: str
    agency_code: str = Field(min_length=2, max_length=32)
    operator: Actor
    reason: str | None = Field(default=None, max_length=2000)


class AgencyNotified(Event):
    """The notifier delivered an alert about a complaint to an agency."""

    event_type: Literal["AgencyNotified"] = "AgencyNotified"
    schema_version: Literal[1] = 1
    tracking_number: str
    agency_code: str
    channel: NotificationChannel
    delivery_id: uuid.UUID = Field(description="Stable across retries, so receivers can dedupe")
    attempts: int = Field(ge=1)


class ComplaintMirrored(Event):
    """The sync service mirrored a complaint (or one of its changes) to national SP4N-LAPOR!."""

    event_type: Literal["ComplaintMirrored"] = "ComplaintMirrored"
    schema_version: Literal[1] = 1
    tracking_number: str
    national_complaint_id: str
    mirrored_event_id: uuid.UUID = Field(description="The local event that was mirrored")


AnyEvent = Annotated[
    ComplaintReceived
    | ComplaintRouted
    | ComplaintStatusChanged
    | ComplaintPlaceRequested
    | RoutingOverrideRequested
    | AgencyNotified
    | ComplaintMirrored,
    Field(discriminator="event_type"),
]
EVENT_TYPES: tuple[type[Event], ...] = (
    ComplaintReceived,
    ComplaintRouted,
    ComplaintStatusChanged,
    ComplaintPlaceRequested,
    RoutingOverrideRequested,
    AgencyNotified,
    ComplaintMirrored,
)
_any_event: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def parse_event(data: bytes | str | dict[str, Any]) -> AnyEvent:
    """Parse any event as a tolerant reader (unknown fields ignored, at any depth); raises
    `pydantic.ValidationError` naming each bad field, `NewerSchemaError` for a newer major."""
    if isinstance(data, dict):
        return _any_event.validate_python(data, extra="ignore")
    return _any_event.validate_json(data, extra="ignore")


C = TypeVar("C", bound=Contract)


def read_stored(model: type[C], document: bytes | str) -> C:
    """A contract a service stored (a complaint's document), read as tolerantly as an event:
    it may have been written by a newer version of the service or of the event it came in."""
    return model.model_validate_json(document, extra="ignore")


def encode_event(event: Event) -> bytes:
    return event.model_dump_json().encode()


def event_headers(event: Event) -> list[tuple[str, bytes]]:
    """Kafka headers, so a consumer can route or skip without parsing the body."""
    return [
        ("event_type", event.event_type.encode()),
        ("producer", event.producer.encode()),
        ("schema_version", str(event.schema_version).encode()),
        ("content-type", b"application/json"),
    ]
