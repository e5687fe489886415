"""The router's configuration (`LAPOR_HUB_ROUTER_*`, beside the shared settings)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from services.router.domain.asking import PlacePolicy
from shared.settings import Settings


class RouterSettings(Settings):
    router_metrics_port: int = 9101
    router_consumer_group: str = "lapor-hub-router"
    router_ask_for_place: bool = Field(
        default=True,
        description="Ask a reachable reporter where, before sending a kab/kota matter to triage",
    )
    router_place_answer_minutes: float = Field(
        default=240, gt=0, description="How long the reporter's answer is waited for"
    )
    router_place_check_s: float = Field(
        default=30, gt=0, description="How often unanswered questions are looked for"
    )

    def place_policy(self) -> PlacePolicy:
        return PlacePolicy(
            enabled=self.router_ask_for_place,
            answer_within=timedelta(minutes=self.router_place_answer_minutes),
        )
