"""The router's pure domain: a validated routing table and the decision it drives."""

from services.router.domain.decide import Candidate, ComplaintText, Router, RoutingDecision
from services.router.domain.table import (
    DEFAULT_TABLE_PATH,
    TRIAGE_AGENCY,
    RoutingTable,
    RoutingTableError,
    load_routing_table,
    parse_routing_table,
)

__all__ = [
    "DEFAULT_TABLE_PATH",
    "TRIAGE_AGENCY",
    "Candidate",
    "ComplaintText",
    "Router",
    "RoutingDecision",
    "RoutingTable",
    "RoutingTableError",
    "load_routing_table",
    "parse_routing_table",
]
