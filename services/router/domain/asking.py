"""Asking the reporter where, before triage.

Most complaints that would go to manual triage lack only the place: a kab/kota matter ("jalan
rusak depan pasar") with no kab/kota named. When the reporter can be reached (an e-mail, or a
phone for SMS/WhatsApp), the router asks them and routes on the answer, which arrives as their
reply; triage only when no answer comes in time, or the answer names no Kalsel kab/kota.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.router.domain.decide import ComplaintText, RoutingDecision
from shared.events import Channel, Reporter

# National LAPOR's own complaints are answered there; paper and walk-in forms carry no reply path
# of their own, but a phone or e-mail written on them still reaches the reporter.
NEVER_ASKED = frozenset({Channel.LAPOR_NATIONAL})


@dataclass(frozen=True)
class PlacePolicy:
    """Whether to ask, and how long an answer is waited for (`LAPOR_HUB_ROUTER_PLACE_*`)."""

    enabled: bool = True
    answer_within: timedelta = timedelta(hours=4)

    def asks(self, decision: RoutingDecision, reporter: Reporter, channel: Channel) -> bool:
        reachable = reporter.email is not None or reporter.phone is not None
        return self.enabled and decision.needs_place and reachable and channel not in NEVER_ASKED

    def answer_due(self, asked_at: datetime) -> datetime:
        return asked_at + self.answer_within


def with_answer(text: ComplaintText, answer: str) -> ComplaintText:
    """The complaint as the router reads it once the reporter said where: the answer is its
    location (the text is still read for places too)."""
    return text.model_copy(update={"location": answer})


def answered_reasons(decision: RoutingDecision, answer: str) -> tuple[str, ...]:
    shown = " ".join(answer.split())[:120]
    return (f"lokasi dari jawaban pelapor: '{shown}'", *decision.reasons)


def unanswered_reasons(decision: RoutingDecision, policy: PlacePolicy) -> tuple[str, ...]:
    hours = policy.answer_within.total_seconds() / 3600
    return (f"pelapor tidak menjawab pertanyaan lokasi dalam {hours:g} jam", *decision.reasons)
