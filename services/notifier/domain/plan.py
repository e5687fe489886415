"""Which notifications an assignment causes: one per channel the agency has, plus a notice to
the previous agency of a re-routed complaint. Each gets a stable key, hence a stable delivery
id: planning the same assignment twice yields the same deliveries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.notifier.domain.deadlines import DeadlineAlert
from services.notifier.domain.directory import AgencyContacts
from services.notifier.domain.messages import (
    Assignment,
    ContactsChanged,
    Deadline,
    Email,
    ReporterReply,
    Rerouted,
    assignment_email,
    assignment_sms,
    assignment_webhook,
    contacts_changed_email,
    escalation_email,
    reminder_email,
    reply_email,
    reply_webhook,
    rerouted_email,
    rerouted_webhook,
)
from services.notifier.domain.privacy import AgencyView
from shared.events import NotificationChannel

_DELIVERY_NAMESPACE = uuid.UUID("6f1c2a52-8a43-4c1e-9a52-0b7f5d0e6a11")


@dataclass(frozen=True)
class PlannedDelivery:
    notification_key: str
    agency_code: str
    kind: str
    channel: NotificationChannel
    target: str
    payload: dict[str, Any]

    @property
    def delivery_id(self) -> uuid.UUID:
        return uuid.uuid5(_DELIVERY_NAMESPACE, self.notification_key)


@dataclass(frozen=True)
class RoutedComplaint:
    """What the router decided, as the planner needs it."""

    cause_event_id: uuid.UUID
    agency_code: str
    previous_agency_code: str | None
    routing_round: int
    disposition_due: date
    followup_due: date


def email_delivery(
    key: str, agency: str, kind: str, to: tuple[str, ...], email: Email
) -> PlannedDelivery:
    """An email to `to`, its key `{key}:email`."""
    return PlannedDelivery(
        notification_key=f"{key}:email",
        agency_code=agency,
        kind=kind,
        channel=NotificationChannel.EMAIL,
        target=", ".join(to),
        payload={"to": list(to), "subject": email.subject, "text": email.text, "html": email.html},
    )


def post_delivery(
    key: str,
    agency: str,
    kind: str,
    *,
    channel: NotificationChannel,
    url: str,
    body: dict[str, Any],
) -> PlannedDelivery:
    """A POST of `body` to `url` (a webhook, an SMS gateway), its key `{key}:{channel}`."""
    return PlannedDelivery(
        notification_key=f"{key}:{channel}",
        agency_code=agency,
        kind=kind,
        channel=channel,
        target=url,
        payload={"url": url, "body": body},
    )


def plan_assignment(
    routed: RoutedComplaint,
    view: AgencyView,
    contacts: AgencyContacts | None,
    previous_contacts: AgencyContacts | None,
    *,
    inbox_url: str,
    inbox_root: str,
) -> list[PlannedDelivery]:
    """`inbox_url` shows the complaint to its agency; the previous agency, which no longer sees
    it, gets `inbox_root`."""
    planned: list[PlannedDelivery] = []
    if contacts is not None:
        notice = Assignment(
            view=view,
            agency_code=contacts.code,
            agency_name=contacts.name,
            disposition_due=routed.disposition_due,
            followup_due=routed.followup_due,
            inbox_url=inbox_url,
            routing_round=routed.routing_round,
            previous_agency_code=routed.previous_agency_code,
        )
        key = f"{routed.cause_event_id}:assigned:{contacts.code}"
        planned.append(
            email_delivery(
                key, contacts.code, "assigned", contacts.emails, assignment_email(notice)
            )
        )
        if contacts.webhook is not None:
            body = assignment_webhook(notice, public_channel=contacts.webhook.public)
            url = str(contacts.webhook.url)
            planned.append(
                post_delivery(
                    key,
                    contacts.code,
                    "assigned",
                    channel=NotificationChannel.WEBHOOK,
                    url=url,
                    body=body,
                )
            )
        if contacts.sms_gateway is not None:
            text = {"type": "complaint.assigned", "text": assignment_sms(notice)}
            url = str(contacts.sms_gateway.url)
            planned.append(
                post_delivery(
                    key,
                    contacts.code,
                    "assigned",
                    channel=NotificationChannel.SMS,
                    url=url,
                    body=text,
                )
            )
    if previous_contacts is not None:
        away = Rerouted(
            tracking_number=view.tracking_number,
            agency_code=previous_contacts.code,
            new_agency_name=contacts.name if contacts else routed.agency_code,
            inbox_url=inbox_root,
        )
        key = f"{routed.cause_event_id}:rerouted:{previous_contacts.code}"
        code = previous_contacts.code
        planned.append(
            email_delivery(key, code, "rerouted", previous_contacts.emails, rerouted_email(away))
        )
        if previous_contacts.webhook is not None:
            url = str(previous_contacts.webhook.url)
            body = rerouted_webhook(away)
            planned.append(
                post_delivery(
                    key, code, "rerouted", channel=NotificationChannel.WEBHOOK, url=url, body=body
                )
            )
    return planned


def plan_reply(
    reply_event_id: uuid.UUID, notice: ReporterReply, contacts: AgencyContacts
) -> list[PlannedDelivery]:
    """A reporter's reply to the agency holding the complaint: by e-mail, and to its webhook."""
    key = f"{reply_event_id}:reply:{contacts.code}"
    planned = [email_delivery(key, contacts.code, "reply", contacts.emails, reply_email(notice))]
    if contacts.webhook is not None:
        body = reply_webhook(notice, public_channel=contacts.webhook.public)
        url = str(contacts.webhook.url)
        planned.append(
            post_delivery(
                key, contacts.code, "reply", channel=NotificationChannel.WEBHOOK, url=url, body=body
            )
        )
    return planned


def plan_deadline_alert(
    alert: DeadlineAlert,
    *,
    routed_event_id: uuid.UUID,
    notice: Deadline,
    contacts: AgencyContacts,
    admin_emails: tuple[str, ...],
) -> PlannedDelivery:
    """A reminder to the pejabat penghubung, or an escalation to the agency's head and the
    Diskominfo admin; one per assignment and kind, whoever plans it and however often."""
    key = f"{routed_event_id}:{alert}:{contacts.code}"
    if alert is DeadlineAlert.REMINDER:
        return email_delivery(key, contacts.code, alert, contacts.emails, reminder_email(notice))
    recipients = tuple(dict.fromkeys((contacts.escalation_email, *admin_emails)))
    return email_delivery(key, contacts.code, alert, recipients, escalation_email(notice))


def plan_contacts_notice(
    change_id: uuid.UUID, previous: AgencyContacts, notice: ContactsChanged
) -> PlannedDelivery:
    """A change of an agency's contacts told to its old addresses (the liaison officers' and
    the head's), so a change the agency did not ask for does not go unnoticed."""
    to = tuple(dict.fromkeys((*previous.emails, previous.escalation_email)))
    key = f"{change_id}:contacts_changed:{previous.code}"
    return email_delivery(
        key, previous.code, "contacts_changed", to, contacts_changed_email(notice)
    )
