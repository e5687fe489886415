"""The agency directory: whom to tell, for each agency code, and how.

Validated as a whole, so a start-up with a broken directory fails once with every problem listed
rather than at the first assignment to a misspelt agency.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, EmailStr, Field, HttpUrl, ValidationError

from shared.agencies import CENTRAL_AGENCY

# Handed back to national LAPOR by the sync service; nobody here to tell.
NO_CONTACTS_NEEDED = frozenset({CENTRAL_AGENCY})


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Webhook(_Strict):
    """An endpoint the hub POSTs signed JSON to. `public` means people other than the agency's
    officers read what arrives (a group chat, a public channel): no confidential text goes there."""

    url: HttpUrl
    secret: str = Field(min_length=16, repr=False)
    public: bool = False


class AgencyContacts(_Strict):
    code: str = Field(min_length=2, max_length=32)
    name: str = Field(min_length=2, max_length=200)
    emails: tuple[EmailStr, ...] = Field(min_length=1, description="Pejabat penghubung")
    webhook: Webhook | None = None
    sms_gateway: Webhook | None = Field(default=None, description="SMS/WhatsApp gateway")
    escalation_email: EmailStr = Field(description="Head of the agency's complaint handling")


class DirectoryError(ValueError):
    """Every problem found in a directory, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("agency directory is invalid:\n  " + "\n  ".join(problems))


def validate_directory(
    entries: list[dict[str, Any]], known_agencies: Mapping[str, str]
) -> dict[str, AgencyContacts]:
    """Contacts by agency code; every known agency needs an entry (except those handed back to
    national LAPOR), and no entry may name an unknown agency or repeat one."""
    problems: list[str] = []
    contacts: dict[str, AgencyContacts] = {}
    for position, entry in enumerate(entries, start=1):
        label = f"entry {position} ({entry.get('code', 'no code')})"
        try:
            agency = AgencyContacts.model_validate(entry)
        except ValidationError as error:
            for detail in error.errors():
                where = ".".join(str(part) for part in detail["loc"])
                problems.append(f"{label}: {where}: {detail['msg']}")
            continue
        if agency.code not in known_agencies:
            problems.append(f"{label}: unknown agency code (not in agencies.csv)")
        elif agency.code in contacts:
            problems.append(f"{label}: a second entry for the same agency")
        else:
            contacts[agency.code] = agency
    named = {str(entry.get("code")) for entry in entries}
    missing = sorted(set(known_agencies) - named - NO_CONTACTS_NEEDED)
    if missing:
        problems.append(f"no contacts for: {', '.join(missing)}")
    if problems:
        raise DirectoryError(problems)
    return contacts


# What an audit record and a notice may show of contacts: never a webhook's secret.
WITHOUT_SECRETS: dict[str, Any] = {"webhook": {"secret"}, "sms_gateway": {"secret"}}


def _endpoint(hook: Webhook | None) -> str:
    """Where a webhook posts, as far as a notice says (scheme, host and port: a path or query
    may carry a token of the receiver's)."""
    if hook is None:
        return "tidak ada"
    parts = urlsplit(str(hook.url))
    return f"{parts.scheme}://{parts.netloc}"


def contact_changes(previous: AgencyContacts, current: AgencyContacts) -> list[str]:
    """What changed between two versions of an agency's contacts, in words for the agency (no
    secret shown; a changed secret is said to have changed)."""
    changes = []
    if previous.name != current.name:
        changes.append(f"Nama instansi: {previous.name} -> {current.name}")
    if previous.emails != current.emails:
        changes.append(
            f"E-mail pejabat penghubung: {', '.join(previous.emails)}"
            f" -> {', '.join(current.emails)}"
        )
    if previous.escalation_email != current.escalation_email:
        changes.append(
            f"E-mail eskalasi: {previous.escalation_email} -> {current.escalation_email}"
        )
    for label, before, after in (
        ("Webhook", previous.webhook, current.webhook),
        ("Gateway SMS/WhatsApp", previous.sms_gateway, current.sms_gateway),
    ):
        if before is None or after is None or before.url != after.url:
            if before != after:
                changes.append(f"{label}: {_endpoint(before)} -> {_endpoint(after)}")
            continue
        if before.secret != after.secret:
            changes.append(f"{label}: kunci rahasia (secret) diganti")
        if before.public != after.public:
            changes.append(f"{label}: kanal publik {'ya' if after.public else 'tidak'}")
    return changes
