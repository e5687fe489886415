"""The router's configuration (`LAPOR_HUB_ROUTER_*`, beside the shared settings)."""

from __future__ import annotations

from shared.settings import Settings


class RouterSettings(Settings):
    router_metrics_port: int = 9101
    router_consumer_group: str = "lapor-hub-router"
